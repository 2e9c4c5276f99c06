"""Pure argv builders for ``zfs`` and ``zpool``, validating every name and property before anything runs.

Nothing here performs I/O. Each builder returns a :class:`~pyzfsnas.result.Command` — the argv list for
:meth:`~pyzfsnas.executors.base.Executor.run`, never a shell string, declared read-only or not — or raises
:class:`InvalidName` / :class:`InvalidProperty` / :class:`UnsupportedOperation`. Besides ``zfs`` and ``zpool``
this module builds the other programs the library runs: ``exportfs -v``, the file commands an executor
without direct file access falls back on, ``kill``, and two fixed ``sh -c`` scripts that save round trips
(:func:`file_install`: write, rename and a follow-up in one command; :func:`signal_pidfile`). Those scripts
are constants: operands reach them only as positional parameters, never as text inside them.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import ParamSpec

from pyzfsnas.errors import InvalidName, InvalidProperty
from pyzfsnas.flavour import Flavour
from pyzfsnas.names import (
    CONTROL,
    MAX_NAME_LEN,
    check_operand,
    check_path,
    validate_dataset_name,
    validate_name,
    validate_pool_name,
    validate_snapshot_name,
)
from pyzfsnas.properties import validate_property_name, validate_property_value
from pyzfsnas.result import Command

__all__ = [
    "FILE_NOT_INSTALLED",
    "INSTALLED",
    "INSTALL_SCRIPT",
    "MAX_NAME_LEN",
    "NOT_A_PID",
    "NOT_INSTALLED",
    "SIGNAL_PIDFILE_SCRIPT",
    "Command",
    "exportfs_show",
    "file_cat",
    "file_install",
    "file_remove",
    "package_version",
    "pidfile_pid",
    "signal_pidfile",
    "signal_process",
    "validate_dataset_name",
    "validate_name",
    "validate_pool_name",
    "validate_resume_token",
    "validate_snapshot_name",
    "zfs_clone",
    "zfs_create",
    "zfs_destroy",
    "zfs_get",
    "zfs_hold",
    "zfs_holds",
    "zfs_inherit",
    "zfs_mount",
    "zfs_promote",
    "zfs_receive",
    "zfs_receive_abort",
    "zfs_release",
    "zfs_rename",
    "zfs_rollback",
    "zfs_send",
    "zfs_send_resume",
    "zfs_set",
    "zfs_share",
    "zfs_snapshot",
    "zfs_unmount",
    "zfs_version",
    "zpool_create",
    "zpool_destroy",
    "zpool_get",
    "zpool_list",
]

_P = ParamSpec("_P")


def _reads(builder: Callable[_P, list[str]]) -> Callable[_P, Command]:
    """Mark ``builder``'s argv read-only: running it twice is harmless, a transport may replay it."""

    @functools.wraps(builder)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> Command:
        return Command(builder(*args, **kwargs), read_only=True)

    return build


def _changes(builder: Callable[_P, list[str]]) -> Callable[_P, Command]:
    """Mark ``builder``'s argv as a change on the host: never replayed by a transport."""

    @functools.wraps(builder)
    def build(*args: _P.args, **kwargs: _P.kwargs) -> Command:
        return Command(builder(*args, **kwargs), read_only=False)

    return build


def _check_depth(depth: object) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise InvalidProperty(f"depth must be an int >= 0, got {depth!r}")
    return depth


def _options(flag: str, properties: Mapping[str, object] | None, flavour: Flavour | None) -> list[str]:
    argv: list[str] = []
    for key, value in (properties or {}).items():
        canon, text = validate_property_value(key, value, flavour=flavour.name if flavour else None)
        argv += [flag, f"{canon}={text}"]
    return argv


