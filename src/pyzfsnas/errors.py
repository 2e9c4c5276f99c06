"""The one exception hierarchy of pyzfsnas, and the single place where tool stderr becomes a typed error.

Every error the library raises on purpose derives from :class:`ZFSError`. Validation errors
(:class:`InvalidName`, :class:`InvalidProperty`, ...) are raised *before* anything runs; errors derived from
:class:`CommandFailed` carry the argv, exit status and stderr of the command that failed on the host.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "CommandFailed",
    "CommandTimeout",
    "ConnectionFailed",
    "DatasetBusy",
    "DatasetExists",
    "DatasetHasChildren",
    "DatasetHasDependents",
    "DatasetNotFound",
    "HostKeyError",
    "InvalidName",
    "InvalidProperty",
    "InvalidText",
    "NewerSnapshotsExist",
    "ParseError",
    "PartialReceiveExists",
    "PathNotFound",
    "PermissionDenied",
    "PoolNotFound",
    "PropertyRejected",
    "SizeBelowUsage",
    "StaleResumeToken",
    "StreamIncomplete",
    "ToolNotFound",
    "UnsupportedOperation",
    "ZFSError",
    "error_from_result",
    "shown_argv",
]


class ZFSError(Exception):
    """Base class of every error pyzfsnas raises on purpose."""


class InvalidName(ZFSError, ValueError):
    """A pool, dataset or snapshot name breaks the ZFS naming rules; nothing was run."""


class InvalidProperty(ZFSError, ValueError):
    """A property name or value is unknown or malformed; nothing was run."""


class InvalidText(ZFSError, ValueError):
    """Text for a command's arguments or standard input cannot be sent as it is (for example a lone
    surrogate, which has no UTF-8 encoding); nothing was run."""


class UnsupportedOperation(ZFSError):
    """The host's ZFS flavour cannot do what was asked (for example ``receive -s`` on zfs-fuse)."""


class ParseError(ZFSError):
    """Tool output could not be parsed. ``lineno`` is 1-based; ``line`` is the offending text."""

    #: The offending line of output, when known.
    line: str | None
    #: Its 1-based line number, when known.
    lineno: int | None

    def __init__(self, message: str, *, line: str | None = None, lineno: int | None = None) -> None:
        self.line = line
        self.lineno = lineno
        where = f" (line {lineno}: {line!r})" if lineno is not None else ""
        super().__init__(f"{message}{where}")


class ConnectionFailed(ZFSError):
    """The executor could not reach its host (SSH connect, auth or transport failure)."""


class HostKeyError(ConnectionFailed):
    """The SSH host key is unknown (and unknown keys are not accepted) or has changed."""


def shown_argv(argv: Sequence[str]) -> str:
    """``argv`` as one line for messages and logs; a multi-line argument (a fixed ``sh -c`` script of
    :mod:`pyzfsnas.commands`) is shown as ``<script: FIRST LINE …>`` so that one line stays one line."""
    return " ".join(f"<script: {a.splitlines()[0]} …>" if "\n" in a else a for a in argv)


class CommandTimeout(ZFSError):
    """A command did not finish within its timeout; it was killed."""

    #: The command that was killed, without the executor's prefix.
    argv: tuple[str, ...]
    #: The executor's prefix it ran under (``("sudo", "-n")``), shown in the message.
    prefix: tuple[str, ...]
    #: The limit it exceeded, in seconds.
    timeout: float

    def __init__(self, argv: Sequence[str], timeout: float, *, prefix: Sequence[str] = ()) -> None:
        self.argv = tuple(argv)
        self.prefix = tuple(prefix)
        self.timeout = timeout
        super().__init__(f"command timed out after {timeout:g}s: {shown_argv((*self.prefix, *self.argv))}")


class CommandFailed(ZFSError):
    """A command ran and exited non-zero. Subclasses name the common causes."""

    #: The command as asked, without the executor's prefix.
    argv: tuple[str, ...]
    #: The executor's prefix it ran under (``("sudo", "-n")``); the message shows prefix and argv.
    prefix: tuple[str, ...]
    #: Its exit status.
    returncode: int
    #: Its standard error, as printed.
    stderr: str
    #: Its standard output, as printed.
    stdout: str

    def __init__(
        self,
        argv: Sequence[str],
        returncode: int,
        stderr: str,
        stdout: str = "",
        message: str | None = None,
        *,
        prefix: Sequence[str] = (),
    ) -> None:
        self.argv = tuple(argv)
        self.prefix = tuple(prefix)
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout
        first = stderr.strip().splitlines()[0] if stderr.strip() else (stdout.strip().splitlines() or [""])[0]
        # A caller's explanation keeps the tool's own first line: that is usually the actual cause
        # ("sudo: command not found").
        text = (f"{message}: {first}" if message and first else message) or first or f"exit status {returncode}"
        super().__init__(f"{text} [{shown_argv((*self.prefix, *self.argv))} -> exit {returncode}]")


