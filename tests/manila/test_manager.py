"""The driver under manila's own ``ShareManager`` and sqlite database, on every host kind of MANAGER_HOSTS.

Each test drives the manager's RPC-side methods the way manila-share does and asserts what the manager wrote to
its database (statuses, sizes, export locations, access rule states) and what is on the host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from manila.tests import db_utils

from manila import db, exception
from pyzfsnas import ZFS
from pyzfsnas.errors import DatasetNotFound
from pyzfsnas.result import Result
from pyzfsnas.testing import RecordingExecutor
from tests.manila.managerlib import BUILDERS, GIB, MANAGER_HOSTS, Cloud, manila_env


@pytest.fixture(params=MANAGER_HOSTS)
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    pools = BUILDERS[request.param](request)
    try:
        with manila_env():
            yield Cloud(pools)
    finally:
        for undo in pools.cleanup:
            undo()


@pytest.fixture(params=[k for k in BUILDERS if k.startswith("fake")])
def fake_cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    """Only the fake host kinds: for what needs fault injection or more space than the real pools have."""
    pools = BUILDERS[request.param](request)
    with manila_env():
        yield Cloud(pools)


def quota(c: Cloud, dataset: str, backend: str = "A") -> Any:
    return c.pools.zfs(c.addr[backend][1]).get(dataset, "quota").value("quota")


def test_create_and_delete(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share(size=2)
    inst = share.instance["id"]
    assert share["status"] == "available"
    mountpoint = c.pools.zfs().get(c.root["A"], "mountpoint").raw("mountpoint")
    leaf = c.dataset(inst).rsplit("/", 1)[1]
    assert c.paths(inst) == [(f"10.0.1.1:{mountpoint}/{leaf}", False), (f"10.0.1.2:{mountpoint}/{leaf}", True)]
    assert quota(c, c.dataset(inst)) == 2 * GIB
    c.m().delete_share_instance(c.ctx, inst)
    assert not c.pools.zfs().exists(c.dataset(inst))
    with pytest.raises(Exception, match="could not be found"):
        db.share_instance_get(c.ctx, inst)


def test_access_allow_deny_and_a_hostile_rule(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    inst = share.instance["id"]
    good = c.allow(share, "10.1.0.5")
    hostile = c.allow(share, "10.1.0.6,rw=*")
    cert = c.allow(share, "someone", access_type="cert")
    states = c.rule_states(inst)
    assert states[good] == "active"
    assert states[hostile] == "error" and states[cert] == "error"
    sharenfs = c.pools.zfs().get(c.dataset(inst), "sharenfs").raw("sharenfs")
    assert "10.1.0.5" in sharenfs and "*" not in sharenfs and "10.1.0.6" not in sharenfs
    c.deny(share, good)
    assert good not in c.rule_states(inst)
    assert c.pools.zfs().get(c.dataset(inst), "sharenfs").raw("sharenfs") == "off"
    assert c.share(share["id"]).instance["access_rules_status"] == "error"  # the hostile rule stays in error


def test_snapshot_and_share_from_snapshot(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    c.pools.write(c.dataset(share.instance["id"]), 1 << 20)
    snap = c.create_snapshot(share)
    assert snap["status"] == "available"
    assert snap.instance["provider_location"].startswith(c.dataset(share.instance["id"]) + "@")
    copy = c.create_share(size=2, snapshot_id=snap["id"])
    assert copy["status"] == "available"
    assert quota(c, c.dataset(copy.instance["id"])) == 2 * GIB
    assert c.paths(copy.instance["id"])[0][0].endswith(c.dataset(copy.instance["id"]).split("/", 1)[1])
    c.m().delete_snapshot(c.ctx, snap["id"])
    with pytest.raises(Exception, match="could not be found"):
        c.snapshot(snap["id"])


@pytest.mark.parametrize(("size", "changed"), [(1, 2), (3, 2)])
def test_revert_after_a_resize_records_and_sets_the_snapshot_size(cloud: Cloud, size: int, changed: int) -> None:
    c = cloud
    share = c.create_share(size=size)
    dataset = c.dataset(share.instance["id"])
    snap = c.create_snapshot(share)
    if changed > size:
        c.m().extend_share(c.ctx, share["id"], changed, [])
    else:
        c.m().shrink_share(c.ctx, share["id"], changed)
    assert c.share(share["id"])["size"] == changed and quota(c, dataset) == changed * GIB
    db.share_update(c.ctx, share["id"], {"status": "reverting"})
    c.m().revert_to_snapshot(c.ctx, snap["id"], [])
    after = c.share(share["id"])
    assert after["status"] == "available" and after["size"] == size
    assert quota(c, dataset) == size * GIB


def test_shrink_below_used_is_refused_and_nothing_changes(fake_cloud: Cloud) -> None:
    c = fake_cloud
    share = c.create_share(size=3)
    dataset = c.dataset(share.instance["id"])
    c.pools.write(dataset, 3 * GIB // 2)
    with pytest.raises(exception.ShareShrinkingError, match="possible data loss"):
        c.m().shrink_share(c.ctx, share["id"], 1)
    after = c.share(share["id"])
    assert after["status"] == "available" and after["size"] == 3  # manila keeps the share usable
    assert quota(c, dataset) == 3 * GIB
    c.m().shrink_share(c.ctx, share["id"], 2)
    assert c.share(share["id"])["size"] == 2 and quota(c, dataset) == 2 * GIB


def test_manage_unmanage_and_bad_size_options(cloud: Cloud) -> None:
    c = cloud
    zfs = c.pools.zfs()
    legacy = f"{c.root['A']}/legacy"
    zfs.create_dataset(legacy)
    c.pools.write(legacy, 1 << 20)
    mountpoint = zfs.get(legacy, "mountpoint").raw("mountpoint")
    for bad in ("abc", "1.5", "²", 2.7):
        share = db_utils.create_share(host=c.pool_host("A"), size=0, share_type_id=c.share_type["id"],
                                      status="manage_starting")
        db.export_locations_update(c.ctx, share.instance["id"], [f"10.9.9.9:{mountpoint}"])
        with pytest.raises(exception.ManageInvalidShare, match="whole number"):
            c.m().manage_share(c.ctx, share["id"], {"size": bad})
        assert c.share(share["id"])["status"] == "manage_error", bad
        assert zfs.exists(legacy), bad
    share = db_utils.create_share(host=c.pool_host("A"), size=0, share_type_id=c.share_type["id"],
                                  status="manage_starting")
    db.export_locations_update(c.ctx, share.instance["id"], [f"10.9.9.9:{mountpoint}"])
    c.m().manage_share(c.ctx, share["id"], {})
    managed = c.share(share["id"])
    assert managed["status"] == "available" and managed["size"] == 1
    dataset = c.dataset(share.instance["id"])
    assert zfs.exists(dataset) and not zfs.exists(legacy) and quota(c, dataset) == GIB
    c.m().unmanage_share(c.ctx, share["id"])
    assert zfs.exists(dataset)


def test_restart_with_a_new_prefix_and_export_ip_keeps_every_share(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    inst = share.instance["id"]
    c.start("A", zfs_dataset_name_prefix="renamed_", zfs_share_export_ip="10.0.1.9")
    after = c.share(share["id"])
    assert after["status"] == "available"
    assert next(p for p, admin in c.paths(inst) if not admin).startswith("10.0.1.9:")  # ensure_shares ran
    c.m().extend_share(c.ctx, share["id"], 2, [])
    assert c.share(share["id"])["size"] == 2 and quota(c, c.dataset(inst)) == 2 * GIB


def test_restart_reports_a_vanished_share_in_error(cloud: Cloud) -> None:
    c = cloud
    keep, lost = c.create_share(), c.create_share()
    c.pools.zfs().destroy(c.dataset(lost.instance["id"]), recursive=True)
    c.start("A", zfs_share_export_ip="10.0.1.8")  # new backend info: the manager calls ensure_shares
    assert c.share(keep["id"])["status"] == "available"
    assert c.share(lost["id"])["status"] == "error"


def test_stats_report_exactly_the_export_ip_versions(cloud: Cloud) -> None:
    c = cloud
    stats = c.m().driver.get_share_stats(refresh=True)
    assert stats["ipv4_support"] is True and stats["ipv6_support"] is False
    assert stats["revert_to_snapshot_support"] is True and stats["replication_type"] == "readable"
    both = c.start("A", zfs_share_export_ips=["fd00::1"])
    stats = both.driver.get_share_stats(refresh=True)
    fuse = c.pools.kind.endswith("zfs-fuse")
    assert stats["ipv4_support"] is True and stats["ipv6_support"] is (not fuse)


def _replicate(c: Cloud) -> tuple[Any, Any]:
    share = c.create_share()
    replica = db_utils.create_share_replica(share_id=share["id"], host=c.pool_host("B"), status="creating",
                                            replica_state="out_of_sync", share_type_id=c.share_type["id"])
    c.m("B").create_share_replica(c.ctx, replica["id"], share_id=share["id"])
    return share, db.share_replica_get(c.ctx, replica["id"])


def test_replica_create_update_promote(cloud: Cloud) -> None:
    c = cloud
    share, replica = _replicate(c)
    assert replica["status"] == "available" and replica["replica_state"] == "in_sync"
    b_ds = c.dataset(replica["id"], "B")
    assert c.pools.read_only(b_ds)
    c.pools.write(c.dataset(share.instance["id"]), 1 << 20)
    c.m("B").update_share_replica(c.ctx, replica["id"], share_id=share["id"])
    assert db.share_replica_get(c.ctx, replica["id"])["replica_state"] == "in_sync"
    c.m("B").promote_share_replica(c.ctx, replica["id"], share_id=share["id"])
    promoted = db.share_replica_get(c.ctx, replica["id"])
    old = db.share_replica_get(c.ctx, share.instance["id"])
    assert promoted["replica_state"] == "active" and old["replica_state"] == "in_sync"
    assert not c.pools.read_only(b_ds)
    assert c.pools.read_only(c.dataset(share.instance["id"]))


def test_replica_reports_per_rule_states(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    ok = c.allow(share, "10.1.0.5")
    bad = c.allow(share, "someone", access_type="cert")
    replica = db_utils.create_share_replica(share_id=share["id"], host=c.pool_host("B"), status="creating",
                                            replica_state="out_of_sync", share_type_id=c.share_type["id"])
    c.m("B").create_share_replica(c.ctx, replica["id"], share_id=share["id"])
    states = c.rule_states(replica["id"])
    assert states[ok] == "active" and states[bad] == "error"


def test_revert_of_a_replicated_share(cloud: Cloud) -> None:
    c = cloud
    share, replica = _replicate(c)
    snap = db_utils.create_snapshot(share_id=share["id"], size=1, status="creating")
    db_utils.create_snapshot_instance(snap["id"], share_instance_id=replica["id"], status="creating")
    c.m("A").create_replicated_snapshot(c.ctx, snap["id"], share_id=share["id"])
    snap = c.snapshot(snap["id"])
    assert {i["status"] for i in snap.instances} == {"available"}
    c.pools.write(c.dataset(share.instance["id"]), 1 << 20)
    c.m("B").update_share_replica(c.ctx, replica["id"], share_id=share["id"])  # newer replication snapshots
    db.share_update(c.ctx, share["id"], {"status": "reverting"})
    c.m("A").revert_to_snapshot(c.ctx, snap["id"], [])
    after = c.share(share["id"])
    assert after["status"] == "available", after["status"]
    assert after["size"] == 1


def test_delete_of_a_vanished_share_succeeds(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    c.pools.zfs().destroy(c.dataset(share.instance["id"]), recursive=True)
    c.m().delete_share_instance(c.ctx, share.instance["id"])
    with pytest.raises(Exception, match="could not be found"):
        db.share_instance_get(c.ctx, share.instance["id"])
    with pytest.raises(DatasetNotFound):
        ZFS(c.pools.executors["10.0.1.2"]).get(c.dataset(share.instance["id"]), "type")


def test_driver_assisted_migration(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    src = share.instance["id"]
    c.pools.write(c.dataset(src), 1 << 20)
    db.share_instance_update(c.ctx, src, {"status": "migrating"})
    db.share_update(c.ctx, share["id"], {"task_state": "migration_starting"})
    c.m("B")  # the destination backend is running
    c.m("A").migration_start(c.ctx, share["id"], c.pool_host("B"), False, True, False, False, False,
                             new_share_type_id=c.share_type["id"])
    dest = next(i for i in c.share(share["id"]).instances if i["id"] != src)
    assert 0 <= c.m("A").migration_get_progress(c.ctx, src, dest["id"])["total_progress"] <= 100
    deadline = time.monotonic() + 60
    while c.share(share["id"])["task_state"] != "migration_driver_phase1_done":
        assert time.monotonic() < deadline, c.share(share["id"])["task_state"]
        c.m("A").migration_driver_continue(c.ctx)
        time.sleep(0.05)
    c.m("A").migration_complete(c.ctx, src, dest["id"])
    after = c.share(share["id"])
    assert after["task_state"] == "migration_success" and after["status"] == "available"
    assert after.instance["id"] == dest["id"]
    assert next(p for p, admin in c.paths(dest["id"]) if not admin).startswith("10.0.2.1:")
    assert c.pools.zfs(c.addr["B"][1]).exists(c.dataset(dest["id"], "B"))
    assert not c.pools.zfs().exists(c.dataset(src))


def test_delete_of_a_vanished_share_removes_its_exportfs_export(fake_cloud: Cloud) -> None:
    c = fake_cloud
    c.start("A", zfs_share_helpers={"NFS": "exportfs"})
    share = c.create_share()
    dataset = c.dataset(share.instance["id"])
    c.allow(share, "10.1.0.5")
    fake = c.pools.executors["10.0.1.2"].host  # type: ignore[attr-defined]
    assert [e.path for e in fake.exports.entries()] == [f"/{dataset}"]
    fake.datasets.pop(dataset)  # gone behind manila's back
    c.m().delete_share_instance(c.ctx, share.instance["id"])
    with pytest.raises(Exception, match="could not be found"):
        db.share_instance_get(c.ctx, share.instance["id"])
    assert fake.exports.entries() == []


def _backup(c: Cloud, share: Any) -> Any:
    from manila.common import constants

    backup = db_utils.create_backup(share["id"], host=c.host("A"), topic="manila-share", status="creating")
    db.share_update(c.ctx, share["id"], {"status": constants.STATUS_BACKUP_CREATING})
    c.m("A").create_backup(c.ctx, backup)
    c.m("A").create_backup_continue(c.ctx)
    done = db.share_backup_get(c.ctx, backup["id"])
    assert (done["status"], done["progress"]) == ("available", "100")
    assert c.share(share["id"])["status"] == "available"
    return done


def _restore(c: Cloud, backup: Any, share: Any) -> None:
    db.share_update(c.ctx, share["id"], {"status": "backup_restoring", "source_backup_id": backup["id"]})
    db.share_backup_update(c.ctx, backup["id"], {"status": "restoring"})
    c.m("A").restore_backup(c.ctx, db.share_backup_get(c.ctx, backup["id"]), share["id"])
    c.m("A").restore_backup_continue(c.ctx)
    assert c.share(share["id"])["status"] == "available"
    assert db.share_backup_get(c.ctx, backup["id"])["status"] == "available"


def test_backups_incremental_and_restores_byte_exact(cloud: Cloud) -> None:
    c = cloud
    target = f"{c.root['B']}/backups"
    c.pools.zfs(c.addr["B"][1]).create_dataset(target)
    c.start("A", zfs_backup_dataset=target, zfs_backup_service_ip=c.addr["B"][1])
    share = c.create_share()
    dataset = c.dataset(share.instance["id"])
    c.pools.write(dataset, 1 << 20)
    first = _backup(c, share)
    before = c.pools.content(dataset)
    c.pools.write(dataset, 1 << 20)
    second = _backup(c, share)
    after = c.pools.content(dataset)
    assert before != after
    chain = f"{target}/manila_share_{share.instance['id'].replace('-', '_')}"
    zb = c.pools.zfs(c.addr["B"][1])
    assert [s.snapname for s in zb.snapshots(chain)] == [
        f"manila_backup_{first['id'].replace('-', '_')}", f"manila_backup_{second['id'].replace('-', '_')}"]
    # Into a new share: receive and swap.
    other = c.create_share(size=2)
    _restore(c, second, other)
    assert c.pools.content(c.dataset(other.instance["id"])) == after
    assert quota(c, c.dataset(other.instance["id"])) == 2 * GIB
    # Into the original share: rollback.
    _restore(c, first, share)
    assert c.pools.content(dataset) == before
    c.m("A").delete_backup(c.ctx, db.share_backup_get(c.ctx, second["id"]))
    c.m("A").delete_backup(c.ctx, db.share_backup_get(c.ctx, first["id"]))
    assert not zb.exists(chain)


def test_usage_sizes_reach_the_manager_from_one_command(cloud: Cloud) -> None:
    from manila.tests import fake_notifier

    c = cloud
    big, small = c.create_share(), c.create_share()
    c.pools.write(c.dataset(big.instance["id"]), 2 << 20)
    fake_notifier.reset()
    c.m().update_share_usage_size(c.ctx)
    used = {n["payload"]["share_id"]: n["payload"]["used_size"] for n in fake_notifier.NOTIFICATIONS
            if n["event_type"].endswith("consumed.size")}
    assert set(used) == {big["id"], small["id"]}
    assert used[big["id"]] > used[small["id"]] >= 0


def test_get_share_status_reports_what_is_on_the_host(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    driver = c.m().driver
    inst = c.m()._get_share_instance_dict(c.ctx, c.instance(share.instance["id"]))
    got = driver.get_share_status(inst)
    assert got["status"] == "available" and got["export_locations"][0]["path"].startswith("10.0.1.1:")
    c.pools.zfs().destroy(c.dataset(share.instance["id"]), recursive=True)
    assert driver.get_share_status(inst) == {"status": "error"}


def test_promote_that_cannot_make_the_new_active_writable_keeps_the_roles(fake_cloud: Cloud) -> None:
    c = fake_cloud
    inner = c.pools.executors[c.addr["B"][1]]

    failing = RecordingExecutor(inner)  # B's executor, whose every `zfs set readonly=off` fails
    failing.intercept(lambda argv: argv[:2] == ("zfs", "set") and "readonly=off" in argv,
                      lambda argv, _inner: Result(argv, 1, "", "cannot set property: injected failure\n"))
    c.pools.executors[c.addr["B"][1]] = failing
    share, replica = _replicate(c)
    with pytest.raises(exception.ReplicationException, match="writable"):
        c.m("B").promote_share_replica(c.ctx, replica["id"], share_id=share["id"])
    assert db.share_replica_get(c.ctx, share.instance["id"])["replica_state"] == "active"
    assert db.share_replica_get(c.ctx, replica["id"])["replica_state"] != "active"
    assert not c.pools.read_only(c.dataset(share.instance["id"]))  # the old active is writable again
    assert c.pools.read_only(c.dataset(replica["id"], "B"))


def test_metadata_updates_properties_and_the_manager_records_the_outcome(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share()
    c.m().update_share_from_metadata(c.ctx, share["id"], {"zfs:compression": "gzip", "note": "x"})
    assert c.pools.zfs().get(c.dataset(share.instance["id"]), "compression").raw("compression") == "gzip"
    c.m().update_share_from_metadata(c.ctx, share["id"], {"zfs:atime": "sometimes"})
    messages = db.message_get_all(c.ctx, sort_key="created_at", sort_dir="asc")
    details = [m["detail_id"] for m in messages if m["resource_id"] == share["id"]]
    from manila.message import message_field

    assert sorted(details) == sorted([message_field.Detail.UPDATE_METADATA_SUCCESS[0],
                                      message_field.Detail.UPDATE_METADATA_FAILURE[0]])
    assert c.pools.zfs().get(c.dataset(share.instance["id"]), "atime").value("atime") is not None


def test_group_snapshot_is_recorded_per_member(cloud: Cloud) -> None:
    c = cloud
    gtype = db_utils.create_share_group_type(name=f"g-{c.names['A']}", share_types=[c.share_type["id"]])
    group = db_utils.create_share_group(host=c.pool_host("A"), share_group_type_id=gtype["id"],
                                        share_types=[c.share_type["id"]])
    db.share_group_update(c.ctx, group["id"], {"status": "available"})  # the driver keeps no group state
    shares = [c.create_share(share_group_id=group["id"]) for _ in range(2)]
    for s in shares:
        c.pools.write(c.dataset(s.instance["id"]), 1 << 20)
    gsnap = db_utils.create_share_group_snapshot(group["id"])
    members = [db_utils.create_share_group_snapshot_member(gsnap["id"], share_instance_id=s.instance["id"],
                                                           size=s["size"]) for s in shares]
    c.m().create_share_group_snapshot(c.ctx, gsnap["id"])
    done = db.share_group_snapshot_get(c.ctx, gsnap["id"])
    assert done["status"] == "available"
    tag = f"manila_share_snapshot_{gsnap['id'].replace('-', '_')}"
    recorded = {m["id"]: m for m in db.share_group_snapshot_members_get_all(c.ctx, gsnap["id"])}
    for s, m in zip(shares, members, strict=True):
        member = recorded[m["id"]]
        assert member["provider_location"] == f"{c.dataset(s.instance['id'])}@{tag}"
        assert c.pools.zfs().exists(member["provider_location"])
    stats = c.m().driver.get_share_stats(refresh=True)
    fuse = c.pools.kind.endswith("zfs-fuse")
    assert stats["share_group_stats"]["consistent_snapshot_support"] == (None if fuse else "pool")
    # A new group from the group snapshot: one share per member, with the member's content.
    copy = db_utils.create_share_group(host=c.pool_host("A"), share_group_type_id=gtype["id"],
                                       share_types=[c.share_type["id"]], source_share_group_snapshot_id=gsnap["id"])
    clones = [db_utils.create_share(host=c.pool_host("A"), size=1, share_type_id=c.share_type["id"],
                                    share_group_id=copy["id"], source_share_group_snapshot_member_id=m["id"])
              for m in members]
    c.m().create_share_group(c.ctx, copy["id"])
    assert db.share_group_get(c.ctx, copy["id"])["status"] == "available"
    for clone, s in zip(clones, shares, strict=True):
        got = c.share(clone["id"])
        assert got["status"] == "available" and c.paths(got.instance["id"])
        assert c.pools.content(c.dataset(got.instance["id"])) == c.pools.content(c.dataset(s.instance["id"]))


def test_mountable_snapshot_export_locations_and_access(cloud: Cloud) -> None:
    c = cloud
    share = c.create_share(mount_snapshot_support=True)
    c.pools.write(c.dataset(share.instance["id"]), 1 << 20)
    snap = c.create_snapshot(share)
    assert snap["status"] == "available"
    locations = db.share_snapshot_instance_export_locations_get_all(c.ctx, snap.instance["id"])
    mount = f"{c.root['A']}/manila_share_snapshot_{snap.instance['id'].replace('-', '_')}"
    assert [loc["path"].split(":", 1)[0] for loc in locations if not loc["is_admin_only"]] == ["10.0.1.1"]
    assert c.pools.read_only(mount)
    assert c.pools.content(mount) == c.pools.content(c.dataset(share.instance["id"]))
    rule = db_utils.create_snapshot_access(share_snapshot_id=snap["id"], access_type="ip",
                                           access_to="10.1.0.5")
    c.m().snapshot_update_access(c.ctx, snap.instance["id"])
    rules = db.share_snapshot_access_get_all_for_snapshot_instance(c.ctx, snap.instance["id"])
    state = {r["access_id"] if "access_id" in r else r["id"]: r["state"] for r in rules}.get(rule["id"])
    assert state == "active"
    assert "10.1.0.5" in (c.pools.zfs().get(mount, "sharenfs").raw("sharenfs") or "")
    c.m().delete_snapshot(c.ctx, snap["id"])
    assert not c.pools.zfs().exists(mount)
    assert c.pools.zfs().snapshots(c.dataset(share.instance["id"])) == []