@_reads
def zfs_get(
    properties: Sequence[str] | str,
    names: Iterable[str] = (),
    *,
    flavour: Flavour | None = None,
    recursive: bool = False,
    depth: int | None = None,
    types: Sequence[str] = (),
) -> list[str]:
    """``zfs get -H -p -o name,property,value,source PROPS [NAMES]``.

    ``types`` filters by type where the host supports ``-t`` (callers filter the result otherwise).
    """
    if isinstance(properties, str):
        properties = [properties]
    if list(properties) == ["all"]:
        props = ["all"]
    else:
        fl = flavour.name if flavour else None
        props = [validate_property_name(p, flavour=fl) for p in properties]
        if not props:
            raise InvalidProperty("no property named")
    argv = ["zfs", "get", "-H", "-p", "-o", "name,property,value,source"]
    if recursive:
        argv.append("-r")
    if depth is not None:
        argv += ["-d", str(_check_depth(depth))]
    bad = set(types) - {"filesystem", "volume", "snapshot", "bookmark", "all"}
    if bad:  # on every host, also where -t is left out
        raise ValueError(f"unknown dataset types {sorted(bad)}")
    if types and (flavour is None or flavour.get_types):
        argv += ["-t", ",".join(types)]
    argv.append(",".join(props))
    argv += [validate_name(n) for n in names]
    return argv


@_reads
def zpool_list(pools: Iterable[str] = (), *, flavour: Flavour | None = None, columns: Sequence[str]) -> list[str]:
    """``zpool list -H [-p] -o COLUMNS [POOLS]`` (``-p`` only where the host has it; with no ``flavour``, the
    OpenZFS form, and the same checks)."""
    argv = ["zpool", "list", "-H"]
    if flavour is None or flavour.parsable_list:
        argv.append("-p")
    return [*argv, "-o", ",".join(columns), *(validate_pool_name(p) for p in pools)]


@_reads
def zfs_version() -> list[str]:
    """``zfs version``: answered by OpenZFS, rejected by zfs-fuse (see :mod:`pyzfsnas.flavour`)."""
    return ["zfs", "version"]


_POOL_PROP = re.compile(r"^[a-z][a-z0-9_@.:\-]*$")


@_changes
def zpool_create(
    name: str,
    vdevs: Sequence[str],
    *,
    mountpoint: str | None = None,
    properties: Mapping[str, object] | None = None,
    fs_properties: Mapping[str, object] | None = None,
    force: bool = False,
    flavour: Flavour | None = None,
) -> list[str]:
    """``zpool create [-f] [-m MOUNTPOINT] [-o k=v]... [-O fsprop=v]... NAME VDEV...``."""
    validate_pool_name(name)
    if isinstance(vdevs, str) or not vdevs:
        raise InvalidName(f"invalid vdev list {vdevs!r}: a non-empty sequence of vdevs is needed")
    vdevs = [check_operand(v, "vdev") for v in vdevs]
    argv = ["zpool", "create", *(["-f"] if force else [])]
    if mountpoint is not None:
        if not isinstance(mountpoint, str) or not (mountpoint.startswith("/") or mountpoint in ("none", "legacy")):
            raise InvalidName(f"mountpoint must be absolute, 'none' or 'legacy': {mountpoint!r}")
        argv += ["-m", check_operand(mountpoint, "mountpoint")]
    for key, value in (properties or {}).items():
        text = str(value)
        if not isinstance(key, str) or not _POOL_PROP.fullmatch(key) or CONTROL.search(text):
            raise InvalidProperty(f"invalid pool property {key}={text!r}")
        argv += ["-o", f"{key}={text}"]
    return [*argv, *_options("-O", fs_properties, flavour), name, *vdevs]


@_changes
def zpool_destroy(name: str, *, force: bool = False) -> list[str]:
    """``zpool destroy [-f] NAME``."""
    return ["zpool", "destroy", *(["-f"] if force else []), validate_pool_name(name)]


@_reads
def zpool_get(pool: str, properties: Sequence[str] = ("all",), *, flavour: Flavour | None = None) -> list[str]:
    """``zpool get -H -p -o name,property,value,source PROPS POOL`` (a header table on zfs-fuse; with no
    ``flavour``, the OpenZFS form, and the same checks)."""
    props = ",".join(validate_property_name(p) if p != "all" else p for p in properties)
    if flavour is None or flavour.zpool_get_scripted:
        return ["zpool", "get", "-H", "-p", "-o", "name,property,value,source", props, validate_pool_name(pool)]
    return ["zpool", "get", props, validate_pool_name(pool)]


