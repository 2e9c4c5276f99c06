"""The executor protocol: the only door through which pyzfsnas touches a host.

An executor runs one argv (a list of strings, never a shell string) and returns a :class:`Result`. A non-zero
exit status is *not* an exception at this layer: :meth:`Result.check` turns it into the typed error from
:func:`pyzfsnas.errors.error_from_result`. Executors raise only for a timeout (:class:`CommandTimeout`) or
for an unreachable host (:class:`ConnectionFailed`).

Large transfers (``zfs send | zfs receive``) stream: ``run`` accepts an iterable of byte chunks as stdin,
and :meth:`Executor.stream` yields a command's stdout in chunks without holding it in memory.
"""

from __future__ import annotations

import logging
import math
import posixpath
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

from pyzfsnas import commands as cmd
from pyzfsnas.errors import (
    CommandTimeout,
    ConnectionFailed,
    InvalidName,
    InvalidText,
    ZFSError,
    error_from_result,
    shown_argv,
)
from pyzfsnas.result import Command, Result

__all__ = [
    "CHUNK_SIZE",
    "NO_TIMEOUT",
    "BaseExecutor",
    "Command",
    "Executor",
    "Outcome",
    "OutputStream",
    "Result",
    "Stdin",
    "check_argv",
    "check_stdin",
    "effective_timeout",
    "install_file",
    "log_result",
]

log = logging.getLogger("pyzfsnas")

#: Pass as ``timeout`` for no limit at all (the executor's default limit does not apply either).
NO_TIMEOUT: float = math.inf

#: Chunk size used when streaming between hosts (bounded memory: a few chunks at most are in flight).
CHUNK_SIZE: int = 1 << 20

#: What ``run`` accepts as standard input: nothing, all of it at once, or a stream of chunks.
Stdin = bytes | str | Iterable[bytes] | None


class OutputStream(Protocol):
    """A running command whose stdout is read in chunks. ``result`` is set once the stream is closed."""

    def __iter__(self) -> Iterator[bytes]: ...

    @property
    def result(self) -> Result | None: ...


@runtime_checkable
class Executor(Protocol):
    """Runs argv lists on one host."""

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        """Run ``argv`` to completion and return its :class:`Result` (non-zero exit is not an exception)."""
        ...

    def stream(
        self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None
    ) -> AbstractContextManager[OutputStream]:
        """Run ``argv`` and yield its stdout in chunks; on exit the stream's ``result`` holds the exit status.

        Stdout in that ``result`` is empty (it was streamed); stderr is kept.
        """
        ...

    def read_file(self, path: str) -> bytes:
        """The content of the file at absolute ``path`` (:class:`~pyzfsnas.errors.PathNotFound` if absent)."""
        ...

    def write_file(self, path: str, data: bytes | str) -> None:
        """Replace the file at ``path`` with ``data`` atomically: readers see the old or the new content."""
        ...

    def close(self) -> None:
        """Release connections or resources; the executor may reconnect on next use."""
        ...


def effective_timeout(timeout: float | None, default: float | None) -> float | None:
    """The limit in seconds for one command: ``timeout``, else ``default``; ``None`` for no limit."""
    limit = default if timeout is None else timeout
    return None if limit is None or math.isinf(limit) else limit


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Refuse an argv that no host could receive literally: empty, non-string, or containing NUL."""
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of strings, not a single string")
    out = tuple(argv)
    if not out:
        raise ValueError("argv is empty")
    for arg in out:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}")
        if "\0" in arg:
            raise InvalidName(f"NUL byte in argument {arg!r}")
    return out


def check_stdin(stdin: Stdin) -> bytes | Iterable[bytes] | None:
    """Standard input as every executor sends it: text encoded to UTF-8 now, before anything runs.

    Text that has no UTF-8 encoding (a lone surrogate, as ``os.fsdecode`` yields for a non-UTF-8 file name)
    raises :class:`~pyzfsnas.errors.InvalidText` here, on every host kind alike, instead of failing half-way
    with part of the input written (or, worse, none of it while the command reports success).
    """
    if isinstance(stdin, str):
        try:
            return stdin.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidText(f"standard input is not encodable as UTF-8: {exc}") from None
    if isinstance(stdin, bytearray | memoryview):
        return bytes(stdin)
    return stdin


def log_result(result: Result, where: str = "local") -> None:
    """Log one executed command at DEBUG on the ``pyzfsnas`` logger with its duration and exit status."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "ran %s on %s: exit %d in %.3fs", shown_argv(result.command), where, result.returncode, result.duration
        )


