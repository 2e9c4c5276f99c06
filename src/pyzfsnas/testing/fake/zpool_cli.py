"""The fake ``zpool``: create, destroy, list and get, with each flavour's output forms."""

from __future__ import annotations

import getopt
from collections.abc import Iterable

from pyzfsnas.properties import ZPOOL_ALIASES
from pyzfsnas.testing.fake.formatting import nicenum, render_table
from pyzfsnas.testing.fake.host import Fail, FakeHost, MiB, Pool
from pyzfsnas.testing.fake.output import Out
from pyzfsnas.testing.fake.usage import FUSE_ZPOOL_PROPTABLE, FUSE_ZPOOL_USAGE, OPENZFS_ZPOOL_USAGE
from pyzfsnas.testing.fake.zfs_cli import check_value, destroy_objects

__all__ = ["create_pool", "run_zpool"]

_LIST_COLS = ["name", "size", "allocated", "free", "capacity", "dedupratio", "health", "altroot"]
_OZ_LIST_COLS = ["name", "size", "allocated", "free", "checkpoint", "expandsize", "fragmentation", "capacity",
                 "dedupratio", "health", "altroot"]
_FUSE_GET = ["size", "capacity", "altroot", "health", "guid", "version", "bootfs", "delegation", "autoreplace",
             "cachefile", "failmode", "listsnapshots", "autoexpand", "dedupditto", "dedupratio", "free",
             "allocated", "ashift"]
_OZ_GET = ["size", "capacity", "altroot", "health", "guid", "version", "bootfs", "delegation", "autoreplace",
           "cachefile", "failmode", "listsnapshots", "autoexpand", "dedupratio", "free", "allocated", "readonly",
           "ashift", "comment", "expandsize", "freeing", "fragmentation", "leaked", "multihost", "checkpoint",
           "load_guid", "autotrim", "compatibility", "bcloneused", "bclonesaved", "bcloneratio",
           "dedup_table_size", "dedup_table_quota", "last_scrubbed_txg"]
#: OpenZFS 2.3.2's pool features in ``zpool get all`` order, and those active on a new pool in use.
_FEATURES = ["async_destroy", "empty_bpobj", "lz4_compress", "multi_vdev_crash_dump", "spacemap_histogram",
             "enabled_txg", "hole_birth", "extensible_dataset", "embedded_data", "bookmarks", "filesystem_limits",
             "large_blocks", "large_dnode", "sha512", "skein", "edonr", "userobj_accounting", "encryption",
             "project_quota", "device_removal", "obsolete_counts", "zpool_checkpoint", "spacemap_v2",
             "allocation_classes", "resilver_defer", "bookmark_v2", "redaction_bookmarks", "redacted_datasets",
             "bookmark_written", "log_spacemap", "livelist", "device_rebuild", "zstd_compress", "draid",
             "zilsaxattr", "head_errlog", "blake3", "block_cloning", "vdev_zaps_v2", "redaction_list_spill",
             "raidz_expansion", "fast_dedup", "longname", "large_microzap"]
_ACTIVE = {"empty_bpobj", "lz4_compress", "spacemap_histogram", "enabled_txg", "hole_birth", "extensible_dataset",
           "embedded_data", "userobj_accounting", "project_quota", "spacemap_v2", "log_spacemap", "head_errlog",
           "vdev_zaps_v2"}
_SETTABLE = {"ashift", "autoexpand", "autoreplace", "autotrim", "cachefile", "comment", "compatibility",
             "delegation", "failmode", "listsnapshots", "multihost", "altroot", "bootfs"}
_DEFAULTS = {"altroot": "-", "bootfs": "-", "delegation": "on", "autoreplace": "off", "cachefile": "-",
             "failmode": "wait", "listsnapshots": "off", "autoexpand": "off", "dedupditto": "0", "ashift": "0",
             "comment": "-", "multihost": "off", "autotrim": "off", "compatibility": "off",
             "dedup_table_quota": "auto"}
_HEAD = {"allocated": "ALLOC", "capacity": "CAP", "dedupratio": "DEDUP", "checkpoint": "CKPOINT",
         "expandsize": "EXPANDSZ", "fragmentation": "FRAG"}


