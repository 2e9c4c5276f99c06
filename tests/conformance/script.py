"""One script of ``zfs``/``zpool`` commands, run on the fake host and on real OpenZFS, compared modulo volatile fields.

A :class:`Step` is one argv with what it needs (stdin from an earlier ``zfs send``, possibly truncated) and how
its output is read (``columns`` for list output). :func:`run_script` runs every step on an executor and returns
one :class:`Outcome` per step; :func:`compare` normalises both sides (:func:`normalise`) and returns the
differences, each named ``STEP:rc``, ``STEP:stdout`` or ``STEP:stderr``. :data:`KNOWN_DIFFERENCES` lists the
differences that are understood and accepted, each with its reason; a test fails on any other difference, and on
a known one that has gone away (so the list stays true).

Everything happens under ``tank/conf`` and ``backup/conf`` (destroyed first and last), so the script runs on a
guest that other tests have used as well.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "FIXTURES", "KNOWN_DIFFERENCES", "SCRIPT", "Outcome", "Step", "active_limits", "compare", "fake_executor",
    "load_fixtures",
    "normalise", "run_script", "write_fixtures",
]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openzfs-2.3" / "conformance"


@dataclass(frozen=True)
class Step:
    """One command of the script.

    ``send_to`` keeps the command's stdout (a send stream) under that name; ``stdin`` names a kept stream
    (``truncate`` keeps only its first half: an incomplete stream). ``columns`` names the columns of
    tab-separated list output (``-o`` or the default set) so volatile ones can be masked.
    """

    id: str
    argv: tuple[str, ...]
    send_to: str | None = None
    stdin: str | None = None
    truncate: bool = False
    columns: tuple[str, ...] = ()


def _s(step_id: str, command: str, **kw: Any) -> Step:
    return Step(step_id, tuple(shlex.split(command)), **kw)


_ZFS_LIST = ("name", "used", "available", "referenced", "mountpoint")
_ZPOOL_LIST = ("name", "size", "allocated", "free", "checkpoint", "expandsize", "fragmentation", "capacity",
               "dedupratio", "health", "altroot")
_GET = "-H -p -o name,property,value,source"

#: Run before the script and after it (outputs not compared): a clean namespace on any host.
CLEANUP: tuple[tuple[str, ...], ...] = (
    ("zfs", "destroy", "-r", "-f", "tank/conf"),
    ("zfs", "destroy", "-r", "-f", "backup/conf"),
)

SCRIPT: tuple[Step, ...] = (
    # -- create, get, set, inherit ---------------------------------------------------------------------------
    _s("create", "zfs create tank/conf"),
    _s("create-o", "zfs create -o quota=10M -o compression=lz4 tank/conf/a"),
    _s("create-p", "zfs create -p tank/conf/p/q"),
    _s("get-all-p", "zfs get -H -p all tank/conf/a"),
    _s("get-all-human", "zfs get all tank/conf/p"),
    _s("get-o-p", f"zfs get {_GET} compression,quota,recordsize,relatime,atime,filesystem_limit,"
       "snapshot_limit,filesystem_count,snapshot_count,encryptionroot,keystatus tank/conf/a"),
    _s("get-o-human", "zfs get -H -o name,property,value,source compression,quota,filesystem_limit,"
       "snapshot_limit,written tank/conf/a"),
    _s("set-multi", "zfs set atime=off recordsize=64K tank/conf"),
    _s("get-r-inherited", f"zfs get -r {_GET} atime,recordsize tank/conf"),
    _s("get-s-local", "zfs get -H -r -s local -o name,property,value atime,recordsize,quota tank/conf"),
    _s("inherit", "zfs inherit atime tank/conf"),
    _s("inherit-r", "zfs inherit -r compression tank/conf"),
    _s("get-after-inherit", f"zfs get -r {_GET} atime,compression tank/conf"),
    _s("set-user", "zfs set org.example:note=hello tank/conf/a"),
    _s("get-user", f"zfs get {_GET} org.example:note,org.example:unset tank/conf/a"),
    _s("inherit-user", "zfs inherit org.example:note tank/conf/a"),
    _s("get-user-after", f"zfs get {_GET} org.example:note tank/conf/a"),
    _s("set-limits", "zfs set filesystem_limit=5 snapshot_limit=7 tank/conf/p"),
    _s("get-limits", f"zfs get {_GET} filesystem_limit,snapshot_limit,filesystem_count,snapshot_count "
       "tank/conf/p"),
    # -- list ----------------------------------------------------------------------------------------------------
    _s("list-o", "zfs list -H -p -o name,type,mountpoint,quota,canmount -r tank/conf",
       columns=("name", "type", "mountpoint", "quota", "canmount")),
    _s("list-default", "zfs list -H -p -r tank/conf", columns=_ZFS_LIST),
    _s("list-d1", "zfs list -H -o name -d 1 tank/conf", columns=("name",)),
    _s("list-s", "zfs list -H -o name -s name -r tank/conf", columns=("name",)),
    # -- volumes -------------------------------------------------------------------------------------------------
    _s("create-vol", "zfs create -V 1000 tank/conf/vol"),
    _s("get-vol", f"zfs get {_GET} volsize,volblocksize,refreservation,type tank/conf/vol"),
    _s("get-vol-all", "zfs get -H -p all tank/conf/vol"),
    _s("create-vol-sparse", "zfs create -s -V 1M -o volblocksize=8K tank/conf/svol"),
    _s("get-svol", f"zfs get {_GET} volsize,volblocksize,refreservation tank/conf/svol"),
    _s("set-volsize", "zfs set volsize=2M tank/conf/svol"),
    _s("get-svol-after", f"zfs get {_GET} volsize tank/conf/svol"),
    _s("list-t-volume", "zfs list -H -p -o name,volsize -t volume -r tank/conf", columns=("name", "volsize")),
    # -- snapshots, holds, rollback, rename ------------------------------------------------------------------
    _s("snapshot", "zfs snapshot tank/conf/a@s1"),
    _s("snapshot-r", "zfs snapshot -r tank/conf/p@r1"),
    _s("snapshot-2", "zfs snapshot tank/conf/a@s2"),
    _s("list-snap", "zfs list -H -p -o name,type -t snapshot -r tank/conf", columns=("name", "type")),
    _s("get-snap-all", "zfs get -H -p all tank/conf/a@s1"),
    _s("hold", "zfs hold keep tank/conf/a@s1"),
    _s("holds", "zfs holds -H tank/conf/a@s1", columns=("name", "tag", "timestamp")),
    _s("get-userrefs", f"zfs get {_GET} userrefs tank/conf/a@s1"),
    _s("rollback-blocked", "zfs rollback tank/conf/a@s1"),
    _s("rollback-r", "zfs rollback -r tank/conf/a@s1"),
    _s("release", "zfs release keep tank/conf/a@s1"),
    _s("rename", "zfs rename tank/conf/p tank/conf/r"),
    _s("rename-snap", "zfs rename tank/conf/a@s1 tank/conf/a@s1b"),
    _s("rename-r-snap", "zfs rename -r tank/conf/r@r1 tank/conf/r@r2"),
    _s("list-after-rename", "zfs list -H -o name -t all -r tank/conf", columns=("name",)),
    _s("clone", "zfs clone tank/conf/a@s1b tank/conf/c"),
    _s("get-origin", f"zfs get {_GET} origin,clones tank/conf/c tank/conf/a@s1b"),
    _s("promote", "zfs promote tank/conf/c"),
    _s("get-origin-after", f"zfs get {_GET} origin tank/conf/a tank/conf/c"),
    # -- send / receive ------------------------------------------------------------------------------------------
    _s("create-backup", "zfs create backup/conf"),
    _s("snapshot-send", "zfs snapshot tank/conf/r/q@t1"),
    _s("send-full", "zfs send tank/conf/r/q@t1", send_to="full"),
    _s("receive-full", "zfs receive backup/conf/q", stdin="full"),
    _s("snapshot-send-2", "zfs snapshot tank/conf/r/q@t2"),
    _s("send-incr", "zfs send -i @t1 tank/conf/r/q@t2", send_to="incr"),
    _s("receive-incr", "zfs receive backup/conf/q", stdin="incr"),
    _s("list-received", "zfs list -H -o name -t all -r backup/conf", columns=("name",)),
    _s("receive-exists", "zfs receive backup/conf/q", stdin="full"),
    _s("receive-incomplete", "zfs receive backup/conf/half", stdin="full", truncate=True),
    _s("list-after-incomplete", "zfs list -H -o name -t all -r backup/conf", columns=("name",)),
    # -- refusals (every pattern of pyzfsnas.errors) ------------------------------------------------------------
    _s("err-no-pool-create", "zfs create nopool/x"),
    _s("err-no-pool-zpool", "zpool list nopool"),
    _s("err-no-pool-zpool-get", "zpool get health nopool"),
    _s("err-not-found-get", "zfs get all tank/conf/nope"),
    _s("err-not-found-destroy", "zfs destroy tank/conf/nope"),
    _s("err-not-found-snap", "zfs destroy tank/conf/a@nope"),
    _s("err-not-found-parent", "zfs create tank/conf/nope/x"),
    _s("err-exists", "zfs create tank/conf/a"),
    _s("err-exists-snap", "zfs snapshot tank/conf/c@s1b"),
    _s("err-exists-rename", "zfs rename tank/conf/a tank/conf/r"),
    _s("err-has-children", "zfs destroy tank/conf/r"),
    _s("err-has-snapshots", "zfs destroy tank/conf/r/q"),
    _s("err-dependent-clones", "zfs destroy tank/conf/c@s1b"),
    _s("hold-again", "zfs hold keep tank/conf/r/q@t1"),
    _s("err-held", "zfs destroy tank/conf/r/q@t1"),
    _s("release-again", "zfs release keep tank/conf/r/q@t1"),
    _s("err-size-below-usage", "zfs set quota=1K tank/conf/a"),
    _s("err-refquota-below-usage", "zfs set refquota=1K tank/conf/a"),
    _s("err-unknown-property", "zfs set nosuchprop=1 tank/conf/a"),
    _s("err-get-unknown-property", "zfs get nosuchprop tank/conf/a"),
    _s("err-bad-numeric", "zfs set quota=abc tank/conf/a"),
    _s("err-must-be-one-of", "zfs set compression=bogus tank/conf/a"),
    _s("err-absolute-path", "zfs set mountpoint=relative tank/conf/a"),
    _s("err-power-of-2", "zfs set recordsize=1000 tank/conf/a"),
    _s("err-readonly", "zfs set used=1 tank/conf/a"),
    _s("err-sharenfs-invalid", "zfs set sharenfs=rw=1.2.3.4,bogusopt tank/conf/a"),
    _s("err-volsize-on-fs", "zfs set volsize=1M tank/conf/a"),
    _s("err-invalid-name", "zfs create tank/conf/bad@name"),
    _s("err-no-such-command", "nosuchtool-pyzfsnas --version"),
    _s("err-exportfs-missing-path", "exportfs -i -o rw 192.0.2.1:/nonexistent/pyzfsnas"),
    # -- pools -----------------------------------------------------------------------------------------------
    _s("zpool-list-plain", "zpool list -H -p", columns=_ZPOOL_LIST),
    _s("zpool-list-o", "zpool list -H -p -o name,size,allocated,free,health tank",
       columns=("name", "size", "allocated", "free", "health")),
    _s("zpool-get-all", "zpool get all tank"),
    _s("zpool-get-all-p", "zpool get -H -p all tank"),
    _s("zpool-get-o", "zpool get -H -p -o name,property,value,source health,autoexpand,ashift,failmode tank"),
    _s("zfs-version", "zfs version"),
)

#: Properties whose values differ on every run or host (identities, transaction groups, times).
VOLATILE = {
    "guid", "createtxg", "creation", "objsetid", "load_guid", "timestamp", "snapshots_changed",
}
#: Space figures: masked (the fake's accounting is close, not exact; exact space is not part of the contract).
SIZES = {
    "used", "available", "referenced", "usedbysnapshots", "usedbydataset", "usedbychildren",
    "usedbyrefreservation", "written", "logicalused", "logicalreferenced", "refreservation_used",
    "size", "allocated", "free", "capacity", "fragmentation", "freeing", "leaked", "expandsize", "checkpoint",
    "compressratio", "refcompressratio", "bcloneused", "bclonesaved", "dedupused", "dedupsaved",
    "dedup_table_size", "free_space",
}
_DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d+ "
                   r"\d+:\d+(:\d+)? \d{4}\b")

#: Differences understood and accepted: ``STEP:stream`` -> reason. Each is asserted to still differ.
KNOWN_DIFFERENCES: dict[str, str] = {
    "err-no-such-command:stderr":
        "transport, not ZFS: SSHExecutor runs the argv through root's login shell, so bash says "
        "'bash: line 1: X: command not found'; the fake (like LocalExecutor) reports 'X: command not found'. "
        "Both exit 127, which errors.py maps to ToolNotFound either way.",
    "zfs-version:stdout":
        "packaging: the guest runs Debian's backport build 2.3.2-2~bpo12+2; the fake names the upstream "
        "release zfs-2.3.2-1 (flavour detection reads only the version number).",
}


@dataclass(frozen=True)
class Outcome:
    """What one step printed and how it exited (``stdout`` of a send is summarised, not kept)."""

    step: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def fake_executor(*, limits_active: Sequence[str] = ()) -> Any:
    """A fake ``openzfs`` host laid out like the guest: pools ``tank`` (/tank) and ``backup`` (/backup), 4 GiB.

    ``limits_active`` names pools whose ``feature@filesystem_limits`` is already active (a guest that other
    tests used: datasets created there count their children from the start).
    """
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    host = FakeHost("openzfs")
    host.default_vdev_size = 4 << 30
    executor = FakeExecutor(host)
    for n, pool in enumerate(("tank", "backup"), 1):
        executor.run(["zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint=/{pool}", pool,
                      f"/dev/disk/by-id/virtio-pool{n}"]).check()
        host.pools[pool].limits_active = pool in limits_active
    return executor


def active_limits(executor: Any) -> list[str]:
    """The pools of ``executor``'s host whose ``feature@filesystem_limits`` is active."""
    out = executor.run(["zpool", "get", "-H", "-o", "name,value", "feature@filesystem_limits", "tank", "backup"])
    return [line.split("\t")[0] for line in out.stdout.splitlines() if line.endswith("\tactive")]


