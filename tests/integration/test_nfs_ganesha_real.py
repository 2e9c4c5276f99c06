"""GaneshaNFS against a real nfs-ganesha, proven with a real NFS client (libnfs ``nfs-ls`` / ``nfs-cp``).

One ganesha serves the module (``ganesha`` fixture below, from :mod:`tests.realhosts.ganesha`); the library
owns its ``%include``-d exports file and reloads it through the pidfile, all through a ``LocalExecutor``. The
exported directories are datasets of a zfs-fuse pool when the session ``zfsfuse`` fixture works (given by
dataset name, so the mountpoint lookup is exercised too), otherwise plain directories. Each test exports its
own directory. Clients are the two loopback addresses: connecting to ``127.0.0.1`` comes from 127.0.0.1 and
connecting to ``::1`` comes from ::1.

Client outcomes (real-components.md): allowed ``nfs-ls`` exits 0; denied exits 243 (NFSv3
``MNT3ERR_ACCES``) or 254 (NFSv4 ``NFS4ERR_NOENT``); ``nfs-cp`` to a read-only export exits 10
(``NFS3ERR_ROFS``).
"""

from __future__ import annotations

import itertools
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.realhosts import ganesha as real
from tests.realhosts.common import ComponentUnavailable, require, timings
from tests.realhosts.zfsfuse import PoolInfo, ZfsFuseHost

from pyzfsnas import ZFS, LocalExecutor
from pyzfsnas.nfs import AccessRule, GaneshaNFS, NFSBackend
from pyzfsnas.nfs.ganesha import parse_exports

pytestmark = pytest.mark.ganesha

V4 = "127.0.0.1"
V6 = "::1"
DENIED_V3 = 243
DENIED_V4 = 254
ROFS = 10
RELOAD_TIMEOUT = 5.0


def R(text: str, level: str = "rw") -> AccessRule:
    return AccessRule.parse(text, level)


@dataclass
class GaneshaEnv:
    """The module's server, the backend under test, and where exported directories come from."""

    server: real.GaneshaServer
    nfs: GaneshaNFS
    zfs: ZFS
    pool: PoolInfo | None
    counter: Iterator[int]

    def new_share(self) -> tuple[str, Path]:
        """A fresh exportable directory: (what to pass to the backend, its path on disk)."""
        n = next(self.counter)
        if self.pool is not None:
            name = f"{self.pool.name}/share{n}"
            self.zfs.executor.run(["zfs", "create", name]).check()
            return name, self.pool.mountpoint / f"share{n}"
        path = self.server.make_dir(f"share{n}")
        return str(path), path


def _zfsfuse_pool(request: pytest.FixtureRequest) -> tuple[ZfsFuseHost, PoolInfo] | None:
    """A pool of the session zfs-fuse, or None (outside CI) when zfs-fuse cannot run here."""
    try:
        host: ZfsFuseHost = request.getfixturevalue("zfsfuse")
    except pytest.skip.Exception:
        return None  # only reached outside CI: under CI=true the zfsfuse fixture fails instead
    return host, host.create_pool("gan")


@pytest.fixture(scope="module")
def ganesha(request: pytest.FixtureRequest) -> Iterator[GaneshaEnv]:
    """ganesha (and rpcbind if none runs) on a tmp config; stopped, and its pool destroyed, at module end."""
    try:
        server = real.start_server()
    except ComponentUnavailable as exc:
        require(exc.component, exc.reason)
    zfs_pool = None
    try:
        zfs_pool = _zfsfuse_pool(request)
        executor = LocalExecutor()
        nfs = GaneshaNFS(executor, config_path=str(server.exports_conf), pidfile=str(server.pidfile))
        yield GaneshaEnv(server, nfs, ZFS(executor), zfs_pool[1] if zfs_pool else None, itertools.count(1))
    finally:
        server.close()
        if zfs_pool is not None:
            zfs_pool[0].destroy_pool(zfs_pool[1].name)


