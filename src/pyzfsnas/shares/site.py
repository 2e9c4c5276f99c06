"""A *site*: one backend's ZFS host as the share service sees it, and how a backend's options are read.

Options keep upstream's ZFSonLinux names and are read through a getter (``get(name) -> value | None``), so
Manila's ``Configuration.safe_get``, a dict's ``get`` or a CLI's arguments all fit. Every problem with them is a
:class:`~pyzfsnas.shares.errors.ConfigError`, raised before any host is touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
from collections.abc import Iterator
from typing import Any

import attrs

from pyzfsnas.errors import DatasetNotFound, InvalidName
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.names import validate_dataset_name
from pyzfsnas.nfs import ExportfsNFS, FuseNFS, KernelNFS, NFSBackend, detect
from pyzfsnas.shares.errors import ConfigError
from pyzfsnas.shares.layout import ExportLocation, Layout, OptionGetter, child_mountpoint, parse_creation_options
from pyzfsnas.zfs import ZFS

__all__ = ["DatasetLocks", "Options", "Site", "check_address", "helper_kind", "ip_versions"]

#: The value of ``zfs_share_helpers`` in upstream configurations; accepted and means "detect".
UPSTREAM_HELPER: str = "manila.share.drivers.zfsonlinux.utils.NFSviaZFSHelper"

_HELPER_ALIASES = {
    "auto": "auto", "detect": "auto", "nfsviazfshelper": "auto",
    "kernel": "kernel", "kernelnfs": "kernel",
    "zfs-fuse": "zfs-fuse", "fuse": "zfs-fuse", "fusenfs": "zfs-fuse",
    "exportfs": "exportfs", "exportfsnfs": "exportfs",
}

#: NFS backends whose exports live in the ``sharenfs`` property: they vanish with the dataset and survive
#: reboots, so delete needs no unexport and ensure needs no re-apply.
PROPERTY_BACKENDS: tuple[str, ...] = ("kernel", "zfs-fuse")

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_address(option: str, value: Any) -> str:
    """An IP address or a DNS host name (what oslo's ``HostAddressOpt`` accepts); ConfigError otherwise."""
    text = str(value or "").strip()
    if not text:
        raise ConfigError(f"{option} is required")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(text)
        return text
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ConfigError(f"{option}={text!r} is not an IP address or a host name")
    return text


def ip_versions(address: str) -> set[int]:
    """IP versions ``address`` offers: its own for an IP literal, those it resolves to for a host name
    (``getaddrinfo``: the resolver's I/O, kept out of the pure :class:`~pyzfsnas.shares.layout.Layout`)."""
    try:
        return {ipaddress.ip_address(address).version}
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(address, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return set()
    return {6 if family == socket.AF_INET6 else 4 for family, *_ in infos
            if family in (socket.AF_INET, socket.AF_INET6)}


def helper_kind(value: str) -> str:
    """``zfs_share_helpers`` NFS value -> ``auto``/``kernel``/``zfs-fuse``/``exportfs``."""
    key = value.strip().rsplit(".", 1)[-1].lower()
    try:
        return _HELPER_ALIASES[key]
    except KeyError:
        raise ConfigError(
            f"zfs_share_helpers: unknown NFS helper {value!r}; use {UPSTREAM_HELPER}, auto, "
            "kernel, zfs-fuse, exportfs or a pyzfsnas.nfs backend class"
        ) from None


def _nfs_helper(get: OptionGetter, *, required: bool = True) -> str:
    helpers = {str(k).upper(): v for k, v in (get("zfs_share_helpers") or {}).items()}
    if "NFS" not in helpers:
        if required:
            raise ConfigError("zfs_share_helpers must define an NFS helper (e.g. NFS=auto)")
        return "auto"
    return helper_kind(str(helpers["NFS"]))


@attrs.frozen
class Options:
    """What the service needs from a backend's options besides its layout (validated)."""

    creation_options: dict[str, object] = attrs.field(factory=dict)
    helper: str = "auto"
    replica_prefix: str = "tmp_snapshot_for_replication_"
    migration_prefix: str = "tmp_snapshot_for_share_migration_"
    reserved_percentage: int = 0
    reserved_snapshot_percentage: int = 0
    reserved_extend_percentage: int = 0
    max_over_subscription_ratio: float | None = None
    replication_domain: str | None = None
    external_locks: bool = False
    #: Dataset under which backups are received (``zfs_backup_dataset``); empty: no backups.
    backup_dataset: str = ""
    #: Address of the host holding ``backup_dataset`` (``zfs_backup_service_ip``); empty: this host.
    backup_address: str = ""
    backup_prefix: str = "manila_backup_"

    @classmethod
    def from_options(cls, get: OptionGetter) -> Options:
        """Read and check the options (ConfigError names the first problem)."""
        check_address("zfs_share_export_ip", get("zfs_share_export_ip"))
        for extra in get("zfs_share_export_ips") or []:
            check_address("zfs_share_export_ips", extra)
        check_address("zfs_service_ip", get("zfs_service_ip"))
        try:
            creation = parse_creation_options(get("zfs_dataset_creation_options") or [])
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        reserved = int(get("reserved_share_percentage") or 0)
        return cls(
            creation_options=creation,
            helper=_nfs_helper(get),
            replica_prefix=str(get("zfs_replica_snapshot_prefix") or "tmp_snapshot_for_replication_"),
            migration_prefix=str(get("zfs_migration_snapshot_prefix") or "tmp_snapshot_for_share_migration_"),
            reserved_percentage=reserved,
            reserved_snapshot_percentage=int(get("reserved_share_from_snapshot_percentage") or reserved),
            reserved_extend_percentage=int(get("reserved_share_extend_percentage") or reserved),
            max_over_subscription_ratio=get("max_over_subscription_ratio"),
            replication_domain=get("replication_domain") or None,
            external_locks=bool(get("zfs_use_external_locks")),
            backup_dataset=_backup_dataset(get("zfs_backup_dataset")),
            backup_address=(check_address("zfs_backup_service_ip", get("zfs_backup_service_ip"))
                            if get("zfs_backup_service_ip") else ""),
            backup_prefix=str(get("zfs_backup_snapshot_prefix") or "manila_backup_"),
        )


def _backup_dataset(value: Any) -> str:
    text = str(value or "").strip().rstrip("/")
    if not text:
        return ""
    try:
        validate_dataset_name(text)
    except InvalidName as exc:
        raise ConfigError(f"zfs_backup_dataset={text!r} is not a dataset name ({exc})") from None
    return text


def layout_from_options(get: OptionGetter) -> Layout:
    """The backend's :class:`Layout`; ConfigError says what is wrong."""
    try:
        layout = Layout.from_options(get)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if not layout.share_prefix:
        raise ConfigError("zfs_dataset_name_prefix must not be empty")
    return layout


@attrs.define
class Site:
    """One backend's host: its facade, NFS backend, layout and cached root mountpoints."""

    name: str
    zfs: ZFS
    layout: Layout
    helper: str = "auto"
    mountpoints: dict[str, str] = attrs.field(factory=dict)
    _nfs: NFSBackend | None = None

    @classmethod
    def from_options(cls, name: str, get: OptionGetter, zfs: ZFS) -> Site:
        """Another backend's site from its options (replication, migration), not yet contacted."""
        check_address("zfs_service_ip", get("zfs_service_ip"))
        return cls(name, zfs, layout_from_options(get), _nfs_helper(get, required=False))

    def nfs(self) -> NFSBackend:
        """The NFS backend for this host, chosen on the first call and held (an explicit call: choosing by
        flavour may run ``zfs version`` once, through :meth:`ZFS.detect_flavour
        <pyzfsnas.zfs.ZFS.detect_flavour>`)."""
        if self._nfs is None:
            kind = self.helper
            if kind == "kernel":
                self._nfs = KernelNFS(self.zfs)
            elif kind == "zfs-fuse":
                self._nfs = FuseNFS(self.zfs)
            elif kind == "exportfs":
                self._nfs = ExportfsNFS(self.zfs)
            else:
                self._nfs = detect(self.zfs)
        return self._nfs

    def exports_in_property(self) -> bool:
        """True when exports live in ``sharenfs`` (die with the dataset, survive a reboot)."""
        return self.nfs().name in PROPERTY_BACKENDS

    def load_mountpoints(self) -> None:
        """Read the mountpoint of every root dataset in one ``zfs get`` (setup, or first remote use)."""
        roots = list(self.layout.roots.values())
        try:
            got = self.zfs.get_many(roots, ["mountpoint"])
        except DatasetNotFound as exc:
            raise ConfigError(
                f"backend {self.name}: a dataset of zfs_zpool_list {roots} does not exist ({exc})") from exc
        for root in roots:
            mp = got[root].raw("mountpoint") if root in got else None
            if not mp or not mp.startswith("/"):
                raise ConfigError(
                    f"backend {self.name}: {root} has mountpoint {mp!r}; shares under it could not "
                    "be exported (set an absolute mountpoint)")
            self.mountpoints[root] = mp

    def mountpoint(self, dataset: str) -> str:
        """Where ``dataset`` (directly under a root, inheriting its mountpoint) is mounted."""
        root = dataset.rsplit("/", 1)[0]
        if root not in self.mountpoints:
            self.load_mountpoints()
        return child_mountpoint(self.mountpoints[root], root, dataset)

    def export_locations(self, dataset: str) -> list[ExportLocation]:
        """Export locations of ``dataset`` on this site (no host I/O once the roots are known)."""
        return self.layout.export_locations(self.mountpoint(dataset))

    def key(self, dataset: str) -> str:
        """The lock key of ``dataset`` on this site."""
        return f"{self.name}:{dataset}"


class DatasetLocks(KeyedLocks):
    """One lock per (site, dataset), taken in sorted order; optionally also oslo file locks across processes."""

    def __init__(self, external: bool = False) -> None:
        super().__init__()
        self._external = external

    @contextlib.contextmanager
    def hold(self, *keys: str) -> Iterator[None]:
        """Hold the locks of ``keys`` (deduplicated, sorted) for the block."""
        with contextlib.ExitStack() as stack:
            for key in sorted(set(keys)):
                stack.enter_context(self.lock(key))
                if self._external:
                    from oslo_concurrency import lockutils

                    stack.enter_context(lockutils.lock(key.replace("/", "_"), "pyzfsnas-", external=True))
            yield
