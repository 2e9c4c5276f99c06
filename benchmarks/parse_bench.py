"""Parsing cost of ``zfs get -H -p all`` output, as a ratio to a bare split loop over the same text.

Targets (issues 7 and 10): parse + build models ≤ 3x the bare ``for line in text.splitlines(): line.split('\\t')``
loop, and going from 1k to 10k datasets scales the time by at most 1.1x what it scales the bare loop's (both
printed: the bare loop itself is not perfectly linear on a loaded machine). The text is generated
realistically: ~70 properties per dataset with mixed sources (default, local, inherited, -), user properties,
snapshots among filesystems.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import median_time, table, write_result

from pyzfsnas.parsers import build_objects, parse_zfs_get

PROPS: list[tuple[str, str, str]] = [
    ("type", "filesystem", "-"), ("creation", "1795623682", "-"), ("used", "{n}", "-"),
    ("available", "{n}", "-"), ("referenced", "{n}", "-"), ("compressratio", "1.{r}x", "-"),
    ("mounted", "yes", "-"), ("quota", "{n}", "local"), ("reservation", "0", "default"),
    ("recordsize", "131072", "default"), ("mountpoint", "/tank/{name}", "inherited from tank"),
    ("sharenfs", "rw=@10.0.0.0/24,no_root_squash", "local"), ("checksum", "on", "default"),
    ("compression", "lz4", "inherited from tank"), ("atime", "off", "local"), ("devices", "on", "default"),
    ("exec", "on", "default"), ("setuid", "on", "default"), ("readonly", "off", "default"),
    ("zoned", "off", "default"), ("snapdir", "hidden", "default"), ("aclmode", "discard", "default"),
    ("aclinherit", "restricted", "default"), ("createtxg", "{n}", "-"), ("canmount", "on", "default"),
    ("xattr", "sa", "local"), ("copies", "1", "default"), ("version", "5", "-"), ("utf8only", "off", "-"),
    ("normalization", "none", "-"), ("casesensitivity", "sensitive", "-"), ("vscan", "off", "default"),
    ("nbmand", "off", "default"), ("sharesmb", "off", "default"), ("refquota", "0", "default"),
    ("refreservation", "0", "default"), ("guid", "{n}", "-"), ("primarycache", "all", "default"),
    ("secondarycache", "all", "default"), ("usedbysnapshots", "{n}", "-"), ("usedbydataset", "{n}", "-"),
    ("usedbychildren", "0", "-"), ("usedbyrefreservation", "0", "-"), ("logbias", "latency", "default"),
    ("objsetid", "{n}", "-"), ("dedup", "off", "default"), ("mlslabel", "none", "default"),
    ("sync", "standard", "default"), ("dnodesize", "legacy", "default"), ("refcompressratio", "1.{r}x", "-"),
    ("written", "{n}", "-"), ("logicalused", "{n}", "-"), ("logicalreferenced", "{n}", "-"),
    ("volmode", "default", "default"), ("filesystem_limit", "none", "default"),
    ("snapshot_limit", "none", "default"), ("filesystem_count", "none", "default"),
    ("snapshot_count", "none", "default"), ("snapdev", "hidden", "default"), ("acltype", "posix", "local"),
    ("context", "none", "default"), ("fscontext", "none", "default"), ("defcontext", "none", "default"),
    ("rootcontext", "none", "default"), ("relatime", "on", "default"), ("redundant_metadata", "all", "default"),
    ("overlay", "on", "default"), ("encryption", "off", "default"), ("keylocation", "none", "default"),
    ("com.example:owner", "team {r}", "local"), ("com.example:tier", "gold", "inherited from tank"),
]


def generate(n_datasets: int, seed: int = 42) -> str:
    """``zfs get -H -p all`` text for ``n_datasets`` objects: nine filesystems then one snapshot, repeated.

    So one object in ten is a snapshot (of the filesystem before it), typed ``snapshot``; every object has
    the same 71 property lines, which keeps the line count exact (71 per object).
    """
    rng = random.Random(seed)
    lines: list[str] = []
    for i in range(n_datasets):
        is_snapshot = i % 10 == 9
        name = f"tank/share{i - 1}@daily" if is_snapshot else f"tank/share{i}"
        for prop, template, source in PROPS:
            value = "snapshot" if prop == "type" and is_snapshot else template
            text = value.format(n=rng.randrange(1 << 40), r=rng.randrange(10, 99), name=name)
            lines.append(f"{name}\t{prop}\t{text}\t{source}")
    return "\n".join(lines) + "\n"


def bare(text: str) -> None:
    for line in text.splitlines():
        line.split("\t")


def ours(text: str) -> None:
    build_objects(parse_zfs_get(text))


def main() -> int:
    rows = []
    data: dict[str, dict[str, float]] = {}
    for n in (1_000, 10_000):
        text = generate(n)
        base = median_time(lambda text=text: bare(text))
        mine = median_time(lambda text=text: ours(text))
        data[str(n)] = {"lines": text.count("\n"), "baseline_s": base, "pyzfsnas_s": mine, "ratio": mine / base}
        rows.append((n, text.count("\n"), f"{base * 1e3:.1f}", f"{mine * 1e3:.1f}", f"{mine / base:.2f}x"))
    scaling = data["10000"]["pyzfsnas_s"] / data["1000"]["pyzfsnas_s"]
    base_scaling = data["10000"]["baseline_s"] / data["1000"]["baseline_s"]
    print(table(("datasets", "lines", "bare split ms", "pyzfsnas ms", "ratio (target ≤ 3x)"), rows))
    relative = scaling / base_scaling
    print(f"scaling 1k -> 10k datasets: pyzfsnas {scaling:.2f}x time for 10x data; the bare split loop itself: "
          f"{base_scaling:.2f}x; ours / bare's = {relative:.2f} (target ≤ 1.10: as linear as the loop itself)")
    worst = max(d["ratio"] for d in data.values())
    print(f"verdict: time ratio {worst:.2f}x {'OK' if worst <= 3 else 'OVER'} (≤ 3x), "
          f"scaling {relative:.2f} {'OK' if relative <= 1.1 else 'OVER'} (≤ 1.10)")
    path = write_result("parse", {"runs": data, "scaling_10x": scaling, "baseline_scaling_10x": base_scaling,
                                  "scaling_relative_to_bare": relative})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
