"""Executors that break a transfer's link the way the world does: a dropped connection mid-stream, or a
sender killed with SIGKILL. Each is a :class:`~pyzfsnas.testing.RecordingExecutor` over a real executor (here a
FakeExecutor) that cuts only the streams it is told to, so what survives is decided by the host's own
``zfs receive`` (a truncated stream)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence

from pyzfsnas.executors.base import Executor, OutputStream, Result
from pyzfsnas.testing import RecordingExecutor


def link_drop(inner: Executor, send_cuts: Sequence[int] = (), receive_cuts: Sequence[int] = ()) -> RecordingExecutor:
    """``inner`` whose next streams lose the link after the given byte counts.

    ``send_cuts`` apply to the ``zfs send`` streams in order, ``receive_cuts`` to the ``zfs receive`` runs fed a
    streamed stdin: there the receive sees the stream end early and we never get its exit status.
    """
    rec = RecordingExecutor(inner)
    for n, limit in enumerate(send_cuts, 1):
        rec.drop(n, match=("zfs", "send"), after_bytes=limit)
    for n, limit in enumerate(receive_cuts, 1):
        rec.drop(n, match=("zfs", "receive"), after_bytes=limit)
    return rec


class _Relay:
    """A stream relayed through a real ``cat`` process that is SIGKILLed after ``limit`` bytes."""

    def __init__(self, inner: OutputStream, argv: Sequence[str], limit: int) -> None:
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


def killed_sender(inner: Executor, send_cuts: Sequence[int]) -> RecordingExecutor:
    """``inner`` whose next ``zfs send`` streams pass through a real process SIGKILLed after the given byte
    counts."""
    cuts = list(send_cuts)
    rec = RecordingExecutor(inner)
    rec.intercept_stream(("zfs", "send"),
                         lambda argv, out: _Relay(out, argv, cuts.pop(0)) if cuts else out)
    return rec


class _Abandoned:
    """A stream whose command is killed (exit -1, no status) when its reader stops before the end."""

    def __init__(self, inner: OutputStream, argv: Sequence[str]) -> None:
        self._inner, self._argv, self._done = inner, tuple(argv), False

    def __iter__(self) -> Iterator[bytes]:
        yield from self._inner
        self._done = True

    @property
    def result(self) -> Result | None:
        r = self._inner.result
        return r if self._done or r is None else Result(self._argv, -1, "", "")


def ssh_like_sender(inner: Executor) -> RecordingExecutor:
    """``inner`` whose streams end like SSHExecutor's when their reader goes away: exit -1."""
    rec = RecordingExecutor(inner)
    rec.intercept_stream(None, lambda argv, out: _Abandoned(out, argv))
    return rec
