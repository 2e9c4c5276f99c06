"""The state of one fake host: pools, datasets, snapshots, space accounting, mounts and NFS export tables.

Space is modelled with *chunks*: every write creates a chunk (an id and a size) in the pool; a filesystem's live
state and each snapshot are sets of chunk ids. Sharing chunks is what makes snapshots pin deleted data, clones
start with ``used`` 0, and ``zfs send -i`` carry only what changed. Chunk ids are unique across all fake hosts
of the process, so a stream received on another host keeps the same identities (incrementals line up).

The command-line front ends (``zfs_cli``, ``zpool_cli``, ``exportfs_cli``) parse argv and call into this state;
the host itself holds no parsing.
"""

from __future__ import annotations

import errno
import itertools
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from pyzfsnas.testing.fake import props as P
from pyzfsnas.testing.fake.etab import ExportTable
from pyzfsnas.testing.fake.names import name_error

__all__ = ["Dataset", "Fail", "FakeHost", "Flavour", "Pool"]

Flavour = Literal["openzfs", "zfs-fuse"]

_chunk_ids = itertools.count(1)
_chunk_lock = threading.Lock()

#: what an empty filesystem references (metadata), per flavour, as the real tools report it
EMPTY_FS = {"zfs-fuse": 114688, "openzfs": 98304}
#: hidden pool metadata charged to the root dataset's usedbychildren ($MOS, $ORIGIN...)
HIDDEN = 258048
MiB = 1 << 20


def new_chunk_id() -> int:
    """A chunk id unique in this process (shared by every fake host)."""
    with _chunk_lock:
        return next(_chunk_ids)


class Fail(Exception):
    """A command failure: the stderr text, exit status and any stdout the real tool prints before failing."""

    #: What the tool prints on stderr (ends with a newline).
    stderr: str
    #: Its exit status.
    returncode: int
    #: What it prints on stdout before failing.
    stdout: str

    def __init__(self, stderr: str, returncode: int = 1, stdout: str = "") -> None:
        super().__init__(stderr)
        self.stderr = stderr if stderr.endswith("\n") or not stderr else stderr + "\n"
        self.returncode = returncode
        self.stdout = stdout


