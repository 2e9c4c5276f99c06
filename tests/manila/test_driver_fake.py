"""The driver against the in-memory fake host: operations, return shapes, exceptions and upstream defects."""

from __future__ import annotations

import time
from typing import Any

import pytest
from manila.share import driver as manila_driver

from manila import exception
from pyzfsnas import ZFS
from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver
from pyzfsnas.shares import MemoryStore
from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from tests.manila.conftest import MakeDriver, make_config, rule, share, snapshot

GIB = 1 << 30


@pytest.fixture
def host() -> FakeHost:
    h = FakeHost("openzfs", name="zfs1")
    h.create_pool("tank", size=64 * GIB)
    h.create_pool("other", size=64 * GIB)
    return h


@pytest.fixture
def ex(host: FakeHost) -> FakeExecutor:
    return FakeExecutor(host)


@pytest.fixture
def drv(make_driver: MakeDriver, ex: FakeExecutor) -> ZFSonLinuxShareDriver:
    ZFS(ex).create_dataset("other/nested")
    return make_driver(ex, group="mnlA", zfs_zpool_list=["tank", "other/nested"],
                       zfs_dataset_creation_options=["compression=gzip", "readonly=on", "quota=1G",
                                                     "sharenfs=on", "sharesmb=on", "refquota=5G"])


def zfs(ex: FakeExecutor) -> ZFS:
    return ZFS(ex)


def test_is_a_manila_share_driver(drv: ZFSonLinuxShareDriver) -> None:
    assert isinstance(drv, manila_driver.ShareDriver)
    assert drv.get_network_allocations_number() == 0


