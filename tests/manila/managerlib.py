"""Manila's own ``ShareManager`` driving our driver, with manila's sqlite test database.

:func:`manila_env` sets up what ``manila.test.TestCase`` sets up (config defaults, the sqlite database built from
manila's models, fake RPC and notifier, lock directories) and tears it down afterwards. :class:`Cloud` builds
one ``ShareManager`` per backend (``share_driver = pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver``), creates
database rows with ``manila.tests.db_utils`` and calls the manager's own RPC-side methods, then reads back what the
manager wrote. The manager, not the test, interprets the driver's return values.

Host kinds (:data:`MANAGER_HOSTS`): each gives two roots (one per backend) and the executors reaching them:
the fake host (both flavours), real zfs-fuse, and real OpenZFS 2.x in the QEMU guest (pools ``tank`` and
``backup``, one SSH session). Another kind is one more builder in :data:`BUILDERS` and its markers in
:data:`MARKS`.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from manila.share import configuration as manila_configuration
from manila.share import driver as manila_driver
from manila.share import manager as share_manager
from manila.tests import db_utils
from oslo_config import cfg

from manila import context as manila_context
from manila import db
from manila import test as manila_test
from pyzfsnas import ZFS, Executor, LocalExecutor
from pyzfsnas.manila_glue import options

DRIVER_PATH = "pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver"
GIB = 1 << 30
_counter = itertools.count(1)


class _ManilaTest(manila_test.TestCase):  # type: ignore[misc]
    """Only to borrow manila's test environment set-up and tear-down."""

    def runTest(self) -> None:  # pragma: no cover - never run
        pass


@contextlib.contextmanager
def manila_env() -> Iterator[None]:
    """Manila's unit-test environment (sqlite database, fake RPC) for the duration of the block."""
    env = _ManilaTest()
    env.setUp()
    try:
        yield
    finally:
        env.tearDown()
        env.doCleanups()


@dataclass
class Pools:
    """Backend A's and backend B's root datasets on some host kind, and how to reach and write into them.

    A root is a zpool or a dataset in one (``zfs_zpool_list`` accepts both); the two may share a zpool (a
    single-pool guest: ``tank/mgra`` and ``tank/mgrb``), as two backends may.
    """

    kind: str
    a: str
    b: str
    #: service address -> executor; each backend's own host and its peers are reached through this
    executors: dict[str, Executor]
    write: Callable[[str, int], None]
    #: whether clients can write into a dataset (zfs-fuse reports ``readonly`` as "off temporary" on a
    #: read-only mount, so real hosts are probed by writing)
    read_only: Callable[[str], bool]
    #: the content of a dataset in a comparable form (real hosts: every file's bytes; fake: referenced bytes)
    content: Callable[[str], object]
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def is_real(self) -> bool:
        return not self.kind.startswith("fake")

    def zfs(self, address: str = "10.0.1.2") -> ZFS:
        return ZFS(self.executors[address])


def _fake(flavour: str, request: pytest.FixtureRequest) -> Pools:
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    ha, hb = FakeHost(flavour, name="ha"), FakeHost(flavour, name="hb")  # type: ignore[arg-type]
    ha.create_pool("mgra", size=8 * GIB)
    hb.create_pool("mgrb", size=8 * GIB)

    def write(dataset: str, nbytes: int) -> None:
        (ha if dataset.startswith("mgra") else hb).write(dataset, nbytes)

    executors: dict[str, Executor] = {"10.0.1.2": FakeExecutor(ha), "10.0.2.2": FakeExecutor(hb)}

    def read_only(dataset: str) -> bool:
        zfs = ZFS(executors["10.0.1.2" if dataset.startswith("mgra") else "10.0.2.2"])
        return zfs.get(dataset, "readonly").value("readonly") is True

    def content(dataset: str) -> object:
        zfs = ZFS(executors["10.0.1.2" if dataset.startswith("mgra") else "10.0.2.2"])
        return zfs.get(dataset, "referenced").value("referenced")

    return Pools(f"fake-{flavour}", "mgra", "mgrb", executors, write, read_only, content)