def _collect(executor: Any, argv: Sequence[str]) -> tuple[bytes, Any]:
    with executor.stream(list(argv)) as stream:
        data = b"".join(stream)
    return data, stream.result


def run_script(executor: Any, steps: Iterable[Step] = SCRIPT) -> list[Outcome]:
    """Run the script on ``executor`` (cleaning ``tank/conf`` and ``backup/conf`` first and last)."""
    for argv in CLEANUP:
        executor.run(list(argv))
    streams: dict[str, bytes] = {}
    outcomes: list[Outcome] = []
    try:
        for step in steps:
            if step.send_to:
                data, result = _collect(executor, step.argv)
                streams[step.send_to] = data
                stdout = "<stream>\n" if data else ""
            else:
                stdin = streams.get(step.stdin) if step.stdin else None
                if stdin is not None and step.truncate:
                    stdin = stdin[: len(stdin) // 2]
                result = executor.run(list(step.argv), stdin=stdin)
                stdout = result.stdout
            outcomes.append(Outcome(step.id, step.argv, result.returncode, stdout, result.stderr))
    finally:
        for argv in CLEANUP:
            executor.run(list(argv))
    return outcomes


def _mask_value(prop: str, value: str) -> str:
    if prop in VOLATILE:
        return "<volatile>"
    if prop in SIZES and value not in ("-", "none"):
        return "<size>"
    return value


def _normalise_line(line: str, columns: Sequence[str]) -> str:
    fields = line.split("\t")
    if columns and len(fields) == len(columns):
        return "\t".join(_mask_value(c, f) for c, f in zip(columns, fields, strict=True))
    if len(fields) in (3, 4) and "\t" in line:  # zfs/zpool get -H: name, property, value[, source]
        fields[2] = _mask_value(fields[1], fields[2])
        return "\t".join(fields)
    words = line.split()
    if len(words) >= 3 and not line.startswith("NAME"):  # human zfs/zpool get: columns aligned with spaces
        value_source = " ".join(words[2:])
        if words[1] in VOLATILE or words[1] in SIZES:
            value_source = "<masked>"
        return " ".join([words[0], words[1], value_source])
    return " ".join(words)


def normalise(text: str, columns: Sequence[str] = ()) -> str:
    """``text`` with volatile values masked (see :data:`VOLATILE`, :data:`SIZES`), dates and spacing evened."""
    text = _DATE.sub("<date>", text)
    return "".join(_normalise_line(line, columns) + "\n" for line in text.splitlines())


def compare(fake: Sequence[Outcome], real: Sequence[Outcome]) -> dict[str, tuple[str, str]]:
    """Differences ``STEP:rc|stdout|stderr`` -> (fake, real), after :func:`normalise`."""
    steps = {s.id: s for s in SCRIPT}
    diffs: dict[str, tuple[str, str]] = {}
    real_by_id = {o.step: o for o in real}
    for f in fake:
        r = real_by_id.get(f.step)
        if r is None:
            diffs[f"{f.step}:missing"] = ("ran", "not captured")
            continue
        if f.returncode != r.returncode:
            diffs[f"{f.step}:rc"] = (str(f.returncode), str(r.returncode))
        cols = steps[f.step].columns if f.step in steps else ()
        for stream, a, b in (("stdout", f.stdout, r.stdout), ("stderr", f.stderr, r.stderr)):
            na, nb = normalise(a, cols), normalise(b, cols)
            if na != nb:
                diffs[f"{f.step}:{stream}"] = (na, nb)
    return diffs


# -- fixtures ------------------------------------------------------------------------------------------------
_FIXTURE = re.compile(r"\$ (.*)\n--- stdout ---\n(.*)--- stderr ---\n(.*)--- exit code: (\d+) ---\n", re.S)


def write_fixtures(outcomes: Sequence[Outcome], directory: Path = FIXTURES) -> None:
    """One file per step (``NNN-STEP.txt``, the layout of the zfs-fuse fixtures), old files removed first."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.txt"):
        old.unlink()
    for n, o in enumerate(outcomes):
        (directory / f"{n:03d}-{o.step}.txt").write_text(
            f"$ {shlex.join(o.argv)}\n--- stdout ---\n{o.stdout}--- stderr ---\n{o.stderr}"
            f"--- exit code: {o.returncode} ---\n"
        )


def load_fixtures(directory: Path = FIXTURES) -> list[Outcome]:
    """The outcomes written by :func:`write_fixtures`."""
    outcomes = []
    for path in sorted(directory.glob("*.txt")):
        m = _FIXTURE.fullmatch(path.read_text())
        if not m:
            raise ValueError(f"{path}: not a fixture")
        step = path.stem.split("-", 1)[1]
        outcomes.append(Outcome(step, tuple(shlex.split(m.group(1))), int(m.group(4)), m.group(2), m.group(3)))
    return outcomes
