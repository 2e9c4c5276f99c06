"""The core of the share service: setup, names, properties, access, shares, snapshots, manage, usage, stats.

:class:`ShareCore` owns one backend's :class:`~pyzfsnas.shares.site.Site` and reaches other backends' sites
through a factory. Round trips are kept low: names are computed (never found by listing a pool),
``quota``/``sharenfs``/``readonly`` are set with ``-o`` at creation, export locations come from root
mountpoints cached at setup, deletes rely on the typed errors of ``destroy`` instead of reading first, and
``ensure_shares`` reads every share with one ``zfs get``. Mutating calls hold a lock per dataset.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from pyzfsnas import __version__
from pyzfsnas.errors import (
    DatasetExists,
    DatasetNotFound,
    InvalidProperty,
    SizeBelowUsage,
    ZFSError,
)
from pyzfsnas.nfs import AccessRule, InvalidAccessRule, NFSBackend
from pyzfsnas.properties import parse_size, validate_property_value
from pyzfsnas.shares.errors import (
    InvalidRequest,
    ManageRefused,
    ShareError,
    ShareNotFound,
    ShrinkWouldLoseData,
    SnapshotManageRefused,
    SnapshotNotFound,
    Unsupported,
)
from pyzfsnas.shares.layout import GIB, ExportLocation, size_gib_ceil, whole_gib
from pyzfsnas.shares.site import DatasetLocks, Options, Site, ip_versions
from pyzfsnas.shares.transfer import transfer
from pyzfsnas.shares.values import (
    ACTIVE,
    AVAILABLE,
    ERROR,
    MemoryStore,
    Rule,
    ShareRef,
    ShareState,
    SnapshotRef,
    Store,
    bytes_of,
    truthy,
)
from pyzfsnas.zfs import ZFS

__all__ = ["METADATA_PROPERTIES", "ShareCore"]

LOG = logging.getLogger(__name__)

#: Share metadata keys that set ZFS properties (``update_share_from_metadata``); other keys are ignored.
METADATA_PROPERTIES: dict[str, str] = {
    "zfs:compression": "compression",
    "zfs:atime": "atime",
    "zfs:recordsize": "recordsize",
    "zfs:snapdir": "snapdir",
    "zfs:sync": "sync",
}


class ShareCore:
    """Shares, snapshots, access, manage, usage and stats of one backend (``site``); other backends' sites
    come from ``peers(name)``.

    ``connect(address)`` reaches a host by address (the backup target when it is not this host).
    """

    #: This backend's host.
    site: Site
    #: This backend's options.
    options: Options
    #: Where the service records each share's dataset name, snapshot tags and replication bases.
    store: Store
    #: One lock per (site, dataset), held by every mutating call.
    locks: DatasetLocks
    #: Capabilities reported with every pool (dedupe, compression, thin provisioning, ...).
    capabilities: dict[str, Any]

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
        self.capabilities = self._capabilities()
        self._ip_versions: list[int] | None = None

    # -- setup --------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Read the roots' mountpoints and choose the NFS backend (ConfigError when a root is unusable)."""
        self.site.load_mountpoints()
        self.site.nfs()  # choose (detect) the NFS backend now, not on the first share

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
            wanted = truthy(str(dedupe))
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
                    if parsed.version == 6 and not nfs.ipv6_support():
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
            try:
                site.zfs.create_dataset(dataset, props)
            except DatasetExists:
                # Named after this share's id: a previous create of this same share died before recording
                # it (process killed). Finish that one instead of failing: same properties, then record.
                if site.zfs.get(dataset, "type").raw("type") != "filesystem":
                    raise
                LOG.info("share %s: finishing the creation of %s left by a previous attempt", share.id, dataset)
                site.zfs.set(dataset, props)
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
        if not site.exports_in_property():
            # Exports outside the dataset (exportfs) outlive it: remove them even when it is gone, by the
            # path it was mounted at (computed from its root, no read needed).
            try:
                site.nfs().clear(dataset)
            except DatasetNotFound:
                site.nfs().clear(site.mountpoint(dataset))
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
            "zpools": ",".join(sorted(site.layout.roots.values())), "nfs": site.nfs().name,
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
        reapply = not site.exports_in_property()
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
        good, errors = self.access_rules(rules, site.nfs())
        read_only = share.replica_state not in (None, ACTIVE)
        with self.locks.hold(site.key(dataset)):
            try:
                site.nfs().apply(dataset, good, read_only=read_only)
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

    @staticmethod
    def _managed_size(size: Any, refused: type[ShareError]) -> int | None:
        """The ``size`` option (GiB) of a manage call, None when not given; ``refused`` before any command when
        it is not a whole number of GiB >= 1."""
        if size in (None, ""):
            return None
        try:
            return whole_gib(size, "driver option size")
        except InvalidRequest as exc:
            raise refused(str(exc)) from None

    def manage(self, share: ShareRef, location: str, size: Any = None) -> tuple[int, list[ExportLocation]]:
        """Rename the dataset at ``location`` to the share's name and set its properties.

        ``size`` (GiB) defaults to the used space rounded up. Every check runs before the rename; if a later
        step fails the dataset gets its name back, so a retry starts from the same state.
        """
        site = self.site
        wanted = self._managed_size(size, ManageRefused)
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
        resuming = old != new and self.store.get(share.id, "manage_from") == old
        try:
            used = site.zfs.get(old, "used", "type")
        except DatasetNotFound as exc:
            if not resuming:
                raise ManageRefused(f"dataset {old} cannot be read: {exc}") from None
            # A previous attempt of this call was killed after (or during) its rename: finish from there.
            used = site.zfs.get(new, "used", "type")
        except ZFSError as exc:
            raise ManageRefused(f"dataset {old} cannot be read: {exc}") from None
        if used.raw("type") != "filesystem":
            raise ManageRefused(f"{old} is a {used.raw('type')}, not a filesystem")
        gib = size_gib_ceil(bytes_of(used, "used")) if wanted is None else wanted
        props = self.properties(attrs.evolve(share, size=gib))
        with self.locks.hold(site.key(old), site.key(new)):
            if old != new:
                # Recorded first: a process killed after the rename leaves a record of where the dataset was.
                self.store.update(share.id, {"manage_from": old})
                try:
                    site.zfs.rename(old, new)
                except DatasetNotFound:
                    if not resuming:
                        raise
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
                    else:
                        self.store.delete(share.id)
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
        wanted = self._managed_size(size, SnapshotManageRefused)
        old = snapshot.location or ""
        dataset = self.dataset(snapshot.share, site)
        if old.partition("@")[0] != dataset or not old.partition("@")[2]:
            raise SnapshotManageRefused(
                f"provider_location {old!r} is not a snapshot of the share's dataset {dataset}")
        tag = site.layout.snapshot_tag(snapshot.id)
        new = site.layout.snapshot(dataset, tag)
        renamed = False
        try:
            used = site.zfs.get(old, "used")
        except DatasetNotFound as exc:
            # Already under this snapshot instance's own name: a previous attempt was killed after its rename.
            try:
                used = site.zfs.get(new, "used")
            except DatasetNotFound:
                raise SnapshotManageRefused(str(exc)) from None
            renamed = True
        gib = size_gib_ceil(bytes_of(used, "used")) if wanted is None else wanted
        with self.locks.hold(site.key(dataset)):
            if new != old and not renamed:
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
            try:
                site.zfs.snapshot(name)
            except DatasetExists:
                # Named after this snapshot instance: taken by a previous attempt that died before recording.
                LOG.info("snapshot %s exists already (a previous attempt); recording it", name)
        self.store.update(snapshot.snapshot_id, {"entity_type": "snapshot", "snapshot_tag": tag})
        return name

    def create_mountable_snapshot(self, snapshot: SnapshotRef) -> tuple[str, list[ExportLocation]]:
        """:meth:`create_snapshot` then :meth:`mount_snapshot`: its name and export locations. A snapshot that
        cannot be mounted is deleted again (nothing half-made) and the mount's error raised."""
        name = self.create_snapshot(snapshot)
        try:
            return name, self.mount_snapshot(snapshot)
        except ZFSError:
            self.delete_snapshot(snapshot)
            raise

    def mount_snapshot(self, snapshot: SnapshotRef) -> list[ExportLocation]:
        """Make a snapshot mountable: a read-only clone beside the shares, exported with no rules yet.

        A clone is a dataset, so every NFS backend can export it (``sharenfs`` cannot name a snapshot's
        ``.zfs`` directory); it shares the snapshot's blocks and costs nothing until written, which
        ``readonly=on`` forbids. :meth:`delete_snapshot` removes it first.
        """
        site = self.site
        name = self.snapshot_name(snapshot, site)
        dataset = name.partition("@")[0]
        mount = site.layout.snapshot_mount(dataset, snapshot.id)
        with self.locks.hold(site.key(dataset), site.key(mount)):
            try:
                site.zfs.clone(name, mount, {"readonly": "on", "sharenfs": "off"})
            except DatasetExists:
                # A previous attempt (killed before recording it) made the clone: take it if it is this
                # snapshot's clone, refuse anything else.
                if site.zfs.get(mount, "origin").raw("origin") != name:
                    raise
        self.store.update(snapshot.snapshot_id, {"mount_dataset": mount})
        return site.export_locations(mount)

    def snapshot_access(self, snapshot: SnapshotRef, rules: Sequence[Rule]) -> None:
        """Make ``rules`` (read-only, whatever their level) exactly the exports of a mounted snapshot.

        Manila records one outcome for all of a snapshot's rules, so a rule this host cannot apply is
        InvalidRequest and nothing changes (rather than applying some and reporting all in error).
        """
        site = self.site
        mount = self.store.get(snapshot.snapshot_id, "mount_dataset")
        if not mount:
            raise Unsupported(f"snapshot {snapshot.id} is not mountable (its share type has no "
                              "mount_snapshot_support)")
        # Snapshot rules carry no level (Manila's are read-only by definition).
        good, errors = self.access_rules([attrs.evolve(r, level="ro") for r in rules], site.nfs())
        if errors:
            raise InvalidRequest("; ".join(f"rule {k}: {v}" for k, v in errors.items()))
        with self.locks.hold(site.key(str(mount))):
            site.nfs().apply(str(mount), good, read_only=True)

    def consistent_group_snapshots(self) -> bool:
        """Whether group snapshots are atomic per pool (``zfs snapshot a@x b@x``; not on zfs-fuse); may ask
        the host its flavour once."""
        return self.site.zfs.detect_flavour().multi_snapshot

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
                    if self.consistent_group_snapshots():
                        site.zfs.snapshot_many(group)
                        made += group
                    else:
                        for name in group:
                            try:
                                site.zfs.snapshot(name)
                            except DatasetExists:
                                # Named after this group snapshot: taken by an attempt that was killed.
                                continue
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
        mount = self.store.get(snapshot.snapshot_id, "mount_dataset")
        with self.locks.hold(site.key(name.partition("@")[0])):
            if mount:
                self._destroy_share_dataset(site, str(mount))
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
            if self.store.get(share.id, "creating_from") == src_name:
                # A previous attempt of this same call was killed: the dataset (if any) is its copy, named
                # after this share's id. Copy again from scratch rather than trust a half-finished one.
                with contextlib.suppress(DatasetNotFound):
                    site.zfs.destroy(dataset, recursive=True)
            self.store.update(share.id, {"creating_from": src_name})
            try:
                transfer(src.zfs, src_name, site.zfs, dataset, properties=props)
                site.zfs.destroy(site.layout.snapshot(dataset, src_name.partition("@")[2]))
            except ZFSError as exc:
                # Leave nothing half-made: the dataset (if any) is the one this call received, unless the
                # receive refused one that was there before.
                if not isinstance(exc, DatasetExists):
                    self._discard(site, dataset)
                raise
        self._record_share(share.id, dataset, creating_from="")
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
        return {sid: bytes_of(got[ds], "used") for sid, ds in names.items() if ds in got}

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
        """IP versions clients can use: those of the export addresses that the NFS backend can serve.

        Host names are resolved once (stats are gathered periodically; a slow resolver must not stall them).
        """
        if self._ip_versions is None:
            versions: set[int] = set().union(*(ip_versions(h) for h in self.site.layout.export_hosts))
            if not self.site.nfs().ipv6_support():
                versions.discard(6)
            self._ip_versions = sorted(versions)
        return list(self._ip_versions)

    def pools(self) -> list[dict[str, Any]]:
        """Per-pool capacity (one ``zfs get used,available`` over the roots) and capabilities."""
        site = self.site
        opts = self.options
        roots = list(site.layout.roots.items())
        got = site.zfs.get_many([r for _, r in roots], ["used", "available"])
        pools = []
        for pool, root in roots:
            props = got.get(root)
            used, avail = bytes_of(props, "used"), bytes_of(props, "available")
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

    @staticmethod
    def _newer_snapshots(site: Site, dataset: str, tag: str) -> list[str]:
        """Snapshot tags of ``dataset`` taken after ``tag`` (the listing is in creation order)."""
        names = [s.snapname for s in site.zfs.snapshots(dataset, properties=("type",)) if s.dataset == dataset]
        if tag not in names:
            raise SnapshotNotFound(f"{dataset}@{tag}")
        return names[names.index(tag) + 1:]

    def _rollback_over_own(
        self, site: Site, dataset: str, tag: str, own_prefix: str, refuse: Callable[[list[str]], ShareError]
    ) -> None:
        """``zfs rollback -r`` of ``dataset`` to ``@tag``, destroying the newer snapshots, once every one of
        them is this service's own (tag starting with ``own_prefix``); ``refuse(other newer tags)`` is raised
        otherwise. SnapshotNotFound when ``@tag`` is gone, DatasetNotFound when ``dataset`` is. The caller
        holds the dataset's lock."""
        foreign = [n for n in self._newer_snapshots(site, dataset, tag) if not n.startswith(own_prefix)]
        if foreign:
            raise refuse(foreign)
        site.zfs.rollback(site.layout.snapshot(dataset, tag), destroy_newer=True)