def usage(host: FakeHost, cmd: str | None, first: str) -> Fail:
    """A zpool usage error (exit 2)."""
    text = FUSE_ZPOOL_USAGE if host.flavour == "zfs-fuse" else OPENZFS_ZPOOL_USAGE
    if cmd is None:
        return Fail(f"{first}\n{text}", 2)
    lines = text.splitlines()
    picked = []
    for i, line in enumerate(lines):
        if line.startswith(f"\t{cmd} "):
            picked.append(line)
            j = i + 1
            while j < len(lines) and lines[j].startswith("\t    "):
                picked.append(lines[j])
                j += 1
    tail = "\n" + FUSE_ZPOOL_PROPTABLE if host.flavour == "zfs-fuse" and cmd in ("list", "get") else ""
    return Fail(f"{first}\nusage:\n" + "\n".join(picked) + "\n" + tail, 2)


def create_pool(host: FakeHost, name: str, vdevs: list[str], *, size: int, mountpoint: str | None,
                fsprops: dict[str, str] | None = None) -> None:
    """Create a pool and its root dataset (mounted at ``mountpoint`` or ``/NAME``)."""
    host.check_new_pool(name, vdevs)
    local = {}
    for key, value in (fsprops or {}).items():
        k, v = check_value(host, key, value, f"cannot create '{name}'", creating=True)
        local[k] = v
    if mountpoint is not None:
        local["mountpoint"] = mountpoint
    host.new_pool(name, vdevs, size=size, local=local)


def _pool_value(host: FakeHost, pool: Pool, prop: str, parsable: bool) -> str:
    alloc = host.pool_allocated(pool)
    fuse = host.flavour == "zfs-fuse"
    num = {"size": pool.size, "allocated": alloc, "free": pool.size - alloc}
    if prop in num:
        return str(num[prop]) if parsable else nicenum(num[prop], bytes_suffix=not fuse)
    return {
        "name": pool.name, "capacity": f"{alloc * 100 // pool.size}" + ("" if parsable else "%"),
        "dedupratio": "1.00" if parsable else "1.00x", "health": "ONLINE", "guid": str(pool.guid),
        "version": "23" if fuse else "-", "checkpoint": "-", "expandsize": "-",
        "fragmentation": "0" if parsable else "0%", "readonly": "off", "freeing": "0", "leaked": "0",
        "load_guid": str(pool.guid ^ 0x5A5A), "bcloneused": "0", "bclonesaved": "0",
        "bcloneratio": "1.00" if parsable else "1.00x", "dedup_table_size": "0", "last_scrubbed_txg": "0",
    }.get(prop, pool.props.get(prop, _DEFAULTS.get(prop, "-")))


def _feature(pool: Pool, prop: str) -> str:
    name = prop.removeprefix("feature@")
    return "active" if name in _ACTIVE or (name == "filesystem_limits" and pool.limits_active) else "enabled"


def _source(host: FakeHost, prop: str, pool: Pool) -> str:
    if prop in pool.props or prop.startswith("feature@"):
        return "local"
    if host.flavour == "zfs-fuse" and prop in ("version", "guid"):
        return "default"
    return "default" if prop in _DEFAULTS or prop == "version" else "-"


