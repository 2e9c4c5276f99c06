"""The share-service crash matrix on a real host (zfs-fuse): in-process kills and real SIGKILLs.

A sample of :mod:`tests.crash_service` on real pools: each kill point gets its own fresh root dataset
``<pool>/crash<n>`` (the backend's ``zfs_zpool_list`` entry), so points never see each other's leftovers.
The store is a JSON file (private storage that outlives the process). The state compared is every dataset and
snapshot under the root (type, quota, readonly, sharenfs, mounted, ``com.pyzfsnas:remount``) with the root's
name replaced by ``ROOT``, the files of every mounted filesystem (path, size, SHA-256), and the store.

Run as ``python -m tests.crash_real ROOT POOL OPERATION K STORE``, it is the *child* of the SIGKILL variant: it
runs the operation with a :class:`LocalExecutor` and sends itself SIGKILL just before step ``K`` (a host
command or a store write) — a real, unannounced death of a real process.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from pyzfsnas import ZFS
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.flavour import FUSE
from pyzfsnas.shares import MemoryStore, Options, ShareRef, ShareService, Site, SnapshotRef, layout_from_options
from pyzfsnas.testing import KillSwitch, RecordingExecutor
from tests.crash import ProcessStore

MiB = 1 << 20


def sigkill_self() -> None:
    """A real, unannounced death of this process (a :class:`KillSwitch`'s ``death`` in the child)."""
    os.kill(os.getpid(), signal.SIGKILL)


class FileStore(MemoryStore):
    """A :class:`MemoryStore` kept in a JSON file (private storage that outlives the process): loaded at
    start, saved atomically after each write."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        if path.exists():
            self.data = json.loads(path.read_text())

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        os.replace(tmp, self.path)

    def update(self, entity_id: str, details: dict[str, Any]) -> None:
        super().update(entity_id, details)
        self._save()

    def delete(self, entity_id: str) -> None:
        super().delete(entity_id)
        self._save()


def service(root: str, store: FileStore, steps: KillSwitch | None = None) -> ShareService:
    """A set-up service whose one root is ``root``, over the local zfs-fuse; with ``steps``, its commands and
    its store writes (:class:`tests.crash.ProcessStore`) are steps of that process."""
    opts = {"zfs_zpool_list": [root], "zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2",
            "zfs_dataset_name_prefix": "manila_share_", "zfs_dataset_snapshot_name_prefix": "manila_share_snapshot_",
            "zfs_share_helpers": {"NFS": "zfs-fuse"}}
    options = Options.from_options(opts.get)
    ex: Any = LocalExecutor() if steps is None else RecordingExecutor(LocalExecutor(), kill_switch=steps)
    svc = ShareService(Site("A", ZFS(ex, flavour=FUSE), layout_from_options(opts.get), options.helper), options,
                       store if steps is None else ProcessStore(store, steps))
    svc.setup()
    return svc


def refs(pool: str) -> tuple[ShareRef, ShareRef, SnapshotRef]:
    s1 = ShareRef("s1", "A", pool, 1)
    return s1, ShareRef("s2", "A", pool, 2), SnapshotRef("si1", "sn1", s1, size=1)


def _write(svc: ShareService, share: ShareRef, name: str, size: int) -> None:
    mp = svc.site.zfs.get(svc.dataset(share), "mountpoint").raw("mountpoint") or ""
    Path(mp, name).write_bytes((name.encode() * (size // len(name) + 1))[:size])  # the same on every root


def prepare(op: str, svc: ShareService, pool: str) -> None:
    """The state the operation starts from (made by a clean service)."""
    s1, _s2, snap = refs(pool)
    if op == "create share":
        return
    svc.create_share(s1)
    _write(svc, s1, "a.bin", MiB + 17)
    if op in ("delete share", "delete snapshot", "share from snapshot"):
        svc.create_snapshot(snap)
        _write(svc, s1, "b.bin", 4096)


def call(op: str, svc: ShareService, pool: str) -> None:
    """The operation itself."""
    s1, s2, snap = refs(pool)
    if op == "create share":
        svc.create_share(s1)
    elif op == "delete share":
        svc.delete_share(s1)
    elif op == "extend":
        svc.resize(s1, 3)
    elif op == "create snapshot":
        svc.create_snapshot(snap)
    elif op == "delete snapshot":
        svc.delete_snapshot(snap)
    elif op == "share from snapshot":
        svc.create_share_from_snapshot(s2, snap)
    else:
        raise ValueError(op)


OPERATIONS = ["create share", "delete share", "extend", "create snapshot", "delete snapshot", "share from snapshot"]


def zfs_tool() -> str:
    from tests.realhosts.zfsfuse import find_tool

    return find_tool("zfs")


def signature(root: str, store: FileStore) -> list[Any]:
    """What must match (see the module docstring), the root's own name replaced by ``ROOT``."""
    # zfs-fuse's get has no -t; its -r covers snapshots too
    got = subprocess.run([zfs_tool(), "get", "-H", "-p", "-o", "name,property,value", "-r",
                          "type,quota,readonly,sharenfs,mounted,mountpoint,com.pyzfsnas:remount", root],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    rows: dict[str, dict[str, str]] = {}
    for line in got.splitlines():
        name, prop, value = line.split("\t")
        rows.setdefault(name, {})[prop] = value
    out: list[Any] = []
    for name, props in rows.items():
        if name == root:
            continue
        rel = "ROOT" + name[len(root):]
        files: list[tuple[str, int, str]] = []
        if props.get("type") == "filesystem" and props.get("mounted") == "yes":
            base = Path(props["mountpoint"])
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    files.append((str(path.relative_to(base)), path.stat().st_size,
                                  hashlib.sha256(path.read_bytes()).hexdigest()))
        out.append((rel, tuple(sorted((k, v) for k, v in props.items() if k != "mountpoint")), tuple(files)))
    out.extend(("store", k, tuple(sorted((kk, vv.replace(root, "ROOT")) for kk, vv in v.items())))
               for k, v in sorted(store.data.items()))
    return sorted(out, key=repr)


def main(argv: list[str]) -> None:
    """Child: run ``OPERATION`` on ``ROOT`` and SIGKILL this process just before step ``K``."""
    root, pool, op, k, store_path = argv
    steps = KillSwitch(death=sigkill_self)
    svc = service(root, FileStore(Path(store_path)), steps)
    steps.allow = int(k)
    call(op, svc, pool)
    print(json.dumps(steps.log))  # reached only when K is past the last step


if __name__ == "__main__":
    main(sys.argv[1:])