@_changes
def zfs_create(
    name: str,
    properties: Mapping[str, object] | None = None,
    *,
    parents: bool = False,
    volsize: int | None = None,
    flavour: Flavour | None = None,
) -> list[str]:
    """``zfs create [-p] [-o k=v]... [-V size] NAME``."""
    argv = ["zfs", "create"]
    if parents:
        argv.append("-p")
    argv += _options("-o", properties, flavour)
    if volsize is not None:
        if flavour is not None:
            flavour.require("volumes", "creating a volume")
        if isinstance(volsize, bool) or not isinstance(volsize, int) or volsize <= 0:
            raise InvalidProperty(f"volsize must be a positive int of bytes, got {volsize!r}")
        argv += ["-V", str(volsize)]
    return [*argv, validate_dataset_name(name)]


@_changes
def zfs_destroy(
    name: str,
    *,
    recursive: bool = False,
    recursive_dependents: bool = False,
    force: bool = False,
    defer: bool = False,
) -> list[str]:
    """``zfs destroy [-r] [-R] [-f] [-d] NAME`` — recursion only when asked for."""
    validate_name(name)
    if defer and "@" not in name:
        raise InvalidName(f"deferred destroy applies to snapshots only, not {name!r}")
    argv = ["zfs", "destroy"]
    argv += ["-r"] if recursive else []
    argv += ["-R"] if recursive_dependents else []
    argv += ["-f"] if force else []
    argv += ["-d"] if defer else []
    return [*argv, name]


@_changes
def zfs_snapshot(
    name: str, *, recursive: bool = False, properties: Mapping[str, object] | None = None,
    flavour: Flavour | None = None,
) -> list[str]:
    """``zfs snapshot [-r] [-o k=v]... DATASET@SNAP``."""
    argv = ["zfs", "snapshot", *(["-r"] if recursive else []), *_options("-o", properties, flavour)]
    return [*argv, validate_snapshot_name(name)]


@_changes
def zfs_snapshots(names: Sequence[str]) -> list[str]:
    """``zfs snapshot A@X B@Y ...``: several snapshots in one atomic command (OpenZFS, within a pool)."""
    if not names:
        raise ValueError("zfs snapshot needs at least one snapshot name")
    return ["zfs", "snapshot", *(validate_snapshot_name(n) for n in names)]


@_changes
def zfs_clone(
    snapshot: str, target: str, properties: Mapping[str, object] | None = None, *, parents: bool = False,
    flavour: Flavour | None = None,
) -> list[str]:
    """``zfs clone [-p] [-o k=v]... SNAPSHOT TARGET``."""
    argv = ["zfs", "clone", *(["-p"] if parents else []), *_options("-o", properties, flavour)]
    return [*argv, validate_snapshot_name(snapshot), validate_dataset_name(target)]


@_changes
def zfs_promote(name: str) -> list[str]:
    """``zfs promote CLONE``."""
    return ["zfs", "promote", validate_dataset_name(name)]


@_changes
def zfs_rename(old: str, new: str, *, parents: bool = False, recursive: bool = False) -> list[str]:
    """``zfs rename [-p] [-r] OLD NEW``; ``recursive`` renames a snapshot in all descendants."""
    validate_name(old)
    validate_name(new)
    if ("@" in old) != ("@" in new):
        raise InvalidName(f"cannot rename {old!r} to {new!r}: both must be snapshots or both datasets")
    if "@" in old and old.split("@", maxsplit=1)[0] != new.split("@", maxsplit=1)[0]:
        raise InvalidName(f"cannot rename snapshot {old!r} to another dataset ({new!r})")
    if recursive and "@" not in old:
        raise InvalidName("recursive rename applies to snapshots only")
    if parents and "@" in old:
        raise InvalidName("parents=True applies to datasets only")
    argv = ["zfs", "rename", *(["-p"] if parents else []), *(["-r"] if recursive else [])]
    return [*argv, old, new]


@_changes
def zfs_rollback(snapshot: str, *, destroy_newer: bool = False) -> list[str]:
    """``zfs rollback [-r] SNAPSHOT``; ``destroy_newer`` destroys later snapshots (``-r``)."""
    return ["zfs", "rollback", *(["-r"] if destroy_newer else []), validate_snapshot_name(snapshot)]


