"""Driver-assisted migration of a share to another backend: one ZFS stream in a background thread."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from pyzfsnas.errors import (
    DatasetNotFound,
)
from pyzfsnas.shares.core import ShareCore
from pyzfsnas.shares.errors import (
    ShareError,
)
from pyzfsnas.shares.layout import ExportLocation, time_tag
from pyzfsnas.shares.site import Site
from pyzfsnas.shares.transfer import TransferCancelled, transfer
from pyzfsnas.shares.values import (
    ShareRef,
    bytes_of,
)

__all__ = ["Migrations"]

LOG = logging.getLogger(__name__)


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


class Migrations(ShareCore):
    """Start, follow, complete and cancel migrations; progress survives only as what the destination shows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._migrations: dict[str, _Migration] = {}

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
            job.total = bytes_of(snap, "referenced")

            def progress(n: int) -> None:
                job.sent += n

            transfer(self.site.zfs, job.source_snapshot, dst.zfs, job.dst_dataset, properties=props,
                     progress=progress, cancel=job.cancel)
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
        stale = self.store.get(destination.id, "migr_snapshot_tag")
        if stale and stale != self.store.get(source.id, "migr_snapshot_tag"):
            stale = None  # recorded for another source: not this migration's
        if stale:
            # A previous start of this same migration died (process killed): its snapshot and the copy it
            # was receiving are this migration's own; remove them so the restart leaves no orphan.
            with self.locks.hold(dst.key(dst_ds)), contextlib.suppress(DatasetNotFound):
                dst.zfs.destroy(dst_ds, recursive=True)
            with self.locks.hold(site.key(src_ds)), contextlib.suppress(DatasetNotFound):
                site.zfs.destroy(site.layout.snapshot(src_ds, str(stale)))
        # Recorded before the snapshot is taken: a process killed right after it leaves no unnamed snapshot.
        self.store.update(source.id, {"migr_snapshot_tag": tag})
        self._record_share(destination.id, dst_ds, migr_snapshot_tag=tag)
        with self.locks.hold(site.key(src_ds)):
            site.zfs.snapshot(snapshot)
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
            if job is None and not dst.zfs.detect_flavour().receive_properties:
                # Restarted: the copy is there (with ``receive -o`` its properties came with it), but on zfs-fuse
                # the process may have died between the receive and the transfer's ``zfs set``.
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
