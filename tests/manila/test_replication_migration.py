"""Replication and migration between two backends (two fake hosts, reached through executor_factory)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from manila import exception
from pyzfsnas import ZFS
from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver
from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from tests.manila.conftest import MakeDriver, rule, share, snapshot

GIB = 1 << 30


def two_backends(make_driver: MakeDriver, flavour: str = "openzfs") -> tuple[
        ZFSonLinuxShareDriver, ZFSonLinuxShareDriver, FakeExecutor, FakeExecutor]:
    ha, hb = FakeHost(flavour, name="ha"), FakeHost(flavour, name="hb")  # type: ignore[arg-type]
    ha.create_pool("tanka", size=8 * GIB)
    hb.create_pool("tankb", size=8 * GIB)
    ea, eb = FakeExecutor(ha), FakeExecutor(hb)
    by_ip: dict[str, FakeExecutor] = {"10.0.1.2": ea, "10.0.2.2": eb}
    factory: Callable[[str], FakeExecutor] = by_ip.__getitem__
    a = make_driver(ea, group="mnlrA", zfs_zpool_list=["tanka"], zfs_share_export_ip="10.0.1.1",
                    zfs_service_ip="10.0.1.2", replication_domain="d", executor_factory=factory)
    b = make_driver(eb, group="mnlrB", zfs_zpool_list=["tankb"], zfs_share_export_ip="10.0.2.1",
                    zfs_service_ip="10.0.2.2", replication_domain="d", executor_factory=factory)
    return a, b, ea, eb


@pytest.mark.parametrize("flavour", ["openzfs", "zfs-fuse"])
def test_replica_lifecycle(make_driver: MakeDriver, flavour: str) -> None:
    a, b, ea, eb = two_backends(make_driver, flavour)
    za, zb = ZFS(ea), ZFS(eb)
    active = share("r-active", backend="mnlrA", pool="tanka", size=2, replica_state="active")
    a.create_share(None, active)
    rules = [rule("10.5.0.1", "rw")]
    a.update_access(None, active, rules, rules, [], [])
    ea.host.write("tanka/manila_share_r_active", 4 << 20)
    new = share("r-second", backend="mnlrB", pool="tankb", size=2, replica_state="out_of_sync")
    replicas = [active, new]
    out = b.create_replica(None, replicas, new, rules, [])
    assert out["replica_state"] == "in_sync" and out["access_rules_status"] == "active"
    assert out["export_locations"][0]["path"] == "10.0.2.1:/tankb/manila_share_r_second"
    props = zb.get("tankb/manila_share_r_second", "readonly", "quota", "used")
    assert props.value("readonly") is True and props.value("quota") == 2 * GIB
    assert "ro" in (zb.get("tankb/manila_share_r_second", "sharenfs").raw("sharenfs") or "") or flavour == "zfs-fuse"

    # a user snapshot replicated to the secondary
    new["replica_state"] = "in_sync"
    snaps = [snapshot(active, "rs-1"), snapshot(new, "rs-2")]
    snaps[1]["snapshot_id"] = snaps[0]["snapshot_id"]
    result = a.create_replicated_snapshot(None, replicas, snaps)
    assert {r["status"] for r in result} == {"available"}
    tag = "manila_share_snapshot_rs_1"
    assert zb.exists(f"tankb/manila_share_r_second@{tag}")

    # periodic sync: in_sync, and old replication snapshots pruned on both sides (exact dataset only)
    ea.host.write("tanka/manila_share_r_active", 1 << 20)
    assert b.update_replica_state(None, replicas, new, rules, []) == "in_sync"
    prefix = "tmp_snapshot_for_replication_"
    assert len([s for s in za.snapshots("tanka/manila_share_r_active") if s.snapname.startswith(prefix)]) == 1
    assert len([s for s in zb.snapshots("tankb/manila_share_r_second") if s.snapname.startswith(prefix)]) == 1
    upd = b.update_replicated_snapshot(None, replicas, new, snaps, snaps[1])
    assert upd["status"] == "available"

    # promote: the old active really becomes readonly=on (upstream ran "set readonly=on" without zfs)
    states = {r["id"]: r for r in b.promote_replica(None, replicas, new, rules)}
    assert states["r-second"]["replica_state"] == "active"
    assert states["r-active"]["replica_state"] == "in_sync"
    assert za.get("tanka/manila_share_r_active", "readonly").value("readonly") is True
    assert zb.get("tankb/manila_share_r_second", "readonly").value("readonly") is False
    assert sum(s["replica_state"] == "active" for s in states.values()) == 1

    # roles switched: the old active now syncs from the new one
    active["replica_state"], new["replica_state"] = "in_sync", "active"
    eb.host.write("tankb/manila_share_r_second", 1 << 20)
    assert a.update_replica_state(None, replicas, active, rules, []) == "in_sync"
    assert za.get("tanka/manila_share_r_active", "readonly").value("readonly") is True

    # replicated snapshot deletion, then replica deletion
    deleted = b.delete_replicated_snapshot(None, replicas, snaps)
    assert {d["status"] for d in deleted} == {"deleted"}
    assert not za.exists(f"tanka/manila_share_r_active@{tag}")
    snaps[0]["status"] = "deleting"
    with pytest.raises(exception.SnapshotResourceNotFound):
        a.update_replicated_snapshot(None, replicas, active, snaps, snaps[0])
    a.delete_replica(None, replicas, [], active)
    assert not za.exists("tanka/manila_share_r_active")


def test_replication_without_active_fails(make_driver: MakeDriver) -> None:
    _a, b, _, _ = two_backends(make_driver)
    lone = share(backend="mnlrB", pool="tankb", replica_state="out_of_sync")
    with pytest.raises(exception.ReplicationException):
        b.create_replica(None, [lone], lone, [], [])


def test_sync_failure_reports_out_of_sync(make_driver: MakeDriver) -> None:
    a, b, _ea, eb = two_backends(make_driver)
    active = share("fa", backend="mnlrA", pool="tanka", replica_state="active")
    a.create_share(None, active)
    new = share("fb", backend="mnlrB", pool="tankb", replica_state="out_of_sync")
    b.create_replica(None, [active, new], new, [], [])
    ZFS(eb).destroy("tankb/manila_share_fb", recursive=True)
    assert b.update_replica_state(None, [active, new], new, [], []) == "out_of_sync"


def test_migration(make_driver: MakeDriver) -> None:
    a, _b, ea, eb = two_backends(make_driver)
    src = share("m-src", backend="mnlrA", pool="tanka", size=3)
    dst = share("m-dst", backend="mnlrB", pool="tankb", size=3)
    a.create_share(None, src)
    ea.host.write("tanka/manila_share_m_src", 20 << 20)
    compat = a.migration_check_compatibility(None, src, dst)
    assert compat["compatible"] is True and compat["writable"] is False
    assert a.migration_check_compatibility(None, src, share(backend="mnlrB", pool="nopool"))["compatible"] is False
    start = time.monotonic()
    a.migration_start(None, src, dst, [], {})
    assert time.monotonic() - start < 1.0  # non-blocking
    deadline = time.monotonic() + 20
    while not a.migration_continue(None, src, dst, [], {}):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert a.migration_get_progress(None, src, dst, [], {})["total_progress"] == 100
    out = a.migration_complete(None, src, dst, [], {})
    # the destination's export locations, not the source backend's (upstream defect)
    assert [loc["path"] for loc in out["export_locations"]] == [
        "10.0.2.1:/tankb/manila_share_m_dst", "10.0.2.2:/tankb/manila_share_m_dst"]
    zb = ZFS(eb)
    assert zb.get("tankb/manila_share_m_dst", "quota").value("quota") == 3 * GIB
    assert zb.snapshots("tankb/manila_share_m_dst") == []
    assert not ZFS(ea).exists("tanka/manila_share_m_src")


def test_migration_cancel(make_driver: MakeDriver) -> None:
    a, _b, ea, eb = two_backends(make_driver)
    src = share("c-src", backend="mnlrA", pool="tanka")
    dst = share("c-dst", backend="mnlrB", pool="tankb")
    a.create_share(None, src)
    a.migration_start(None, src, dst, [], {})
    a.migration_cancel(None, src, dst, [], {})
    assert not ZFS(eb).exists("tankb/manila_share_c_dst")
    assert ZFS(ea).snapshots("tanka/manila_share_c_src") == []
    assert ZFS(ea).exists("tanka/manila_share_c_src")
