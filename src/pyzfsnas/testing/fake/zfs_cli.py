"""The fake ``zfs`` command: argv parsing, validation and the real messages, over :class:`FakeHost` state."""

from __future__ import annotations

import getopt
from collections.abc import Callable, Iterable

from pyzfsnas.testing.fake import props as P
from pyzfsnas.testing.fake import sharing
from pyzfsnas.testing.fake.formatting import format_date, render_table
from pyzfsnas.testing.fake.host import Dataset, Fail, FakeHost, sort_key
from pyzfsnas.testing.fake.names import name_error
from pyzfsnas.testing.fake.output import Out
from pyzfsnas.testing.fake.usage import FUSE_PROPTABLE, FUSE_ZFS_USAGE, OPENZFS_PROPTABLE, OPENZFS_ZFS_USAGE

__all__ = ["run_zfs"]

Handler = Callable[[FakeHost, list[str], Iterable[bytes]], Out]
_FOOTER = "\nFor the property list, run: zfs set|get\n\nFor the delegated permission list, run: zfs allow|unallow\n"
_PROP_CMDS = ("get", "set", "list", "inherit")


def usage(host: FakeHost, cmd: str | None, first: str) -> Fail:
    """A usage error (exit 2): ``first`` line, the usage of ``cmd`` (or all commands), then the footer."""
    text = FUSE_ZFS_USAGE if host.flavour == "zfs-fuse" else OPENZFS_ZFS_USAGE
    if cmd is None:
        return Fail(f"{first}\n{text}", 2)
    lines = text.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith(f"\t{cmd} ") or line == f"\t{cmd}":
            out.append(line)
            j = i + 1
            while j < len(lines) and lines[j].startswith("\t    "):
                out.append(lines[j])
                j += 1
    body = "usage:\n" + "\n".join(out) + "\n"
    if cmd in _PROP_CMDS:
        body += "\n" + (FUSE_PROPTABLE if host.flavour == "zfs-fuse" else OPENZFS_PROPTABLE)
    else:
        body += _FOOTER
        if host.flavour == "openzfs":
            body += "\nFor further help on a command or topic, run: zfs help [<topic>]\n"
    return Fail(f"{first}\n{body}", 2)


def one_operand(host: FakeHost, command: str, rest: list[str], what: str) -> str:
    """The single operand of ``command``, or the real tool's usage error ("missing WHAT argument")."""
    if len(rest) != 1:
        raise usage(host, command, f"missing {what} argument" if not rest else "too many arguments")
    return rest[0]