def zfs_set(name: str, properties: Mapping[str, object], *, flavour: Flavour | None = None) -> list[Command]:
    """``zfs set k=v [k=v...] NAME`` — one command where the host sets several at once, else one per property."""
    validate_name(name)
    if not properties:
        raise InvalidProperty("no property to set")
    pairs = [
        "=".join(validate_property_value(k, v, flavour=flavour.name if flavour else None))
        for k, v in properties.items()
    ]
    if flavour is None or flavour.multi_set:
        return [Command(["zfs", "set", *pairs, name])]
    return [Command(["zfs", "set", pair, name]) for pair in pairs]


@_changes
def zfs_inherit(name: str, prop: str, *, recursive: bool = False, flavour: Flavour | None = None) -> list[str]:
    """``zfs inherit [-r] PROP NAME``."""
    canon = validate_property_name(prop, flavour=flavour.name if flavour else None, settable=True)
    return ["zfs", "inherit", *(["-r"] if recursive else []), canon, validate_name(name)]


def _tag(tag: str) -> str:
    return check_operand(tag, "hold tag")


@_changes
def zfs_hold(snapshot: str, tag: str, *, recursive: bool = False) -> list[str]:
    """``zfs hold [-r] TAG SNAPSHOT``."""
    return ["zfs", "hold", *(["-r"] if recursive else []), _tag(tag), validate_snapshot_name(snapshot)]


@_changes
def zfs_release(snapshot: str, tag: str, *, recursive: bool = False) -> list[str]:
    """``zfs release [-r] TAG SNAPSHOT``."""
    return ["zfs", "release", *(["-r"] if recursive else []), _tag(tag), validate_snapshot_name(snapshot)]


@_changes
def zfs_mount(name: str) -> list[str]:
    """``zfs mount NAME``."""
    return ["zfs", "mount", validate_dataset_name(name)]


@_changes
def zfs_unmount(name: str, *, force: bool = False) -> list[str]:
    """``zfs umount [-f] NAME``."""
    return ["zfs", "umount", *(["-f"] if force else []), validate_dataset_name(name)]


@_changes
def zfs_share(name: str) -> list[str]:
    """``zfs share NAME``: export a filesystem by its ``sharenfs`` property again."""
    return ["zfs", "share", validate_dataset_name(name)]


@_reads
def zfs_holds(snapshot: str) -> list[str]:
    """``zfs holds -H SNAPSHOT`` (OpenZFS)."""
    return ["zfs", "holds", "-H", validate_snapshot_name(snapshot)]


def zfs_send(
    snapshot: str,
    *,
    incremental_from: str | None = None,
    intermediates: bool = False,
    replicate: bool = False,
    properties: bool = False,
    dry_run: bool = False,
) -> Command:
    """``zfs send [-nP] [-R] [-p] [-i|-I FROM] SNAPSHOT`` (``dry_run``: ``-nP``, print the size estimate and
    send nothing, so read-only: a transport may replay it).

    ``incremental_from`` may be a full snapshot name or ``@snap`` of the same dataset; ``intermediates`` sends
    every snapshot in between (``-I``).
    """
    validate_snapshot_name(snapshot)
    argv = ["zfs", "send", *(["-nP"] if dry_run else []), *(["-R"] if replicate else []),
            *(["-p"] if properties else [])]
    if incremental_from is not None:
        base = incremental_from
        full = snapshot.split("@", maxsplit=1)[0] + base if base.startswith("@") else base
        validate_snapshot_name(full)
        argv += ["-I" if intermediates else "-i", base]
    elif intermediates:
        raise InvalidName("intermediates=True needs incremental_from")
    return Command([*argv, snapshot], read_only=dry_run)


