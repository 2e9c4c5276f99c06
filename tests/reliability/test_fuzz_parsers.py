"""Property-based fuzzing of every parser: arbitrary text gives models or ParseError, nothing else, and what
the tools would print round-trips (generate rows, format them as the tool does, parse, compare)."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyzfsnas.errors import ParseError
from pyzfsnas.nfs import parse_exportfs_v, parse_sharenfs_fuse, parse_sharenfs_kernel
from pyzfsnas.parsers import (
    build_objects,
    parse_zfs_get,
    parse_zfs_list,
    parse_zpool_get,
    parse_zpool_get_table,
    parse_zpool_list,
)
from pyzfsnas.properties import NATIVE, PropertyMap

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text rich in the separators and words the parsers care about
_ATOMS = st.sampled_from(["\t", "\n", "\r", " ", "-", "@", "#", "/", "tank", "tank/a", "tank/a@s", "used", "quota",
                          "creation", "compressratio", "mounted", "type", "filesystem", "snapshot", "volume",
                          "local", "default", "inherited from tank", "none", "on", "off", "yes", "1.00x", "123",
                          "9" * 30, "-1", "1.5G", "250M", "NAME", "PROPERTY", "VALUE", "SOURCE", "ONLINE",
                          "(", ")", ",", "=", "rw", "ro", "10.0.0.1", "::1", "/srv/x", "\x00", "²", "٣"])
TEXT = st.one_of(st.text(max_size=200), st.lists(_ATOMS, max_size=40).map("".join))
GET_COLUMN_SETS = [("name", "property", "value", "source"), ("name", "property", "value"),
                   ("property", "name", "value", "received", "source"), ("name", "property")]


def _pmap(props: Any) -> PropertyMap:
    return props if isinstance(props, PropertyMap) else PropertyMap(props)


def _touch_all(raw: Any) -> None:
    """Type every value the way a caller would, through PropertyMap and the models: ParseError only."""
    for props in raw.values():
        pmap = _pmap(props)
        for name in pmap:
            with contextlib.suppress(ParseError):
                pmap[name]
    for obj in build_objects(raw):
        for attr in ("used", "referenced", "creation", "compressratio", "quota", "mounted", "origin",
                     "available", "userrefs", "defer_destroy", "mountpoint", "readonly", "volsize"):
            with contextlib.suppress(ParseError):
                getattr(obj, attr, None)


@FAST
@given(text=TEXT, columns=st.sampled_from(GET_COLUMN_SETS))
def test_zfs_get_arbitrary_text(text: str, columns: tuple[str, ...]) -> None:
    try:
        raw = parse_zfs_get(text, columns)
    except ParseError:
        return
    _touch_all(raw)
    with contextlib.suppress(ParseError):
        _touch_all(parse_zpool_get(text, columns))


@FAST
@given(text=TEXT, columns=st.sampled_from([("name", "used", "avail"), ("used", "name"), ("name",)]))
def test_zfs_list_arbitrary_text(text: str, columns: tuple[str, ...]) -> None:
    with contextlib.suppress(ParseError):
        _touch_all(parse_zfs_list(text, columns))


@FAST
@given(text=TEXT, exact=st.booleans())
def test_zpool_parsers_arbitrary_text(text: str, exact: bool) -> None:
    for parse in (lambda: parse_zpool_list(text, exact=exact), lambda: parse_zpool_get_table(text)):
        try:
            out: Any = parse()
        except ParseError:
            continue
        if isinstance(out, dict):
            _touch_all(out)


@FAST
@given(text=TEXT)
def test_nfs_parsers_arbitrary_text(text: str) -> None:
    for parse in (parse_exportfs_v, parse_sharenfs_kernel, parse_sharenfs_fuse):
        with contextlib.suppress(ParseError):
            parse(text)


def test_ganesha_parser_arbitrary_text() -> None:
    from pyzfsnas.nfs.ganesha import parse_exports

    @FAST
    @given(text=st.one_of(TEXT, st.lists(st.sampled_from(["EXPORT", "{", "}", ";", "=", "Path", "\"/a\"",
                                                          "Export_Id", "1", "CLIENT", "Clients", "Access_Type",
                                                          "RW", "FSAL", "Name", "VFS", "#x\n", " ", "\n"]),
                                         max_size=40).map("".join)))
    def run(text: str) -> None:
        with contextlib.suppress(ParseError):
            parse_exports(text)

    run()


def test_out_of_range_creation_time_is_a_parse_error() -> None:
    """A creation time beyond what datetime holds (fromtimestamp raises OSError/OverflowError/ValueError)."""
    for raw in ("99999999999999999999", "10000000000000000", "-99999999999"):
        pmap = PropertyMap({"creation": (raw, "-")})
        try:
            pmap["creation"]
        except ParseError:
            continue


# -- round trips: what the tools print, parsed back ------------------------------------------------------

_COMPONENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_.:- ", min_size=1, max_size=12).filter(
    lambda c: c.strip(" ") == c and c not in (".", ".."))
NAMES = st.builds(lambda parts, snap: "tank/" + "/".join(parts) + (f"@{snap}" if snap else ""),
                  st.lists(_COMPONENT, min_size=1, max_size=3), st.one_of(st.none(), _COMPONENT))
SIZE_PROPS = [n for n, s in NATIVE.items() if s.kind.value in ("size", "limit") and not s.flavours]
ROWS = st.lists(st.tuples(NAMES, st.sampled_from(SIZE_PROPS), st.integers(1, 2**63),
                          st.sampled_from(["-", "local", "default", "inherited from tank"])),
                min_size=0, max_size=30)


@FAST
@given(rows=ROWS)
def test_zfs_get_round_trip(rows: list[tuple[str, str, int, str]]) -> None:
    text = "".join(f"{n}\t{p}\t{v}\t{s}\n" for n, p, v, s in rows)
    expected: dict[str, dict[str, tuple[str, str]]] = {}
    for n, p, v, s in rows:
        expected.setdefault(n, {})[p] = (str(v), s)
    raw = parse_zfs_get(text)
    assert {n: {p: (_pmap(m).raw(p), str(_pmap(m)[p].source)) for p in _pmap(m)} for n, m in raw.items()} == {
        n: {p: (v, "-" if s == "-" else s) for p, (v, s) in props.items()} for n, props in expected.items()}
    for n, props in raw.items():
        for p, (v, _s) in expected[n].items():
            assert _pmap(props)[p].value == int(v)
    # the same rows printed with -o name,property,value (no source)
    raw3 = parse_zfs_get("".join(f"{n}\t{p}\t{v}\n" for n, p, v, _ in rows), ("name", "property", "value"))
    assert {n: {p: _pmap(m).raw(p) for p in _pmap(m)} for n, m in raw3.items()} == {
        n: {p: v for p, (v, _) in props.items()} for n, props in expected.items()}


@FAST
@given(rows=st.dictionaries(NAMES, st.tuples(st.integers(0, 2**63), st.integers(0, 2**63)), max_size=30))
def test_zfs_list_round_trip(rows: dict[str, tuple[int, int]]) -> None:
    text = "".join(f"{n}\t{u}\t{a}\n" for n, (u, a) in rows.items())
    raw = parse_zfs_list(text, ("name", "used", "available"))
    assert {n: (_pmap(p)["used"].value, _pmap(p)["available"].value) for n, p in raw.items()} == rows


POOL = st.from_regex(r"\A[a-z][a-z0-9_]{0,10}\Z")


@FAST
@given(pools=st.dictionaries(POOL, st.tuples(st.integers(1, 2**60), st.integers(0, 2**60), st.integers(0, 100),
                                            st.sampled_from(["ONLINE", "DEGRADED", "FAULTED"])), max_size=8))
def test_zpool_list_round_trip(pools: dict[str, tuple[int, int, int, str]]) -> None:
    cols = ("name", "size", "allocated", "free", "capacity", "dedupratio", "health", "altroot")
    text = "".join(f"{n}\t{s}\t{a}\t{max(s - a, 0)}\t{c}\t1.00x\t{h}\t-\n" for n, (s, a, c, h) in pools.items())
    parsed = parse_zpool_list(text, cols)
    assert [(p.name, p.size, p.allocated, p.capacity, p.health, p.dedupratio, p.altroot) for p in parsed] == [
        (n, s, a, c, h, 1.0, None) for n, (s, a, c, h) in pools.items()]


@FAST
@given(props=st.dictionaries(st.sampled_from(["size", "capacity", "altroot", "health", "autoexpand", "version",
                                              "delegation", "free", "allocated"]),
                             st.from_regex(r"\A[A-Za-z0-9/._-]{1,12}\Z"), min_size=1))
def test_zpool_get_table_round_trip(props: dict[str, str]) -> None:
    width = max(8, *(len(k) for k in props)) + 2
    lines = [f"{'NAME':<6}{'PROPERTY':<{width}}{'VALUE':<14}SOURCE"]
    lines += [f"{'tank':<6}{k:<{width}}{v:<14}default" for k, v in props.items()]
    raw = parse_zpool_get_table("\n".join(lines) + "\n")
    assert {n: {k: _pmap(m).raw(k) for k in _pmap(m)} for n, m in raw.items()} == {"tank": props}


@FAST
@given(rules=st.lists(st.tuples(st.ip_addresses(v=4), st.sampled_from(["rw", "ro"])), max_size=8,
                      unique_by=lambda r: r[0]))
def test_sharenfs_round_trip(rules: list[tuple[Any, str]]) -> None:
    from pyzfsnas.nfs import AccessRule, format_sharenfs_fuse, format_sharenfs_kernel, normalize_rules

    parsed = normalize_rules(AccessRule.parse(str(ip), lvl) for ip, lvl in rules)
    for fmt, parse in ((format_sharenfs_kernel, parse_sharenfs_kernel), (format_sharenfs_fuse, parse_sharenfs_fuse)):
        text = fmt(parsed)
        assert sorted(parse(text), key=AccessRule.sort_key) == sorted(parsed, key=AccessRule.sort_key) or (
            not parsed and text == "off")


_GET_LINES = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["tank", "tank/a", "tank/a@s", "tank/ab", "tank/a b"]),
                  st.sampled_from(["used", "type", "com.x:note", "quota"]),
                  st.sampled_from(["1", "filesystem", "a\tb", "", "x\t\ty", "snapshot"]),
                  st.sampled_from(["-", "local", "inherited from tank"])),
        st.just(None),  # a blank line
    ),
    max_size=40,
)


@FAST
@given(rows=_GET_LINES, crlf=st.booleans(), final_newline=st.booleans())
def test_zfs_get_fast_path_reads_what_the_general_path_reads(
    rows: list[tuple[str, str, str, str] | None], crlf: bool, final_newline: bool
) -> None:
    """The default-column fast path (each object's lines kept as one block) against the column-general path.

    Same rows printed as ``-o name,property,value,source`` and as ``-o property,name,value,source``: same
    objects in the same order, same raw values (tabs inside values, names seen again later, blank lines,
    CRLF, no final newline), and ``raw()`` of a block before the map is built agrees with it after.
    """
    def text(order: tuple[int, ...]) -> str:
        lines = ["" if r is None else "\t".join(r[i] for i in order) for r in rows]
        out = ("\r\n" if crlf else "\n").join(lines)
        return out + ("\r\n" if crlf else "\n") if final_newline and lines else out

    fast = parse_zfs_get(text((0, 1, 2, 3)))
    general = parse_zfs_get(text((1, 0, 2, 3)), ("property", "name", "value", "source"))
    assert list(fast) == list(general)
    for name, pmap in fast.items():
        before = {p: pmap.raw(p) for p in ("used", "type", "com.x:note", "quota", "absent")}
        assert {p: pmap.raw(p) for p in pmap} == {p: general[name].raw(p) for p in general[name]}
        assert before == {p: pmap.raw(p) for p in before}
