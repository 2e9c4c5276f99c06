"""The driver on real zfs-fuse pools: two pools act as two backends (local, and one over the test sshd)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pyzfsnas import ZFS, LocalExecutor
from tests.manila.conftest import MakeDriver, rule, share, snapshot, writable

GIB = 1 << 30


@pytest.fixture
def pools(zfsfuse: Any) -> Any:
    a, b = zfsfuse.create_pool("mnl"), zfsfuse.create_pool("mnl")
    yield a, b
    for p in (a, b):
        zfsfuse.destroy_pool(p.name)


def test_lifecycle_replication_and_migration_on_zfsfuse(make_driver: MakeDriver, pools: Any) -> None:
    pa, pb = pools
    local = LocalExecutor()
    factory = {"127.0.0.2": local, "127.0.0.3": local}.__getitem__
    a = make_driver(local, group="mnlfA", zfs_zpool_list=[pa.name], zfs_share_export_ip="127.0.0.1",
                    zfs_service_ip="127.0.0.2", executor_factory=factory)
    b = make_driver(local, group="mnlfB", zfs_zpool_list=[pb.name], zfs_share_export_ip="127.0.0.1",
                    zfs_service_ip="127.0.0.3", executor_factory=factory)
    z = ZFS(local)
    sh = share("f-1", backend="mnlfA", pool=pa.name, size=1, replica_state="active")
    locs = a.create_share(None, sh)
    ds = f"{pa.name}/manila_share_f_1"
    assert locs[0]["path"] == f"127.0.0.1:{pa.mountpoint}/manila_share_f_1"
    (pa.mountpoint / "manila_share_f_1" / "data.txt").write_text("hello")
    result = a.update_access(None, sh, [rule("127.0.0.1"), rule("bogus", rid="bad")], [], [], [])
    assert result == {"bad": {"state": "error", "access_key": None}}
    assert "127.0.0.1:rw" in (z.get(ds, "sharenfs").raw("sharenfs") or "")
    snap = snapshot(sh, "fs-1")
    snap["provider_location"] = a.create_snapshot(None, snap)["provider_location"]
    copy = share("f-2", backend="mnlfA", pool=pa.name, size=1)
    a.create_share_from_snapshot(None, copy, snap)
    assert (pa.mountpoint / "manila_share_f_2" / "data.txt").read_text() == "hello"
    a.extend_share(sh, 2)
    assert z.get(ds, "quota").value("quota") == 2 * GIB

    # replication to the other pool
    rep = share("f-3", backend="mnlfB", pool=pb.name, size=2, replica_state="out_of_sync")
    out = b.create_replica(None, [sh, rep], rep, [rule("127.0.0.1")], [])
    assert out["replica_state"] == "in_sync"
    assert (pb.mountpoint / "manila_share_f_3" / "data.txt").read_text() == "hello"
    assert not writable(pb.mountpoint / "manila_share_f_3")
    (pa.mountpoint / "manila_share_f_1" / "more.txt").write_text("more")
    rep["replica_state"] = "in_sync"
    assert b.update_replica_state(None, [sh, rep], rep, [], []) == "in_sync"
    assert (pb.mountpoint / "manila_share_f_3" / "more.txt").read_text() == "more"
    b.promote_replica(None, [sh, rep], rep, [rule("127.0.0.1")])
    assert not writable(pa.mountpoint / "manila_share_f_1")  # the old active is really read-only
    assert writable(pb.mountpoint / "manila_share_f_3")
    b.delete_replica(None, [sh, rep], [], rep)

    # migration of the copy to the other pool
    dst = share("f-4", backend="mnlfB", pool=pb.name, size=1)
    start = time.monotonic()
    a.migration_start(None, copy, dst, [], {})
    assert time.monotonic() - start < 2
    deadline = time.monotonic() + 30
    while not a.migration_continue(None, copy, dst, [], {}):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = a.migration_complete(None, copy, dst, [], {})
    assert done["export_locations"][1]["path"] == f"127.0.0.3:{pb.mountpoint}/manila_share_f_4"
    assert (pb.mountpoint / "manila_share_f_4" / "data.txt").read_text() == "hello"

    a.delete_snapshot(None, snap)
    a.delete_share(None, sh)
    assert not z.exists(ds)
    b.delete_share(None, dst)


def test_driver_over_ssh(make_driver: MakeDriver, pools: Any, sshd: Any) -> None:
    pa, _ = pools
    drv = make_driver(None, zfs_zpool_list=[pa.name], zfs_use_ssh=True, zfs_service_ip=sshd.host,
                      zfs_ssh_port=sshd.port, zfs_ssh_username=sshd.root_user,
                      zfs_ssh_private_key_path=str(sshd.user_key_path),
                      zfs_ssh_known_hosts_file=str(sshd.known_hosts_path))
    sh = share("ssh-1", backend="x", pool=pa.name)
    drv.create_share(None, sh)
    assert ZFS(LocalExecutor()).exists(f"{pa.name}/manila_share_ssh_1")
    assert drv.ensure_shares(None, [sh])["ssh-1"]["status"] == "available"
    drv.delete_share(None, sh)
    assert not ZFS(LocalExecutor()).exists(f"{pa.name}/manila_share_ssh_1")


def test_replica_read_before_sync_shows_the_synced_bytes(make_driver: MakeDriver, pools: Any) -> None:
    pa, pb = pools
    local = LocalExecutor()
    factory = {"127.0.0.2": local, "127.0.0.3": local}.__getitem__
    a = make_driver(local, group="mnlcA", zfs_zpool_list=[pa.name], zfs_share_export_ip="127.0.0.1",
                    zfs_service_ip="127.0.0.2", executor_factory=factory)
    b = make_driver(local, group="mnlcB", zfs_zpool_list=[pb.name], zfs_share_export_ip="127.0.0.1",
                    zfs_service_ip="127.0.0.3", executor_factory=factory)
    sh = share("c-1", backend="mnlcA", pool=pa.name, replica_state="active")
    a.create_share(None, sh)
    (pa.mountpoint / "manila_share_c_1" / "f.txt").write_text("old")
    rep = share("c-2", backend="mnlcB", pool=pb.name, replica_state="out_of_sync")
    b.create_replica(None, [sh, rep], rep, [], [])
    rep["replica_state"] = "in_sync"
    assert (pb.mountpoint / "manila_share_c_2" / "f.txt").read_text() == "old"  # now in the page cache
    (pa.mountpoint / "manila_share_c_1" / "f.txt").write_text("new")
    assert b.update_replica_state(None, [sh, rep], rep, [], []) == "in_sync"
    assert (pb.mountpoint / "manila_share_c_2" / "f.txt").read_text() == "new"
