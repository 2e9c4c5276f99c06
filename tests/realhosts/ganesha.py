"""A real nfs-ganesha server (and rpcbind) for tests, plus the libnfs client tools to probe it.

Facts this relies on (see ``real-components.md``): ganesha dies without rpcbind; it is ready ~0.1 s after
start; ``NFSV4 { Graceless = true; }`` skips the grace period; SIGHUP reloads exports; the ``nfs-ls`` /
``nfs-cp`` tools are used as subprocesses with a timeout (the Python libnfs binding hangs on mount errors).
An IPv6 URL is written unbracketed (``nfs://::1/path``). Ganesha listens on the fixed NFS ports (2049, mountd
20048), so there is one server per machine: a port already taken makes the component unavailable.

The server runs in the foreground (``-F``) as our child, so it is waited for, never left as a zombie. A
running rpcbind is reused and left alone; one we started is stopped at close.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.realhosts.common import ComponentUnavailable, run, timings

__all__ = ["NFS_PORT", "GaneshaServer", "nfs_cp", "nfs_ls", "start_server", "wait_until"]

COMPONENT = "nfs-ganesha"
NFS_PORT = 2049
MNT_PORT = 20048
READY_TIMEOUT = 10.0
CLIENT_TIMEOUT = 10.0

MAIN_CONF = """\
NFS_CORE_PARAM {{
    NFS_Port = {nfs_port};
    MNT_Port = {mnt_port};
    NFS_Protocols = 3, 4;
    Enable_NLM = false;
    Enable_RQUOTA = false;
}}
NFSV4 {{
    Graceless = true;
    RecoveryBackend = fs;
    RecoveryRoot = "{recov}";
    Lease_Lifetime = 10;
}}
EXPORT_DEFAULTS {{
    Access_Type = None;
}}
LOG {{
    Default_Log_Level = EVENT;
}}
{include}
"""


def _tool(name: str) -> str | None:
    for directory in ("/usr/bin", "/usr/sbin", "/sbin", "/bin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.02) -> float | None:
    """Poll ``condition``; the seconds it took to become true, or None after ``timeout``."""
    start = time.perf_counter()
    while True:
        if condition():
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            return None
        time.sleep(interval)


def _url(client: str, path: str, version: int) -> str:
    return f"nfs://{client}{path}" + ("?version=4" if version == 4 else "")


def nfs_ls(client: str, path: str, *, version: int = 3) -> subprocess.CompletedProcess[str]:
    """``nfs-ls nfs://CLIENT/PATH``: list an export, connecting to (and so coming from) ``client``."""
    return run(["nfs-ls", _url(client, path, version)], timeout=CLIENT_TIMEOUT)


def nfs_cp(local: Path, client: str, path: str) -> subprocess.CompletedProcess[str]:
    """``nfs-cp LOCAL nfs://CLIENT/PATH``: write a local file into an export."""
    return run(["nfs-cp", str(local), _url(client, path, 3)], timeout=CLIENT_TIMEOUT)


def _rpcbind_answers() -> bool:
    return run(["rpcinfo", "-p", "127.0.0.1"], timeout=5).returncode == 0


def _registered(program: str) -> bool:
    proc = run(["rpcinfo", "-p", "127.0.0.1"], timeout=5)
    return proc.returncode == 0 and any(line.split()[:1] == [program] for line in proc.stdout.splitlines())


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(grace)


@dataclass
class GaneshaServer:
    """A running ganesha: its ``workdir``, managed ``exports_conf`` (``%include``-d), ``pidfile`` and log."""

    workdir: Path
    exports_conf: Path
    pidfile: Path
    logfile: Path
    process: subprocess.Popen[bytes]
    rpcbind: subprocess.Popen[bytes] | None = None
    export_roots: list[Path] = field(default_factory=list)

    @property
    def pid(self) -> int:
        """The ganesha process id."""
        return self.process.pid

    def alive(self) -> bool:
        """Whether ganesha still runs."""
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        """The end of ganesha's log, for assertion messages."""
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def make_dir(self, name: str) -> Path:
        """A fresh directory under the workdir that tests may export."""
        path = self.workdir / "exp" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def close(self) -> None:
        """Stop ganesha, then rpcbind if we started it, and delete the workdir."""
        with timings.measure("ganesha stop"):
            _stop(self.process)
        if self.rpcbind is not None:
            _stop(self.rpcbind)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_server(base_dir: str | None = None) -> GaneshaServer:
    """Start rpcbind (unless one answers) and ganesha on a fresh config; ComponentUnavailable if impossible.

    The main config includes an empty ``exports.conf`` that the library under test owns.
    """
    for tool in ("ganesha.nfsd", "rpcbind", "rpcinfo", "nfs-ls", "nfs-cp"):
        if _tool(tool) is None:
            raise ComponentUnavailable(
                COMPONENT, f"{tool} not installed (apt-get install nfs-ganesha nfs-ganesha-vfs libnfs-utils rpcbind)"
            )
    if not any(glob.glob(f"{d}/ganesha/libfsalvfs.so") for d in ("/usr/lib/*", "/usr/lib", "/usr/lib64")):
        raise ComponentUnavailable(COMPONENT, "the VFS FSAL is missing (apt-get install nfs-ganesha-vfs)")
    if os.geteuid() != 0:
        raise ComponentUnavailable(COMPONENT, "ganesha needs root")
    for port in (NFS_PORT, MNT_PORT):
        if not _port_free(port):
            raise ComponentUnavailable(COMPONENT, f"port {port} is taken (another NFS server runs here)")
    rpcbind: subprocess.Popen[bytes] | None = None
    if not _rpcbind_answers():
        rpcbind = subprocess.Popen(["rpcbind", "-f"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_until(_rpcbind_answers, READY_TIMEOUT) is None:
            _stop(rpcbind)
            raise ComponentUnavailable(COMPONENT, "rpcbind -f did not answer rpcinfo")
    workdir = Path(tempfile.mkdtemp(prefix="pzt-ganesha-", dir=base_dir))
    (workdir / "recov").mkdir()
    exports_conf = workdir / "exports.conf"
    exports_conf.write_text("")
    main_conf = workdir / "ganesha.conf"
    main_conf.write_text(MAIN_CONF.format(
        nfs_port=NFS_PORT, mnt_port=MNT_PORT, recov=workdir / "recov", include=f'%include "{exports_conf}"'
    ))
    pidfile, logfile = workdir / "ganesha.pid", workdir / "ganesha.log"
    start = time.perf_counter()
    process = subprocess.Popen(
        ["ganesha.nfsd", "-F", "-f", str(main_conf), "-L", str(logfile), "-p", str(pidfile)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    server = GaneshaServer(workdir, exports_conf, pidfile, logfile, process, rpcbind)

    def ready() -> bool:
        return not server.alive() or (pidfile.exists() and _registered("100005") and _registered("100003"))

    waited = wait_until(ready, READY_TIMEOUT)
    if waited is None or not server.alive():
        tail = server.log_tail()
        with contextlib.suppress(Exception):
            server.close()
        raise ComponentUnavailable(COMPONENT, f"ganesha.nfsd did not start: {tail}")
    timings.add("ganesha start", time.perf_counter() - start)
    return server
