"""What the library runs and what it got back: :class:`Command` (argv + read-only intent) and :class:`Result`.

Pure values, no I/O: the argv builders of :mod:`pyzfsnas.commands` return :class:`Command` values, every
executor returns a :class:`Result`, and :meth:`Result.check` turns a failure into the typed error of
:func:`pyzfsnas.errors.error_from_result`.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from pyzfsnas.errors import error_from_result

__all__ = ["Command", "Result", "is_read_only"]


class Command(list[str]):
    """An argv (a list of strings, never a shell line) that says whether running it twice is harmless.

    It *is* the argv list, so it compares equal to the plain list and goes wherever an argv goes. The
    builder that makes it declares :attr:`read_only`; a transport that lost its connection mid-command
    replays it only when that is true (see :class:`~pyzfsnas.executors.ssh.SSHExecutor`), so no transport
    needs to know which programs or subcommands only read.
    """

    __slots__ = ("read_only",)

    #: True when the command only reads state on the host: replaying it after a dropped connection is safe.
    read_only: bool

    def __init__(self, argv: Iterable[str] = (), *, read_only: bool = False) -> None:
        super().__init__(argv)
        self.read_only = read_only

    def __repr__(self) -> str:
        return f"Command({list(self)!r}, read_only={self.read_only!r})"


def is_read_only(argv: Iterable[str]) -> bool:
    """Whether ``argv`` was declared read-only by its builder (a :class:`Command` with ``read_only``)."""
    return isinstance(argv, Command) and argv.read_only


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
