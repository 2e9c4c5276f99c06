"""What pyzfsnas knows about ZFS properties: their kinds, how raw text becomes a typed value, and validation.

Values are typed by kind: sizes are ``int`` bytes, on/off and yes/no are ``bool``, ratios (``1.00x``) are
``float``, ``creation`` is an aware :class:`~datetime.datetime`, ``-`` is ``None``. Unknown native properties
and user properties (``module:name``) are kept as text.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone

import attrs

from pyzfsnas.errors import InvalidProperty, ParseError

__all__ = [
    "COMPRESSION_VALUES",
    "NATIVE",
    "ZFS_ALIASES",
    "ZPOOL_ALIASES",
    "Kind",
    "Property",
    "PropertyMap",
    "PropertySpec",
    "PropertyValue",
    "RawEntry",
    "Source",
    "SourceKind",
    "format_value",
    "is_user_property",
    "parse_size",
    "parse_value",
    "validate_property_name",
    "validate_property_value",
]

PropertyValue = int | float | bool | str | datetime | None


class Kind(enum.Enum):
    """How a property's raw text is typed."""

    SIZE = "size"  # bytes, int
    LIMIT = "limit"  # bytes, int; 0 or "none" means no limit -> None
    ONOFF = "onoff"  # on/off -> bool
    YESNO = "yesno"  # yes/no -> bool
    RATIO = "ratio"  # 1.00x -> float
    INT = "int"
    TIME = "time"  # epoch seconds -> aware datetime
    TEXT = "text"  # kept as text (enums, paths, share options)


@attrs.frozen
class PropertySpec:
    """One native property: its kind, whether it can be set, and the values accepted when it is an enum."""

    name: str
    kind: Kind
    readonly: bool = False
    choices: tuple[str, ...] = ()
    #: Flavours that have it; empty means every flavour.
    flavours: tuple[str, ...] = ()


