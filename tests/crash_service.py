"""Crash consistency of the share service: kill an operation after each command, restart, ensure, retry.

A *world* is three fake hosts (``h``: backend A, pool ``tank``; ``hb``: backend B, pool ``tankb``; ``t``: the
backup target, ``bkp/manila``) and one :class:`MemoryStore` — Manila's private storage, which survives a
crash with whatever the dead process had written to it. Services are built over executors that all belong
to one process, a :class:`~pyzfsnas.testing.KillSwitch`: it lets ``allow`` steps (host commands, and store
writes through :class:`tests.crash.ProcessStore`) happen, then dies (``Killed``, a ``BaseException``; nothing after it,
``finally`` blocks and ``except`` clean-ups included, reaches a host — as after SIGKILL).

:func:`run_point` runs one scenario: prepare (with a clean service), run the operation in a dying process,
throw that service away, build fresh services on the same hosts and store, call ``ensure_shares`` (what
manila-share does at start), then make the same call again; the hosts' and the store's state is then
compared with what one uninterrupted call leaves.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyzfsnas import ZFS
from pyzfsnas.errors import ZFSError
from pyzfsnas.flavour import FUSE, OPENZFS
from pyzfsnas.shares import MemoryStore, Options, ShareError, ShareRef, ShareService, Site, layout_from_options
from pyzfsnas.shares.values import ERROR
from pyzfsnas.testing import Killed, KillSwitch, RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from tests.crash import ProcessStore, dataset_state

GIB = 1 << 30
MiB = 1 << 20

BASE = {"zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2",
        "zfs_dataset_name_prefix": "manila_share_", "zfs_dataset_snapshot_name_prefix": "manila_share_snapshot_",
        "zfs_share_helpers": {"NFS": "auto"}, "replication_domain": "d"}
BACKENDS = {
    "A": {**BASE, "zfs_zpool_list": ["tank"], "zfs_backup_dataset": "bkp/manila",
          "zfs_backup_service_ip": "10.0.9.9"},
    "B": {**BASE, "zfs_zpool_list": ["tankb"], "zfs_share_export_ip": "10.0.2.1", "zfs_service_ip": "10.0.2.2"},
}


class World:
    """Hosts and private storage that outlive any one process."""

    def __init__(self, flavour: str) -> None:
        self.flavour = flavour
        self.h = FakeHost(flavour=flavour, name="h")  # type: ignore[arg-type]
        self.hb = FakeHost(flavour=flavour, name="hb")  # type: ignore[arg-type]
        self.t = FakeHost(flavour=flavour, name="t")  # type: ignore[arg-type]
        self.h.create_pool("tank", size=8 * GIB, mountpoint="/tank")
        self.hb.create_pool("tankb", size=8 * GIB, mountpoint="/tankb")
        self.t.create_pool("bkp", size=8 * GIB, mountpoint="/bkp")
        self.zfs(self.t).create_dataset("bkp/manila")
        self.store = MemoryStore()

    @property
    def hosts(self) -> list[FakeHost]:
        return [self.h, self.hb, self.t]

    def zfs(self, host: FakeHost, process: KillSwitch | None = None) -> ZFS:
        ex = FakeExecutor(host) if process is None else RecordingExecutor(FakeExecutor(host), kill_switch=process)
        return ZFS(ex, flavour=FUSE if self.flavour == "zfs-fuse" else OPENZFS)

    def services(self, process: KillSwitch | None = None) -> dict[str, ShareService]:
        """Freshly started services of backends A and B (set up before ``process`` starts counting)."""
        hosts = {"A": self.h, "B": self.hb}
        layouts = {n: layout_from_options(o.get) for n, o in BACKENDS.items()}

        def peers(name: str) -> Site:
            site = Site(name, self.zfs(hosts[name], process), layouts[name])
            site.load_mountpoints()
            return site

        out = {}
        for name, opts in BACKENDS.items():
            options = Options.from_options(opts.get)
            store: Any = self.store if process is None else ProcessStore(self.store, process)
            svc = ShareService(Site(name, self.zfs(hosts[name], process), layouts[name], options.helper), options,
                               store, peers, lambda _addr: self.zfs(self.t, process))
            svc.setup()
            out[name] = svc
        return out


_VOLATILE = re.compile(r"_time_\d{8}T\d+")
#: the export's fsid is a number the exporter hands out per export (volatile, like a guid)
_FSID = re.compile(r"'fsid': '\d+'")
_PROPS = ("quota", "readonly", "sharenfs", "compression")


def _norm(text: str) -> str:
    return _VOLATILE.sub("_time_*", text)


def signature(world: World) -> list[Any]:
    """The state that must match: every host's datasets and snapshots (kind, mounted, bytes referenced, holds,
    partial receive, quota/readonly/sharenfs/compression, user properties), NFS exports, and the store."""
    out: list[Any] = []
    for host in world.hosts:
        for name, ds in host.datasets.items():
            props = tuple(sorted((k, _norm(v)) for k, v in ds.props.items() if ":" in k or k in _PROPS))
            out.append((host.name, _norm(name), *dataset_state(host, ds), props))
        out.extend((host.name, "export", e.path, e.client, _norm(_FSID.sub("fsid=*", str(getattr(e, "options", "")))))
                   for e in host.exports.entries())
    out.extend(("store", k, tuple(sorted((kk, _norm(v)) for kk, v in d.items())))
               for k, d in world.store.data.items())
    return sorted(out, key=repr)


Services = dict[str, ShareService]


@dataclass
class Scenario:
    """One operation: ``prepare`` the world with clean services, then ``call`` it; ``shares`` are what manila
    would pass to ``ensure_shares`` on each backend after a restart."""

    name: str
    prepare: Callable[[World, Services], None]
    call: Callable[[Services], Any]
    shares: dict[str, list[ShareRef]] = field(default_factory=dict)


@dataclass
class Outcome:
    """What became of one kill point."""

    operation: str
    flavour: str
    after: int
    command: str
    outcome: str
    detail: str = ""


def _quiet_threads() -> Any:
    """A dead process's threads die too: don't print their ``Killed``."""
    old = threading.excepthook

    def hook(args: Any) -> None:
        if not isinstance(args.exc_value, Killed):
            old(args)
    return hook, old


def _call(scenario: Scenario, svcs: Services) -> None:
    scenario.call(svcs)
    for svc in svcs.values():  # a migration copies in a thread: the call is over when the copy is
        for job in list(svc._migrations.values()):
            if job.thread is not None:
                job.thread.join()


def clean(scenario: Scenario, flavour: str) -> tuple[list[Any], list[tuple[str, ...]]]:
    """The end state of one uninterrupted call, and the commands it ran."""
    world = World(flavour)
    scenario.prepare(world, world.services())
    process = KillSwitch()
    svcs = world.services(process)
    process.log.clear()
    _call(scenario, svcs)
    return signature(world), process.log


def run_point(scenario: Scenario, flavour: str, k: int, expected: list[Any], command: str) -> Outcome:
    """Kill ``scenario``'s call after ``k`` commands, restart, ensure, retry; classify the outcome."""
    world = World(flavour)
    scenario.prepare(world, world.services())
    process = KillSwitch()
    svcs = world.services(process)
    process.log.clear()
    process.allow = k
    hook, old = _quiet_threads()
    threading.excepthook = hook
    try:
        with contextlib.suppress(Killed):
            _call(scenario, svcs)
    finally:
        threading.excepthook = old
    assert process.dead, "the operation finished before its kill point"
    fresh = world.services()  # manila-share restarts
    reports: list[str] = []
    for backend, shares in scenario.shares.items():
        for sid, state in fresh[backend].ensure_shares(shares).items():
            if state.status == ERROR:
                reports.append(f"ensure_shares: {sid} error")
    error = ""
    try:
        _call(scenario, fresh)
    except (ShareError, ZFSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    got = signature(world)
    if got == expected and not error:
        outcome = "converged"
    elif error or reports:
        outcome = "reported"
    else:
        outcome = "lost"
    diff = ""
    if got != expected:
        have, want = Counter(map(repr, got)), Counter(map(repr, expected))
        extra, missing = sorted((have - want).elements()), sorted((want - have).elements())
        diff = f"extra={extra} missing={missing}"
    return Outcome(scenario.name, flavour, k, command, outcome, " | ".join(x for x in [*reports, error, diff] if x))
