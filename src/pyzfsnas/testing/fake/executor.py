""":class:`FakeExecutor`: the Executor protocol over a :class:`FakeHost`, with a transcript of every command."""

from __future__ import annotations

import contextlib
import os
import shlex
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

from pyzfsnas.commands import INSTALL_SCRIPT, SIGNAL_PIDFILE_SCRIPT
from pyzfsnas.errors import CommandTimeout
from pyzfsnas.executors.base import BaseExecutor, Outcome, Result, Stdin, check_stdin
from pyzfsnas.testing.fake.exportfs_cli import run_exportfs
from pyzfsnas.testing.fake.files import (
    FILE_PROGRAMS,
    install,
    read_file,
    run_file_command,
    signal_pidfile,
    write_file,
)
from pyzfsnas.testing.fake.host import FakeHost
from pyzfsnas.testing.fake.network import FakeNetwork, split_ssh
from pyzfsnas.testing.fake.output import Out
from pyzfsnas.testing.fake.stream import run_zfs
from pyzfsnas.testing.fake.zpool_cli import run_zpool

__all__ = ["FakeExecutor", "execute"]

#: the duration recorded for every fake command (no sleeping: the fake is timing-free)
FAKE_DURATION = 0.001


def _chunks(stdin: Stdin) -> Iterable[bytes]:
    data = check_stdin(stdin)  # text encoded (or refused) before anything runs, as the real executors do
    if data is None:
        return ()
    if isinstance(data, bytes):
        return (data,)
    return data


def _text(stdout: str | Iterable[bytes]) -> str:
    if isinstance(stdout, str):
        return stdout
    return b"".join(stdout).decode("utf-8", "replace")  # as LocalExecutor and SSHExecutor decode


def _as_chunks(stdout: str | Iterable[bytes]) -> Iterable[bytes]:
    return (stdout.encode(),) if isinstance(stdout, str) else stdout


def _fault(host: FakeHost, argv: Sequence[str], timeout: float | None) -> Out | None:
    """Count one command against the host's injected faults: its failure, a hang (raised), or None."""
    fault = host.next_fault()
    if fault is None:
        return None
    kind, rc, err = fault
    if kind == "hang":
        raise CommandTimeout(argv, timeout if timeout is not None else 0.0)
    return Out(rc, "", err)


def _install(host: FakeHost, params: list[str], stdin: Iterable[bytes], network: FakeNetwork | None,
             timeout: float | None) -> Out:
    """:data:`~pyzfsnas.commands.INSTALL_SCRIPT`: the write (see :func:`files.install`), then ``exec``."""
    if len(params) < 2:
        return Out(2, "", "sh: 2: cannot create : Directory nonexistent\n")
    written = install(host, params[0], params[1], stdin)
    if written.returncode != 0 or len(params) == 2:
        return written
    then = execute(host, params[2:], (), network, timeout, faults=False)  # exec "$@": part of this command
    return Out(then.returncode, then.stdout, written.stderr + then.stderr)


def _signal_pidfile(host: FakeHost, params: list[str], stdin: Iterable[bytes], network: FakeNetwork | None,
                    timeout: float | None) -> Out:
    """:data:`~pyzfsnas.commands.SIGNAL_PIDFILE_SCRIPT` (see :func:`files.signal_pidfile`)."""
    if len(params) < 2:
        return Out(1, "", "cat: '': No such file or directory\n")
    return signal_pidfile(host, params[0], params[1])


#: The fixed ``sh -c`` scripts of :mod:`pyzfsnas.commands`, emulated step by step (any other script is read
#: as a pipeline of simple commands).
_SCRIPTS: dict[str, Callable[[FakeHost, list[str], Iterable[bytes], FakeNetwork | None, float | None], Out]] = {
    INSTALL_SCRIPT: _install,
    SIGNAL_PIDFILE_SCRIPT: _signal_pidfile,
}


def execute(host: FakeHost, argv: Sequence[str], stdin: Iterable[bytes], network: FakeNetwork | None,
            timeout: float | None = None, *, faults: bool = True) -> Out:
    """Run one argv on ``host`` (taking its lock for host programs); ``ssh``/``sh -c`` recurse.

    Each command counts once against the host's injected faults; a fixed script counts as one command
    (``faults=False`` runs the command it execs without counting again).
    """
    prog = os.path.basename(argv[0])
    args = list(argv[1:])
    if prog == "ssh":
        parsed = split_ssh(args)
        if parsed is None:
            return Out(255, "", "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] destination [command [argument ...]]\n")
        dest, remote = parsed
        target = network.get(dest) if network is not None else None
        if target is None:
            return Out(255, "", f"ssh: Could not resolve hostname {dest}: Name or service not known\n")
        if not remote:
            return Out(1, "", "Pseudo-terminal will not be allocated because stdin is not a terminal.\n")
        return execute(target, remote, stdin, network, timeout)
    if prog in ("sh", "bash") and len(args) >= 2 and args[0] == "-c":
        script = _SCRIPTS.get(args[1])
        if script is None:
            return _pipeline(host, args[1], stdin, network, timeout)
        with host.lock:
            fault = _fault(host, argv, timeout) if faults else None  # the script is one command
            return fault or script(host, args[3:], stdin, network, timeout)
    handler = {"zfs": run_zfs, "zpool": run_zpool}.get(prog)
    with host.lock:
        fault = _fault(host, argv, timeout) if faults else None
        if fault is not None:
            return fault
        if handler is not None:
            return handler(host, args, stdin)
        if prog == "exportfs":
            return run_exportfs(host, args)
        if prog == "true":
            return Out()
        if prog in FILE_PROGRAMS:
            return run_file_command(host, prog, args, stdin)
    return Out(127, "", f"{prog}: command not found\n")


