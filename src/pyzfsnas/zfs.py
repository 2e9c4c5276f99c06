"""The public facade: :class:`ZFS` — everything a caller does with the pools, datasets and snapshots of a host.

``ZFS(executor)`` turns method calls into validated argv (:mod:`pyzfsnas.commands`), runs them through the
executor, and parses the output (:mod:`pyzfsnas.parsers`). Reads fetch whole trees in one command. The host's
flavour (OpenZFS or zfs-fuse) is detected once per facade (:meth:`ZFS.detect_flavour`, called on first need
unless given) and held by it; it picks command forms the host supports; the
zfs-fuse "dataset is busy" bug on rename and destroy is worked around here so callers never see it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from pyzfsnas import commands as cmd
from pyzfsnas.errors import (
    DatasetBusy,
    DatasetNotFound,
    ParseError,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.executors.base import NO_TIMEOUT, Executor, OutputStream, Result
from pyzfsnas.flavour import Flavour, flavour_from_version
from pyzfsnas.models import Dataset, Snapshot, Zpool
from pyzfsnas.parsers import (
    POOL_LIST_COLUMNS,
    build_objects,
    parse_send_size,
    parse_zfs_get,
    parse_zpool_get,
    parse_zpool_get_table,
    parse_zpool_list,
)
from pyzfsnas.properties import PropertyMap, SourceKind

__all__ = ["DATASET_PROPERTIES", "SNAPSHOT_PROPERTIES", "ZFS"]

log = logging.getLogger("pyzfsnas")

#: Properties read for each dataset by :meth:`ZFS.datasets` unless others are asked for.
DATASET_PROPERTIES: tuple[str, ...] = (
    "type", "creation", "used", "available", "referenced", "quota", "refquota", "reservation",
    "refreservation", "volsize", "mountpoint", "mounted", "origin", "compression", "compressratio", "dedup",
    "readonly", "canmount", "sharenfs",
)

_BUSY_BACKOFF = (0.0, 0.05, 0.1, 0.2, 0.4, 0.8)

#: user property where a zfs-fuse rename records what it unmounted until it has mounted it again
_REMOUNT = "com.pyzfsnas:remount"
#: Properties read for each snapshot by :meth:`ZFS.snapshots`.
SNAPSHOT_PROPERTIES: tuple[str, ...] = ("type", "creation", "used", "referenced", "userrefs", "defer_destroy")


_T = TypeVar("_T")


def _shared(props: PropertyMap) -> bool:
    """Whether ``sharenfs`` (as read into ``props``) exports the dataset."""
    return props.raw("sharenfs") not in (None, "off")


class ZFS:
    """Manage the ZFS pools, datasets and snapshots of one host.

    ``executor`` runs the commands (default: a :class:`~pyzfsnas.executors.local.LocalExecutor`).
    ``flavour`` skips detection when the caller knows the host. Thread-safe as far as the executor is.
    """

    def __init__(self, executor: Executor | None = None, *, flavour: Flavour | None = None) -> None:
        if executor is None:
            from pyzfsnas.executors.local import LocalExecutor

            executor = LocalExecutor()
        self.executor: Executor = executor
        self._flavour = flavour
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ZFS({self.executor!r})"

    # -- plumbing -----------------------------------------------------------------------------------------

    def detect_flavour(self, *, refresh: bool = False) -> Flavour:
        """The host's ZFS flavour: the one this facade holds, else ask the host and hold the answer.

        The explicit call that may run a command: ``zfs version`` (OpenZFS answers it, zfs-fuse rejects it),
        at most once per facade unless ``refresh`` asks again. Every facade method that needs the flavour
        calls it; :attr:`flavour` only reports what is held. Each facade holds its own answer (no
        process-wide cache): to share one detection, ``ZFS(executor, flavour=other.detect_flavour())``.
        """
        held = self._flavour
        if held is not None and not refresh:
            return held
        with self._lock:
            held = self._flavour
            if held is None or refresh:
                held = flavour_from_version(self.executor.run(cmd.zfs_version()))
                log.debug("host %r runs %s %s", self.executor, held.name, held.version)
                self._flavour = held
        return held

    @property
    def flavour(self) -> Flavour | None:
        """The flavour this facade holds (given, or found by :meth:`detect_flavour`); ``None`` before that.

        Reading it never runs anything on the host.
        """
        return self._flavour

    def _run(self, argv: Sequence[str], *, stdin: Any = None, timeout: float | None = None) -> Result:
        """Run one command through the executor and raise the typed error if it fails."""
        return self.executor.run(argv, stdin=stdin, timeout=timeout).check()

    def _argv(self, builder: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Build an argv with the host's flavour, after validating it without one when it is not yet held.

        The flavour-free build checks every name and value and runs nothing, so bad input is refused before
        the first command on the host, flavour detection (``zfs version``) included; the build with the
        flavour picks the host's command forms and makes every check the flavour-free one makes, plus the
        flavour's own. With the flavour held, that one build is the whole validation, and nothing runs first.
        """
        held = self._flavour
        if held is None:
            builder(*args, flavour=None, **kwargs)
            held = self.detect_flavour()
        return builder(*args, flavour=held, **kwargs)

    def _get(self, argv: list[str]) -> dict[str, PropertyMap]:
        return parse_zfs_get(self._run(argv).stdout)

    # -- pools --------------------------------------------------------------------------------------------

    def pools(self, names: Iterable[str] = ()) -> list[Zpool]:
        """All pools (or the named ones), with size, allocation, health — one ``zpool list``."""
        argv = self._argv(cmd.zpool_list, list(names), columns=POOL_LIST_COLUMNS)
        fl = self.detect_flavour()  # held by now: _argv built with it
        return parse_zpool_list(self._run(argv).stdout, POOL_LIST_COLUMNS, exact=fl.parsable_list)

    def pool(self, name: str) -> Zpool:
        """One pool; :class:`~pyzfsnas.errors.PoolNotFound` if absent."""
        return self.pools([name])[0]

    def pool_properties(self, name: str, properties: Sequence[str] = ("all",)) -> PropertyMap:
        """Properties of pool ``name`` (``zpool get``)."""
        argv = self._argv(cmd.zpool_get, name, properties)
        fl = self.detect_flavour()  # held by now: _argv built with it
        out = self._run(argv).stdout
        raw = parse_zpool_get(out) if fl.zpool_get_scripted else parse_zpool_get_table(out)
        return raw.get(name, PropertyMap())

    def create_pool(
        self,
        name: str,
        vdevs: Sequence[str],
        *,
        mountpoint: str | None = None,
        properties: Mapping[str, object] | None = None,
        fs_properties: Mapping[str, object] | None = None,
        force: bool = False,
    ) -> None:
        """``zpool create [-f] [-m MOUNTPOINT] [-o ...] [-O ...] NAME VDEV...``."""
        self._run(self._argv(cmd.zpool_create, name, vdevs, mountpoint=mountpoint, properties=properties,
                            fs_properties=fs_properties, force=force))

    def destroy_pool(self, name: str, *, force: bool = False) -> None:
        """``zpool destroy [-f] NAME``, retried once when the pool is momentarily busy."""
        argv = cmd.zpool_destroy(name, force=force)
        try:
            self._run(argv)
        except DatasetBusy:
            self._run(argv)

    # -- reading ------------------------------------------------------------------------------------------

    def get(self, name: str, *properties: str) -> PropertyMap:
        """Properties of one dataset or snapshot (``all`` when none are named), in one command."""
        props = list(properties) or ["all"]
        raw = self._get(self._argv(cmd.zfs_get, props, [name]))
        if name not in raw:
            raise ParseError(f"zfs get did not report {name!r}")
        return raw[name]

    def get_many(
        self,
        names: Iterable[str],
        properties: Sequence[str],
        *,
        recursive: bool = False,
        depth: int | None = None,
    ) -> dict[str, PropertyMap]:
        """Properties of many objects in one ``zfs get``: ``{name: PropertyMap}`` in output order."""
        names = list(names)
        return self._get(self._argv(cmd.zfs_get, properties, names, recursive=recursive, depth=depth))

    def datasets(
        self,
        root: str | None = None,
        *,
        depth: int | None = None,
        properties: Sequence[str] = DATASET_PROPERTIES,
    ) -> list[Dataset]:
        """Filesystems and volumes under ``root`` (itself included), or on every pool — one command.

        ``depth`` limits recursion (0: ``root`` only). ``properties`` chooses what is read.
        """
        props = list(dict.fromkeys(["type", *properties]))
        argv = self._argv(cmd.zfs_get, props, [root] if root else [],
                          recursive=root is not None and depth is None, depth=depth,
                          types=("filesystem", "volume"))
        return [o for o in build_objects(self._get(argv)) if isinstance(o, Dataset)]

    def dataset(self, name: str) -> Dataset:
        """One filesystem or volume with all its properties; :class:`DatasetNotFound` if absent."""
        cmd.validate_dataset_name(name)
        raw = self._get(self._argv(cmd.zfs_get, ["all"], [name]))
        objs = [o for o in build_objects(raw) if o.name == name]
        if not objs or not isinstance(objs[0], Dataset):
            raise ParseError(f"zfs get did not report dataset {name!r}")
        return objs[0]

    def exists(self, name: str) -> bool:
        """True when the dataset or snapshot exists."""
        try:
            self.get(name, "type")
        except DatasetNotFound:
            return False
        return True

    def snapshots(
        self,
        dataset: str | None = None,
        *,
        recursive: bool = False,
        properties: Sequence[str] = SNAPSHOT_PROPERTIES,
    ) -> list[Snapshot]:
        """Snapshots of ``dataset`` (of its descendants too with ``recursive``), or of every dataset.

        Ordered by creation (``createtxg`` order as ZFS lists them). One command.
        """
        props = list(dict.fromkeys(["type", *properties]))
        names = [dataset] if dataset else []
        depth = None if recursive or not dataset else 1
        argv = self._argv(cmd.zfs_get, props, names, recursive=recursive or not dataset,
                          depth=depth, types=("snapshot",))
        snaps = [o for o in build_objects(self._get(argv)) if isinstance(o, Snapshot)]
        if dataset and not recursive:
            snaps = [s for s in snaps if s.dataset == dataset]
        return snaps

    # -- creating and destroying --------------------------------------------------------------------------

    def create_dataset(
        self,
        name: str,
        properties: Mapping[str, object] | None = None,
        *,
        parents: bool = False,
        volsize: int | None = None,
    ) -> None:
        """Create a filesystem (or a volume of ``volsize`` bytes) with ``properties`` set at creation."""
        self._run(self._argv(cmd.zfs_create, name, properties, parents=parents, volsize=volsize))

    def destroy(
        self,
        name: str,
        *,
        recursive: bool = False,
        recursive_dependents: bool = False,
        force: bool = False,
        defer: bool = False,
    ) -> None:
        """Destroy exactly ``name``. Children, snapshots and clones are destroyed only when asked.

        Without ``recursive`` a dataset with children or snapshots raises
        :class:`~pyzfsnas.errors.DatasetHasChildren`; a snapshot with clones raises
        :class:`~pyzfsnas.errors.DatasetHasDependents` unless ``recursive_dependents``.
        """
        argv = cmd.zfs_destroy(name, recursive=recursive, recursive_dependents=recursive_dependents,
                               force=force, defer=defer)
        if not self.detect_flavour().busy_bug or "@" in name:
            self._run(argv)
            return
        # zfs-fuse's spurious "dataset is busy": the first try after a mount usually unmounts and the second
        # succeeds. When it does not, zfs-fuse's idea of what is mounted has drifted: unmount the tree
        # explicitly and retry with a short backoff. If it still fails for good, mount and share again
        # exactly what was mounted before, so that a dataset that still exists is still served.
        before = self._mounted_tree(name)
        try:
            self._run(argv)
            return
        except DatasetBusy:
            log.debug("zfs-fuse busy bug on destroy of %s", name)
        try:  # from here on zfs-fuse may have unmounted part of the tree
            try:
                self._run(argv)
                return
            except DatasetBusy:
                log.debug("zfs-fuse busy bug on destroy of %s, again: unmounting its tree", name)
            for fs in sorted(before, key=lambda n: n.count("/"), reverse=True):
                try:
                    self._run(cmd.zfs_unmount(fs))
                except ZFSError as exc:
                    log.debug("unmount of %s before destroy: %s", fs, exc)
            self._run_through_busy_bug(argv)
        except ZFSError:
            self._mount_again(before)
            raise

    def snapshot(
        self, name: str, *, recursive: bool = False, properties: Mapping[str, object] | None = None
    ) -> None:
        """Create snapshot ``dataset@snap`` (of all descendants too with ``recursive``)."""
        self._run(self._argv(cmd.zfs_snapshot, name, recursive=recursive, properties=properties))

    def snapshot_many(self, names: Sequence[str]) -> None:
        """Take every snapshot of ``names`` in one atomic ``zfs snapshot`` (names in one pool).

        :class:`UnsupportedOperation` on hosts without multi-snapshot support (zfs-fuse); nothing is run.
        """
        argv = cmd.zfs_snapshots(names)
        pools = {n.split("/", 1)[0].split("@", 1)[0] for n in names}
        if len(pools) > 1:
            raise UnsupportedOperation(f"snapshots in one command must be in one pool, got {sorted(pools)}")
        if not self.detect_flavour().multi_snapshot:
            raise UnsupportedOperation(f"{self.detect_flavour().name} cannot take several snapshots in one command")
        self._run(argv)

    def clone(
        self,
        snapshot: str,
        target: str,
        properties: Mapping[str, object] | None = None,
        *,
        parents: bool = False,
    ) -> None:
        """Create filesystem ``target`` as a clone of ``snapshot``."""
        self._run(self._argv(cmd.zfs_clone, snapshot, target, properties, parents=parents))

    def promote(self, clone: str) -> None:
        """Make ``clone`` independent of its origin (the origin's dataset becomes the clone)."""
        self._run(cmd.zfs_promote(clone))

    def rename(self, old: str, new: str, *, parents: bool = False, recursive: bool = False) -> None:
        """Rename a dataset or snapshot (``recursive``: the snapshot in every descendant too).

        On zfs-fuse a mounted filesystem cannot be renamed ("dataset is busy"); pyzfsnas then unmounts the
        mounted filesystems of the tree, renames, and mounts them again under their new names. What it
        unmounted is first recorded on the dataset (user property ``com.pyzfsnas:remount``), so that if the
        process dies half-way, the same call made again finishes the job — renames if needed, mounts and
        shares what was mounted — and succeeds, instead of leaving the tree unmounted.
        """
        argv = cmd.zfs_rename(old, new, parents=parents, recursive=recursive)
        tracked = self.detect_flavour().busy_bug and "@" not in old
        pending = self._remount_marker(old, old) if tracked else None
        try:
            self._run(argv)
        except DatasetBusy:
            if not tracked:
                raise
        except DatasetNotFound:
            left = self._remount_marker(new, old) if tracked else None
            if left is None:
                raise
            log.info("finishing the interrupted rename of %s to %s: mounting its tree again", old, new)
            self._finish_remount(new, left)
            return
        else:
            if pending is not None:
                self._finish_remount(new, pending)
            return
        log.debug("zfs-fuse busy bug on rename of %s: unmount, rename, mount", old)
        mounted = self._mounted_tree(old)
        rels = sorted({*(pending or ()), *(name[len(old):] for name in mounted)})
        try:
            self.set(old, {_REMOUNT: "|".join([old, *rels])})
            for name in sorted(mounted, key=lambda n: n.count("/"), reverse=True):
                self._run(cmd.zfs_unmount(name))
            self._run_through_busy_bug(argv)
        except ZFSError:
            self._mount_again(mounted)
            with contextlib.suppress(ZFSError):
                self._run(cmd.zfs_inherit(old, _REMOUNT, flavour=self.detect_flavour()))
            raise
        # Renamed: mount (and share) the tree under its new names. Failures are logged, not raised: the
        # rename itself happened, and raising would tell the caller it did not.
        self._finish_remount(new, rels)

    def _remount_marker(self, name: str, old: str) -> list[str] | None:
        """The filesystems (relative to ``name``) an interrupted rename of ``old`` unmounted, if it left a
        ``com.pyzfsnas:remount`` record on ``name``; None when there is none (or ``name`` does not exist)."""
        try:
            prop = self.get(name, _REMOUNT).get(_REMOUNT)
        except DatasetNotFound:
            return None
        if prop is None or prop.source.kind != SourceKind.LOCAL or not prop.raw or prop.raw == "-":
            return None
        first, *rels = prop.raw.split("|")
        return rels if first == old else None

    def _finish_remount(self, new: str, rels: Sequence[str]) -> None:
        """Mount and share again what a rename unmounted (now under ``new``), then drop the record."""
        names = [new + rel for rel in rels]
        shared: dict[str, bool] = {}
        if names:
            try:
                tree = self.get_many([new], ["type", "sharenfs"], recursive=True)
                shared = {n: n in tree and _shared(tree[n]) for n in names}
            except ZFSError as exc:
                log.info("could not read sharenfs of %s: %s", new, exc)
                shared = dict.fromkeys(names, False)
        self._mount_again(shared, quiet=True)
        try:
            self._run(cmd.zfs_inherit(new, _REMOUNT, flavour=self.detect_flavour()))
        except ZFSError as exc:
            log.info("could not clear %s on %s: %s", _REMOUNT, new, exc)

    def _mounted_tree(self, name: str) -> dict[str, bool]:
        """The mounted filesystems of ``name``'s tree, each with whether it is shared (``sharenfs`` set)."""
        tree = self.get_many([name], ["type", "mounted", "sharenfs"], recursive=True)
        return {fs: _shared(p) for fs, p in tree.items()
                if p.raw("type") == "filesystem" and p.value("mounted") is True}

    def _mount_again(self, filesystems: Mapping[str, bool], *, quiet: bool = False) -> None:
        """Mount the given filesystems (parents first) that are not mounted, and share the shared ones.

        zfs-fuse unshares on unmount and does not reshare on mount, hence the ``zfs share``. Best effort:
        failures are logged (as warnings unless ``quiet``) and the caller's own error is what it raises.
        """
        if not filesystems:
            return
        try:
            now = self.get_many(sorted(filesystems), ["mounted"])
        except ZFSError as exc:
            log.warning("could not check mounts to restore %s: %s", sorted(filesystems), exc)
            return
        for fs in sorted(filesystems, key=lambda n: n.count("/")):
            try:
                self._mount_and_share(fs, mount=fs in now and now[fs].value("mounted") is not True,
                                      share=filesystems[fs])
            except ZFSError as exc:
                (log.info if quiet else log.warning)("could not mount or share %s again: %s", fs, exc)

    def _run_through_busy_bug(self, argv: list[str]) -> None:
        """Run a destroy or rename on zfs-fuse, retrying while it reports its spurious "dataset is busy".

        zfs-fuse refuses the first destroy or rename after a mount or unmount and settles within a moment
        (measured here: the second try succeeds in ~90% of cases, the rest within ~0.3 s). Only this exact
        error is retried, with a short backoff (at most ~1.5 s in all); anything else is raised at once.
        """
        for delay in _BUSY_BACKOFF:
            try:
                self._run(argv)
                return
            except DatasetBusy:
                log.debug("zfs-fuse busy bug on %s: retrying in %.2fs", " ".join(argv), delay)
                time.sleep(delay)
        self._run(argv)

    def rollback(self, snapshot: str, *, destroy_newer: bool = False) -> None:
        """Roll the dataset back to ``snapshot``; later snapshots block it unless ``destroy_newer``."""
        self._run(cmd.zfs_rollback(snapshot, destroy_newer=destroy_newer))

    # -- properties ---------------------------------------------------------------------------------------

    def set(self, name: str, properties: Mapping[str, object] | None = None, /, **kwargs: object) -> None:
        """Set properties: ``zfs.set("tank/a", quota=2**30, compression="lz4")``.

        Sizes are ``int`` bytes; ``None`` clears a quota or reservation; booleans become on/off.
        Everything is validated before the first command runs.
        """
        props = {**(properties or {}), **kwargs}
        for argv in self._argv(cmd.zfs_set, name, props):
            self._run(argv)

    def inherit(self, name: str, prop: str, *, recursive: bool = False) -> None:
        """Clear a local value so ``prop`` is inherited again (``zfs inherit``)."""
        self._run(self._argv(cmd.zfs_inherit, name, prop, recursive=recursive))

    # -- holds, mounts ------------------------------------------------------------------------------------

    def hold(self, snapshot: str, tag: str, *, recursive: bool = False) -> None:
        """Place hold ``tag`` on a snapshot: it cannot be destroyed until released."""
        self._run(cmd.zfs_hold(snapshot, tag, recursive=recursive))

    def release(self, snapshot: str, tag: str, *, recursive: bool = False) -> None:
        """Release hold ``tag``."""
        self._run(cmd.zfs_release(snapshot, tag, recursive=recursive))

    def holds(self, snapshot: str) -> list[str]:
        """Tags of the holds on ``snapshot`` (OpenZFS; zfs-fuse cannot list holds, only count them)."""
        argv = cmd.zfs_holds(snapshot)
        self.detect_flavour().require("holds", "listing holds")
        out = self._run(argv).stdout
        return [line.split("\t")[1] for line in out.split("\n") if line.count("\t") >= 2]

    def mount(self, name: str) -> None:
        """Mount filesystem ``name``."""
        self._run(cmd.zfs_mount(name))

    def unmount(self, name: str, *, force: bool = False) -> None:
        """Unmount filesystem ``name``."""
        self._run(cmd.zfs_unmount(name, force=force))

    # -- send / receive -----------------------------------------------------------------------------------

    @contextmanager
    def send(
        self,
        snapshot: str,
        *,
        incremental_from: str | None = None,
        intermediates: bool = False,
        replicate: bool = False,
        properties: bool = False,
        timeout: float | None = NO_TIMEOUT,
    ) -> Iterator[OutputStream]:
        """Stream ``zfs send`` output in chunks; a failed send raises when the block exits.

        Streams have no time limit by default (their length is the data's); pass ``timeout`` to bound them.

        >>> with zfs.send("tank/a@s1") as stream:   # doctest: +SKIP
        ...     other.receive("backup/a", stream)
        """
        argv = cmd.zfs_send(snapshot, incremental_from=incremental_from, intermediates=intermediates,
                            replicate=replicate, properties=properties)
        with self.executor.stream(argv, timeout=timeout) as out:
            yield out
        if out.result is not None:
            out.result.check()

    def receive(
        self,
        target: str,
        stream: Iterable[bytes] | bytes,
        *,
        force: bool = False,
        unmounted: bool = False,
        discard_first: bool = False,
        properties: Mapping[str, object] | None = None,
        resumable: bool = False,
        incremental: bool = True,
        timeout: float | None = NO_TIMEOUT,
    ) -> Result:
        """Feed a send stream (bytes or chunks) into ``zfs receive TARGET``.

        ``incremental`` says whether the stream may update a dataset that is already mounted (default: assume
        so). On zfs-fuse such a receive does not invalidate the kernel's page cache, so files read before it
        keep showing their old bytes: pyzfsnas then unmounts and mounts the target again (and re-shares it
        when ``sharenfs`` is set, since zfs-fuse unshares on unmount). A full stream creates a fresh dataset
        and needs none of that: :func:`pyzfsnas.replication.transfer` passes ``incremental=False`` for it.
        No time limit by default, like :meth:`send`.
        """
        argv = self._argv(cmd.zfs_receive, target, force=force, unmounted=unmounted, discard_first=discard_first,
                          properties=properties, resumable=resumable)
        result = self._run(argv, stdin=stream, timeout=timeout)
        if incremental and self.detect_flavour().stale_cache_after_receive and not unmounted and not discard_first:
            self.remount(target.split("@", maxsplit=1)[0])
        return result

    def resume_token(self, target: str) -> str | None:
        """The ``receive_resume_token`` of ``target`` (an interrupted ``receive -s`` left state), else None.

        None too when ``target`` does not exist or the host has no resumable receive (zfs-fuse).
        """
        cmd.validate_dataset_name(target)
        if not self.detect_flavour().resumable_receive:
            return None
        try:
            raw = self.get(target, "receive_resume_token").raw("receive_resume_token")
        except DatasetNotFound:
            return None
        return raw if raw and raw != "-" else None

    def resume_info(self, token: str) -> tuple[str, int | None]:
        """What ``zfs send -t TOKEN`` would send from this host: (snapshot name, bytes left or None).

        Runs ``zfs send -nvP -t TOKEN`` (nothing is sent); a token whose snapshot is gone raises
        :class:`~pyzfsnas.errors.StaleResumeToken`.
        """
        out = self._run(self._argv(cmd.zfs_send_resume, token, dry_run=True)).stdout
        name = next((line.split("=", 1)[1].strip() for line in out.splitlines()
                     if line.strip().startswith("toname =")), None)
        if name is None:
            raise ParseError("zfs send -nvP -t did not name the snapshot", line=out[:200])
        return name, parse_send_size(out)

    @contextmanager
    def send_resume(self, token: str, *, timeout: float | None = NO_TIMEOUT) -> Iterator[OutputStream]:
        """Stream the rest of an interrupted send (``zfs send -t TOKEN``); OpenZFS only, like :meth:`send`."""
        with self.executor.stream(self._argv(cmd.zfs_send_resume, token), timeout=timeout) as out:
            yield out
        if out.result is not None:
            out.result.check()

    def receive_abort(self, target: str) -> bool:
        """Discard the partial state an interrupted ``receive -s`` left in ``target`` (``zfs receive -A``).

        Returns False when there was none (nothing run but the check). A partially received *new*
        filesystem goes with its state (OpenZFS destroys it); an existing target keeps its data.
        """
        argv = self._argv(cmd.zfs_receive_abort, target)
        if self.resume_token(target) is None:
            return False
        self._run(argv)
        return True

    def send_size(self, snapshot: str, *, incremental_from: str | None = None,
                  intermediates: bool = False) -> int | None:
        """The estimated size of a send stream (``zfs send -nP``), or None where the host cannot estimate."""
        argv = cmd.zfs_send(snapshot, incremental_from=incremental_from, intermediates=intermediates, dry_run=True)
        if self.detect_flavour().is_fuse:
            return None
        return parse_send_size(self._run(argv).stdout)

    def remount(self, name: str) -> None:
        """Mount filesystem ``name`` afresh: unmount it if mounted, mount it, re-share it if ``sharenfs`` is set.

        For zfs-fuse, after a receive (see :meth:`receive`); like ``zfs receive`` itself, it leaves a
        filesystem that can be mounted (``canmount=on``, a mountpoint path) mounted, which also heals an
        earlier attempt that unmounted it and failed. If it cannot be unmounted (busy), that is logged and it
        stays mounted with readers' view stale; failing to mount or share it again raises.
        """
        try:
            props = self.get(name, "type", "mounted", "canmount", "mountpoint", "sharenfs")
        except ZFSError as exc:
            log.warning("could not remount %s after receive (readers may see stale data): %s", name, exc)
            return
        if props.raw("type") != "filesystem":
            return
        if props.value("mounted") is True:
            try:
                self._run(cmd.zfs_unmount(name))
            except ZFSError as exc:
                log.warning("could not remount %s after receive (readers may see stale data): %s", name, exc)
                return
        if props.raw("canmount") != "on" or not (props.raw("mountpoint") or "").startswith("/"):
            return
        self._mount_and_share(name, mount=True, share=_shared(props))

    def _mount_and_share(self, fs: str, *, mount: bool, share: bool) -> None:
        """Mount ``fs`` and/or share it again by its ``sharenfs`` (zfs-fuse unshares on unmount)."""
        if mount:
            self._run(cmd.zfs_mount(fs))
        if share:
            self._run(cmd.zfs_share(fs))