class Outcome:
    """What one started command produced, as a transport reports it to :class:`BaseExecutor`."""

    __slots__ = ("error", "returncode", "stderr", "stdout", "timed_out")

    #: Exit status (-1: none received).
    returncode: int
    #: Standard output chunks (empty for a streamed command).
    stdout: list[bytes]
    #: Standard error chunks.
    stderr: list[bytes]
    #: The time limit expired and the command was killed.
    timed_out: bool
    #: What the caller's stdin iterable raised while it was fed (re-raised in the caller's thread).
    error: BaseException | None

    def __init__(self, returncode: int = -1) -> None:
        self.returncode = returncode
        self.stdout = []
        self.stderr = []
        self.timed_out = False
        self.error = None


class _Stream:
    """The stdout of a running command, as :meth:`BaseExecutor.stream` yields it."""

    def __init__(self) -> None:
        self.chunks: Iterable[bytes] = ()
        self.result: Result | None = None

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if chunk:
                yield chunk


def _decode(chunks: list[bytes]) -> str:
    return b"".join(chunks).decode("utf-8", "replace")


class BaseExecutor:
    """The generic run loop every executor shares; a transport implements only how a command runs.

    :meth:`run` and :meth:`stream` check the argv and stdin, apply the time limit, time the command, decode its
    output into a :class:`Result`, log it, and raise :class:`~pyzfsnas.errors.CommandTimeout` or the caller's
    stdin error; a subclass implements :meth:`_execute` (start, feed, read, kill at the deadline) and
    :meth:`_open_stream`. File operations default to commands (``cat``; one :func:`install_file`) so an executor behind
    a prefix such as ``sudo`` keeps its privileges; transports override them with direct file access.
    """

    #: Prepended to every argv, e.g. ``("sudo", "-n")``.
    prefix: tuple[str, ...]
    #: Default time limit per command, in seconds (``None``: no limit).
    timeout: float | None
    #: Where commands run, as log lines name it.
    where: str

    # -- what a transport implements ------------------------------------------------------------------

    def _execute(self, argv: Sequence[str], args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                 limit: float | None) -> Outcome:  # pragma: no cover - abstract
        """Run ``args`` to completion (``argv`` is the caller's value, e.g. a :class:`Command`)."""
        raise NotImplementedError

    def _open_stream(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None, limit: float | None,
                     outcome: Outcome) -> AbstractContextManager[Iterable[bytes]]:  # pragma: no cover
        """Start ``args`` and yield its stdout chunks; on exit fill ``outcome`` (status, stderr, how it ended)."""
        raise NotImplementedError

    def _duration(self, start: float) -> float:
        return time.monotonic() - start

    def _record(self, result: Result) -> None:
        """Called with every finished command's result (the fake keeps a transcript); logs it."""
        log_result(result, where=self.where)

    # -- the generic part ----------------------------------------------------------------------------

    def _conclude(self, args: tuple[str, ...], outcome: Outcome, start: float, *, streamed: bool) -> Result:
        returncode = -9 if outcome.timed_out and outcome.returncode == -1 else outcome.returncode
        result = Result(args, returncode, "" if streamed else _decode(outcome.stdout), _decode(outcome.stderr),
                        self._duration(start), prefix=self.prefix)
        self._record(result)
        return result

    def _raise_for(self, args: tuple[str, ...], outcome: Outcome, limit: float | None) -> None:
        if outcome.timed_out:
            raise CommandTimeout(args, limit or 0.0, prefix=self.prefix)
        if outcome.error is not None:
            raise outcome.error

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        """Run ``argv`` and wait for it; see :class:`Executor`."""
        args = check_argv(argv)
        data = check_stdin(stdin)
        limit = effective_timeout(timeout, self.timeout)
        start = time.monotonic()
        outcome = self._execute(argv, args, data, limit)
        result = self._conclude(args, outcome, start, streamed=False)
        self._raise_for(args, outcome, limit)
        return result

    @contextmanager
    def stream(
        self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None
    ) -> Iterator[OutputStream]:
        """Run ``argv`` and yield its stdout in chunks (bounded memory); see :class:`Executor`."""
        args = check_argv(argv)
        data = check_stdin(stdin)
        limit = effective_timeout(timeout, self.timeout)
        start = time.monotonic()
        outcome = Outcome()
        handle = _Stream()
        try:
            with self._open_stream(args, data, limit, outcome) as chunks:
                handle.chunks = chunks
                yield handle
        finally:
            handle.result = self._conclude(args, outcome, start, streamed=True)
        self._raise_for(args, outcome, limit)

    #: Whether the transport reads and writes files itself (:meth:`_read_direct`, :meth:`_write_direct`);
    #: without it, or behind a prefix such as ``sudo``, files go through commands.
    _direct_files = False

    def _read_direct(self, path: str) -> bytes:  # pragma: no cover - abstract
        raise NotImplementedError

    def _write_direct(self, path: str, tmp: str, data: bytes,
                      label: Sequence[str]) -> None:  # pragma: no cover - abstract
        """Write ``data`` to ``tmp`` and rename it over ``path``; on failure remove ``tmp`` and raise the typed
        error ``label`` (the command that would do the same, :func:`~pyzfsnas.commands.file_install`) would."""
        raise NotImplementedError

    def read_file(self, path: str) -> bytes:
        """The content of ``path``: read by the transport, or by ``cat`` (one command); see :class:`Executor`."""
        argv = cmd.file_cat(path)  # the same path checks on every host kind, before anything runs
        if self._direct_files and not self.prefix:
            return self._read_direct(path)
        return self.run(argv).check().stdout.encode("utf-8", "surrogateescape")

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write ``data`` to a unique temporary name beside ``path``, then rename it over ``path``.

        By the transport when it has direct file access, else by one command (:func:`install_file`: the
        temporary file is removed when it fails, and its typed error raised).
        """
        if not (self._direct_files and not self.prefix):
            install_file(self, path, data).check()
            return
        payload = check_stdin(data)
        assert isinstance(payload, bytes)
        tmp = temporary_name(path)
        label = cmd.file_install(tmp, path)  # the same path checks as the command path, before anything runs
        self._write_direct(path, tmp, payload, label)

    def close(self) -> None:
        """Nothing to release by default."""


def install_file(executor: Executor, path: str, data: bytes | str, *, then: Sequence[str] = (),
                 timeout: float | None = None) -> Result:
    """Replace ``path`` with ``data`` atomically and then run ``then``, as one command (one round trip).

    The command is :func:`~pyzfsnas.commands.file_install`: ``data`` on stdin into a new temporary file
    beside ``path``, renamed over it, then ``exec then``. It works on any executor (behind ``sudo`` too) and
    saves the round trips of a separate write, rename and follow-up — a daemon's reload, say.

    Raises the write's typed error when ``path`` was not replaced (it is unchanged, no temporary file is
    left and ``then`` did not run), and the command's own error when the script never ran (a prefix such as
    ``sudo`` refused). Once the file was replaced (the script says so on stderr before ``then`` runs),
    returns ``then``'s :class:`Result` *unchecked* (its argv is ``then``), so the caller can tell "not
    written" from "written, follow-up failed"; without ``then``, an empty success. A
    :class:`CommandTimeout` or lost connection leaves either state possible.
    """
    payload = check_stdin(data)
    assert isinstance(payload, bytes)
    tmp = temporary_name(path)
    command = cmd.file_install(tmp, path, then)
    try:
        result = executor.run(command, stdin=payload, timeout=timeout)
    except (CommandTimeout, ConnectionFailed):
        try:  # best effort: a command cut short may have left its temporary file
            executor.run(cmd.file_remove(tmp), timeout=timeout)
        except ZFSError as exc:
            log.debug("could not remove %s: %s", tmp, exc)
        raise
    before, marked, after = result.stderr.partition(f"{cmd.INSTALLED}{path}\n")
    if not marked:  # not replaced: the script said so (exit 90), or it never ran (a refusing prefix)
        stderr = before.removesuffix(f"{cmd.NOT_INSTALLED}{path}\n") or "the file was not replaced\n"
        raise error_from_result(command, result.returncode, stderr, result.stdout, prefix=result.prefix)
    return Result(tuple(then) or ("true",), result.returncode, result.stdout, before + after, result.duration,
                  prefix=result.prefix)


def temporary_name(path: str) -> str:
    """A unique name in ``path``'s directory, so that renaming it over ``path`` is atomic."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.tmp-{uuid.uuid4().hex[:12]}")
