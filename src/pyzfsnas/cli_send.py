"""``pyzfsnas send`` and ``pyzfsnas replicate``: move snapshots between two hosts from the command line.

The source is the host the global options name (local, ``--ssh``, ``--fake``); the destination is local,
``--to-ssh USER@HOST[:PORT]`` or ``--to-fake``. Transfers are resumable whenever both hosts can (OpenZFS):
a dropped link is resumed by itself (``--retries``), and running the same command again finishes what an
earlier, interrupted run left. Progress: a bar (bytes, rate, ETA) on a terminal, one line per step
otherwise. Ctrl-C stops between chunks, keeps the partial state and says how to resume.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TextIO

from pyzfsnas.errors import UnsupportedOperation, ZFSError
from pyzfsnas.replication import TransferCancelled, TransferInterrupted, TransferResult, transfer
from pyzfsnas.zfs import ZFS

__all__ = ["add_commands", "cmd_replicate", "cmd_send"]

#: exit status after Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


class Reporter:
    """Progress of one transfer: a bar rewritten in place on a terminal, else one line per step (on ``out``);
    the result of each step ("done: ...") goes to ``summary`` when given (the CLI: stdout), else to ``out``."""

    def __init__(self, out: TextIO, *, tty: bool | None = None, clock: Callable[[], float] = time.monotonic,
                 summary: TextIO | None = None) -> None:
        self.out = out
        self.summary = summary
        self.tty = out.isatty() if tty is None else tty
        self.clock = clock
        self.total: int | None = None
        self.start = clock()
        self.shown = 0.0
        self.bar = False

    def begin(self, what: str, total: int | None) -> None:
        """A new step (a full or incremental stream) whose size is estimated at ``total`` bytes (or unknown)."""
        self.total, self.start, self.shown = total, self.clock(), 0.0
        self.step(f"{what}" + (f" (about {_size(total)})" if total else ""))

    def step(self, text: str) -> None:
        """One line about what happens (a resume, a retry, the end)."""
        if self.bar:
            self.out.write("\r\033[K")
            self.bar = False
        self.out.write(text + "\n")
        self.out.flush()

    def progress(self, nbytes: int) -> None:
        """Bytes moved so far in this step; redraws the bar at most ten times a second (terminal only)."""
        if not self.tty:
            return
        now = self.clock()
        if now - self.shown < 0.1:
            return
        self.shown = now
        elapsed = max(now - self.start, 1e-6)
        rate = nbytes / elapsed
        text = f"  {_size(nbytes)}"
        if self.total:
            frac = min(nbytes / self.total, 1.0)
            filled = int(frac * 24)
            left = max(self.total - nbytes, 0) / rate if rate > 0 else 0
            text = (f"  [{'#' * filled}{'.' * (24 - filled)}] {frac * 100:5.1f}%  {_size(nbytes)} of "
                    f"{_size(self.total)}")
            text += f"  {_size(rate)}/s  ETA {int(left) // 60}:{int(left) % 60:02d}"
        else:
            text += f"  {_size(rate)}/s  ETA ?"
        self.out.write("\r\033[K" + text)
        self.out.flush()
        self.bar = True

    def done(self, result: TransferResult) -> None:
        """The step's end: bytes, time, rate, and how many resumes it took."""
        elapsed = max(self.clock() - self.start, 1e-6)
        resumed = f", resumed {result.resumes}x" if result.resumes else ""
        text = f"done: {_size(result.nbytes)} in {elapsed:.1f} s ({_size(result.nbytes / elapsed)}/s){resumed}"
        if self.summary is None:
            self.step(text)
            return
        if self.bar:
            self.out.write("\r\033[K")
            self.out.flush()
            self.bar = False
        self.summary.write(text + "\n")
        self.summary.flush()


class _StepLog(logging.Handler):
    """Shows the replication module's log lines (resuming, retrying) as steps, instead of as log records."""

    def __init__(self, reporter: Reporter) -> None:
        super().__init__(logging.INFO)
        self.reporter = reporter

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("replicated "):
            self.reporter.step(record.getMessage())


