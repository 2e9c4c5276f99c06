"""The driver on real OpenZFS 2.x with kernel NFS: the guest's two pools act as two backends.

Backend A reaches the guest through its own ``zfs_use_ssh``/``zfs_ssh_*`` options (a second SSH connection the
driver makes itself, host key checked); backend B uses the session's connection. Files are written and read in
the guest. The same lifecycle as on real zfs-fuse: share, access, snapshot, share from snapshot, extend,
replication (create, sync, promote, delete) and a migration between the pools.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import DatasetNotFound
from tests.manila.conftest import MakeDriver, rule, share, snapshot

pytestmark = pytest.mark.openzfs

GIB = 1 << 30


class Files:
    """Read, write and probe files in the guest."""

    def __init__(self, guest: Any) -> None:
        self.guest = guest

    def write(self, path: str, text: str) -> None:
        self.guest.run("sh", "-c", 'printf %s "$1" > "$2"', "sh", text, path)

    def read(self, path: str) -> str:
        return str(self.guest.run("cat", "--", path).stdout)

    def writable(self, directory: str) -> bool:
        probe = self.guest.run("sh", "-c", 'touch "$1/.probe" && rm -f "$1/.probe"', "sh", directory, check=False)
        return bool(probe.returncode == 0)


@pytest.fixture
def guest_backends(openzfs: Any) -> Iterator[Any]:
    yield openzfs
    zfs = ZFS(openzfs.executor)
    for pool in ("tank", "backup"):
        for ds in zfs.datasets(pool):
            if ds.name.split("/")[-1].startswith("manila_share_o"):
                with contextlib.suppress(DatasetNotFound):
                    zfs.destroy(ds.name, recursive=True)


def test_lifecycle_replication_and_migration_on_openzfs(make_driver: MakeDriver, guest_backends: Any) -> None:
    guest = guest_backends
    files = Files(guest)
    session = guest.executor
    factory = {"127.0.0.1": session, "127.0.0.3": session}.__getitem__
    a = make_driver(None, group="mnloA", zfs_zpool_list=["tank"], zfs_share_export_ip="10.0.2.15",
                    zfs_service_ip="127.0.0.1", zfs_use_ssh=True, zfs_ssh_port=guest.guest.port,
                    zfs_ssh_username="root", zfs_ssh_private_key_path=str(guest.guest.key_path),
                    zfs_ssh_known_hosts_file=str(guest.guest.known_hosts_path), executor_factory=factory)
    b = make_driver(session, group="mnloB", zfs_zpool_list=["backup"], zfs_share_export_ip="10.0.2.15",
                    zfs_service_ip="127.0.0.3", executor_factory=factory)
    z = ZFS(session)
    sh = share("o-1", backend="mnloA", pool="tank", size=1, replica_state="active")
    locs = a.create_share(None, sh)
    ds = "tank/manila_share_o_1"
    assert locs[0]["path"] == f"10.0.2.15:/{ds}"
    files.write(f"/{ds}/data.txt", "hello")
    result = a.update_access(None, sh, [rule("127.0.0.1"), rule("fd77::2", "ro"), rule("bogus", rid="bad")],
                             [], [], [])
    assert result == {"bad": {"state": "error", "access_key": None}}
    exports = guest.run("exportfs", "-v").stdout
    assert f"/{ds}" in exports and "127.0.0.1(" in exports and "fd77::2(" in exports
    snap = snapshot(sh, "os-1")
    snap["provider_location"] = a.create_snapshot(None, snap)["provider_location"]
    copy = share("o-2", backend="mnloA", pool="tank", size=1)
    a.create_share_from_snapshot(None, copy, snap)
    assert files.read("/tank/manila_share_o_2/data.txt") == "hello"
    a.extend_share(sh, 2)
    assert z.get(ds, "quota").value("quota") == 2 * GIB

    # replication to the other pool
    rep = share("o-3", backend="mnloB", pool="backup", size=2, replica_state="out_of_sync")
    out = b.create_replica(None, [sh, rep], rep, [rule("127.0.0.1")], [])
    assert out["replica_state"] == "in_sync"
    assert files.read("/backup/manila_share_o_3/data.txt") == "hello"
    assert not files.writable("/backup/manila_share_o_3")
    files.write(f"/{ds}/more.txt", "more")
    rep["replica_state"] = "in_sync"
    assert b.update_replica_state(None, [sh, rep], rep, [], []) == "in_sync"
    assert files.read("/backup/manila_share_o_3/more.txt") == "more"
    b.promote_replica(None, [sh, rep], rep, [rule("127.0.0.1")])
    assert not files.writable(f"/{ds}")  # the old active is really read-only
    assert files.writable("/backup/manila_share_o_3")
    b.delete_replica(None, [sh, rep], [], rep)

    # migration of the copy to the other pool
    dst = share("o-4", backend="mnloB", pool="backup", size=1)
    a.migration_start(None, copy, dst, [], {})
    deadline = time.monotonic() + 120
    while not a.migration_continue(None, copy, dst, [], {}):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    done = a.migration_complete(None, copy, dst, [], {})
    assert [loc["path"] for loc in done["export_locations"]] == [
        "10.0.2.15:/backup/manila_share_o_4", "127.0.0.3:/backup/manila_share_o_4"]  # user, then admin
    assert files.read("/backup/manila_share_o_4/data.txt") == "hello"

    a.delete_snapshot(None, snap)
    a.delete_share(None, sh)
    assert not z.exists(ds)
    b.delete_share(None, dst)
    assert not z.exists("backup/manila_share_o_4")
