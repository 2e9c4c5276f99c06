"""The native ZFS properties the fake knows, per flavour: order in ``zfs get all``, defaults, what is editable.

The ``openzfs`` flavour models **OpenZFS 2.3.2** (Debian bookworm-backports ``2.3.2-2~bpo12+2``, the project's
guest): its property set and order, its defaults (``compression=on``, ``relatime=on``, ``volblocksize=16384``)
and its limits (``recordsize`` up to 16M), checked by ``tests/conformance`` against the real host.

One table, read by the host (sources and inheritance), the ``zfs get`` printer and the ``zfs set`` validator;
which flavours have a property, whether it is read-only and its enumerated values come from the library's
table (:data:`pyzfsnas.properties.NATIVE`), so the two cannot disagree.
Values are kept in their ``-p`` (parsable) text; :func:`human` turns them into what ``zfs get`` prints without
``-p``.
"""

from __future__ import annotations

from typing import NamedTuple

from pyzfsnas.properties import COMPRESSION_VALUES, NATIVE, ZFS_ALIASES
from pyzfsnas.testing.fake.formatting import SizeError, format_date, nicenum, parse_size

__all__ = ["PROPS", "Prop", "all_order", "human", "lookup", "validate"]

ONOFF = ("on", "off")


class Prop(NamedTuple):
    """One native property: kind is ``size``, ``number``, ``index``, ``string`` or ``date``."""

    name: str
    kind: str
    readonly: bool
    inherit: bool
    default: str
    values: tuple[str, ...] = ()
    setonce: bool = False
    #: value shown when the property does not apply or is unset (``-`` or ``none``)
    openzfs_only: bool = False


def _p(
    name: str, kind: str, inh: bool, default: str, values: tuple[str, ...] = (), *, setonce: bool = False
) -> Prop:
    """A row of the fake's table: how the fake prints and inherits ``name``. Which flavours have it, whether it
    is read-only and its enumerated values come from the library's table (:data:`pyzfsnas.properties.NATIVE`):
    one source of truth, checked against real outputs by tests/unit/test_property_contract.py. ``values`` is
    only for rows the library's table gives no choices (where it has them, they win)."""
    spec = NATIVE[name]
    return Prop(name, kind, spec.readonly or setonce, inh, default, spec.choices or values, setonce,
                openzfs_only=spec.flavours == ("openzfs",))


FUSE_COMPRESSION = COMPRESSION_VALUES["zfs-fuse"]
OPENZFS_COMPRESSION = COMPRESSION_VALUES["openzfs"]
COMPRESSION_TEXT = {
    "zfs-fuse": "on | off | lzjb | gzip | gzip-[1-9] | zle",
    "openzfs": "on | off | lzjb | gzip | gzip-[1-9] | zle | lz4 | zstd | zstd-[1-19] | zstd-fast | "
    "zstd-fast-[1-10,20,30,40,50,60,70,80,90,100,500,1000]",
}

