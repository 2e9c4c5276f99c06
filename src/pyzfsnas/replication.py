"""Replication: send a snapshot from one host's ZFS into another's, whatever their executors.

:func:`transfer` streams ``zfs send`` on the source through this process into ``zfs receive`` on the
destination, a chunk at a time (bounded memory), reporting progress. :func:`transfer_direct` instead has the
source host pipe straight into the destination over its own ``ssh`` — one shell pipeline on the source, built
with the audited quoting of :func:`~pyzfsnas.executors.quoting.quote_argv`, so the data does not cross this
process at all.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import attrs

from pyzfsnas import commands as cmd
from pyzfsnas.errors import CommandFailed, InvalidName, ZFSError
from pyzfsnas.executors.base import NO_TIMEOUT, Result
from pyzfsnas.executors.quoting import quote_argv
from pyzfsnas.result import Command
from pyzfsnas.zfs import ZFS

#: Control and line-breaking characters: none may reach the ssh command line of a direct pipeline.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")

__all__ = ["SSHTarget", "TransferCancelled", "TransferResult", "direct_pipeline", "transfer", "transfer_direct"]

log = logging.getLogger("pyzfsnas")

#: Called with the number of bytes transferred so far.
Progress = Callable[[int], None]


@attrs.frozen
class TransferResult:
    """What a transfer moved: the snapshot, the target, the byte count, and the receive command's result."""

    snapshot: str
    target: str
    nbytes: int
    receive: Result


class TransferCancelled(ZFSError):
    """The transfer was cancelled; the receiving side discarded the partial stream."""


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
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = NO_TIMEOUT,
) -> TransferResult:
    """Send ``snapshot`` from ``source`` and receive it as ``target`` on ``destination``.

    Full by default; incremental from ``incremental_from`` (a snapshot name, or ``@snap`` of the same
    dataset), with every snapshot in between when ``intermediates`` (``-I``). Receive options map to
    ``zfs receive``: ``force`` (``-F``: roll the target back to its most recent snapshot first),
    ``unmounted`` (``-u``), ``properties`` (``-o``, OpenZFS only), ``resumable`` (``-s``, OpenZFS only);
    on zfs-fuse those two raise :class:`~pyzfsnas.errors.UnsupportedOperation` before anything runs.
    ``progress`` is called with the total bytes sent so far after each chunk. Setting ``cancel`` stops
    the stream between chunks; the receive then fails and :class:`TransferCancelled` is raised. When both
    ends fail, the error that caused the other is raised: a send that died of a broken pipe because the
    receive refused the stream yields the receive's error (``DatasetExists``...), otherwise the send's.
    No time limit by default; ``timeout`` bounds each end.
    """
    # Validate both ends before starting either command.
    cmd.zfs_receive(target, force=force, unmounted=unmounted, properties=properties,
                    resumable=resumable, flavour=destination.flavour)
    cmd.zfs_send(snapshot, incremental_from=incremental_from, intermediates=intermediates,
                 replicate=replicate, properties=send_properties)
    total = 0
    received: Result | None = None
    receive_error: CommandFailed | None = None

    def chunks(stream: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal total
        for chunk in stream:
            if cancel is not None and cancel.is_set():
                return
            total += len(chunk)
            if progress is not None:
                progress(total)
            yield chunk

    def cancelled() -> bool:
        return cancel is not None and cancel.is_set()

    try:
        with source.send(snapshot, incremental_from=incremental_from, intermediates=intermediates,
                         replicate=replicate, properties=send_properties, timeout=timeout) as stream:
            try:
                received = destination.receive(
                    target, chunks(stream), force=force, unmounted=unmounted, properties=properties,
                    resumable=resumable, incremental=incremental_from is not None, timeout=timeout)
            except CommandFailed as exc:
                receive_error = exc
    except CommandFailed as send_error:
        if cancelled():
            raise TransferCancelled(f"transfer of {snapshot} to {target} was cancelled") from None
        if receive_error is not None and _broken_pipe(send_error):
            raise receive_error from None
        raise
    if cancelled():
        raise TransferCancelled(f"transfer of {snapshot} to {target} was cancelled")
    if receive_error is not None:
        raise receive_error
    assert received is not None
    log.info("replicated %s into %s: %d bytes", snapshot, target, total)
    return TransferResult(snapshot, target, total, received)


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
            if not isinstance(text, str) or text.startswith("-") or " " in text or _CONTROL.search(text):
                raise InvalidName(f"invalid ssh target field {text!r}")
        if not self.host:
            raise InvalidName("empty ssh host")
        port = self.port
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidName(f"invalid ssh port {port!r}: an int in 1..65535")
        argv = ["ssh", "-o", "BatchMode=yes", "-p", str(port)]
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
                                flavour=destination.flavour)
    result = source.executor.run(direct_pipeline(send_argv, via, recv_argv)).check()
    if incremental_from is not None and not unmounted and destination.flavour.stale_cache_after_receive:
        destination.remount(target)
    return result
