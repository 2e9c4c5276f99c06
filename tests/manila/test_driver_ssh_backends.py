"""Replication and migration on real zfs-fuse where the *other* backend's host is reached over real SSH.

Two pools of the one zfs-fuse daemon act as two backends:

* ``mnlsA`` is managed locally (its driver gets a ``LocalExecutor``);
* ``mnlsB`` is an SSH backend: its stanza says ``zfs_use_ssh`` with the ``zfs_ssh_*`` options of the test sshd
  (127.0.0.1, a uid-0 ``/bin/sh`` login, the generated key and known_hosts), and nobody overrides that. So
  B's own driver builds its SSHExecutor from its configuration (``_make_own_executor``), and A's driver, which
  has no ``executor_factory``, builds the one it uses to reach B from B's stanza (``_backend_for_host`` ->
  ``_backend_configuration`` -> ``_ssh_executor``). B's driver reaches A through a factory mapping A's service
  IP to a local executor.

Every ``zfs send | zfs receive`` therefore crosses one local and one SSH executor. Contents are read from the
pools' mountpoints on this machine (both backends live here), byte for byte.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyzfsnas import ZFS, LocalExecutor
from pyzfsnas.executors.ssh import SSHExecutor
from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver
from tests.manila.conftest import MakeDriver, rule, share, writable

GIB = 1 << 30
A_SERVICE_IP = "127.0.0.2"  # never dialled: B's driver maps it to a LocalExecutor
B_EXPORT_IP = "127.0.0.3"  # what B's export locations must name


@pytest.fixture
def pools(zfsfuse: Any) -> Iterator[Any]:
    a, b = zfsfuse.create_pool("mnls"), zfsfuse.create_pool("mnls")
    yield a, b
    for p in (a, b):
        zfsfuse.destroy_pool(p.name)


def _ssh_executors(*drivers: ZFSonLinuxShareDriver) -> list[SSHExecutor]:
    """The SSHExecutors the drivers built for themselves (own host and peers)."""
    found: list[SSHExecutor] = []
    for drv in drivers:
        backends = [drv.service.site, *drv.service.peers]
        found += [b.zfs.executor for b in backends if isinstance(b.zfs.executor, SSHExecutor)]
    return found


def test_replication_and_migration_to_an_ssh_backend(make_driver: MakeDriver, pools: Any, sshd: Any) -> None:
    pa, pb = pools
    local = LocalExecutor()
    ssh_opts = {"zfs_ssh_port": sshd.port, "zfs_ssh_username": sshd.root_user,
                "zfs_ssh_private_key_path": str(sshd.user_key_path),
                "zfs_ssh_known_hosts_file": str(sshd.known_hosts_path)}
    b = make_driver(None, group="mnlsB", zfs_zpool_list=[pb.name], zfs_share_export_ip=B_EXPORT_IP,
                    zfs_service_ip=sshd.host, zfs_use_ssh=True, replication_domain="d",
                    executor_factory={A_SERVICE_IP: local}.__getitem__, **ssh_opts)
    a = make_driver(local, group="mnlsA", zfs_zpool_list=[pa.name], zfs_share_export_ip="127.0.0.1",
                    zfs_service_ip=A_SERVICE_IP, replication_domain="d")
    try:
        _scenario(a, b, pa, pb, sshd)
    finally:
        for ex in _ssh_executors(a, b):
            ex.close()


def _scenario(a: ZFSonLinuxShareDriver, b: ZFSonLinuxShareDriver, pa: Any, pb: Any, sshd: Any) -> None:
    z = ZFS(LocalExecutor())
    assert isinstance(b.service.site.zfs.executor, SSHExecutor)  # B's own host: SSH, built from its stanza
    assert isinstance(a.service.site.zfs.executor, LocalExecutor)

    # -- create_replica: the active replica on A, a read-only copy received over SSH on B ---------------------
    active = share("s-act", backend="mnlsA", pool=pa.name, size=1, replica_state="active")
    a.create_share(None, active)
    act_dir = pa.mountpoint / "manila_share_s_act"
    first, other = os.urandom(300_000), os.urandom(50_000)
    (act_dir / "first.bin").write_bytes(first)
    (act_dir / "other.bin").write_bytes(other)  # never read on the replica before it changes (see below)
    rep = share("s-rep", backend="mnlsB", pool=pb.name, size=1, replica_state="out_of_sync")
    rep_ds, rep_dir = f"{pb.name}/manila_share_s_rep", pb.mountpoint / "manila_share_s_rep"
    rules = [rule("127.0.0.1", "rw")]
    replicas = [active, rep]
    out = b.create_replica(None, replicas, rep, rules, [])
    assert out["replica_state"] == "in_sync" and out["access_rules_status"] == "active"
    assert [loc["path"] for loc in out["export_locations"]] == [
        f"{B_EXPORT_IP}:{rep_dir}", f"{sshd.host}:{rep_dir}"]
    assert (rep_dir / "first.bin").read_bytes() == first
    assert z.get(rep_ds, "quota").value("quota") == 1 * GIB
    assert not writable(rep_dir)

    # -- update_replica_state: new data on the active reaches B incrementally -------------------------------
    rep["replica_state"] = "in_sync"
    second = os.urandom(200_000)
    (act_dir / "second.bin").write_bytes(second)
    # A changed file too, not only a new one. Not first.bin: zfs-fuse keeps serving the kernel's cached pages
    # of a file read before an incremental receive (test_driver_zfsfuse.py::test_replica_read_before_sync...).
    (act_dir / "other.bin").write_bytes(other[::-1])
    assert b.update_replica_state(None, replicas, rep, rules, []) == "in_sync"
    assert (rep_dir / "second.bin").read_bytes() == second
    assert (rep_dir / "other.bin").read_bytes() == other[::-1]
    assert (rep_dir / "first.bin").read_bytes() == first
    assert not writable(rep_dir)

    # -- promote_replica: B (over SSH) becomes the writable active, A read-only ------------------------------
    states = {r["id"]: r for r in b.promote_replica(None, replicas, rep, rules)}
    assert states["s-rep"]["replica_state"] == "active"
    assert states["s-act"]["replica_state"] == "in_sync"
    assert sum(s.get("replica_state") == "active" for s in states.values()) == 1
    assert writable(rep_dir)
    assert not writable(act_dir)

    # roles switched: A now syncs from the SSH backend (send over SSH, receive locally)
    active["replica_state"], rep["replica_state"] = "in_sync", "active"
    third = os.urandom(100_000)
    (rep_dir / "third.bin").write_bytes(third)
    assert a.update_replica_state(None, replicas, active, rules, []) == "in_sync"
    assert (act_dir / "third.bin").read_bytes() == third
    assert not writable(act_dir)
    a.delete_replica(None, replicas, [], active)
    b.delete_replica(None, replicas, [], rep)
    assert not z.exists(f"{pa.name}/manila_share_s_act") and not z.exists(rep_ds)

    # -- driver-assisted migration from A to the SSH backend --------------------------------------------------
    src = share("m-src", backend="mnlsA", pool=pa.name, size=2)
    dst = share("m-dst", backend="mnlsB", pool=pb.name, size=2)
    a.create_share(None, src)
    payload = os.urandom(1 << 20)
    (pa.mountpoint / "manila_share_m_src" / "payload.bin").write_bytes(payload)
    assert a.migration_check_compatibility(None, src, dst)["compatible"] is True
    start = time.monotonic()
    a.migration_start(None, src, dst, [], {})
    assert time.monotonic() - start < 2  # the copy runs in the background
    deadline = time.monotonic() + 20
    while not a.migration_continue(None, src, dst, [], {}):
        assert time.monotonic() < deadline, "migration did not finish in 20 s"
        time.sleep(0.05)
    assert a.migration_get_progress(None, src, dst, [], {})["total_progress"] == 100
    done = a.migration_complete(None, src, dst, [], {})
    dst_dir = pb.mountpoint / "manila_share_m_dst"
    assert [loc["path"] for loc in done["export_locations"]] == [
        f"{B_EXPORT_IP}:{dst_dir}", f"{sshd.host}:{dst_dir}"]
    assert (dst_dir / "payload.bin").read_bytes() == payload
    dst_ds = f"{pb.name}/manila_share_m_dst"
    assert z.get(dst_ds, "quota").value("quota") == 2 * GIB
    assert z.snapshots(dst_ds) == []  # the migration snapshot is gone on the destination
    assert writable(dst_dir)
    assert not z.exists(f"{pa.name}/manila_share_m_src")  # the source is deleted
    b.delete_share(None, dst)
    assert not z.exists(dst_ds)