_ALL = [
    _p("type", "string", False, ""),
    _p("creation", "date", False, ""),
    _p("used", "size", False, ""),
    _p("available", "size", False, ""),
    _p("referenced", "size", False, ""),
    _p("compressratio", "string", False, "1.00x"),
    _p("mounted", "string", False, ""),
    _p("origin", "string", False, ""),
    _p("quota", "size", False, "0"),
    _p("reservation", "size", False, "0"),
    _p("volsize", "size", False, "0"),
    _p("volblocksize", "size", False, "16384", setonce=True),
    _p("recordsize", "size", True, "131072"),
    _p("mountpoint", "string", True, ""),
    _p("sharenfs", "string", True, "off"),
    _p("checksum", "index", True, "on", ("on", "off", "fletcher2", "fletcher4", "sha256")),
    _p("compression", "index", True, "off", FUSE_COMPRESSION),
    _p("atime", "index", True, "on", ONOFF),
    _p("devices", "index", True, "on", ONOFF),
    _p("exec", "index", True, "on", ONOFF),
    _p("setuid", "index", True, "on", ONOFF),
    _p("readonly", "index", True, "off", ONOFF),
    _p("zoned", "index", True, "off", ONOFF),
    _p("snapdir", "index", True, "hidden"),
    _p("aclmode", "index", True, "groupmask", ("discard", "groupmask", "passthrough", "restricted")),
    _p("aclinherit", "index", True, "restricted",
       ("discard", "noallow", "restricted", "passthrough", "passthrough-x")),
    _p("createtxg", "number", False, ""),
    _p("canmount", "index", False, "on"),
    _p("xattr", "index", True, "on", ("on", "off", "sa", "dir")),
    _p("copies", "index", True, "1"),
    _p("version", "number", False, "4"),
    _p("utf8only", "index", True, "off", ONOFF, setonce=True),
    _p("normalization", "index", True, "none", ("none", "formC", "formD", "formKC", "formKD"), setonce=True),
    _p("casesensitivity", "index", True, "sensitive", ("sensitive", "insensitive", "mixed"), setonce=True),
    _p("vscan", "index", True, "off", ONOFF),
    _p("nbmand", "index", True, "off", ONOFF),
    _p("sharesmb", "string", True, "off"),
    _p("refquota", "size", False, "0"),
    _p("refreservation", "size", False, "0"),
    _p("guid", "number", False, ""),
    _p("primarycache", "index", True, "all"),
    _p("secondarycache", "index", True, "all"),
    _p("usedbysnapshots", "size", False, ""),
    _p("usedbydataset", "size", False, ""),
    _p("usedbychildren", "size", False, ""),
    _p("usedbyrefreservation", "size", False, ""),
    _p("logbias", "index", True, "latency"),
    _p("objsetid", "number", False, ""),
    _p("dedup", "index", True, "off", ("on", "off", "verify", "sha256", "sha256,verify")),
    _p("mlslabel", "string", True, "none"),
    _p("sync", "index", True, "standard"),
    _p("dnodesize", "index", True, "legacy", ("legacy", "auto", "1k", "2k", "4k", "8k", "16k")),
    _p("refcompressratio", "string", False, "1.00x"),
    _p("written", "size", False, ""),
    _p("clones", "string", False, ""),
    _p("logicalused", "size", False, ""),
    _p("logicalreferenced", "size", False, ""),
    _p("volmode", "index", True, "default", ("default", "full", "geom", "dev", "none")),
    _p("filesystem_limit", "limit", False, "none"),
    _p("snapshot_limit", "limit", False, "none"),
    _p("filesystem_count", "limit", False, "none"),
    _p("snapshot_count", "limit", False, "none"),
    _p("snapdev", "index", True, "hidden"),
    _p("acltype", "index", True, "off", ("off", "noacl", "nfsv4", "posix", "posixacl")),
    _p("context", "string", False, "none"),
    _p("fscontext", "string", False, "none"),
    _p("defcontext", "string", False, "none"),
    _p("rootcontext", "string", False, "none"),
    _p("relatime", "index", True, "off", ONOFF),
    _p("redundant_metadata", "index", True, "all", ("all", "most", "some", "none")),
    _p("overlay", "index", True, "on", ONOFF),
    _p("encryption", "index", False, "off"),
    _p("keylocation", "string", False, "none"),
    _p("keyformat", "index", False, "none"),
    _p("pbkdf2iters", "number", False, "0"),
    _p("encryptionroot", "string", False, ""),
    _p("keystatus", "string", False, ""),
    _p("special_small_blocks", "size", True, "0"),
    _p("defer_destroy", "index", False, "off"),
    _p("userrefs", "number", False, ""),
    _p("receive_resume_token", "string", False, ""),
    _p("snapshots_changed", "date", False, ""),
    _p("prefetch", "index", True, "all"),
    _p("direct", "index", True, "standard"),
    _p("longname", "index", True, "off", ONOFF),
    _p("volthreading", "index", True, "on", ONOFF),
]

PROPS: dict[str, Prop] = {p.name: p for p in _ALL}
_ALIASES = ZFS_ALIASES  # the short names zfs accepts: one table with the library's
_FUSE_OVERRIDES = {"aclmode": "groupmask"}
_OPENZFS_DEFAULTS = {"aclmode": "discard", "version": "5", "compression": "on", "relatime": "on"}

