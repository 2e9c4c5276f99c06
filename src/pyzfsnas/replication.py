"""Replication: send a snapshot from one host's ZFS into another's, whatever their executors.

:func:`transfer` streams ``zfs send`` on the source through this process into ``zfs receive`` on the
destination, a chunk at a time (bounded memory), reporting progress. :func:`transfer_direct` instead has the
source host pipe straight into the destination over its own ``ssh`` — one shell pipeline on the source, built
with the audited quoting of :func:`~pyzfsnas.executors.quoting.quote_argv`, so the data does not cross this
process at all.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

import attrs

from pyzfsnas import commands as cmd
from pyzfsnas.errors import (
    CommandFailed,
    CommandTimeout,
    ConnectionFailed,
    InvalidName,
    StaleResumeToken,
    UnsupportedOperation,
    ZFSError,
    error_from_result,
)
from pyzfsnas.executors.base import NO_TIMEOUT, OutputStream, Result
from pyzfsnas.executors.quoting import quote_argv
from pyzfsnas.names import CONTROL, check_port
from pyzfsnas.result import Command
from pyzfsnas.zfs import ZFS

__all__ = [
    "SSHTarget",
    "TransferCancelled",
    "TransferInterrupted",
    "TransferResult",
    "direct_pipeline",
    "transfer",
    "transfer_direct",
]

log = logging.getLogger("pyzfsnas.replication")

#: Called with the number of bytes transferred so far.
Progress = Callable[[int], None]


@attrs.frozen
class TransferResult:
    """What a transfer moved: the snapshot, the target, the byte count (every attempt's), the last receive's
    result (None when the target already held the snapshot: an earlier, interrupted run had finished it), and
    how many times an interrupted stream was resumed."""

    snapshot: str
    target: str
    nbytes: int
    receive: Result | None
    resumes: int = 0


class TransferCancelled(ZFSError):
    """The transfer was cancelled; the receiving side discarded the partial stream."""


class TransferInterrupted(ZFSError):
    """The stream broke off (or was stopped) and stayed broken; the destination kept what it received.

    ``token`` is the destination's ``receive_resume_token``: ``transfer(..., resumable=True)`` with the same
    arguments picks it up and finishes, ``zfs receive -A TARGET`` (:meth:`ZFS.receive_abort`) discards it.
    """

    #: The dataset that holds the partial state.
    target: str
    #: Its ``receive_resume_token``.
    token: str

    def __init__(self, message: str, *, target: str, token: str) -> None:
        self.target = target
        self.token = token
        super().__init__(message)


#: what an interrupted stream looks like to us: a command that failed, a dropped link, a timeout
_BROKEN = (CommandFailed, ConnectionFailed, CommandTimeout)


def transfer(
    source: ZFS,
    snapshot: str,
    destination: ZFS,
    target: str,
    *,
    incremental_from: str | None = None,
    intermediates: bool = False,
    replicate: bool = False,
    send_properties: bool = False,
    force: bool = False,
    unmounted: bool = False,
    properties: Mapping[str, object] | None = None,
    resumable: bool = False,
    retries: int = 3,
    retry_delay: float = 2.0,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    stop: threading.Event | None = None,
    timeout: float | None = NO_TIMEOUT,
) -> TransferResult:
    """Send ``snapshot`` from ``source`` and receive it as ``target`` on ``destination``.

    Full by default; incremental from ``incremental_from`` (a snapshot name, or ``@snap`` of the same
    dataset), with every snapshot in between when ``intermediates`` (``-I``). Receive options map to
    ``zfs receive``: ``force`` (``-F``: roll the target back to its most recent snapshot first),
    ``unmounted`` (``-u``), ``properties`` (``-o``, OpenZFS only), ``resumable`` (``-s``, OpenZFS only);
    on zfs-fuse those two raise :class:`~pyzfsnas.errors.UnsupportedOperation` before anything runs.
    ``progress`` is called with the total bytes sent so far after each chunk. When both ends fail, the
    error that caused the other is raised: a send that died of a broken pipe because the receive refused the
    stream yields the receive's error (``DatasetExists``...), otherwise the send's. No time limit by
    default; ``timeout`` bounds each end.

    Resumable (``resumable=True``, both hosts OpenZFS): the receive keeps what arrived when the stream
    breaks off (a dropped SSH link, a killed ``zfs send``, a receive that died), and the transfer resumes by
    itself from the destination's ``receive_resume_token`` with ``zfs send -t`` — at most ``retries``
    times, ``retry_delay`` seconds apart, each logged — then raises :class:`TransferInterrupted` (holding the
    token). State left by an earlier process is found and resumed first; if the snapshot it was for is gone
    on the source, that state is discarded (``zfs receive -A``) and the transfer starts afresh. When the
    resumed snapshot is not ``snapshot`` itself (an ``-I`` series cut in the middle, or an earlier run for
    an older snapshot), the transfer continues incrementally from it.

    A transfer that fails because the target already holds ``snapshot`` (same guid: an earlier run died after
    its receive) succeeds instead, with ``receive`` None; on zfs-fuse it also remounts the target, which that
    run may not have got to. So repeating a call that was interrupted always converges.

    Setting ``cancel`` stops the stream between chunks; whatever the receive kept is discarded (``receive
    -A``) and :class:`TransferCancelled` is raised. Setting ``stop`` also stops it but keeps the partial
    state to resume later: :class:`TransferInterrupted` (or :class:`TransferCancelled` when not resumable,
    since nothing was kept).
    """
    # Validate both ends before starting either command.
    cmd.zfs_receive(target, force=force, unmounted=unmounted, properties=properties,
                    resumable=resumable, flavour=destination.detect_flavour())
    cmd.zfs_send(snapshot, incremental_from=incremental_from, intermediates=intermediates,
                 replicate=replicate, properties=send_properties)
    if resumable:
        source.detect_flavour().require("resumable_receive", "resuming a send (-t)")
        if replicate:
            raise UnsupportedOperation("resumable transfers of replication streams (-R) are not supported")
    if retries < 0 or retry_delay < 0:
        raise ValueError("retries and retry_delay must be >= 0")
    moved = 0
    resumes = 0
    failures = 0
    short = snapshot.split("@", 1)[1]
    fs = snapshot.split("@", 1)[0]
    dest_fs = target.split("@", 1)[0]
    token = destination.resume_token(target) if resumable else None
    if token is not None:
        log.info("%s holds a partial receive left by an earlier transfer; resuming it", target)

    def halted() -> bool:
        return (cancel is not None and cancel.is_set()) or (stop is not None and stop.is_set())

    def counted(total: int) -> None:
        if progress is not None:
            progress(moved + total)

    while True:
        try:
            if token is not None:
                try:
                    resumed, _left = source.resume_info(token)
                except StaleResumeToken as exc:
                    log.warning("cannot resume the partial receive in %s (%s); discarding it", target, exc)
                    destination.receive_abort(target)
                    token = None
                    continue
                log.info("resuming %s into %s", resumed, target)
                resumes += 1
                received, n = _one_pass(
                    functools.partial(source.send_resume, token, timeout=timeout), destination, target,
                    receive_options=dict(force=force, unmounted=unmounted, resumable=True, incremental=True,
                                         timeout=timeout),
                    progress=counted, halted=halted)
                moved += n
                token = None
                if resumed.split("@", 1)[1] == short and destination.exists(f"{dest_fs}@{short}"):
                    break
                if resumed.split("@", 1)[0] == fs:
                    incremental_from = "@" + resumed.split("@", 1)[1]
                continue
            received, n = _one_pass(
                functools.partial(source.send, snapshot, incremental_from=incremental_from,
                                  intermediates=intermediates, replicate=replicate, properties=send_properties,
                                  timeout=timeout),
                destination, target,
                receive_options=dict(force=force, unmounted=unmounted, properties=properties,
                                     resumable=resumable, incremental=incremental_from is not None,
                                     timeout=timeout),
                progress=counted, halted=halted)
            moved += n
            break
        except _BROKEN as exc:
            moved += getattr(exc, "pyzfsnas_moved", 0)
            if not halted() and isinstance(exc, CommandFailed) and _already_there(source, snapshot, destination,
                                                                                   f"{dest_fs}@{short}"):
                # An earlier run that died after its receive (killed, or its link dropped before the exit
                # status came back) finished the job: heal what it may not have got to, and succeed.
                log.info("%s already holds %s: nothing left to send", target, snapshot)
                stale = destination.detect_flavour().stale_cache_after_receive
                if incremental_from is not None and not unmounted and stale:
                    destination.remount(dest_fs)
                return TransferResult(snapshot, target, moved, None, resumes)
            if cancel is not None and cancel.is_set():
                if resumable:
                    _discard(destination, target)
                raise TransferCancelled(f"transfer of {snapshot} to {target} was cancelled") from None
            if not resumable:
                if stop is not None and stop.is_set():
                    raise TransferCancelled(f"transfer of {snapshot} to {target} was stopped") from None
                raise
            token = _token_after(destination, target, retry_delay)
            if token is None:
                raise
            how = f"resume it with the same transfer, or discard it with: zfs receive -A {target}"
            if stop is not None and stop.is_set():
                raise TransferInterrupted(f"transfer of {snapshot} to {target} stopped after {moved} bytes; "
                                          f"{how}", target=target, token=token) from None
            failures += 1
            if failures > retries:
                raise TransferInterrupted(f"transfer of {snapshot} to {target} interrupted {failures} times, "
                                          f"last: {exc}; {how}", target=target, token=token) from exc
            log.warning("transfer of %s into %s interrupted after %d bytes (%s); resuming, attempt %d of %d",
                        snapshot, target, moved, exc, failures, retries)
            time.sleep(retry_delay)
    log.info("replicated %s into %s: %d bytes%s", snapshot, target, moved,
             f" ({resumes} resumed)" if resumes else "")
    return TransferResult(snapshot, target, moved, received, resumes)


def _one_pass(
    open_stream: Callable[[], AbstractContextManager[OutputStream]],
    destination: ZFS,
    target: str,
    *,
    receive_options: dict[str, Any],
    progress: Progress,
    halted: Callable[[], bool],
) -> tuple[Result, int]:
    """Pipe one send stream into one receive; (receive result, bytes) or the error that explains the failure.

    A source that fails mid-stream (dropped link, timeout) only ends the stream here, so the receive sees
    an incomplete stream and (with ``-s``) keeps what arrived; that failure is raised afterwards.
    """
    total = 0
    cut: ZFSError | None = None
    received: Result | None = None
    receive_error: ZFSError | None = None

    drained = False

    def chunks(stream: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal total, cut, drained
        try:
            for chunk in stream:
                if halted():
                    return
                total += len(chunk)
                progress(total)
                yield chunk
            drained = True
        except (ConnectionFailed, CommandTimeout) as exc:
            cut = exc

    def tagged(exc: ZFSError) -> ZFSError:
        exc.pyzfsnas_moved = total  # type: ignore[attr-defined]
        return exc

    try:
        with open_stream() as stream:
            try:
                received = destination.receive(target, chunks(stream), **receive_options)
            except _BROKEN as exc:
                receive_error = exc
    except _BROKEN as send_error:
        # A send we stopped reading because the receive failed dies of it (SIGPIPE, or killed with its
        # channel): the receive's error is the cause.
        if receive_error is not None and cut is None and (
                not drained or (isinstance(send_error, CommandFailed) and _broken_pipe(send_error))):
            raise tagged(receive_error) from None
        raise tagged(send_error) from None
    if cut is not None:
        raise tagged(cut)
    if receive_error is not None:
        raise tagged(receive_error)
    if halted():
        raise tagged(CommandFailed(("zfs", "receive", target), 1, "stream stopped by the caller"))
    assert received is not None
    return received, total


def _already_there(source: ZFS, snapshot: str, destination: ZFS, received: str) -> bool:
    """True when ``received`` exists on the destination as ``snapshot`` of the source: same guid (zfs-fuse,
    which has no ``guid`` property: same name and creation time, which a receive keeps)."""
    prop = "creation" if source.detect_flavour().is_fuse or destination.detect_flavour().is_fuse else "guid"
    try:
        theirs = destination.get(received, prop).raw(prop)
        return theirs is not None and theirs == source.get(snapshot, prop).raw(prop)
    except ZFSError:
        return False


def _token_after(destination: ZFS, target: str, delay: float) -> str | None:
    """The destination's resume token after a failure, waiting a little for a receive that is still dying."""
    for attempt in range(5):
        try:
            token = destination.resume_token(target)
        except (ConnectionFailed, CommandTimeout):
            token = None
        if token is not None:
            return token
        if attempt < 4:
            time.sleep(delay / 2)
    return None


def _discard(destination: ZFS, target: str) -> None:
    """Abort whatever partial receive is in ``target`` (after a cancel); failures are logged, not raised."""
    try:
        if destination.receive_abort(target):
            log.info("discarded the partial receive in %s", target)
    except ZFSError as exc:
        log.warning("could not discard the partial receive in %s: %s", target, exc)


def _broken_pipe(error: CommandFailed) -> bool:
    """True when a send died only because its reader went away (SIGPIPE / EPIPE)."""
    return error.returncode in (-13, 141) or "broken pipe" in error.stderr.lower()


@attrs.frozen
class SSHTarget:
    """How the *source* host reaches the destination host with its own ``ssh`` client.

    ``options`` are extra ``ssh -o`` settings (for example ``("StrictHostKeyChecking=yes",)``); the source's
    ssh configuration and keys are used, and ``BatchMode=yes`` is always set so it never prompts.
    """

    host: str
    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    options: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """The ``ssh`` argv prefix (everything before the remote command)."""
        for text in (self.host, self.user or "", self.identity_file or "", *self.options):
            if not isinstance(text, str) or text.startswith("-") or " " in text or CONTROL.search(text):
                raise InvalidName(f"invalid ssh target field {text!r}")
        if not self.host:
            raise InvalidName("empty ssh host")
        argv = ["ssh", "-o", "BatchMode=yes", "-p", str(check_port(self.port))]
        if self.identity_file:
            argv += ["-i", self.identity_file]
        for opt in self.options:
            argv += ["-o", opt]
        return [*argv, f"{self.user}@{self.host}" if self.user else self.host]


def direct_pipeline(send_argv: Sequence[str], target: SSHTarget, recv_argv: Sequence[str]) -> Command:
    """``sh -c 'SEND | ssh … RECV'``: the argv a source host runs to pipe straight to the destination.

    The receive command crosses two shells (the source's ``sh -c`` and the destination's login shell), so
    it is quoted twice: once into the remote command line, and that line once more as ssh's argument.
    The pipeline's status is the receive's, which is enough: ``zfs receive`` fails on a missing, empty or
    truncated stream, so a failed send always fails the receive too, and both stderrs are kept.
    """
    remote = quote_argv(recv_argv)
    return Command(["sh", "-c", f"{quote_argv(send_argv)} | {quote_argv([*target.argv(), remote])}"])


def transfer_direct(
    source: ZFS,
    snapshot: str,
    destination: ZFS,
    target: str,
    via: SSHTarget,
    *,
    incremental_from: str | None = None,
    force: bool = False,
    unmounted: bool = False,
    properties: Mapping[str, object] | None = None,
) -> Result:
    """Have the source host pipe ``zfs send`` into ``ssh VIA zfs receive`` itself (no data through us).

    ``destination`` is only used to pick the receive options its flavour supports and to validate them.
    """
    send_argv = cmd.zfs_send(snapshot, incremental_from=incremental_from)
    recv_argv = cmd.zfs_receive(target, force=force, unmounted=unmounted, properties=properties,
                                flavour=destination.detect_flavour())
    result = source.executor.run(direct_pipeline(send_argv, via, recv_argv))
    if not result.ok:
        # A send that failed first (a missing snapshot) leaves the receive "failed to read from stream": the
        # send's error is the cause, so the stream complaint is not what the error is classified by.
        cause = "".join(line for line in result.stderr.splitlines(keepends=True)
                        if "failed to read from stream" not in line)
        if cause.strip():
            raise error_from_result(result.argv, result.returncode, cause, result.stdout, prefix=result.prefix)
        result.check()
    if incremental_from is not None and not unmounted and destination.detect_flavour().stale_cache_after_receive:
        destination.remount(target)
    return result
