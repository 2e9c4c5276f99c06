"""A private OpenSSH server on 127.0.0.1 with generated keys, for tests of the SSH executor.

It runs with its own config, host key, port and pidfile, so it never touches the machine's sshd. One generated
user key is authorised for two accounts: ``pyzfsnastest`` (shell ``/bin/sh``, for fast round trips) and
``root`` (``PermitRootLogin prohibit-password``, for tests that run ``zfs`` over SSH).

Facts this relies on (see ``real-components.md``): with ``UsePAM no`` a freshly ``useradd``-ed account counts
as locked until ``usermod -p '*'``; ``AuthorizedKeysFile`` is read as the target user, so the ``.pub`` and its
directory must be readable by it; ``StrictModes no`` accepts keys under ``/tmp``.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.realhosts.common import ComponentUnavailable, run, timings

__all__ = ["SSHD", "TEST_USER", "SshdInfo", "SshdServer", "ensure_test_user", "make_key", "start_server"]

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "/usr/bin/ssh-keygen"
TEST_USER = "pyzfsnastest"
COMPONENT = "sshd"
READY_TIMEOUT = 10.0


@dataclass(frozen=True)
class SshdInfo:
    """How to reach the test sshd.

    ``known_hosts_path`` holds the right ``[127.0.0.1]:PORT`` host key; ``other_known_hosts_path`` holds a
    *different* key for the same host and port, for "host key changed" tests. ``user_key_path`` (ed25519,
    no passphrase) logs in as ``user`` (shell ``/bin/sh``) and as ``root_user``, a second name for uid 0
    with shell ``/bin/sh`` (see :func:`ensure_root_sh_user`; plain ``root`` if it could not be made):
    root's own bash sources ``~/.bashrc`` for each command sshd runs, ~140 ms a command here.
    """

    host: str
    port: int
    host_key_path: Path
    host_public_key_line: str
    known_hosts_path: Path
    other_known_hosts_path: Path
    user: str
    user_key_path: Path
    root_user: str = "root"
    config_path: Path | None = None
    log_path: Path | None = None


def make_key(path: Path, comment: str = "pyzfsnas-test") -> str:
    """Generate an ed25519 key pair at ``path`` (no passphrase); return the public key line."""
    path.unlink(missing_ok=True)
    with timings.measure("ssh-keygen"):
        proc = run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], timeout=30)
    if proc.returncode != 0:
        raise ComponentUnavailable(COMPONENT, f"ssh-keygen failed: {proc.stderr.strip()}")
    return Path(f"{path}.pub").read_text().strip()


def ensure_test_user(name: str = TEST_USER) -> None:
    """Make sure ``name`` exists with shell ``/bin/sh`` and a password field sshd accepts (``*``)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        proc = run(["useradd", "-m", "-s", "/bin/sh", name], timeout=30)
        if proc.returncode != 0 and "already exists" not in proc.stderr:  # another session may race us
            raise ComponentUnavailable(COMPONENT, f"useradd {name} failed: {proc.stderr.strip()}") from None
    else:
        if entry.pw_shell != "/bin/sh":
            run(["usermod", "-s", "/bin/sh", name], timeout=30, check=True)
    # With UsePAM no, the "!" that useradd leaves means "locked": no login at all, even by key.
    run(["usermod", "-p", "*", name], timeout=30, check=True)


ROOT_SH_USER = "pyzfsnasroot"


def ensure_root_sh_user(name: str = ROOT_SH_USER) -> str:
    """A uid-0 login whose shell is ``/bin/sh``, for tests that drive ``zfs`` over SSH.

    root's own login shell is bash, which sources ``~/.bashrc`` for every command sshd runs (~140 ms each
    here); a second name for uid 0 with ``/bin/sh`` avoids that without touching root's account. Falls back
    to ``root`` if the alias cannot be made.
    """
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        proc = run(["useradd", "-o", "-u", "0", "-g", "0", "-M", "-d", "/root", "-s", "/bin/sh", name], timeout=30)
        if proc.returncode != 0 and "already exists" not in proc.stderr:
            return "root"
    else:
        if entry.pw_uid != 0 or entry.pw_shell != "/bin/sh":
            return "root"
    run(["usermod", "-p", "*", name], timeout=30, check=True)
    return name


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the caller retries if it loses the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _banner(port: int) -> bytes:
    """The first bytes the server at ``port`` sends, or b"" when it does not accept yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            return s.recv(64)
    except OSError:
        return b""


@dataclass
class SshdServer:
    """A running sshd subprocess and the files it uses; ``close`` stops it and deletes the files."""

    workdir: Path
    info: SshdInfo
    process: subprocess.Popen[bytes]
    _closed: bool = field(default=False)

    def log(self) -> str:
        """The server's log (``-E``): useful in assertion messages when a login fails."""
        assert self.info.log_path is not None
        try:
            return self.info.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def close(self) -> None:
        """SIGTERM the server (SIGKILL after 5 s) and remove the keys and config."""
        if self._closed:
            return
        self._closed = True
        with timings.measure("sshd stop"):
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)


