"""The hosts the behavioural suite runs against: the fake host (both flavours), real zfs-fuse and real OpenZFS.

A test that takes the ``host`` fixture runs once per host with the same assertions; that is how we know the
fake tells the truth. Each test gets a fresh, empty dataset ``host.root`` under the host's pool, destroyed
(recursively: it is ours) afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas import ZFS, Executor, LocalExecutor
from pyzfsnas.errors import DatasetNotFound

_counter = itertools.count(1)


class HostUnderTest:
    """One host as the suite sees it: a facade, a pool, a fresh root dataset, and a way to write bytes."""

    def __init__(self, kind: str, zfs: ZFS, pool: str) -> None:
        self.kind = kind
        self.zfs = zfs
        self.pool = pool
        self.root = f"{pool}/t{os.getpid()}_{next(_counter)}"
        self.fake = None
        #: The real OpenZFS guest (``openzfs`` kind): its data is written in the guest, over SSH.
        self.guest: Any = None

    @property
    def flavour_name(self) -> str:
        """The flavour this host must be detected as."""
        return "openzfs" if self.kind in ("fake-openzfs", "openzfs") else "zfs-fuse"

    @property
    def is_real(self) -> bool:
        return not self.kind.startswith("fake")

    def write(self, dataset: str, nbytes: int, filename: str = "data") -> None:
        """Put ``nbytes`` of new data into ``dataset`` and let the accounting catch up."""
        if self.fake is not None:
            self.fake.write(dataset, nbytes)
            return
        if self.guest is not None:
            path = self.zfs.dataset(dataset).mountpoint
            assert path and path.startswith("/")
            # Real bytes in the guest, then a txg sync so that `used` accounts for them.
            result = self.guest.run("sh", "-c", 'head -c "$1" /dev/urandom > "$2" && sync && zpool sync "$3"',
                                    "sh", str(nbytes), f"{path}/{filename}", self.pool, check=False)
            if result.returncode != 0:  # as a local write would: e.g. EDQUOT past a quota
                raise OSError(f"writing {nbytes} bytes in the guest failed: {result.stderr.strip()}")
            return
        mountpoint = self.zfs.dataset(dataset).mountpoint
        assert mountpoint and mountpoint.startswith("/")
        with open(Path(mountpoint) / filename, "wb") as f:
            f.write(os.urandom(nbytes))
            f.flush()
            os.fsync(f.fileno())
        # zfs-fuse updates space accounting at the next transaction group; any sync task (here an inherit
        # of a property nobody set) commits one.
        subprocess.run(["zfs", "inherit", "com.pyzfsnas:txg", dataset], check=True, capture_output=True)

    def cleanup(self) -> None:
        with contextlib.suppress(DatasetNotFound):
            self.zfs.destroy(self.root, recursive=True, recursive_dependents=True)


def _fake(flavour: str) -> HostUnderTest:
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    fake = FakeHost(flavour=flavour)  # type: ignore[arg-type]
    fake.create_pool("tank", mountpoint="/srv/tank")
    h = HostUnderTest(f"fake-{flavour}", ZFS(FakeExecutor(fake)), "tank")
    h.fake = fake  # type: ignore[assignment]
    return h


HOSTS = ["fake-openzfs", "fake-zfs-fuse", "zfs-fuse", "zfs-fuse-ssh", "openzfs"]


@pytest.fixture(scope="session")
def ssh_root_executor(sshd: Any) -> Iterator[Executor]:
    """One SSHExecutor session-wide, logged in as root on the test sshd (zfs needs root)."""
    from pyzfsnas.executors.ssh import SSHExecutor

    ex = SSHExecutor(sshd.host, port=sshd.port, username=sshd.root_user, key_filename=str(sshd.user_key_path),
                     known_hosts=str(sshd.known_hosts_path))
    try:
        yield ex
    finally:
        ex.close()


@pytest.fixture(params=HOSTS)
def host(request: pytest.FixtureRequest) -> Iterator[HostUnderTest]:
    """Each behavioural test runs on every host in HOSTS."""
    kind = request.param
    if kind == "fake-openzfs":
        h = _fake("openzfs")
    elif kind == "fake-zfs-fuse":
        h = _fake("zfs-fuse")
    elif kind == "openzfs":
        # Real OpenZFS 2.x in the QEMU guest, through the session's one SSH connection.
        request.node.add_marker(pytest.mark.openzfs)
        guest = request.getfixturevalue("openzfs")
        h = HostUnderTest(kind, ZFS(guest.executor), "tank")
        h.guest = guest
    elif kind == "zfs-fuse":
        request.node.add_marker(pytest.mark.zfsfuse)
        pools = request.getfixturevalue("zfsfuse_pools")
        h = HostUnderTest(kind, ZFS(LocalExecutor()), pools.tank.name)
    else:
        # The same real zfs-fuse, driven through SSHExecutor and a real sshd on 127.0.0.1.
        request.node.add_marker(pytest.mark.zfsfuse)
        request.node.add_marker(pytest.mark.sshd)
        pools = request.getfixturevalue("zfsfuse_pools")
        ssh = request.getfixturevalue("ssh_root_executor")
        h = HostUnderTest(kind, ZFS(ssh), pools.tank.name)
    h.zfs.create_dataset(h.root)
    try:
        yield h
    finally:
        h.cleanup()
