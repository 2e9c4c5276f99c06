""":class:`RecordingExecutor`: any executor, with a record of every operation and injected faults.

Faults are armed for the Nth command from now (1: the next one), counting only the commands a ``match``
selects (an argv prefix, a compiled regex searched in the space-joined argv, or a predicate); each fires once.
``fail`` returns a non-zero :class:`~pyzfsnas.result.Result` without running the command; ``hang`` raises
:class:`~pyzfsnas.errors.CommandTimeout` without running it; ``drop`` raises
:class:`~pyzfsnas.errors.ConnectionFailed` — after running it by default, as a connection lost mid-command
leaves it, or once ``after_bytes`` bytes of its stream have passed (a link lost mid-transfer).
:meth:`RecordingExecutor.intercept` answers every matching command with a callable instead;
:meth:`RecordingExecutor.intercept_stream` hands every matching stream's output through one.
File operations are recorded (and faults apply to them) as ``("read_file", PATH)`` / ``("write_file", PATH)``.

A :class:`KillSwitch` is the death of the process under test: shared by the executors of one operation (and
any step of its own, such as a database write), it lets the first ``allow`` steps happen and raises
:class:`Killed` at the next one and every later one, as SIGKILL would end the process there.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, NoReturn, TypeGuard, Union

import attrs

from pyzfsnas.errors import CommandTimeout, ConnectionFailed
from pyzfsnas.executors.base import Executor, OutputStream, Stdin
from pyzfsnas.result import Result

__all__ = ["KillSwitch", "Killed", "Match", "RecordingExecutor", "StreamHandler"]

#: What selects commands: an argv prefix, a regex searched in ``" ".join(argv)``, a predicate, or None (all).
Match = Union[Sequence[str], "re.Pattern[str]", Callable[[tuple[str, ...]], bool], None]

#: What :meth:`RecordingExecutor.intercept_stream` calls: ``f(argv, output)`` returns the stream the caller reads.
StreamHandler = Callable[[tuple[str, ...], OutputStream], OutputStream]


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


def _streamed(stdin: Stdin) -> TypeGuard[Iterable[bytes]]:
    """Whether ``stdin`` is a stream of chunks (not nothing, nor all of it at once)."""
    return stdin is not None and not isinstance(stdin, bytes | str)


class Killed(BaseException):
    """The process under test died here, as by SIGKILL (what a :class:`KillSwitch` raises by default).

    A ``BaseException``, so no ``except Exception`` of the code under test catches it: nothing it would do on
    the way out reaches a host.
    """


class KillSwitch:
    """The life of one process under test, shared by all its executors: ``allow`` steps happen, then it dies.

    A step is each command and file operation of a :class:`RecordingExecutor` built with ``kill_switch=`` this
    switch, and each call of :meth:`step` (effects that are no command, such as a write to a database). The
    first ``allow`` steps happen and are logged; the next one dies, and so does every later one on any executor:
    the operation ends mid-way as after SIGKILL, and its ``finally`` and ``except`` clean-ups reach no host.
    With ``allow=None`` nothing dies and the switch only logs the steps — run an operation with it to count its
    kill points, then once per kill point on a fresh set-up, and check what a restarted process makes of each.
    """

    #: How many steps happen before the death (``None``: no death). It is compared with ``len(log)``, so
    #: clearing :attr:`log` (after a set-up, say) counts afresh.
    allow: int | None
    #: Every step that happened, oldest first: argv tuples, ``("read_file"|"write_file", PATH)``, and what
    #: :meth:`step` was given.
    log: list[tuple[str, ...]]
    #: Whether the process has died.
    dead: bool
    #: Called at the death; it returns the exception to raise (an exception class will do; ``None``: a
    #: :class:`Killed`), or ends the real process itself (e.g. sends itself SIGKILL).
    death: Callable[[], BaseException | None]
    #: How many chunks of a streamed stdin the dying command still receives before the death (a process
    #: killed while piping); 0: the dying command never starts.
    stdin_chunks: int

    def __init__(self, allow: int | None = None, *, death: Callable[[], BaseException | None] = Killed,
                 stdin_chunks: int = 0) -> None:
        if allow is not None and allow < 0:
            raise ValueError("allow is a number of steps: 0 or more")
        self.allow = allow
        self.log = []
        self.dead = False
        self.death = death
        self.stdin_chunks = stdin_chunks
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KillSwitch(allow={self.allow!r}, steps={len(self.log)}, dead={self.dead})"

    def step(self, what: str | Sequence[str]) -> None:
        """Take the step ``what`` (a name, or an argv-like tuple): log it, or die here (:meth:`die`) when it is
        past :attr:`allow`."""
        if self._enter((what,) if isinstance(what, str) else tuple(what)) != "alive":
            self.die()

    def die(self) -> NoReturn:
        """Die now: mark the process dead and raise what :attr:`death` returns."""
        self.dead = True
        raise self.death() or Killed()

    def _enter(self, what: tuple[str, ...]) -> Literal["alive", "dying", "dead"]:
        """Whether the step ``what`` happens (it is then logged), is the death, or comes after it."""
        with self._lock:
            if self.dead:
                return "dead"
            if self.allow is None or len(self.log) < self.allow:
                self.log.append(what)
                return "alive"
            self.dead = True
            return "dying"


@attrs.define
class _Fault:
    kind: Literal["fail", "hang", "drop"]
    at: int
    match: Match
    returncode: int = 1
    stderr: str = ""
    after_running: bool = True
    after_bytes: int | None = None
    seen: int = 0


def _upto(chunks: Iterable[bytes], limit: int) -> Generator[bytes, None, bool]:
    """The first ``limit`` bytes of ``chunks``, then the end; returns whether there was more (it cut)."""
    sent = 0
    for chunk in chunks:
        if sent + len(chunk) > limit:
            if sent < limit:
                yield chunk[: limit - sent]
            return True
        sent += len(chunk)
        yield chunk
    return False


class _Stream:
    """The caller's view of a stream: ``inner``'s output, cut after ``limit`` bytes by a lost connection."""

    def __init__(self, inner: OutputStream, argv: tuple[str, ...], limit: int | None = None) -> None:
        self._inner, self._argv, self._limit = inner, argv, limit

    def __iter__(self) -> Iterator[bytes]:
        if self._limit is None:
            yield from self._inner
            return
        if (yield from _upto(self._inner, self._limit)):
            raise ConnectionFailed(f"injected: connection lost after {self._limit} bytes of "
                                   f"{' '.join(self._argv)!r}")

    @property
    def result(self) -> Result | None:
        return self._inner.result


class _Failed:
    """A stream that failed before it started: no output, its result known at once."""

    def __init__(self, result: Result) -> None:
        self.result: Result | None = result

    def __iter__(self) -> Iterator[bytes]:
        return iter(())


class RecordingExecutor:
    """Wraps ``inner``; records every operation in :attr:`calls` (and results in :attr:`results`).

    With a ``kill_switch``, every operation is first a step of that :class:`KillSwitch` (and dies with it).
    """

    #: The executor that really runs the commands.
    inner: Executor
    #: Every operation asked for, oldest first: argv tuples, and ``("read_file"|"write_file", PATH)``.
    calls: list[tuple[str, ...]]
    #: The result of every command that returned one (injected failures included), oldest first.
    results: list[Result]
    #: The process these operations belong to, if they may die with it.
    kill_switch: KillSwitch | None

    def __init__(self, inner: Executor, *, kill_switch: KillSwitch | None = None) -> None:
        self.inner = inner
        self.kill_switch = kill_switch
        self.calls = []
        self.results = []
        self._faults: list[_Fault] = []
        self._intercepts: list[tuple[Match, Callable[[tuple[str, ...], Executor], Result]]] = []
        self._stream_intercepts: list[tuple[Match, StreamHandler]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RecordingExecutor({self.inner!r})"

    # -- arming faults --------------------------------------------------------------------------------

    def fail(self, at: int = 1, *, match: Match = None, returncode: int = 1,
             stderr: str = "injected failure") -> None:
        """Make the ``at``-th matching operation fail with ``returncode`` and ``stderr``, without running it
        (a stream yields nothing, and its ``result`` is the failure)."""
        self._arm(_Fault("fail", at, match, returncode, stderr if stderr.endswith("\n") else stderr + "\n"))

    def hang(self, at: int = 1, *, match: Match = None) -> None:
        """Make the ``at``-th matching operation time out (:class:`CommandTimeout`) without running it."""
        self._arm(_Fault("hang", at, match))

    def drop(self, at: int = 1, *, match: Match = None, after_running: bool = True,
             after_bytes: int | None = None) -> None:
        """Make the ``at``-th matching operation lose the connection (:class:`ConnectionFailed`), after running it
        unless ``after_running`` is false.

        With ``after_bytes`` the link is lost mid-transfer, and only commands that carry a stream count: a
        ``stream`` yields its first ``after_bytes`` bytes, then raises (a shorter one passes whole); a ``run``
        with a streamed (iterable) stdin runs on the first ``after_bytes`` bytes of it — it sees its input end
        there — and then raises, its own result unreported.
        """
        if after_bytes is not None and after_bytes < 0:
            raise ValueError("after_bytes is a number of bytes: 0 or more")
        self._arm(_Fault("drop", at, match, after_running=after_running, after_bytes=after_bytes))

    def intercept(self, match: Match, handler: Callable[[tuple[str, ...], Executor], Result]) -> None:
        """Answer every matching command with ``handler(argv, inner)`` instead of running it on ``inner``."""
        with self._lock:
            self._intercepts.append((match, handler))

    def intercept_stream(self, match: Match, handler: StreamHandler) -> None:
        """Hand every matching stream through ``handler(argv, output)``: the caller reads the stream it returns,
        whose ``result`` is the one recorded (to alter, delay or cut the output, or the command's end)."""
        with self._lock:
            self._stream_intercepts.append((match, handler))

    def _arm(self, fault: _Fault) -> None:
        if fault.at < 1:
            raise ValueError("faults are armed for the 1st command from now or later")
        with self._lock:
            self._faults.append(fault)

    # -- the machinery --------------------------------------------------------------------------------

    def _record(self, argv: tuple[str, ...]) -> None:
        with self._lock:
            self.calls.append(argv)

    def _step(self, argv: tuple[str, ...], stdin: Stdin = None,
              action: Callable[[Iterable[bytes]], object] | None = None) -> None:
        """``argv`` is a step of the kill switch: die here if it is due, after feeding ``action`` the first
        chunks of a streamed ``stdin`` when the switch says so."""
        switch = self.kill_switch
        if switch is None:
            return
        state = switch._enter(argv)
        if state == "alive":
            return
        if state == "dying" and action is not None and switch.stdin_chunks > 0 and _streamed(stdin):
            action(list(itertools.islice(stdin, switch.stdin_chunks)))
        switch.die()

    def _due(self, argv: tuple[str, ...], *, streamed: bool = False) -> _Fault | None:
        """The fault that fires on ``argv``, if any (a byte-counting fault counts only commands that carry a
        stream)."""
        with self._lock:
            due = None
            for fault in self._faults:
                if (fault.after_bytes is None or streamed) and matches(fault.match, argv):
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
        handler = next((h for m, h in self._intercepts if matches(m, args)), None)

        def action(feed: Stdin) -> Result:
            if handler is not None:
                return handler(args, self.inner)
            return self.inner.run(argv, stdin=feed, timeout=timeout)

        self._record(args)
        self._step(args, stdin, action)
        fault = self._due(args, streamed=_streamed(stdin))
        if fault is not None and fault.after_bytes is not None and _streamed(stdin):
            self._keep(action(_upto(stdin, fault.after_bytes)))
            raise ConnectionFailed(f"injected: connection lost while running {' '.join(args)!r}, after "
                                   f"{fault.after_bytes} bytes of its stdin")
        return self._apply(args, fault, lambda: action(stdin))

    @contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None,
               timeout: float | None = None) -> Iterator[OutputStream]:
        """Record ``argv`` and stream it from :attr:`inner`, through a matching :meth:`intercept_stream` handler
        (a due fault fires before it starts, a byte-counting one after that many bytes)."""
        args = tuple(argv)
        self._record(args)
        self._step(args)
        fault = self._due(args, streamed=True)
        if fault is not None and fault.after_bytes is None:
            failed = self._apply(args, attrs.evolve(fault, after_running=False), lambda: Result(args, 0))
            yield _Failed(failed)  # only a "fail" gets here: the others raised
            return
        handler = next((h for m, h in self._stream_intercepts if matches(m, args)), None)
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            shown = handler(args, out) if handler is not None else out
            yield _Stream(shown, args, None if fault is None else fault.after_bytes)
        if shown.result is not None:
            self._keep(shown.result)

    def read_file(self, path: str) -> bytes:
        """Record ``("read_file", path)``; a due fault raises its error (``fail``: the typed error)."""
        args = ("read_file", path)
        box: list[bytes] = []

        def action() -> Result:
            box.append(self.inner.read_file(path))
            return Result(args, 0)

        self._record(args)
        self._step(args)
        self._apply(args, self._due(args), action).check()
        return box[0]

    def write_file(self, path: str, data: bytes | str) -> None:
        """Record ``("write_file", path)``; a due fault raises its error (``fail``: the typed error)."""
        args = ("write_file", path)

        def action() -> Result:
            self.inner.write_file(path, data)
            return Result(args, 0)

        self._record(args)
        self._step(args)
        self._apply(args, self._due(args), action).check()

    def close(self) -> None:
        """Close :attr:`inner` (unless the process died: a dead process closes nothing)."""
        if self.kill_switch is None or not self.kill_switch.dead:
            self.inner.close()
