"""The share service on the fake host, without Manila: every operation, its errors and its fixes.

Nothing here imports ``manila``; ``test_the_package_imports_without_manila`` proves the package itself does not.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import ZFSError
from pyzfsnas.shares import (
    ConfigError,
    InvalidRequest,
    ManageRefused,
    MemoryStore,
    Options,
    ReplicationError,
    Rule,
    ShareNotFound,
    ShareRef,
    ShareService,
    ShrinkWouldLoseData,
    Site,
    SnapshotNotFound,
    SnapshotRef,
    layout_from_options,
    whole_gib,
)
from pyzfsnas.shares.layout import ExportLocation
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

GIB = 1 << 30

BASE = {"zfs_zpool_list": ["tank"], "zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2",
        "zfs_dataset_name_prefix": "manila_share_", "zfs_dataset_snapshot_name_prefix": "manila_share_snapshot_",
        "zfs_share_helpers": {"NFS": "auto"}}


def build(host: FakeHost, name: str = "A", store: MemoryStore | None = None,
          peers: Callable[[str], Site] | None = None, **options: Any) -> ShareService:
    """A set-up service for backend ``name`` on ``host`` with upstream-named ``options``."""
    get = {**BASE, **options}.get
    opts = Options.from_options(get)
    svc = ShareService(Site(name, ZFS(FakeExecutor(host)), layout_from_options(get), opts.helper), opts,
                       store or MemoryStore(), peers)
    svc.setup()
    return svc


@pytest.fixture
def host() -> FakeHost:
    h = FakeHost("openzfs", name="h1")
    h.create_pool("tank", size=64 * GIB)
    return h


@pytest.fixture
def svc(host: FakeHost) -> ShareService:
    return build(host)


def ref(sid: str, size: Any = 1, **kw: Any) -> ShareRef:
    return ShareRef(id=sid, backend=kw.pop("backend", "A"), pool=kw.pop("pool", "tank"), size=size, **kw)


def props(host: FakeHost, name: str, *names: str) -> Any:
    return ZFS(FakeExecutor(host)).get(name, *names)


def test_the_package_imports_without_manila() -> None:
    code = ("import sys; sys.modules['manila'] = None; sys.modules['oslo_config'] = None\n"
            "import pyzfsnas.shares, pyzfsnas.shares.service\n"
            "assert not [m for m, v in sys.modules.items() if v and m.startswith(('manila', 'oslo_'))]\n")
    src = Path(__file__).resolve().parents[2] / "src"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(src)})


def test_create_share_is_one_command_with_export_locations(svc: ShareService, host: FakeHost) -> None:
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    locations = svc.create_share(ref("aa-bb", 2))
    assert [c[:2] for c in ex.commands] == [("zfs", "create")]
    assert locations == [ExportLocation("10.0.0.1:/tank/manila_share_aa_bb", False),
                         ExportLocation("10.0.0.2:/tank/manila_share_aa_bb", True)]
    got = props(host, "tank/manila_share_aa_bb", "quota", "readonly", "sharenfs")
    assert got.value("quota") == 2 * GIB and got.value("readonly") is False and got.raw("sharenfs") == "off"
    assert svc.store.get("aa-bb", "dataset_name") == "tank/manila_share_aa_bb"


@pytest.mark.parametrize("good", [1, 3, "4", " 5 ", "06"])
def test_whole_gib_accepts_whole_numbers(good: Any) -> None:
    assert whole_gib(good) == int(str(good).strip())


@pytest.mark.parametrize("bad", ["abc", "1.5", "²", "\u0661", "", "0", 0, -1, 2.7, 1.5, 2.0, 2.5e30, True, None, [1]])
def test_bad_sizes_are_typed_errors_before_any_command(svc: ShareService, bad: Any) -> None:
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    with pytest.raises(InvalidRequest, match="whole number"):
        svc.create_share(ref("s-bad", bad))
    with pytest.raises(InvalidRequest, match="whole number"):
        svc.resize(ref("s-bad"), bad)
    assert ex.commands == []


@pytest.mark.parametrize("bad", ["abc", "1.5", "²", 2.7, 0])
def test_manage_with_a_bad_size_option_is_refused_before_any_command(svc: ShareService, bad: Any) -> None:
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    with pytest.raises(ManageRefused, match="whole number"):
        svc.manage(ref("m-bad"), "10.0.0.9:/tank/legacy", bad)
    assert ex.commands == []


def test_shrink_below_used_changes_nothing(svc: ShareService, host: FakeHost) -> None:
    svc.create_share(ref("s1", 3))
    host.write("tank/manila_share_s1", 2 * GIB)
    with pytest.raises(ShrinkWouldLoseData):
        svc.resize(ref("s1", 3), 1)
    assert props(host, "tank/manila_share_s1", "quota").value("quota") == 3 * GIB
    svc.resize(ref("s1", 3), 5)
    assert props(host, "tank/manila_share_s1", "quota").value("quota") == 5 * GIB


def test_resize_of_a_missing_share_is_share_not_found(svc: ShareService) -> None:
    with pytest.raises(ShareNotFound):
        svc.resize(ref("ghost"), 2)


def test_update_access_applies_good_rules_and_names_bad_ones(svc: ShareService, host: FakeHost) -> None:
    svc.create_share(ref("s2"))
    rules = [Rule("r1", "ip", "10.1.0.5", "rw"), Rule("r2", "ip", "10.2.0.0/24", "ro"),
             Rule("evil", "ip", "10.0.0.1,rw=*", "rw"), Rule("u", "user", "bob", "rw")]
    rejected = svc.update_access(ref("s2"), rules)
    assert set(rejected) == {"evil", "u"}
    sharenfs = props(host, "tank/manila_share_s2", "sharenfs").raw("sharenfs")
    assert "10.1.0.5" in sharenfs and "10.2.0.0" in sharenfs and "*" not in sharenfs
    assert svc.update_access(ref("s2"), []) == {}
    assert props(host, "tank/manila_share_s2", "sharenfs").raw("sharenfs") == "off"


def _snap(share: ShareRef, sid: str, size: Any = 1) -> SnapshotRef:
    return SnapshotRef(id=sid, snapshot_id="snap-" + sid, share=share, size=size)


def test_snapshot_share_from_snapshot_and_delete(svc: ShareService, host: FakeHost) -> None:
    src = ref("src")
    svc.create_share(src)
    host.write("tank/manila_share_src", 4 << 20)
    name = svc.create_snapshot(_snap(src, "n1"))
    assert name == "tank/manila_share_src@manila_share_snapshot_n1"
    locations = svc.create_share_from_snapshot(ref("copy", 2), _snap(src, "n1"))
    assert locations[0].path == "10.0.0.1:/tank/manila_share_copy"
    z = ZFS(FakeExecutor(host))
    assert z.get("tank/manila_share_copy", "quota").value("quota") == 2 * GIB
    assert z.snapshots("tank/manila_share_copy") == []  # independent: no snapshot carried over
    svc.delete_snapshot(_snap(src, "n1"))
    svc.delete_share(src)
    assert not z.exists("tank/manila_share_src") and z.exists("tank/manila_share_copy")
    svc.delete_share(src)  # absent: not an error


@pytest.mark.parametrize(("start", "changed"), [(1, 2), (3, 2)])
def test_revert_sets_the_quota_to_the_snapshot_size(svc: ShareService, host: FakeHost, start: int,
                                                    changed: int) -> None:
    share = ref("rv", start)
    svc.create_share(share)
    svc.create_snapshot(_snap(share, "r1", start))
    svc.resize(share, changed)
    svc.revert_to_snapshot(_snap(share, "r1", start), start)
    assert props(host, "tank/manila_share_rv", "quota").value("quota") == start * GIB


def test_ensure_shares_uses_the_recorded_name_after_a_prefix_change(host: FakeHost) -> None:
    store = MemoryStore()
    old = build(host, store=store)
    old.create_share(ref("keep"))
    new = build(host, store=store, zfs_dataset_name_prefix="renamed_")
    assert "dataset_prefix" not in new.backend_info()
    states = new.ensure_shares([ref("keep"), ref("absent")])
    assert states["keep"].status == "available"
    assert states["keep"].locations[0].path == "10.0.0.1:/tank/manila_share_keep"
    assert states["absent"].status == "error"


def test_manage_rolls_back_the_rename_when_a_later_step_fails(svc: ShareService, host: FakeHost) -> None:
    z = ZFS(FakeExecutor(host))
    z.create_dataset("tank/legacy")
    host.write("tank/legacy", 3 * GIB // 2)
    host.fail_command(3)  # get used,type; rename; set  <- fails
    with pytest.raises(Exception, match="injected"):
        svc.manage(ref("mg"), "10.9.9.9:/tank/legacy")
    assert z.exists("tank/legacy") and not z.exists("tank/manila_share_mg")
    assert svc.store.get("mg", "dataset_name") is None
    size, locations = svc.manage(ref("mg"), "10.9.9.9:/tank/legacy")
    assert size == 2 and locations[0].path == "10.0.0.1:/tank/manila_share_mg"
    assert z.get("tank/manila_share_mg", "quota").value("quota") == 2 * GIB


def test_manage_refuses_datasets_outside_the_roots(svc: ShareService, host: FakeHost) -> None:
    ZFS(FakeExecutor(host)).create_dataset("tank/deep")
    ZFS(FakeExecutor(host)).create_dataset("tank/deep/x")
    for path in ("10.9.9.9:/tank", "10.9.9.9:/other/x", "10.9.9.9:/tank/nothing", "10.9.9.9:/tank/deep/x"):
        with pytest.raises(ManageRefused):
            svc.manage(ref("m2"), path)


@pytest.mark.parametrize(("flavour", "ips", "versions"), [
    ("openzfs", ["10.0.0.1"], [4]),
    ("openzfs", ["fd00::1"], [6]),
    ("openzfs", ["10.0.0.1", "fd00::1"], [4, 6]),
    ("zfs-fuse", ["10.0.0.1", "fd00::1"], [4]),
    ("zfs-fuse", ["fd00::1"], []),
    ("openzfs", ["localhost"], None),
])
def test_ip_versions_are_exactly_what_the_export_locations_offer(flavour: str, ips: list[str],
                                                                 versions: list[int] | None) -> None:
    h = FakeHost(flavour, name="v")  # type: ignore[arg-type]
    h.create_pool("tank")
    svc = build(h, zfs_share_export_ip=ips[0], zfs_share_export_ips=ips[1:])
    got = svc.ip_versions()
    if versions is None:  # a host name: resolved
        assert got and set(got) <= {4, 6}
    else:
        assert got == versions
    locations = svc.create_share(ref("v1"))
    assert [loc.path.rsplit(":", 1)[0] for loc in locations if not loc.admin] == [
        f"[{ip}]" if ":" in ip else ip for ip in ips]


@pytest.mark.parametrize("address", ["nfs.example.org", "storage-1", "192.0.2.7", "2001:db8::5"])
def test_export_and_service_addresses_may_be_host_names(host: FakeHost, address: str) -> None:
    svc = build(host, zfs_share_export_ip=address, zfs_service_ip=address)
    assert svc.create_share(ref("hn"))[0].path.endswith(":/tank/manila_share_hn")


@pytest.mark.parametrize("bad", ["", "not an address", "a..b", "-x.org", "x" * 64])
def test_bad_addresses_are_config_errors(host: FakeHost, bad: str) -> None:
    with pytest.raises(ConfigError):
        build(host, zfs_share_export_ip=bad)


def test_delete_of_a_vanished_dataset_still_removes_its_exportfs_export(host: FakeHost) -> None:
    svc = build(host, zfs_share_helpers={"NFS": "exportfs"})
    svc.create_share(ref("gone"))
    svc.update_access(ref("gone"), [Rule("r", "ip", "10.1.0.5", "rw")])
    assert [e.path for e in host.exports.entries()] == ["/tank/manila_share_gone"]
    host.datasets.pop("tank/manila_share_gone")  # vanished behind the service's back
    svc.delete_share(ref("gone"))
    assert host.exports.entries() == []


def test_usage_of_all_shares_in_one_command(svc: ShareService, host: FakeHost) -> None:
    svc.create_share(ref("u1"))
    svc.create_share(ref("u2"))
    host.write("tank/manila_share_u1", 8 << 20)
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    used = svc.usage([ref("u1"), ref("u2"), ref("missing")])
    assert len(ex.commands) == 1
    assert set(used) == {"u1", "u2"} and used["u1"] >= 8 << 20 > used["u2"]


# -- two backends: replication and migration ----------------------------------------------------------------


@pytest.fixture
def pair() -> tuple[ShareService, ShareService, FakeHost, FakeHost]:
    return make_pair("openzfs")


def make_pair(flavour: str) -> tuple[ShareService, ShareService, FakeHost, FakeHost]:
    """Backends A (pool tanka on host ha) and B (tankb on hb) of one replication domain, sharing a store."""
    ha, hb = FakeHost(flavour, name="ha"), FakeHost(flavour, name="hb")  # type: ignore[arg-type]
    ha.create_pool("tanka", size=8 * GIB)
    hb.create_pool("tankb", size=8 * GIB)
    store = MemoryStore()
    sites: dict[str, Callable[[], Site]] = {}

    def peers(name: str) -> Site:
        return sites[name]()

    a = build(ha, "A", store, peers, zfs_zpool_list=["tanka"], zfs_service_ip="10.0.1.2",
              zfs_share_export_ip="10.0.1.1", replication_domain="d")
    b = build(hb, "B", store, peers, zfs_zpool_list=["tankb"], zfs_service_ip="10.0.2.2",
              zfs_share_export_ip="10.0.2.1", replication_domain="d")
    sites["A"] = lambda: Site("A", ZFS(FakeExecutor(ha)), a.site.layout)
    sites["B"] = lambda: Site("B", ZFS(FakeExecutor(hb)), b.site.layout)
    return a, b, ha, hb


def test_replica_reports_the_rules_it_could_not_apply(pair: Any) -> None:
    a, b, _ha, hb = pair
    active = ref("r-a", backend="A", pool="tanka", replica_state="active")
    a.create_share(active)
    new = ref("r-b", backend="B", pool="tankb", replica_state="out_of_sync")
    rules = [Rule("ok", "ip", "10.1.0.5", "rw"), Rule("v6", "ip", "fd00::5", "rw"), Rule("c", "cert", "x", "rw")]
    locations, rejected = b.create_replica([active, new], new, rules)
    assert set(rejected) == {"c"}  # kernel NFS takes the IPv6 rule
    assert locations[0].path == "10.0.2.1:/tankb/manila_share_r_b"
    assert props(hb, "tankb/manila_share_r_b", "readonly").value("readonly") is True


def test_promote_that_cannot_make_the_new_active_writable_gives_the_old_one_its_role_back(pair: Any) -> None:
    a, b, ha, hb = pair
    active = ref("p-a", backend="A", pool="tanka", replica_state="active")
    a.create_share(active)
    new = ref("p-b", backend="B", pool="tankb", replica_state="in_sync")
    b.create_replica([active, new], new, [])
    # On hb: the final incremental receive runs first, then `set readonly=off` — make that one fail.
    hb.fail_command(2)
    with pytest.raises(ReplicationError, match="writable"):
        b.promote_replica([active, new], new, [Rule("r", "ip", "10.1.0.5", "rw")])
    assert props(ha, "tanka/manila_share_p_a", "readonly").value("readonly") is False
    assert "10.1.0.5" in props(ha, "tanka/manila_share_p_a", "sharenfs").raw("sharenfs")
    assert props(hb, "tankb/manila_share_p_b", "readonly").value("readonly") is True


def test_revert_replicated_rolls_back_every_replica_past_replication_snapshots(pair: Any) -> None:
    a, b, ha, hb = pair
    active = ref("v-a", 1, backend="A", pool="tanka", replica_state="active")
    a.create_share(active)
    new = ref("v-b", 1, backend="B", pool="tankb", replica_state="in_sync")
    b.create_replica([active, new], new, [])
    snaps = [SnapshotRef("si-a", "snap-1", active, size=1), SnapshotRef("si-b", "snap-1", new, size=1)]
    a.create_replicated_snapshot([active, new], snaps)
    ha.write("tanka/manila_share_v_a", 5 << 20)
    a.resize(active, 2)
    assert b.sync_replica([active, new], new, None) == "in_sync"  # makes newer replication snapshots
    a.revert_replicated([active, new], snaps, 1)
    z_a, z_b = ZFS(FakeExecutor(ha)), ZFS(FakeExecutor(hb))
    assert z_a.get("tanka/manila_share_v_a", "quota").value("quota") == GIB
    assert [s.snapname for s in z_a.snapshots("tanka/manila_share_v_a")][-1] == "manila_share_snapshot_si_a"
    assert [s.snapname for s in z_b.snapshots("tankb/manila_share_v_b")][-1] == "manila_share_snapshot_si_a"
    # The next sync is incremental from the reverted state.
    assert b.sync_replica([active, new], new, None) == "in_sync"


def test_revert_replicated_refuses_when_a_user_snapshot_is_newer(pair: Any) -> None:
    a, b, _ha, _hb = pair
    active = ref("w-a", backend="A", pool="tanka", replica_state="active")
    a.create_share(active)
    new = ref("w-b", backend="B", pool="tankb", replica_state="in_sync")
    b.create_replica([active, new], new, [])
    first = [SnapshotRef("f-a", "snap-f", active), SnapshotRef("f-b", "snap-f", new)]
    second = [SnapshotRef("g-a", "snap-g", active), SnapshotRef("g-b", "snap-g", new)]
    a.create_replicated_snapshot([active, new], first)
    a.create_replicated_snapshot([active, new], second)
    with pytest.raises(ReplicationError, match="not the latest"):
        a.revert_replicated([active, new], first, 1)


def test_a_replicated_snapshot_being_deleted_is_destroyed_on_the_replica_then_reported_gone(pair: Any) -> None:
    a, b, _ha, hb = pair
    active = ref("d-a", backend="A", pool="tanka", replica_state="active")
    a.create_share(active)
    new = ref("d-b", backend="B", pool="tankb", replica_state="in_sync")
    b.create_replica([active, new], new, [])
    snaps = [SnapshotRef("e-a", "snap-e", active), SnapshotRef("e-b", "snap-e", new)]
    a.create_replicated_snapshot([active, new], snaps)
    name = "tankb/manila_share_d_b@manila_share_snapshot_e_a"
    assert ZFS(FakeExecutor(hb)).exists(name)
    gone = SnapshotRef("e-b", "snap-e", new, deleting=True)
    for _ in range(2):  # present: destroyed; then already absent: still reported gone
        with pytest.raises(SnapshotNotFound):
            b.update_replicated_snapshot([active, new], new, snaps, gone)
        assert not ZFS(FakeExecutor(hb)).exists(name)


@pytest.mark.parametrize("flavour", ["openzfs", "zfs-fuse"])
@pytest.mark.parametrize("restarted", [False, True])
def test_copies_get_the_destination_properties_on_every_flavour(flavour: str, restarted: bool) -> None:
    a, _b, ha, hb = make_pair(flavour)
    src = ref("pp-s", 1, backend="A", pool="tanka")
    a.create_share(src)
    ha.write("tanka/manila_share_pp_s", 1 << 20)
    a.create_snapshot(_snap(src, "pp-snap"))
    copy = ref("pp-c", 3, backend="A", pool="tanka")
    a.create_share_from_snapshot(copy, _snap(src, "pp-snap"))
    got = props(ha, "tanka/manila_share_pp_c", "quota", "readonly")
    assert (got.value("quota"), got.value("readonly")) == (3 * GIB, False)
    dst = ref("pp-d", 2, backend="B", pool="tankb")
    a.migration_start(src, dst)
    job = a._migrations[dst.id]
    assert job.thread is not None
    job.thread.join()
    if restarted:
        a._migrations.clear()  # what a restart of the process loses
    a.migration_complete(src, dst)
    got = props(hb, "tankb/manila_share_pp_d", "quota", "readonly")
    assert (got.value("quota"), got.value("readonly")) == (2 * GIB, False)


def test_migration_progress_after_a_restart_says_what_is_known(pair: Any) -> None:
    a, b, _ha, _hb = pair
    src = ref("mi-s", backend="A", pool="tanka")
    dst = ref("mi-d", backend="B", pool="tankb")
    a.create_share(src)
    a.migration_start(src, dst)
    assert a.migration_continue(src, dst) in (True, False)
    job = a._migrations[dst.id]
    assert job.thread is not None
    job.thread.join()
    a._migrations.clear()  # what a restart of the process loses
    assert a.migration_progress(src, dst) == {"total_progress": 100}
    b.delete_share(dst)  # the destination is gone: nothing is known to be copied
    assert a.migration_progress(src, dst)["total_progress"] == 0


# -- backups ------------------------------------------------------------------------------------------------


@pytest.fixture
def backups() -> tuple[ShareService, FakeHost, FakeHost, FakeExecutor]:
    """A service on ``h`` whose backups go to dataset ``bkp/manila`` on another host ``t``."""
    h, t = FakeHost("openzfs", name="h"), FakeHost("openzfs", name="t")
    h.create_pool("tank", size=8 * GIB)
    t.create_pool("bkp", size=8 * GIB)
    tex = FakeExecutor(t)
    ZFS(tex).create_dataset("bkp/manila")
    get = {**BASE, "zfs_backup_dataset": "bkp/manila", "zfs_backup_service_ip": "10.0.9.9"}.get
    opts = Options.from_options(get)
    svc = ShareService(Site("A", ZFS(FakeExecutor(h)), layout_from_options(get), opts.helper), opts,
                       MemoryStore(), None, {"10.0.9.9": ZFS(tex)}.__getitem__)
    svc.setup()
    return svc, h, t, tex


def test_backups_are_full_then_incremental_and_leave_the_source_alone(backups: Any) -> None:
    svc, h, _t, tex = backups
    share = ref("b1")
    svc.create_share(share)
    h.write("tank/manila_share_b1", 4 << 20)
    svc.create_backup(share, "k1")
    assert svc.backup_progress("k1") == 100
    h.write("tank/manila_share_b1", 2 << 20)
    tex.reset_transcript()
    svc.create_backup(share, "k2")
    receive = [c for c in tex.commands if c[:2] == ("zfs", "receive")]
    assert receive, tex.commands
    zt, zh = ZFS(tex), ZFS(FakeExecutor(h))
    assert [s.snapname for s in zt.snapshots("bkp/manila/manila_share_b1")] == ["manila_backup_k1", "manila_backup_k2"]
    assert zt.get("bkp/manila/manila_share_b1@manila_backup_k2", "written").value("written") < 4 << 20  # incr.
    assert [s.snapname for s in zh.snapshots("tank/manila_share_b1")] == ["manila_backup_k1", "manila_backup_k2"]
    assert zh.get("tank/manila_share_b1", "referenced").value("referenced") >= 6 << 20


def test_restore_into_the_original_share_rolls_back(backups: Any) -> None:
    svc, h, _t, _tex = backups
    share = ref("b2")
    svc.create_share(share)
    h.write("tank/manila_share_b2", 4 << 20)
    svc.create_backup(share, "k1")
    h.write("tank/manila_share_b2", 8 << 20)
    zh = ZFS(FakeExecutor(h))
    svc.restore_backup("k1", share)
    assert zh.get("tank/manila_share_b2", "referenced").value("referenced") < 8 << 20
    svc.create_snapshot(_snap(share, "user1"))
    with pytest.raises(Exception, match="newer than the backup"):
        svc.restore_backup("k1", share)


def test_restore_into_the_original_share_without_its_backup_snapshot_receives_it(backups: Any) -> None:
    svc, h, _t, _tex = backups
    share = ref("b7")
    svc.create_share(share)
    h.write("tank/manila_share_b7", 4 << 20)
    svc.create_backup(share, "k1")
    zh = ZFS(FakeExecutor(h))
    zh.destroy("tank/manila_share_b7@manila_backup_k1")  # gone from the share: no rollback possible
    h.write("tank/manila_share_b7", 8 << 20)
    svc.restore_backup("k1", share)
    assert zh.get("tank/manila_share_b7", "referenced").value("referenced") < 8 << 20
    assert zh.snapshots("tank/manila_share_b7") == []


def test_restore_into_a_new_share_swaps_the_content_in(backups: Any) -> None:
    svc, h, _t, _tex = backups
    share, other = ref("b3"), ref("b4", 2)
    svc.create_share(share)
    h.write("tank/manila_share_b3", 4 << 20)
    svc.create_backup(share, "k1")
    svc.create_share(other)
    svc.update_access(other, [Rule("r", "ip", "10.1.0.5", "rw")])
    svc.restore_backup("k1", other)
    zh = ZFS(FakeExecutor(h))
    got = zh.get("tank/manila_share_b4", "referenced", "quota", "sharenfs")
    assert got.value("referenced") >= 4 << 20 and got.value("quota") == 2 * GIB
    assert "10.1.0.5" in (got.raw("sharenfs") or "")
    assert zh.snapshots("tank/manila_share_b4") == []
    assert [d.name for d in zh.datasets("tank")] == ["tank", "tank/manila_share_b3", "tank/manila_share_b4"]


def test_delete_backup_removes_it_from_target_and_source(backups: Any) -> None:
    svc, h, _t, tex = backups
    share = ref("b5")
    svc.create_share(share)
    svc.create_backup(share, "k1")
    svc.delete_backup("k1", share)
    assert not ZFS(tex).exists("bkp/manila/manila_share_b5")
    assert ZFS(FakeExecutor(h)).snapshots("tank/manila_share_b5") == []
    svc.create_backup(share, "k2")  # a new chain, full
    assert ZFS(tex).exists("bkp/manila/manila_share_b5@manila_backup_k2")


def test_backups_without_a_target_are_unsupported(svc: ShareService) -> None:
    svc.create_share(ref("b6"))
    with pytest.raises(Exception, match="zfs_backup_dataset"):
        svc.create_backup(ref("b6"), "k")


def test_metadata_sets_documented_properties_in_one_command(svc: ShareService, host: FakeHost) -> None:
    svc.create_share(ref("md"))
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    applied = svc.apply_metadata(ref("md"), {"zfs:compression": "lz4", "zfs:recordsize": "64K",
                                              "zfs:atime": "off", "owner": "team-a"})
    assert applied == {"compression": "lz4", "recordsize": str(64 << 10), "atime": "off"}
    assert len(ex.commands) == 1
    got = props(host, "tank/manila_share_md", "compression", "recordsize", "atime")
    assert (got.raw("compression"), got.value("recordsize"), got.value("atime")) == ("lz4", 64 << 10, False)
    assert svc.apply_metadata(ref("md"), {"owner": "x"}) == {}


@pytest.mark.parametrize("bad", [{"zfs:compression": "lz4; rm -rf /"}, {"zfs:atime": "maybe"},
                                 {"zfs:recordsize": "lots"}, {"zfs:quota": "1G"}, {"zfs:sharenfs": "on"}])
def test_bad_metadata_is_refused_before_any_command(svc: ShareService, bad: dict[str, str]) -> None:
    svc.create_share(ref("md2"))
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    with pytest.raises(InvalidRequest):
        svc.apply_metadata(ref("md2"), bad)
    assert ex.commands == []


# -- share groups -------------------------------------------------------------------------------------------


def test_group_snapshot_is_one_atomic_command_on_openzfs(svc: ShareService) -> None:
    shares = [ref(f"g{i}") for i in range(3)]
    for s in shares:
        svc.create_share(s)
    ex = svc.site.zfs.executor
    assert isinstance(ex, FakeExecutor)
    ex.reset_transcript()
    names = svc.create_group_snapshot("gs-1", [_snap(s, f"m{i}") for i, s in enumerate(shares)])
    assert ex.commands == [("zfs", "snapshot", *(f"tank/manila_share_g{i}@manila_share_snapshot_gs_1"
                                                   for i in range(3)))]
    assert names == {f"m{i}": f"tank/manila_share_g{i}@manila_share_snapshot_gs_1" for i in range(3)}


def test_group_snapshot_on_zfs_fuse_undoes_what_it_made_when_one_fails() -> None:
    h = FakeHost("zfs-fuse", name="gf")
    h.create_pool("tank")
    svc = build(h)
    assert not svc.consistent_group_snapshots()
    shares = [ref(f"f{i}") for i in range(3)]
    for s in shares:
        svc.create_share(s)
    h.fail_command(3)
    with pytest.raises(Exception, match="injected"):
        svc.create_group_snapshot("gs-2", [_snap(s, f"m{i}") for i, s in enumerate(shares)])
    z = ZFS(FakeExecutor(h))
    assert all(z.snapshots(f"tank/manila_share_f{i}") == [] for i in range(3))
    names = svc.create_group_snapshot("gs-2", [_snap(s, f"m{i}") for i, s in enumerate(shares)])
    assert all(z.exists(n) for n in names.values())


# -- mountable snapshots ------------------------------------------------------------------------------------


def test_a_mountable_snapshot_is_a_read_only_exported_clone(svc: ShareService, host: FakeHost) -> None:
    share = ref("ms")
    svc.create_share(share)
    host.write("tank/manila_share_ms", 3 << 20)
    snap = _snap(share, "sm1")
    svc.create_snapshot(snap)
    locations = svc.mount_snapshot(snap)
    mount = "tank/manila_share_snapshot_sm1"
    assert locations[0] == ExportLocation(f"10.0.0.1:/{mount}", False)
    got = props(host, mount, "readonly", "origin", "referenced")
    assert got.value("readonly") is True and got.raw("origin") == "tank/manila_share_ms@manila_share_snapshot_sm1"
    assert got.value("referenced") >= 3 << 20
    svc.snapshot_access(snap, [Rule("r", "ip", "10.1.0.5", "rw")])
    assert "ro=10.1.0.5" in (props(host, mount, "sharenfs").raw("sharenfs") or "").replace("@", "")
    with pytest.raises(InvalidRequest):
        svc.snapshot_access(snap, [Rule("x", "cert", "c", "ro")])
    svc.delete_snapshot(snap)
    z = ZFS(FakeExecutor(host))
    assert not z.exists(mount) and z.snapshots("tank/manila_share_ms") == []


def test_a_mountable_snapshot_that_cannot_be_mounted_is_not_left_behind(svc: ShareService, host: FakeHost) -> None:
    share = ref("ms3")
    svc.create_share(share)
    snap = _snap(share, "sm3")
    host.fail_command(2)  # the snapshot is taken (1), its clone fails (2)
    with pytest.raises(ZFSError):
        svc.create_mountable_snapshot(snap)
    z = ZFS(FakeExecutor(host))
    assert z.snapshots("tank/manila_share_ms3") == [] and not z.exists("tank/manila_share_snapshot_sm3")
    name, locations = svc.create_mountable_snapshot(snap)  # the retry makes both
    assert name == "tank/manila_share_ms3@manila_share_snapshot_sm3"
    assert locations[0] == ExportLocation("10.0.0.1:/tank/manila_share_snapshot_sm3", False)


def test_snapshot_access_needs_a_mountable_snapshot(svc: ShareService) -> None:
    share = ref("ms2")
    svc.create_share(share)
    svc.create_snapshot(_snap(share, "sm2"))
    with pytest.raises(Exception, match="not mountable"):
        svc.snapshot_access(_snap(share, "sm2"), [])
