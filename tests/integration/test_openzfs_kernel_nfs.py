"""What real OpenZFS 2.3.2 and its kernel nfsd showed about ``sharenfs`` and destroy (issue #11, deliverable 5).

All in the QEMU guest (``openzfs`` fixture), checked against ``exportfs -v`` in the guest.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import DatasetBusy, NewerSnapshotsExist, PropertyRejected, StreamIncomplete
from pyzfsnas.nfs import AccessRule, KernelNFS
from pyzfsnas.parsers import parse_zpool_list

pytestmark = pytest.mark.openzfs

_count = itertools.count(1)


def _clients(openzfs: Any, path: str) -> set[str]:
    """The clients ``exportfs -v`` lists for ``path`` (``<world>`` for everyone)."""
    out = openzfs.run("exportfs", "-v").stdout
    clients = set()
    for line in out.replace(f"{path}\n", f"{path}\t").splitlines():
        head, _, rest = line.partition("\t")
        if head.strip() == path:
            clients.add(rest.strip().split("(")[0])
    return clients


@pytest.fixture
def dataset(openzfs: Any) -> Any:
    name = f"tank/kn{next(_count)}"
    zfs = ZFS(openzfs.executor)
    zfs.create_dataset(name)
    yield zfs, name
    openzfs.run("zfs", "destroy", "-r", name, check=False)


def test_unbracketed_ipv6_is_a_world_export_and_is_flagged(
    openzfs: Any, dataset: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone else writes ``rw=@fd00::/64``: the host exits 0 and exports to everyone; the library says so."""
    zfs, name = dataset
    assert openzfs.run("zfs", "set", "sharenfs=rw=@fd00::/64", name).returncode == 0
    assert "<world>" in _clients(openzfs, f"/{name}")
    nfs = KernelNFS(zfs)
    check = nfs.check(name)
    assert check.dangerous and any(h.world for h in check.hazards)
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        rules = {str(r) for r in nfs.rules(name)}
    assert rules == {"0.0.0.0/0:rw", "::/0:rw"} and "DANGEROUS sharenfs" in caplog.text
    # What the library writes for the same intent is bracketed, and the host exports exactly that.
    nfs.apply(name, [AccessRule.parse("fd00::/64", "rw"), AccessRule.parse("fd00::7", "ro")])
    assert _clients(openzfs, f"/{name}") == {"fd00::/64", "fd00::7"}
    assert not nfs.check(name).dangerous


def test_ipv6_capability_is_decided_from_the_host(openzfs: Any) -> None:
    nfs = KernelNFS(ZFS(openzfs.executor))
    assert nfs.ipv6_support()  # 2.3.2: brackets parsed (the test above proves it with exportfs -v)


def test_real_refusals_are_typed(openzfs: Any, dataset: Any) -> None:
    zfs, name = dataset
    zfs.snapshot(f"{name}@a")
    zfs.snapshot(f"{name}@b")
    with pytest.raises(NewerSnapshotsExist):
        zfs.rollback(f"{name}@a")
    zfs.hold(f"{name}@a", "keep")
    with pytest.raises(DatasetBusy, match=r"being held|dataset is busy"):  # 2.3 / 2.1 wording
        zfs.destroy(f"{name}@a")
    zfs.release(f"{name}@a", "keep")
    with pytest.raises(PropertyRejected, match="invalid options"):
        zfs.set(name, sharenfs="rw=192.0.2.1,bogusopt")
    with openzfs.executor.stream(["zfs", "send", f"{name}@a"]) as out:
        data = b"".join(out)
    result = openzfs.executor.run(["zfs", "receive", f"{name}-half"], stdin=data[: len(data) // 2])
    with pytest.raises(StreamIncomplete):
        result.check()
    plain = openzfs.run("zpool", "list", "-H", "-p").stdout
    assert {p.name for p in parse_zpool_list(plain)} >= {"tank", "backup"}


_CLIENT = (
    'd=$(mktemp -d) && mount -t nfs -o vers={vers},soft,timeo=30,retrans=1,noac 127.0.0.1:/{name} "$d"'
    ' && echo x > "$d/f" && umount "$d"; rmdir "$d"'
)


@pytest.mark.timeout(600)
def test_destroy_after_a_real_nfs_client_busy_is_not_transient_and_leaves_the_share_served(openzfs: Any) -> None:
    """After a kernel NFS client mounted, wrote and unmounted a share, ``zfs destroy -r`` often fails "cannot
    unmount ...: pool or dataset is busy" (4 of 6 tries here). It is nfsd's export cache holding the mount, for
    minutes (still busy after 4 min, after ``exportfs -f``, ``zfs unshare`` and ``destroy -f``); restarting
    nfs-server frees it. So pyzfsnas does not retry (no short retry helps): it raises ``DatasetBusy`` and the
    dataset is left as found, mounted and exported, so a later retry finishes."""
    zfs = ZFS(openzfs.executor)
    busy: list[str] = []
    for vers in ("4.2", "3", "4.2"):
        name = f"tank/busy{next(_count)}"
        zfs.create_dataset(name)
        KernelNFS(zfs).apply(name, [AccessRule.parse("127.0.0.1", "rw")])
        openzfs.sh(_CLIENT.format(vers=vers, name=name))
        try:
            zfs.destroy(name, recursive=True)
        except DatasetBusy as exc:
            assert "is busy" in str(exc)
            busy.append(name)
            assert zfs.get(name, "mounted").raw("mounted") == "yes"
            assert _clients(openzfs, f"/{name}") == {"127.0.0.1"}
        else:
            assert not zfs.exists(name)
    openzfs.run("systemctl", "restart", "nfs-server")
    for name in busy:
        zfs.destroy(name, recursive=True)  # the retry finishes once nfsd lets go
    assert not any(zfs.exists(name) for name in busy)
