"""The share service: NFS shares on ZFS datasets, for any front end (Manila today, a CSI driver tomorrow).

:class:`ShareService` owns one backend's :class:`~pyzfsnas.shares.site.Site` and reaches other backends'
sites (replication, migration) through a factory. Callers describe shares, snapshots, rules and replicas
with the small values below, never with a front end's dicts; every dataset and snapshot name comes from a
:class:`~pyzfsnas.shares.layout.Layout`. Errors are :mod:`pyzfsnas.shares.errors` (or a library
:class:`~pyzfsnas.errors.ZFSError` the host raised unexpectedly).

Round trips are kept low: names are computed (never found by listing a pool), ``quota``/``sharenfs``/
``readonly`` are set with ``-o`` at creation, export locations come from root mountpoints cached at setup,
deletes rely on the typed errors of ``destroy`` instead of reading first, and ``ensure_shares`` reads every
share with one ``zfs get``. Mutating calls hold a lock per dataset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import attrs

from pyzfsnas import __version__
from pyzfsnas.errors import (
    DatasetExists,
    DatasetNotFound,
    InvalidProperty,
    SizeBelowUsage,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.nfs import AccessRule, InvalidAccessRule, NFSBackend
from pyzfsnas.properties import PropertyMap, parse_size, validate_property_value
from pyzfsnas.shares.errors import (
    InvalidRequest,
    ManageRefused,
    ReplicationError,
    ShareError,
    ShareNotFound,
    ShrinkWouldLoseData,
    SnapshotManageRefused,
    SnapshotNotFound,
    Unsupported,
)
from pyzfsnas.shares.layout import GIB, ExportLocation, size_gib_ceil, time_tag, whole_gib
from pyzfsnas.shares.site import DatasetLocks, Options, Site
from pyzfsnas.shares.transfer import TransferCancelled, transfer
from pyzfsnas.zfs import ZFS

__all__ = [
    "ACTIVE",
    "AVAILABLE",
    "DELETED",
    "ERROR",
    "IN_SYNC",
    "METADATA_PROPERTIES",
    "OUT_OF_SYNC",
    "SYNCING",
    "MemoryStore",
    "Rule",
    "ShareRef",
    "ShareService",
    "ShareState",
    "SnapshotRef",
    "Store",
]

LOG = logging.getLogger(__name__)

#: Share metadata keys that set ZFS properties (``update_share_from_metadata``); other keys are ignored.
METADATA_PROPERTIES = {
    "zfs:compression": "compression",
    "zfs:atime": "atime",
    "zfs:recordsize": "recordsize",
    "zfs:snapdir": "snapdir",
    "zfs:sync": "sync",
}

# States and statuses, spelled as Manila spells them (plain strings: any front end can use them).
ACTIVE = "active"
IN_SYNC = "in_sync"
OUT_OF_SYNC = "out_of_sync"
AVAILABLE = "available"
ERROR = "error"
DELETED = "deleted"
SYNCING = "syncing"


class Store(Protocol):
    """Per-entity key/value records the service keeps (Manila's private storage fits)."""

    def get(self, entity_id: str, key: str) -> Any: ...

    def update(self, entity_id: str, details: dict[str, Any]) -> None: ...

    def delete(self, entity_id: str) -> None: ...


class MemoryStore:
    """A :class:`Store` in a dict (tests, tools without a database)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}

    def get(self, entity_id: str, key: str) -> Any:
        """The value of ``key`` for ``entity_id``, or None."""
        return self.data.get(entity_id, {}).get(key)

    def update(self, entity_id: str, details: dict[str, Any]) -> None:
        """Merge ``details`` (values kept as text, like Manila's store)."""
        self.data.setdefault(entity_id, {}).update({k: str(v) for k, v in details.items()})

    def delete(self, entity_id: str) -> None:
        """Forget ``entity_id``."""
        self.data.pop(entity_id, None)


@attrs.frozen
class ShareRef:
    """A share instance (or replica): its id, backend and pool, size in GiB and type specs."""

    id: str
    backend: str
    pool: str
    size: Any = 1
    proto: str = "NFS"
    #: Share-type extra specs the service reads: ``dedupe``, ``zfsonlinux:compression``.
    specs: Mapping[str, str] = attrs.field(factory=dict)
    replica_state: str | None = None


@attrs.frozen
class SnapshotRef:
    """A snapshot instance of ``share``: instance id (names the tag), entity id (keys the store)."""

    id: str
    snapshot_id: str
    share: ShareRef
    location: str | None = None
    size: Any = 1
    deleting: bool = False


@attrs.frozen
class Rule:
    """An access rule as a caller gives it (validated by the service, per rule)."""

    id: str
    type: str
    to: str
    level: str


@attrs.frozen
class ShareState:
    """What :meth:`ShareService.ensure_shares` found for one share."""

    status: str
    locations: list[ExportLocation]
    reapply_rules: bool


@attrs.define
class _Migration:
    """A running migration: its background thread, progress and outcome."""

    source_snapshot: str
    dst_dataset: str
    thread: threading.Thread | None = None
    cancel: threading.Event = attrs.field(factory=threading.Event)
    total: int = 0
    sent: int = 0
    done: bool = False
    error: BaseException | None = None
    received_props: bool = False


def _bytes(props: PropertyMap | None, name: str) -> int:
    value = props.value(name) if props is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _truthy(text: str) -> bool | None:
    word = text.strip().lower().split(" ")[-1]
    if word in ("true", "1", "yes", "on", "y", "t"):
        return True
    if word in ("false", "0", "no", "off", "n", "f"):
        return False
    return None


class ShareService:
    """NFS shares of one backend (``site``), with other backends' sites from ``peers(name)``.

    ``connect(address)`` reaches a host by address (the backup target when it is not this host).
    """

    def __init__(
        self,
        site: Site,
        options: Options,
        store: Store | None = None,
        peers: Callable[[str], Site] | None = None,
        connect: Callable[[str], ZFS] | None = None,
    ) -> None:
        self.site = site
        self._connect = connect
        self._backup_zfs: ZFS | None = None
        self.options = options
        self.store: Store = store if store is not None else MemoryStore()
        self._peer_factory = peers
        self._peers: dict[str, Site] = {}
        self._peers_lock = threading.Lock()
        self.locks = DatasetLocks(options.external_locks)
        self._migrations: dict[str, _Migration] = {}
        self.capabilities = self._capabilities()

    # -- setup --------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Read the roots' mountpoints and choose the NFS backend (ConfigError when a root is unusable)."""
        self.site.load_mountpoints()
        self.site.nfs  # noqa: B018 - choose (detect) the NFS backend now, not on the first share

    def _capabilities(self) -> dict[str, Any]:
        opts = self.options.creation_options
        dedup = opts.get("dedup")
        compression = opts.get("compression")
        return {
            "dedupe": [True] if dedup == "on" else [False] if dedup == "off" else [True, False],
            "compression": [False] if compression == "off" else [True] if compression else [True, False],
            "thin_provisioning": [True],
            "max_over_subscription_ratio": self.options.max_over_subscription_ratio,
            "qos": [False],
        }

    def site_of(self, backend: str) -> Site:
        """This backend's site, or another backend's (built once by the peer factory)."""
        if backend == self.site.name:
            return self.site
        with self._peers_lock:
            peer = self._peers.get(backend)
            if peer is None:
                if self._peer_factory is None:
                    raise Unsupported(f"backend {backend!r} is not reachable from {self.site.name!r}")
                peer = self._peer_factory(backend)
                self._peers[backend] = peer
            return peer

    @property
    def peers(self) -> list[Site]:
        """The other backends' sites built so far."""
        return list(self._peers.values())

    # -- names --------------------------------------------------------------------------------------------

    def dataset(self, share: ShareRef, site: Site | None = None) -> str:
        """The dataset of a share instance: recorded when it was made, else computed from the layout."""
        recorded = self.store.get(share.id, "dataset_name")
        if recorded:
            return str(recorded)
        return self._layout_dataset(share, site or self.site_of(share.backend))

    @staticmethod
    def _layout_dataset(share: ShareRef, site: Site) -> str:
        try:
            return site.layout.dataset(share.pool, share.id)
        except ValueError as exc:
            raise Unsupported(str(exc)) from None

    def snapshot_name(self, snapshot: SnapshotRef, site: Site | None = None) -> str:
        """``dataset@tag`` of a snapshot instance: its recorded location, tag, else computed from its id."""
        if snapshot.location and "@" in snapshot.location:
            return snapshot.location
        site = site or self.site_of(snapshot.share.backend)
        dataset = self.dataset(snapshot.share, site)
        tag = self.store.get(snapshot.snapshot_id, "snapshot_tag") or site.layout.snapshot_tag(snapshot.id)
        return site.layout.snapshot(dataset, str(tag))

    def _record_share(self, share_id: str, dataset: str, **extra: Any) -> None:
        self.store.update(share_id, {"entity_type": "share", "dataset_name": dataset,
                                     "pool_name": dataset.split("/", maxsplit=1)[0], **extra})

    # -- properties and rules -----------------------------------------------------------------------------

    def properties(self, share: ShareRef, *, readonly: bool = False) -> dict[str, object]:
        """Properties of a share's dataset: creation options, type specs, then what the service owns."""
        props: dict[str, object] = dict(self.options.creation_options)
        caps = self.capabilities
        dedupe = share.specs.get("dedupe")
        if dedupe:
            wanted = _truthy(str(dedupe))
            if wanted is None or wanted not in caps["dedupe"]:
                raise ShareError(f"extra spec dedupe={dedupe!r} does not fit this backend's {caps['dedupe']}")
            props["dedup"] = "on" if wanted else "off"
        compression = share.specs.get("zfsonlinux:compression")
        if compression:
            allowed = caps["compression"]
            if (compression == "off" and False not in allowed) or (compression != "off" and True not in allowed):
                raise ShareError(
                    f"extra spec zfsonlinux:compression={compression!r} is not allowed: compression is "
                    f"{'required' if True in allowed else 'disabled'} on this backend")
            props["compression"] = compression
        props["quota"] = whole_gib(share.size) * GIB
        props["readonly"] = "on" if readonly else "off"
        props["sharenfs"] = "off"
        return props

    @staticmethod
    def access_rules(rules: Iterable[Rule], nfs: NFSBackend) -> tuple[list[AccessRule], dict[str, str]]:
        """Valid rules, and ``{rule_id: reason}`` for the rules this host cannot apply."""
        good: list[AccessRule] = []
        errors: dict[str, str] = {}
        for rule in rules:
            reason = None
            if rule.type.lower() != "ip":
                reason = f"access type {rule.type!r} is not supported (only 'ip')"
            else:
                try:
                    parsed = AccessRule.parse(rule.to, rule.level)
                except InvalidAccessRule as exc:
                    reason = str(exc)
                else:
                    if parsed.version == 6 and not nfs.supports_ipv6:
                        reason = f"{nfs.name} NFS cannot export to IPv6 clients"
                    else:
                        good.append(parsed)
            if reason is not None:
                LOG.warning("access rule %s (%s) rejected: %s", rule.id, rule.to, reason)
                errors[rule.id] = reason
        return good, errors

    @staticmethod
    def _discard(site: Site, dataset: str) -> None:
        """Best effort: destroy ``dataset`` (and its snapshots) that the failing operation itself created."""
        try:
            site.zfs.destroy(dataset, recursive=True)
        except ZFSError as exc:
            LOG.warning("could not remove half-made %s: %s", dataset, exc)

    @staticmethod
    def _check_proto(share: ShareRef) -> None:
        proto = (share.proto or "NFS").upper()
        if proto != "NFS":
            raise Unsupported(f"protocol {proto} is not supported (only NFS)")

    # -- shares -------------------------------------------------------------------------------------------

    def create_share(self, share: ShareRef) -> list[ExportLocation]:
        """One ``zfs create -o quota=... -o readonly=off -o sharenfs=off ...``; returns export locations."""
        self._check_proto(share)
        site = self.site
        props = self.properties(share)
        dataset = self._layout_dataset(share, site)
        with self.locks.hold(site.key(dataset)):
            site.zfs.create_dataset(dataset, props)
        self._record_share(share.id, dataset, used_options=" ".join(f"{k}={v}" for k, v in props.items()))
        return site.export_locations(dataset)

    def delete_share(self, share: ShareRef) -> None:
        """``zfs destroy -r`` of exactly the share's dataset (unexported first); absent is not an error."""
        site = self.site
        dataset = self.dataset(share, site)
        with self.locks.hold(site.key(dataset)):
            self._destroy_share_dataset(site, dataset)
        self.store.delete(share.id)

    @staticmethod
    def _destroy_share_dataset(site: Site, dataset: str) -> None:
        if not site.exports_in_property:
            # Exports outside the dataset (exportfs) outlive it: remove them even when it is gone, by the
            # path it was mounted at (computed from its root, no read needed).
            try:
                site.nfs.clear(dataset)
            except DatasetNotFound:
                site.nfs.clear(site.mountpoint(dataset))
        try:
            site.zfs.destroy(dataset, recursive=True)
        except DatasetNotFound:
            LOG.warning("dataset %s is absent on backend %s; nothing to delete", dataset, site.name)

    def ensure_share(self, share: ShareRef) -> list[ExportLocation]:
        """Export locations of an existing share (one ``zfs get``); ShareNotFound when absent."""
        site = self.site
        dataset = self.dataset(share, site)
        try:
            mountpoint = site.zfs.get(dataset, "mountpoint").raw("mountpoint") or ""
        except DatasetNotFound:
            raise ShareNotFound(share.id, dataset) from None
        return site.layout.export_locations(mountpoint)

    def backend_info(self) -> dict[str, str]:
        """What export locations and exports depend on; a front end re-checks every share when it changes.

        The dataset prefix is not part of it: each share's dataset name is recorded when it is made.
        """
        site = self.site
        return {
            "driver": "pyzfsnas", "version": __version__,
            "export_ips": ",".join(site.layout.export_hosts), "service_ip": site.layout.service_ip,
            "zpools": ",".join(sorted(site.layout.roots.values())), "nfs": site.nfs.name,
        }

    def ensure_shares(self, shares: Sequence[ShareRef]) -> dict[str, ShareState]:
        """Check all shares with one ``zfs get -d 1`` over their parents; report locations and status."""
        site = self.site
        names: dict[str, str | None] = {}
        for share in shares:
            try:
                names[share.id] = self.dataset(share, site)
            except ShareError as exc:
                LOG.error("share %s: %s", share.id, exc)
                names[share.id] = None
        parents = sorted({n.rsplit("/", 1)[0] for n in names.values() if n})
        found = site.zfs.get_many(parents, ["type", "mountpoint"], depth=1) if parents else {}
        reapply = not site.exports_in_property
        out: dict[str, ShareState] = {}
        for share_id, dataset in names.items():
            props = found.get(dataset) if dataset else None
            if props is None or props.raw("type") != "filesystem":
                out[share_id] = ShareState(ERROR, [], False)
            else:
                out[share_id] = ShareState(AVAILABLE, site.layout.export_locations(props.raw("mountpoint") or ""),
                                           reapply)
        return out

    def resize(self, share: ShareRef, new_size: Any) -> None:
        """``zfs set quota=<new_size GiB>``; ZFS itself refuses a quota below the space used, atomically.

        That refusal is ShrinkWouldLoseData; nothing is changed.
        """
        quota = whole_gib(new_size, "new share size") * GIB
        site = self.site
        dataset = self.dataset(share, site)
        with self.locks.hold(site.key(dataset)):
            try:
                site.zfs.set(dataset, {"quota": quota})
            except SizeBelowUsage:
                raise ShrinkWouldLoseData(share.id) from None
            except DatasetNotFound:
                raise ShareNotFound(share.id, dataset) from None

    def update_access(self, share: ShareRef, rules: Sequence[Rule]) -> dict[str, str]:
        """Make ``rules`` exactly the exports (bulk, one write); returns ``{rule_id: reason}`` of rejected ones.

        Secondary replicas get every rule read-only.
        """
        site = self.site
        dataset = self.dataset(share, site)
        good, errors = self.access_rules(rules, site.nfs)
        read_only = share.replica_state not in (None, ACTIVE)
        with self.locks.hold(site.key(dataset)):
            try:
                site.nfs.apply(dataset, good, read_only=read_only)
            except DatasetNotFound:
                raise ShareNotFound(share.id, dataset) from None
        return errors

    # -- manage / unmanage --------------------------------------------------------------------------------

    def dataset_from_location(self, path: str) -> str:
        """Dataset named by an export path ``ip:/pool/ds`` (upstream form) or ``ip:<mountpoint>``."""
        rest = path.split(":/", 1)[1] if ":/" in path else path.lstrip("/")
        for root, mp in self.site.mountpoints.items():
            prefix = mp.rstrip("/") + "/"
            if ("/" + rest).startswith(prefix) and root.split("/")[0] != rest.split("/")[0]:
                return f"{root}/{('/' + rest)[len(prefix):]}"
        return rest.rstrip("/")

    def manage(self, share: ShareRef, location: str, size: Any = None) -> tuple[int, list[ExportLocation]]:
        """Rename the dataset at ``location`` to the share's name and set its properties.

        ``size`` (GiB) defaults to the used space rounded up. Every check runs before the rename; if a later
        step fails the dataset gets its name back, so a retry starts from the same state.
        """
        site = self.site
        if size not in (None, ""):
            try:
                size = whole_gib(size, "driver option size")
            except InvalidRequest as exc:
                raise ManageRefused(str(exc)) from None
        old = self.dataset_from_location(location)
        try:
            new = site.layout.dataset(share.pool, share.id)
        except ValueError as exc:
            raise ManageRefused(str(exc)) from None
        roots = set(site.layout.roots.values())
        if old in roots or not any(old.startswith(f"{root}/") for root in roots):
            raise ManageRefused(f"{old} is not a dataset below a configured root ({', '.join(sorted(roots))})")
        if old.split("/")[0] != new.split("/")[0]:
            raise ManageRefused(f"dataset {old} is not in the scheduled pool {new.split('/')[0]}")
        if old.rsplit("/", 1)[0] != new.rsplit("/", 1)[0]:
            raise ManageRefused(f"dataset {old} is not directly below the root {new.rsplit('/', 1)[0]}")
        try:
            used = site.zfs.get(old, "used", "type")
        except ZFSError as exc:
            raise ManageRefused(f"dataset {old} cannot be read: {exc}") from None
        if used.raw("type") != "filesystem":
            raise ManageRefused(f"{old} is a {used.raw('type')}, not a filesystem")
        gib = int(size) if size not in (None, "") else size_gib_ceil(_bytes(used, "used"))
        props = self.properties(attrs.evolve(share, size=gib))
        with self.locks.hold(site.key(old), site.key(new)):
            if old != new:
                site.zfs.rename(old, new)
            try:
                site.zfs.set(new, props)
                locations = site.export_locations(new)
                self._record_share(share.id, new)
            except BaseException as exc:
                # Not managed after all: give the admin's dataset its name back.
                if old != new:
                    try:
                        site.zfs.rename(new, old)
                    except ZFSError as back:
                        LOG.error("manage: could not rename %s back to %s: %s", new, old, back)
                if isinstance(exc, SizeBelowUsage):
                    raise ManageRefused(f"size {gib} GiB is below the space {old} already uses") from None
                raise
        return gib, locations

    def unmanage(self, share: ShareRef) -> None:
        """Forget the share; the dataset stays."""
        self.store.delete(share.id)

    def manage_snapshot(self, snapshot: SnapshotRef, size: Any = None) -> tuple[int, str]:
        """Rename ``snapshot.location`` (``dataset@tag`` of the share's dataset) to the service's tag."""
        site = self.site
        if size not in (None, ""):
            try:
                size = whole_gib(size, "driver option size")
            except InvalidRequest as exc:
                raise SnapshotManageRefused(str(exc)) from None
        old = snapshot.location or ""
        dataset = self.dataset(snapshot.share, site)
        if old.partition("@")[0] != dataset or not old.partition("@")[2]:
            raise SnapshotManageRefused(
                f"provider_location {old!r} is not a snapshot of the share's dataset {dataset}")
        try:
            used = site.zfs.get(old, "used")
        except DatasetNotFound as exc:
            raise SnapshotManageRefused(str(exc)) from None
        gib = int(size) if size not in (None, "") else size_gib_ceil(_bytes(used, "used"))
        tag = site.layout.snapshot_tag(snapshot.id)
        new = site.layout.snapshot(dataset, tag)
        with self.locks.hold(site.key(dataset)):
            if new != old:
                site.zfs.rename(old, new)
        self.store.update(snapshot.snapshot_id, {"entity_type": "snapshot", "snapshot_tag": tag,
                                                 "old_snapshot_tag": old.partition("@")[2]})
        return gib, new

    def unmanage_snapshot(self, snapshot: SnapshotRef) -> None:
        """Forget the snapshot; it stays on the host."""
        self.store.delete(snapshot.snapshot_id)

    # -- snapshots ----------------------------------------------------------------------------------------

    def create_snapshot(self, snapshot: SnapshotRef) -> str:
        """``zfs snapshot dataset@<prefix><snapshot instance id>``; returns its name."""
        site = self.site
        dataset = self.dataset(snapshot.share, site)
        tag = site.layout.snapshot_tag(snapshot.id)
        name = site.layout.snapshot(dataset, tag)
        with self.locks.hold(site.key(dataset)):
            site.zfs.snapshot(name)
        self.store.update(snapshot.snapshot_id, {"entity_type": "snapshot", "snapshot_tag": tag})
        return name

    @property
    def consistent_group_snapshots(self) -> bool:
        """Whether group snapshots are atomic per pool (``zfs snapshot a@x b@x``; not on zfs-fuse)."""
        return self.site.zfs.flavour.multi_snapshot

    def create_group_snapshot(self, group_snapshot_id: str, members: Sequence[SnapshotRef]) -> dict[str, str]:
        """Snapshot every member share with one tag: one atomic ``zfs snapshot a@t b@t ...`` per pool.

        Returns ``{member id: snapshot name}``. Where the host cannot take several snapshots in one command
        (zfs-fuse) each is taken alone and a failure destroys the ones this call made.
        """
        site = self.site
        tag = site.layout.snapshot_tag(group_snapshot_id)
        names = {m.id: site.layout.snapshot(self.dataset(m.share, site), tag) for m in members}
        by_pool: dict[str, list[str]] = {}
        for name in names.values():
            by_pool.setdefault(name.split("/", 1)[0], []).append(name)
        datasets = [n.partition("@")[0] for n in names.values()]
        made: list[str] = []
        with self.locks.hold(*(site.key(d) for d in datasets)):
            try:
                for group in by_pool.values():
                    if self.consistent_group_snapshots:
                        site.zfs.snapshot_many(group)
                        made += group
                    else:
                        for name in group:
                            site.zfs.snapshot(name)
                            made.append(name)
            except ZFSError:
                for name in made:
                    with contextlib.suppress(ZFSError):
                        site.zfs.destroy(name)
                raise
        return names

    def delete_snapshot(self, snapshot: SnapshotRef) -> None:
        """``zfs destroy dataset@tag``; an absent snapshot is not an error."""
        site = self.site
        name = self.snapshot_name(snapshot, site)
        with self.locks.hold(site.key(name.partition("@")[0])):
            try:
                site.zfs.destroy(name)
            except DatasetNotFound:
                LOG.warning("snapshot %s is absent; nothing to delete", name)
        self.store.delete(snapshot.snapshot_id)

    def create_share_from_snapshot(self, share: ShareRef, snapshot: SnapshotRef) -> list[ExportLocation]:
        """Copy the snapshot into an independent dataset (send/receive, from any backend of this kind).

        Not a clone, so the snapshot and its share can be deleted later.
        """
        self._check_proto(share)
        site = self.site
        src = self.site_of(snapshot.share.backend)
        src_name = self.snapshot_name(snapshot, src)
        props = self.properties(share)
        dataset = self._layout_dataset(share, site)
        with self.locks.hold(src.key(src_name.partition("@")[0]), site.key(dataset)):
            transfer(src.zfs, src_name, site.zfs, dataset, properties=props)
            try:
                if not site.zfs.flavour.receive_properties:
                    site.zfs.set(dataset, props)
                site.zfs.destroy(site.layout.snapshot(dataset, src_name.partition("@")[2]))
            except ZFSError:
                # Leave nothing half-made: the dataset is the one this call just received.
                self._discard(site, dataset)
                raise
        self._record_share(share.id, dataset)
        return site.export_locations(dataset)

    def revert_to_snapshot(self, snapshot: SnapshotRef, share_size: Any) -> None:
        """``zfs rollback`` to the share's latest snapshot, and the quota back to ``share_size`` GiB.

        ``share_size`` is the size the snapshot was taken at, which is what the front end records after a
        revert; the quota must say the same. The quota is set first when it grows (so the rolled-back data
        fits) and after the rollback when it shrinks.
        """
        quota = whole_gib(share_size, "snapshot size") * GIB
        site = self.site
        name = self.snapshot_name(snapshot, site)
        dataset = name.partition("@")[0]
        with self.locks.hold(site.key(dataset)):
            site.zfs.rollback(name)
            site.zfs.set(dataset, {"quota": quota})

    # -- usage, metadata, status ----------------------------------------------------------------------------

    def usage(self, shares: Sequence[ShareRef]) -> dict[str, int]:
        """Bytes used by each share (one ``zfs get used`` for all); absent shares are left out."""
        names = {}
        for share in shares:
            with contextlib.suppress(ShareError):
                names[share.id] = self.dataset(share, self.site)
        if not names:
            return {}
        parents = sorted({n.rsplit("/", 1)[0] for n in names.values()})
        got = self.site.zfs.get_many(parents, ["used"], depth=1)
        return {sid: _bytes(got[ds], "used") for sid, ds in names.items() if ds in got}

    def share_status(self, share: ShareRef) -> str:
        """``available`` when the share's dataset exists, ``error`` otherwise (every operation is synchronous)."""
        try:
            self.ensure_share(share)
        except ShareNotFound:
            return ERROR
        return AVAILABLE

    def apply_metadata(self, share: ShareRef, metadata: Mapping[str, Any]) -> dict[str, str]:
        """Set the ZFS properties that ``metadata`` names with :data:`METADATA_PROPERTIES` keys, in one ``zfs set``.

        Other keys are ignored (they are the user's). Every value is validated first; a bad one is
        InvalidRequest and nothing changes. Returns ``{property: value}`` as set.
        """
        wanted: dict[str, object] = {}
        for key, value in metadata.items():
            prop = METADATA_PROPERTIES.get(str(key).lower())
            if prop is None:
                if str(key).lower().startswith("zfs:"):
                    raise InvalidRequest(f"metadata key {key!r} is not one of {', '.join(sorted(METADATA_PROPERTIES))}")
                continue
            text = str(value).strip()
            try:
                typed: object = parse_size(text) if prop == "recordsize" else text
                _, shown = validate_property_value(prop, typed)
            except (ValueError, InvalidProperty) as exc:
                raise InvalidRequest(f"metadata {key}={value!r}: {exc}") from None
            if prop == "compression":
                allowed = self.capabilities["compression"]
                if (shown == "off" and False not in allowed) or (shown != "off" and True not in allowed):
                    raise InvalidRequest(f"metadata {key}={value!r}: compression is fixed on this backend")
            wanted[prop] = typed
        if not wanted:
            return {}
        site = self.site
        dataset = self.dataset(share, site)
        with self.locks.hold(site.key(dataset)):
            try:
                site.zfs.set(dataset, wanted)
            except DatasetNotFound:
                raise ShareNotFound(share.id, dataset) from None
        return {k: str(v) for k, v in wanted.items()}

    # -- stats --------------------------------------------------------------------------------------------

    def ip_versions(self) -> list[int]:
        """IP versions clients can use: those of the export addresses that the NFS backend can serve."""
        versions = self.site.layout.ip_versions()
        if not self.site.nfs.supports_ipv6:
            versions.discard(6)
        return sorted(versions)

    def pools(self) -> list[dict[str, Any]]:
        """Per-pool capacity (one ``zfs get used,available`` over the roots) and capabilities."""
        site = self.site
        opts = self.options
        roots = list(site.layout.roots.items())
        got = site.zfs.get_many([r for _, r in roots], ["used", "available"])
        pools = []
        for pool, root in roots:
            props = got.get(root)
            used, avail = _bytes(props, "used"), _bytes(props, "available")
            entry: dict[str, Any] = {
                "pool_name": pool,
                "total_capacity_gb": round((used + avail) / GIB, 2),
                "free_capacity_gb": round(avail / GIB, 2),
                "reserved_percentage": opts.reserved_percentage,
                "reserved_snapshot_percentage": opts.reserved_snapshot_percentage,
                "reserved_share_extend_percentage": opts.reserved_extend_percentage,
                **self.capabilities,
            }
            if opts.replication_domain:
                entry["replication_type"] = "readable"
            pools.append(entry)
        return pools

    # -- replication --------------------------------------------------------------------------------------

    @staticmethod
    def active(replicas: Sequence[ShareRef]) -> ShareRef:
        """The active replica of ``replicas``."""
        for replica in replicas:
            if replica.replica_state == ACTIVE:
                return replica
        raise ReplicationError("no active replica in the replica list")

    def replica_site(self, replica: ShareRef) -> tuple[Site, str]:
        """The site and dataset of a replica (on any backend)."""
        site = self.site_of(replica.backend)
        return site, self.dataset(replica, site)

    def _secure_replica(self, site: Site, dataset: str, size: Any, rules: Sequence[Rule] | None) -> None:
        """A secondary replica: read-only at the ZFS level *and* read-only exports."""
        site.zfs.set(dataset, {"readonly": "on", "quota": whole_gib(size) * GIB})
        if rules is not None:
            good, _ = self.access_rules(rules, site.nfs)
            site.nfs.apply(dataset, good, read_only=True)

    def _replication_refs(self, replicas: Sequence[ShareRef]) -> set[str]:
        return {str(t) for r in replicas if (t := self.store.get(r.id, "repl_snapshot_tag"))}

    def _prune(self, site: Site, dataset: str, keep: set[str]) -> None:
        """Destroy this service's replication snapshots of exactly ``dataset`` that no replica refers to."""
        prefix = self.options.replica_prefix
        for snap in site.zfs.snapshots(dataset, properties=("type",)):
            if snap.dataset == dataset and snap.snapname.startswith(prefix) and snap.snapname not in keep:
                try:
                    site.zfs.destroy(snap.name)
                except ZFSError as exc:
                    LOG.warning("could not prune replication snapshot %s: %s", snap.name, exc)

    def _repl_tag(self, replica_id: str) -> str:
        return time_tag(self.options.replica_prefix, replica_id)

    def create_replica(
        self, replicas: Sequence[ShareRef], new: ShareRef, rules: Sequence[Rule]
    ) -> tuple[list[ExportLocation], dict[str, str]]:
        """Full ``send -R`` of a fresh snapshot of the active replica into a read-only dataset here.

        Returns the new replica's export locations and ``{rule_id: reason}`` for rules it could not apply.
        """
        active = self.active(replicas)
        src, src_ds = self.replica_site(active)
        site = self.site
        dst_ds = self._layout_dataset(new, site)
        tag = self._repl_tag(new.id)
        ro_props = self.properties(attrs.evolve(new, size=active.size), readonly=True)
        _, rejected = self.access_rules(rules, site.nfs)
        with self.locks.hold(src.key(src_ds), site.key(dst_ds)):
            src.zfs.snapshot(src.layout.snapshot(src_ds, tag))
            try:
                transfer(src.zfs, src.layout.snapshot(src_ds, tag), site.zfs, dst_ds, replicate=True,
                         properties=ro_props)
                # -R carries the source's readonly=off and sharenfs: make the replica read-only in both layers.
                self._secure_replica(site, dst_ds, active.size, rules)
            except ZFSError as exc:
                # Leave nothing half-made: the replica's dataset (unless it was there before this call and
                # the receive refused it) and the replication snapshot on the active replica.
                if not isinstance(exc, DatasetExists):
                    self._discard(site, dst_ds)
                with contextlib.suppress(ZFSError):
                    src.zfs.destroy(src.layout.snapshot(src_ds, tag))
                raise
        self.store.update(new.id, {"entity_type": "replica", "replica_type": "readable", "dataset_name": dst_ds,
                                   "pool_name": dst_ds.split("/")[0], "repl_snapshot_tag": tag})
        return site.export_locations(dst_ds), rejected

    def sync_replica(self, replicas: Sequence[ShareRef], replica: ShareRef, rules: Sequence[Rule] | None) -> str:
        """Send what changed on the active replica since the replica's last sync; return its new state."""
        active = self.active(replicas)
        src, src_ds = self.replica_site(active)
        dst, dst_ds = self.replica_site(replica)
        prev = self.store.get(replica.id, "repl_snapshot_tag")
        if not prev:
            LOG.error("replica %s has no replication base snapshot; it needs re-creating", replica.id)
            return OUT_OF_SYNC
        tag = self._repl_tag(replica.id)
        snap = src.layout.snapshot(src_ds, tag)
        with self.locks.hold(src.key(src_ds), dst.key(dst_ds)):
            try:
                src.zfs.snapshot(snap)
                transfer(src.zfs, snap, dst.zfs, dst_ds, incremental_from=f"@{prev}", force=True)
            except ZFSError as exc:
                LOG.warning("sync of replica %s from %s failed: %s", replica.id, src_ds, exc)
                with contextlib.suppress(ZFSError):
                    src.zfs.destroy(snap)
                return OUT_OF_SYNC
            self.store.update(replica.id, {"repl_snapshot_tag": tag})
            self._secure_replica(dst, dst_ds, active.size, rules)
            keep = self._replication_refs(replicas) | {tag}
            self._prune(src, src_ds, keep)
            self._prune(dst, dst_ds, keep)
        return IN_SYNC

    def delete_replica(self, replica: ShareRef) -> None:
        """Destroy exactly the replica's dataset (with its snapshots); absent is fine."""
        site = self.site
        dataset = self.dataset(replica, site)
        with self.locks.hold(site.key(dataset)):
            self._destroy_share_dataset(site, dataset)
        self.store.delete(replica.id)

    def _unfreeze(self, site: Site, dataset: str, rules: Sequence[Rule]) -> None:
        """Best effort: make an active replica that a failed promotion froze writable again, with its rules."""
        try:
            with self.locks.hold(site.key(dataset)):
                site.zfs.set(dataset, {"readonly": "off"})
                good, _ = self.access_rules(rules, site.nfs)
                site.nfs.apply(dataset, good)
        except ZFSError as exc:
            LOG.warning("could not make %s writable again after the failed promotion: %s", dataset, exc)

    def promote_replica(
        self, replicas: Sequence[ShareRef], replica: ShareRef, rules: Sequence[Rule]
    ) -> list[dict[str, Any]]:
        """Make ``replica`` the active one; the old active really becomes ``readonly=on`` and read-only.

        The old active is frozen, snapshotted and sent to every secondary (so nothing written before the
        switch is lost), then the promoted replica is made writable with the share's rules. If the old
        active cannot be reached it is reported ``out_of_sync`` and the promotion still happens. If it was
        frozen but the promoted replica cannot get the final sync, or the promoted replica cannot be made
        writable, the old active is made writable again and ReplicationError is raised (roles unchanged).
        Returns ``{'id', 'replica_state', 'access_rules_status'}`` per replica.
        """
        active = self.active(replicas)
        src, src_ds = self.replica_site(active)
        site = self.site
        new_ds = self.dataset(replica, site)
        updates: dict[str, dict[str, Any]] = {r.id: {"id": r.id, "access_rules_status": SYNCING}
                                              for r in replicas}
        secondaries = [r for r in replicas if r.id != active.id]
        frozen = False
        try:
            with self.locks.hold(src.key(src_ds)):
                src.zfs.set(src_ds, {"readonly": "on"})
                frozen = True
                good, _ = self.access_rules(rules, src.nfs)
                src.nfs.apply(src_ds, good, read_only=True)
                tag = self._repl_tag(active.id)
                src.zfs.snapshot(src.layout.snapshot(src_ds, tag))
            updates[active.id].update(replica_state=IN_SYNC, access_rules_status=ACTIVE)
            self.store.update(active.id, {"repl_snapshot_tag": tag})
            for repl in secondaries:
                dst, dst_ds = self.replica_site(repl)
                prev = self.store.get(repl.id, "repl_snapshot_tag")
                try:
                    if not prev:
                        raise UnsupportedOperation(f"replica {repl.id} has no replication base")
                    with self.locks.hold(src.key(src_ds), dst.key(dst_ds)):
                        transfer(src.zfs, src.layout.snapshot(src_ds, tag), dst.zfs, dst_ds,
                                 incremental_from=f"@{prev}", force=True)
                except ZFSError as exc:
                    LOG.warning("final sync of replica %s before promotion failed: %s", repl.id, exc)
                    if repl.id == replica.id:
                        # Promoting it would lose what the reachable old active has and it lacks: give the
                        # old active its writes back and fail, so that the roles stay (retry later).
                        self._unfreeze(src, src_ds, rules)
                        raise ReplicationError(
                            f"replica {repl.id} could not get the old active's last changes, so it was not "
                            f"promoted (the old active stays active): {exc}") from exc
                    updates[repl.id]["replica_state"] = OUT_OF_SYNC
                    continue
                self.store.update(repl.id, {"repl_snapshot_tag": tag})
                updates[repl.id]["replica_state"] = IN_SYNC
        except ZFSError as exc:
            LOG.warning("old active replica %s could not be frozen and synced: %s", active.id, exc)
            updates[active.id]["replica_state"] = OUT_OF_SYNC
            # Its later resync from the new active starts at the last snapshot the two are known to share.
            base = self.store.get(replica.id, "repl_snapshot_tag")
            if base:
                self.store.update(active.id, {"repl_snapshot_tag": base})
            for repl in secondaries:
                updates[repl.id].setdefault("replica_state", OUT_OF_SYNC)
        try:
            with self.locks.hold(site.key(new_ds)):
                site.zfs.set(new_ds, {"readonly": "off"})
                good, _ = self.access_rules(rules, site.nfs)
                site.nfs.apply(new_ds, good)
        except ZFSError as exc:
            # Neither replica would be writable: the old active (if it was frozen) takes its role back.
            if frozen:
                self._unfreeze(src, src_ds, rules)
            raise ReplicationError(
                f"replica {replica.id} could not be made writable, so it was not promoted: {exc}") from exc
        updates[replica.id].update(replica_state=ACTIVE, access_rules_status=ACTIVE)
        return list(updates.values())

    def _snapshot_tag(self, replicas: Sequence[ShareRef], snapshots: Sequence[SnapshotRef], site: Site) -> str:
        active = self.active(replicas)
        recorded = self.store.get(snapshots[0].snapshot_id, "snapshot_tag")
        if recorded:
            return str(recorded)
        for inst in snapshots:
            if inst.share.id == active.id:
                return site.layout.snapshot_tag(inst.id)
        raise ReplicationError("no snapshot instance on the active replica")

    def create_replicated_snapshot(
        self, replicas: Sequence[ShareRef], snapshots: Sequence[SnapshotRef]
    ) -> list[dict[str, Any]]:
        """Snapshot the active replica, then send it to every secondary; ``{'id', 'status', ...}`` each."""
        active = self.active(replicas)
        src, src_ds = self.replica_site(active)
        tag = self._snapshot_tag(replicas, snapshots, src)
        repl_tag = self._repl_tag(active.id)
        with self.locks.hold(src.key(src_ds)):
            src.zfs.snapshot(src.layout.snapshot(src_ds, tag))
            src.zfs.snapshot(src.layout.snapshot(src_ds, repl_tag))
        self.store.update(snapshots[0].snapshot_id, {"entity_type": "snapshot", "snapshot_tag": tag})
        by_id = {r.id: r for r in replicas}
        out: list[dict[str, Any]] = []
        for inst in snapshots:
            rid = inst.share.id
            if rid == active.id:
                out.append({"id": inst.id, "status": AVAILABLE, "provider_location": f"{src_ds}@{tag}"})
                continue
            dst, dst_ds = self.replica_site(by_id[rid])
            prev = self.store.get(rid, "repl_snapshot_tag")
            try:
                with self.locks.hold(src.key(src_ds), dst.key(dst_ds)):
                    transfer(src.zfs, src.layout.snapshot(src_ds, repl_tag), dst.zfs, dst_ds,
                             incremental_from=f"@{prev}", force=True)
            except ZFSError as exc:
                LOG.warning("snapshot %s not sent to replica %s: %s", tag, rid, exc)
                out.append({"id": inst.id, "status": ERROR})
                continue
            self.store.update(rid, {"repl_snapshot_tag": repl_tag})
            out.append({"id": inst.id, "status": AVAILABLE, "provider_location": dst.layout.snapshot(dst_ds, tag)})
        return out

    def delete_replicated_snapshot(
        self, replicas: Sequence[ShareRef], snapshots: Sequence[SnapshotRef]
    ) -> list[dict[str, Any]]:
        """Destroy the snapshot on every replica that can be reached; confirmed ones are ``deleted``."""
        by_id = {r.id: r for r in replicas}
        active = self.active(replicas)
        tag = self._snapshot_tag(replicas, snapshots, self.replica_site(active)[0])
        out: list[dict[str, Any]] = []
        for inst in snapshots:
            site, dataset = self.replica_site(by_id[inst.share.id])
            name = site.layout.snapshot(dataset, tag)
            try:
                with self.locks.hold(site.key(dataset)):
                    site.zfs.destroy(name)
            except DatasetNotFound:
                pass
            except ZFSError as exc:
                LOG.warning("could not delete %s on %s: %s", name, site.name, exc)
                out.append({"id": inst.id})
                continue
            out.append({"id": inst.id, "status": DELETED})
        self.store.delete(snapshots[0].snapshot_id)
        return out

    def update_replicated_snapshot(
        self, replicas: Sequence[ShareRef], replica: ShareRef, snapshots: Sequence[SnapshotRef],
        snapshot: SnapshotRef,
    ) -> dict[str, Any]:
        """Sync the replica, then report whether the snapshot exists on it.

        A snapshot being deleted that is gone raises SnapshotNotFound (what Manila asks for).
        """
        state = self.sync_replica(replicas, replica, None)
        site = self.site
        dataset = self.dataset(replica, site)
        name = site.layout.snapshot(dataset, self._snapshot_tag(replicas, snapshots, site))
        exists = site.zfs.exists(name)
        if snapshot.deleting:
            if exists:
                site.zfs.destroy(name)
            raise SnapshotNotFound(name)
        if exists:
            return {"id": snapshot.id, "status": AVAILABLE, "provider_location": name}
        if state != IN_SYNC:
            return {"id": snapshot.id}
        return {"id": snapshot.id, "status": ERROR}

    def revert_replicated(
        self, replicas: Sequence[ShareRef], snapshots: Sequence[SnapshotRef], share_size: Any
    ) -> None:
        """Revert the active replica to a replicated snapshot, then resync every secondary from there.

        Manila reverts only to the latest *user* snapshot, but this service's replication snapshots may be
        newer: ``zfs rollback -r`` drops exactly those (named by the replica prefix) on the active replica,
        after checking that nothing else is newer. Each secondary is rolled back to the same snapshot and
        made its new replication base, so the next sync is incremental from the reverted state.
        """
        quota = whole_gib(share_size, "snapshot size") * GIB
        active = self.active(replicas)
        src, src_ds = self.replica_site(active)
        tag = self._snapshot_tag(replicas, snapshots, src)
        target = src.layout.snapshot(src_ds, tag)
        with self.locks.hold(src.key(src_ds)):
            newer = self._newer_snapshots(src, src_ds, tag)
            foreign = [n for n in newer if not n.startswith(self.options.replica_prefix)]
            if foreign:
                raise ReplicationError(
                    f"{target} is not the latest snapshot of the active replica (newer: {', '.join(foreign)})")
            src.zfs.rollback(target, destroy_newer=True)
            src.zfs.set(src_ds, {"quota": quota})
        self.store.update(active.id, {"repl_snapshot_tag": tag})
        for repl in replicas:
            if repl.id == active.id:
                continue
            dst, dst_ds = self.replica_site(repl)
            try:
                with self.locks.hold(dst.key(dst_ds)):
                    dst.zfs.rollback(dst.layout.snapshot(dst_ds, tag), destroy_newer=True)
                    dst.zfs.set(dst_ds, {"quota": quota})
            except ZFSError as exc:
                LOG.warning("replica %s not reverted (its next sync will report it out of sync): %s", repl.id, exc)
                continue
            self.store.update(repl.id, {"repl_snapshot_tag": tag})

    @staticmethod
    def _newer_snapshots(site: Site, dataset: str, tag: str) -> list[str]:
        """Snapshot tags of ``dataset`` taken after ``tag`` (the listing is in creation order)."""
        names = [s.snapname for s in site.zfs.snapshots(dataset, properties=("type",)) if s.dataset == dataset]
        if tag not in names:
            raise SnapshotNotFound(f"{dataset}@{tag}")
        return names[names.index(tag) + 1:]

    # -- migration ----------------------------------------------------------------------------------------

    def migration_compatible(self, destination: ShareRef) -> bool:
        """Whether this service can copy a share to ``destination`` (its backend reachable, pool configured)."""
        try:
            dest = self.site_of(destination.backend)
            dest.layout.root(destination.pool)
        except (ShareError, ValueError) as exc:
            LOG.info("migration to %s/%s is not possible: %s", destination.backend, destination.pool, exc)
            return False
        return True

    def _run_migration(self, job: _Migration, dst: Site, props: Mapping[str, object]) -> None:
        try:
            snap = self.site.zfs.get(job.source_snapshot, "referenced")
            job.total = _bytes(snap, "referenced")

            def progress(n: int) -> None:
                job.sent += n

            transfer(self.site.zfs, job.source_snapshot, dst.zfs, job.dst_dataset, properties=props,
                     progress=progress, cancel=job.cancel)
            job.received_props = dst.zfs.flavour.receive_properties
            job.done = True
        except BaseException as exc:
            job.error = exc
            LOG.warning("migration of %s to %s failed: %s", job.source_snapshot, job.dst_dataset, exc)

    def migration_start(self, source: ShareRef, destination: ShareRef) -> None:
        """Snapshot the source and start streaming it to the destination in a background thread."""
        site = self.site
        src_ds = self.dataset(source, site)
        dst = self.site_of(destination.backend)
        dst_ds = self._layout_dataset(destination, dst)
        props = self.properties(destination)
        tag = time_tag(self.options.migration_prefix, destination.id)
        snapshot = site.layout.snapshot(src_ds, tag)
        with self.locks.hold(site.key(src_ds)):
            site.zfs.snapshot(snapshot)
        self.store.update(source.id, {"migr_snapshot_tag": tag})
        self._record_share(destination.id, dst_ds, migr_snapshot_tag=tag)
        job = _Migration(source_snapshot=snapshot, dst_dataset=dst_ds)
        job.thread = threading.Thread(target=self._run_migration, args=(job, dst, props),
                                      name=f"pyzfsnas-migration-{destination.id}", daemon=True)
        self._migrations[destination.id] = job
        job.thread.start()

    def _copied(self, destination: ShareRef) -> bool:
        """Whether the migration snapshot reached the destination (what is known without a job in memory)."""
        dst = self.site_of(destination.backend)
        dst_ds = self.dataset(destination, dst)
        tag = self.store.get(destination.id, "migr_snapshot_tag")
        return bool(tag) and dst.zfs.exists(dst.layout.snapshot(dst_ds, str(tag)))

    def migration_continue(self, source: ShareRef, destination: ShareRef) -> bool:
        """True when the copy is complete, False while it runs; its error is raised."""
        job = self._migrations.get(destination.id)
        if job is None:
            # Restarted mid-migration: the copy is complete iff its snapshot reached the destination.
            if self._copied(destination):
                return True
            raise ShareError(f"no migration of {source.id} is running and its destination is incomplete")
        if job.error is not None:
            raise ShareError(f"migration failed: {job.error}")
        return job.done

    def migration_progress(self, source: ShareRef, destination: ShareRef) -> dict[str, Any]:
        """``{'total_progress': 0..100}`` from the bytes streamed so far; after a restart, what is known.

        With no job in memory (the process restarted), 100 only when the copy is on the destination;
        otherwise 0 and ``'details'`` says the copy is not running.
        """
        job = self._migrations.get(destination.id)
        if job is None:
            if self._copied(destination):
                return {"total_progress": 100}
            return {"total_progress": 0,
                    "details": "no copy is running in this process (restarted?); the destination is incomplete"}
        if job.done:
            return {"total_progress": 100}
        if not job.total:
            return {"total_progress": 0}
        return {"total_progress": min(99, int(100 * job.sent / job.total))}

    def migration_complete(self, source: ShareRef, destination: ShareRef) -> list[ExportLocation]:
        """Finish on the destination, delete the source; return the *destination's* export locations."""
        job = self._migrations.pop(destination.id, None)
        if job is not None and job.thread is not None:
            job.thread.join()
            if job.error is not None:
                raise ShareError(f"migration failed: {job.error}")
        dst = self.site_of(destination.backend)
        dst_ds = self.dataset(destination, dst)
        tag = self.store.get(destination.id, "migr_snapshot_tag")
        with self.locks.hold(dst.key(dst_ds)):
            if tag:
                with contextlib.suppress(DatasetNotFound):
                    dst.zfs.destroy(dst.layout.snapshot(dst_ds, str(tag)))
            if job is None or not job.received_props:
                dst.zfs.set(dst_ds, self.properties(destination))
            mountpoint = dst.zfs.get(dst_ds, "mountpoint").raw("mountpoint") or ""
        self.delete_share(source)
        return dst.layout.export_locations(mountpoint)

    def migration_cancel(self, source: ShareRef, destination: ShareRef) -> None:
        """Stop the copy (between chunks), then remove the migration snapshot and the destination dataset."""
        job = self._migrations.pop(destination.id, None)
        if job is not None:
            job.cancel.set()
            if job.thread is not None:
                job.thread.join()
            if job.error is not None and not isinstance(job.error, TransferCancelled):
                LOG.info("cancelled migration had failed already: %s", job.error)
        site = self.site
        src_ds = self.dataset(source, site)
        tag = self.store.get(destination.id, "migr_snapshot_tag")
        if tag:
            with self.locks.hold(site.key(src_ds)), contextlib.suppress(DatasetNotFound):
                site.zfs.destroy(site.layout.snapshot(src_ds, str(tag)))
        dst = self.site_of(destination.backend)
        dst_ds = self.dataset(destination, dst)
        with self.locks.hold(dst.key(dst_ds)):
            self._destroy_share_dataset(dst, dst_ds)
        self.store.delete(destination.id)

    # -- backups ------------------------------------------------------------------------------------------

    def backup_target(self) -> ZFS:
        """The host holding ``zfs_backup_dataset`` (this one unless ``zfs_backup_service_ip`` is set)."""
        if not self.options.backup_dataset:
            raise Unsupported("backups need zfs_backup_dataset (a dataset to receive them into)")
        if not self.options.backup_address:
            return self.site.zfs
        if self._backup_zfs is None:
            if self._connect is None:
                raise Unsupported(f"the backup host {self.options.backup_address} cannot be reached from here")
            self._backup_zfs = self._connect(self.options.backup_address)
        return self._backup_zfs

    def _backup_tag(self, backup_id: str) -> str:
        return self.options.backup_prefix + backup_id.replace("-", "_")

    def create_backup(self, share: ShareRef, backup_id: str) -> None:
        """Snapshot the share and send it to the backup target: incremental after the share's first backup.

        Backups of a share form chains: one dataset on the target per chain, one snapshot per backup. A
        backup is incremental from the share's previous one when that is still the newest snapshot of the
        chain on the target and its snapshot is still on the share; otherwise a new chain starts with a
        full stream. Nothing on the source is destroyed; a failure removes only what this call made.
        """
        site, target = self.site, self.backup_target()
        dataset = self.dataset(share, site)
        tag = self._backup_tag(backup_id)
        snap = site.layout.snapshot(dataset, tag)
        chain = self.store.get(share.id, "backup_chain")
        base = self.store.get(share.id, "backup_base")
        incremental = False
        if chain and base and site.zfs.exists(site.layout.snapshot(dataset, str(base))):
            on_target = ([s.snapname for s in target.snapshots(str(chain), properties=("type",))]
                         if target.exists(str(chain)) else [])
            incremental = bool(on_target) and on_target[-1] == base
        if not incremental:
            first = site.layout.backup_dataset(self.options.backup_dataset, share.id)
            chain = first if not target.exists(first) else site.layout.backup_dataset(
                self.options.backup_dataset, share.id, tag)
        chain = str(chain)
        with self.locks.hold(site.key(dataset)):
            site.zfs.snapshot(snap)
            try:
                transfer(site.zfs, snap, target, chain, incremental_from=f"@{base}" if incremental else None,
                         force=incremental)
            except ZFSError:
                with contextlib.suppress(ZFSError):
                    site.zfs.destroy(snap)
                if not incremental:
                    with contextlib.suppress(ZFSError):
                        target.destroy(chain, recursive=True)
                raise
        self.store.update(backup_id, {"entity_type": "backup", "backup_chain": chain, "backup_tag": tag,
                                      "backup_share": share.id})
        self.store.update(share.id, {"backup_chain": chain, "backup_base": tag})

    def _backup_record(self, backup_id: str) -> tuple[str, str, str]:
        chain, tag = self.store.get(backup_id, "backup_chain"), self.store.get(backup_id, "backup_tag")
        if not chain or not tag:
            raise SnapshotNotFound(f"backup {backup_id}")
        return str(chain), str(tag), str(self.store.get(backup_id, "backup_share") or "")

    def backup_progress(self, backup_id: str) -> int:
        """100 when the backup's snapshot is on the target, else 0 (a backup is made in one call)."""
        try:
            chain, tag, _ = self._backup_record(backup_id)
        except SnapshotNotFound:
            return 0
        return 100 if self.backup_target().exists(f"{chain}@{tag}") else 0

    def delete_backup(self, backup_id: str, share: ShareRef | None = None) -> None:
        """Destroy the backup's snapshot on the target (and its chain when empty) and on the share."""
        try:
            chain, tag, origin = self._backup_record(backup_id)
        except SnapshotNotFound:
            return
        target = self.backup_target()
        with contextlib.suppress(DatasetNotFound):
            target.destroy(f"{chain}@{tag}")
        with contextlib.suppress(DatasetNotFound):
            if not target.snapshots(chain, properties=("type",)):
                target.destroy(chain, recursive=True)
        if share is not None and share.id == origin:
            site = self.site
            with contextlib.suppress(ShareError, DatasetNotFound):
                dataset = self.dataset(share, site)
                with self.locks.hold(site.key(dataset)):
                    site.zfs.destroy(site.layout.snapshot(dataset, tag))
            if self.store.get(share.id, "backup_base") == tag:
                self.store.update(share.id, {"backup_base": ""})
        self.store.delete(backup_id)

    def restore_backup(self, backup_id: str, share: ShareRef) -> None:
        """Make ``share``'s content the backup's.

        Into the original share while its backup snapshot is still there: ``zfs rollback`` (refused when a
        snapshot other than a backup's is newer, as a revert is). Otherwise (a new share, or the snapshot is
        gone) the backup is received next to the share and swapped in; refused when the share has
        snapshots, which the swap would lose. Quota and exports stay the share's.
        """
        chain, tag, origin = self._backup_record(backup_id)
        target, site = self.backup_target(), self.site
        if not target.exists(f"{chain}@{tag}"):
            raise SnapshotNotFound(f"{chain}@{tag}")
        dataset = self.dataset(share, site)
        local = site.layout.snapshot(dataset, tag)
        with self.locks.hold(site.key(dataset)):
            if share.id == origin and site.zfs.exists(local):
                newer = self._newer_snapshots(site, dataset, tag)
                foreign = [n for n in newer if not n.startswith(self.options.backup_prefix)]
                if foreign:
                    raise Unsupported(f"share {share.id} has snapshots newer than the backup ({', '.join(foreign)}); "
                                      "delete them or restore into a new share")
                site.zfs.rollback(local, destroy_newer=True)
                self.store.update(share.id, {"backup_base": tag})
                return
            self._swap_in(site, dataset, target, f"{chain}@{tag}", share)

    def _swap_in(self, site: Site, dataset: str, source: ZFS, snapshot: str, share: ShareRef) -> None:
        """Receive ``snapshot`` next to ``dataset`` and put it in its place, keeping quota and exports."""
        snaps = site.zfs.snapshots(dataset, properties=("type",))
        if snaps:
            raise Unsupported(f"share {share.id} has snapshots ({', '.join(s.snapname for s in snaps)}) that a "
                              "restore would destroy; delete them or restore into a new share")
        keep = site.zfs.get(dataset, "quota", "sharenfs", "readonly")
        fresh = site.layout.backup_dataset(dataset.rsplit("/", 1)[0], share.id, "restoring")
        old = site.layout.backup_dataset(dataset.rsplit("/", 1)[0], share.id, "replaced")
        try:
            transfer(source, snapshot, site.zfs, fresh)
            site.zfs.set(fresh, {"quota": keep.value("quota") or "none",
                                 "readonly": keep.raw("readonly") or "off"})
        except ZFSError:
            self._discard(site, fresh)
            raise
        site.zfs.rename(dataset, old)
        try:
            site.zfs.rename(fresh, dataset)
        except ZFSError:
            site.zfs.rename(old, dataset)
            self._discard(site, fresh)
            raise
        site.zfs.set(dataset, {"sharenfs": keep.raw("sharenfs") or "off"})
        site.zfs.destroy(old, recursive=True)
        with contextlib.suppress(DatasetNotFound):
            site.zfs.destroy(site.layout.snapshot(dataset, snapshot.partition("@")[2]))