def _zfsfuse(request: pytest.FixtureRequest) -> Pools:
    import os
    import subprocess

    zf = request.getfixturevalue("zfsfuse")
    pa, pb = zf.create_pool("mgr"), zf.create_pool("mgr")
    local = LocalExecutor()

    def write(dataset: str, nbytes: int) -> None:
        mountpoint = ZFS(local).dataset(dataset).mountpoint
        assert mountpoint
        with open(Path(mountpoint) / f"data{next(_counter)}", "wb") as f:
            f.write(os.urandom(nbytes))
            f.flush()
            os.fsync(f.fileno())
        subprocess.run(["zfs", "inherit", "com.pyzfsnas:txg", dataset], check=True, capture_output=True)

    def read_only(dataset: str) -> bool:
        from tests.manila.conftest import writable

        mountpoint = ZFS(local).get(dataset, "mountpoint").raw("mountpoint")
        assert mountpoint
        return not writable(Path(mountpoint))

    def content(dataset: str) -> object:
        mountpoint = ZFS(local).get(dataset, "mountpoint").raw("mountpoint")
        assert mountpoint
        return {p.name: p.read_bytes() for p in sorted(Path(mountpoint).iterdir()) if p.is_file()}

    pools = Pools("zfs-fuse", pa.name, pb.name, {"10.0.1.2": local, "10.0.2.2": local}, write, read_only,
                  content)
    pools.cleanup += [lambda: zf.destroy_pool(pa.name), lambda: zf.destroy_pool(pb.name)]
    return pools


def _openzfs(request: pytest.FixtureRequest) -> Pools:
    """Real OpenZFS 2.x in the QEMU guest: backend A under pool ``tank``, B under ``backup``, one SSH session."""
    guest = request.getfixturevalue("openzfs")
    tag = uuid.uuid4().hex[:6]
    roots = (f"tank/mgr{tag}", f"backup/mgr{tag}")
    zfs = ZFS(guest.executor)
    for root in roots:
        zfs.create_dataset(root)

    def mountpoint(dataset: str) -> str:
        mp = zfs.get(dataset, "mountpoint").raw("mountpoint")
        assert mp and mp.startswith("/")
        return mp

    def write(dataset: str, nbytes: int) -> None:
        guest.run("sh", "-c", 'head -c "$1" /dev/urandom > "$2" && sync && zpool sync "$3"', "sh", str(nbytes),
                  f"{mountpoint(dataset)}/data{next(_counter)}", dataset.split("/", maxsplit=1)[0])

    def read_only(dataset: str) -> bool:
        probe = guest.run("sh", "-c", 'touch "$1/.probe" && rm -f "$1/.probe"', "sh", mountpoint(dataset),
                          check=False)
        return bool(probe.returncode != 0)

    def content(dataset: str) -> object:
        listing = guest.run("sh", "-c", 'cd "$1" && for f in *; do [ -f "$f" ] && sha256sum "$f"; done; true',
                            "sh", mountpoint(dataset))
        return sorted(str(listing.stdout).splitlines())

    pools = Pools("openzfs", roots[0], roots[1], {"10.0.1.2": guest.executor, "10.0.2.2": guest.executor},
                  write, read_only, content)
    pools.cleanup += [lambda root=root: zfs.destroy(root, recursive=True, recursive_dependents=True)
                      for root in roots]
    return pools


#: Host kind -> builder of its two backends' roots.
BUILDERS: dict[str, Callable[[pytest.FixtureRequest], Pools]] = {
    "fake-openzfs": lambda r: _fake("openzfs", r),
    "fake-zfs-fuse": lambda r: _fake("zfs-fuse", r),
    "zfs-fuse": _zfsfuse,
    "openzfs": _openzfs,
}
#: Markers of the real kinds, applied at collection so that ``-m "not zfsfuse"`` deselects them.
MARKS: dict[str, list[pytest.MarkDecorator]] = {"zfs-fuse": [pytest.mark.zfsfuse],
                                                "openzfs": [pytest.mark.openzfs]}
MANAGER_HOSTS = [pytest.param(kind, marks=MARKS.get(kind, []), id=kind) for kind in BUILDERS]


def configure_backend(group: str, **values: Any) -> None:
    """Register the manager's and driver's options in ``group`` and set ``values``."""
    conf = manila_configuration.Configuration(manila_driver.share_opts, config_group=group)
    conf.append_config_values(options.ZFSONLINUX_OPTS)
    conf.append_config_values(options.PYZFSNAS_OPTS)
    conf.append_config_values(share_manager.share_manager_opts)
    for key, value in values.items():
        cfg.CONF.set_override(key, value, group=group)


