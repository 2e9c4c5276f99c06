"""Kill an operation after its N-th command, the way SIGKILL would, then recover like a restarted process.

:class:`StopDead` wraps an executor and lets the first ``allow`` commands run; the next one (and every one
after it) never reaches the host: the operation's "process" is dead. With ``mid=True`` a next command that
reads a stream (``zfs receive``) gets half of it first — the process died while piping. The death is a
:class:`Killed` (a ``BaseException``, so no ``except Exception`` in the library can swallow it); any
``finally`` the library runs on the way out can no longer touch the host, exactly as after a real SIGKILL.

:func:`matrix` runs an operation once to count its commands, then once per kill point on a fresh setup,
then "restarts": a fresh facade on the same host repeats the same call, and the host's state is compared
with the state an uninterrupted run leaves. Outcomes: ``converged`` (same end state), ``reported`` (a
different state, but the retry raised a typed error saying so), ``lost`` (a different state, silently).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pyzfsnas import ZFS
from pyzfsnas.errors import ZFSError
from pyzfsnas.executors.base import Result, Stdin
from pyzfsnas.testing.fake import FakeExecutor, FakeHost


class Killed(BaseException):
    """The operation's process died at this point (SIGKILL): nothing after it reaches a host."""


class StopDead:
    """Wraps an executor: ``allow`` commands run, then the process is dead (see the module docstring)."""

    def __init__(self, inner: Any, allow: int, *, mid: bool = False) -> None:
        self.inner, self.allow, self.mid = inner, allow, mid
        self.started = 0
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _enter(self, stdin: Stdin) -> Iterable[bytes] | None:
        """Count a command; die if it is past the allowance (after feeding half a stream when ``mid``)."""
        if self.dead:
            raise Killed
        if self.started >= self.allow:
            self.dead = True
            if self.mid and stdin is not None and not isinstance(stdin, bytes | str):
                return stdin
            raise Killed
        self.started += 1
        return None

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        half = self._enter(stdin)
        if half is not None:
            chunks = iter(half)
            first = [c for _, c in zip(range(2), chunks, strict=False)]  # some of the stream, then death
            self.inner.run(argv, stdin=first, timeout=timeout)
            raise Killed
        return self.inner.run(argv, stdin=stdin, timeout=timeout)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Iterator[Any]:
        self._enter(None)
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            yield out

    def close(self) -> None:
        """Nothing: a dead process closes nothing."""


def signature(*hosts: FakeHost) -> dict[str, Any]:
    """What a host looks like from outside: datasets (kind, mounted, bytes referenced, holds, partial receive
    state, user properties) and the NFS export table."""
    out: dict[str, Any] = {}
    for host in hosts:
        for name, ds in sorted(host.datasets.items()):
            out[f"{host.name}:{name}"] = (ds.kind, ds.mounted, sum(host.chunks.get(c, 0) for c in ds.data),
                                          tuple(sorted(ds.holds)), ds.partial is not None,
                                          tuple(sorted((k, v) for k, v in ds.props.items() if ":" in k)))
        out[f"{host.name}:exports"] = sorted((e.path, e.client) for e in host.exports.entries())
    return out


@dataclass
class Point:
    """One kill point of one operation and what became of it."""

    operation: str
    after: int
    mid: bool
    command: str
    outcome: str
    detail: str = ""


def matrix(name: str, setup: Callable[[], tuple[list[FakeHost], Callable[[Callable[[FakeHost], Any]], Any]]]
           ) -> list[Point]:
    """Kill ``name``'s operation after each of its commands in turn and classify each recovery.

    ``setup()`` builds fresh hosts and returns them with ``op(wrap)``: the operation, running every command
    through ``wrap(host)`` (an executor for that host).
    """
    hosts, op = setup()
    counted: list[tuple[str, ...]] = []

    class Counting(FakeExecutor):
        def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
            counted.append(tuple(argv))
            return super().run(argv, stdin=stdin, timeout=timeout)

        @contextlib.contextmanager
        def stream(self, argv: Sequence[str], *, stdin: Stdin = None,
                   timeout: float | None = None) -> Iterator[Any]:
            counted.append(tuple(argv))
            with super().stream(argv, stdin=stdin, timeout=timeout) as out:
                yield out

    op(Counting)
    expected = signature(*hosts)
    points: list[Point] = []
    for k in range(len(counted)):
        for mid in (False, True):
            streamed = counted[k][:2] == ("zfs", "receive")
            if mid and not streamed:
                continue
            hosts, op = setup()
            process = StopDead(None, k, mid=mid)  # one process: its executors die together

            def dying(h: FakeHost, process: StopDead = process) -> StopDead:
                return _Share(process, FakeExecutor(h))  # type: ignore[return-value]

            with contextlib.suppress(Killed):
                op(dying)
            error = ""
            try:
                op(FakeExecutor)  # the restarted process repeats the same call
            except ZFSError as exc:
                error = f"{type(exc).__name__}: {exc}"
            got = signature(*hosts)
            if got == expected:
                outcome = "converged"
            elif error:
                outcome = "reported"
            else:
                outcome = "lost"
            diff = sorted(k2 for k2 in set(got) | set(expected) if got.get(k2) != expected.get(k2))
            points.append(Point(name, k, mid, " ".join(counted[k]), outcome,
                                (error + (f" | differs: {diff}" if diff else "")).strip(" |")))
    return points


class _Share:
    """An executor for one host whose commands count against its process's shared :class:`StopDead`."""

    def __init__(self, process: StopDead, inner: FakeExecutor) -> None:
        self.process, self.inner = process, inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        self.process.inner = self.inner
        return self.process.run(argv, stdin=stdin, timeout=timeout)

    @contextlib.contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Iterator[Any]:
        self.process.inner = self.inner
        with self.process.stream(argv, stdin=stdin, timeout=timeout) as out:
            yield out

    def close(self) -> None:
        """Nothing."""


def zfs(wrap: Callable[[FakeHost], Any], host: FakeHost) -> ZFS:
    """A facade over ``wrap(host)`` with the host's flavour known (no ``zfs version`` to count)."""
    from pyzfsnas.flavour import FUSE, OPENZFS

    return ZFS(wrap(host), flavour=FUSE if host.flavour == "zfs-fuse" else OPENZFS)
