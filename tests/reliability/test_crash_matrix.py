"""Crash consistency of the library's multi-step calls, measured: kill after each command, restart, retry.

For each operation (destroy with zfs-fuse's busy handling, rename, transfer full/incremental, resumable or
not) and each of its commands in turn, the operation's process dies there (a ``pyzfsnas.testing.KillSwitch``:
nothing after that point reaches a host; for a ``zfs receive`` also half-way through its stream). A fresh
process then repeats the same call. The end state must be the one an uninterrupted run leaves (``converged``)
or the retry must raise a typed error saying why not (``reported``); ``lost`` — a silently different state —
fails the test.
The matrix is printed (``-s``) and summarised in docs/crash-matrix.rst.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pyzfsnas.replication import transfer
from pyzfsnas.testing.fake import FakeHost
from tests.crash import Point, matrix, zfs

MiB = 1 << 20
Setup = Callable[[], tuple[list[FakeHost], Callable[[Callable[[FakeHost], Any]], Any]]]


def _tree(flavour: str) -> FakeHost:
    h = FakeHost(flavour=flavour, name=f"n-{flavour}")  # type: ignore[arg-type]
    h.create_pool("tank", size=1024 * MiB, mountpoint="/tank")
    z = zfs(lambda x: __import__("pyzfsnas.testing.fake", fromlist=["FakeExecutor"]).FakeExecutor(x), h)
    z.create_dataset("tank/a", {"sharenfs": "on"})
    z.create_dataset("tank/a/b")
    h.write("tank/a/b", 3 * MiB)
    z.snapshot("tank/a/b@s1")
    z.create_dataset("tank/other", {"sharenfs": "on"})
    h.write("tank/other", MiB)
    return h


def destroy(flavour: str) -> Setup:
    def setup() -> tuple[list[FakeHost], Callable[[Callable[[FakeHost], Any]], Any]]:
        h = _tree(flavour)
        return [h], lambda wrap: zfs(wrap, h).destroy("tank/a", recursive=True)
    return setup


def rename(flavour: str) -> Setup:
    def setup() -> tuple[list[FakeHost], Callable[[Callable[[FakeHost], Any]], Any]]:
        h = _tree(flavour)
        return [h], lambda wrap: zfs(wrap, h).rename("tank/a", "tank/c")
    return setup


def _pair(flavour: str) -> tuple[FakeHost, FakeHost]:
    from pyzfsnas.testing.fake import FakeExecutor

    a = FakeHost(flavour=flavour, name=f"src-{flavour}")  # type: ignore[arg-type]
    b = FakeHost(flavour=flavour, name=f"dst-{flavour}")  # type: ignore[arg-type]
    a.create_pool("tank", size=1024 * MiB, mountpoint="/tank")
    b.create_pool("backup", size=1024 * MiB, mountpoint="/backup")
    z = zfs(FakeExecutor, a)
    z.create_dataset("tank/d")
    a.write("tank/d", 6 * MiB)
    z.snapshot("tank/d@s1")
    return a, b


def send(flavour: str, *, incremental: bool, resumable: bool) -> Setup:
    def setup() -> tuple[list[FakeHost], Callable[[Callable[[FakeHost], Any]], Any]]:
        from pyzfsnas.testing.fake import FakeExecutor

        a, b = _pair(flavour)
        if incremental:
            transfer(zfs(FakeExecutor, a), "tank/d@s1", zfs(FakeExecutor, b), "backup/d")
            a.write("tank/d", 4 * MiB)
            zfs(FakeExecutor, a).snapshot("tank/d@s2")

        def op(wrap: Callable[[FakeHost], Any]) -> Any:
            return transfer(zfs(wrap, a), "tank/d@s2" if incremental else "tank/d@s1", zfs(wrap, b), "backup/d",
                            incremental_from="@s1" if incremental else None, resumable=resumable, retry_delay=0)
        return [a, b], op
    return setup


OPERATIONS: dict[str, Setup] = {
    "destroy -r (zfs-fuse, busy bug)": destroy("zfs-fuse"),
    "destroy -r (OpenZFS)": destroy("openzfs"),
    "rename (zfs-fuse, busy bug)": rename("zfs-fuse"),
    "rename (OpenZFS)": rename("openzfs"),
    "transfer full (OpenZFS)": send("openzfs", incremental=False, resumable=False),
    "transfer full resumable (OpenZFS)": send("openzfs", incremental=False, resumable=True),
    "transfer incremental resumable (OpenZFS)": send("openzfs", incremental=True, resumable=True),
    "transfer full (zfs-fuse)": send("zfs-fuse", incremental=False, resumable=False),
    "transfer incremental (zfs-fuse, remount)": send("zfs-fuse", incremental=True, resumable=False),
}


def _table(points: list[Point]) -> str:
    return "\n".join(f"{p.operation:<42} {p.after:>2}{'½' if p.mid else ' '} {p.command[:60]:<60} {p.outcome:<9} "
                     f"{p.detail[:160]}" for p in points)


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_kill_after_every_command_then_retry_converges_or_reports(operation: str) -> None:
    points = matrix(operation, OPERATIONS[operation])
    print("\n" + _table(points))
    assert points, "the operation ran no command"
    lost = [p for p in points if p.outcome == "lost"]
    assert not lost, _table(lost)


def _die_before(argv_start: tuple[str, ...], setup: Setup) -> list[FakeHost]:
    """Run ``setup``'s operation in a process that dies just before the first command starting with
    ``argv_start``; return the hosts (the caller then retries in a fresh process)."""
    import contextlib

    from pyzfsnas.testing import Killed, KillSwitch
    from tests.crash import commands, dying

    hosts, op = setup()
    _, probe = setup()
    k = next(i for i, a in enumerate(commands(probe)) if a[:len(argv_start)] == argv_start)
    with contextlib.suppress(Killed):
        op(dying(KillSwitch(k)))
    return hosts


def test_rename_on_zfs_fuse_killed_after_an_unmount_is_finished_by_the_same_call() -> None:
    from pyzfsnas.testing.fake import FakeExecutor

    (h,) = _die_before(("zfs", "umount", "tank/a"), rename("zfs-fuse"))
    assert not h.datasets["tank/a/b"].mounted  # the half state the dead process left
    zfs(FakeExecutor, h).rename("tank/a", "tank/c")  # the same call, in a fresh process
    exported = {e.path for e in h.exports.entries()}
    for name in ("tank/c", "tank/c/b"):
        assert h.datasets[name].mounted and f"/{name}" in exported
        assert "com.pyzfsnas:remount" not in h.datasets[name].props


def test_transfer_repeated_after_a_death_after_its_receive_succeeds_and_remounts() -> None:
    from pyzfsnas.testing.fake import FakeExecutor

    setup = send("zfs-fuse", incremental=True, resumable=False)
    a, b = _die_before(("zfs", "mount", "backup/d"), setup)
    assert not b.datasets["backup/d"].mounted
    res = transfer(zfs(FakeExecutor, a), "tank/d@s2", zfs(FakeExecutor, b), "backup/d", incremental_from="@s1")
    assert res.receive is None and b.datasets["backup/d"].mounted