def ls(client: str, path: Path, version: int = 3) -> subprocess.CompletedProcess[str]:
    return real.nfs_ls(client, str(path), version=version)


def wait_for(client: str, path: Path, returncode: int, version: int = 3) -> None:
    """Poll ``nfs-ls`` until it exits ``returncode`` (the reload is asynchronous); record how long it took."""
    waited = real.wait_until(lambda: ls(client, path, version).returncode == returncode, RELOAD_TIMEOUT)
    last = ls(client, path, version)
    assert waited is not None, (
        f"nfs-ls {client} {path} v{version}: wanted exit {returncode}, got {last.returncode}: {last.stderr}"
    )
    timings.add("ganesha reload visible", waited)


def can_write(client: str, directory: Path, name: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    local = tmp_path / f"{name}.src"
    local.write_text(f"written by {client}\n")
    return real.nfs_cp(local, client, f"{directory}/{name}")


def test_backend_shape(ganesha: GaneshaEnv) -> None:
    assert isinstance(ganesha.nfs, NFSBackend)
    assert ganesha.server.alive()
    assert ganesha.nfs.pid() == ganesha.server.pid  # read from the pidfile through the executor


def test_allowed_lists_denied_refused_over_v3_and_v4(ganesha: GaneshaEnv) -> None:
    share, path = ganesha.new_share()
    (path / "hello.txt").write_text("hello\n")
    ganesha.nfs.apply(share, [R(V4)])
    wait_for(V4, path, 0)
    assert "hello.txt" in ls(V4, path).stdout
    assert "hello.txt" in ls(V4, path, 4).stdout  # Pseudo == Path
    denied = ls(V6, path)
    assert denied.returncode == DENIED_V3 and "MNT3ERR_ACCES" in denied.stderr
    denied4 = ls(V6, path, 4)
    assert denied4.returncode == DENIED_V4 and "NFS4ERR_NOENT" in denied4.stderr
    assert ganesha.nfs.rules(share) == [R(V4)]
    ganesha.nfs.clear(share)
    wait_for(V4, path, DENIED_V3)
    assert ganesha.nfs.rules(share) == []


def test_add_change_remove_with_writes(ganesha: GaneshaEnv, tmp_path: Path) -> None:
    share, path = ganesha.new_share()
    # add: IPv6 read-only, IPv4 read-write
    ganesha.nfs.add(share, R(V6, "ro"))
    ganesha.nfs.add(share, R(V4, "rw"))
    wait_for(V4, path, 0)
    wait_for(V6, path, 0)
    ro = can_write(V6, path, "from6.txt", tmp_path)
    assert ro.returncode == ROFS and "NFS3ERR_ROFS" in ro.stderr
    assert not (path / "from6.txt").exists()
    rw = can_write(V4, path, "from4.txt", tmp_path)
    assert rw.returncode == 0, rw.stderr
    assert (path / "from4.txt").read_text() == f"written by {V4}\n"
    assert ganesha.nfs.rules(share) == [R(V4), R(V6, "ro")]

    # change: 127.0.0.1 rw -> ro, ::1 ro -> rw
    ganesha.nfs.add(share, R(V4, "ro"))
    ganesha.nfs.add(share, R(V6, "rw"))
    assert ganesha.nfs.rules(share) == [R(V4, "ro"), R(V6)]
    waited = real.wait_until(lambda: can_write(V6, path, "probe6.txt", tmp_path).returncode == 0, RELOAD_TIMEOUT)
    assert waited is not None, ganesha.server.log_tail()
    timings.add("ganesha reload visible", waited)
    ro4 = can_write(V4, path, "again4.txt", tmp_path)
    assert ro4.returncode == ROFS and "NFS3ERR_ROFS" in ro4.stderr
    assert ls(V4, path).returncode == 0

    # remove: 127.0.0.1 loses access, ::1 keeps it; removing a rule never applied is a no-op
    ganesha.nfs.remove(share, R(V4))
    wait_for(V4, path, DENIED_V3)
    assert ls(V6, path).returncode == 0
    before = ganesha.server.exports_conf.read_text()
    ganesha.nfs.remove(share, R("192.0.2.1"))
    assert ganesha.server.exports_conf.read_text() == before
    ganesha.nfs.remove(share, R(V6))
    wait_for(V6, path, DENIED_V3)
    assert all(e.path != str(path) for e in parse_exports(ganesha.server.exports_conf.read_text()))


def test_networks_and_read_only(ganesha: GaneshaEnv, tmp_path: Path) -> None:
    share, path = ganesha.new_share()
    # 0.0.0.0 as a host rule must not become ganesha's "every client"
    ganesha.nfs.apply(share, [R("0.0.0.0"), R("192.0.2.0/24")])
    assert ganesha.nfs.rules(share) == [R("0.0.0.0"), R("192.0.2.0/24")]
    time.sleep(0.3)  # nothing observable should change: give the reload time to happen
    assert ls(V4, path).returncode == DENIED_V3 and ls(V6, path).returncode == DENIED_V3
    # CIDR networks, and the /0 networks ganesha can only read as two halves
    ganesha.nfs.apply(share, [R("127.0.0.0/8"), R("::/0", "ro")])
    wait_for(V4, path, 0)
    assert can_write(V4, path, "net4.txt", tmp_path).returncode == 0
    assert ls(V6, path).returncode == 0
    assert can_write(V6, path, "net6.txt", tmp_path).returncode == ROFS
    ganesha.nfs.apply(share, [R("0.0.0.0/0", "ro"), R("::/0")])
    assert ganesha.nfs.rules(share) == [R("0.0.0.0/0", "ro"), R("::/0")]
    waited = real.wait_until(lambda: can_write(V6, path, "all6.txt", tmp_path).returncode == 0, RELOAD_TIMEOUT)
    assert waited is not None, ganesha.server.log_tail()
    assert can_write(V4, path, "all4.txt", tmp_path).returncode == ROFS
    # read_only=True forces every rule to ro
    ganesha.nfs.apply(share, [R("127.0.0.0/8"), R("::1")], read_only=True)
    assert ganesha.nfs.rules(share) == [R("127.0.0.0/8", "ro"), R("::1", "ro")]
    waited = real.wait_until(lambda: can_write(V6, path, "probe.txt", tmp_path).returncode == ROFS, RELOAD_TIMEOUT)
    assert waited is not None
    assert can_write(V4, path, "ro4.txt", tmp_path).returncode == ROFS
    assert ls(V4, path).returncode == 0 and ls(V6, path).returncode == 0
    ganesha.nfs.apply(share, [])
    wait_for(V4, path, DENIED_V3)
    assert "CRIT" not in "".join(
        line for line in ganesha.server.logfile.read_text().splitlines() if ":CONFIG :" in line
    ), ganesha.server.log_tail()


def test_changing_one_export_leaves_the_other_served(ganesha: GaneshaEnv) -> None:
    share_a, path_a = ganesha.new_share()
    share_b, path_b = ganesha.new_share()
    ganesha.nfs.apply(share_a, [R(V4)])
    ganesha.nfs.apply(share_b, [R(V6)])
    wait_for(V6, path_b, 0)
    ids = {e.path: e.export_id for e in ganesha.nfs.exports()}
    ganesha.nfs.apply(share_a, [R(V6, "ro")])
    wait_for(V4, path_a, DENIED_V3)
    assert ls(V6, path_a).returncode == 0 and ls(V6, path_b).returncode == 0
    assert {e.path: e.export_id for e in ganesha.nfs.exports()} == ids  # ids stable per path
    ganesha.nfs.clear(share_a)
    ganesha.nfs.clear(share_b)
    wait_for(V6, path_b, DENIED_V3)
    assert ganesha.server.alive(), ganesha.server.log_tail()

