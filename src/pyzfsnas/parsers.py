"""Pure parsers from the machine-readable output of ``zfs``/``zpool`` to models.

Each parser makes one pass over its input and raises :class:`~pyzfsnas.errors.ParseError` naming the line on
malformed text; no other exception escapes. Values are kept raw and typed lazily (see
:class:`~pyzfsnas.properties.PropertyMap`), which keeps parsing within a small factor of ``str.split``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from pyzfsnas.errors import ParseError
from pyzfsnas.models import Dataset, Snapshot, Zpool
from pyzfsnas.properties import PropertyMap, RawEntry, canonical_name

__all__ = [
    "GET_COLUMNS",
    "RawProperties",
    "build_objects",
    "parse_send_size",
    "parse_zfs_get",
    "parse_zfs_list",
    "parse_zpool_get",
    "parse_zpool_get_table",
    "parse_zpool_list",
]

#: Default column set of ``zfs get -H -p``.
GET_COLUMNS: tuple[str, ...] = ("name", "property", "value", "source")
_KNOWN_GET_COLUMNS = frozenset(("name", "property", "value", "received", "source"))

#: Raw properties of each object while a parser collects them: ``{name: {property: entry}}`` where each
#: entry is a sequence ending in the raw value and raw source (see :data:`pyzfsnas.properties.RawEntry`).
RawProperties = dict[str, dict[str, RawEntry]]


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for i, raw in enumerate(text.split("\n"), 1):
        line = raw.removesuffix("\r")
        if line:
            yield i, line


def parse_zfs_get(text: str, columns: Sequence[str] = GET_COLUMNS) -> dict[str, PropertyMap]:
    """Parse ``zfs get -H -p [-o COLUMNS]`` output into a lazily typed property map per object, in order.

    ``columns`` must include ``name`` and ``property`` (the output cannot be grouped otherwise). A value may
    itself contain tabs: every column but the value is tab-free, so the value is what lies between them.
    """
    cols = tuple(columns)
    unknown = set(cols) - _KNOWN_GET_COLUMNS
    if unknown or "name" not in cols or "property" not in cols:
        raise ParseError(f"cannot group zfs get output with columns {cols!r}")
    ncols = len(cols)
    result: RawProperties = {}
    if cols == GET_COLUMNS:
        return _parse_get_default(text)
    i_name, i_prop = cols.index("name"), cols.index("property")
    i_value = cols.index("value") if "value" in cols else None
    i_source = cols.index("source") if "source" in cols else None
    for lineno, line in _lines(text):
        parts = line.split("\t")
        if len(parts) != ncols:
            if i_value is None or len(parts) < ncols:
                raise ParseError(f"expected {ncols} tab-separated columns, got {len(parts)}",
                                 line=line, lineno=lineno)
            extra = len(parts) - ncols
            parts = [*parts[:i_value], "\t".join(parts[i_value : i_value + extra + 1]),
                     *parts[i_value + extra + 1 :]]
        name, prop = parts[i_name], canonical_name(parts[i_prop])
        if not name or not prop:
            raise ParseError("empty name or property", line=line, lineno=lineno)
        value = parts[i_value] if i_value is not None else "-"
        source = parts[i_source] if i_source is not None else "-"
        result.setdefault(name, {})[prop] = (value, source)
    return {name: PropertyMap(props) for name, props in result.items()}


def _line_error(text: str, bad: str, message: str) -> ParseError:
    """A ParseError for line ``bad`` of ``text``, with its 1-based number (found again on this error path)."""
    for lineno, line in enumerate(text.split("\n"), 1):
        if line == bad:
            return ParseError(message, line=line, lineno=lineno)
    return ParseError(message, line=bad)  # pragma: no cover - bad always comes from text


def _parse_get_default(text: str) -> dict[str, PropertyMap]:
    """The hot path for ``name,property,value,source``: cut each object's lines out as one string.

    ``zfs get`` prints an object's properties consecutively, so a line that starts with the current object's
    name and has exactly three tabs only advances an offset; only the first line of each object, and odd
    lines (tabs inside a value), are looked at closely. Each object then costs one string slice and one
    map, its lines split on first read. Nothing process-wide is touched and no container per line is kept,
    so the garbage collector has nothing large to walk and the cost stays linear in the text. Measured
    against a bare ``line.split('\\t')`` loop in ``benchmarks/parse_bench.py``.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return {name: PropertyMap.from_block(block) for name, block in _group_get_blocks(text).items()}