@_changes
def zfs_receive(
    target: str,
    *,
    force: bool = False,
    unmounted: bool = False,
    discard_first: bool = False,
    properties: Mapping[str, object] | None = None,
    resumable: bool = False,
    flavour: Flavour | None = None,
) -> list[str]:
    """``zfs receive [-F] [-u] [-d] [-s] [-o k=v]... TARGET``; ``-o``/``-s`` only where the host has them."""
    validate_name(target)
    argv = ["zfs", "receive"]
    argv += ["-F"] if force else []
    argv += ["-u"] if unmounted else []
    argv += ["-d"] if discard_first else []
    if resumable:
        if flavour is not None:
            flavour.require("resumable_receive", "resumable receive (-s)")
        argv.append("-s")
    if properties:
        if flavour is not None:
            flavour.require("receive_properties", "setting properties on receive (-o)")
        argv += _options("-o", properties, flavour)
    return [*argv, target]


#: ``<version>-<checksum>-<length>-<hex payload>`` (libzfs ``zfs_send_resume_token_to_nvlist``); version 1 only.
_TOKEN = re.compile(r"1-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+")


def validate_resume_token(token: str) -> str:
    """Refuse anything but a ``receive_resume_token`` value (``1-<hex>-<hex>-<hex>``); nothing runs."""
    if not isinstance(token, str) or len(token) > 65536 or not _TOKEN.fullmatch(token):
        raise InvalidName(f"invalid receive_resume_token {str(token)[:40]!r}")
    return token


def zfs_send_resume(token: str, *, dry_run: bool = False, flavour: Flavour | None = None) -> Command:
    """``zfs send [-nvP] -t TOKEN``: the rest of an interrupted stream (``-nvP``: describe it, send nothing,
    so read-only)."""
    validate_resume_token(token)
    if flavour is not None:
        flavour.require("resumable_receive", "resuming a send (-t)")
    return Command(["zfs", "send", *(["-nvP"] if dry_run else []), "-t", token], read_only=dry_run)


@_changes
def zfs_receive_abort(target: str, *, flavour: Flavour | None = None) -> list[str]:
    """``zfs receive -A TARGET``: discard the partially received state ``receive -s`` saved."""
    validate_dataset_name(target)
    if flavour is not None:
        flavour.require("resumable_receive", "aborting a resumable receive (-A)")
    return ["zfs", "receive", "-A", target]


# -- the other programs the library runs ------------------------------------------------------------------


@_reads
def exportfs_show() -> list[str]:
    """``exportfs -v``: every export of the kernel NFS server with its options."""
    return ["exportfs", "-v"]


def _path(path: str) -> str:
    return check_path(path, "path")


@_reads
def file_cat(path: str) -> list[str]:
    """``cat -- PATH``: read a file where the executor has no direct file access (e.g. behind ``sudo``)."""
    return ["cat", "--", _path(path)]


#: Exit status of :func:`file_install` when the file was not replaced: it is unchanged, no temporary file
#: is left, and the follow-up command did not run. Its last stderr line is then :data:`NOT_INSTALLED` + path.
FILE_NOT_INSTALLED: int = 90
#: How :func:`file_install`'s script says it replaced nothing (followed by the path, on stderr).
NOT_INSTALLED: str = "pyzfsnas: not replaced: "
#: How :func:`file_install`'s script says it replaced the file, on stderr before the follow-up runs (followed
#: by the path): without it, the command failed before the script ran (a prefix such as ``sudo`` refused).
INSTALLED: str = "pyzfsnas: replaced: "

#: The script of :func:`file_install`; its operands are positional parameters, never spliced into it.
#: ``set -C`` makes the first redirection create the temporary file exclusively (so only a file it made is
#: removed on failure); ``true >`` rather than ``:`` because a failed redirection of a special built-in would
#: end the shell before it could say so. A directory at ``PATH`` is refused (``mv`` would move into it).
INSTALL_SCRIPT: str = (
    'set -C\n'
    'if [ -d "$2" ]; then echo "pyzfsnas: $2: Is a directory" >&2\n'
    'elif true > "$1"; then\n'
    '  if cat >> "$1" && mv -f -- "$1" "$2"; then\n'
    '    echo "pyzfsnas: replaced: $2" >&2; shift 2; [ "$#" -eq 0 ] || exec "$@"; exit 0\n'
    '  fi\n'
    '  rm -f -- "$1"\n'
    'fi\n'
    'echo "pyzfsnas: not replaced: $2" >&2; exit 90\n'
)