def opts(host: FakeHost, cmd: str, args: list[str], spec: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``getopt`` like the real tools (GNU permutation), with their usage errors."""
    try:
        return getopt.gnu_getopt(args, spec)
    except getopt.GetoptError as err:
        if "requires argument" in err.msg:
            raise usage(host, cmd, f"missing argument for '{err.opt}' option") from None
        raise usage(host, cmd, f"invalid option '{err.opt}'") from None


def lookup(host: FakeHost, name: str) -> Dataset:
    """The dataset ``name`` or the real "does not exist" failure."""
    ds = host.datasets.get(name)
    if ds is None:
        raise Fail(f"cannot open '{name}': dataset does not exist")
    return ds


def parse_props(host: FakeHost, pairs: list[str], what: str, *, for_snapshot: bool = False) -> dict[str, str]:
    """Validate ``-o prop=value`` items; errors read ``cannot create 'X': ...``."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise usage(host, "create", "missing '=' for -o option")
        key, value = pair.split("=", 1)
        name, parsed = check_value(host, key, value, what, for_snapshot=for_snapshot, creating=True)
        out[name] = parsed
    return out


def check_value(
    host: FakeHost, key: str, value: str, what: str, *, for_snapshot: bool = False, creating: bool = False
) -> tuple[str, str]:
    """Validate one property assignment; return (canonical name, parsable value) or raise the real error."""
    if ":" in key:
        if len(value) > 8191:
            raise Fail(f"{what}: property value too long")
        return key, value
    prop = P.lookup(key, host.flavour)
    if prop is None:
        raise Fail(f"{what}: invalid property '{key}'")
    if prop.readonly and not (creating and prop.setonce):
        raise Fail(f"{what}: '{prop.name}' is readonly")
    if for_snapshot:
        raise Fail(f"{what}: this property can not be modified for snapshots")
    if prop.name == "sharenfs":
        err = sharing.validate(host, value)
        if err:
            raise Fail(f"{what}: {err}")
    try:
        return prop.name, P.validate(prop, value, host.flavour)
    except ValueError as err:
        raise Fail(f"{what}: {err}") from None


# ---------------------------------------------------------------------------------------------- version
def cmd_version(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    if host.flavour == "zfs-fuse":
        raise usage(host, None, "unrecognized command 'version'")
    return Out(0, "zfs-2.3.2-1\nzfs-kmod-2.3.2-1\n")


# ---------------------------------------------------------------------------------------------- create
def create_fs(host: FakeHost, name: str, local: dict[str, str], *, kind: str = "filesystem",
              data: set[int] | None = None, origin: str | None = None, mount: bool = True) -> Dataset:
    """Register a new filesystem/volume/clone, mount and share it like ``zfs create`` does."""
    pool = host.pool_of(name)
    ds = host.new_dataset(name, kind, props=dict(local), origin=origin)
    ds.data = set(data) if data is not None else {host.new_base_chunk(pool.name)}
    host.touch()
    if mount and kind == "filesystem":
        host.try_mount(ds)
        sharing.share(host, ds, quiet=True)
    return ds


def check_new_name(host: FakeHost, name: str, verb: str, *, parents: bool) -> None:
    """Refuse an invalid, existing or orphan new dataset name with the real text."""
    what = f"cannot {verb} '{name}'"
    err = name_error(name)
    if err:
        raise Fail(f"{what}: {err}")
    pool = name.split("/", 1)[0]
    if pool not in host.pools:
        raise Fail(f"{what}: no such pool '{pool}'")
    if name in host.datasets:
        raise Fail(f"{what}: dataset already exists")
    parent = name.rsplit("/", 1)[0] if "/" in name else None
    if parent and parent not in host.datasets and not parents:
        raise Fail(f"{what}: parent does not exist")
    if parent and parent in host.datasets and host.datasets[parent].kind == "volume":
        raise Fail(f"{what}: parent is not a filesystem")


def make_parents(host: FakeHost, name: str) -> None:
    """Create missing ancestors (``-p``)."""
    parts = name.split("/")
    for i in range(2, len(parts)):
        anc = "/".join(parts[:i])
        if anc not in host.datasets:
            create_fs(host, anc, {})


def volsize_reservation(volsize: int, volblocksize: int, copies: int = 1) -> int:
    """The ``refreservation`` OpenZFS gives a non-sparse volume: its data plus room for every indirect block
    (libzfs ``zvol_volsize_to_reservation`` on a single-disk pool: 128K per indirect block, one extra copy)."""
    nblocks = volsize // volblocksize
    numdb = 7
    while nblocks > 1:
        nblocks = (nblocks + 1023) // 1024
        numdb += nblocks
    numdb *= min(3, copies + 1)
    return volsize * copies + numdb * (1 << 17)


def cmd_create(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "create", args, "po:V:sb:")
    parents = any(o == "-p" for o, _ in options)
    volsize = next((v for o, v in options if o == "-V"), None)
    if not rest:
        raise usage(host, "create", "missing filesystem argument")
    if len(rest) > 1:
        raise usage(host, "create", "too many arguments")
    name = rest[0]
    check_new_name(host, name, "create", parents=parents)
    what = f"cannot create '{name}'"
    local = parse_props(host, [v for o, v in options if o == "-o"], what)
    kind = "filesystem"
    if volsize is not None:
        if host.flavour == "zfs-fuse":
            raise Fail(f"{what}: operation not supported on this type of pool")
        try:
            size = P.validate(P.PROPS["volsize"], volsize, host.flavour)
        except ValueError as err:
            raise Fail(f"{what}: {err}") from None
        block = int(local.get("volblocksize", "16384"))
        warning = ""
        if host.flavour == "openzfs":
            # OpenZFS rounds the size up to a whole block and reserves room for the block tree too.
            size = str(-(-int(size) // block) * block)
            if block < 16384 and any(o == "-s" for o, _ in options):
                warning = (f"Warning: volblocksize ({block}) is less than the default minimum block size "
                           "(16384).\nTo reduce wasted space a volblocksize of 16384 is recommended.\n")
        local["volsize"] = size
        if not any(o == "-s" for o, _ in options):
            local.setdefault("refreservation",
                             str(volsize_reservation(int(size), block)) if host.flavour == "openzfs" else size)
        kind = "volume"
        if parents:
            make_parents(host, name)
        create_fs(host, name, local, kind=kind)
        return Out(0, "", warning)
    if parents:
        make_parents(host, name)
    create_fs(host, name, local, kind=kind)
    return Out()


# ---------------------------------------------------------------------------------------------- destroy
def _doomed_tree(host: FakeHost, ds: Dataset, recursive_clones: bool) -> list[Dataset]:
    """``ds`` and everything under it (plus dependent clones with -R), deepest last in list order."""
    out = [ds, *host.descendants(ds.name)]
    if recursive_clones:
        i = 0
        while i < len(out):
            for clone in host.clones_of(out[i].name):
                if clone not in out:
                    out.extend([clone, *host.descendants(clone.name)])
            i += 1
    return out


def _destroy_order(host: FakeHost, name: str) -> list[Dataset]:
    """``name`` and what is under it in the order OpenZFS lists them: for each dataset, its children's trees,
    then its snapshots (oldest first), then itself."""
    ds = host.datasets[name]
    children = [d for d in host.descendants(name, snapshots=False) if d.parent == name]
    out: list[Dataset] = []
    for child in children:
        out += _destroy_order(host, child.name)
    out += sorted(host.snapshots_of(name), key=lambda s: s.createtxg)
    return [*out, ds]


def destroy_objects(host: FakeHost, doomed: list[Dataset]) -> None:
    """Remove datasets (unmounting and unsharing them) and free unreferenced chunks."""
    for d in doomed:
        if d.kind == "snapshot" and d.fs in host.datasets:
            host.datasets[d.fs].snapshots_changed = host.now()
        if d.kind == "filesystem" and d.mounted:
            sharing.unshare(host, d)
            d.mounted = False
        host.datasets.pop(d.name, None)
    host.gc_chunks()


def cmd_destroy(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "destroy", args, "rRfdnpv")
    flags = {o for o, _ in options}
    if not rest:
        raise usage(host, "destroy", "missing dataset argument")
    if len(rest) > 1:
        raise usage(host, "destroy", "too many arguments")
    name = rest[0]
    if "@" in name:
        return _destroy_snapshot(host, name, flags)
    ds = lookup(host, name)
    what = f"cannot destroy '{name}'"
    if "-r" not in flags and "-R" not in flags:
        below = host.descendants(name)
        if below:
            order = _destroy_order(host, name)[:-1] if host.flavour == "openzfs" else list(reversed(below))
            listing = "".join(f"{d.name}\n" for d in order)
            raise Fail(f"{what}: filesystem has children\nuse '-r' to destroy the following datasets:\n{listing}")
    doomed = _doomed_tree(host, ds, "-R" in flags)
    if "-R" not in flags:
        dependents = [c for d in doomed for c in host.clones_of(d.name) if c not in doomed]
        if dependents:
            listing = "".join(
                f"{x.name}\n" for c in dependents for x in reversed([c, *host.descendants(c.name)]))
            raise Fail(f"{what}: filesystem has dependent clones\nuse '-R' to destroy the following datasets:\n"
                       f"{listing}")
    for d in doomed:
        if d.kind == "snapshot" and d.holds:
            raise Fail(f"cannot destroy '{d.name}': dataset is busy")
    if host.flavour == "zfs-fuse":
        for d in doomed:
            if d.fresh:
                d.fresh = False
                sharing.unshare(host, d)
                d.mounted = False
                raise Fail(f"cannot destroy '{d.name}': dataset is busy")
    destroy_objects(host, doomed)
    return Out()


def _destroy_snapshot(host: FakeHost, name: str, flags: set[str]) -> Out:
    fs, _, snap = name.partition("@")
    targets: list[Dataset] = []
    if "-r" in flags or "-R" in flags:
        if fs not in host.datasets:
            raise Fail(f"cannot open '{fs}': dataset does not exist")
        for d in [host.datasets[fs], *host.descendants(fs, snapshots=False)]:
            s = host.datasets.get(f"{d.name}@{snap}")
            if s is not None:
                targets.append(s)
        if not targets:
            raise Fail("could not find any snapshots to destroy; check snapshot names.")
    else:
        s = host.datasets.get(name)
        if s is None:
            if fs not in host.datasets:
                raise Fail(f"cannot open '{fs}': dataset does not exist")
            if host.flavour == "openzfs":
                raise Fail("could not find any snapshots to destroy; check snapshot names.")
            return Out()  # zfs-fuse exits 0 for an absent snapshot of an existing filesystem
        targets.append(s)
    doomed: list[Dataset] = []
    for s in targets:
        clones = host.clones_of(s.name)
        if clones and "-R" not in flags:
            if "-d" in flags:
                s.defer_destroy = True
                continue
            listing = "".join(f"{x.name}\n" for c in clones for x in reversed([c, *host.descendants(c.name)]))
            raise Fail(f"cannot destroy '{s.name}': snapshot has dependent clones\n"
                       f"use '-R' to destroy the following datasets:\n{listing}")
        if s.holds:
            if "-d" in flags:
                s.defer_destroy = True
                continue
            if host.flavour == "openzfs":
                raise Fail(f"cannot destroy snapshot {s.name}: it's being held. "
                           f"Run 'zfs holds -r {s.name}' to see holders.")
            raise Fail(f"cannot destroy '{s.name}': dataset is busy")
        doomed.extend(_doomed_tree(host, s, "-R" in flags))
    destroy_objects(host, doomed)
    return Out()


# ---------------------------------------------------------------------------------------------- snapshot
def take_snapshot(host: FakeHost, fs: Dataset, snap: str, local: dict[str, str]) -> Dataset:
    """Record snapshot ``fs@snap`` of the current data."""
    s = host.new_dataset(f"{fs.name}@{snap}", "snapshot", props=dict(local))
    s.data = set(fs.data)
    return s


def cmd_snapshot(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "snapshot", args, "ro:")
    recursive = any(o == "-r" for o, _ in options)
    if not rest:
        raise usage(host, "snapshot", "missing snapshot argument")
    if len(rest) > 1 and host.flavour == "zfs-fuse":
        raise usage(host, "snapshot", "too many arguments")
    plan: list[tuple[Dataset, str]] = []
    for name in rest:
        err = name_error(name, snapshot=True)
        if err:
            raise Fail(f"cannot snapshot '{name}': {err}")
        fs, _, snap = name.partition("@")
        ds = lookup(host, fs)
        for d in [ds, *(host.descendants(fs, snapshots=False) if recursive else [])]:
            if f"{d.name}@{snap}" in host.datasets:
                raise Fail(f"cannot create snapshot '{d.name}@{snap}': dataset already exists")
            plan.append((d, snap))
    local: dict[str, str] = {}
    for pair in (v for o, v in options if o == "-o"):
        key, _, value = pair.partition("=")
        if ":" not in key:
            raise Fail(f"cannot create snapshot '{rest[0]}': property '{key}' can not be set on snapshots"
                       if P.lookup(key, host.flavour) else f"cannot create snapshot '{rest[0]}': invalid property "
                       f"'{key}'")
        local[key] = value
    for d, snap in plan:
        take_snapshot(host, d, snap, local)
    return Out()


# ---------------------------------------------------------------------------------------------- rollback
def cmd_rollback(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "rollback", args, "rRf")
    flags = {o for o, _ in options}
    one_operand(host, "rollback", rest, "dataset")
    name = rest[0]
    if "@" not in name:
        raise Fail(f"cannot open '{name}': operation not applicable to datasets of this type")
    snap = lookup(host, name)
    fs = host.datasets[snap.fs]
    newer = [s for s in host.snapshots_of(fs.name) if s.createtxg > snap.createtxg]
    if newer and not flags & {"-r", "-R"}:
        if host.flavour == "zfs-fuse":
            head = "more recent snapshots exist\nuse '-r' to force deletion of the following snapshots:"
        else:
            head = ("more recent snapshots or bookmarks exist\n"
                    "use '-r' to force deletion of the following snapshots and bookmarks:")
        raise Fail(f"cannot rollback to '{name}': {head}\n" + "".join(f"{s.name}\n" for s in newer))
    doomed: list[Dataset] = []
    for s in newer:
        clones = host.clones_of(s.name)
        if clones and "-R" not in flags:
            raise Fail(f"cannot rollback to '{name}': clones of previous snapshots exist\n"
                       "use '-R' to force deletion of the following clones and dependents:\n"
                       + "".join(f"{c.name}\n" for c in clones))
        if s.holds:
            raise Fail(f"cannot destroy '{s.name}': dataset is busy")
        doomed.extend(_doomed_tree(host, s, True))
    destroy_objects(host, doomed)
    fs.data = set(snap.data)
    host.gc_chunks()
    return Out()


# ---------------------------------------------------------------------------------------------- clone/promote
def cmd_clone(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "clone", args, "po:")
    if len(rest) != 2:
        raise usage(host, "clone", "missing source dataset argument" if not rest else
                    "missing target dataset argument" if len(rest) == 1 else "too many arguments")
    src, target = rest
    if "@" not in src:
        raise Fail(f"cannot open '{src}': operation not applicable to datasets of this type")
    snap = lookup(host, src)
    parents = any(o == "-p" for o, _ in options)
    check_new_name(host, target, "create", parents=parents)
    if target.split("/")[0] != src.split("/")[0]:
        raise Fail(f"cannot create '{target}': source and target pools differ")
    local = parse_props(host, [v for o, v in options if o == "-o"], f"cannot create '{target}'")
    if parents:
        make_parents(host, target)
    kind = host.datasets[snap.fs].kind
    create_fs(host, target, local, kind=kind, data=set(snap.data), origin=src)
    return Out()


def cmd_promote(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    _, rest = opts(host, "promote", args, "")
    one_operand(host, "promote", rest, "clone filesystem")
    clone = lookup(host, rest[0])
    if clone.origin is None or clone.kind == "snapshot":
        raise Fail(f"cannot promote '{clone.name}': not a cloned filesystem")
    origin_snap = host.datasets[clone.origin]
    origin_fs = host.datasets[origin_snap.fs]
    moving = [s for s in host.snapshots_of(origin_fs.name) if s.createtxg <= origin_snap.createtxg]
    for s in moving:
        short = s.name.split("@", 1)[1]
        if f"{clone.name}@{short}" in host.datasets:
            raise Fail(f"cannot promote '{clone.name}': snapshot name '{short}' from origin \n"
                       f"conflicts with '{clone.name}@{short}' from target")
    renames: dict[str, str] = {}
    origin_name = origin_snap.name
    for s in moving:
        new = f"{clone.name}@{s.name.split('@', 1)[1]}"
        renames[s.name] = new
        del host.datasets[s.name]
        s.name = new
        host.datasets[new] = s
    for d in host.datasets.values():
        if d.origin in renames:
            d.origin = renames[d.origin]
    clone.origin, origin_fs.origin = origin_fs.origin, renames[origin_name]
    if clone.origin == origin_fs.origin:
        clone.origin = None
    host.touch()
    return Out()


# ---------------------------------------------------------------------------------------------- rename
def cmd_rename(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "rename", args, "prfu")
    flags = {o for o, _ in options}
    if len(rest) != 2:
        raise usage(host, "rename", "missing source dataset argument" if not rest else
                    "missing target dataset argument" if len(rest) == 1 else "too many arguments")
    old, new = rest
    src = lookup(host, old)
    if "@" in old:
        return _rename_snapshot(host, src, new, "-r" in flags)
    if "-r" in flags:
        raise usage(host, "rename", "-r can only be used on snapshots")
    what = f"cannot rename to '{new}'"
    err = name_error(new)
    if err:
        raise Fail(f"{what}: {err}")
    if new.split("/")[0] != old.split("/")[0]:
        raise Fail(f"{what}: datasets must be within same pool")
    if new.startswith(old + "/"):
        raise Fail(f"cannot rename '{old}': New dataset name cannot be a descendant of current dataset name")
    if new in host.datasets:
        raise Fail(f"cannot rename '{old}': dataset already exists" if host.flavour == "openzfs"
                   else f"{what}: dataset already exists")
    parent = new.rsplit("/", 1)[0] if "/" in new else None
    if parent and parent not in host.datasets:
        if "-p" not in flags:
            raise Fail(f"{what}: parent does not exist")
        make_parents(host, new)
    if host.flavour == "zfs-fuse" and src.fresh:
        raise Fail(f"cannot rename '{old}': dataset is busy")
    moving = [src, *host.descendants(old)]
    shared = [d for d in moving if d.kind == "filesystem" and d.mounted]
    for d in shared:
        sharing.unshare(host, d)
    renames: dict[str, str] = {}
    for d in moving:
        del host.datasets[d.name]
    for d in moving:
        newname = new + d.name[len(old):]
        renames[d.name] = newname
        d.name = newname
        host.datasets[newname] = d
    for d in host.datasets.values():
        if d.origin in renames:
            d.origin = renames[d.origin]
    host.touch()
    for d in shared:
        sharing.share(host, d, quiet=True)
    return Out()


def _rename_snapshot(host: FakeHost, src: Dataset, new: str, recursive: bool) -> Out:
    fs, _, oldsnap = src.name.partition("@")
    if new.startswith("@"):
        new = fs + new
    err = name_error(new, snapshot=True)
    if err:
        raise Fail(f"cannot rename to '{new}': {err}")
    if new.split("@")[0] != fs:
        raise Fail(f"cannot rename to '{new}': snapshots must be part of same dataset")
    newsnap = new.split("@", 1)[1]
    targets = [src]
    if recursive:
        for d in host.descendants(fs, snapshots=False):
            s = host.datasets.get(f"{d.name}@{oldsnap}")
            if s is not None:
                targets.append(s)
    for s in targets:
        if f"{s.fs}@{newsnap}" in host.datasets:
            raise Fail(f"cannot rename to '{s.fs}@{newsnap}': dataset already exists")
    for s in targets:
        oldname = s.name
        del host.datasets[oldname]
        s.name = f"{s.fs}@{newsnap}"
        host.datasets[s.name] = s
        for d in host.datasets.values():
            if d.origin == oldname:
                d.origin = s.name
    host.touch()
    return Out()


# ---------------------------------------------------------------------------------------------- set/inherit
def apply_prop(host: FakeHost, ds: Dataset, key: str, value: str | None) -> None:
    """Set (or with None, clear) a local property and apply its side effects (mount, share)."""
    watched = key in ("mountpoint", "sharenfs", "canmount")
    affected = [ds, *host.descendants(ds.name, snapshots=False)] if watched else [ds]
    mounted = [d for d in affected if d.kind == "filesystem" and d.mounted]
    if watched:
        for d in mounted:
            sharing.unshare(host, d)
    if value is None:
        ds.props.pop(key, None)
        ds.received.pop(key, None)
    else:
        ds.props[key] = value
    if key in ("filesystem_limit", "snapshot_limit") and value not in (None, "none"):
        host.pool_of(ds.name).limits_active = True
        for d in [ds, *host.descendants(ds.name, snapshots=False)]:
            d.counted = True
    host.touch()
    if key == "mountpoint":
        for d in mounted:
            if not host.mountpoint_value(d).startswith("/"):
                d.mounted = False
    if watched:
        errors = []
        for d in mounted:
            if d.mounted:
                err = sharing.share(host, d, quiet=False)
                if err:
                    errors.append(err)
        if errors:
            stdout = "".join(e.stdout for e in errors)
            stderr = "".join(e.stderr for e in errors)
            raise Fail(stderr + "property may be set but unable to reshare filesystem\n", 1, stdout)


def cmd_set(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    if not args:
        raise usage(host, "set", "missing property=value argument(s)")
    if host.flavour == "zfs-fuse":
        assigns, names = args[:1], args[1:]
        if "=" not in assigns[0]:
            raise usage(host, "set", "missing value in property=value argument")
    else:
        i = 0
        while i < len(args) and "=" in args[i]:
            i += 1
        assigns, names = args[:i], args[i:]
        if not assigns:
            raise usage(host, "set", "missing property=value argument(s)")
    if not names:
        raise usage(host, "set", "missing dataset name(s)")
    for name in names:
        ds = host.datasets.get(name)
        if ds is None:
            err = name_error(name, snapshot=None)
            raise Fail(f"cannot open '{name}': {err or 'dataset does not exist'}")
        what = f"cannot set property for '{name}'"
        try:
            checked = _checked_assigns(host, ds, assigns, what)
        except Fail as err:
            if host.flavour == "openzfs" and err.returncode == 1:
                err.returncode = 255  # OpenZFS 2.3 exits 255 when zfs set refuses a value
            raise
        for key, value in checked:
            apply_prop(host, ds, key, value)
    return Out()


def _checked_assigns(host: FakeHost, ds: Dataset, assigns: list[str], what: str) -> list[tuple[str, str]]:
    """Validate every ``prop=value`` of one ``zfs set`` against ``ds``; raise the host's refusal."""
    checked = [check_value(host, a.split("=", 1)[0], a.split("=", 1)[1], what) for a in assigns]
    for key, value in checked:
        if ds.kind == "snapshot" and ":" not in key:
            raise Fail(f"{what}: this property can not be modified for snapshots")
        if key in ("quota", "refquota") and value != "0":
            current = host.used(ds) if key == "quota" else host.referenced(ds)
            if int(value) < current:
                raise Fail(f"{what}: size is less than current used or reserved space")
        if key in ("quota", "reservation") and value != "0":
            quota = int(host.get_prop(ds, "quota")[0] or 0)
            if key == "reservation" and quota and int(value) > quota:
                raise Fail(f"{what}: size is greater than available space")
        if ds.kind == "volume" and P.lookup(key, host.flavour) is not None and key in P.FS_ONLY:
            raise Fail(f"{what}: property '{key}' does not apply to datasets of this type")
        if (ds.kind == "filesystem" and host.flavour == "openzfs"
                and key in ("volsize", "volblocksize", "volthreading")):
            raise Fail(f"{what}: '{key}' does not apply to datasets of this type")
    return checked


def cmd_inherit(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "inherit", args, "rS")
    recursive = any(o == "-r" for o, _ in options)
    if not rest:
        raise usage(host, "inherit", "missing property argument")
    if len(rest) < 2:
        raise usage(host, "inherit", "missing dataset argument")
    key, names = rest[0], rest[1:]
    if ":" not in key:
        prop = P.lookup(key, host.flavour)
        if prop is None:
            raise usage(host, "inherit", f"invalid property '{key}'")
        if prop.readonly:
            raise Fail(f"'{prop.name}' property is read-only")
        if not prop.inherit:
            raise Fail(f"'{prop.name}' property cannot be inherited\nuse 'zfs set {prop.name}=none' to clear"
                       if prop.kind == "size" else f"'{prop.name}' property cannot be inherited")
        key = prop.name
    for name in names:
        ds = lookup(host, name)
        for d in [ds, *(host.descendants(name) if recursive else [])]:
            if key in d.props or key in d.received:
                apply_prop(host, d, key, None)
    return Out()


# ---------------------------------------------------------------------------------------------- holds
def _hold_targets(host: FakeHost, name: str, recursive: bool) -> list[Dataset]:
    """The snapshot ``name`` and, with ``-r``, the same-named snapshots of its dataset's descendants."""
    targets = [lookup(host, name)]
    if recursive:
        fs, _, snap = name.partition("@")
        targets += [host.datasets[f"{d.name}@{snap}"] for d in host.descendants(fs, snapshots=False)
                    if f"{d.name}@{snap}" in host.datasets]
    return targets


def cmd_hold(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "hold", args, "r")
    if len(rest) < 2:
        raise usage(host, "hold", "missing tag argument" if not rest else "missing snapshot argument")
    tag, names = rest[0], rest[1:]
    for name in names:
        if "@" not in name:
            raise Fail(f"'{name}' is not a snapshot")
        targets = _hold_targets(host, name, any(o == "-r" for o, _ in options))
        for s in targets:
            if tag in s.holds:
                raise Fail(f"cannot hold snapshot '{s.name}': tag already exists on this dataset")
        for s in targets:
            s.holds[tag] = host.now()
    return Out()


def cmd_release(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "release", args, "r")
    if len(rest) < 2:
        raise usage(host, "release", "missing tag argument" if not rest else "missing snapshot argument")
    tag, names = rest[0], rest[1:]
    for name in names:
        targets = _hold_targets(host, name, any(o == "-r" for o, _ in options))
        for s in targets:
            if tag not in s.holds:
                raise Fail(f"cannot release '{tag}' from '{s.name}': no such tag on this dataset")
        for s in targets:
            del s.holds[tag]
            if s.defer_destroy and not s.holds and not host.clones_of(s.name):
                destroy_objects(host, [s])
    return Out()


def cmd_holds(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    if host.flavour == "zfs-fuse":
        return Out(255, "internal error: /usr/lib/zfs/pyzfs.py not found\n", "")
    options, rest = opts(host, "holds", args, "rHp")
    flags = {o for o, _ in options}
    if not rest:
        raise usage(host, "holds", "missing snapshot argument")
    rows = []
    for name in rest:
        targets = [lookup(host, name)]
        if "-r" in flags:
            fs, _, snap = name.partition("@")
            targets += [host.datasets[f"{d.name}@{snap}"] for d in host.descendants(fs, snapshots=False)
                        if f"{d.name}@{snap}" in host.datasets]
        for s in targets:
            for tag, when in sorted(s.holds.items()):
                rows.append([s.name, tag, str(when) if "-p" in flags else format_date(when)])
    if "-H" in flags:
        return Out(0, "".join("\t".join(r) + "\n" for r in rows))
    return Out(0, render_table(["NAME", "TAG", "TIMESTAMP"], rows) if rows else "")


# ---------------------------------------------------------------------------------------------- mount/share
def cmd_mount(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "mount", args, "vOo:alf")
    if not rest and not any(o == "-a" for o, _ in options):
        lines = [f"{d.name:<20} {host.mountpoint_value(d)}\n" for d in sorted(
            host.datasets.values(), key=lambda d: d.name) if d.mounted]
        return Out(0, "".join(lines))
    if any(o == "-a" for o, _ in options):
        for d in sorted(host.datasets.values(), key=lambda d: d.name):
            if d.kind == "filesystem" and not d.mounted:
                host.try_mount(d)
        return Out()
    name = rest[0]
    ds = lookup(host, name)
    what = f"cannot mount '{name}'"
    if ds.kind != "filesystem":
        raise Fail(f"{what}: operation not applicable to datasets of this type")
    if ds.mounted:
        raise Fail(f"{what}: filesystem already mounted")
    mp = host.mountpoint_value(ds)
    if mp == "legacy":
        raise Fail(f"{what}: legacy mountpoint\nuse mount(8) to mount this filesystem")
    if mp == "none":
        raise Fail(f"{what}: no mountpoint set")
    if host.get_prop(ds, "canmount")[0] == "off":
        raise Fail(f"{what}: 'canmount' property is set to 'off'")
    ds.mounted = True
    ds.fresh = host.flavour == "zfs-fuse"
    return Out()


def _by_name_or_path(host: FakeHost, arg: str, verb: str) -> Dataset:
    if arg.startswith("/"):
        for d in host.datasets.values():
            if d.mounted and host.mountpoint_value(d) == arg:
                return d
        raise Fail(f"cannot {verb} '{arg}': no such pool or dataset")
    return lookup(host, arg)


def cmd_umount(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "unmount", args, "fau")
    if any(o == "-a" for o, _ in options):
        for d in sorted(host.datasets.values(), key=lambda d: d.name, reverse=True):
            if d.mounted:
                sharing.unshare(host, d)
                d.mounted = d.fresh = False
        return Out()
    one_operand(host, "unmount", rest, "filesystem")
    ds = _by_name_or_path(host, rest[0], "unmount")
    if not ds.mounted:
        raise Fail(f"cannot unmount '{rest[0]}': not currently mounted")
    for d in [*reversed(host.descendants(ds.name, snapshots=False)), ds]:
        if d.mounted:
            sharing.unshare(host, d)
            d.mounted = d.fresh = False
    return Out()


def cmd_share(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "share", args, "al")
    if any(o == "-a" for o, _ in options):
        todo = [d for d in sorted(host.datasets.values(), key=lambda d: d.name)
                if d.kind == "filesystem" and d.mounted and host.get_prop(d, "sharenfs")[0] != "off"]
        errors = [e for e in (sharing.share(host, d, quiet=False) for d in todo) if e]
        if errors:
            raise Fail("".join(e.stderr for e in errors), 1, "".join(e.stdout for e in errors))
        return Out()
    one_operand(host, "share", rest, "filesystem")
    ds = lookup(host, rest[0])
    what = f"cannot share '{ds.name}'"
    if host.get_prop(ds, "sharenfs")[0] == "off" and host.get_prop(ds, "sharesmb")[0] == "off":
        raise Fail(f"{what}: legacy share\nuse share(1M) to share this filesystem, or set sharenfs property on")
    if not ds.mounted:
        raise Fail(f"{what}: filesystem is not mounted" if host.flavour == "openzfs"
                   else f"{what}: filesystem not mounted")
    if ds.shared and host.flavour == "openzfs":
        return Out()
    err = sharing.share(host, ds, quiet=False)
    if err:
        raise Fail(err.stderr, 1, err.stdout)
    return Out()


def cmd_unshare(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    options, rest = opts(host, "unshare", args, "a")
    if any(o == "-a" for o, _ in options):
        for d in host.datasets.values():
            sharing.unshare(host, d)
        return Out()
    one_operand(host, "unshare", rest, "filesystem")
    ds = _by_name_or_path(host, rest[0], "unshare")
    if not ds.shared:
        raise Fail(f"cannot unshare '{rest[0]}': not currently shared")
    sharing.unshare(host, ds)
    return Out()


def cmd_allow(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    if host.flavour == "zfs-fuse":
        return Out(255, "internal error: /usr/lib/zfs/pyzfs.py not found\n", "")
    raise Fail("cannot allow: delegation is not supported by the fake host", 1)


# ---------------------------------------------------------------------------------------------- get/list
_HEADERS = {"available": "AVAIL", "referenced": "REFER", "compressratio": "RATIO", "usedbysnapshots": "USEDSNAP",
            "usedbydataset": "USEDDS", "usedbychildren": "USEDCHILD", "usedbyrefreservation": "USEDREFRESERV",
            "recordsize": "RECSIZE", "refreservation": "REFRESERV", "reservation": "RESERV",
            "volblocksize": "VOLBLOCK", "compression": "COMPRESS", "logicalused": "LUSED",
            "logicalreferenced": "LREFER", "refcompressratio": "REFRATIO"}


def _types(host: FakeHost, cmd: str, text: str) -> set[str]:
    out: set[str] = set()
    for t in text.split(","):
        if t == "all":
            out |= {"filesystem", "volume", "snapshot"}
        elif t in ("filesystem", "volume", "snapshot", "bookmark"):
            out.add(t)
        elif t in ("fs", "vol", "snap"):
            out.add({"fs": "filesystem", "vol": "volume", "snap": "snapshot"}[t])
        else:
            raise usage(host, cmd, f"invalid type '{t}'")
    return out


def select(host: FakeHost, names: list[str], recursive: bool, depth: int | None, types: set[str],
           *, explicit_ok: bool) -> list[Dataset]:
    """Datasets named (and their descendants with -r/-d) in ``zfs list`` order, filtered by type."""
    chosen: dict[str, Dataset] = {}
    if not names:
        roots = [host.datasets[p] for p in sorted(host.pools) if p in host.datasets]
        recursive = True
    else:
        roots = []
        for n in names:
            if n not in host.datasets:
                err = name_error(n, snapshot=None)
                raise Fail(f"cannot open '{n}': {err or 'dataset does not exist'}")
            roots.append(host.datasets[n])
    for root in roots:
        in_tree = recursive or depth is not None
        if root.kind in types or (explicit_ok and names and not (in_tree and host.flavour == "openzfs")):
            chosen[root.name] = root
        if recursive or depth is not None:
            base = root.name.count("/")
            for d in host.descendants(root.name):
                level = d.name.split("@")[0].count("/") - base + (1 if d.kind == "snapshot" else 0)
                if depth is not None and level > depth:
                    continue
                if d.kind in types:
                    chosen[d.name] = d
    return sorted(chosen.values(), key=lambda d: sort_key(d.name, d.createtxg))


def _display(host: FakeHost, ds: Dataset, prop: str, parsable: bool) -> tuple[str, str]:
    value, source = host.get_prop(ds, prop)
    if not parsable:
        known = P.lookup(prop, host.flavour)
        value = P.human(known.name if known else prop, value, host.flavour)
    return value, source


def _check_props(host: FakeHost, cmd: str, names: list[str], allow_all: bool) -> list[str]:
    out = []
    for n in names:
        if n == "all" and allow_all:
            out.append(n)
            continue
        if ":" in n or n == "name":
            out.append(n)
            continue
        prop = P.lookup(n, host.flavour)
        if prop is None:
            if cmd == "get":
                raise usage(host, cmd, f"bad property list: invalid property '{n}'")
            raise usage(host, cmd, f"invalid property '{n}'")
        out.append(prop.name)
    return out


def cmd_get(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    spec = "rd:Hpo:s:t:" if host.flavour == "openzfs" else "rd:Hpo:s:"
    options, rest = opts(host, "get", args, spec)
    flags = {o for o, _ in options}
    if not rest:
        raise usage(host, "get", "missing property argument")
    fields = ["name", "property", "value", "source"]
    sources: set[str] | None = None
    types = {"filesystem", "volume", "snapshot"}
    depth = None
    for o, v in options:
        if o == "-o":
            fields = v.split(",")
            if fields == ["all"]:
                fields = ["name", "property", "value", "received", "source"]
            for f in fields:
                if f not in ("name", "property", "value", "source", "received"):
                    raise usage(host, "get", f"invalid column name '{f}'")
        elif o == "-s":
            sources = set(v.split(","))
        elif o == "-t":
            types = _types(host, "get", v)
        elif o == "-d":
            if not v.isdigit():
                raise usage(host, "get", "invalid depth '" + v + "'")
            depth = int(v)
    props = _check_props(host, "get", rest[0].split(","), True)
    datasets = select(host, rest[1:], "-r" in flags, depth, types, explicit_ok=False)
    parsable = "-p" in flags
    rows: list[list[str]] = []
    for ds in datasets:
        names = props
        if props == ["all"] or "all" in props:
            names = [n for n in P.all_order(host.flavour, ds.kind)
                     if not (n == "origin" and not ds.origin) and n != "receive_resume_token"
                     and not (n == "clones" and host.flavour == "openzfs" and not host.clones_of(ds.name))
                     and not (n == "snapshots_changed" and ds.snapshots_changed is None)]
            user = set(ds.props) | set(ds.received)
            node = host.datasets.get(ds.parent) if ds.parent else None
            while node is not None:
                user |= set(node.props) | set(node.received)
                node = host.datasets.get(node.parent) if node.parent else None
            names += sorted(u for u in user if ":" in u)
        for prop in names:
            if prop == "name":
                value, source = ds.name, "-"
            else:
                value, source = _display(host, ds, prop, parsable)
            if sources is not None:
                kind = source.split(" ")[0] if source != "-" else "none"
                if kind not in sources:
                    continue
            received = ds.received.get(prop, "-")
            cells = {"name": ds.name, "property": prop, "value": value, "source": source, "received": received}
            rows.append([cells[f] for f in fields])
    if "-H" in flags:
        return Out(0, "".join("\t".join(r) + "\n" for r in rows))
    return Out(0, render_table([f.upper() for f in fields], rows))


def cmd_list(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    spec = "rd:Hpo:t:s:S:" if host.flavour == "openzfs" else "rd:Ho:t:s:S:"
    options, rest = opts(host, "list", args, spec)
    flags = {o for o, _ in options}
    columns = ["name", "used", "available", "referenced", "mountpoint"]
    types = {"filesystem", "volume"}
    depth = None
    sorts: list[tuple[str, bool]] = []
    for o, v in options:
        if o == "-o":
            columns = _check_props(host, "list", v.split(","), False)
        elif o == "-t":
            types = _types(host, "list", v)
        elif o == "-d":
            if not v.isdigit():
                raise usage(host, "list", "invalid depth '" + v + "'")
            depth = int(v)
        elif o in ("-s", "-S"):
            sorts.append((_check_props(host, "list", [v], False)[0], o == "-S"))
    datasets = select(host, rest, "-r" in flags, depth, types, explicit_ok=True)
    for prop, reverse in reversed(sorts):
        def key(d: Dataset, prop: str = prop) -> tuple[int, int | str]:
            raw = d.name if prop == "name" else host.get_prop(d, prop)[0]
            if raw == "-":
                return (1, 0)
            return (0, int(raw)) if raw.isdigit() else (0, raw)
        datasets.sort(key=key, reverse=reverse)
    parsable = "-p" in flags
    rows = [[d.name if c == "name" else _display(host, d, c, parsable)[0] for c in columns] for d in datasets]
    if "-H" in flags:
        return Out(0, "".join("\t".join(r) + "\n" for r in rows))
    if not rows:
        return Out(0, "", "no datasets available\n")
    right = [c != "name" and P.PROPS.get(c, P.PROPS["type"]).kind in ("size", "number") for c in columns]
    headers = [_HEADERS.get(c, c.upper()) for c in columns]
    return Out(0, render_table(headers, rows, right=right))


# ---------------------------------------------------------------------------------------------- dispatch
COMMANDS: dict[str, Handler] = {
    "version": cmd_version, "create": cmd_create, "destroy": cmd_destroy, "snapshot": cmd_snapshot,
    "snap": cmd_snapshot, "rollback": cmd_rollback, "clone": cmd_clone, "promote": cmd_promote,
    "rename": cmd_rename, "set": cmd_set, "get": cmd_get, "list": cmd_list, "inherit": cmd_inherit,
    "hold": cmd_hold, "release": cmd_release, "holds": cmd_holds, "mount": cmd_mount, "umount": cmd_umount,
    "unmount": cmd_umount, "share": cmd_share, "unshare": cmd_unshare, "allow": cmd_allow,
}


def run_zfs(host: FakeHost, args: list[str], stdin: Iterable[bytes], commands: dict[str, Handler]) -> Out:
    """Run ``zfs ARGS`` against ``host`` (caller holds the host lock) with ``commands`` (:data:`COMMANDS` is
    every subcommand but the stream ones; :mod:`~pyzfsnas.testing.fake.stream` runs it with them added)."""
    if not args:
        return _fail(usage(host, None, "missing command"))
    handler = commands.get(args[0])
    if handler is None:
        return _fail(usage(host, None, f"unrecognized command '{args[0]}'"))
    try:
        return handler(host, args[1:], stdin)
    except Fail as err:
        return _fail(err)


def _fail(err: Fail) -> Out:
    return Out(err.returncode, err.stdout, err.stderr)