def _group_get_blocks(text: str) -> dict[str, str]:
    """``{name: its lines of text}`` in first-seen order; a name seen again later is appended to its block."""
    blocks: dict[str, str] = {}
    name, prefix, plen = "", "\0", 1
    start = pos = 0  # where the current object's block starts; where the current line starts
    for line in text.split("\n"):
        if line.startswith(prefix) and line.count("\t") == 3 and line[plen] != "\t":
            pos += len(line) + 1
            continue
        this = ""
        if line:
            tabs = line.count("\t")
            if tabs < 3:
                raise _line_error(text, line, f"expected 4 tab-separated columns, got {tabs + 1}")
            this, _, rest = line.partition("\t")
            if not this:
                raise _line_error(text, line, "empty name")
            if rest.startswith("\t"):
                raise _line_error(text, line, "empty property")
        if this != name:
            if name:
                _add_block(blocks, name, text[start : pos - 1])
            name, prefix, plen, start = this, this + "\t" if this else "\0", len(this) + 1, pos
        pos += len(line) + 1
    if name:
        _add_block(blocks, name, text[start : pos - 1])
    return blocks


def _add_block(blocks: dict[str, str], name: str, block: str) -> None:
    seen = blocks.get(name)
    blocks[name] = block if seen is None else f"{seen}\n{block}"


def parse_zfs_list(text: str, columns: Sequence[str]) -> dict[str, PropertyMap]:
    """Parse ``zfs list -H [-p] -o COLUMNS`` output; ``name`` must be one of the columns.

    Columns may be given as ``zfs`` accepts them, short names included (``avail``, ``refer``, ``usedsnap``):
    each is stored under its full name, so it is typed. Sources are unknown to ``zfs list`` and recorded as
    ``-``.
    """
    cols = tuple(canonical_name(c) for c in columns)
    if "name" not in cols:
        raise ParseError(f"zfs list columns {cols!r} lack 'name'")
    i_name = cols.index("name")
    others = [(i, c) for i, c in enumerate(cols) if c != "name"]
    result: RawProperties = {}
    for lineno, line in _lines(text):
        parts = line.split("\t")
        if len(parts) != len(cols):
            raise ParseError(f"expected {len(cols)} tab-separated columns, got {len(parts)}",
                             line=line, lineno=lineno)
        name = parts[i_name]
        if not name:
            raise ParseError("empty name", line=line, lineno=lineno)
        result[name] = {c: (parts[i], "-") for i, c in others}
    return {name: PropertyMap(props) for name, props in result.items()}


def build_objects(raw: Mapping[str, PropertyMap]) -> list[Dataset | Snapshot]:
    """Turn raw properties into models: ``@`` in the name makes a :class:`Snapshot`, else a :class:`Dataset`.

    The dataset type comes from the ``type`` property when it was read (``filesystem`` otherwise).
    Bookmarks (``#``) are skipped: pyzfsnas does not model them.
    """
    out: list[Dataset | Snapshot] = []
    for name, pmap in raw.items():
        if "#" in name:
            continue
        if "@" in name:
            out.append(Snapshot(name, pmap))
        else:
            out.append(Dataset(name, pmap, "volume" if pmap.raw("type") == "volume" else "filesystem"))
    return out


def check_typed(raw: Mapping[str, PropertyMap]) -> None:
    """Type every value once, raising :class:`ParseError` for text that does not fit its property's kind.

    Lazy typing defers errors to first access; callers that want parse-time validation call this.
    """
    for name, props in raw.items():
        for prop in props:
            try:
                props[prop]
            except ParseError as exc:
                raise ParseError(f"{name}: {exc}") from None


POOL_LIST_COLUMNS = ("name", "size", "allocated", "free", "capacity", "dedupratio", "health", "altroot")
#: The columns of a plain ``zpool list -H [-p]`` (no ``-o``): OpenZFS 2.x prints 11, zfs-fuse 0.7 prints 8
#: (the same count as :data:`POOL_LIST_COLUMNS`, in the same order).
OPENZFS_PLAIN_POOL_LIST_COLUMNS = ("name", "size", "allocated", "free", "checkpoint", "expandsize",
                                   "fragmentation", "capacity", "dedupratio", "health", "altroot")
_PLAIN_POOL_LIST = {len(c): c for c in (POOL_LIST_COLUMNS, OPENZFS_PLAIN_POOL_LIST_COLUMNS)}


