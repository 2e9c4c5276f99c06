"""What docs/benchmarks.rst says about its inputs holds, and the parse path it measures stays lazy."""

from __future__ import annotations

import gc
import sys
from collections import Counter
from pathlib import Path

from pyzfsnas.parsers import build_objects, parse_zfs_get
from pyzfsnas.properties import PropertyMap

ROOT = Path(__file__).resolve().parents[2]


def _parse_bench():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import parse_bench
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return parse_bench


def test_the_parse_input_has_one_snapshot_in_ten_typed_snapshot() -> None:
    bench = _parse_bench()
    text = bench.generate(1_000)
    assert text.count("\n") == 71_000
    objects = build_objects(parse_zfs_get(text))
    assert Counter(type(o).__name__ for o in objects) == {"Dataset": 900, "Snapshot": 100}
    assert {o.properties.raw("type") for o in objects if type(o).__name__ == "Snapshot"} == {"snapshot"}
    assert {o.properties.raw("type") for o in objects if type(o).__name__ == "Dataset"} == {"filesystem"}
    page = (ROOT / "docs" / "benchmarks.rst").read_text(encoding="utf-8")
    assert "one object in ten a snapshot" in page


def test_reading_one_raw_property_keeps_the_map_lazy() -> None:
    """build_objects reads ``type`` of every dataset; that must not split every line of every dataset."""
    lines = ["tank/a\ttype\tfilesystem\t-", "tank/a\tused\t123\t-", "tank/a\tcomment\tx\ty\tlocal"]
    lazy = PropertyMap.from_block("\n".join(lines))
    assert lazy.raw("type") == "filesystem"
    assert lazy._raw_map is None  # nothing else was split
    assert lazy.raw("comment") == "x\ty"  # a value with a tab, as the full parse reads it
    assert lazy.raw("absent") is None
    built = PropertyMap.from_block("\n".join(lines))
    assert dict(built.items()) and built.raw("used") == lazy.raw("used") == "123"
    assert built.raw("comment") == "x\ty"


def test_the_parse_leaves_the_garbage_collector_nothing_per_line_to_walk() -> None:
    """Why 10x the text costs no more than 10x the time: what a parse keeps is O(objects), not O(lines).

    Every collection walks the references of the containers it tracks; a list of each object's lines (or of
    all lines) held while models are built is walked again and again, which made 10k datasets cost 12-13x
    1k. The parse keeps each object's lines as one string, which the collector does not track.
    """
    bench = _parse_bench()
    text = bench.generate(1_000)
    gc.collect()
    before = {id(o) for o in gc.get_objects()}
    objects = build_objects(parse_zfs_get(text))
    new = [o for o in gc.get_objects() if id(o) not in before and o is not before]
    walked = sum(len(gc.get_referents(o)) for o in new)
    assert len(objects) == 1_000
    assert walked < 10 * len(objects), walked  # 71 lines per object: a per-line container would be ≥ 71,000
