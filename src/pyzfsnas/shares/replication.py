"""Replication of shares between backends: readable replicas kept by incremental ZFS streams."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import attrs

from pyzfsnas.errors import (
    DatasetExists,
    DatasetNotFound,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.shares.core import ShareCore
from pyzfsnas.shares.errors import (
    ReplicationError,
    SnapshotNotFound,
)
from pyzfsnas.shares.layout import GIB, ExportLocation, time_tag, time_tag_prefix, whole_gib
from pyzfsnas.shares.site import Site
from pyzfsnas.shares.transfer import transfer
from pyzfsnas.shares.values import (
    ACTIVE,
    AVAILABLE,
    DELETED,
    ERROR,
    IN_SYNC,
    OUT_OF_SYNC,
    SYNCING,
    Rule,
    ShareRef,
    SnapshotRef,
)

__all__ = ["Replication"]

LOG = logging.getLogger(__name__)


class Replication(ShareCore):
    """Create, sync, promote and delete replicas; replicated snapshots and reverts."""

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

    def _set_access_mode(
        self, site: Site, dataset: str, rules: Sequence[Rule] | None, *, read_only: bool, size: Any = None
    ) -> None:
        """Make a replica read-only or writable in both layers: ``readonly`` (with the quota of ``size`` GiB
        when given, in the same ``zfs set``), then the exports of ``rules`` (all read-only when ``read_only``;
        left as they are when ``rules`` is None). The caller holds the dataset's lock."""
        props: dict[str, object] = {"readonly": "on" if read_only else "off"}
        if size is not None:
            props["quota"] = whole_gib(size) * GIB
        site.zfs.set(dataset, props)
        if rules is not None:
            good, _ = self.access_rules(rules, site.nfs())
            site.nfs().apply(dataset, good, read_only=read_only)

    def _replication_refs(self, replicas: Sequence[ShareRef]) -> set[str]:
        return {str(t) for r in replicas if (t := self.store.get(r.id, "repl_snapshot_tag"))}

    def _prune(self, site: Site, dataset: str, keep: set[str], prefix: str | None = None) -> None:
        """Destroy this service's replication snapshots of exactly ``dataset`` that no replica refers to
        (only those whose tag starts with ``prefix`` when given)."""
        prefix = prefix or self.options.replica_prefix
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
        _, rejected = self.access_rules(rules, site.nfs())
        with self.locks.hold(src.key(src_ds), site.key(dst_ds)):
            stale = self.store.get(new.id, "repl_creating")
            if stale:
                # A previous attempt of this call was killed: its copy (named after this replica) and its
                # snapshot are orphans; remove them and start again.
                with contextlib.suppress(DatasetNotFound):
                    site.zfs.destroy(dst_ds, recursive=True)
                with contextlib.suppress(DatasetNotFound):
                    src.zfs.destroy(src.layout.snapshot(src_ds, str(stale)))
            # Recorded before the snapshot is taken, so that a kill leaves nothing a retry cannot name.
            self.store.update(new.id, {"repl_creating": tag})
            src.zfs.snapshot(src.layout.snapshot(src_ds, tag))
            try:
                transfer(src.zfs, src.layout.snapshot(src_ds, tag), site.zfs, dst_ds, replicate=True,
                         properties=ro_props)
                # -R carries the source's readonly=off and sharenfs: make the replica read-only in both layers.
                self._set_access_mode(site, dst_ds, rules, read_only=True, size=active.size)
            except ZFSError as exc:
                # Leave nothing half-made: the replica's dataset (unless it was there before this call and
                # the receive refused it) and the replication snapshot on the active replica.
                if not isinstance(exc, DatasetExists):
                    self._discard(site, dst_ds)
                with contextlib.suppress(ZFSError):
                    src.zfs.destroy(src.layout.snapshot(src_ds, tag))
                self.store.delete(new.id)
                raise
        self.store.update(new.id, {"entity_type": "replica", "replica_type": "readable", "dataset_name": dst_ds,
                                   "pool_name": dst_ds.split("/")[0], "repl_snapshot_tag": tag,
                                   "repl_creating": ""})
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
            self._set_access_mode(dst, dst_ds, rules, read_only=True, size=active.size)
            keep = self._replication_refs(replicas) | {tag}
            self._prune(src, src_ds, keep)
            self._prune(dst, dst_ds, keep)
        return IN_SYNC

    def delete_replica(self, replica: ShareRef) -> None:
        """Destroy exactly the replica's dataset (with its snapshots); absent is fine (as :meth:`delete_share`)."""
        self.delete_share(replica)

    def _unfreeze(self, site: Site, dataset: str, rules: Sequence[Rule]) -> None:
        """Best effort: make an active replica that a failed promotion froze writable again, with its rules."""
        try:
            with self.locks.hold(site.key(dataset)):
                self._set_access_mode(site, dataset, rules, read_only=False)
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
                # Marked before the attempt: a ``zfs set`` that fails may still have run on the host (a lost
                # connection), and undoing a freeze that did not happen only sets what is already there.
                frozen = True
                self._set_access_mode(src, src_ds, rules, read_only=True)
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
                self._set_access_mode(site, new_ds, rules, read_only=False)
        except ZFSError as exc:
            # Neither replica would be writable: the old active (if it was frozen) takes its role back.
            if frozen:
                self._unfreeze(src, src_ds, rules)
            raise ReplicationError(
                f"replica {replica.id} could not be made writable, so it was not promoted: {exc}") from exc
        updates[replica.id].update(replica_state=ACTIVE, access_rules_status=ACTIVE)
        # A promotion killed after its snapshot of the old active and made again took another one: the
        # first (tagged like this promotion's, referred to by no replica) would stay an orphan. Drop exactly
        # those; an undisturbed promotion finds none.
        keep = self._replication_refs(replicas)
        own = time_tag_prefix(self.options.replica_prefix, active.id)
        for prune_site, prune_ds in ((src, src_ds), (site, new_ds)):
            try:
                self._prune(prune_site, prune_ds, keep, own)
            except ZFSError as exc:
                LOG.warning("could not prune replication snapshots of %s: %s", prune_ds, exc)
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
        if snapshot.deleting:
            with contextlib.suppress(DatasetNotFound):
                site.zfs.destroy(name)
            raise SnapshotNotFound(name)
        exists = site.zfs.exists(name)
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
            self._rollback_over_own(
                src, src_ds, tag, self.options.replica_prefix,
                lambda foreign: ReplicationError(
                    f"{target} is not the latest snapshot of the active replica (newer: {', '.join(foreign)})"))
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