class ToolNotFound(CommandFailed):
    """The program (``zfs``, ``zpool``, ``exportfs``...) is not installed on the host, or its daemon is down."""


class PathNotFound(CommandFailed):
    """A filesystem path named in the command does not exist (for example an export's directory)."""


class PermissionDenied(CommandFailed):
    """The host refused the command for lack of privileges."""


class DatasetNotFound(CommandFailed):
    """The named dataset or snapshot does not exist."""


class PoolNotFound(DatasetNotFound):
    """The named pool does not exist."""


class DatasetExists(CommandFailed):
    """A dataset or snapshot of that name already exists."""


class DatasetBusy(CommandFailed):
    """The dataset is busy: mounted and in use, held, or otherwise locked."""


class PartialReceiveExists(DatasetBusy):
    """The target holds state an interrupted ``zfs receive -s`` saved: resume it (``zfs send -t``) or abort it
    (``zfs receive -A``) before another stream can land there."""


class StaleResumeToken(CommandFailed):
    """``zfs send -t`` refused the token: corrupt, or its snapshot (or incremental source) is gone."""


class DatasetHasChildren(CommandFailed):
    """Destroy refused: the dataset has children or snapshots (``recursive=True`` would destroy them)."""


class DatasetHasDependents(CommandFailed):
    """Destroy refused: clones depend on the snapshot (``recursive_dependents=True`` would destroy them)."""


class NewerSnapshotsExist(DatasetHasChildren):
    """Rollback refused: snapshots (or bookmarks) newer than the target exist (``destroy_newer=True`` would
    destroy them)."""


class StreamIncomplete(CommandFailed):
    """``zfs receive`` got a truncated or unreadable stream; the target was not created or changed."""


class PropertyRejected(CommandFailed, InvalidProperty):
    """The host rejected a property name or value."""


class SizeBelowUsage(PropertyRejected):
    """A quota or size below the space already used was refused; no data was touched."""


# Ordered: the first pattern that matches stderr decides the class.
_PATTERNS: tuple[tuple[re.Pattern[str], type[CommandFailed]], ...] = tuple(
    (re.compile(p, re.IGNORECASE | re.MULTILINE), cls)
    for p, cls in (
        (r"command not found|connect: connection refused|"
         r"make sure that the zfs-fuse daemon is running", ToolNotFound),
        (r"permission denied|insufficient privileges|must be root", PermissionDenied),
        (r"failed to stat|no such file or directory|directory nonexistent", PathNotFound),
        (r"no such pool|cannot open '[^'/@]*': no such pool", PoolNotFound),
        (r"contains partially-complete state", PartialReceiveExists),
        (r"^cannot resume send", StaleResumeToken),
        (r"size is less than current used or reserved space|"
         r"volume size cannot be less than|cannot shrink", SizeBelowUsage),
        (r"dependent clones", DatasetHasDependents),
        (r"more recent snapshots (or bookmarks )?exist", NewerSnapshotsExist),
        (r"has children|use '-r' to destroy", DatasetHasChildren),
        (r"dataset does not exist|could not find any snapshots|no such snapshot|"
         r"does not exist$", DatasetNotFound),
        (r"already exists|destination '[^']*' exists", DatasetExists),
        (r"dataset is busy|target is busy|pool is busy|is busy$|device busy|it's being held", DatasetBusy),
        # after the "does not exist" of a send that failed first: a receive fed by it only sees a short stream
        (r"incomplete stream|failed to read from stream", StreamIncomplete),
        (r"invalid property|bad numeric value|must be one of|must be an absolute path|"
         r"must be power of 2|is readonly|bad property list|property .* not supported|"
         r"invalid value|permission denied on property|cannot be set to invalid options|"
         r"does not apply to datasets of this type", PropertyRejected),
    )
)


def error_from_result(
    argv: Sequence[str], returncode: int, stderr: str, stdout: str = "", *, prefix: Sequence[str] = ()
) -> CommandFailed:
    """Map a failed command to the most specific :class:`CommandFailed` subclass.

    This is the only place in pyzfsnas that interprets tool error text. ``prefix`` is the executor's
    (``sudo -n``), so that the message shows the command that really ran.
    """
    text = stderr or stdout
    for pattern, cls in _PATTERNS:
        if pattern.search(text):
            return cls(argv, returncode, stderr, stdout, prefix=prefix)
    if returncode == 127:
        return ToolNotFound(argv, returncode, stderr, stdout, prefix=prefix)
    return CommandFailed(argv, returncode, stderr, stdout, prefix=prefix)
