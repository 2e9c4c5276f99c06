"""Kill an operation after its N-th command, the way SIGKILL would, then recover like a restarted process.

The operation's "process" is a :class:`~pyzfsnas.testing.KillSwitch` shared by the
:class:`~pyzfsnas.testing.RecordingExecutor` of every host it touches (:func:`dying`): the first ``allow``
commands run; the next one (and every one after it) never reaches a host. With ``mid`` a next command that
reads a stream (``zfs receive``) gets two chunks of it first — the process died while piping. The death is a
:class:`~pyzfsnas.testing.Killed` (a ``BaseException``, so no ``except Exception`` in the library can swallow
it); any ``finally`` the library runs on the way out can no longer touch the host, exactly as after a real
SIGKILL.

:func:`matrix` runs an operation once to count its commands, then once per kill point on a fresh setup,
then "restarts": a fresh facade on the same host repeats the same call, and the host's state is compared
with the state an uninterrupted run leaves. Outcomes: ``converged`` (same end state), ``reported`` (a
different state, but the retry raised a typed error saying so), ``lost`` (a different state, silently).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyzfsnas import ZFS
from pyzfsnas.errors import ZFSError
from pyzfsnas.shares import Store
from pyzfsnas.testing import Killed, KillSwitch, RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from pyzfsnas.testing.fake.host import Dataset

#: The chunks of its stream a ``zfs receive`` killed mid-pipe still gets.
MID_CHUNKS = 2


def dying(process: KillSwitch) -> Callable[[FakeHost], RecordingExecutor]:
    """``wrap`` for an operation run in ``process``: each host's executor counts against (and dies with) it."""
    return lambda host: RecordingExecutor(FakeExecutor(host), kill_switch=process)


def commands(op: Callable[[Callable[[FakeHost], Any]], Any]) -> list[tuple[str, ...]]:
    """The commands ``op`` runs, over all its hosts, in order (a process that never dies logs them)."""
    process = KillSwitch()
    op(dying(process))
    return process.log


class ProcessStore:
    """The private storage as a dying process sees it: each write is a step of ``process`` that may not
    happen (the kill points between host commands and store writes)."""

    def __init__(self, inner: Store, process: KillSwitch) -> None:
        self.inner, self.process = inner, process

    def get(self, entity_id: str, key: str) -> Any:
        return self.inner.get(entity_id, key)

    def update(self, entity_id: str, details: dict[str, Any]) -> None:
        self.process.step(("store.update", entity_id, ",".join(sorted(details))))
        self.inner.update(entity_id, details)

    def delete(self, entity_id: str) -> None:
        self.process.step(("store.delete", entity_id))
        self.inner.delete(entity_id)


def dataset_state(host: FakeHost, ds: Dataset) -> tuple[Any, ...]:
    """A fake dataset as seen from outside: kind, mounted, bytes referenced, holds, partial receive state."""
    return ds.kind, ds.mounted, sum(host.chunks.get(c, 0) for c in ds.data), tuple(sorted(ds.holds)), \
        ds.partial is not None


def signature(*hosts: FakeHost) -> dict[str, Any]:
    """What a host looks like from outside: datasets (kind, mounted, bytes referenced, holds, partial receive
    state, user properties) and the NFS export table."""
    out: dict[str, Any] = {}
    for host in hosts:
        for name, ds in sorted(host.datasets.items()):
            out[f"{host.name}:{name}"] = (*dataset_state(host, ds),
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
    counted = commands(op)
    expected = signature(*hosts)
    points: list[Point] = []
    for k in range(len(counted)):
        for mid in (False, True):
            streamed = counted[k][:2] == ("zfs", "receive")
            if mid and not streamed:
                continue
            hosts, op = setup()
            # one process: its executors die together
            process = KillSwitch(k, stdin_chunks=MID_CHUNKS if mid else 0)
            with contextlib.suppress(Killed):
                op(dying(process))
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


def zfs(wrap: Callable[[FakeHost], Any], host: FakeHost) -> ZFS:
    """A facade over ``wrap(host)`` with the host's flavour known (no ``zfs version`` to count)."""
    from pyzfsnas.flavour import FUSE, OPENZFS

    return ZFS(wrap(host), flavour=FUSE if host.flavour == "zfs-fuse" else OPENZFS)