def parse_zpool_list(
    text: str, columns: Sequence[str] | None = None, *, exact: bool = True
) -> list[Zpool]:
    """Parse ``zpool list -H [-p] [-o COLUMNS]`` output into :class:`Zpool` objects.

    Without ``columns`` each line is read as a plain ``zpool list -H`` of its host (11 columns on OpenZFS
    2.x, 8 on zfs-fuse) or as :data:`POOL_LIST_COLUMNS` (what the facade asks for), told apart by their
    count. zfs-fuse cannot print exact sizes (no ``-p``): pass ``exact=False`` and human sizes (``250M``) are
    converted and flagged. Columns may be short names, as ``zpool`` accepts them (``alloc``, ``cap``,
    ``frag``, ``dedup``).
    """
    cols = tuple(canonical_name(c, pool=True) for c in columns) if columns is not None else POOL_LIST_COLUMNS
    if "name" not in cols:
        raise ParseError(f"zpool list columns {cols!r} lack 'name'")
    pools: list[Zpool] = []
    for lineno, line in _lines(text):
        parts = line.split("\t")
        if columns is None:
            cols = _PLAIN_POOL_LIST.get(len(parts), POOL_LIST_COLUMNS)
        if len(parts) != len(cols):
            raise ParseError(f"expected {len(cols)} tab-separated columns, got {len(parts)}",
                             line=line, lineno=lineno)
        row = dict(zip(cols, parts, strict=True))
        pmap = PropertyMap({c: (v, "-") for c, v in row.items() if c != "name"})
        try:
            typed = {c: pmap[c].value for c in pmap}
        except (ValueError, OverflowError) as exc:
            raise ParseError(f"bad value: {exc}", line=line, lineno=lineno) from None
        pools.append(
            Zpool(
                name=row["name"],
                size=_as_int(typed.get("size")),
                allocated=_as_int(typed.get("allocated")),
                free=_as_int(typed.get("free")),
                capacity=_as_int(typed.get("capacity")),
                health=_as_str(typed.get("health")),
                dedupratio=_as_float(typed.get("dedupratio")),
                altroot=_as_str(typed.get("altroot")),
                fragmentation=_as_int(typed.get("fragmentation")),
                exact=exact,
                properties=pmap,
            )
        )
    return pools


def _as_int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _as_str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _as_float(v: object) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def parse_send_size(text: str) -> int | None:
    """The estimated stream size in bytes of ``zfs send -nP`` / ``-nvP`` output: its ``size<TAB>BYTES`` line,
    or None when there is none (the host gave no estimate). A ``size`` line whose value is not plain ASCII
    digits raises :class:`ParseError`."""
    for lineno, line in _lines(text):
        if line.startswith("size\t"):
            value = line.removeprefix("size\t")
            if not value or not value.isascii() or not value.isdigit():
                raise ParseError("expected size<TAB>BYTES", line=line, lineno=lineno)
            return int(value)
    return None


def parse_zpool_get(text: str, columns: Sequence[str] = GET_COLUMNS) -> dict[str, PropertyMap]:
    """Parse ``zpool get -H -p [-o COLUMNS]`` output (OpenZFS); same layout as ``zfs get``."""
    return parse_zfs_get(text, columns)


def parse_zpool_get_table(text: str) -> dict[str, PropertyMap]:
    """Parse the header-and-spaces table of ``zpool get all POOL`` (zfs-fuse has no ``-H``/``-p``).

    Columns are found from the header's positions; values never contain spaces in pool properties.
    """
    result: RawProperties = {}
    lines = list(_lines(text))
    if not lines:
        return {}
    header_no, header = lines[0]
    if header.split() != ["NAME", "PROPERTY", "VALUE", "SOURCE"]:
        raise ParseError("expected header NAME PROPERTY VALUE SOURCE", line=header, lineno=header_no)
    for lineno, line in lines[1:]:
        parts = line.split()
        if len(parts) < 4:
            raise ParseError("expected 4 columns", line=line, lineno=lineno)
        name, prop, value = parts[0], canonical_name(parts[1], pool=True), parts[2]
        source = " ".join(parts[3:])
        if len(parts) > 4 and not source.startswith("inherited from"):
            value = " ".join(parts[2:-1])
            source = parts[-1]
        result.setdefault(name, {})[prop] = (value, source)
    return {name: PropertyMap(props) for name, props in result.items()}
