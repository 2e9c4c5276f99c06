"""Run commands on a remote host over one persistent, verified SSH connection (paramiko).

Design, in short:

* **One transport, many channels.** The first command opens the connection; later ones open a channel on
  the same transport (about 4 ms per command on loopback instead of 120 ms for a fresh connection). Threads
  share it: a lock guards only connecting and reconnecting, channels are opened concurrently. The socket is
  created here with ``TCP_NODELAY`` (without it, each small command waits on Nagle's algorithm: ~47 ms).
* **Host keys are checked.** Known keys come from ``known_hosts`` (default: the system file and
  ``~/.ssh/known_hosts``). An unknown key is refused with :class:`~pyzfsnas.errors.HostKeyError` unless
  ``accept_unknown_host_keys=True``, which trusts the first key seen for the executor's lifetime; a changed
  key is always refused.
* **One quoting function.** The argv becomes a shell line only through
  :func:`pyzfsnas.executors.quoting.quote_argv`; the remote side runs it under ``LC_ALL=C`` so tool messages
  are the ones :mod:`pyzfsnas.errors` understands.
* **Reconnect, but never run a mutation twice.** A dead transport is replaced on the next call. If it dies
  while a command runs, the command is retried once only when its builder declared it read-only (a
  :class:`~pyzfsnas.result.Command` with ``read_only``, or the executor's ``read_only_predicate``) and its
  stdin can be replayed; a plain argv is never replayed. This transport knows nothing of ZFS; otherwise
  :class:`~pyzfsnas.errors.ConnectionFailed` says the command may or may not have run.
* **No secrets leak.** Passwords and keys never appear in ``repr``, log lines or exception text.

paramiko is imported here only; ``pyzfsnas.executors`` imports this module lazily.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import logging
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Any, cast

import paramiko

from pyzfsnas import commands as cmd
from pyzfsnas.errors import ConnectionFailed, HostKeyError, error_from_result, shown_argv
from pyzfsnas.executors.base import CHUNK_SIZE, BaseExecutor, Outcome, Stdin
from pyzfsnas.executors.quoting import quote_argv
from pyzfsnas.names import check_port
from pyzfsnas.result import is_read_only

__all__ = ["SSHExecutor"]

log = logging.getLogger("pyzfsnas")

#: The known_hosts files read when ``known_hosts`` is not given (missing files are skipped).
DEFAULT_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "~/.ssh/known_hosts")

#: Assignments put before every remote command: C messages, whatever the remote user's locale.
_ENV_PREFIX = "LC_ALL=C LANG=C "

#: How long a failed channel waits for paramiko to mark a broken transport inactive (see ``_lost``).
_LOSS_GRACE = 0.5

def _fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a public key (what ``ssh-keygen -l`` prints)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


class _ConnectionLost(Exception):
    """Internal: the transport died while a command was (possibly) running on it."""


class _Outcome(Outcome):
    """What one channel produced: exit status (-1: none received), output, and how it ended."""

    __slots__ = ("abandoned", "lost")

    def __init__(self) -> None:
        super().__init__()
        self.lost = False
        #: We closed the channel before the command ended (a stream consumer stopped early).
        self.abandoned = False


def _drain_stderr(chan: paramiko.Channel, into: list[bytes]) -> None:
    """Read stderr until EOF in its own thread, so a chatty stderr cannot fill the window and deadlock."""
    while True:
        try:
            chunk = chan.recv_stderr(CHUNK_SIZE)
        except TimeoutError:  # ``run`` sets a channel timeout for its own stdout reads: keep waiting
            continue
        except (OSError, EOFError, paramiko.SSHException):  # pragma: no cover - channel torn down under us
            return
        if not chunk:
            return
        into.append(chunk)


# -- sending on a channel without racing its close ------------------------------------------------------
#
# sshd frees a channel id once CLOSE went both ways, and treats any later message for that id (data, EOF,
# a request) as a protocol error that drops the whole connection, with every command on it. paramiko builds
# a message under the channel lock but sends it after releasing it, while its transport thread answers the
# server's CLOSE with ours: a stdin chunk or EOF from another thread can slip in after our CLOSE (seen with
# 8 threads running short commands with stdin). So every message we originate on a channel is sent while
# holding that channel's *guard*, which the transport's CLOSE handler also takes (see _install_close_guard);
# nothing blocking happens under the guard: data is sent only when the window has room.

_GUARDS: weakref.WeakKeyDictionary[paramiko.Channel, threading.Lock] = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


def _guard(chan: paramiko.Channel) -> threading.Lock:
    with _GUARDS_LOCK:
        lock = _GUARDS.get(chan)
        if lock is None:
            lock = _GUARDS[chan] = threading.Lock()
        return lock


def _install_close_guard(transport: paramiko.Transport) -> None:
    """Make ``transport`` take a channel's guard while it handles the server's CLOSE for that channel."""
    table = dict(getattr(type(transport), "_channel_handler_table", {}))
    original = table.get(paramiko.common.MSG_CHANNEL_CLOSE)
    if original is None:  # pragma: no cover - paramiko changed; fall back to its own (racy) behaviour
        return

    def guarded_close(chan: paramiko.Channel, msg: paramiko.Message) -> None:
        with _guard(chan):
            original(chan, msg)

    table[paramiko.common.MSG_CHANNEL_CLOSE] = guarded_close
    cast(Any, transport)._channel_handler_table = table  # per-instance override of a private table


def _send_all(chan: paramiko.Channel, data: bytes) -> bool:
    """Send ``data`` on ``chan`` unless it closes first; False when it closed (the command reads no more)."""
    guard = _guard(chan)
    offset = 0
    while offset < len(data):
        with chan.out_buffer_cv:  # wait (lock released) for window room, a close, or the transport's end
            chan.out_buffer_cv.wait_for(lambda: chan.out_window_size > 0 or chan.closed, timeout=1.0)
        with guard:
            if chan.closed:
                return False
            if chan.out_window_size <= 0:
                continue
            # Only this thread consumes window, so send() cannot block here.
            offset += chan.send(data[offset : offset + chan.out_max_packet_size])
    return True


def _send_eof(chan: paramiko.Channel) -> None:
    """Tell the remote command its stdin ended, unless the channel is already closed."""
    with _guard(chan), suppress(OSError, EOFError, paramiko.SSHException):
        if not chan.closed:
            chan.shutdown_write()


def _close_quietly(chan: paramiko.Channel) -> None:
    """Close a channel; on a dead transport paramiko raises while sending CLOSE, which changes nothing."""
    with _guard(chan), suppress(OSError, EOFError, paramiko.SSHException):
        chan.close()


class _Feeder(threading.Thread):
    """Send stdin (bytes, str or an iterable of chunks, never joined) to a channel, then send EOF."""

    def __init__(self, chan: paramiko.Channel, data: Stdin) -> None:
        super().__init__(daemon=True, name="pyzfsnas-ssh-stdin")
        self._chan = chan
        self._data = data
        #: An exception raised by the caller's stdin iterable (re-raised in the caller's thread).
        self.error: BaseException | None = None

    def run(self) -> None:
        data = self._data
        try:
            if isinstance(data, str):
                _send_all(self._chan, data.encode("utf-8"))
            elif isinstance(data, bytes):
                _send_all(self._chan, data)
            elif data is not None:
                for chunk in data:
                    if not _send_all(self._chan, chunk):
                        break
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the channel or transport died: the caller sees that on the read side
        except BaseException as exc:  # the caller's iterable failed: report it, still send EOF
            self.error = exc
        finally:
            _send_eof(self._chan)


def _recv_all(chan: paramiko.Channel) -> Iterator[bytes]:
    """The stdout of a running remote command, in chunks of at most ``CHUNK_SIZE`` bytes."""
    try:
        while chunk := chan.recv(CHUNK_SIZE):
            yield chunk
    except (OSError, EOFError, paramiko.SSHException):  # pragma: no cover - treated as end of output
        return


class _HostKeyPolicy(paramiko.MissingHostKeyPolicy):
    """Refuse unknown host keys, or (when allowed) remember the first one seen for the executor's lifetime."""

    def __init__(self, executor: SSHExecutor) -> None:
        self._executor = executor

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        ex = self._executor
        if not ex.accept_unknown_host_keys:
            raise HostKeyError(
                f"unknown host key for {hostname} ({key.get_name()} {_fingerprint(key)}); add it to "
                f"known_hosts or pass accept_unknown_host_keys=True"
            )
        log.warning("accepting unknown host key for %s: %s %s", hostname, key.get_name(), _fingerprint(key))
        ex._accepted_keys.add(hostname, key.get_name(), key)