_FUSE_FS = [
    "type", "creation", "used", "available", "referenced", "compressratio", "mounted", "origin", "quota",
    "reservation", "recordsize", "mountpoint", "sharenfs", "checksum", "compression", "atime", "devices",
    "exec", "setuid", "readonly", "zoned", "snapdir", "aclmode", "aclinherit", "canmount", "xattr",
    "copies", "version", "utf8only", "normalization", "casesensitivity", "vscan", "nbmand", "sharesmb",
    "refquota", "refreservation", "primarycache", "secondarycache", "usedbysnapshots", "usedbydataset",
    "usedbychildren", "usedbyrefreservation", "logbias", "dedup", "mlslabel",
]
_FUSE_SNAP = [
    "type", "creation", "used", "referenced", "compressratio", "devices", "exec", "setuid", "xattr",
    "version", "utf8only", "normalization", "casesensitivity", "nbmand", "primarycache", "secondarycache",
    "defer_destroy", "userrefs", "mlslabel",
]
_OZ_FS = [
    "type", "creation", "used", "available", "referenced", "compressratio", "mounted", "origin", "quota",
    "reservation", "recordsize", "mountpoint", "sharenfs", "checksum", "compression", "atime", "devices",
    "exec", "setuid", "readonly", "zoned", "snapdir", "aclmode", "aclinherit", "createtxg", "canmount",
    "xattr", "copies", "version", "utf8only", "normalization", "casesensitivity", "vscan", "nbmand",
    "sharesmb", "refquota", "refreservation", "guid", "primarycache", "secondarycache", "usedbysnapshots",
    "usedbydataset", "usedbychildren", "usedbyrefreservation", "logbias", "objsetid", "dedup", "mlslabel",
    "sync", "dnodesize", "refcompressratio", "written", "logicalused", "logicalreferenced", "volmode",
    "filesystem_limit", "snapshot_limit", "filesystem_count", "snapshot_count", "snapdev", "acltype",
    "context", "fscontext", "defcontext", "rootcontext", "relatime", "redundant_metadata", "overlay",
    "encryption", "keylocation", "keyformat", "pbkdf2iters", "special_small_blocks", "snapshots_changed",
    "prefetch", "direct", "longname", "receive_resume_token",
]
_OZ_VOL = [
    "type", "creation", "used", "available", "referenced", "compressratio", "origin", "reservation",
    "volsize", "volblocksize", "checksum", "compression", "readonly", "createtxg", "copies",
    "refreservation", "guid", "primarycache", "secondarycache", "usedbysnapshots", "usedbydataset",
    "usedbychildren", "usedbyrefreservation", "logbias", "objsetid", "dedup", "mlslabel", "sync",
    "refcompressratio", "written", "logicalused", "logicalreferenced", "volmode", "snapshot_limit",
    "snapshot_count", "snapdev", "context", "fscontext", "defcontext", "rootcontext", "redundant_metadata",
    "encryption", "keylocation", "keyformat", "pbkdf2iters", "snapshots_changed", "prefetch", "volthreading",
    "receive_resume_token",
]
_OZ_SNAP = [
    "type", "creation", "used", "referenced", "compressratio", "devices", "exec", "setuid", "createtxg",
    "xattr", "version", "utf8only", "normalization", "casesensitivity", "nbmand", "guid", "primarycache",
    "secondarycache", "defer_destroy", "userrefs", "objsetid", "mlslabel", "refcompressratio", "written",
    "clones", "logicalreferenced", "acltype", "context", "fscontext", "defcontext", "rootcontext",
    "encryption", "prefetch",
]
#: properties that only exist for some dataset types (checked by ``zfs get NAME`` of another type: ``-``)
FS_ONLY = {"mounted", "quota", "recordsize", "mountpoint", "sharenfs", "atime", "devices", "exec", "setuid",
           "zoned", "snapdir", "aclmode", "aclinherit", "canmount", "xattr", "version", "utf8only",
           "normalization", "casesensitivity", "vscan", "nbmand", "sharesmb", "refquota", "filesystem_limit",
           "filesystem_count", "acltype", "relatime", "overlay", "dnodesize", "special_small_blocks", "direct",
           "longname"}


