"""Eight threads running mixed driver operations on one fake host, on separate shares and on one shared
share: no unexpected exception, and no lost update — each contended value ends as the last writer (in an
order this test controls with a turnstile) set it. Then the facade alone on real zfs-fuse, kept small."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from pyzfsnas import ZFS, LocalExecutor
from tests.reliability.conftest import FLAVOURS, GIB, fake, need_manila

THREADS = 8


class Turnstile:
    """Lets thread ``i`` run its step only after threads ``0..i-1`` finished theirs (a controlled order)."""

    def __init__(self) -> None:
        self.turn = 0
        self.cond = threading.Condition()

    def run(self, i: int, step: Callable[[], None]) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.turn == i, timeout=30)
        try:
            step()
        finally:
            with self.cond:
                self.turn += 1
                self.cond.notify_all()


def _threads(work: Callable[[int], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:
            errors.append(exc)

    ts = [threading.Thread(target=target, args=(i,)) for i in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    return errors


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_mixed_driver_operations_from_eight_threads(request: pytest.FixtureRequest, flavour: str) -> None:
    need_manila()
    from tests.manila.conftest import rule, share, snapshot

    host, _ex, z = fake(flavour, size=64 * GIB)
    drv = request.getfixturevalue("make_driver")(_ex, group="cc", zfs_zpool_list=["tank"])
    common = share("common", backend="cc", pool="tank", size=1)
    drv.create_share(None, common)
    start = threading.Barrier(THREADS)
    quota_turns, access_turns = Turnstile(), Turnstile()
    own_shares = [share(f"own{i}", backend="cc", pool="tank", size=1) for i in range(THREADS)]

    def work(i: int) -> None:
        mine = own_shares[i]
        start.wait(10)
        drv.create_share(None, mine)
        host.write(f"tank/manila_share_own{i}", (i + 1) << 20)
        for k in range(3):  # uncontended: snapshots and resizes of the thread's own share
            drv.create_snapshot(None, snapshot(mine, f"o{i}-{k}"))
            drv.extend_share(mine, 2 + k + i)
        drv.update_access(None, mine, [rule(f"10.1.{i}.1")], [], [], [])
        drv.create_snapshot(None, snapshot(common, f"c{i}"))  # contended dataset, distinct snapshots
        quota_turns.run(i, lambda: drv.extend_share(common, 10 + i))
        access_turns.run(i, lambda: drv.update_access(None, common, [rule(f"10.2.{i}.0/24", "ro")], [], [], []))
        if i % 2:
            drv.delete_snapshot(None, snapshot(mine, f"o{i}-0"))

    errors = _threads(work)
    assert not errors, errors
    assert z.get("tank/manila_share_common", "quota").value("quota") == (10 + THREADS - 1) * GIB
    sharenfs = z.get("tank/manila_share_common", "sharenfs").raw("sharenfs") or ""
    assert f"10.2.{THREADS - 1}.0/24" in sharenfs and "10.2.0.0/24" not in sharenfs
    names = {s.snapname for s in z.snapshots("tank/manila_share_common")}
    assert names == {f"manila_share_snapshot_c{i}" for i in range(THREADS)}
    for i in range(THREADS):
        ds = f"tank/manila_share_own{i}"
        assert z.get(ds, "quota").value("quota") == (4 + i) * GIB
        assert len(z.snapshots(ds)) == (2 if i % 2 else 3)
        assert f"10.1.{i}.1" in (z.get(ds, "sharenfs").raw("sharenfs") or "")
    assert len([n for n in host.datasets if "@" not in n]) == THREADS + 2


def test_facade_threads_on_real_zfsfuse(request: pytest.FixtureRequest) -> None:
    """Four threads, each creating, resizing and snapshotting its own dataset, plus ordered quota writes on
    one shared dataset, through LocalExecutor on real zfs-fuse."""
    pools = request.getfixturevalue("zfsfuse_pools")
    z = ZFS(LocalExecutor(timeout=120))
    root = f"{pools.tank.name}/conc{threading.get_ident() % 10000}"
    z.create_dataset(root)
    z.create_dataset(f"{root}/shared")
    turns = Turnstile()
    n = 4

    def work(i: int) -> None:
        if i >= n:
            return
        ds = f"{root}/t{i}"
        z.create_dataset(ds, {"quota": (i + 1) << 20})
        z.set(ds, quota=(i + 10) << 20)
        z.snapshot(f"{ds}@s")
        turns.run(i, lambda: z.set(f"{root}/shared", quota=(i + 1) << 24))

    try:
        # only the first n threads act; the turnstile must still let later turns pass
        errors = _threads(work)
        assert not errors, errors
        assert z.get(f"{root}/shared", "quota").value("quota") == n << 24
        for i in range(n):
            assert z.get(f"{root}/t{i}", "quota").value("quota") == (i + 10) << 20
            assert [s.snapname for s in z.snapshots(f"{root}/t{i}")] == ["s"]
    finally:
        z.destroy(root, recursive=True)