class SSHExecutor(BaseExecutor):
    """Executor for a remote host over SSH; see the module docstring for the connection policy.

    ``host``/``port``/``username`` say where (``username=None``: the local user name). Authentication uses,
    in paramiko's order, ``pkey`` (an in-memory :class:`paramiko.PKey`), ``key_filename``, the SSH agent
    (``allow_agent``), then ``password``; the default ``~/.ssh/id_*`` keys are tried only when no credential
    is given. ``known_hosts`` is a path (``None``: the system file and ``~/.ssh/known_hosts``).
    ``prefix`` is prepended to every argv on the remote side, e.g. ``("sudo", "-n")``. ``connect_timeout``
    bounds TCP connect, banner, key exchange and authentication; ``timeout`` is the default per command
    (``None``: no limit). ``keepalive`` is the interval, in seconds, of SSH keepalive packets (0: none).
    ``read_only_predicate`` decides which commands may be replayed after a connection drop (default
    :func:`~pyzfsnas.result.is_read_only`: what the command's builder declared); it sees the argv as passed
    to ``run``, without ``prefix``.
    """

    #: The remote host name or address.
    host: str
    #: The remote SSH port.
    port: int
    #: The remote user (``None``: the local user name).
    username: str | None
    #: Whether the SSH agent is asked for keys.
    allow_agent: bool
    #: Whether host keys missing from ``known_hosts`` are accepted (insecure).
    accept_unknown_host_keys: bool
    #: Prepended to every argv on the remote side, e.g. ``("sudo", "-n")``.
    prefix: tuple[str, ...]
    #: Limit for TCP connect, banner, key exchange and authentication, in seconds.
    connect_timeout: float
    #: Default time limit per command, in seconds (``None``: no limit).
    timeout: float | None
    #: Interval of SSH keepalive packets, in seconds (0: none).
    keepalive: int
    #: Where commands run, as log lines name it: ``ssh USER@HOST:PORT``.
    where: str
    #: Which commands may be replayed after a connection drop (sees the argv without ``prefix``).
    read_only_predicate: Callable[[Sequence[str]], bool]

    def __init__(
        self,
        host: str,
        *,
        port: int = 22,
        username: str | None = None,
        key_filename: str | os.PathLike[str] | None = None,
        pkey: paramiko.PKey | None = None,
        password: str | None = None,
        allow_agent: bool = True,
        known_hosts: str | os.PathLike[str] | None = None,
        accept_unknown_host_keys: bool = False,
        prefix: Sequence[str] = (),
        connect_timeout: float = 10.0,
        timeout: float | None = 600.0,
        keepalive: int = 30,
        read_only_predicate: Callable[[Sequence[str]], bool] | None = None,
    ) -> None:
        check_port(port)
        self.host = host
        self.port = port
        self.username = username
        self.allow_agent = allow_agent
        self.accept_unknown_host_keys = accept_unknown_host_keys
        self.prefix = tuple(prefix)
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.keepalive = keepalive
        self.read_only_predicate = read_only_predicate or is_read_only
        self._key_filename = os.fspath(key_filename) if key_filename is not None else None
        self._pkey = pkey
        self._password = password
        self._known_hosts = (
            (os.fspath(known_hosts),) if known_hosts is not None
            else tuple(os.path.expanduser(p) for p in DEFAULT_KNOWN_HOSTS)
        )
        self._accepted_keys = paramiko.HostKeys()
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None
        self.where = f"ssh {self.user}@{host}:{port}"

    @property
    def user(self) -> str:
        """The remote user name actually used."""
        return self.username or getpass.getuser()

    def __repr__(self) -> str:
        return f"SSHExecutor(host={self.host!r}, port={self.port!r}, username={self.user!r})"

    def __enter__(self) -> SSHExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- connection ---------------------------------------------------------------------------------

    def _connect(self) -> paramiko.SSHClient:
        """Open and authenticate a new connection; map every failure to ConnectionFailed/HostKeyError."""
        client = paramiko.SSHClient()
        for path in self._known_hosts:
            if os.path.isfile(path):
                try:
                    client.load_system_host_keys(path)
                except (OSError, paramiko.SSHException) as exc:
                    raise ConnectionFailed(f"cannot read known_hosts file {path}: {exc}") from exc
        known = client.get_host_keys()
        for name in self._accepted_keys:
            for keytype, key in self._accepted_keys[name].items():
                known.add(name, keytype, key)
        client.set_missing_host_key_policy(_HostKeyPolicy(self))
        where = f"{self.user}@{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except TimeoutError as exc:
            raise ConnectionFailed(
                f"cannot connect to {where}: timed out after {self.connect_timeout:g}s"
            ) from exc
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        credentials = self._pkey is not None or self._key_filename is not None or self._password is not None
        try:
            client.connect(
                self.host,
                port=self.port,
                username=self.user,
                password=self._password,
                pkey=self._pkey,
                key_filename=self._key_filename,
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout,
                allow_agent=self.allow_agent,
                look_for_keys=not credentials,
                sock=sock,
            )
        except HostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyError(
                f"host key for {self.host}:{self.port} has CHANGED (possible man-in-the-middle): "
                f"known_hosts has {exc.expected_key.get_name()} {_fingerprint(exc.expected_key)}, server "
                f"offered {exc.key.get_name()} {_fingerprint(exc.key)}; refusing to connect"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise ConnectionFailed(self._auth_failure_message(exc)) from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            # paramiko's own texts here (banner/negotiation/socket errors) carry no credentials.
            raise ConnectionFailed(f"SSH connection to {where} failed: {type(exc).__name__}: {exc}") from exc
        transport = client.get_transport()
        if transport is None:  # pragma: no cover - connect() always leaves a transport
            client.close()
            raise ConnectionFailed(f"SSH connection to {where} failed: no transport")
        _install_close_guard(transport)
        if self.keepalive:
            transport.set_keepalive(self.keepalive)
        log.debug("connected to %s", where)
        return client

    def _auth_failure_message(self, exc: paramiko.AuthenticationException) -> str:
        """Say which kinds of credentials were tried, never their values."""
        tried = [
            name
            for name, used in (
                ("in-memory key", self._pkey is not None),
                ("key file", self._key_filename is not None),
                ("agent", self.allow_agent),
                ("password", self._password is not None),
            )
            if used
        ]
        allowed = ""
        if isinstance(exc, paramiko.BadAuthenticationType):
            allowed = f"; the server accepts only: {', '.join(exc.allowed_types)}"
        return (
            f"SSH authentication failed for {self.user}@{self.host}:{self.port} "
            f"(tried: {', '.join(tried) or 'default keys'}){allowed}"
        )

    def _ensure_transport(self) -> paramiko.Transport:
        """The live transport, connecting or reconnecting under the lock if needed."""
        with self._lock:
            client = self._client
            transport = client.get_transport() if client is not None else None
            if transport is not None and transport.is_active():
                return transport
            if client is not None:
                log.info("SSH transport to %s is down; reconnecting", self.where)
                client.close()
                self._client = None
            self._client = self._connect()
            transport = self._client.get_transport()
            assert transport is not None
            return transport

    def _discard(self, transport: paramiko.Transport) -> None:
        """Forget ``transport`` if it is still the current one (another thread may have replaced it)."""
        with self._lock:
            client = self._client
            if client is not None and client.get_transport() is transport:
                client.close()
                self._client = None

    @staticmethod
    def _lost(transport: paramiko.Transport, grace: float = _LOSS_GRACE) -> bool:
        """Whether ``transport`` is dead, waiting up to ``grace`` seconds for paramiko to say so.

        When the connection breaks, paramiko closes the channels first and marks the transport inactive
        just after (and a failed channel call may already have consumed its saved error), so a channel
        that just failed can still see an "active" transport for a moment.
        """
        deadline = time.monotonic() + grace
        while transport.is_active() and transport.saved_exception is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _open_channel(self) -> tuple[paramiko.Transport, paramiko.Channel]:
        """Open a session channel, reconnecting once if the transport turns out dead (nothing ran yet)."""
        for attempt in (1, 2):
            transport = self._ensure_transport()
            try:
                return transport, transport.open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                # A ChannelException is the server's answer (e.g. MaxSessions): the transport is fine.
                if isinstance(exc, paramiko.ChannelException) or not self._lost(transport):
                    raise ConnectionFailed(f"{self.where}: cannot open a channel: {exc}") from exc
                self._discard(transport)
                if attempt == 2:
                    raise ConnectionFailed(f"{self.where}: connection lost while opening a channel") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one command on one channel ------------------------------------------------------------------

    def _command_line(self, args: tuple[str, ...], stdin: Stdin) -> str:
        """The shell line sent to sshd: C locale, the quoted prefix and argv, and ``</dev/null`` if no stdin.

        Without stdin the remote command reads ``/dev/null`` (like LocalExecutor's DEVNULL) instead of
        waiting for an EOF from us: sending EOF races with a fast command's channel close (see _send_eof).
        """
        line = _ENV_PREFIX + quote_argv((*self.prefix, *args))
        return line if stdin is not None else line + " </dev/null"

    @staticmethod
    def _kill_remote(chan: paramiko.Channel) -> None:
        """Ask sshd to SIGKILL the remote command (RFC 4254 "signal" request), best effort, then close."""
        # Best effort (closing the channel follows anyway); paramiko has no public API for this request.
        with _guard(chan), suppress(Exception):
            send = getattr(chan.get_transport(), "_send_user_message", None)
            if not chan.closed and send is not None:  # closed: the command ended meanwhile
                msg = paramiko.Message()
                msg.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
                msg.add_int(chan.remote_chanid)
                msg.add_string("signal")
                msg.add_boolean(False)
                msg.add_string("KILL")
                send(msg)
        _close_quietly(chan)

    def _start(
        self, chan: paramiko.Channel, transport: paramiko.Transport, command: str, stdin: Stdin
    ) -> tuple[_Outcome, list[threading.Thread], _Feeder]:
        """Exec ``command`` on ``chan`` and start the stderr and stdin threads. Raises _ConnectionLost."""
        try:
            chan.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            _close_quietly(chan)
            if self._lost(transport):
                raise _ConnectionLost from exc
            raise ConnectionFailed(f"{self.where}: the server refused to run the command: {exc}") from exc
        outcome = _Outcome()
        stderr_thread = threading.Thread(
            target=_drain_stderr, args=(chan, outcome.stderr), daemon=True, name="pyzfsnas-ssh-stderr"
        )
        feeder = _Feeder(chan, stdin)
        stderr_thread.start()
        if stdin is not None:  # without stdin the command reads /dev/null: nothing to send, not even EOF
            feeder.start()
        return outcome, [stderr_thread], feeder

    def _finish(
        self,
        chan: paramiko.Channel,
        transport: paramiko.Transport,
        outcome: _Outcome,
        *,
        threads: list[threading.Thread],
        feeder: _Feeder,
        deadline: float | None,
    ) -> None:
        """Wait for the exit status (or the deadline), close the channel, and classify how it ended."""
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not outcome.timed_out and not chan.status_event.wait(remaining):
            outcome.timed_out = True
            self._kill_remote(chan)
        for t in threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()) + 1.0)
        received = chan.exit_status != -1
        outcome.returncode = chan.exit_status
        _close_quietly(chan)  # also unblocks a feeder waiting for window space the command will never give
        if feeder.is_alive():
            feeder.join(1.0)
        if not received and not outcome.timed_out and not outcome.abandoned and self._lost(transport):
            outcome.lost = True

    # -- the Executor protocol -----------------------------------------------------------------------

    def _execute(self, argv: Sequence[str], args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                 limit: float | None) -> Outcome:
        """Run ``args`` on one channel; replayed once on a lost connection when declared read-only.

        A return code of -1 means the remote command ended without an exit status (killed by a signal).
        """
        command = self._command_line(args, stdin)
        deadline = None if limit is None else time.monotonic() + limit
        replayable = stdin is None or isinstance(stdin, bytes)
        for attempt in (1, 2):
            transport, chan = self._open_channel()
            try:
                outcome, threads, feeder = self._start(chan, transport, command, stdin)
                self._read_stdout(chan, outcome, deadline)
                self._finish(chan, transport, outcome, threads=threads, feeder=feeder, deadline=deadline)
                if outcome.lost:
                    raise _ConnectionLost
            except _ConnectionLost:
                self._discard(transport)
                if attempt == 1 and replayable and self.read_only_predicate(argv):
                    log.warning("connection to %s lost during read-only %s; retrying once",
                                self.where, shown_argv(args))
                    continue
                raise ConnectionFailed(self._lost_message(args)) from None
            outcome.error = feeder.error
            return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    def _read_stdout(self, chan: paramiko.Channel, outcome: _Outcome, deadline: float | None) -> None:
        """Collect stdout until EOF; at ``deadline`` kill the command and mark the outcome timed out.

        The deadline is a channel timeout on each read rather than a timer thread: a thread per command
        would double the cost of a short command (~4 ms to ~8 ms on loopback).
        """
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    outcome.timed_out = True
                    self._kill_remote(chan)
                    return
                chan.settimeout(remaining)
            try:
                chunk = chan.recv(CHUNK_SIZE)
            except TimeoutError:
                continue
            if not chunk:
                return
            outcome.stdout.append(chunk)

    def _lost_message(self, args: tuple[str, ...]) -> str:
        return (
            f"connection to {self.where} lost while running {shown_argv(args)!r}; "
            f"the command may or may not have run (not retried: it is not read-only or its stdin was "
            f"a stream)"
        )

    def _deadline_timer(
        self, chan: paramiko.Channel, outcome: _Outcome, deadline: float | None
    ) -> threading.Timer | None:
        """A timer that kills the command at ``deadline``: blocked reads then see end of output."""
        if deadline is None:
            return None

        def expire() -> None:
            outcome.timed_out = True
            self._kill_remote(chan)

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), expire)
        timer.daemon = True
        timer.start()
        return timer

    @contextmanager
    def _open_stream(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None, limit: float | None,
                     outcome: Outcome) -> Iterator[Iterable[bytes]]:
        """Start ``args`` on one channel and yield its stdout; never retried (see the module docstring).

        Memory stays bounded: paramiko's channel window (2 MiB) stops the server from sending more than the
        consumer has read. A lost connection raises ConnectionFailed after the ``with``.
        """
        command = self._command_line(args, stdin)
        deadline = None if limit is None else time.monotonic() + limit
        transport, chan = self._open_channel()
        try:
            state, threads, feeder = self._start(chan, transport, command, stdin)
        except _ConnectionLost:
            self._discard(transport)
            raise ConnectionFailed(self._lost_message(args)) from None
        timer = self._deadline_timer(chan, state, deadline)
        try:
            yield _recv_all(chan)
        finally:
            if timer is not None:
                timer.cancel()
            if not chan.eof_received and not chan.closed:
                # The consumer stopped early: close our side; the remote writer then gets SIGPIPE.
                state.abandoned = True
                _close_quietly(chan)
            self._finish(chan, transport, state, threads=threads, feeder=feeder, deadline=deadline)
            outcome.returncode, outcome.stderr[:] = state.returncode, state.stderr
            outcome.timed_out, outcome.error = state.timed_out, feeder.error
            if state.lost:
                self._discard(transport)
        if state.lost and not state.timed_out:
            raise ConnectionFailed(self._lost_message(args))

    # -- files: SFTP on the same connection (by commands when a prefix such as sudo is set) ---------------

    @contextmanager
    def _sftp(self, argv: Sequence[str]) -> Iterator[paramiko.SFTPClient]:
        """An SFTP session on the live transport; file errors become the typed error the command would raise."""
        try:
            sftp = paramiko.SFTPClient.from_transport(self._ensure_transport())
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectionFailed(f"{self.where}: cannot open an SFTP session: {exc}") from exc
        if sftp is None:  # pragma: no cover - paramiko returns None only for a closed transport
            raise ConnectionFailed(f"{self.where}: cannot open an SFTP session")
        try:
            yield sftp
        except OSError as exc:
            if exc.errno is None:  # not an SFTP status: the connection itself failed
                raise ConnectionFailed(f"{self.where}: SFTP failed: {exc}") from exc
            # paramiko's texts are SFTP's ("No such file"); the C library's are the ones the error table knows
            raise error_from_result(argv, 1, f"{argv[0]}: {argv[-1]}: {os.strerror(exc.errno)}") from None
        except (paramiko.SSHException, EOFError) as exc:
            raise ConnectionFailed(f"{self.where}: SFTP failed: {exc}") from exc
        finally:
            with suppress(Exception):
                sftp.close()

    _direct_files = True

    def _read_direct(self, path: str) -> bytes:
        with self._sftp(cmd.file_cat(path)) as sftp, sftp.open(path, "rb") as f:
            data: bytes = f.read()  # typed here: without types-paramiko, read() is Any
            return data

    def _write_direct(self, path: str, tmp: str, data: bytes, label: Sequence[str]) -> None:
        """Write ``tmp`` over SFTP and rename it over ``path`` (``posix-rename``: atomic, replaces)."""
        with self._sftp(label) as sftp:
            try:
                with sftp.open(tmp, "wb") as f:
                    f.write(data)
                sftp.posix_rename(tmp, path)
            except (OSError, paramiko.SSHException, EOFError):
                with suppress(Exception):
                    sftp.remove(tmp)
                raise

    def close(self) -> None:
        """Close the connection; the next command reconnects."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- helpers for callers and tests ---------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a live transport is open right now."""
        client = self._client
        transport = client.get_transport() if client is not None else None
        return transport is not None and transport.is_active()

    def transport(self) -> paramiko.Transport:
        """The live paramiko transport (connecting if needed), for callers that need raw access."""
        return self._ensure_transport()
