"""A zfs-fuse daemon and throw-away pools on sparse files, for tests that need a real ZFS.

zfs-fuse serves every client through one socket (``/var/run/zfs/zfs_socket``), so there is at most one daemon
per machine and other people's pools may live in it. Hence the rules this module follows:

* a daemon that already answers ``zpool list`` is reused and never stopped;
* pools are named ``pzt<pid><random>_<prefix><n>``: recognisably ours, unique per test session, and valid
  pool names (they start with a letter); only such pools are ever destroyed;
* each session holds an ``flock`` on ``<workdir>/owner.lock`` (its vdevs live in ``<workdir>/vdevs``); a
  leftover ``pzt`` pool is destroyed at start only when nobody holds that lock (a crashed earlier run). A lock,
  not a PID check, because sessions in other PID namespaces may share the one daemon;
* a daemon we started is stopped at the end, unless pools that are not ours remain in it.

Facts this relies on (see ``real-components.md``): a stale pidfile makes zfs-fuse exit silently, so it is
removed first; the daemon answers ~0.3 s after start; ``zpool destroy`` sometimes says the pool is busy once;
SIGTERM takes 4-5 s; ``kill -0`` succeeds on the dead, unreaped daemon, so liveness is read from ``/proc``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.realhosts import nfs
from tests.realhosts.common import ComponentUnavailable, pid_alive, run, timings

__all__ = [
    "POOL_PREFIX",
    "ZFS_FUSE",
    "ZFS_SOCKET",
    "PoolInfo",
    "ZfsFuseDaemon",
    "ZfsFuseHost",
    "find_tool",
    "start_host",
]

ZFS_FUSE = "/usr/sbin/zfs-fuse"
ZFS_SOCKET = "/var/run/zfs/zfs_socket"
#: Every pool this module creates starts with this; nothing else is ever destroyed.
POOL_PREFIX = "pzt"
_POOL_RE = re.compile(rf"^{POOL_PREFIX}[0-9a-f]+_")
_WORKDIR_PREFIX = f"{POOL_PREFIX}-zfsfuse-"
LOCK_NAME = "owner.lock"
_PREFIX_RE = re.compile(r"^[A-Za-z0-9]*$")
READY_TIMEOUT = 10.0
TERM_GRACE = 6.0
COMPONENT = "zfs-fuse"


def find_tool(name: str) -> str:
    """Absolute path of a ZFS/NFS admin tool, looking in the sbin directories that a user PATH may lack."""
    for directory in ("/usr/sbin", "/sbin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name) or name


@dataclass(frozen=True)
class PoolInfo:
    """A pool made for tests: its ``name``, where its root dataset is mounted, and its sparse-file vdev."""

    name: str
    mountpoint: Path
    vdev: Path


def _zpool(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return run([find_tool("zpool"), *args], timeout=timeout)


def pool_names() -> list[str]:
    """Names of all pools the running daemon knows (``zpool list -H -o name``)."""
    proc = _zpool("list", "-H", "-o", "name")
    if proc.returncode != 0:
        raise ComponentUnavailable(COMPONENT, f"zpool list failed: {proc.stderr.strip()}")
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


def daemon_answers() -> bool:
    """Whether a zfs-fuse daemon answers on its socket right now."""
    try:
        return _zpool("list", timeout=10.0).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _zfs_fuse_pids() -> list[int]:
    """PIDs of live processes named ``zfs-fuse`` (read from ``/proc``, zombies excluded)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "zfs-fuse" and pid_alive(int(entry)):
            pids.append(int(entry))
    return pids


def _parse_size(size: str) -> int:
    """Bytes in a ``truncate``-style size: a number with an optional K, M, G or T suffix (powers of 1024)."""
    match = re.fullmatch(r"(\d+)([KMGT]?)", size.strip().upper())
    if not match:
        raise ValueError(f"bad pool size {size!r}: want e.g. 256M")
    exponent = "_KMGT".index(match.group(2) or "_")
    return int(match.group(1)) * (1 << (10 * exponent))