def lookup(name: str, flavour: str) -> Prop | None:
    """The native property called ``name`` (or an alias) on ``flavour``; None when unknown there."""
    prop = PROPS.get(_ALIASES.get(name, name))
    if prop is None or (prop.openzfs_only and flavour != "openzfs"):
        return None
    if flavour == "openzfs" and prop.name == "compression":
        return prop._replace(values=OPENZFS_COMPRESSION, default=_OPENZFS_DEFAULTS["compression"])
    if flavour == "openzfs" and prop.name in _OPENZFS_DEFAULTS:
        return prop._replace(default=_OPENZFS_DEFAULTS[prop.name])
    if flavour == "openzfs" and prop.name == "checksum":
        return prop._replace(values=(*prop.values, "noparity", "sha512", "skein", "edonr", "blake3"))
    if flavour != "openzfs" and prop.name == "mlslabel":
        return prop._replace(default="off")
    if flavour != "openzfs" and prop.name in ("xattr", "aclmode"):
        return prop._replace(values=prop.values[:2] if prop.name == "xattr" else prop.values[:3])
    return prop


def all_order(flavour: str, kind: str) -> list[str]:
    """Properties printed by ``zfs get all`` for a dataset ``kind``, in the real order."""
    if flavour == "openzfs":
        return list({"filesystem": _OZ_FS, "volume": _OZ_VOL, "snapshot": _OZ_SNAP}[kind])
    return list(_FUSE_SNAP if kind == "snapshot" else _FUSE_FS)


def applies(prop: str, kind: str, flavour: str) -> bool:
    """Whether native ``prop`` exists for a dataset of ``kind`` on ``flavour`` (else ``zfs get`` prints ``-``)."""
    return prop in all_order(flavour, kind) or prop in ("origin", "receive_resume_token", "encryptionroot",
                                                        "keystatus")


def human(prop: str, value: str, flavour: str) -> str:
    """The ``zfs get`` (no ``-p``) text of a parsable value."""
    p = PROPS.get(prop)
    if p is None or value in ("-", ""):
        return value
    if p.kind == "size" and value.isdigit():
        n = int(value)
        if n == 0 and prop == "special_small_blocks":
            return "0"
        if n == 0 and prop in ("quota", "reservation", "refquota", "refreservation"):
            return "none"
        return nicenum(n, bytes_suffix=flavour == "openzfs")
    if p.kind == "date" and value.isdigit():
        return format_date(int(value))
    return value


def validate(prop: Prop, value: str, flavour: str) -> str:
    """Check a value for ``zfs set``/``create -o``; return its parsable form or raise ``ValueError(message)``."""
    name = prop.name
    if prop.kind == "index":
        if value not in prop.values:
            text = COMPRESSION_TEXT[flavour] if name == "compression" else " | ".join(prop.values)
            raise ValueError(f"'{name}' must be one of '{text}'")
        return value
    if prop.kind == "limit":
        if value == "none":
            return value
        if not value.isdigit():
            raise ValueError(f"bad numeric value '{value}'")
        return value
    if prop.kind == "size":
        if name in ("quota", "refquota", "reservation", "refreservation") and value == "none":
            return "0"
        try:
            n = parse_size(value)
        except SizeError as err:
            raise ValueError(str(err)) from None
        if name in ("quota", "refquota") and n == 0:
            raise ValueError("use 'none' to disable quota/refquota")
        if name in ("recordsize", "volblocksize"):
            top = 131072 if flavour != "openzfs" else 16 << 20
            if n < 512 or n > top or n & (n - 1):
                raise ValueError(
                    f"'{name}' must be power of 2 from 512 to 128k" if flavour != "openzfs"
                    else f"'{name}' must be power of 2 from 512B to 16M"
                )
        return str(n)
    if name == "mountpoint":
        if value not in ("none", "legacy") and not value.startswith("/"):
            raise ValueError("'mountpoint' must be an absolute path, 'none', or 'legacy'")
        return value.rstrip("/") or "/"
    if name == "version":
        top = 4 if flavour != "openzfs" else 5
        if value != "current" and not (value.isdigit() and 1 <= int(value) <= top):
            raise ValueError("invalid version")
        return str(top) if value == "current" else value
    return value
