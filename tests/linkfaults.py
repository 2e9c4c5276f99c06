"""Executors that break a transfer's link the way the world does: a dropped connection mid-stream, or a
sender killed with SIGKILL. They wrap a real executor (here a FakeExecutor) and cut only the streams they
are told to, so what survives is decided by the host's own ``zfs receive`` (a truncated stream)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pyzfsnas.errors import ConnectionFailed
from pyzfsnas.executors.base import Executor, Result, Stdin


class _Cut:
    def __init__(self, chunks: Iterable[bytes], limit: int | None) -> None:
        self.chunks, self.limit, self.sent = chunks, limit, 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if self.limit is not None and self.sent + len(chunk) > self.limit:
                part = chunk[: self.limit - self.sent]
                if part:
                    self.sent += len(part)
                    yield part
                raise ConnectionFailed("SSH connection lost (link dropped by the test)")
            self.sent += len(chunk)
            yield chunk


class _Stream:
    def __init__(self, inner: Any, limit: int | None) -> None:
        self._inner, self._cut = inner, _Cut(inner, limit)

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._cut)

    @property
    def result(self) -> Result | None:
        r: Result | None = self._inner.result
        return r


class LinkDrop:
    """Wraps an executor; its next streams (``zfs send``) lose the link after the given byte counts.

    ``send_cuts`` apply to ``stream`` calls in order, ``receive_cuts`` to ``run`` calls that get a streamed
    stdin (``zfs receive``): there the receive sees the stream end early and we never get its exit status.
    """

    def __init__(self, inner: Executor, send_cuts: Sequence[int] = (), receive_cuts: Sequence[int] = ()) -> None:
        self.inner = inner
        self.send_cuts = list(send_cuts)
        self.receive_cuts = list(receive_cuts)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        if self.receive_cuts and stdin is not None and not isinstance(stdin, bytes | str):
            limit = self.receive_cuts.pop(0)
            cut = _Cut(stdin, limit)

            def upto() -> Iterator[bytes]:
                with contextlib.suppress(ConnectionFailed):
                    yield from cut

            self.inner.run(argv, stdin=upto(), timeout=timeout)
            raise ConnectionFailed("SSH connection lost while running zfs receive (link dropped by the test)")
        return self.inner.run(argv, stdin=stdin, timeout=timeout)

    @contextlib.contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Iterator[Any]:
        limit = self.send_cuts.pop(0) if self.send_cuts and tuple(argv[:2]) == ("zfs", "send") else None
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            yield _Stream(out, limit)

    def close(self) -> None:
        self.inner.close()


class _Relay:
    """A stream relayed through a real ``cat`` process that is SIGKILLed after ``limit`` bytes."""

    def __init__(self, inner: Any, argv: Sequence[str], limit: int) -> None:
        self._inner, self._argv, self._limit = inner, tuple(argv), limit
        self.result: Result | None = None

    def __iter__(self) -> Iterator[bytes]:
        proc = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None

        def feed() -> None:
            with contextlib.suppress(BrokenPipeError, OSError):
                for chunk in self._inner:
                    proc.stdin.write(chunk)  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        got = 0
        while True:
            data = proc.stdout.read1(1 << 16)  # type: ignore[attr-defined]
            if not data:
                break
            if got + len(data) >= self._limit:
                data = data[: self._limit - got]
                os.kill(proc.pid, signal.SIGKILL)  # the sender dies for real, mid-stream
                got += len(data)
                yield data
                break
            got += len(data)
            yield data
        rc = proc.wait()
        feeder.join(timeout=5)
        self.result = Result(self._argv, rc, "", "" if rc == 0 else "Killed\n")


class KilledSender(LinkDrop):
    """Wraps an executor; its next ``zfs send`` streams pass through a real process SIGKILLed mid-stream."""

    @contextlib.contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Iterator[Any]:
        if not (self.send_cuts and tuple(argv[:2]) == ("zfs", "send")):
            with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
                yield out
            return
        limit = self.send_cuts.pop(0)
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            relay = _Relay(out, argv, limit)
            yield relay


class _Abandoned:
    """A stream whose command is killed (exit -1, no status) when its reader stops before the end."""

    def __init__(self, inner: Any, argv: Sequence[str]) -> None:
        self._inner, self._argv, self._done = inner, tuple(argv), False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner
        self._done = True

    @property
    def result(self) -> Result | None:
        r: Result | None = self._inner.result
        return r if self._done or r is None else Result(self._argv, -1, "", "")


class SSHLikeSender(LinkDrop):
    """Wraps an executor whose ``zfs send`` ends like SSHExecutor's when its reader goes away: exit -1."""

    @contextlib.contextmanager
    def stream(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Iterator[Any]:
        with self.inner.stream(argv, stdin=stdin, timeout=timeout) as out:
            yield _Abandoned(out, argv)
