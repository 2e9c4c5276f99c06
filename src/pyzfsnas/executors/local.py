"""Run commands on this machine with :mod:`subprocess`: never a shell, always ``LC_ALL=C``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO

from pyzfsnas.errors import CommandTimeout, ConnectionFailed
from pyzfsnas.executors.base import (
    CHUNK_SIZE,
    OutputStream,
    Result,
    Stdin,
    check_argv,
    check_stdin,
    effective_timeout,
    log_result,
)

__all__ = ["LocalExecutor"]


def _feed(pipe: IO[bytes], data: bytes | Iterable[bytes] | None, errors: list[BaseException]) -> None:
    """Write ``data`` (bytes or an iterable of chunks) to ``pipe`` and close it; a closed reader ends it.

    Only a reader that went away (broken pipe) ends the feeding quietly. Anything else (a failing source, a
    progress callback, a chunk that is not bytes) is kept in ``errors`` so the caller re-raises it instead
    of reporting success on truncated input. Text was encoded before the command started
    (:func:`~pyzfsnas.executors.base.check_stdin`).
    """
    try:
        if isinstance(data, bytes):
            pipe.write(data)
        elif data is not None:
            for chunk in data:
                pipe.write(chunk)
    except BrokenPipeError:
        pass
    except BaseException as exc:  # re-raised by the caller, in its own thread
        errors.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError, OSError):
            pipe.close()


def _drain(pipe: IO[bytes], into: list[bytes]) -> None:
    while chunk := pipe.read(CHUNK_SIZE):
        into.append(chunk)
    pipe.close()


class _LocalStream:
    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self.result: Result | None = None

    def __iter__(self) -> Iterator[bytes]:
        assert self._proc.stdout is not None
        while chunk := self._proc.stdout.read(CHUNK_SIZE):
            yield chunk


class _NoStream:
    """The stream of a program that could not be started: no output, exit 127."""

    def __init__(self, result: Result) -> None:
        self.result: Result | None = result

    def __iter__(self) -> Iterator[bytes]:
        return iter(())


class LocalExecutor:
    """Executor for the local host.

    ``prefix`` is prepended to every argv, for example ``("sudo", "-n")``. ``timeout`` is the default per
    command, in seconds (``None``: no limit). The environment is inherited with ``LC_ALL=C`` forced so
    that tool messages are the ones :mod:`pyzfsnas.errors` understands.
    """

    #: Prepended to every argv, e.g. ``("sudo", "-n")``.
    prefix: tuple[str, ...]
    #: Default time limit per command, in seconds (``None``: no limit).
    timeout: float | None

    def __init__(self, *, prefix: Sequence[str] = (), timeout: float | None = 600.0) -> None:
        self.prefix = tuple(prefix)
        self.timeout = timeout
        self._env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def __repr__(self) -> str:
        return f"LocalExecutor(prefix={self.prefix!r}, timeout={self.timeout!r})"

    def _popen(self, argv: tuple[str, ...], stdin: Stdin) -> subprocess.Popen[bytes]:
        full = [*self.prefix, *argv]
        try:
            return subprocess.Popen(
                full,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env,
                shell=False,
                # Its own process group, so a timeout kills a whole pipeline (sh -c 'a | b'), not just sh.
                start_new_session=True,
            )
        except FileNotFoundError:
            raise  # the program is missing: the callers report exit 127 like a shell would
        except OSError as exc:  # pragma: no cover - fork failures are environmental
            raise ConnectionFailed(f"cannot start {full[0]!r}: {exc}") from exc

    def _missing(self, args: tuple[str, ...], exc: FileNotFoundError, start: float) -> Result:
        program = (self.prefix or args)[0]
        result = Result(args, 127, "", f"{program}: command not found ({exc.strerror})", time.monotonic() - start,
                        prefix=self.prefix)
        log_result(result)
        return result

    @staticmethod
    def _kill_group(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()

    @staticmethod
    def _threads(proc: subprocess.Popen[bytes], stdin: bytes | Iterable[bytes] | None, err: list[bytes],
                 fed: list[BaseException], out: list[bytes] | None) -> list[threading.Thread]:
        threads = [threading.Thread(target=_drain, args=(proc.stderr, err), daemon=True)]
        if out is not None:
            threads.append(threading.Thread(target=_drain, args=(proc.stdout, out), daemon=True))
        if stdin is not None:
            threads.append(threading.Thread(target=_feed, args=(proc.stdin, stdin, fed), daemon=True))
        for t in threads:
            t.start()
        return threads

    def run(self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None) -> Result:
        """Run ``argv`` and wait for it; see :class:`~pyzfsnas.executors.base.Executor`."""
        args = check_argv(argv)
        data = check_stdin(stdin)
        limit = effective_timeout(timeout, self.timeout)
        start = time.monotonic()
        try:
            proc = self._popen(args, data)
        except FileNotFoundError as exc:
            return self._missing(args, exc, start)
        out: list[bytes] = []
        err: list[bytes] = []
        fed: list[BaseException] = []
        threads = self._threads(proc, data, err, fed, out)
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            proc.wait()
            raise CommandTimeout(args, limit or 0.0, prefix=self.prefix) from None
        finally:
            for t in threads:
                t.join(5)
        if fed:
            raise fed[0]
        result = Result(
            args,
            proc.returncode,
            b"".join(out).decode("utf-8", "replace"),
            b"".join(err).decode("utf-8", "replace"),
            time.monotonic() - start,
            prefix=self.prefix,
        )
        log_result(result)
        return result

    @contextmanager
    def stream(
        self, argv: Sequence[str], *, stdin: Stdin = None, timeout: float | None = None
    ) -> Iterator[OutputStream]:
        """Run ``argv`` and yield its stdout in chunks (bounded memory); see the protocol."""
        args = check_argv(argv)
        data = check_stdin(stdin)
        limit = effective_timeout(timeout, self.timeout)
        start = time.monotonic()
        try:
            proc = self._popen(args, data)
        except FileNotFoundError as exc:
            yield _NoStream(self._missing(args, exc, start))
            return
        err: list[bytes] = []
        fed: list[BaseException] = []
        threads = self._threads(proc, data, err, fed, None)
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            self._kill_group(proc)

        timer = threading.Timer(limit, _kill) if limit is not None else None
        if timer:
            timer.daemon = True
            timer.start()
        handle = _LocalStream(proc)
        try:
            yield handle
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None and proc.stdout is not None:
                # The consumer stopped early: drain nothing more, stop the producer.
                proc.stdout.close()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._kill_group(proc)
            proc.wait()
            for t in threads:
                t.join(5)
            if proc.stdout is not None and not proc.stdout.closed:
                proc.stdout.close()
            handle.result = Result(
                args, proc.returncode, "", b"".join(err).decode("utf-8", "replace"), time.monotonic() - start,
                prefix=self.prefix,
            )
            log_result(handle.result)
        if timed_out.is_set():
            raise CommandTimeout(args, limit or 0.0, prefix=self.prefix)
        if fed:
            raise fed[0]

    def close(self) -> None:
        """Nothing to release for local processes."""

    @staticmethod
    def which(program: str) -> str | None:
        """Path of ``program`` on this machine's PATH, or None."""
        return shutil.which(program)

