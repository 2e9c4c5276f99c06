"""SSHExecutor against a real OpenSSH server on 127.0.0.1 (the session ``sshd`` fixture, tests/realhosts).

Skipped with a reason when sshd/ssh-keygen are missing or we are not root; failed instead when ``CI=true``.
Connection drops are made by shutting down the executor's TCP socket from the test; remote processes are
found in ``/proc`` (the server runs on this machine) to know when a command is really running remotely.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import pwd
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.realhosts.sshd import SshdInfo

from pyzfsnas.errors import CommandTimeout, ConnectionFailed, HostKeyError
from pyzfsnas.executors.base import CHUNK_SIZE, Executor
from pyzfsnas.executors.ssh import SSHExecutor
from pyzfsnas.result import Command

pytestmark = pytest.mark.sshd

HOSTILE = [
    "",
    " ",
    "two words",
    "it's",
    "'",
    '"',
    '"double" and \'single\'',
    "\\",
    "back\\slash\\n",
    "; touch CANARY",
    "$(touch CANARY)",
    "`touch CANARY`",
    "$(touch CANARY)`touch CANARY`; touch CANARY && touch CANARY | touch CANARY",
    "${HOME}",
    "$HOME",
    "line1\nline2",
    "\n",
    "trailing newline\n",
    "\ttab\tseparated\t",
    "*",
    "/*",
    "~",
    "!",
    "#not a comment",
    "> CANARY",
    "< /etc/passwd",
    "-n",
    "--help",
    "-",
    "žluťoučký kůň 🐍 日本語",
    "\r\n",
    "\x01\x1b[31m",
]


# -- helpers -----------------------------------------------------------------------------------------


@pytest.fixture
def make_executor(sshd: SshdInfo) -> Iterator[Callable[..., SSHExecutor]]:
    """Build executors for the session sshd (key file, its known_hosts, no agent); close them afterwards."""
    made: list[SSHExecutor] = []

    def make(**overrides: Any) -> SSHExecutor:
        kwargs: dict[str, Any] = {
            "port": sshd.port,
            "username": sshd.user,
            "key_filename": str(sshd.user_key_path),
            "known_hosts": str(sshd.known_hosts_path),
            "allow_agent": False,
            "connect_timeout": 5.0,
            "timeout": 30.0,
        }
        kwargs.update(overrides)
        ex = SSHExecutor(sshd.host, **kwargs)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.close()


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory the remote (unprivileged) test user can write to."""
    path = Path(tempfile.mkdtemp(prefix="pzt-ssh-"))
    path.chmod(0o777)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def drop_connection(ex: SSHExecutor) -> None:
    """Kill the executor's TCP connection under it, as a network failure would."""
    sock = ex.transport().sock
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)