@_changes
def file_install(tmp: str, path: str, then: Sequence[str] = ()) -> list[str]:
    """``sh -c INSTALL_SCRIPT sh TMP PATH [THEN...]``: stdin into a new file ``TMP``, renamed over ``PATH``,
    then ``exec THEN`` — one command for what a write, a rename and a follow-up (a reload) would take three.

    ``TMP`` must be a fresh name in ``PATH``'s directory (the rename is then atomic). When the file is not
    replaced the script exits :data:`FILE_NOT_INSTALLED` (see there); otherwise its status is ``THEN``'s
    (0 without one). The script is a constant and every operand a positional parameter, so no quoting of
    operands is ever involved.
    """
    _path(tmp), _path(path)
    if posixpath.dirname(tmp) != posixpath.dirname(path) or tmp == path:
        raise InvalidName(f"temporary file {tmp!r} must be another name in the directory of {path!r}")
    follow = list(then)
    if any(not isinstance(a, str) or "\0" in a for a in follow) or (follow and not follow[0]):
        raise InvalidName(f"invalid follow-up command {then!r}")
    return ["sh", "-c", INSTALL_SCRIPT, "sh", tmp, path, *follow]


#: Exit status of :func:`signal_pidfile` when the pidfile holds no process id.
NOT_A_PID: int = 92

#: The script of :func:`signal_pidfile`: the pid must be plain decimal digits without a leading zero (a
#: ``0`` would signal the whole process group), else exit :data:`NOT_A_PID`.
SIGNAL_PIDFILE_SCRIPT: str = (
    'pid=$(cat -- "$1") || exit\n'
    'case $pid in ""|0*|*[!0123456789]*) echo "pyzfsnas: $1 does not hold a process id" >&2; exit 92;; esac\n'
    'kill -s "$2" "$pid"\n'
)


def pidfile_pid(text: str) -> int | None:
    """The process id a pidfile's ``text`` holds, by the rule of :data:`SIGNAL_PIDFILE_SCRIPT` (trailing
    newlines dropped, as ``$(cat ...)`` does; then plain decimal digits without a leading zero), else None."""
    pid = text.rstrip("\n")
    if not pid or pid.startswith("0") or pid.strip("0123456789"):
        return None
    return int(pid)


def _signal(signal: object) -> str:
    """A signal name as ``kill`` takes it (``HUP``, ``TERM``): upper-case letters and digits, a letter first."""
    if not isinstance(signal, str) or not re.fullmatch(r"[A-Z][A-Z0-9]*", signal):
        raise InvalidName(f"invalid signal name {signal!r}")
    return signal


@_changes
def signal_pidfile(pidfile: str, signal: str = "HUP") -> list[str]:
    """``sh -c SIGNAL_PIDFILE_SCRIPT sh PIDFILE SIGNAL``: send ``SIGNAL`` to the pid the file holds.

    One command where reading the pidfile and ``kill`` would take two; the script is a constant (see
    :func:`file_install`). Exits :data:`NOT_A_PID` when the file holds no pid, ``cat``'s status when it
    cannot be read, ``kill``'s otherwise.
    """
    return ["sh", "-c", SIGNAL_PIDFILE_SCRIPT, "sh", _path(pidfile), _signal(signal)]


@_changes
def file_remove(path: str) -> list[str]:
    """``rm -f -- PATH``."""
    return ["rm", "-f", "--", _path(path)]


@_reads
def package_version(package: str) -> list[str]:
    """``dpkg-query -W -f=${Version} PACKAGE``: the installed version of a Debian package (exit 1: none)."""
    if not isinstance(package, str) or not re.fullmatch(r"[a-z0-9][a-z0-9+.\-]+", package):
        raise InvalidName(f"invalid package name {package!r}")
    return ["dpkg-query", "-W", "-f=${Version}", package]


@_changes
def signal_process(pid: int, signal: str = "HUP") -> list[str]:
    """``kill -SIGNAL PID``, e.g. ``kill -HUP`` to make a daemon re-read its configuration."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise InvalidName(f"not a process id: {pid!r}")
    return ["kill", f"-{_signal(signal)}", str(pid)]
