""":class:`RecordingExecutor`: any executor, with a record of every operation and injected faults.

Faults are armed for the Nth command from now (1: the next one), counting only the commands a ``match``
selects (an argv prefix, a compiled regex searched in the space-joined argv, or a predicate); each fires once.
``fail`` returns a non-zero :class:`~pyzfsnas.result.Result` without running the command; ``hang`` raises
:class:`~pyzfsnas.errors.CommandTimeout` without running it; ``drop`` raises
:class:`~pyzfsnas.errors.ConnectionFailed` — after running it by default, as a connection lost mid-command
leaves it. :meth:`RecordingExecutor.intercept` answers every matching command with a callable instead.
File operations are recorded (and faults apply to them) as ``("read_file", PATH)`` / ``("write_file", PATH)``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, Union

import attrs

from pyzfsnas.errors import CommandTimeout, ConnectionFailed
from pyzfsnas.executors.base import Executor, OutputStream, Stdin
from pyzfsnas.result import Result

__all__ = ["Match", "RecordingExecutor"]

#: What selects commands: an argv prefix, a regex searched in ``" ".join(argv)``, a predicate, or None (all).
Match = Union[Sequence[str], "re.Pattern[str]", Callable[[tuple[str, ...]], bool], None]


def matches(match: Match, argv: tuple[str, ...]) -> bool:
    """Whether ``match`` selects ``argv`` (see :data:`Match`)."""
    if match is None:
        return True
    if isinstance(match, re.Pattern):
        return match.search(" ".join(argv)) is not None
    if callable(match):
        return bool(match(argv))
    prefix = tuple(match)
    return argv[: len(prefix)] == prefix


@attrs.define
class _Fault:
    kind: Literal["fail", "hang", "drop"]
    at: int
    match: Match
    returncode: int = 1
    stderr: str = ""
    after_running: bool = True
    seen: int = 0


class _Stream:
    def __init__(self, inner: OutputStream) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._inner)

    @property
    def result(self) -> Result | None:
        return self._inner.result


class RecordingExecutor:
    """Wraps ``inner``; records every operation in :attr:`calls` (and results in :attr:`results`)."""

    #: The executor that really runs the commands.
    inner: Executor
    #: Every operation asked for, oldest first: argv tuples, and ``("read_file"|"write_file", PATH)``.
    calls: list[tuple[str, ...]]
    #: The result of every command that returned one (injected failures included), oldest first.
    results: list[Result]

    def __init__(self, inner: Executor) -> None:
        self.inner = inner
        self.calls = []
        self.results = []
        self._faults: list[_Fault] = []
        self._intercepts: list[tuple[Match, Callable[[tuple[str, ...], Executor], Result]]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecordingExecutor({self.inner!r})"

    # -- arming faults --------------------------------------------------------------------------------

    def fail(self, at: int = 1, *, match: Match = None, returncode: int = 1,
             stderr: str = "injected failure") -> None:
        """Make the ``at``-th matching operation fail with ``returncode`` and ``stderr``, without running it."""
        self._arm(_Fault("fail", at, match, returncode, stderr if stderr.endswith("\n") else stderr + "\n"))

    def hang(self, at: int = 1, *, match: Match = None) -> None:
        """Make the ``at``-th matching operation time out (:class:`CommandTimeout`) without running it."""
        self._arm(_Fault("hang", at, match))

    def drop(self, at: int = 1, *, match: Match = None, after_running: bool = True) -> None:
        """Make the ``at``-th matching operation lose the connection (:class:`ConnectionFailed`), after running it
        unless ``after_running`` is false."""
        self._arm(_Fault("drop", at, match, after_running=after_running))

    def intercept(self, match: Match, handler: Callable[[tuple[str, ...], Executor], Result]) -> None:
        """Answer every matching command with ``handler(argv, inner)`` instead of running it on ``inner``."""
        with self._lock:
            self._intercepts.append((match, handler))

    def _arm(self, fault: _Fault) -> None:
        if fault.at < 1:
            raise ValueError("faults are armed for the 1st command from now or later")
        with self._lock:
            self._faults.append(fault)

    def _due(self, argv: tuple[str, ...]) -> _Fault | None:
        """Record ``argv`` and return the fault that fires on it, if any."""
        with self._lock:
            self.calls.append(argv)
            due = None
            for fault in self._faults:
                if matches(fault.match, argv):
                    fault.seen += 1
                    if fault.seen == fault.at and due is None:
                        due = fault
            if due is not None:
                self._faults.remove(due)
            return due

    def _keep(self, result: Result) -> Result:
        with self._lock:
            self.results.append(result)
        return result

    def _apply(self, argv: tuple[str, ...], fault: _Fault | None, action: Callable[[], Result]) -> Result:
        if fault is not None and fault.kind == "fail":
            return self._keep(Result(argv, fault.returncode, "", fault.stderr))
        if fault is not None and fault.kind == "hang":
            raise CommandTimeout(argv, 0.0)
        if fault is not None and not fault.after_running:
            raise ConnectionFailed(f"injected: connection lost before {' '.join(argv)!r} ran")
        result = self._keep(action())
        if fault is not None:
            raise ConnectionFailed(f"injected: connection lost while running {' '.join(argv)!r}; the command may "
                                   f"or may not have run")
        return result

    # -- the Executor protocol ------------------------------------------------------------------------

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        """Record ``argv``, apply a due fault or an intercept, else run it on :attr:`inner`."""
        args = tuple(argv)
        fault = self._due(args)
        handler = next((h for m, h in self._intercepts if matches(m, args)), None)
        if handler is not None:
            return self._apply(args, fault, lambda: handler(args, self.inner))
        return self._apply(args, fault, lambda: self.inner.run(argv, stdin=stdin, timeout=timeout))

    @contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None,
               timeout: float | None = None) -> Iterator[OutputStream]:
        """Record ``argv`` and stream it from :attr:`inner` (a due fault fires before it starts)."""
        args = tuple(argv)
        fault = self._due(args)
        if fault is not None:
            self._apply(args, attrs.evolve(fault, after_running=False), lambda: Result(args, 0))
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            yield _Stream(out)
        if out.result is not None:
            self._keep(out.result)

    def read_file(self, path: str) -> bytes:
        """Record ``("read_file", path)``; a due fault raises its error (``fail``: the typed error)."""
        args = ("read_file", path)
        box: list[bytes] = []

        def action() -> Result:
            box.append(self.inner.read_file(path))
            return Result(args, 0)

        self._apply(args, self._due(args), action).check()
        return box[0]

    def write_file(self, path: str, data: bytes | str) -> None:
        """Record ``("write_file", path)``; a due fault raises its error (``fail``: the typed error)."""
        args = ("write_file", path)

        def action() -> Result:
            self.inner.write_file(path, data)
            return Result(args, 0)

        self._apply(args, self._due(args), action).check()

    def close(self) -> None:
        """Close :attr:`inner`."""
        self.inner.close()