def _config(workdir: Path, port: int, host_key: Path, authorized: Path, user: str) -> str:
    return "\n".join(
        [
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            "AuthorizedPrincipalsFile none",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            f"AllowUsers {user} root {ROOT_SH_USER}",
            "MaxSessions 100",
            "MaxStartups 100:30:200",  # tests may open many connections at once
            "UseDNS no",
            "PrintMotd no",
            "Subsystem sftp internal-sftp",
            "LogLevel VERBOSE",
            "",
        ]
    )


def start_server(base_dir: str | None = None, user: str = TEST_USER) -> SshdServer:
    """Generate keys, ensure the test user, write a config and start sshd; return once it sends its banner.

    Raises :class:`ComponentUnavailable` when sshd or ssh-keygen is missing, we are not root, or it fails.
    """
    for tool in (SSHD, SSH_KEYGEN):
        if not os.access(tool, os.X_OK):
            raise ComponentUnavailable(COMPONENT, f"{tool} not installed (apt-get install openssh-server)")
    if os.geteuid() != 0:
        raise ComponentUnavailable(COMPONENT, "running a test sshd needs root (it switches to the test user)")
    ensure_test_user(user)
    root_user = ensure_root_sh_user()
    workdir = Path(tempfile.mkdtemp(prefix="pzt-sshd-", dir=base_dir))
    try:
        return _start_in(workdir, user, root_user)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _start_in(workdir: Path, user: str, root_user: str = "root") -> SshdServer:
    # sshd reads AuthorizedKeysFile as the target user: the directory and the .pub must be world-readable.
    workdir.chmod(0o755)
    host_key = workdir / "ssh_host_ed25519_key"
    host_line = make_key(host_key, "pyzfsnas-test-host")
    other_line = make_key(workdir / "other_host_ed25519_key", "pyzfsnas-test-other-host")
    user_key = workdir / "id_ed25519"
    make_key(user_key, "pyzfsnas-test-user")
    authorized = Path(f"{user_key}.pub")
    authorized.chmod(0o644)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # privilege-separation directory
    log_path = workdir / "sshd.log"
    config_path = workdir / "sshd_config"
    last_error = ""
    for _attempt in range(3):  # the free port may be taken between free_port() and sshd's bind
        port = free_port()
        config_path.write_text(_config(workdir, port, host_key, authorized, user))
        log_path.unlink(missing_ok=True)
        start = time.perf_counter()
        process = subprocess.Popen(
            [SSHD, "-D", "-f", str(config_path), "-E", str(log_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if _banner(port).startswith(b"SSH-2.0-"):
                timings.add("sshd start", time.perf_counter() - start)
                known_hosts = workdir / "known_hosts"
                other_known_hosts = workdir / "other_known_hosts"
                key_type_and_key = " ".join(host_line.split()[:2])
                known_hosts.write_text(f"[127.0.0.1]:{port} {key_type_and_key}\n")
                other_known_hosts.write_text(f"[127.0.0.1]:{port} {' '.join(other_line.split()[:2])}\n")
                info = SshdInfo(
                    host="127.0.0.1",
                    port=port,
                    host_key_path=host_key,
                    host_public_key_line=host_line,
                    known_hosts_path=known_hosts,
                    other_known_hosts_path=other_known_hosts,
                    user=user,
                    user_key_path=user_key,
                    root_user=root_user,
                    config_path=config_path,
                    log_path=log_path,
                )
                return SshdServer(workdir=workdir, info=info, process=process)
            time.sleep(0.02)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            last_error = log_path.read_text(errors="replace")[-2000:]
        if "Address already in use" not in last_error:
            break
    raise ComponentUnavailable(COMPONENT, f"sshd did not start: {last_error.strip()!r}")
