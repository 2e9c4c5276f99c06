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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

import attrs

from pyzfsnas.errors import InvalidName, InvalidText, error_from_result

__all__ = [
    "CHUNK_SIZE",
    "NO_TIMEOUT",
    "Executor",
    "OutputStream",
    "Result",
    "Stdin",
    "check_argv",
    "check_stdin",
    "effective_timeout",
    "log_result",
]

log = logging.getLogger("pyzfsnas")

#: Pass as ``timeout`` for no limit at all (the executor's default limit does not apply either).
NO_TIMEOUT: float = math.inf

#: Chunk size used when streaming between hosts (bounded memory: a few chunks at most are in flight).
CHUNK_SIZE: int = 1 << 20

#: What ``run`` accepts as standard input: nothing, all of it at once, or a stream of chunks.
Stdin = bytes | str | Iterable[bytes] | None


def _argv_tuple(argv: Iterable[str]) -> tuple[str, ...]:
    return tuple(argv)


@attrs.frozen
class Result:
    """What one command did: its argv, exit status, decoded output and wall-clock duration in seconds."""

    #: The command as asked, without the executor's prefix.
    argv: tuple[str, ...] = attrs.field(converter=_argv_tuple)
    #: Its exit status (127: the program was not found).
    returncode: int
    #: Its standard output, decoded (empty for a streamed command: it was streamed).
    stdout: str = ""
    #: Its standard error, decoded.
    stderr: str = ""
    #: Wall-clock seconds it took.
    duration: float = 0.0
    #: The executor's prefix it ran under, e.g. ``("sudo", "-n")``; see :attr:`command`.
    prefix: tuple[str, ...] = attrs.field(default=(), converter=_argv_tuple, kw_only=True)

    @property
    def command(self) -> tuple[str, ...]:
        """The argv that really ran: :attr:`prefix` then :attr:`argv`."""
        return (*self.prefix, *self.argv)

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.returncode == 0

    def check(self) -> Result:
        """Return self when the command succeeded, else raise the matching :class:`CommandFailed`."""
        if self.returncode != 0:
            raise error_from_result(self.argv, self.returncode, self.stderr, self.stdout, prefix=self.prefix)
        return self


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
            "ran %s on %s: exit %d in %.3fs", " ".join(result.command), where, result.returncode, result.duration
        )