@dataclass(eq=False)
class Pool:
    """A pool: its vdev files, raw size and pool properties."""

    name: str
    vdevs: list[str]
    raw_size: int
    guid: int
    props: dict[str, str] = field(default_factory=dict)
    #: ``feature@filesystem_limits`` is active: a limit was set, datasets created since count their children
    limits_active: bool = False

    @property
    def size(self) -> int:
        """``zpool list`` SIZE: the vdev minus labels and reserved space (256 MiB → 250M, like zfs-fuse)."""
        return max(self.raw_size - 6 * MiB, 32 * MiB) // MiB * MiB

    @property
    def fs_space(self) -> int:
        """Bytes the datasets can use (used + available of the root): SIZE minus the slop reserve."""
        return self.size - max(self.size // 32, min(32 * MiB, self.size // 2))


@dataclass(eq=False)
class Dataset:
    """A filesystem, volume or snapshot. ``data`` is the set of chunk ids it references."""

    name: str
    kind: str
    guid: int
    createtxg: int
    creation: int
    objsetid: int
    data: set[int] = field(default_factory=set)
    props: dict[str, str] = field(default_factory=dict)
    received: dict[str, str] = field(default_factory=dict)
    origin: str | None = None
    mounted: bool = False
    fresh: bool = False
    holds: dict[str, int] = field(default_factory=dict)
    defer_destroy: bool = False
    fsid: int | None = None
    shared: list[str] = field(default_factory=list)
    #: filesystem_count/snapshot_count are tracked (OpenZFS: since a limit was set on it or an ancestor)
    counted: bool = False
    #: when a snapshot of it was last created, destroyed or renamed (OpenZFS ``snapshots_changed``)
    snapshots_changed: int | None = None
    #: state ``zfs receive -s`` saved when its stream broke off (see ``testing/fake/stream.py``): the
    #: stream entry, the resume offset and the token; ``hidden`` when it lives in the ``%recv`` child of an
    #: existing dataset, else this dataset is itself the inconsistent, partially received new filesystem.
    partial: dict[str, object] | None = None

    @property
    def fs(self) -> str:
        """The filesystem part of the name (the dataset a snapshot belongs to)."""
        return self.name.split("@", 1)[0]

    @property
    def parent(self) -> str | None:
        """The parent dataset name (for a snapshot: its filesystem)."""
        if "@" in self.name:
            return self.fs
        return self.name.rsplit("/", 1)[0] if "/" in self.name else None


def sort_key(name: str, createtxg: int) -> tuple[str, int, int]:
    """``zfs list`` default order: by dataset name (strcmp), a dataset before its snapshots, snapshots by txg."""
    fs, _, snap = name.partition("@")
    return (fs, 1 if snap else 0, createtxg)


class FakeHost:
    """One in-memory ZFS + exportfs host. Thread-safe through :attr:`lock` (executors hold it per command)."""

    #: The host's name (on a :class:`FakeNetwork`, what ``ssh NAME`` reaches).
    name: str
    #: Held while a command runs; hold it to inspect or change the state from another thread.
    lock: threading.RLock

    def __init__(
        self,
        flavour: Flavour = "openzfs",
        *,
        name: str = "fakehost",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if flavour not in ("openzfs", "zfs-fuse"):
            raise ValueError(f"unknown flavour {flavour!r}")
        self.flavour: Flavour = flavour
        self.name = name
        self.lock = threading.RLock()
        self.pools: dict[str, Pool] = {}
        self.datasets: dict[str, Dataset] = {}
        self.chunks: dict[int, int] = {}
        self.chunk_pool: dict[int, str] = {}
        self.exports: ExportTable = ExportTable()
        #: directories that exist besides mounted datasets (for ``exportfs`` stat checks)
        self.dirs: set[str] = set()
        #: ``/etc/exports`` entries (path, client, options) that ``exportfs -r`` keeps
        self.etc_exports: list[tuple[str, str, str]] = []
        #: OpenZFS ``/etc/exports.d/zfs.exports``: mountpoint -> list of (client, options)
        self.zfs_exports: dict[str, list[tuple[str, str]]] = {}
        #: plain files (absolute path -> content) for ``cat``/``tee``/``mv``/``rm`` (testing/fake/files.py)
        self.files: dict[str, bytes] = {}
        #: running processes (pid -> name) that ``kill`` can signal; see :meth:`add_process`
        self.processes: dict[int, str] = {}
        #: every signal ``kill`` delivered, as (pid, name without ``SIG``), oldest first
        self.signals: list[tuple[int, str]] = []
        self._clock = clock
        self._last_creation = 0
        self._txg = 1
        self._objset = 53
        self._fsid = 0
        self._rand = random.Random(name)  # noqa: S311 - guids, not secrets
        self._cache: dict[tuple[str, str], int] = {}
        self._faults: list[tuple[int, str, int, str]] = []
        #: size of the vdev file ``zpool create`` uses (``create_pool(size=)`` sets it per pool)
        self.default_vdev_size: int = 256 * MiB

    # ------------------------------------------------------------------ public helpers
    def create_pool(self, name: str, size: int = 256 * MiB, mountpoint: str | None = None) -> None:
        """Create a pool as ``zpool create [-m MOUNTPOINT] NAME /fake/NAME.img`` would (raises on failure)."""
        vdevs = [f"/var/tmp/fake-vdevs/{name}.img"]
        with self.lock:
            self.check_new_pool(name, vdevs)
            self.new_pool(name, vdevs, size=size, local={} if mountpoint is None else {"mountpoint": mountpoint})

    def check_new_pool(self, name: str, vdevs: list[str]) -> None:
        """Refuse a pool name or vdevs ``zpool create`` refuses, with its text (:class:`Fail`)."""
        prefix = f"Defaulting to 4K blocksize (ashift=12) for '{vdevs[0]}'\n" if self.flavour == "zfs-fuse" else ""
        if name in self.pools:
            for p in self.pools.values():
                if set(p.vdevs) & set(vdevs):
                    raise Fail(f"{prefix}invalid vdev specification\nuse '-f' to override the following errors:\n"
                               f"{vdevs[0]} is part of active pool '{p.name}'")
            raise Fail(f"cannot create '{name}': pool already exists")
        err = name_error(name)
        if err or "/" in name:
            raise Fail(f"cannot create '{name}': {err or 'invalid character in pool name'}")

    def new_pool(self, name: str, vdevs: list[str], *, size: int, local: dict[str, str]) -> None:
        """Add a (checked) pool and its root filesystem with ``local`` properties, mounted where it says."""
        self.pools[name] = Pool(name, list(vdevs), size, self.new_guid())
        root = self.new_dataset(name, "filesystem", props=local)
        root.data = {self.new_base_chunk(name)}
        self.touch()
        self.try_mount(root)
        root.fresh = False

    def try_mount(self, ds: Dataset) -> None:
        """Mount ``ds`` when canmount=on and it has a path mountpoint (zfs-fuse: it is then "freshly mounted")."""
        if self.get_prop(ds, "canmount")[0] == "on" and self.mountpoint_value(ds).startswith("/"):
            ds.mounted = True
            ds.fresh = self.flavour == "zfs-fuse"

    def write(self, dataset: str, nbytes: int) -> None:
        """Simulate writing ``nbytes`` new bytes into a filesystem or volume.

        Raises ``OSError(EDQUOT)`` past a quota/refquota, ``OSError(ENOSPC)`` past the pool's space,
        ``OSError(EROFS)`` on a read-only dataset, ``FileNotFoundError`` for an unknown dataset.
        """
        if nbytes < 0:
            raise ValueError("nbytes must be >= 0")
        with self.lock:
            ds = self._writable(dataset)
            limit, which = self._write_limit(ds)
            if nbytes > limit:
                code = errno.EDQUOT if which == "quota" else errno.ENOSPC
                raise OSError(code, f"{errno.errorcode[code]}: writing {nbytes} bytes into {dataset}")
            if nbytes:
                cid = new_chunk_id()
                self.chunks[cid] = nbytes
                self.chunk_pool[cid] = self.pool_of(ds.name).name
                ds.data.add(cid)
            self.touch()

    def delete(self, dataset: str, nbytes: int) -> None:
        """Simulate deleting ``nbytes`` of a dataset's data (newest first); snapshots keep what they reference."""
        with self.lock:
            ds = self._writable(dataset)
            base = min(ds.data) if ds.data else None
            left = nbytes
            for cid in sorted(ds.data, reverse=True):
                if left <= 0:
                    break
                if cid == base:
                    continue
                size = self.chunks[cid]
                if size <= left:
                    ds.data.discard(cid)
                    left -= size
                else:
                    keep = self._split(cid, size - left)
                    ds.data.discard(cid)
                    ds.data.add(keep)
                    left = 0
            self.touch()

    def mountpoint(self, dataset: str) -> str | None:
        """Where ``dataset`` is mounted, or None when it is not mounted (or unknown)."""
        with self.lock:
            ds = self.datasets.get(dataset)
            if ds is None or not ds.mounted:
                return None
            return self.mountpoint_value(ds)

    def existing_paths(self) -> set[str]:
        """Directories that exist on the host: mounted datasets' mountpoints and declared dirs."""
        out = set(self.dirs)
        for d in self.datasets.values():
            if d.mounted:
                out.add(self.mountpoint_value(d))
        return out

    def export_files(self) -> Iterator[tuple[str, str, str]]:
        """Entries of ``/etc/exports`` then ``/etc/exports.d/zfs.exports`` (what ``exportfs -r`` re-reads)."""
        yield from self.etc_exports
        for path, lines in self.zfs_exports.items():
            for client, opts in lines:
                yield path, client, opts

    def make_dir(self, path: str) -> None:
        """Declare a directory (other than a dataset mountpoint) as existing, for ``exportfs``."""
        with self.lock:
            self.dirs.add(path.rstrip("/") or "/")

    def add_process(self, pid: int, name: str) -> None:
        """Register a running process that ``kill PID`` can signal (recorded in :attr:`signals`)."""
        if pid <= 0:
            raise ValueError("pid must be positive")
        with self.lock:
            self.processes[pid] = name

    def fail_command(self, n: int = 1, *, returncode: int = 1, stderr: str = "injected failure") -> None:
        """Make the ``n``-th command from now (1 = the next one) fail with ``returncode``/``stderr``, no effect.

        A non-empty ``stderr`` gets its trailing newline here, as a tool prints it.
        """
        if stderr and not stderr.endswith("\n"):
            stderr += "\n"
        with self.lock:
            self._faults.append((n, "fail", returncode, stderr))

    def hang_command(self, n: int = 1) -> None:
        """Make the ``n``-th command from now raise ``CommandTimeout`` (as if it hung past its timeout)."""
        with self.lock:
            self._faults.append((n, "hang", 0, ""))

    def next_fault(self) -> tuple[str, int, str] | None:
        """Count one command against the injected faults; return the fault that fires now, if any."""
        fired = None
        left = []
        for n, kind, rc, err in self._faults:
            if n <= 1 and fired is None:
                fired = (kind, rc, err)
            else:
                left.append((max(n - 1, 1), kind, rc, err))
        self._faults = left
        return fired

    # ------------------------------------------------------------------ state helpers
    def touch(self) -> None:
        """Invalidate cached space accounting after a change."""
        self._cache.clear()

    def now(self) -> int:
        """Creation time for a new object: epoch seconds, never going backwards."""
        self._last_creation = max(int(self._clock()), self._last_creation)
        return self._last_creation

    def next_txg(self) -> int:
        """A new transaction group number (orders snapshots)."""
        self._txg += 1
        return self._txg

    def new_guid(self) -> int:
        """A random 64-bit guid (deterministic per host name)."""
        return self._rand.getrandbits(64) | 1

    def next_fsid(self) -> int:
        """The next ``fsid=`` zfs-fuse passes to exportfs."""
        self._fsid += 1
        return self._fsid

    def new_dataset(self, name: str, kind: str, **kw: object) -> Dataset:
        """Create and register a dataset object (no validation)."""
        self._objset += 1
        ds = Dataset(name, kind, self.new_guid(), self.next_txg(), self.now(), self._objset, **kw)  # type: ignore[arg-type]
        if kind == "snapshot" and ds.fs in self.datasets:
            self.datasets[ds.fs].snapshots_changed = ds.creation
        pool = self.pools.get(name.split("/", 1)[0].split("@", 1)[0])
        ds.counted = kind != "snapshot" and pool is not None and pool.limits_active
        self.datasets[name] = ds
        self.touch()
        return ds

    def new_base_chunk(self, pool: str, size: int | None = None) -> int:
        """The metadata chunk every new filesystem references."""
        cid = new_chunk_id()
        self.chunks[cid] = EMPTY_FS[self.flavour] if size is None else size
        self.chunk_pool[cid] = pool
        return cid

    def add_chunk(self, cid: int, size: int, pool: str) -> None:
        """Register a chunk that arrived in a stream (same id as on the sending host)."""
        self.chunks.setdefault(cid, size)
        self.chunk_pool.setdefault(cid, pool)

    def _split(self, cid: int, keep: int) -> int:
        """Split chunk ``cid`` in two (``keep`` bytes + the rest) everywhere it is referenced; return the kept id."""
        size = self.chunks[cid]
        a, b = new_chunk_id(), new_chunk_id()
        self.chunks[a] = keep
        self.chunks[b] = size - keep
        pool = self.chunk_pool[cid]
        self.chunk_pool[a] = self.chunk_pool[b] = pool
        for ds in self.datasets.values():
            if cid in ds.data:
                ds.data.discard(cid)
                ds.data.update((a, b))
        return a

    def _writable(self, name: str) -> Dataset:
        ds = self.datasets.get(name)
        if ds is None or ds.kind == "snapshot":
            raise FileNotFoundError(errno.ENOENT, f"no such filesystem: {name}")
        if self.get_prop(ds, "readonly")[0] == "on":
            raise OSError(errno.EROFS, f"read-only file system: {name}")
        return ds

    def _write_limit(self, ds: Dataset) -> tuple[int, str]:
        pool = self.pool_of(ds.name)
        limit = pool.fs_space - self.used(self.datasets[pool.name])
        which = "pool"
        quota = self.limit_by_quota(ds)
        if quota is not None and quota < limit:
            limit, which = quota, "quota"
        return max(limit, 0), which

    def pool_of(self, name: str) -> Pool:
        """The pool holding dataset ``name``."""
        return self.pools[name.split("/", 1)[0].split("@", 1)[0]]

    def snapshots_of(self, fs: str) -> list[Dataset]:
        """Snapshots of filesystem ``fs``, oldest first."""
        prefix = fs + "@"
        return sorted((d for n, d in self.datasets.items() if n.startswith(prefix)), key=lambda d: d.createtxg)

    def children_of(self, name: str) -> list[Dataset]:
        """Direct filesystem/volume children of ``name``, sorted by name."""
        prefix = name + "/"
        return sorted(
            (d for n, d in self.datasets.items()
             if n.startswith(prefix) and "/" not in n[len(prefix):] and d.kind != "snapshot"),
            key=lambda d: d.name,
        )

    def descendants(self, name: str, *, snapshots: bool = True) -> list[Dataset]:
        """Every dataset under ``name`` (not itself), in ``zfs list`` order."""
        out = [
            d for n, d in self.datasets.items()
            if (n.startswith(name + "/") or (snapshots and n.startswith(name + "@")))
            and (snapshots or d.kind != "snapshot")
        ]
        return sorted(out, key=lambda d: sort_key(d.name, d.createtxg))

    def clones_of(self, snap: str) -> list[Dataset]:
        """Datasets whose origin is snapshot ``snap``."""
        return sorted((d for d in self.datasets.values() if d.origin == snap), key=lambda d: d.name)

    # ------------------------------------------------------------------ space accounting
    def _memo(self, key: tuple[str, str], fn: Callable[[], int]) -> int:
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def _size(self, ids: Iterable[int]) -> int:
        return sum(self.chunks[c] for c in ids)

    def _foreign(self, ds: Dataset) -> set[int]:
        """Chunks a clone shares with its origin snapshot (charged to the origin's dataset)."""
        if ds.origin and ds.origin in self.datasets:
            return self.datasets[ds.origin].data
        return set()

    def referenced(self, ds: Dataset) -> int:
        """``referenced``: all data the dataset or snapshot can see."""
        return self._memo((ds.name, "referenced"), lambda: self._size(ds.data))

    def usedbydataset(self, ds: Dataset) -> int:
        """Live data of the head, shared with its own snapshots or not; data shared with an origin is the origin's."""
        def calc() -> int:
            return self._size(ds.data - self._foreign(ds))
        return self._memo((ds.name, "usedbydataset"), calc)

    def usedbysnapshots(self, ds: Dataset) -> int:
        """Data only snapshots still reference."""
        def calc() -> int:
            pinned: set[int] = set().union(*(s.data for s in self.snapshots_of(ds.name)))
            return self._size(pinned - ds.data - self._foreign(ds))
        return self._memo((ds.name, "usedbysnapshots"), calc)

    def snapshot_used(self, snap: Dataset) -> int:
        """A snapshot's ``used``: data referenced by it alone."""
        def calc() -> int:
            fs = self.datasets.get(snap.fs)
            if fs is None:
                return 0
            others: set[int] = set().union(*(s.data for s in self.snapshots_of(fs.name) if s is not snap))
            return self._size(snap.data - others - fs.data - self._foreign(fs))
        return self._memo((snap.name, "used"), calc)

    def usedbychildren(self, ds: Dataset) -> int:
        """Space used by descendants (each counts at least its ``reservation``)."""
        def calc() -> int:
            total = HIDDEN if "/" not in ds.name else 0
            for child in self.children_of(ds.name):
                total += max(self.used(child), int(child.props.get("reservation", "0")))
            return total
        return self._memo((ds.name, "usedbychildren"), calc)

    def usedbyrefreservation(self, ds: Dataset) -> int:
        """Unused part of ``refreservation``."""
        refres = int(self.get_prop(ds, "refreservation")[0] or 0)
        return max(0, refres - self.usedbydataset(ds))

    def used(self, ds: Dataset) -> int:
        """``used`` = usedbydataset + usedbysnapshots + usedbychildren + usedbyrefreservation."""
        if ds.kind == "snapshot":
            return self.snapshot_used(ds)
        return self._memo((ds.name, "used"), lambda: (
            self.usedbydataset(ds) + self.usedbysnapshots(ds) + self.usedbychildren(ds)
            + self.usedbyrefreservation(ds)
        ))

    def limit_by_quota(self, ds: Dataset) -> int | None:
        """Bytes ``ds`` may still grow by under quotas/refquota of itself and its ancestors (None: no quota)."""
        best: int | None = None
        refquota = int(ds.props.get("refquota", ds.received.get("refquota", "0")))
        if refquota:
            best = refquota - self.referenced(ds)
        name: str | None = ds.name
        while name is not None:
            node = self.datasets[name]
            quota = int(node.props.get("quota", node.received.get("quota", "0")))
            if quota:
                room = quota - self.used(node)
                best = room if best is None else min(best, room)
            name = node.parent
        return None if best is None else max(best, 0)

    def available(self, ds: Dataset) -> int:
        """``available``: pool free space, reduced by quotas/refquota of the dataset and its ancestors."""
        def calc() -> int:
            pool = self.pool_of(ds.name)
            free = pool.fs_space - self.used(self.datasets[pool.name])
            # a reservation's unused part is available to the dataset holding it
            free += max(0, int(ds.props.get("reservation", "0")) - self.used(ds))
            quota = self.limit_by_quota(ds)
            return max(0, free if quota is None else min(free, quota))
        return self._memo((ds.name, "available"), calc)

    def written(self, ds: Dataset) -> int:
        """``written``: data written since the previous snapshot."""
        if ds.kind == "snapshot":
            snaps = self.snapshots_of(ds.fs)
            i = snaps.index(ds)
            prev = snaps[i - 1].data if i else set()
            return self._size(ds.data - prev)
        snaps = self.snapshots_of(ds.name)
        return self._size(ds.data - snaps[-1].data) if snaps else self.referenced(ds)

    def pool_allocated(self, pool: Pool) -> int:
        """``zpool list`` ALLOC: distinct chunks of the pool plus metadata."""
        ids = {c for c, p in self.chunk_pool.items() if p == pool.name and self._referenced_anywhere(c)}
        return self._size(ids) + HIDDEN + 196608

    def _referenced_anywhere(self, cid: int) -> bool:
        return any(cid in d.data for d in self.datasets.values())

    def gc_chunks(self) -> None:
        """Forget chunks no dataset references (after destroy/rollback)."""
        live: set[int] = set().union(*(d.data for d in self.datasets.values())) if self.datasets else set()
        for cid in [c for c in self.chunks if c not in live]:
            del self.chunks[cid]
            self.chunk_pool.pop(cid, None)
        self.touch()

    # ------------------------------------------------------------------ properties
    def mountpoint_value(self, ds: Dataset) -> str:
        """The effective ``mountpoint`` value (inherited paths get the relative name appended)."""
        return self._mountpoint(ds)[0]

    def _mountpoint(self, ds: Dataset) -> tuple[str, str]:
        name: str | None = ds.name
        while name is not None:
            node = self.datasets[name]
            for src, table in (("local", node.props), ("received", node.received)):
                if "mountpoint" in table:
                    value = table["mountpoint"]
                    if node is ds:
                        return value, src
                    if value in ("none", "legacy"):
                        return value, f"inherited from {node.name}"
                    rel = ds.name[len(node.name):]
                    return (value.rstrip("/") + rel) if value != "/" else rel, f"inherited from {node.name}"
            name = node.parent
        return "/" + ds.name, "default"

    def get_prop(self, ds: Dataset, name: str) -> tuple[str, str]:
        """(parsable value, source) of property ``name`` on ``ds``; ``("-", "-")`` when it does not apply."""
        fl = self.flavour
        kind = ds.kind
        snap = kind == "snapshot"
        if ":" in name:
            return self._user_prop(ds, name)
        prop = P.lookup(name, fl)
        if prop is None:
            return "-", "-"
        name = prop.name
        computed = self._computed(ds, name)
        if computed is not None:
            return computed
        if not P.applies(name, kind, fl):
            return "-", "-"
        if name == "mountpoint":
            return self._mountpoint(ds)
        # snapshots see their filesystem's inheritable values
        start: Dataset | None = ds
        if snap:
            if not prop.inherit:
                return prop.default, "default"
            start = self.datasets.get(ds.fs)
        node = start
        while node is not None:
            for src, table in (("local", node.props), ("received", node.received)):
                if name in table:
                    if node is ds:
                        return table[name], src
                    return table[name], f"inherited from {node.name}"
            if not prop.inherit:
                break
            node = self.datasets.get(node.parent) if node.parent else None
        if prop.setonce or name == "version":
            return prop.default, "-"
        return prop.default, "default"

    def _user_prop(self, ds: Dataset, name: str) -> tuple[str, str]:
        node: Dataset | None = ds
        while node is not None:
            for src, table in (("local", node.props), ("received", node.received)):
                if name in table:
                    return (table[name], src) if node is ds else (table[name], f"inherited from {node.name}")
            node = self.datasets.get(node.parent) if node.parent else None
        return "-", "-"

    def _computed(self, ds: Dataset, name: str) -> tuple[str, str] | None:
        snap = ds.kind == "snapshot"
        fuse = self.flavour == "zfs-fuse"
        value: str | None
        if name == "type":
            value = ds.kind
        elif name == "creation":
            value = str(ds.creation)
        elif name == "used":
            value = str(self.used(ds))
        elif name == "available":
            value = "-" if snap else str(self.available(ds))
        elif name in ("referenced", "logicalreferenced"):
            value = str(self.referenced(ds))
        elif name == "logicalused":
            value = "-" if snap else str(self.used(ds))
        elif name in ("compressratio", "refcompressratio"):
            value = "1.00x"
        elif name == "mounted":
            value = "-" if snap or ds.kind == "volume" else ("yes" if ds.mounted else "no")
        elif name == "origin":
            value = ds.origin or "-"
        elif name.startswith("usedby"):
            if snap:
                value = "-"
            else:
                value = str({"usedbydataset": self.usedbydataset, "usedbysnapshots": self.usedbysnapshots,
                             "usedbychildren": self.usedbychildren,
                             "usedbyrefreservation": self.usedbyrefreservation}[name](ds))
        elif name == "userrefs":
            value = str(len(ds.holds)) if snap else "-"
        elif name == "defer_destroy":
            value = ("on" if ds.defer_destroy else "off") if snap else "-"
        elif name == "guid":
            value = str(ds.guid)
        elif name == "snapshots_changed":
            value = str(ds.snapshots_changed) if ds.snapshots_changed is not None and not snap else "-"
        elif name == "createtxg":
            value = str(ds.createtxg)
        elif name == "objsetid":
            value = str(ds.objsetid)
        elif name == "written":
            value = str(self.written(ds))
        elif name == "clones":
            value = ",".join(c.name for c in self.clones_of(ds.name)) if snap else "-"
        elif name == "version":
            value = "-" if ds.kind == "volume" else ("4" if fuse else "5")
        elif name in ("utf8only", "normalization", "casesensitivity"):
            if ds.kind == "volume":
                return "-", "-"
            node = self.datasets.get(ds.fs)
            value = (node.props.get(name) if node else None) or P.PROPS[name].default
        elif name == "mlslabel" and fuse:
            value = "0" if snap else "off"
        elif name == "receive_resume_token":
            value = str(ds.partial["token"]) if ds.partial is not None else "-"
        elif name in ("encryptionroot", "keystatus"):
            value = "-"
        elif name in ("encryption", "keyformat", "keylocation", "pbkdf2iters"):
            return P.PROPS[name].default, "default" if not snap or not fuse else "-"
        elif name in ("filesystem_count", "snapshot_count"):
            if not ds.counted:
                return "none", "default"
            below = self.descendants(ds.name)
            if name == "filesystem_count":
                return str(sum(d.kind != "snapshot" for d in below)), "local"
            return str(sum(d.kind == "snapshot" for d in below)), "local"
        elif name == "volsize" and ds.kind == "volume":
            return ds.props.get("volsize", "0"), "local"
        elif name == "volblocksize" and ds.kind == "volume":
            return ds.props.get("volblocksize", "16384"), "default" if "volblocksize" not in ds.props else "-"
        else:
            return None
        return value, "-"
