"""Share backups as ZFS send streams into a dataset on this or another host (incremental chains)."""

from __future__ import annotations

import contextlib
import logging

from pyzfsnas.errors import (
    DatasetExists,
    DatasetNotFound,
    ZFSError,
)
from pyzfsnas.shares.core import ShareCore
from pyzfsnas.shares.errors import (
    ShareError,
    SnapshotNotFound,
    Unsupported,
)
from pyzfsnas.shares.site import Site
from pyzfsnas.shares.transfer import transfer
from pyzfsnas.shares.values import (
    ShareRef,
)
from pyzfsnas.zfs import ZFS

__all__ = ["Backups"]

LOG = logging.getLogger(__name__)


class Backups(ShareCore):
    """Create, follow, restore and delete backups."""

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
        planned = self.store.get(backup_id, "backup_chain")
        resuming = bool(planned) and self.store.get(backup_id, "backup_tag") == tag
        if resuming:
            # A previous attempt of this backup was killed: it recorded its plan before taking its snapshot;
            # follow the same plan (the transfer recognises a stream that already arrived).
            chain, base = planned, self.store.get(backup_id, "backup_from") or None
            incremental = bool(base)
        elif chain and base and site.zfs.exists(site.layout.snapshot(dataset, str(base))):
            try:
                on_target = [s.snapname for s in target.snapshots(str(chain), properties=("type",))]
            except DatasetNotFound:
                on_target = []
            incremental = bool(on_target) and on_target[-1] == base
        if not incremental and not resuming:
            first = site.layout.backup_dataset(self.options.backup_dataset, share.id)
            chain = first if not target.exists(first) else site.layout.backup_dataset(
                self.options.backup_dataset, share.id, tag)
        chain = str(chain)
        with self.locks.hold(site.key(dataset)):
            self.store.update(backup_id, {"entity_type": "backup", "backup_chain": chain, "backup_tag": tag,
                                          "backup_share": share.id, "backup_from": base if incremental else ""})
            try:
                site.zfs.snapshot(snap)
            except DatasetExists:
                if not resuming:
                    self.store.delete(backup_id)
                    raise
            try:
                transfer(site.zfs, snap, target, chain, incremental_from=f"@{base}" if incremental else None,
                         force=incremental)
            except ZFSError:
                with contextlib.suppress(ZFSError):
                    site.zfs.destroy(snap)
                if not incremental:
                    with contextlib.suppress(ZFSError):
                        target.destroy(chain, recursive=True)
                self.store.delete(backup_id)
                raise
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
        with self.locks.hold(site.key(dataset)):
            if share.id == origin:
                try:
                    self._rollback_over_own(
                        site, dataset, tag, self.options.backup_prefix,
                        lambda foreign: Unsupported(
                            f"share {share.id} has snapshots newer than the backup ({', '.join(foreign)}); "
                            "delete them or restore into a new share"))
                except (SnapshotNotFound, DatasetNotFound):
                    pass  # the backup's snapshot is gone from the share (or a killed swap moved it): receive it
                else:
                    self.store.update(share.id, {"backup_base": tag})
                    return
            self._swap_in(site, dataset, target, f"{chain}@{tag}", share)

    def _swap_in(self, site: Site, dataset: str, source: ZFS, snapshot: str, share: ShareRef) -> None:
        """Receive ``snapshot`` next to ``dataset`` and put it in its place, keeping quota and exports."""
        fresh = site.layout.backup_dataset(dataset.rsplit("/", 1)[0], share.id, "restoring")
        old = site.layout.backup_dataset(dataset.rsplit("/", 1)[0], share.id, "replaced")
        if site.zfs.exists(old):
            # A previous restore into this share was killed after moving the share's content aside: the
            # received copy is complete (the move comes after it); finish that swap.
            LOG.info("share %s: finishing the restore a killed attempt left half-swapped", share.id)
            try:
                site.zfs.rename(fresh, dataset)  # made again: also finishes a rename killed half-way (zfs-fuse)
            except DatasetNotFound:
                if not site.zfs.exists(dataset):
                    raise ShareError(f"share {share.id}: a killed restore left {old} but neither {fresh} nor "
                                     f"{dataset}; rename {old} back to {dataset} by hand") from None
            self._finish_swap(site, dataset, old, snapshot)
            return
        if site.zfs.exists(fresh):
            self._discard(site, fresh)  # a killed attempt's partial copy: receive again
        snaps = site.zfs.snapshots(dataset, properties=("type",))
        received = site.layout.snapshot(dataset, snapshot.partition("@")[2])
        if [s.name for s in snaps] == [received]:
            # Only the restored backup's own snapshot: a killed attempt swapped the content in and died before
            # dropping it. Make the content exactly the backup's again, then drop it.
            site.zfs.rollback(received)
            site.zfs.destroy(received)
            return
        if snaps:
            raise Unsupported(f"share {share.id} has snapshots ({', '.join(s.snapname for s in snaps)}) that a "
                              "restore would destroy; delete them or restore into a new share")
        keep = site.zfs.get(dataset, "quota", "sharenfs", "readonly")
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
        self._finish_swap(site, dataset, old, snapshot)

    @staticmethod
    def _finish_swap(site: Site, dataset: str, old: str, snapshot: str) -> None:
        """The restored content is at ``dataset``, the share's former one at ``old``: exports as the share's
        were, then drop the former content and the received snapshot (each step safe to repeat)."""
        sharenfs = site.zfs.get(old, "sharenfs").raw("sharenfs") or "off"
        site.zfs.set(dataset, {"sharenfs": sharenfs})
        site.zfs.destroy(old, recursive=True)
        with contextlib.suppress(DatasetNotFound):
            site.zfs.destroy(site.layout.snapshot(dataset, snapshot.partition("@")[2]))
