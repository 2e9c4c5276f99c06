"""Run commands on this machine with :mod:`subprocess`: never a shell, always ``LC_ALL=C``."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO

from pyzfsnas import commands as cmd
from pyzfsnas.errors import ConnectionFailed, ZFSError, error_from_result
from pyzfsnas.executors.base import CHUNK_SIZE, BaseExecutor, Outcome

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


def _read_chunks(proc: subprocess.Popen[bytes]) -> Iterator[bytes]:
    assert proc.stdout is not None
    while chunk := proc.stdout.read(CHUNK_SIZE):
        yield chunk


def _file_error(argv: Sequence[str], exc: OSError) -> ZFSError:
    """The typed error a failed file operation raises: what the same command would have said."""
    return error_from_result(argv, 1, f"{argv[0]}: {exc.filename}: {exc.strerror}")


def _drain(pipe: IO[bytes], into: list[bytes]) -> None:
    while chunk := pipe.read(CHUNK_SIZE):
        into.append(chunk)
    pipe.close()


class LocalExecutor(BaseExecutor):
    """Executor for the local host.

    ``prefix`` is prepended to every argv, for example ``("sudo", "-n")``. ``timeout`` is the default per
    command, in seconds (``None``: no limit). The environment is inherited with ``LC_ALL=C`` forced so
    that tool messages are the ones :mod:`pyzfsnas.errors` understands.
    """

    #: Prepended to every argv, e.g. ``("sudo", "-n")``.
    prefix: tuple[str, ...]
    #: Default time limit per command, in seconds (``None``: no limit).
    timeout: float | None
    #: Where commands run, as log lines name it: ``local``.
    where: str

    def __init__(self, *, prefix: Sequence[str] = (), timeout: float | None = 600.0) -> None:
        self.prefix = tuple(prefix)
        self.timeout = timeout
        self.where = "local"
        self._env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def __repr__(self) -> str:
        return f"LocalExecutor(prefix={self.prefix!r}, timeout={self.timeout!r})"

    def _popen(self, argv: tuple[str, ...], stdin: bytes | Iterable[bytes] | None) -> subprocess.Popen[bytes]:
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

    def _execute(self, argv: Sequence[str], args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                 limit: float | None) -> Outcome:
        outcome = Outcome()
        try:
            proc = self._popen(args, stdin)
        except FileNotFoundError as exc:
            return self._missing(args, exc)
        fed: list[BaseException] = []
        threads = self._threads(proc, stdin, outcome.stderr, fed, outcome.stdout)
        try:
            proc.wait(limit)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            proc.wait()
            outcome.timed_out = True
        finally:
            for t in threads:
                t.join(5)
        outcome.returncode = proc.returncode
        outcome.error = fed[0] if fed else None
        return outcome

    def _missing(self, args: tuple[str, ...], exc: FileNotFoundError) -> Outcome:
        """The outcome of a program that could not be started: exit 127, as a shell reports it."""
        outcome = Outcome(127)
        program = (self.prefix or args)[0]
        outcome.stderr.append(f"{program}: command not found ({exc.strerror})".encode())
        return outcome

    @contextmanager
    def _open_stream(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None, limit: float | None,
                     outcome: Outcome) -> Iterator[Iterable[bytes]]:
        try:
            proc = self._popen(args, stdin)
        except FileNotFoundError as exc:
            missing = self._missing(args, exc)
            outcome.returncode, outcome.stderr[:] = missing.returncode, missing.stderr
            yield ()
            return
        fed: list[BaseException] = []
        threads = self._threads(proc, stdin, outcome.stderr, fed, None)

        def _kill() -> None:
            outcome.timed_out = True
            self._kill_group(proc)

        timer = threading.Timer(limit, _kill) if limit is not None else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            yield _read_chunks(proc)
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
            outcome.returncode = proc.returncode
            outcome.error = fed[0] if fed else None

    # -- files: the OS directly (by commands when a prefix such as sudo is set) ----------------------------

    _direct_files = True

    def _read_direct(self, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise _file_error(cmd.file_cat(path), exc) from None

    def _write_direct(self, path: str, tmp: str, data: bytes, label: Sequence[str]) -> None:
        """Write ``tmp`` (created exclusively), fsync it, and rename it over ``path``."""
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise _file_error(label, exc) from None

    def close(self) -> None:
        """Nothing to release for local processes."""

    @staticmethod
    def which(program: str) -> str | None:
        """Path of ``program`` on this machine's PATH, or None."""
        return shutil.which(program)