@dataclass
class ZfsFuseDaemon:
    """The daemon in use: ``started`` tells whether this process launched it (and so should stop it)."""

    started: bool
    pid: int | None = None
    log_path: Path | None = None

    @classmethod
    def ensure(cls, workdir: Path) -> ZfsFuseDaemon:
        """Reuse the answering daemon, or start one with its pidfile and log in ``workdir``."""
        if daemon_answers():
            return cls(started=False)
        running = _zfs_fuse_pids()
        if running:
            # Someone else's daemon may still be starting up: give it the start-up allowance before giving up.
            if _wait_until(daemon_answers, READY_TIMEOUT):
                return cls(started=False)
            raise ComponentUnavailable(COMPONENT, f"zfs-fuse runs (pid {running}) but does not answer zpool list")
        return cls._start(workdir)

    @classmethod
    def _start(cls, workdir: Path) -> ZfsFuseDaemon:
        pidfile = workdir / "zfs-fuse.pid"
        log_path = workdir / "zfs-fuse.log"
        pidfile.unlink(missing_ok=True)  # a stale pidfile makes zfs-fuse exit 1 without a word
        start = time.perf_counter()
        # The daemon forks; its output goes to a file, not a pipe, so that a child holding the pipe open
        # cannot block us waiting for EOF.
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [ZFS_FUSE, "--no-kstat-mount", "--pidfile", str(pidfile)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                code = proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise ComponentUnavailable(COMPONENT, "zfs-fuse did not daemonize within 30 s") from None
        if code != 0:
            raise ComponentUnavailable(COMPONENT, f"zfs-fuse exited {code}: {log_path.read_text()[-2000:]!r}")
        if not _wait_until(daemon_answers, READY_TIMEOUT):
            pid = _read_pid(pidfile)
            if pid is not None and pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            raise ComponentUnavailable(
                COMPONENT,
                f"daemon not answering after {READY_TIMEOUT:.0f} s; log: {log_path.read_text()[-2000:]!r}",
            )
        timings.add("zfs-fuse start", time.perf_counter() - start)
        return cls(started=True, pid=_read_pid(pidfile), log_path=log_path)

    def stop(self) -> None:
        """Stop a daemon we started: SIGTERM, wait for it to go, SIGKILL after ``TERM_GRACE`` seconds."""
        if not self.started or self.pid is None:
            return
        pid = self.pid
        start = time.perf_counter()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        gone = _wait_until(lambda: not pid_alive(pid) or not os.path.exists(ZFS_SOCKET), TERM_GRACE)
        if not gone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not _wait_until(lambda: not pid_alive(pid), 5.0):
                raise RuntimeError(f"zfs-fuse pid {pid} survived SIGKILL")
        # The socket may outlive the process; the process may outlive the socket by a moment. Wait for both
        # so that a daemon started right after us finds a clean slate.
        _wait_until(lambda: not pid_alive(pid), 2.0)
        if not pid_alive(pid):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(ZFS_SOCKET)
        timings.add("zfs-fuse stop", time.perf_counter() - start)
        self.pid = None


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition()`` until it is true (return True) or ``timeout`` seconds pass (return False)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


@dataclass
class ZfsFuseHost:
    """A zfs-fuse daemon plus the pools this process made in it; ``close`` undoes everything it did."""

    workdir: Path
    daemon: ZfsFuseDaemon
    pools: dict[str, PoolInfo] = field(default_factory=dict)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _token: str = field(default_factory=lambda: f"{os.getpid()}{secrets.token_hex(2)}")
    _lock_fd: int | None = None

    def __post_init__(self) -> None:
        # Held until close(): tells other sessions that our pzt pools are in use (see destroy_stale_pools).
        self._lock_fd = os.open(self.workdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

    def create_pool(self, prefix: str, size: str = "256M") -> PoolInfo:
        """Create a pool on a new sparse file, mounted under ``workdir/mnt``; its name is unique and ours.

        ``prefix`` (letters and digits) makes the name readable: ``create_pool("tank")`` gives e.g.
        ``pzt4242a3f0_tank1``.
        """
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"pool prefix must be letters and digits, got {prefix!r}")
        name = f"{POOL_PREFIX}{self._token}_{prefix}{next(self._counter)}"
        vdev = self.workdir / "vdevs" / f"{name}.img"
        mountpoint = self.workdir / "mnt" / name
        vdev.parent.mkdir(parents=True, exist_ok=True)
        with vdev.open("wb") as f:
            f.truncate(_parse_size(size))
        start = time.perf_counter()
        proc = _zpool("create", "-m", str(mountpoint), name, str(vdev))
        if proc.returncode != 0:
            vdev.unlink(missing_ok=True)
            raise RuntimeError(f"zpool create {name} failed ({proc.returncode}): {proc.stderr.strip()}")
        timings.add("zpool create", time.perf_counter() - start)
        info = PoolInfo(name=name, mountpoint=mountpoint, vdev=vdev)
        self.pools[name] = info
        return info

    def destroy_pool(self, name: str) -> None:
        """Destroy one of our pools (retrying once when zfs-fuse says it is busy) and delete its vdev."""
        if name not in self.pools:
            raise ValueError(f"{name!r} was not created by this host; refusing to destroy it")
        start = time.perf_counter()
        _destroy(name)
        timings.add("zpool destroy", time.perf_counter() - start)
        self.pools.pop(name).vdev.unlink(missing_ok=True)

    def close(self) -> None:
        """Destroy our pools, stop the daemon if we started it and nobody else's pools remain, clean up.

        All steps are attempted; the first error is raised at the end so that a broken teardown is visible.
        """
        errors: list[Exception] = []
        try:
            nfs.unexport_under([self.workdir])  # zfs-fuse may have shared our datasets (sharenfs)
        except Exception as exc:
            errors.append(exc)
        for name in list(self.pools):
            try:
                self.destroy_pool(name)
            except Exception as exc:
                errors.append(exc)
        if self.daemon.started:
            try:
                foreign = [p for p in pool_names() if p not in self.pools]
                if not foreign:
                    self.daemon.stop()
            except Exception as exc:
                errors.append(exc)
        if not self.pools:
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise errors[0]


def _destroy(name: str, *, force: bool = False) -> None:
    argv = ["destroy", *(["-f"] if force else []), name]
    proc = _zpool(*argv)
    if proc.returncode != 0 and "busy" in proc.stderr:
        time.sleep(0.2)
        proc = _zpool(*argv)
    if proc.returncode != 0 and "no such pool" in proc.stderr:
        return  # already gone (a test destroyed it itself): the goal is reached
    if proc.returncode != 0:
        raise RuntimeError(f"zpool destroy {name} failed ({proc.returncode}): {proc.stderr.strip()}")


def pool_vdevs(name: str) -> list[Path]:
    """The file vdevs of pool ``name``, read from ``zpool status`` (absolute paths in the config section)."""
    proc = _zpool("status", name)
    if proc.returncode != 0:
        return []
    return [Path(line.split()[0]) for line in proc.stdout.splitlines() if line.strip().startswith("/")]


def _abandoned(vdevs: list[Path]) -> bool:
    """Whether the vdevs belong to a ``pzt-zfsfuse-*`` workdir whose owner lock nobody holds any more."""
    if not vdevs:
        return False  # cannot tell: leave it alone
    for vdev in vdevs:
        workdir = vdev.parent.parent
        if not workdir.name.startswith(_WORKDIR_PREFIX):
            return False
        try:
            fd = os.open(workdir / LOCK_NAME, os.O_RDWR)
        except FileNotFoundError:
            continue  # workdir gone: nobody can be using the pool
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live session holds it
        finally:
            os.close(fd)
    return True


def destroy_stale_pools() -> list[str]:
    """Destroy ``pzt*`` pools left by crashed sessions (owner lock free); return their names."""
    destroyed = []
    for name in pool_names():
        vdevs = pool_vdevs(name)
        if _POOL_RE.match(name) and _abandoned(vdevs):
            _destroy(name, force=True)
            for vdev in vdevs:
                vdev.unlink(missing_ok=True)
            destroyed.append(name)
    return destroyed


def start_host(base_dir: str | None = None) -> ZfsFuseHost:
    """Check the prerequisites, get a daemon (reused or started) and clear stale test pools.

    Raises :class:`ComponentUnavailable` when zfs-fuse is missing, we are not root, or the daemon fails.
    """
    if not os.access(ZFS_FUSE, os.X_OK):
        raise ComponentUnavailable(COMPONENT, f"{ZFS_FUSE} not installed (apt-get install zfs-fuse)")
    if os.geteuid() != 0:
        raise ComponentUnavailable(COMPONENT, "zfs-fuse needs root")
    workdir = Path(tempfile.mkdtemp(prefix=_WORKDIR_PREFIX, dir=base_dir))
    try:
        daemon = ZfsFuseDaemon.ensure(workdir)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    host = ZfsFuseHost(workdir=workdir, daemon=daemon)
    try:
        destroy_stale_pools()
    except BaseException:
        host.close()
        raise
    return host