def _specs() -> dict[str, PropertySpec]:
    ro_sizes = ("used", "available", "referenced", "usedbysnapshots", "usedbydataset", "usedbychildren",
                "usedbyrefreservation", "logicalused", "logicalreferenced", "written")
    table: list[PropertySpec] = [PropertySpec(n, Kind.SIZE, readonly=True) for n in ro_sizes]
    openzfs_only = ("logicalused", "logicalreferenced", "written")
    table = [attrs.evolve(s, flavours=("openzfs",)) if s.name in openzfs_only else s for s in table]
    onoff = ("atime", "devices", "exec", "setuid", "readonly", "zoned", "xattr", "vscan", "nbmand",
             "utf8only", "overlay", "relatime")
    # utf8only, like normalization and casesensitivity, is set at creation (``-o``) and fixed afterwards.
    table += [PropertySpec(n, Kind.ONOFF, flavours=("openzfs",) if n in ("overlay", "relatime") else ())
              for n in onoff]
    table += [
        PropertySpec("type", Kind.TEXT, readonly=True),
        PropertySpec("creation", Kind.TIME, readonly=True),
        PropertySpec("compressratio", Kind.RATIO, readonly=True),
        PropertySpec("refcompressratio", Kind.RATIO, readonly=True, flavours=("openzfs",)),
        PropertySpec("mounted", Kind.YESNO, readonly=True),
        PropertySpec("defer_destroy", Kind.ONOFF, readonly=True),
        PropertySpec("origin", Kind.TEXT, readonly=True),
        PropertySpec("clones", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("userrefs", Kind.INT, readonly=True),
        PropertySpec("version", Kind.INT),
        PropertySpec("guid", Kind.INT, readonly=True, flavours=("openzfs",)),
        PropertySpec("createtxg", Kind.INT, readonly=True, flavours=("openzfs",)),
        PropertySpec("objsetid", Kind.INT, readonly=True, flavours=("openzfs",)),
        PropertySpec("receive_resume_token", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("quota", Kind.LIMIT),
        PropertySpec("refquota", Kind.LIMIT),
        PropertySpec("reservation", Kind.LIMIT),
        PropertySpec("refreservation", Kind.LIMIT),
        PropertySpec("volsize", Kind.SIZE),
        PropertySpec("volblocksize", Kind.SIZE),
        PropertySpec("recordsize", Kind.SIZE),
        PropertySpec("copies", Kind.INT, choices=("1", "2", "3")),
        PropertySpec("mountpoint", Kind.TEXT),
        PropertySpec("sharenfs", Kind.TEXT),
        PropertySpec("sharesmb", Kind.TEXT),
        PropertySpec("canmount", Kind.TEXT, choices=("on", "off", "noauto")),
        PropertySpec("checksum", Kind.TEXT),
        PropertySpec("compression", Kind.TEXT),
        PropertySpec("dedup", Kind.TEXT),
        PropertySpec("snapdir", Kind.TEXT, choices=("hidden", "visible")),
        PropertySpec("aclmode", Kind.TEXT),
        PropertySpec("aclinherit", Kind.TEXT),
        PropertySpec("acltype", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("normalization", Kind.TEXT),
        PropertySpec("casesensitivity", Kind.TEXT),
        PropertySpec("primarycache", Kind.TEXT, choices=("all", "none", "metadata")),
        PropertySpec("secondarycache", Kind.TEXT, choices=("all", "none", "metadata")),
        PropertySpec("logbias", Kind.TEXT, choices=("latency", "throughput")),
        PropertySpec("mlslabel", Kind.TEXT),
        PropertySpec("sync", Kind.TEXT, choices=("standard", "always", "disabled"), flavours=("openzfs",)),
        PropertySpec("dnodesize", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("volmode", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("xattr", Kind.TEXT),
        # read-only here: creating an encrypted dataset needs keyformat/keylocation, which pyzfsnas does not manage
        PropertySpec("encryption", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("keystatus", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("keylocation", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("keyformat", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("pbkdf2iters", Kind.INT, readonly=True, flavours=("openzfs",)),
        PropertySpec("snapdev", Kind.TEXT, choices=("hidden", "visible"), flavours=("openzfs",)),
        *(PropertySpec(n, Kind.TEXT, flavours=("openzfs",))
          for n in ("context", "fscontext", "defcontext", "rootcontext")),
        PropertySpec("encryptionroot", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("special_small_blocks", Kind.SIZE, flavours=("openzfs",)),
        PropertySpec("redundant_metadata", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("prefetch", Kind.TEXT, choices=("none", "metadata", "all"), flavours=("openzfs",)),
        PropertySpec("direct", Kind.TEXT, choices=("disabled", "standard", "always"), flavours=("openzfs",)),
        PropertySpec("longname", Kind.ONOFF, flavours=("openzfs",)),
        PropertySpec("volthreading", Kind.ONOFF, flavours=("openzfs",)),
        PropertySpec("snapshots_changed", Kind.TIME, readonly=True, flavours=("openzfs",)),
        PropertySpec("snapshot_limit", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("filesystem_limit", Kind.TEXT, flavours=("openzfs",)),
        PropertySpec("snapshot_count", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        PropertySpec("filesystem_count", Kind.TEXT, readonly=True, flavours=("openzfs",)),
        # pool properties (zpool get / list)
        PropertySpec("size", Kind.SIZE, readonly=True),
        PropertySpec("allocated", Kind.SIZE, readonly=True),
        PropertySpec("free", Kind.SIZE, readonly=True),
        PropertySpec("freeing", Kind.SIZE, readonly=True),
        PropertySpec("expandsize", Kind.SIZE, readonly=True),
        PropertySpec("checkpoint", Kind.SIZE, readonly=True),
        PropertySpec("leaked", Kind.SIZE, readonly=True),
        PropertySpec("capacity", Kind.INT, readonly=True),
        PropertySpec("fragmentation", Kind.INT, readonly=True),
        PropertySpec("dedupratio", Kind.RATIO, readonly=True),
        PropertySpec("health", Kind.TEXT, readonly=True),
        PropertySpec("altroot", Kind.TEXT),
        PropertySpec("ashift", Kind.INT),
        PropertySpec("autoexpand", Kind.ONOFF),
        PropertySpec("autoreplace", Kind.ONOFF),
        PropertySpec("delegation", Kind.ONOFF),
        PropertySpec("listsnapshots", Kind.ONOFF),
    ]
    return {s.name: s for s in table}


#: Native properties pyzfsnas types and validates. A native name not listed here is still read (as text).
NATIVE: Mapping[str, PropertySpec] = _specs()

#: Every short name ``zfs`` accepts for a dataset property: its column header in lower case, where that
#: differs from the name (OpenZFS matches ``-o`` and property arguments against both).
ZFS_ALIASES: Mapping[str, str] = {
    "avail": "available", "refer": "referenced", "ratio": "compressratio", "refratio": "refcompressratio",
    "volblock": "volblocksize", "usedsnap": "usedbysnapshots", "usedds": "usedbydataset",
    "usedchild": "usedbychildren", "usedrefreserv": "usedbyrefreservation", "lused": "logicalused",
    "lrefer": "logicalreferenced", "fscount": "filesystem_count", "sscount": "snapshot_count",
    "reserv": "reservation", "refreserv": "refreservation", "fslimit": "filesystem_limit",
    "sslimit": "snapshot_limit", "recsize": "recordsize", "compress": "compression", "rdonly": "readonly",
    "case": "casesensitivity", "dnsize": "dnodesize", "encroot": "encryptionroot",
    "resumetok": "receive_resume_token", "redund_md": "redundant_metadata", "rsnaps": "redact_snaps",
}
#: The same for ``zpool`` (pool properties). ``dedup`` here is the pool's ``dedupratio``.
ZPOOL_ALIASES: Mapping[str, str] = {
    "alloc": "allocated", "cap": "capacity", "frag": "fragmentation", "dedup": "dedupratio",
    "expandsz": "expandsize", "ckpoint": "checkpoint", "expand": "autoexpand", "replace": "autoreplace",
    "listsnaps": "listsnapshots", "rdonly": "readonly", "bclone_used": "bcloneused",
    "bclone_saved": "bclonesaved", "bclone_ratio": "bcloneratio", "ddtsize": "dedup_table_size",
    "ddtquota": "dedup_table_quota",
}
# Dataset names first; pool-only short names that do not clash with a dataset property are accepted too.
_ALIASES = {**{k: v for k, v in ZPOOL_ALIASES.items() if k not in ("dedup", "rdonly")}, **ZFS_ALIASES}

_USER_PROP = re.compile(r"^[a-z0-9_.\-]+:[a-z0-9_.:\-]*$")
_NATIVE_NAME = re.compile(r"^[a-z][a-z0-9_@]*$")
_HUMAN = re.compile(r"^(\d+(?:\.\d+)?)([BKMGTPE]?)$")
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}


def canonical_name(name: str, *, pool: bool = False) -> str:
    """The full property name for a short name the tools accept (``avail`` -> ``available``).

    ``pool`` reads it as ``zpool`` does (``dedup`` -> ``dedupratio``, ``rdonly`` -> the pool's ``readonly``).
    """
    return (ZPOOL_ALIASES if pool else _ALIASES).get(name, name)


def is_user_property(name: str) -> bool:
    """True for a user property name (``module:name``)."""
    return ":" in name


def parse_size(raw: str) -> int:
    """Bytes from ``-p`` text (``1048576``) or, for tools that only print human sizes, ``250M`` / ``1.5G``.

    Human sizes are rounded to the byte; they are approximations by nature (zfs-fuse's ``zpool list``).
    """
    if raw.isascii() and raw.isdigit():  # not "²": str.isdigit() is true for it, int() refuses it
        return int(raw)
    m = _HUMAN.fullmatch(raw.upper())
    if not m:
        raise ValueError(f"not a size: {raw!r}")
    return round(float(m.group(1)) * _UNITS[m.group(2)])


class SourceKind(enum.Enum):
    """Where a property value came from, as the SOURCE column of ``zfs get`` says."""

    LOCAL = "local"
    DEFAULT = "default"
    INHERITED = "inherited"
    TEMPORARY = "temporary"
    RECEIVED = "received"
    NONE = "-"


@attrs.frozen
class Source:
    """The source of a property value; ``inherited_from`` names the ancestor for inherited values."""

    kind: SourceKind
    inherited_from: str | None = None

    @classmethod
    def parse(cls, raw: str) -> Source:
        """Parse the SOURCE column; unknown text raises ``ValueError``."""
        if raw.startswith("inherited from "):
            return cls(SourceKind.INHERITED, raw[15:])
        try:
            return _SOURCES[raw]
        except KeyError:
            raise ValueError(f"unknown property source {raw!r}") from None

    def __str__(self) -> str:
        if self.kind is SourceKind.INHERITED:
            return f"inherited from {self.inherited_from}"
        return str(self.kind.value)


_SOURCES = {k.value: Source(k) for k in SourceKind if k is not SourceKind.INHERITED}
_SOURCES["none"] = Source(SourceKind.NONE)


def parse_value(name: str, raw: str) -> PropertyValue:
    """Type the raw text of property ``name``. Raises ``ValueError`` when the text does not fit the kind."""
    if raw == "-":
        return None
    spec = NATIVE.get(name)
    if spec is None:
        return raw
    kind = spec.kind
    if kind is Kind.TEXT:
        return raw
    if kind is Kind.SIZE:
        return parse_size(raw)
    if kind is Kind.LIMIT:
        if raw == "none":
            return None
        size = parse_size(raw)
        return size or None
    if kind is Kind.ONOFF or kind is Kind.YESNO:
        if raw in ("on", "yes"):
            return True
        if raw in ("off", "no"):
            return False
        # Some on/off properties accept more words (xattr=sa); keep them as text rather than lose them.
        return raw
    if kind is Kind.RATIO:
        return float(raw[:-1] if raw.endswith("x") else raw)
    if kind is Kind.INT:
        return int(raw[:-1] if raw.endswith("%") else raw)
    if kind is Kind.TIME:
        return datetime.fromtimestamp(int(raw), tz=timezone.utc)
    raise AssertionError(kind)  # pragma: no cover


@attrs.frozen
class Property:
    """One property of a dataset, snapshot or pool: typed ``value``, ``raw`` text, and ``source``."""

    name: str
    value: PropertyValue
    raw: str
    source: Source

    @classmethod
    def from_raw(cls, name: str, raw: str, source: str = "-") -> Property:
        """Build from ``zfs get`` text; raises ``ValueError`` if the value or source does not parse."""
        return cls(name, parse_value(name, raw), raw, Source.parse(source))


#: A raw property entry: any sequence whose last two items are the value and source text.
RawEntry = Sequence[str]


class PropertyMap(Mapping[str, Property]):
    """A read-only mapping of property name to :class:`Property`, typed lazily on first access.

    Parsers hand over raw text and nothing is converted until a caller looks: either entries (sequences
    ending in value and source text), or, on the hot path of ``zfs get``, the object's block of output
    lines as one string, split on first access. Parsing 10,000 datasets thus costs about one pass over the
    text, and holds no container per line (a string is invisible to the garbage collector, a list of
    700,000 lines is not: it made the parse grow faster than the text). The mapping takes ownership of
    what it is given.
    """

    __slots__ = ("_block", "_cache", "_raw_map")

    def __init__(self, raw: dict[str, RawEntry] | Mapping[str, RawEntry] | None = None) -> None:
        self._raw_map: dict[str, RawEntry] | None = raw if isinstance(raw, dict) else dict(raw or {})
        self._block: str | None = None
        self._cache: dict[str, Property] | None = None

    @classmethod
    def from_block(cls, block: str) -> PropertyMap:
        """A map over ``name<TAB>property<TAB>value<TAB>source`` lines joined by ``\\n``, all of one object.

        The lines must already be checked for shape (as :func:`pyzfsnas.parsers.parse_zfs_get` does): at
        least three tabs, a non-empty name and property, the same name on every line.
        """
        pmap = cls.__new__(cls)
        pmap._raw_map, pmap._block, pmap._cache = None, block, None
        return pmap

    @property
    def _raw(self) -> dict[str, RawEntry]:
        raw = self._raw_map
        if raw is None:
            raw = {}
            for line in self._block.split("\n") if self._block else ():
                parts = line.split("\t")
                if len(parts) > 4:  # tabs inside the value: every other column is tab-free
                    parts = [parts[0], parts[1], "\t".join(parts[2:-1]), parts[-1]]
                raw[parts[1]] = parts
            self._raw_map, self._block = raw, None
        return raw

    def __getitem__(self, name: str) -> Property:
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        prop = cache.get(name)
        if prop is None:
            entry = self._raw[name]
            value, source = entry[-2], entry[-1]
            try:
                prop = Property.from_raw(name, value, source)
            except (ValueError, KeyError, OverflowError) as exc:
                raise ParseError(f"property {name}: cannot type {value!r} (source {source!r}): {exc}") from None
            cache[name] = prop
        return prop

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __repr__(self) -> str:
        return f"PropertyMap({ {k: v[-2] for k, v in self._raw.items()} !r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PropertyMap):
            return {k: tuple(v[-2:]) for k, v in self._raw.items()} == {
                k: tuple(v[-2:]) for k, v in other._raw.items()}
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def raw(self, name: str) -> str | None:
        """The raw text of ``name``, or None if it was not read.

        Before the map is built, only ``name``'s line is found (every line starts with the object's name,
        which holds no tab or newline) and split, so reading one property (``type``, to tell filesystems
        from volumes) keeps the rest lazy.
        """
        block = self._block
        if self._raw_map is None:
            if not block:
                return None
            needle = block[: block.index("\t") + 1] + name + "\t"
            at = block.rfind("\n" + needle) + 1  # the last one, as when the whole map is built
            if at == 0 and not block.startswith(needle):
                return None
            end = block.find("\n", at)
            parts = block[at : None if end < 0 else end].split("\t")
            return "\t".join(parts[2:-1]) if len(parts) > 4 else parts[2]
        item = self._raw.get(name)
        return item[-2] if item else None

    def value(self, name: str) -> PropertyValue:
        """The typed value of ``name``, or None if it was not read or is ``-``."""
        return self[name].value if name in self._raw else None


def validate_property_name(name: str, *, flavour: str | None = None, settable: bool = False) -> str:
    """Check a property name before it reaches argv; return its canonical form.

    Native names must be known (for ``flavour`` when given); user properties must look like
    ``module:name`` in lowercase. With ``settable``, read-only properties are refused too.
    """
    if not isinstance(name, str) or not name:
        raise InvalidProperty(f"empty property name {name!r}")
    if "\n" in name or "\0" in name or "=" in name or "," in name:
        raise InvalidProperty(f"invalid character in property name {name!r}")
    if is_user_property(name):
        if not _USER_PROP.fullmatch(name) or name.startswith(":") or len(name) > 256:
            raise InvalidProperty(
                f"invalid user property name {name!r}: expected lowercase 'module:name' (a-z 0-9 _ - . :)"
            )
        return name
    canon = canonical_name(name)
    spec = NATIVE.get(canon)
    if spec is None:
        if _NATIVE_NAME.fullmatch(canon) and canon.startswith(("userquota@", "groupquota@", "userused@", "feature@")):
            return canon
        raise InvalidProperty(f"unknown property {name!r}")
    if flavour is not None and spec.flavours and flavour not in spec.flavours:
        raise InvalidProperty(f"property {name!r} is not supported on {flavour}")
    if settable and spec.readonly:
        raise InvalidProperty(f"property {name!r} is read-only")
    return canon


_ONOFF_IN = {True: "on", False: "off", "on": "on", "off": "off"}

_GZIP = tuple(f"gzip-{i}" for i in range(1, 10))
#: zstd levels 1-19, and the zstd-fast levels OpenZFS names (1-10, then 20-100 by tens, 500 and 1000).
_ZSTD = (
    "zstd",
    *(f"zstd-{i}" for i in range(1, 20)),
    "zstd-fast",
    *(f"zstd-fast-{i}" for i in (*range(1, 11), *range(20, 101, 10), 500, 1000)),
)
#: The ``compression`` values each flavour accepts (the fake host reads the same table).
COMPRESSION_VALUES: Mapping[str, tuple[str, ...]] = {
    "zfs-fuse": ("on", "off", "lzjb", "gzip", *_GZIP, "zle"),
    "openzfs": ("on", "off", "lzjb", "gzip", *_GZIP, "zle", "lz4", *_ZSTD),
}


def format_value(name: str, value: object) -> str:
    """Text for ``zfs set name=<text>`` from a Python value; strict per kind (sizes must be ``int`` bytes)."""
    spec = NATIVE.get(canonical_name(name))
    kind = spec.kind if spec else Kind.TEXT
    if isinstance(value, bool) and kind in (Kind.ONOFF, Kind.YESNO):
        return "on" if value else "off"
    if kind in (Kind.SIZE, Kind.LIMIT):
        if value is None and kind is Kind.LIMIT:
            return "none"
        if kind is Kind.LIMIT and value in ("none", 0) and not isinstance(value, bool):
            return "none"
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidProperty(f"{name} must be a non-negative int of bytes, got {value!r}")
        return str(value)
    if kind is Kind.INT and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if not isinstance(value, str):
        raise InvalidProperty(f"{name}: unsupported value type {type(value).__name__}")
    return value


def validate_property_value(name: str, value: object, *, flavour: str | None = None) -> tuple[str, str]:
    """Validate ``name=value`` for ``zfs set`` / ``-o``; return ``(canonical name, text)`` or raise."""
    canon = validate_property_name(name, flavour=flavour, settable=True)
    text = format_value(canon, value)
    if "\n" in text or "\0" in text or "\r" in text:
        raise InvalidProperty(f"{canon}: newline or NUL in value {text!r}")
    if len(text) > 8191:
        raise InvalidProperty(f"{canon}: value longer than 8191 characters")
    spec = NATIVE.get(canon)
    if spec is not None:
        if spec.kind is Kind.ONOFF and text not in _ONOFF_IN and canon != "xattr":
            raise InvalidProperty(f"{canon} must be on or off, got {text!r}")
        if spec.choices and text not in spec.choices:
            raise InvalidProperty(f"{canon} must be one of {', '.join(spec.choices)}; got {text!r}")
        if canon == "mountpoint" and not (text.startswith("/") or text in ("none", "legacy")):
            raise InvalidProperty(f"mountpoint must be an absolute path, 'none' or 'legacy'; got {text!r}")
        if canon == "compression":
            allowed = COMPRESSION_VALUES["zfs-fuse" if flavour == "zfs-fuse" else "openzfs"]
            if text not in allowed:
                raise InvalidProperty(f"compression {text!r} is not supported on {flavour or 'this host'}")
    return canon, text