def test_create_share_one_command_and_export_locations(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    ex.reset_transcript()
    sh = share("aaaa-bbbb", backend="mnlA", pool="tank", size=2)
    locations = drv.create_share(None, sh)
    assert len(ex.commands) == 1 and ex.commands[0][:2] == ("zfs", "create")
    assert locations == [
        {"path": "10.0.0.1:/tank/manila_share_aaaa_bbbb", "is_admin_only": False, "metadata": {}},
        {"path": "10.0.0.2:/tank/manila_share_aaaa_bbbb", "is_admin_only": True, "metadata": {}},
    ]
    props = zfs(ex).get("tank/manila_share_aaaa_bbbb", "quota", "readonly", "sharenfs", "compression",
                        "refquota")
    assert props.value("quota") == 2 * GIB
    assert props.value("readonly") is False  # "readonly=on" in creation options is ignored
    assert props.raw("sharenfs") == "off"  # ignored too: no access before update_access
    assert props.raw("compression") == "gzip"
    assert props.value("refquota") == 5 * GIB  # exact key match: upstream dropped anything containing "quota"


def test_nested_root_dataset(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    sh = share("n-1", backend="mnlA", pool="other")
    locs = drv.create_share(None, sh)
    assert locs[0]["path"] == "10.0.0.1:/other/nested/manila_share_n_1"
    assert zfs(ex).exists("other/nested/manila_share_n_1")


def test_setup_errors_are_clear(make_driver: MakeDriver, ex: FakeExecutor) -> None:
    with pytest.raises(exception.BadConfigurationException, match="zfs_zpool_list"):
        make_driver(ex, zfs_zpool_list=[])
    with pytest.raises(exception.BadConfigurationException, match="twice"):
        make_driver(ex, zfs_zpool_list=["tank", "tank/x"])
    with pytest.raises(exception.BadConfigurationException, match="zfs_share_export_ip"):
        make_driver(ex, zfs_zpool_list=["tank"], zfs_share_export_ip=None)
    with pytest.raises(exception.BadConfigurationException, match="does not exist"):
        make_driver(ex, zfs_zpool_list=["nopool"])
    with pytest.raises(exception.BadConfigurationException, match="zfs_ssh_username"):
        make_driver(None, zfs_zpool_list=["tank"], zfs_use_ssh=True)
    with pytest.raises(exception.BadConfigurationException, match="NFS helper"):
        make_driver(ex, zfs_zpool_list=["tank"], zfs_share_helpers={"NFS": "bogus"})
    with pytest.raises(exception.BadConfigurationException, match="name=value"):
        make_driver(ex, zfs_zpool_list=["tank"], zfs_dataset_creation_options=["compression"])


def test_import_needs_no_parsed_config() -> None:
    # Registering and reading the options before any config file is parsed must not raise.
    conf = make_config(None)
    drv = ZFSonLinuxShareDriver(configuration=conf, private_storage=MemoryStore())
    assert drv.configuration.zfs_dataset_name_prefix == "manila_share_"
    with pytest.raises(exception.BadConfigurationException):
        drv.check_for_setup_error()


def test_delete_exact_name_only(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    a = share("abc", backend="mnlA", pool="tank")
    a1 = share("abc1", backend="mnlA", pool="tank")
    drv.create_share(None, a)
    drv.create_share(None, a1)
    drv.create_snapshot(None, snapshot(a1, "s1"))
    ex.reset_transcript()
    drv.delete_share(None, a)
    assert ex.commands == [("zfs", "destroy", "-r", "tank/manila_share_abc")]
    z = zfs(ex)
    assert z.exists("tank/manila_share_abc1") and z.exists("tank/manila_share_abc1@manila_share_snapshot_s1")
    assert not z.exists("tank/manila_share_abc")
    drv.delete_share(None, a)  # already gone: a warning, not an error


def test_snapshot_lifecycle(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, storage: MemoryStore) -> None:
    sh = share("s", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    snap = snapshot(sh, "x-1")
    assert drv.create_snapshot(None, snap) == {"provider_location": "tank/manila_share_s@manila_share_snapshot_x_1"}
    assert storage.get("snap-x-1", "snapshot_tag") == "manila_share_snapshot_x_1"
    snap["provider_location"] = "tank/manila_share_s@manila_share_snapshot_x_1"
    drv.delete_snapshot(None, snap)
    assert not zfs(ex).exists("tank/manila_share_s@manila_share_snapshot_x_1")
    drv.delete_snapshot(None, snap)  # absent: fine


def test_share_from_snapshot_is_independent(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, host: FakeHost) -> None:
    sh = share("src", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    host.write("tank/manila_share_src", 10 << 20)
    snap = snapshot(sh, "sn")
    snap["provider_location"] = drv.create_snapshot(None, snap)["provider_location"]
    new = share("dst", backend="mnlA", pool="tank", size=3)
    result = drv.create_share_from_snapshot(None, new, snap)
    assert result["status"] == "available"
    assert result["export_locations"][0]["path"] == "10.0.0.1:/tank/manila_share_dst"
    z = zfs(ex)
    assert z.get("tank/manila_share_dst", "quota").value("quota") == 3 * GIB
    assert z.get("tank/manila_share_dst", "origin").value("origin") is None  # not a clone
    assert z.snapshots("tank/manila_share_dst") == []  # the transfer snapshot is gone
    drv.delete_snapshot(None, snap)
    drv.delete_share(None, sh)
    assert z.exists("tank/manila_share_dst")


def test_update_access_bulk_errors_and_deny(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    sh = share("acc", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    good = [rule("10.1.0.5"), rule("10.2.0.0/24", "ro"), rule("2001:db8::/64")]
    bad = [rule("not-an-ip", rid="bad1"), rule("10.0.0.0/8", "xx", rid="bad2"),
           rule("alice", access_type="user", rid="bad3"), rule("10.0.0.5/24", rid="bad4")]
    ex.reset_transcript()
    result = drv.update_access(None, sh, good + bad, good + bad, [], [])
    assert len(ex.commands) == 1  # one zfs set sharenfs=...
    assert result == {k: {"state": "error", "access_key": None} for k in ("bad1", "bad2", "bad3", "bad4")}
    value = zfs(ex).get("tank/manila_share_acc", "sharenfs").raw("sharenfs") or ""
    assert "10.1.0.5" in value and "10.2.0.0/24" in value and "2001:db8::" in value
    # deny of a rule that was never applied succeeds
    assert drv.update_access(None, sh, good, [], [rule("192.0.2.9", rid="never")], []) is None
    # removing everything turns sharing off
    assert drv.update_access(None, sh, [], [], good, []) is None
    assert zfs(ex).get("tank/manila_share_acc", "sharenfs").raw("sharenfs") == "off"


def test_extend_and_shrink(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, host: FakeHost) -> None:
    sh = share("sz", backend="mnlA", pool="tank", size=2)
    drv.create_share(None, sh)
    drv.extend_share(sh, 4)
    assert zfs(ex).get("tank/manila_share_sz", "quota").value("quota") == 4 * GIB
    host.write("tank/manila_share_sz", 3 * GIB // 2)
    with pytest.raises(exception.ShareShrinkingPossibleDataLoss):
        drv.shrink_share(sh, 1)
    assert zfs(ex).get("tank/manila_share_sz", "quota").value("quota") == 4 * GIB  # untouched
    drv.shrink_share(sh, 2)
    assert zfs(ex).get("tank/manila_share_sz", "quota").value("quota") == 2 * GIB


def test_ensure_share_and_ensure_shares(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    present = share("here", backend="mnlA", pool="tank")
    drv.create_share(None, present)
    missing = share("gone", backend="mnlA", pool="tank")
    assert drv.ensure_share(None, present)[0]["path"] == "10.0.0.1:/tank/manila_share_here"
    with pytest.raises(exception.ShareResourceNotFound):
        drv.ensure_share(None, missing)
    ex.reset_transcript()
    updates = drv.ensure_shares(None, [present, missing])
    assert len(ex.commands) == 1
    assert updates["here"]["status"] == "available"
    assert updates["here"]["export_locations"][0]["path"] == "10.0.0.1:/tank/manila_share_here"
    assert updates["here"]["reapply_access_rules"] is False  # sharenfs keeps the rules
    assert updates["gone"]["status"] == "error"
    info = drv.get_backend_info(None)
    assert info["zpools"] == "other/nested,tank" and info["nfs"] == "kernel"


def test_ensure_shares_thousand_in_two_commands(make_driver: MakeDriver, host: FakeHost) -> None:
    ex = FakeExecutor(host)
    drv = make_driver(ex, zfs_zpool_list=["tank"])
    shares = [share(f"s{i}", backend="x", pool="tank") for i in range(1000)]
    for sh in shares[:50]:
        drv.create_share(None, sh)
    ex.reset_transcript()
    updates = drv.ensure_shares(None, shares)
    assert len(ex.commands) <= 2
    assert sum(u["status"] == "available" for u in updates.values()) == 50


def test_extra_specs(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    from manila.share import share_types

    specs: dict[str, Any] = {"dedupe": "<is> True", "zfsonlinux:compression": "lzjb"}
    monkeypatch.setattr(share_types, "get_share_type_extra_specs", lambda type_id, key=None: specs)
    sh = share("xs", backend="mnlA", pool="tank", share_type_id="t1")
    drv.create_share(None, sh)
    props = zfs(ex).get("tank/manila_share_xs", "dedup", "compression")
    assert props.raw("dedup") == "on" and props.raw("compression") == "lzjb"


def test_compression_extra_spec_refused_when_disabled(make_driver: MakeDriver, ex: FakeExecutor,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from manila.share import share_types

    drv = make_driver(ex, zfs_zpool_list=["tank"], zfs_dataset_creation_options=["compression=off"])
    monkeypatch.setattr(share_types, "get_share_type_extra_specs",
                        lambda type_id, key=None: {"zfsonlinux:compression": "gzip"})
    with pytest.raises(exception.ZFSonLinuxException, match="compression"):
        drv.create_share(None, share(backend="x", pool="tank", share_type_id="t"))


def test_share_server_refused(drv: ZFSonLinuxShareDriver) -> None:
    with pytest.raises(exception.InvalidInput):
        drv.create_share(None, share(backend="mnlA", pool="tank"), share_server={"id": "srv"})


def test_stats(drv: ZFSonLinuxShareDriver, ex: FakeExecutor) -> None:
    drv._update_share_stats()
    stats = drv._stats
    assert stats["storage_protocol"] == "NFS" and stats["driver_handles_share_servers"] is False
    assert stats["snapshot_support"] and stats["create_share_from_snapshot_support"]
    assert stats["revert_to_snapshot_support"] is True
    # Exactly what the export locations offer: an IPv4 export address only, although kernel NFS has IPv6.
    assert stats["ipv4_support"] is True and stats["ipv6_support"] is False
    pools = {p["pool_name"]: p for p in stats["pools"]}
    assert set(pools) == {"tank", "other"}
    assert 60 < pools["tank"]["total_capacity_gb"] <= 64
    assert pools["tank"]["compression"] == [True] and pools["tank"]["dedupe"] == [True, False]
    assert "replication_type" not in pools["tank"]
    assert drv.get_pool(share(backend="mnlA", pool="tank")) == "tank"


def test_stats_fuse_no_ipv6_and_replication_domain(make_driver: MakeDriver) -> None:
    h = FakeHost("zfs-fuse", name="f1")
    h.create_pool("tank")
    drv = make_driver(FakeExecutor(h), zfs_zpool_list=["tank"], replication_domain="dom")
    drv._update_share_stats()
    assert drv._stats["ipv6_support"] is False
    assert drv._stats["replication_type"] == "readable"
    assert drv._stats["pools"][0]["replication_type"] == "readable"


def test_manage_and_unmanage(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, host: FakeHost,
                             storage: MemoryStore) -> None:
    z = zfs(ex)
    z.create_dataset("tank/legacy")
    host.write("tank/legacy", 3 * GIB // 2)
    sh = share("mg", backend="mnlA", pool="tank", export_locations=[{"path": "10.9.9.9:/tank/legacy"}])
    out = drv.manage_existing(sh, {})
    assert out["size"] == 2
    assert out["export_locations"][0]["path"] == "10.0.0.1:/tank/manila_share_mg"
    assert z.get("tank/manila_share_mg", "quota").value("quota") == 2 * GIB
    drv.unmanage(sh)
    assert "mg" not in storage.data and z.exists("tank/manila_share_mg")
    with pytest.raises(exception.ManageInvalidShare):
        drv.manage_existing(share(backend="mnlA", pool="tank",
                                  export_locations=[{"path": "10.9.9.9:/tank/nothing"}]), {})
    with pytest.raises(exception.ManageInvalidShare):
        drv.manage_existing(share(backend="mnlA", pool="tank",
                                  export_locations=[{"path": "10.9.9.9:/other/x"}]), {})


def test_manage_with_a_size_below_usage_leaves_the_dataset_as_it_was(
        drv: ZFSonLinuxShareDriver, ex: FakeExecutor, host: FakeHost, storage: MemoryStore) -> None:
    z = zfs(ex)
    z.create_dataset("tank/legacy2")
    host.write("tank/legacy2", 3 * GIB // 2)
    sh = share("mg2", backend="mnlA", pool="tank", export_locations=[{"path": "10.9.9.9:/tank/legacy2"}])
    with pytest.raises(exception.ManageInvalidShare, match="below the space"):
        drv.manage_existing(sh, {"size": 1})
    assert z.exists("tank/legacy2") and not z.exists("tank/manila_share_mg2")
    assert z.dataset("tank/legacy2").quota is None
    assert "mg2" not in storage.data


def test_manage_snapshot(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, storage: MemoryStore) -> None:
    sh = share("ms", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    zfs(ex).snapshot("tank/manila_share_ms@adminsnap")
    snap = snapshot(sh, "new-snap", provider_location="tank/manila_share_ms@adminsnap")
    out = drv.manage_existing_snapshot(snap, {"size": 1})
    assert out == {"size": 1, "provider_location": "tank/manila_share_ms@manila_share_snapshot_new_snap"}
    assert "snap-new-snap" in storage.data
    drv.unmanage_snapshot(snap)
    assert "snap-new-snap" not in storage.data and zfs(ex).exists(out["provider_location"])
    with pytest.raises(exception.ManageInvalidShareSnapshot):
        drv.manage_existing_snapshot(snapshot(sh, provider_location="tank/manila_share_ms@nope"), {})
    with pytest.raises(exception.ManageInvalidShareSnapshot):
        drv.manage_existing_snapshot(snapshot(sh, provider_location="tank/elsewhere@x"), {})


def test_revert_to_snapshot(drv: ZFSonLinuxShareDriver, ex: FakeExecutor, host: FakeHost) -> None:
    sh = share("rv", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    snap = snapshot(sh, "r1")
    snap["provider_location"] = drv.create_snapshot(None, snap)["provider_location"]
    host.write("tank/manila_share_rv", 5 << 20)
    before = zfs(ex).get("tank/manila_share_rv", "referenced").value("referenced")
    drv.revert_to_snapshot(None, snap, [], [])
    after = zfs(ex).get("tank/manila_share_rv", "referenced").value("referenced")
    assert isinstance(before, int) and isinstance(after, int) and after < before


def test_locks_serialize_per_dataset(drv: ZFSonLinuxShareDriver) -> None:
    import threading

    order: list[str] = []
    with drv.service.locks.hold("mnlA:tank/a"):
        t = threading.Thread(target=lambda: (drv.service.locks.hold("mnlA:tank/a").__enter__(), order.append("t")))
        t.start()
        time.sleep(0.05)
        order.append("main")
    t.join(1)
    assert order == ["main", "t"]


@pytest.mark.parametrize("bad", ["abc", "1.5", "²", 2.7, 2.0, 0, True])
def test_sizes_that_are_not_whole_numbers_are_typed_errors_before_any_command(
        drv: ZFSonLinuxShareDriver, ex: FakeExecutor, bad: Any) -> None:
    sh = share("wz", backend="mnlA", pool="tank")
    drv.create_share(None, sh)
    zfs(ex).snapshot("tank/manila_share_wz@adminsnap")
    ex.reset_transcript()
    with pytest.raises(exception.InvalidInput, match="whole number"):
        drv.create_share(None, share(backend="mnlA", pool="tank", size=bad))
    with pytest.raises(exception.InvalidInput, match="whole number"):
        drv.extend_share(sh, bad)
    with pytest.raises(exception.InvalidInput, match="whole number"):
        drv.shrink_share(sh, bad)
    with pytest.raises(exception.ManageInvalidShare, match="whole number"):
        drv.manage_existing(share(backend="mnlA", pool="tank", export_locations=[{"path": "x:/tank/legacy"}]),
                            {"size": bad})
    with pytest.raises(exception.ManageInvalidShareSnapshot, match="whole number"):
        drv.manage_existing_snapshot(snapshot(sh, provider_location="tank/manila_share_wz@adminsnap"),
                                     {"size": bad})
    assert ex.commands == []