def remote_pids(user: str, cmdline: list[str]) -> set[int]:
    """PIDs of live processes of ``user`` whose argv is exactly ``cmdline``."""
    uid = pwd.getpwnam(user).pw_uid
    want = "\0".join(cmdline).encode() + b"\0"
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read() != want:
                    continue
            with open(f"/proc/{entry}/status") as f:
                if any(line.startswith("State:") and "Z" in line for line in f):
                    continue
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.add(int(entry))
    return found


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def kill(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def write_fifo(path: Path, data: bytes, timeout: float = 5.0) -> None:
    """Write ``data`` into a FIFO once a reader has it open (never blocks forever)."""
    fd = wait_for(lambda: _try_open_writer(path), f"a reader on {path}", timeout)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _try_open_writer(path: Path) -> int | None:
    try:
        return os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:
        return None


def fingerprint_of_line(known_hosts_line: str) -> str:
    tokens = known_hosts_line.split()
    key_type_at = next(i for i, t in enumerate(tokens) if t.startswith(("ssh-", "ecdsa-")))
    blob = base64.b64decode(tokens[key_type_at + 1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class Background:
    """Run ``fn`` in a thread; ``result()`` returns its value or re-raises its exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as exc:
            self._error = exc

    def result(self, timeout: float = 10.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "background call did not finish"
        if self._error is not None:
            raise self._error
        return self._value


# -- basics ------------------------------------------------------------------------------------------


def test_key_file_login_runs_echo(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    assert isinstance(ex, Executor)
    result = ex.run(["echo", "hello", "world"])
    assert result.returncode == 0
    assert result.stdout == "hello world\n"
    assert result.stderr == ""
    assert result.argv == ("echo", "hello", "world")
    assert result.duration > 0


def test_in_memory_pkey_login(make_executor: Callable[..., SSHExecutor], sshd: SshdInfo) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(sshd.user_key_path))
    ex = make_executor(key_filename=None, pkey=key)
    assert ex.run(["id", "-un"]).stdout == f"{sshd.user}\n"


def test_exit_code_and_stderr_propagate(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    result = ex.run(["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert (result.returncode, result.stdout, result.stderr) == (42, "out\n", "err\n")
    missing = ex.run(["definitely-not-a-command-pzt"])
    assert missing.returncode == 127
    assert "not found" in missing.stderr


def test_remote_locale_is_c(make_executor: Callable[..., SSHExecutor]) -> None:
    # Error mapping in pyzfsnas.errors relies on untranslated (C locale) tool messages.
    assert make_executor().run(["sh", "-c", 'echo "$LC_ALL/$LANG"']).stdout == "C/C\n"


def test_prefix_is_prepended_remotely(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor(prefix=("env", "PZT_PREFIX=yes"))
    result = ex.run(["sh", "-c", 'echo "$PZT_PREFIX"'])
    assert result.stdout == "yes\n"
    assert result.argv == ("sh", "-c", 'echo "$PZT_PREFIX"')


def test_each_command_is_logged_at_debug(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo, caplog: pytest.LogCaptureFixture
) -> None:
    ex = make_executor()
    with caplog.at_level(logging.DEBUG, logger="pyzfsnas"):
        ex.run(["true"])
    assert f"ran true on ssh {sshd.user}@{sshd.host}:{sshd.port}: exit 0" in caplog.text


# -- quoting through a real remote /bin/sh -------------------------------------------------------------


def test_hostile_arguments_arrive_byte_exact(
    make_executor: Callable[..., SSHExecutor], shared_dir: Path
) -> None:
    ex = make_executor()
    canary = shared_dir / "canary"
    args = [a.replace("CANARY", str(canary)) for a in HOSTILE]
    result = ex.run(["printf", "%s\\0", *args], stdin=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\0")[:-1] == args
    # The same strings as the program name and inside sh -c's positional parameters.
    for arg in args:
        assert ex.run(["sh", "-c", 'printf "%s" "$1"', "sh", arg]).stdout == arg
        assert ex.run([arg, "x"]).returncode != 0
    assert not canary.exists()
    # Positive control: the remote user *can* create that file, so its absence above means something.
    assert ex.run(["sh", "-c", f"touch {canary}"]).returncode == 0
    assert canary.exists()


_REMOTE_TEXT = st.text(
    st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=30
)


@pytest.fixture(scope="module")
def module_executor(sshd: SshdInfo) -> Iterator[SSHExecutor]:
    """One executor for tests whose body runs many times (hypothesis examples)."""
    ex = SSHExecutor(sshd.host, port=sshd.port, username=sshd.user, key_filename=str(sshd.user_key_path),
                     known_hosts=str(sshd.known_hosts_path), allow_agent=False)
    yield ex
    ex.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=st.lists(_REMOTE_TEXT, min_size=1, max_size=5))
def test_generated_arguments_round_trip(module_executor: SSHExecutor, args: list[str]) -> None:
    result = module_executor.run(["printf", "%s\\0", *args])
    assert result.stdout.split("\0")[:-1] == args


# -- host keys and authentication ---------------------------------------------------------------------


def test_unknown_host_key_is_refused_by_default(
    make_executor: Callable[..., SSHExecutor], shared_dir: Path, sshd: SshdInfo
) -> None:
    empty = shared_dir / "known_hosts"
    empty.write_text("")
    ex = make_executor(known_hosts=str(empty))
    with pytest.raises(HostKeyError, match="unknown host key") as info:
        ex.run(["true"])
    assert fingerprint_of_line(sshd.host_public_key_line) in str(info.value)
    assert not ex.connected


def test_unknown_host_key_is_accepted_and_remembered_when_opted_in(
    make_executor: Callable[..., SSHExecutor], shared_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = shared_dir / "known_hosts"
    empty.write_text("")
    ex = make_executor(known_hosts=str(empty), accept_unknown_host_keys=True)
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        assert ex.run(["echo", "ok"]).stdout == "ok\n"
        ex.close()
        assert ex.run(["echo", "again"]).stdout == "again\n"  # reconnects: the key is now known
    assert caplog.text.count("accepting unknown host key") == 1
    assert empty.read_text() == ""  # remembered in memory only, never written to the file


@pytest.mark.parametrize("accept_unknown", [False, True])
def test_changed_host_key_is_always_refused(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo, accept_unknown: bool
) -> None:
    ex = make_executor(known_hosts=str(sshd.other_known_hosts_path), accept_unknown_host_keys=accept_unknown)
    with pytest.raises(HostKeyError) as info:
        ex.run(["true"])
    text = str(info.value)
    assert "CHANGED" in text
    assert f"{sshd.host}:{sshd.port}" in text
    assert fingerprint_of_line(sshd.host_public_key_line) in text
    assert fingerprint_of_line(sshd.other_known_hosts_path.read_text()) in text


def test_password_auth_failure_is_connection_failed_without_the_password(
    make_executor: Callable[..., SSHExecutor], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "pzt-Sup3r-s3cret-pw"
    ex = make_executor(key_filename=None, password=secret)
    with caplog.at_level(logging.DEBUG), pytest.raises(ConnectionFailed) as info:
        ex.run(["true"])
    assert not isinstance(info.value, HostKeyError)
    assert "authentication failed" in str(info.value)
    assert "password" in str(info.value)  # says *which kind* of credential was tried
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in caplog.text


def test_wrong_key_is_connection_failed(make_executor: Callable[..., SSHExecutor], shared_dir: Path) -> None:
    stranger = shared_dir / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    ex = make_executor(key_filename=str(stranger))
    with pytest.raises(ConnectionFailed, match="authentication failed"):
        ex.run(["true"])


def test_repr_shows_host_port_user_and_no_secrets(sshd: SshdInfo) -> None:
    key = paramiko.Ed25519Key.from_private_key_file(str(sshd.user_key_path))
    ex = SSHExecutor("example.invalid", port=2222, username="alice", password="hunter2-secret", pkey=key)
    text = repr(ex)
    assert text == "SSHExecutor(host='example.invalid', port=2222, username='alice')"
    assert "hunter2" not in text
    assert key.get_base64() not in text
    assert "hunter2" not in ex.where


# -- connection failures and timeouts -----------------------------------------------------------------


def test_connection_refused_is_connection_failed(make_executor: Callable[..., SSHExecutor]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ConnectionFailed, match="cannot connect"):
            make_executor(port=port).run(["true"])


def test_connect_timeout_is_connection_failed(make_executor: Callable[..., SSHExecutor]) -> None:
    # A listener that accepts TCP but never says anything: the SSH banner never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        ex = make_executor(port=silent.getsockname()[1], connect_timeout=0.5)
        start = time.monotonic()
        with pytest.raises(ConnectionFailed):
            ex.run(["true"])
        assert time.monotonic() - start < 3.0


def test_command_timeout_kills_the_command_and_executor_still_works(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo
) -> None:
    ex = make_executor()
    ex.run(["true"])
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as info:
        ex.run(["sleep", "7.25"], timeout=0.5)
    assert 0.4 < time.monotonic() - start < 2.0
    assert info.value.argv == ("sleep", "7.25")
    assert ex.run(["echo", "still here"]).stdout == "still here\n"
    # The remote process was killed (RFC 4254 "signal"), not left running until it finishes.
    wait_for(lambda: not remote_pids(sshd.user, ["sleep", "7.25"]), "the timed-out sleep to die")


def test_stream_timeout_raises_after_the_block(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    with pytest.raises(CommandTimeout), ex.stream(["sleep", "6.5"], timeout=0.3) as out:
        assert list(out) == []
    assert out.result is not None
    assert ex.run(["true"]).ok


# -- dropped connections and the retry policy ---------------------------------------------------------


def test_dropped_connection_is_reestablished_on_next_call(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    assert ex.run(["echo", "1"]).stdout == "1\n"
    before = ex.transport()
    drop_connection(ex)
    wait_for(lambda: not before.is_active(), "paramiko to notice the drop")
    assert ex.run(["echo", "2"]).stdout == "2\n"
    assert ex.transport() is not before
    assert ex.run(["echo", "3"]).stdout == "3\n"


def test_call_racing_a_drop_reconnects(make_executor: Callable[..., SSHExecutor]) -> None:
    # No wait for paramiko to notice: the next channel open may hit the dead transport.
    ex = make_executor()
    for i in range(5):
        drop_connection(ex)
        assert ex.run(["echo", str(i)]).stdout == f"{i}\n"


def test_interrupted_read_only_command_is_retried_once(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo, shared_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ex = make_executor()
    fifo = shared_dir / "fifo"
    os.mkfifo(fifo, 0o666)
    argv = Command(["cat", str(fifo)], read_only=True)  # declared read-only; blocks until the FIFO is written
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        call = Background(lambda: ex.run(argv))
        first = wait_for(lambda: remote_pids(sshd.user, argv), "the remote cat")
        drop_connection(ex)
        second = wait_for(lambda: remote_pids(sshd.user, argv) - first, "the retried cat")
        kill(first)  # the orphan of the dead session would otherwise compete for the FIFO
        write_fifo(fifo, b"payload\n")
        result = call.result()
    assert result.returncode == 0
    assert result.stdout == "payload\n"
    assert len(second) == 1
    assert "retrying once" in caplog.text


@pytest.mark.parametrize("journalled", [False, True], ids=["plain-cat", "sh-journal-then-cat"])
def test_undeclared_command_is_not_retried(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo, shared_dir: Path, journalled: bool
) -> None:
    # The transport knows no program: a plain argv, even ``cat``, is a possible mutation and never replayed;
    # the journalled variant also proves, by the side effect it leaves, that the command ran exactly once.
    ex = make_executor()
    fifo = shared_dir / "fifo"
    os.mkfifo(fifo, 0o666)
    journal = shared_dir / "journal"
    cat_argv = ["cat", str(fifo)]
    argv = ["sh", "-c", 'echo ran >> "$1"; exec cat "$2"', "sh", str(journal), str(fifo)] if journalled else cat_argv
    call = Background(lambda: ex.run(argv))
    first = wait_for(lambda: remote_pids(sshd.user, cat_argv), "the remote cat")
    drop_connection(ex)
    with pytest.raises(ConnectionFailed, match="may or may not have run"):
        call.result()
    time.sleep(0.3)  # a (wrong) retry would have started by now
    assert remote_pids(sshd.user, cat_argv) == first
    kill(first)
    if journalled:
        assert journal.read_text() == "ran\n"  # ran exactly once
    assert ex.run(["echo", "ok"]).stdout == "ok\n"  # and the executor reconnects for the next call


def test_streamed_stdin_is_never_replayed(
    make_executor: Callable[..., SSHExecutor], sshd: SshdInfo
) -> None:
    ex = make_executor()
    release = threading.Event()

    def chunks() -> Iterator[bytes]:
        yield b"first chunk\n"
        release.wait(5)
        yield b"late chunk\n"

    argv = Command(["cat", "-"], read_only=True)  # read-only, but its stdin is a one-shot stream
    call = Background(lambda: ex.run(argv, stdin=chunks()))
    pids = wait_for(lambda: remote_pids(sshd.user, argv), "the remote cat")
    drop_connection(ex)
    release.set()
    with pytest.raises(ConnectionFailed, match="may or may not have run"):
        call.result()
    kill(pids)


def test_custom_read_only_predicate(make_executor: Callable[..., SSHExecutor], sshd: SshdInfo,
                                    shared_dir: Path) -> None:
    fifo = shared_dir / "fifo"
    os.mkfifo(fifo, 0o666)
    argv = ["sh", "-c", 'exec cat "$1"', "sh", str(fifo)]
    ex = make_executor(read_only_predicate=lambda a: a[0] == "sh")
    call = Background(lambda: ex.run(argv))
    first = wait_for(lambda: remote_pids(sshd.user, ["cat", str(fifo)]), "the remote cat")
    drop_connection(ex)
    wait_for(lambda: remote_pids(sshd.user, ["cat", str(fifo)]) - first, "the retried cat")
    kill(first)
    write_fifo(fifo, b"custom\n")
    assert call.result().stdout == "custom\n"


# -- concurrency and streaming ------------------------------------------------------------------------


def test_eight_threads_share_one_connection(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    transports = set()

    def work(t: int) -> list[str]:
        outs = []
        for i in range(20):
            outs.append(ex.run(["printf", "%s", f"t{t}-{i}"]).stdout)
            transports.add(id(ex.transport()))
        return outs

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[f"t{t}-{i}" for i in range(20)] for t in range(8)]
    assert len(transports) == 1


def test_concurrent_commands_with_stdin_do_not_break_the_connection(
    make_executor: Callable[..., SSHExecutor],
) -> None:
    # Commands that exit before reading their stdin: our data/EOF must never follow the channel's CLOSE,
    # which sshd answers by dropping the whole connection (a real race, see ssh.py's channel guard).
    ex = make_executor()
    transports = set()

    def work(t: int) -> list[tuple[int, str]]:
        outs = []
        for i in range(20):
            r = ex.run(["true"], stdin=b"x" * 1000) if i % 2 else ex.run(["cat"], stdin=f"{t}-{i}")
            outs.append((r.returncode, r.stdout))
            transports.add(id(ex.transport()))
        return outs

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [[(0, "" if i % 2 else f"{t}-{i}") for i in range(20)] for t in range(8)]
    assert len(transports) == 1


def _pattern_chunks(total: int, size: int) -> Iterator[bytes]:
    """Deterministic pseudo-random chunks generated on the fly (the 50 MB never exist in memory at once)."""
    block = hashlib.sha256(b"pzt").digest() * (size // 32)
    for n in range(total // size):
        yield n.to_bytes(8, "big") + block[8:]


def test_stream_50mb_through_cat_with_bounded_chunks(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    total, size = 50 << 20, 1 << 20
    want = hashlib.sha256()
    for chunk in _pattern_chunks(total, size):
        want.update(chunk)
    got = hashlib.sha256()
    count = biggest = 0
    with ex.stream(["cat"], stdin=_pattern_chunks(total, size)) as out:
        for chunk in out:
            got.update(chunk)
            count += len(chunk)
            biggest = max(biggest, len(chunk))
    assert count == total
    assert got.hexdigest() == want.hexdigest()
    assert 0 < biggest <= CHUNK_SIZE
    assert out.result is not None
    assert out.result.returncode == 0
    assert out.result.stdout == ""


def test_run_feeds_iterable_stdin_and_survives_chatty_stderr(
    make_executor: Callable[..., SSHExecutor],
) -> None:
    ex = make_executor()
    chunks = [b"a" * 100_000, b"", b"b" * 300_000, b"c"]
    assert ex.run(["wc", "-c"], stdin=iter(chunks)).stdout.strip() == "400001"
    assert ex.run(["cat"], stdin="héllo").stdout == "héllo"
    # 5 MB on stderr, more than the channel window: must not deadlock while stdout is read.
    result = ex.run(["sh", "-c", "head -c 5000000 /dev/zero | tr '\\0' e >&2; echo done"])
    assert result.stdout == "done\n"
    assert len(result.stderr) == 5_000_000


def test_stream_consumer_stopping_early_does_not_hang(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    start = time.monotonic()
    with ex.stream(["yes"]) as out:
        for _chunk in out:
            break
    assert time.monotonic() - start < 5
    assert out.result is not None
    assert out.result.returncode != 0
    assert ex.run(["true"]).ok


def test_stream_reports_exit_status_and_stderr(make_executor: Callable[..., SSHExecutor]) -> None:
    ex = make_executor()
    with ex.stream(["sh", "-c", "printf abc; echo oops >&2; exit 3"]) as out:
        data = b"".join(out)
    assert data == b"abc"
    assert out.result is not None
    assert (out.result.returncode, out.result.stderr) == (3, "oops\n")