def _pipeline(host: FakeHost, script: str, stdin: Iterable[bytes], network: FakeNetwork | None,
              timeout: float | None) -> Out:
    lexer = shlex.shlex(script, posix=True, punctuation_chars="|")
    lexer.whitespace_split = True
    words = list(lexer)
    stages: list[list[str]] = [[]]
    for w in words:
        if w == "|":
            stages.append([])
        else:
            stages[-1].append(w)
    if any(not s for s in stages):
        return Out(2, "", "sh: 1: Syntax error: \"|\" unexpected\n")
    data: Iterable[bytes] = stdin
    stderr = ""
    out = Out()
    for stage in stages:
        out = execute(host, stage, data, network, timeout)
        stderr += out.stderr
        data = _as_chunks(out.stdout)
    return Out(out.returncode, out.stdout, stderr)


class FakeExecutor(BaseExecutor):
    """Runs argv on a :class:`FakeHost` (a new openzfs host when none is given); records a transcript.

    ``network`` lets ``ssh HOST ...`` reach other fake hosts; the executor's own host is added to it. File
    operations use the host's file store (``host.files``) and appear in the transcript as
    ``("read_file", PATH)`` / ``("write_file", PATH)``; injected faults apply to them as to commands.
    """

    #: The host commands run on.
    host: FakeHost
    #: Other hosts ``ssh HOST ...`` can reach, or ``None``.
    network: FakeNetwork | None
    #: Every command run, oldest first: argv, exit status, stdout, stderr (see :attr:`commands`).
    transcript: list[Result]
    #: Nothing is prepended on the fake host.
    prefix: tuple[str, ...]
    #: No default time limit (the fake never waits; an injected hang times out at once).
    timeout: float | None
    #: Where commands run, as log lines name it: ``fake:NAME``.
    where: str

    def __init__(self, host: FakeHost | None = None, *, network: FakeNetwork | None = None) -> None:
        self.host = host if host is not None else FakeHost()
        self.network = network
        if network is not None and self.host.name not in network:
            network.add(self.host)
        self.transcript: list[Result] = []
        self._lock = threading.Lock()
        self.prefix = ()
        self.timeout = None
        self.where = f"fake:{self.host.name}"

    def __repr__(self) -> str:
        return f"FakeExecutor({self.host.name!r}, {self.host.flavour})"

    @property
    def commands(self) -> list[tuple[str, ...]]:
        """The argv of every command run so far."""
        with self._lock:
            return [r.argv for r in self.transcript]

    def reset_transcript(self) -> None:
        """Forget the recorded commands."""
        with self._lock:
            self.transcript.clear()

    def _record(self, result: Result) -> None:
        with self._lock:
            self.transcript.append(result)
        super()._record(result)

    def _duration(self, start: float) -> float:
        return FAKE_DURATION  # the fake is timing-free

    def _interpret(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                   limit: float | None) -> tuple[Outcome, Iterable[bytes]]:
        outcome = Outcome()
        try:
            out = execute(self.host, args, _chunks(stdin), self.network, limit)
        except CommandTimeout:  # an injected hang: recorded as killed (exit -9), raised by the base
            outcome.timed_out = True
            return outcome, ()
        outcome.returncode = out.returncode
        outcome.stderr.append(out.stderr.encode())
        return outcome, _as_chunks(out.stdout)

    def _execute(self, argv: Sequence[str], args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                 limit: float | None) -> Outcome:
        outcome, chunks = self._interpret(args, stdin, limit)
        outcome.stdout.extend(chunks)
        return outcome

    @contextlib.contextmanager
    def _open_stream(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None, limit: float | None,
                     outcome: Outcome) -> Iterator[Iterable[bytes]]:
        done, chunks = self._interpret(args, stdin, limit)
        outcome.returncode, outcome.timed_out, outcome.stderr[:] = done.returncode, done.timed_out, done.stderr
        yield chunks  # ``zfs send`` payload is generated lazily, as the consumer reads

    def _file_op(self, argv: tuple[str, ...], op: Callable[[], Out]) -> Result:
        """Run one file operation on the host's store, with fault injection, recorded in the transcript."""
        with self.host.lock:
            try:
                out = _fault(self.host, argv, None) or op()
            except CommandTimeout:  # an injected hang: recorded as killed (exit -9)
                self._record(Result(argv, -9, "", "", FAKE_DURATION))
                raise
        result = Result(argv, out.returncode, _text(out.stdout), out.stderr, FAKE_DURATION)
        self._record(result)
        return result.check()

    _direct_files = True

    def _read_direct(self, path: str) -> bytes:
        """The file's content from the host's file store (one recorded operation)."""
        result = self._file_op(("read_file", path), lambda: read_file(self.host, path))
        return result.stdout.encode("utf-8", "surrogateescape")

    def _write_direct(self, path: str, tmp: str, data: bytes, label: Sequence[str]) -> None:
        """Replace the file in the host's file store (atomic: one recorded operation, no temporary file)."""
        self._file_op(("write_file", path), lambda: write_file(self.host, path, data))
