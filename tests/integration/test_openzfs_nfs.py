"""KernelNFS on real OpenZFS 2.x with the kernel NFS server, seen by ``exportfs -v`` and by a real NFS client.

Everything runs in the QEMU guest (``openzfs`` fixture). The client is the guest's own kernel NFS client: from
127.0.0.1 (or ::1), and from a second address in the network namespace ``denied`` (192.168.77.2 / fd77::2,
reaching the server as 192.168.77.1 / fd77::1). A client *proves* its access by writing a file: mounted and
written (rw), mounted but the write refused (ro), or the mount refused (denied).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import DatasetBusy, DatasetNotFound
from pyzfsnas.nfs import AccessRule, KernelNFS, detect

pytestmark = pytest.mark.openzfs

_count = itertools.count(1)
_LINE = re.compile(r"^(?P<client>[^\s(]+)\((?P<options>[^)]*)\)$")

# What a client script reports (its exit status).
WROTE, READ_ONLY, DENIED = 0, 20, 10
OUTCOME = {WROTE: "rw", READ_ONLY: "ro", DENIED: "denied"}

_CLIENT = r"""
set -u
d=$(mktemp -d)
mount -t nfs -o "vers=$3,soft,timeo=30,retrans=1,noac" "$1:$2" "$d" 2>/dev/null || { rmdir "$d"; exit 10; }
f="$d/probe.$$"
if echo written > "$f" 2>/dev/null; then
    owner=$(stat -c %u "$f"); rm -f "$f"; umount "$d"; rmdir "$d"; echo "$owner"; exit 0
fi
umount "$d"; rmdir "$d"; exit 20
"""


def R(text: str, level: str = "rw") -> AccessRule:
    return AccessRule.parse(text, level)


@dataclass
class Share:
    guest: Any
    zfs: ZFS
    nfs: KernelNFS
    dataset: str
    path: str

    def exports(self) -> dict[str, set[str]]:
        """``{client: options}`` for this path from ``exportfs -v`` (parsed here, not by the library)."""
        out = self.guest.run("exportfs", "-v").stdout
        tokens = out.split()  # exportfs -v puts a long path on its own line, the client on the next
        found: dict[str, set[str]] = {}
        for path, entry in itertools.pairwise(tokens):
            m = _LINE.match(entry)
            if path == self.path and m:
                found[m["client"]] = set(m["options"].split(","))
        return found

    def client(self, server: str, *, namespace: str | None = None, vers: str = "4.2") -> tuple[str, str]:
        """Mount the share from ``server`` and try to write: ``("rw", owner uid)``, ``("ro", "")`` or denied."""
        argv = ["sh", "-c", _CLIENT, "client", server.strip("[]"), self.path, vers]
        if namespace:
            argv = ["ip", "netns", "exec", namespace, *argv]
        if ":" in server:  # IPv6 server address: mount wants it in brackets
            argv[argv.index(server.strip("[]"))] = f"[{server.strip('[]')}]"
        result = self.guest.run(*argv, check=False)
        assert result.returncode in OUTCOME, (result.returncode, result.stderr)
        return OUTCOME[result.returncode], result.stdout.strip()


@pytest.fixture
def share(openzfs: Any) -> Iterator[Share]:
    zfs = ZFS(openzfs.executor)
    dataset = f"tank/nfs{next(_count)}"
    zfs.create_dataset(dataset)
    nfs = detect(zfs)
    assert isinstance(nfs, KernelNFS)
    s = Share(openzfs, zfs, nfs, dataset, f"/{dataset}")
    openzfs.run("chmod", "1777", s.path)
    try:
        yield s
    finally:
        try:
            nfs.clear(dataset)
            try:
                zfs.destroy(dataset, recursive=True)
            except DatasetBusy:  # nfsd still holds the mount after a client used it (not transient): let go
                openzfs.run("systemctl", "restart", "nfs-server")
                zfs.destroy(dataset, recursive=True)
        except DatasetNotFound:
            pass


def test_ipv4_cidr_ro_rw_and_no_root_squash_in_exportfs(share: Share) -> None:
    share.nfs.apply(share.dataset, [R("127.0.0.1"), R("192.168.77.0/24", "ro"), R("10.0.2.15")])
    served = share.exports()
    assert set(served) == {"127.0.0.1", "10.0.2.15", "192.168.77.0/24"}
    assert "rw" in served["127.0.0.1"] and "rw" in served["10.0.2.15"]
    assert "ro" in served["192.168.77.0/24"]
    assert all("no_root_squash" in opts for opts in served.values())
    assert set(share.nfs.rules(share.dataset)) == {R("10.0.2.15"), R("127.0.0.1"), R("192.168.77.0/24", "ro")}


def test_ipv6_hosts_and_networks_in_exportfs(share: Share) -> None:
    assert share.nfs.ipv6_support()
    share.nfs.apply(share.dataset, [R("::1"), R("fd77::/64", "ro"), R("fd77::2")])
    served = share.exports()
    assert set(served) == {"::1", "fd77::/64", "fd77::2"}
    assert "rw" in served["::1"] and "rw" in served["fd77::2"] and "ro" in served["fd77::/64"]
    assert set(share.nfs.rules(share.dataset)) == {R("::1"), R("fd77::2"), R("fd77::/64", "ro")}


def test_a_real_client_is_allowed_denied_and_read_only_after_apply_change_remove(share: Share) -> None:
    nfs, ds = share.nfs, share.dataset
    # apply: the local client writes (as root: no_root_squash), the namespace client may only read
    nfs.apply(ds, [R("127.0.0.1"), R("192.168.77.2", "ro")])
    assert share.client("127.0.0.1") == ("rw", "0")
    assert share.client("192.168.77.1", namespace="denied")[0] == "ro"
    # change: the namespace client becomes rw through its network, the local one loses access
    nfs.apply(ds, [R("192.168.77.0/24")])
    assert share.client("127.0.0.1")[0] == "denied"
    assert share.client("192.168.77.1", namespace="denied")[0] == "rw"
    # add then remove one client
    nfs.add(ds, R("127.0.0.1", "ro"))
    assert share.client("127.0.0.1")[0] == "ro"
    nfs.remove(ds, R("192.168.77.0/24"))
    assert share.client("192.168.77.1", namespace="denied")[0] == "denied"
    assert share.client("127.0.0.1")[0] == "ro"
    # clear: nobody
    nfs.clear(ds)
    assert share.exports() == {}
    assert share.client("127.0.0.1")[0] == "denied"


def test_a_real_ipv6_client(share: Share) -> None:
    share.nfs.apply(share.dataset, [R("fd77::2"), R("::1", "ro")])
    assert share.client("fd77::1", namespace="denied") == ("rw", "0")
    assert share.client("::1")[0] == "ro"
    share.nfs.remove(share.dataset, R("fd77::2"))
    assert share.client("fd77::1", namespace="denied")[0] == "denied"