def run_zpool(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    """Run ``zpool ARGS`` on ``host`` (caller holds the lock)."""
    try:
        return _run(host, args)
    except Fail as err:
        return Out(err.returncode, err.stdout, err.stderr)


def _opts(host: FakeHost, cmd: str, args: list[str], spec: str) -> tuple[list[tuple[str, str]], list[str]]:
    try:
        return getopt.gnu_getopt(args, spec)
    except getopt.GetoptError as err:
        raise usage(host, cmd, f"invalid option '{err.opt}'") from None


def _run(host: FakeHost, args: list[str]) -> Out:
    if not args:
        raise usage(host, None, "missing command")
    cmd, rest = args[0], args[1:]
    fuse = host.flavour == "zfs-fuse"
    if cmd == "create":
        options, rest = _opts(host, "create", rest, "fnm:o:O:R:d")
        if len(rest) < 2:
            raise usage(host, "create", "missing pool name argument" if not rest else "missing vdev specification")
        mp = next((v for o, v in options if o == "-m"), None)
        fsprops = dict(v.split("=", 1) for o, v in options if o == "-O" and "=" in v)
        poolprops = dict(v.split("=", 1) for o, v in options if o == "-o" and "=" in v)
        for key in poolprops:
            if key not in _SETTABLE:
                raise Fail(f"property '{key}' is not a valid pool or vdev property", 2)
        create_pool(host, rest[0], rest[1:], size=host.default_vdev_size, mountpoint=mp, fsprops=fsprops)
        host.pools[rest[0]].props.update(poolprops)
        prefix = f"Defaulting to 4K blocksize (ashift=12) for '{rest[1]}'\n" if fuse else ""
        return Out(0, "", prefix)
    if cmd == "destroy":
        options, rest = _opts(host, "destroy", rest, "f")
        if len(rest) != 1:
            raise usage(host, "destroy", "missing pool argument" if not rest else "too many arguments")
        if rest[0] not in host.pools:
            raise Fail(f"cannot open '{rest[0]}': no such pool")

        doomed = [d for n, d in host.datasets.items() if n.split("/")[0].split("@")[0] == rest[0]]
        destroy_objects(host, doomed)
        del host.pools[rest[0]]
        return Out()
    if cmd == "list":
        options, rest = _opts(host, "list", rest, "Ho:gLPv" if fuse else "Hpo:gLPvT:")
        flags = {o for o, _ in options}
        cols = _LIST_COLS if fuse else _OZ_LIST_COLS
        for o, v in options:
            if o == "-o":
                cols = [ZPOOL_ALIASES.get(c, c) for c in v.split(",")]
        pools = _pools(host, rest)
        rows = [[_pool_value(host, p, c, "-p" in flags) for c in cols] for p in pools]
        if "-H" in flags:
            return Out(0, "".join("\t".join(r) + "\n" for r in rows))
        if not rows:
            return Out(0, "no pools available\n")
        right = [c not in ("name", "health", "altroot") for c in cols]
        return Out(0, render_table([_HEAD.get(c, c.upper()) for c in cols], rows, right=right))
    if cmd == "get":
        if fuse:
            if rest and rest[0].startswith("-"):
                raise usage(host, "get", f"bad property list: invalid property '{rest[0]}'")
            options, flags = [], set()
        else:
            options, rest = _opts(host, "get", rest, "Hpo:")
            flags = {o for o, _ in options}
        if not rest:
            raise usage(host, "get", "missing property argument")
        order = _FUSE_GET if fuse else [*_OZ_GET, *(f"feature@{f}" for f in _FEATURES)]
        props = order if rest[0] == "all" else [ZPOOL_ALIASES.get(p, p) for p in rest[0].split(",")]
        for p in props:
            if p not in order and p != "name":
                raise usage(host, "get", f"bad property list: invalid property '{p}'")
        missing = [n for n in rest[1:] if n not in host.pools]
        if missing and not fuse:
            raise Fail(f"Cannot get properties of {missing[0]}: no such pool available.")
        fields = ["name", "property", "value", "source"]
        for o, v in options:
            if o == "-o":
                fields = v.split(",")
        rows = []
        for pool in _pools(host, rest[1:]):
            for p in props:
                value = _feature(pool, p) if p.startswith("feature@") else _pool_value(host, pool, p, "-p" in flags)
                cells = {"name": pool.name, "property": p, "value": value,
                         "source": _source(host, p, pool)}
                rows.append([cells[f] for f in fields])
        if "-H" in flags:
            return Out(0, "".join("\t".join(r) + "\n" for r in rows))
        return Out(0, _fuse_get_table(rows) if fuse else render_table([f.upper() for f in fields], rows))
    if cmd in ("status", "import", "export", "scrub", "upgrade", "history", "iostat", "set"):
        raise Fail(f"the fake zpool does not implement '{cmd}'", 1)
    raise usage(host, None, f"unrecognized command '{cmd}'")


def _fuse_get_table(rows: list[list[str]]) -> str:
    """zfs-fuse's ``zpool get`` table: VALUE is 10 wide and long values overflow it."""
    w0 = max([4, *(len(r[0]) for r in rows)])
    w1 = max([8, *(len(r[1]) for r in rows)])
    out = [f"{'NAME':<{w0}}  {'PROPERTY':<{w1}}  {'VALUE':<10}  SOURCE\n"]
    out += [f"{r[0]:<{w0}}  {r[1]:<{w1}}  {r[2]:<10}  {r[3]}\n" for r in rows]
    return "".join(out)


def _pools(host: FakeHost, names: list[str]) -> list[Pool]:
    for n in names:
        if n not in host.pools:
            raise Fail(f"cannot open '{n}': no such pool")
    return [host.pools[n] for n in (names or sorted(host.pools))]


DEFAULT_SIZE = 256 * MiB