@contextmanager
def _ctrl_c(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets ``stop`` (the transfer ends between chunks, state kept); a second one kills."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _resumable(args: argparse.Namespace, src: ZFS, dst: ZFS) -> bool:
    both = src.detect_flavour().resumable_receive and dst.detect_flavour().resumable_receive
    if args.resumable is True and not both:
        raise UnsupportedOperation("resumable transfers need OpenZFS on both hosts (zfs-fuse has no receive -s)")
    return both if args.resumable is None else bool(args.resumable)


def _again(target: str) -> str:
    return f"run the same command again to resume; discard it instead with: zfs receive -A {target}"


def _run(args: argparse.Namespace, src: ZFS, dst: ZFS, reporter: Reporter, stop: threading.Event, *,
         snapshot: str, incremental_from: str | None, intermediates: bool) -> TransferResult:
    resumable = _resumable(args, src, dst)
    kind = (f"incremental {'-I' if intermediates else '-i'} {incremental_from} -> {snapshot}"
            if incremental_from else f"full {snapshot}")
    try:
        total = src.send_size(snapshot, incremental_from=incremental_from, intermediates=intermediates)
    except ZFSError:
        total = None
    reporter.begin(f"{kind} into {args.target}", total)
    result = transfer(src, snapshot, dst, args.target, incremental_from=incremental_from,
                      intermediates=intermediates, force=args.force, unmounted=args.unmounted,
                      resumable=resumable, retries=args.retries, retry_delay=args.retry_delay,
                      progress=reporter.progress, stop=stop)
    reporter.done(result)
    return result


def _guarded(args: argparse.Namespace, body: Callable[[Reporter, threading.Event], None], out: TextIO | None) -> int:
    reporter = Reporter(out if out is not None else sys.stderr, summary=None if out is not None else sys.stdout)
    stop = threading.Event()
    handler = _StepLog(reporter)
    logger = logging.getLogger("pyzfsnas.replication")
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        with _ctrl_c(stop):
            body(reporter, stop)
    except TransferInterrupted as exc:
        reporter.step(f"pyzfsnas: interrupted; the partial state is kept in {exc.target}: {_again(exc.target)}")
        return INTERRUPTED if stop.is_set() else 1
    except TransferCancelled:
        reporter.step(f"pyzfsnas: interrupted; nothing was kept in {args.target} (not resumable here)")
        return INTERRUPTED
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    return 0


def cmd_send(src: ZFS, dst: ZFS, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``send SNAPSHOT TARGET [--incremental|-I FROM]``: one full or incremental stream (resumed if one was cut)."""
    base = args.incremental or args.intermediates

    def body(reporter: Reporter, stop: threading.Event) -> None:
        _run(args, src, dst, reporter, stop, snapshot=args.snapshot, incremental_from=base,
             intermediates=bool(args.intermediates))

    return _guarded(args, body, out)


def cmd_replicate(src: ZFS, dst: ZFS, args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``replicate DATASET TARGET``: bring TARGET up to DATASET's newest snapshot.

    Full stream of the oldest snapshot when TARGET has none of them (a partial receive there is resumed
    first), then one ``-I`` stream from the newest snapshot both have to the newest of the source.
    """
    def body(reporter: Reporter, stop: threading.Event) -> None:
        snaps = src.snapshots(args.dataset, properties=("guid",))
        if not snaps:
            raise ZFSError(f"{args.dataset} has no snapshots to replicate")
        theirs: set[object] = set()
        if dst.exists(args.target):
            theirs = {s.properties.value("guid") for s in dst.snapshots(args.target, properties=("guid",))}
        common = [s for s in snaps if s.properties.value("guid") in theirs]
        newest = snaps[-1]
        if common and common[-1].name == newest.name:
            reporter.step(f"{args.target} is up to date ({newest.name})")
            return
        if not common:
            _run(args, src, dst, reporter, stop, snapshot=snaps[0].name, incremental_from=None,
                 intermediates=False)
            if snaps[0].name == newest.name:
                return
            base = "@" + snaps[0].snapname
        else:
            base = "@" + common[-1].snapname
        _run(args, src, dst, reporter, stop, snapshot=newest.name, incremental_from=base, intermediates=True)

    return _guarded(args, body, out)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                 parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Register ``send`` and ``replicate`` on the CLI's subparsers (``parents``: the global options)."""
    def common(p: argparse.ArgumentParser) -> None:
        to = p.add_mutually_exclusive_group()
        to.add_argument("--to-ssh", metavar="USER@HOST[:PORT]", help="destination over SSH (default: local)")
        to.add_argument("--to-fake", action="store_true", help="destination: an empty built-in fake host")
        p.add_argument("--to-sudo", action="store_true", help="prefix destination commands with 'sudo -n'")
        p.add_argument("-F", "--force", action="store_true", help="zfs receive -F")
        p.add_argument("-u", "--unmounted", action="store_true", help="zfs receive -u")
        p.add_argument("--resumable", dest="resumable", action="store_true", default=None,
                       help="receive -s and resume broken streams (default: when both hosts are OpenZFS)")
        p.add_argument("--no-resumable", dest="resumable", action="store_false")
        p.add_argument("--retries", type=int, default=3, help="resumes after a broken stream (default 3)")
        p.add_argument("--retry-delay", type=float, default=2.0, metavar="SECONDS", help=argparse.SUPPRESS)

    s = sub.add_parser("send", help="send one snapshot (full or incremental) to another host",
                       parents=list(parents))
    s.add_argument("snapshot")
    s.add_argument("target")
    inc = s.add_mutually_exclusive_group()
    inc.add_argument("--incremental", dest="incremental", metavar="FROM",
                     help="incremental from FROM (@snap or full name): zfs send -i")
    inc.add_argument("-I", "--intermediates", dest="intermediates", metavar="FROM",
                     help="incremental, with every snapshot in between: zfs send -I")
    common(s)
    s.set_defaults(transfer=cmd_send)
    r = sub.add_parser("replicate", help="bring TARGET up to DATASET's newest snapshot (full, then incremental)",
                       parents=list(parents))
    r.add_argument("dataset")
    r.add_argument("target")
    common(r)
    r.set_defaults(transfer=cmd_replicate)