class Cloud:
    """Two backends (``A`` on pool ``pools.a``, ``B`` on ``pools.b``), each run by its own ShareManager."""

    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self.ctx = manila_context.get_admin_context()
        tag = uuid.uuid4().hex[:6]
        self.names = {"A": f"mgrA{tag}", "B": f"mgrB{tag}"}
        self.root = {"A": pools.a, "B": pools.b}
        self.pool = {k: root.split("/")[0] for k, root in self.root.items()}
        self.addr = {"A": ("10.0.1.1", "10.0.1.2"), "B": ("10.0.2.1", "10.0.2.2")}
        self.extra: dict[str, dict[str, Any]] = {"A": {}, "B": {}}
        self.managers: dict[str, Any] = {}
        self._services: set[str] = set()
        self.share_type = db_utils.create_share_type(
            name=f"zfs-{tag}",
            extra_specs={"driver_handles_share_servers": "False", "snapshot_support": "True",
                         "create_share_from_snapshot_support": "True", "revert_to_snapshot_support": "True",
                         "replication_type": "readable"})

    # -- backends -----------------------------------------------------------------------------------------

    def host(self, backend: str) -> str:
        return f"hostx@{self.names[backend]}"

    def pool_host(self, backend: str) -> str:
        return f"{self.host(backend)}#{self.pool[backend]}"

    def start(self, backend: str = "A", **values: Any) -> Any:
        """(Re)start backend's manila-share: a new ShareManager, then ``init_host`` (do_setup, ensure)."""
        _export_ip, service_ip = self.addr[backend]
        self.extra[backend].update(values)
        for name in self.names:
            configure_backend(self.names[name], **{
                "share_driver": DRIVER_PATH, "driver_handles_share_servers": False,
                "zfs_zpool_list": [self.root[name]], "zfs_share_export_ip": self.addr[name][0],
                "zfs_service_ip": self.addr[name][1], "share_backend_name": self.names[name],
                "replication_domain": "zfsdomain", "zfs_share_helpers": {"NFS": "auto"},
                "backend_availability_zone": "fake_availability_zone", **self.extra[name]})
        with contextlib.suppress(Exception):  # the service row manila-share's launcher would have made
            db.service_get_by_args(self.ctx, self.host(backend), "manila-share")
            self._services.add(backend)
        if backend not in self._services:
            db.service_create(self.ctx, {"host": self.host(backend), "binary": "manila-share",
                                         "topic": "manila-share", "report_count": 0,
                                         "availability_zone": "fake_availability_zone"})
            self._services.add(backend)
        manager = share_manager.ShareManager(service_name=self.names[backend], host=self.host(backend))
        manager.driver._executor = self.pools.executors[service_ip]
        manager.driver._executor_factory = self.pools.executors.__getitem__
        manager.init_host()
        assert manager.driver.initialized, f"backend {backend} did not initialise"
        self.managers[backend] = manager
        return manager

    def m(self, backend: str = "A") -> Any:
        return self.managers.get(backend) or self.start(backend)

    # -- database reads -----------------------------------------------------------------------------------

    def share(self, share_id: str) -> Any:
        return db.share_get(self.ctx, share_id)

    def instance(self, instance_id: str) -> Any:
        return db.share_instance_get(self.ctx, instance_id, with_share_data=True)

    def paths(self, instance_id: str) -> list[tuple[str, bool]]:
        inst = self.instance(instance_id)
        return sorted((e["path"], bool(e["is_admin_only"])) for e in inst["export_locations"])

    def rule_states(self, instance_id: str) -> dict[str, str]:
        rules = db.share_access_get_all_for_instance(self.ctx, instance_id)
        return {r["access_id"]: r["state"] for r in rules}

    def snapshot(self, snapshot_id: str) -> Any:
        return db.share_snapshot_get(self.ctx, snapshot_id)

    def dataset(self, instance_id: str, backend: str = "A") -> str:
        return f"{self.root[backend]}/manila_share_{instance_id.replace('-', '_')}"

    # -- operations through the manager -------------------------------------------------------------------

    def create_share(self, size: int = 1, backend: str = "A", **kw: Any) -> Any:
        share = db_utils.create_share(host=self.pool_host(backend), size=size, share_proto="NFS",
                                      share_type_id=self.share_type["id"], replication_type="readable", **kw)
        self.m(backend).create_share_instance(self.ctx, share.instance["id"], snapshot_id=kw.get("snapshot_id"))
        return self.share(share["id"])

    def allow(self, share: Any, access_to: str, level: str = "rw", access_type: str = "ip") -> str:
        rule = db_utils.create_access(share_id=share["id"], access_type=access_type, access_to=access_to,
                                      access_level=level)
        self.m(self._backend_of(share)).update_access(self.ctx, share.instance["id"])
        return str(rule["id"])

    def deny(self, share: Any, rule_id: str) -> None:
        db.share_instance_access_update(self.ctx, rule_id, share.instance["id"], {"state": "queued_to_deny"})
        self.m(self._backend_of(share)).update_access(self.ctx, share.instance["id"])

    def create_snapshot(self, share: Any) -> Any:
        share = self.share(share["id"])
        snap = db_utils.create_snapshot(share_id=share["id"], size=share["size"], status="creating")
        self.m(self._backend_of(share)).create_snapshot(self.ctx, share["id"], snap["id"])
        return self.snapshot(snap["id"])

    def _backend_of(self, share: Any) -> str:
        host = share.instance["host"]
        return "A" if host.startswith(self.host("A")) else "B"
