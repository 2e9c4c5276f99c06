"""The Manila share driver: Manila's share, snapshot, access, replica and migration calls on pyzfsnas.

``ZFSonLinuxShareDriver`` replaces ``manila.share.drivers.zfsonlinux.driver.ZFSonLinuxShareDriver`` by
changing only ``share_driver``: same options, operations, return shapes and exceptions. It never builds a
command line: every host action is a :class:`~pyzfsnas.zfs.ZFS` facade or :mod:`pyzfsnas.nfs` backend call,
on this backend's host or, for replication and migration, on another backend's host through its executor.

Round trips are kept low: names are computed (never found by listing a pool), ``quota``/``sharenfs``/
``readonly`` are set with ``-o`` at creation, export locations come from root mountpoints cached at setup,
deletes rely on the typed errors of ``destroy`` instead of reading first, and ``ensure_shares`` reads every
share with one ``zfs get``. Mutating calls hold a lock per dataset.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

import attrs
from manila.common import constants
from manila.share import configuration as manila_configuration
from manila.share import driver
from oslo_utils import strutils

from manila import exception
from pyzfsnas import __version__
from pyzfsnas.errors import (
    DatasetExists,
    DatasetNotFound,
    SizeBelowUsage,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.executors.base import Executor
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.manila_glue import options
from pyzfsnas.manila_glue.naming import (
    GIB,
    Layout,
    backend_of_host,
    child_mountpoint,
    parse_creation_options,
    size_gib_ceil,
    time_tag,
)
from pyzfsnas.manila_glue.replication import TransferCancelled, transfer
from pyzfsnas.nfs import AccessRule, ExportfsNFS, FuseNFS, InvalidAccessRule, KernelNFS, NFSBackend, detect
from pyzfsnas.properties import PropertyMap
from pyzfsnas.zfs import ZFS

__all__ = ["Backend", "ZFSonLinuxShareDriver"]

LOG = logging.getLogger(__name__)

# Manila's constants, typed (the package has no type information).
ACTIVE: str = constants.REPLICA_STATE_ACTIVE
IN_SYNC: str = constants.REPLICA_STATE_IN_SYNC
OUT_OF_SYNC: str = constants.REPLICA_STATE_OUT_OF_SYNC

F = TypeVar("F", bound=Callable[..., Any])

#: NFS backends whose exports live in the ``sharenfs`` property: they vanish with the dataset and survive
#: reboots, so delete needs no unexport and ensure needs no re-apply.
_PROPERTY_BACKENDS = ("kernel", "zfs-fuse")

_HELPER_ALIASES = {
    "auto": "auto", "detect": "auto", "nfsviazfshelper": "auto",
    "kernel": "kernel", "kernelnfs": "kernel",
    "zfs-fuse": "zfs-fuse", "fuse": "zfs-fuse", "fusenfs": "zfs-fuse",
    "exportfs": "exportfs", "exportfsnfs": "exportfs",
}


def _zfs_errors(func: F) -> F:
    """Turn library errors that escape an operation into ``ZFSonLinuxException`` (what Manila expects)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ZFSError as exc:
            raise exception.ZFSonLinuxException(msg=str(exc)) from exc

    return cast(F, wrapper)


def _bytes(props: PropertyMap, name: str) -> int:
    value = props.value(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _quota_bytes(size_gib: Any) -> int:
    """A share size in GiB as quota bytes; anything but a whole number >= 1 is ``InvalidInput``.

    Refused: ``0`` (it would mean *no* quota), fractions (never silently truncated), bools, text.
    """
    if isinstance(size_gib, bool) or not isinstance(size_gib, int | str):
        raise exception.InvalidInput(reason=f"share size must be a whole number of GiB, got {size_gib!r}")
    text = str(size_gib).strip()
    if not text.isdigit() or int(text) < 1:
        raise exception.InvalidInput(reason=f"share size must be a whole number of GiB >= 1, got {size_gib!r}")
    return int(text) * GIB


def _no_share_server(share_server: Any) -> None:
    if share_server:
        ident = share_server.get("id", share_server) if hasattr(share_server, "get") else share_server
        raise exception.InvalidInput(
            reason=f"Share server handling is not available, but share_server {ident!r} was provided. "
                   "Share networks must not be used with this driver."
        )


def _helper_kind(value: str) -> str:
    """``zfs_share_helpers`` NFS value -> ``auto``/``kernel``/``zfs-fuse``/``exportfs``."""
    key = value.strip().rsplit(".", 1)[-1].lower()
    try:
        return _HELPER_ALIASES[key]
    except KeyError:
        raise ValueError(
            f"zfs_share_helpers: unknown NFS helper {value!r}; use {options.UPSTREAM_HELPER}, auto, "
            "kernel, zfs-fuse, exportfs or a pyzfsnas.nfs backend class"
        ) from None


@attrs.define
class Backend:
    """One backend's host as this driver sees it: its facade, NFS backend, layout and cached mountpoints."""

    name: str
    zfs: ZFS
    layout: Layout
    helper: str = "auto"
    mountpoints: dict[str, str] = attrs.field(factory=dict)
    _nfs: NFSBackend | None = None

    @property
    def nfs(self) -> NFSBackend:
        """The NFS backend for this host, chosen once (detection reuses the facade's cached flavour)."""
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

    @property
    def exports_in_property(self) -> bool:
        """True when exports live in ``sharenfs`` (die with the dataset, survive a reboot)."""
        return self.nfs.name in _PROPERTY_BACKENDS

    def load_mountpoints(self) -> None:
        """Read the mountpoint of every root dataset in one ``zfs get`` (setup, or first remote use)."""
        roots = list(self.layout.roots.values())
        try:
            got = self.zfs.get_many(roots, ["mountpoint"])
        except DatasetNotFound as exc:
            raise exception.BadConfigurationException(
                reason=f"backend {self.name}: a dataset of zfs_zpool_list {roots} does not exist ({exc})"
            ) from exc
        for root in roots:
            mp = got[root].raw("mountpoint") if root in got else None
            if not mp or not mp.startswith("/"):
                raise exception.BadConfigurationException(
                    reason=f"backend {self.name}: {root} has mountpoint {mp!r}; shares under it could not "
                           "be exported (set an absolute mountpoint)"
                )
            self.mountpoints[root] = mp

    def mountpoint(self, dataset: str) -> str:
        """Where ``dataset`` (directly under a root, inheriting its mountpoint) is mounted."""
        root = dataset.rsplit("/", 1)[0]
        if root not in self.mountpoints:
            self.load_mountpoints()
        return child_mountpoint(self.mountpoints[root], root, dataset)

    def export_locations(self, dataset: str) -> list[dict[str, Any]]:
        """Manila export locations of ``dataset`` on this backend."""
        return self.layout.export_locations(self.mountpoint(dataset))


class _DatasetLocks(KeyedLocks):
    """One lock per (host, dataset), taken in sorted order; optionally also oslo file locks across processes."""

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


@attrs.define
class _Migration:
    """A running driver-assisted migration: its background thread, progress and outcome."""

    source_snapshot: str
    dst_dataset: str
    thread: threading.Thread | None = None
    cancel: threading.Event = attrs.field(factory=threading.Event)
    total: int = 0
    sent: int = 0
    done: bool = False
    error: BaseException | None = None
    received_props: bool = False


class ZFSonLinuxShareDriver(driver.ShareDriver):  # type: ignore[misc]
    """Manila share driver for ZFS hosts (kernel OpenZFS or zfs-fuse), locally or over SSH, via pyzfsnas.

    ``executor`` (tests, embedding) replaces the executor built from the configuration for this backend's
    host; ``executor_factory(address)`` builds executors for other backends' hosts, by their
    ``zfs_service_ip`` (default: SSH with that backend's ``zfs_ssh_*`` options).
    """

    #: Manila's private storage for this driver (``private_storage=`` of the constructor), or None.
    private_storage: Any
    #: ``share_backend_name``, or ``ZFSonLinux``.
    backend_name: str
    #: IPv6 clients can be given access where the NFS backend supports them.
    ipv6_implemented: bool
    #: Capabilities added to every pool's stats.
    common_capabilities: dict[str, Any]

    def __init__(
        self,
        *args: Any,
        executor: Executor | None = None,
        executor_factory: Callable[[str], Executor] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("config_opts", None)
        super().__init__([False], *args, config_opts=[options.ZFSONLINUX_OPTS, options.PYZFSNAS_OPTS],
                         **kwargs)
        self.private_storage = kwargs.get("private_storage")
        self.backend_name = self.configuration.safe_get("share_backend_name") or "ZFSonLinux"
        self._executor = executor
        self._executor_factory = executor_factory
        self._own: Backend | None = None
        self._peers: dict[str, Backend] = {}
        self._peers_lock = threading.Lock()
        self._locks = _DatasetLocks(bool(self.configuration.safe_get("zfs_use_external_locks")))
        self._migrations: dict[str, _Migration] = {}
        self._creation_options: dict[str, object] = {}
        self.ipv6_implemented = True
        self.common_capabilities: dict[str, Any] = {}

    # -- configuration ------------------------------------------------------------------------------------

    def _bad_config(self, reason: str) -> exception.BadConfigurationException:
        return exception.BadConfigurationException(reason=f"[{self.configuration.config_group}] {reason}")

    def _validate_config(self) -> Layout:
        """Check the options before touching any host; every problem is a BadConfigurationException."""
        conf = self.configuration
        for opt in ("zfs_share_export_ip", "zfs_service_ip"):
            value = conf.safe_get(opt)
            if not value:
                raise self._bad_config(f"{opt} is required")
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise self._bad_config(f"{opt}={value!r} is not an IPv4 or IPv6 address") from None
        try:
            layout = Layout.from_config(conf)
            self._creation_options = parse_creation_options(conf.safe_get("zfs_dataset_creation_options") or [])
        except ValueError as exc:
            raise self._bad_config(str(exc)) from None
        helpers = {k.upper(): v for k, v in (conf.safe_get("zfs_share_helpers") or {}).items()}
        if "NFS" not in helpers:
            raise self._bad_config("zfs_share_helpers must define an NFS helper (e.g. NFS=auto)")
        try:
            _helper_kind(helpers["NFS"])
        except ValueError as exc:
            raise self._bad_config(str(exc)) from None
        if conf.safe_get("zfs_use_ssh") and self._executor is None:
            if not conf.safe_get("zfs_ssh_username"):
                raise self._bad_config("zfs_use_ssh is set but zfs_ssh_username is not")
            if not (conf.safe_get("zfs_ssh_private_key_path") or conf.safe_get("zfs_ssh_user_password")):
                raise self._bad_config(
                    "zfs_use_ssh needs zfs_ssh_private_key_path or zfs_ssh_user_password")
        if not layout.share_prefix:
            raise self._bad_config("zfs_dataset_name_prefix must not be empty")
        return layout

    def _init_common_capabilities(self) -> None:
        opts = self._creation_options
        dedup = opts.get("dedup")
        self.common_capabilities["dedupe"] = (
            [True] if dedup == "on" else [False] if dedup == "off" else [True, False])
        compression = opts.get("compression")
        self.common_capabilities["compression"] = (
            [False] if compression == "off" else [True] if compression else [True, False])
        self.common_capabilities["thin_provisioning"] = [True]
        self.common_capabilities["max_over_subscription_ratio"] = (
            self.configuration.safe_get("max_over_subscription_ratio"))
        self.common_capabilities["qos"] = [False]

    def _ssh_executor(self, conf: Any, address: str) -> Executor:
        from pyzfsnas.executors.ssh import SSHExecutor

        return SSHExecutor(
            address,
            port=conf.safe_get("zfs_ssh_port") or 22,
            username=conf.safe_get("zfs_ssh_username"),
            key_filename=conf.safe_get("zfs_ssh_private_key_path"),
            password=conf.safe_get("zfs_ssh_user_password"),
            known_hosts=conf.safe_get("zfs_ssh_known_hosts_file"),
            accept_unknown_host_keys=bool(conf.safe_get("zfs_ssh_accept_unknown_host_keys")),
            prefix=tuple(conf.safe_get("zfs_command_prefix") or ()),
        )

    def _make_own_executor(self) -> Executor:
        conf = self.configuration
        if self._executor is not None:
            return self._executor
        if conf.safe_get("zfs_use_ssh"):
            return self._ssh_executor(conf, conf.zfs_service_ip)
        from pyzfsnas.executors.local import LocalExecutor

        return LocalExecutor(prefix=tuple(conf.safe_get("zfs_command_prefix") or ()))

    @_zfs_errors
    def do_setup(self, context: Any) -> None:
        """Check the configuration, connect to the ZFS host and cache the root datasets' mountpoints."""
        super().do_setup(context)
        layout = self._validate_config()
        self._init_common_capabilities()
        helpers = {k.upper(): v for k, v in self.configuration.zfs_share_helpers.items()}
        own = Backend(self.configuration.config_group or self.backend_name, ZFS(self._make_own_executor()),
                       layout, _helper_kind(helpers["NFS"]))
        own.load_mountpoints()
        own.nfs  # noqa: B018 - choose (detect) the NFS backend now, not on the first share
        self._own = own

    @_zfs_errors
    def check_for_setup_error(self) -> None:
        """Fail clearly when do_setup did not complete or the host lost a configured root."""
        if self._own is None:
            raise self._bad_config("do_setup has not completed")
        if set(self._own.mountpoints) != set(self._own.layout.roots.values()):
            raise self._bad_config("the mountpoints of zfs_zpool_list could not all be read")

    @property
    def _repl_prefix(self) -> str:
        return str(self.configuration.safe_get("zfs_replica_snapshot_prefix") or "tmp_snapshot_for_replication_")

    @property
    def _migr_prefix(self) -> str:
        return str(self.configuration.safe_get("zfs_migration_snapshot_prefix")
                   or "tmp_snapshot_for_share_migration_")

    @property
    def own(self) -> Backend:
        """This backend's host (after do_setup)."""
        if self._own is None:
            raise exception.ZFSonLinuxException(msg="driver used before do_setup")
        return self._own

    def get_network_allocations_number(self) -> int:
        """ZFS does not handle networking."""
        return 0

    # -- other backends -----------------------------------------------------------------------------------

    def _backend_configuration(self, backend_name: str) -> Any:
        config = manila_configuration.Configuration(driver.share_opts, config_group=backend_name)
        config.append_config_values(options.ZFSONLINUX_OPTS)
        config.append_config_values(options.PYZFSNAS_OPTS)
        if not config.safe_get("zfs_zpool_list") or not config.safe_get("zfs_service_ip"):
            raise exception.BadConfigurationException(
                reason=f"backend stanza [{backend_name}] is missing or is not a ZFS backend (it needs "
                       "zfs_zpool_list and zfs_service_ip); replication and migration read it")
        return config

    def _backend_for_host(self, host: str) -> Backend:
        """This backend, or another one (by the backend part of ``host@backend#pool``), with its executor."""
        name = backend_of_host(host)
        own = self.own
        if name == own.name:
            return own
        with self._peers_lock:
            peer = self._peers.get(name)
            if peer is None:
                conf = self._backend_configuration(name)
                try:
                    layout = Layout.from_config(conf)
                except ValueError as exc:
                    raise exception.BadConfigurationException(reason=f"[{name}] {exc}") from None
                address = conf.zfs_service_ip
                executor = (self._executor_factory(address) if self._executor_factory is not None
                            else self._ssh_executor(conf, address))
                helpers = {k.upper(): v for k, v in (conf.safe_get("zfs_share_helpers") or {}).items()}
                peer = Backend(name, ZFS(executor), layout, _helper_kind(helpers.get("NFS", "auto")))
                self._peers[name] = peer
            return peer

    def _key(self, backend: Backend, dataset: str) -> str:
        return f"{backend.name}:{dataset}"

    # -- naming -------------------------------------------------------------------------------------------

    def _dataset(self, share: Mapping[str, Any], backend: Backend | None = None) -> str:
        """The dataset of a share instance: recorded in private storage, else computed from the layout."""
        recorded = self._ps_get(share["id"], "dataset_name")
        if recorded:
            return str(recorded)
        backend = backend or self._backend_for_host(share["host"])
        try:
            return backend.layout.dataset(share)
        except ValueError as exc:
            raise exception.InvalidShare(reason=str(exc)) from None

    def _snapshot_name(self, snapshot: Mapping[str, Any], dataset: str, backend: Backend) -> str:
        """``dataset@tag`` of a snapshot instance: recorded tag, else computed from its id."""
        tag = self._ps_get(snapshot["snapshot_id"], "snapshot_tag") if snapshot.get("snapshot_id") else None
        return backend.layout.snapshot(dataset, str(tag or backend.layout.snapshot_tag(snapshot["id"])))

    @staticmethod
    def _share_of_snapshot(snapshot: Mapping[str, Any]) -> Mapping[str, Any]:
        share = snapshot.get("share_instance") or snapshot.get("share")
        if share is None:
            raise exception.InvalidInput(reason=f"snapshot {snapshot.get('id')} carries no share instance")
        return cast(Mapping[str, Any], share)

    def _ps_get(self, entity_id: str, key: str) -> Any:
        return self.private_storage.get(entity_id, key) if self.private_storage is not None else None

    def _ps_update(self, entity_id: str, details: Mapping[str, Any]) -> None:
        if self.private_storage is not None:
            self.private_storage.update(entity_id, dict(details))

    def _ps_delete(self, entity_id: str) -> None:
        if self.private_storage is not None:
            self.private_storage.delete(entity_id)

    # -- properties ---------------------------------------------------------------------------------------

    def _extra_specs(self, share: Mapping[str, Any]) -> Mapping[str, Any]:
        if not share.get("share_type_id"):
            return {}
        from manila.share import share_types

        return cast(Mapping[str, Any], share_types.get_extra_specs_from_share(share) or {})

    @staticmethod
    def _discard(backend: Backend, dataset: str) -> None:
        """Best effort: destroy ``dataset`` (and its snapshots) that the failing operation itself created."""
        try:
            backend.zfs.destroy(dataset, recursive=True)
        except ZFSError as exc:
            LOG.warning("could not remove half-made %s: %s", dataset, exc)

    def _share_properties(self, share: Mapping[str, Any], *, readonly: bool = False) -> dict[str, object]:
        """Properties of a share's dataset: creation options, extra specs, then what the driver owns."""
        props: dict[str, object] = dict(self._creation_options)
        specs = self._extra_specs(share)
        dedupe = specs.get("dedupe")
        if dedupe:
            wanted = strutils.bool_from_string(str(dedupe).lower().split(" ")[-1], default=None)
            if wanted is None or wanted not in self.common_capabilities["dedupe"]:
                raise exception.ZFSonLinuxException(
                    msg=f"extra spec dedupe={dedupe!r} does not fit this backend's "
                        f"{self.common_capabilities['dedupe']}")
            props["dedup"] = "on" if wanted else "off"
        compression = specs.get("zfsonlinux:compression")
        if compression:
            allowed = self.common_capabilities["compression"]
            if (compression == "off" and False not in allowed) or (compression != "off" and True not in allowed):
                raise exception.ZFSonLinuxException(
                    msg=f"extra spec zfsonlinux:compression={compression!r} is not allowed: compression is "
                        f"{'required' if True in allowed else 'disabled'} on this backend")
            props["compression"] = compression
        props["quota"] = _quota_bytes(share["size"])
        props["readonly"] = "on" if readonly else "off"
        props["sharenfs"] = "off"
        return props

    @staticmethod
    def _access_rules(
        rules: Sequence[Mapping[str, Any]], nfs: NFSBackend
    ) -> tuple[list[AccessRule], dict[str, dict[str, Any]]]:
        """Valid rules, and ``{access_id: {'state': 'error', ...}}`` for the others."""
        good: list[AccessRule] = []
        errors: dict[str, dict[str, Any]] = {}
        for rule in rules:
            reason = None
            if str(rule.get("access_type", "")).lower() != "ip":
                reason = f"access type {rule.get('access_type')!r} is not supported (only 'ip')"
            else:
                try:
                    parsed = AccessRule.parse(rule.get("access_to"), rule.get("access_level"))
                except InvalidAccessRule as exc:
                    reason = str(exc)
                else:
                    if parsed.version == 6 and not nfs.supports_ipv6:
                        reason = f"{nfs.name} NFS cannot export to IPv6 clients"
                    else:
                        good.append(parsed)
            if reason is not None:
                LOG.warning("access rule %s (%s) rejected: %s", rule.get("access_id") or rule.get("id"),
                            rule.get("access_to"), reason)
                errors[str(rule.get("access_id") or rule.get("id"))] = {
                    "state": constants.STATUS_ERROR, "access_key": None}
        return good, errors

    # -- shares -------------------------------------------------------------------------------------------

    @staticmethod
    def _check_proto(share: Mapping[str, Any]) -> None:
        proto = str(share.get("share_proto") or "NFS").upper()
        if proto != "NFS":
            raise exception.InvalidShare(reason=f"protocol {proto} is not supported (only NFS)")

    @_zfs_errors
    def create_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> list[dict[str, Any]]:
        """One ``zfs create -o quota=... -o readonly=off -o sharenfs=off ...``; returns export locations."""
        _no_share_server(share_server)
        self._check_proto(share)
        own = self.own
        dataset = self._dataset(share, own)
        props = self._share_properties(share)
        with self._locks.hold(self._key(own, dataset)):
            own.zfs.create_dataset(dataset, props)
        self._ps_update(share["id"], {
            "entity_type": "share", "dataset_name": dataset, "pool_name": dataset.split("/")[0],
            "used_options": " ".join(f"{k}={v}" for k, v in props.items()),
        })
        return own.export_locations(dataset)

    @_zfs_errors
    def delete_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> None:
        """``zfs destroy -r`` of exactly the share's dataset; an absent dataset is not an error."""
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(share, own)
        with self._locks.hold(self._key(own, dataset)):
            self._destroy_share_dataset(own, dataset)
        self._ps_delete(share["id"])

    def _destroy_share_dataset(self, backend: Backend, dataset: str) -> None:
        try:
            if not backend.exports_in_property:
                backend.nfs.clear(dataset)
            backend.zfs.destroy(dataset, recursive=True)
        except DatasetNotFound:
            LOG.warning("dataset %s is absent on backend %s; nothing to delete", dataset, backend.name)

    def get_pool(self, share: Mapping[str, Any]) -> str | None:
        """The Manila pool (zpool name) of a share."""
        host = share.get("host") or ""
        return host.partition("#")[2] or None

    @_zfs_errors
    def ensure_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> list[dict[str, Any]]:
        """Export locations of an existing share (one ``zfs get``); ShareResourceNotFound when absent."""
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(share, own)
        try:
            mountpoint = own.zfs.get(dataset, "mountpoint").raw("mountpoint") or ""
        except DatasetNotFound:
            raise exception.ShareResourceNotFound(share_id=share["id"]) from None
        return own.layout.export_locations(mountpoint)

    def get_backend_info(self, context: Any) -> dict[str, str]:
        """What export locations and exports depend on; Manila re-runs ensure_shares when it changes."""
        own = self.own
        return {
            "driver": "pyzfsnas", "version": __version__,
            "export_ip": own.layout.export_ip, "service_ip": own.layout.service_ip,
            "zpools": ",".join(sorted(own.layout.roots.values())),
            "dataset_prefix": own.layout.share_prefix, "nfs": own.nfs.name,
        }

    @_zfs_errors
    def ensure_shares(self, context: Any, shares: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Check all shares with one ``zfs get -d 1`` over the root datasets; report locations and status."""
        own = self.own
        names: dict[str, str | None] = {}
        for share in shares:
            try:
                names[share["id"]] = own.layout.dataset(share)
            except ValueError as exc:
                LOG.error("share %s: %s", share["id"], exc)
                names[share["id"]] = None
        roots = sorted({n.rsplit("/", 1)[0] for n in names.values() if n})
        found = own.zfs.get_many(roots, ["type", "mountpoint"], depth=1) if roots else {}
        reapply = not own.exports_in_property
        updates: dict[str, dict[str, Any]] = {}
        for share_id, dataset in names.items():
            props = found.get(dataset) if dataset else None
            if props is None or props.raw("type") != "filesystem":
                updates[share_id] = {"status": constants.STATUS_ERROR, "export_locations": [],
                                     "reapply_access_rules": False}
                continue
            updates[share_id] = {
                "status": constants.STATUS_AVAILABLE,
                "export_locations": own.layout.export_locations(props.raw("mountpoint") or ""),
                "reapply_access_rules": reapply,
            }
        return updates

    @_zfs_errors
    def extend_share(self, share: Mapping[str, Any], new_size: int, share_server: Any = None) -> None:
        """``zfs set quota=<new_size GiB>``."""
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(share, own)
        with self._locks.hold(self._key(own, dataset)):
            own.zfs.set(dataset, {"quota": _quota_bytes(new_size)})

    @_zfs_errors
    def shrink_share(self, share: Mapping[str, Any], new_size: int, share_server: Any = None) -> None:
        """``zfs set quota=<new_size GiB>``; ZFS itself refuses a quota below the space used, atomically.

        That refusal becomes ShareShrinkingPossibleDataLoss; nothing is changed.
        """
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(share, own)
        with self._locks.hold(self._key(own, dataset)):
            try:
                own.zfs.set(dataset, {"quota": _quota_bytes(new_size)})
            except SizeBelowUsage:
                raise exception.ShareShrinkingPossibleDataLoss(share_id=share["id"]) from None

    @_zfs_errors
    def update_access(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        share: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        add_rules: Sequence[Mapping[str, Any]],
        delete_rules: Sequence[Mapping[str, Any]],
        update_rules: Sequence[Mapping[str, Any]] | None = None,
        share_server: Any = None,
    ) -> dict[str, dict[str, Any]] | None:
        """Make ``access_rules`` exactly the exports (bulk, one write); bad rules come back in ``error``.

        Secondary replicas get every rule read-only. ``add_rules``/``delete_rules`` need no separate
        handling: the whole set is written, so denying a rule that was never applied just succeeds.
        """
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(share, own)
        good, errors = self._access_rules(access_rules, own.nfs)
        read_only = share.get("replica_state") not in (None, constants.REPLICA_STATE_ACTIVE)
        with self._locks.hold(self._key(own, dataset)):
            try:
                own.nfs.apply(dataset, good, read_only=read_only)
            except DatasetNotFound:
                raise exception.ShareResourceNotFound(share_id=share["id"]) from None
        return errors or None

    # -- manage / unmanage --------------------------------------------------------------------------------

    def _dataset_from_location(self, path: str) -> str:
        """Dataset named by an export path ``ip:/pool/ds`` (upstream form) or ``ip:<mountpoint>``."""
        rest = path.split(":/", 1)[1] if ":/" in path else path.lstrip("/")
        own = self.own
        for root, mp in own.mountpoints.items():
            prefix = mp.rstrip("/") + "/"
            if ("/" + rest).startswith(prefix) and root.split("/")[0] != rest.split("/")[0]:
                return f"{root}/{('/' + rest)[len(prefix):]}"
        return rest.rstrip("/")

    @_zfs_errors
    def manage_existing(self, share: Mapping[str, Any], driver_options: Mapping[str, Any]) -> dict[str, Any]:
        """Rename an existing dataset to the share's name, set its quota; return size and locations.

        ``driver_options`` may give ``size`` (GiB); otherwise the used space rounded up to whole GiB.
        """
        own = self.own
        locations = share.get("export_locations") or []
        if not locations:
            raise exception.ManageInvalidShare(reason="no export location names the dataset to manage")
        old = self._dataset_from_location(str(locations[0]["path"]))
        try:
            new = own.layout.dataset(share)
        except ValueError as exc:
            raise exception.ManageInvalidShare(reason=str(exc)) from None
        roots = set(own.layout.roots.values())
        if old in roots or not any(old.startswith(f"{root}/") for root in roots):
            raise exception.ManageInvalidShare(
                reason=f"{old} is not a dataset below a configured root ({', '.join(sorted(roots))})")
        if old.split("/")[0] != new.split("/")[0]:
            raise exception.ManageInvalidShare(
                reason=f"dataset {old} is not in the scheduled pool {new.split('/')[0]}")
        try:
            used = own.zfs.get(old, "used", "type")
        except (DatasetNotFound, ZFSError) as exc:
            raise exception.ManageInvalidShare(reason=f"dataset {old} cannot be read: {exc}") from None
        if used.raw("type") != "filesystem":
            raise exception.ManageInvalidShare(reason=f"{old} is a {used.raw('type')}, not a filesystem")
        size = int(driver_options.get("size") or size_gib_ceil(_bytes(used, "used")))
        props = self._share_properties({**share, "size": size})
        with self._locks.hold(self._key(own, old), self._key(own, new)):
            if old != new:
                own.zfs.rename(old, new)
            try:
                own.zfs.set(new, props)
            except ZFSError as exc:
                # Not managed after all: give the admin's dataset its name back.
                if old != new:
                    try:
                        own.zfs.rename(new, old)
                    except ZFSError as back:
                        LOG.error("manage_existing: could not rename %s back to %s: %s", new, old, back)
                if isinstance(exc, SizeBelowUsage):
                    raise exception.ManageInvalidShare(
                        reason=f"size {size} GiB is below the space {old} already uses") from None
                raise
            mountpoint = own.zfs.get(new, "mountpoint").raw("mountpoint") or ""
        self._ps_update(share["id"], {"entity_type": "share", "dataset_name": new,
                                      "pool_name": new.split("/")[0]})
        return {"size": size, "export_locations": own.layout.export_locations(mountpoint)}

    def unmanage(self, share: Mapping[str, Any]) -> None:
        """Forget the share; the dataset stays."""
        self._ps_delete(share["id"])

    @_zfs_errors
    def manage_existing_snapshot(
        self, snapshot: Mapping[str, Any], driver_options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Rename ``provider_location`` (``dataset@tag`` of the share's dataset) to the driver's tag."""
        own = self.own
        old = str(snapshot.get("provider_location") or "")
        dataset = self._dataset(self._share_of_snapshot(snapshot), own)
        if old.partition("@")[0] != dataset or not old.partition("@")[2]:
            raise exception.ManageInvalidShareSnapshot(
                reason=f"provider_location {old!r} is not a snapshot of the share's dataset {dataset}")
        try:
            used = own.zfs.get(old, "used")
        except DatasetNotFound as exc:
            raise exception.ManageInvalidShareSnapshot(reason=str(exc)) from None
        size = int(driver_options.get("size") or size_gib_ceil(_bytes(used, "used")))
        tag = own.layout.snapshot_tag(snapshot["id"])
        new = own.layout.snapshot(dataset, tag)
        with self._locks.hold(self._key(own, dataset)):
            if new != old:
                own.zfs.rename(old, new)
        self._ps_update(snapshot["snapshot_id"], {"entity_type": "snapshot", "snapshot_tag": tag,
                                                  "old_snapshot_tag": old.partition("@")[2]})
        return {"size": size, "provider_location": new}

    def unmanage_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Forget the snapshot; it stays on the host."""
        self._ps_delete(snapshot["snapshot_id"])

    # -- snapshots ----------------------------------------------------------------------------------------

    @_zfs_errors
    def create_snapshot(self, context: Any, snapshot: Mapping[str, Any], share_server: Any = None) -> dict[str, Any]:
        """``zfs snapshot dataset@<prefix><snapshot instance id>``; returns ``provider_location``."""
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(self._share_of_snapshot(snapshot), own)
        tag = own.layout.snapshot_tag(snapshot["id"])
        name = own.layout.snapshot(dataset, tag)
        with self._locks.hold(self._key(own, dataset)):
            own.zfs.snapshot(name)
        self._ps_update(snapshot["snapshot_id"], {"entity_type": "snapshot", "snapshot_tag": tag})
        return {"provider_location": name}

    def _recorded_snapshot(self, snapshot: Mapping[str, Any], backend: Backend) -> str:
        location = snapshot.get("provider_location")
        if location and "@" in str(location):
            return str(location)
        dataset = self._dataset(self._share_of_snapshot(snapshot), backend)
        return self._snapshot_name(snapshot, dataset, backend)

    @_zfs_errors
    def delete_snapshot(self, context: Any, snapshot: Mapping[str, Any], share_server: Any = None) -> None:
        """``zfs destroy dataset@tag``; an absent snapshot is not an error."""
        _no_share_server(share_server)
        own = self.own
        name = self._recorded_snapshot(snapshot, own)
        with self._locks.hold(self._key(own, name.partition("@")[0])):
            try:
                own.zfs.destroy(name)
            except DatasetNotFound:
                LOG.warning("snapshot %s is absent; nothing to delete", name)
        self._ps_delete(snapshot["snapshot_id"])

    @_zfs_errors
    def create_share_from_snapshot(
        self,
        context: Any,
        share: Mapping[str, Any],
        snapshot: Mapping[str, Any],
        share_server: Any = None,
        parent_share: Any = None,
    ) -> dict[str, Any]:
        """Copy the snapshot into an independent dataset (send/receive, any backend of the same kind).

        Not a clone, so the snapshot and its share can be deleted later. Properties are set at receive
        time where the host supports it. Returns ``{'status': 'available', 'export_locations': [...]}``.
        """
        _no_share_server(share_server)
        self._check_proto(share)
        own = self.own
        src_share = self._share_of_snapshot(snapshot)
        src = self._backend_for_host(src_share["host"])
        src_name = self._recorded_snapshot(snapshot, src)
        dataset = self._dataset(share, own)
        props = self._share_properties(share)
        with self._locks.hold(self._key(src, src_name.partition("@")[0]), self._key(own, dataset)):
            transfer(src.zfs, src_name, own.zfs, dataset, properties=props)
            try:
                if not own.zfs.flavour.receive_properties:
                    own.zfs.set(dataset, props)
                own.zfs.destroy(f"{dataset}@{src_name.partition('@')[2]}")
            except ZFSError:
                # Leave nothing half-made: the dataset is the one this call just received.
                self._discard(own, dataset)
                raise
        self._ps_update(share["id"], {"entity_type": "share", "dataset_name": dataset,
                                      "pool_name": dataset.split("/")[0]})
        return {"status": constants.STATUS_AVAILABLE, "export_locations": own.export_locations(dataset)}

    @_zfs_errors
    def revert_to_snapshot(
        self,
        context: Any,
        snapshot: Mapping[str, Any],
        share_access_rules: Any,
        snapshot_access_rules: Any,
        share_server: Any = None,
    ) -> None:
        """``zfs rollback`` to the share's latest snapshot (Manila only reverts to the latest)."""
        _no_share_server(share_server)
        own = self.own
        name = self._recorded_snapshot(snapshot, own)
        with self._locks.hold(self._key(own, name.partition("@")[0])):
            own.zfs.rollback(name)

    # -- stats --------------------------------------------------------------------------------------------

    def get_configured_ip_versions(self) -> list[int]:
        """IPv4 always (exports are IPv4 unless the export IP is IPv6); IPv6 when the NFS backend has it."""
        versions = {ipaddress.ip_address(self.configuration.zfs_share_export_ip).version}
        if self._own is not None and self._own.nfs.supports_ipv6:
            versions.add(6)
        if self._own is not None and not self._own.nfs.supports_ipv6:
            versions.discard(6)
        return sorted(versions) or [4]

    def _pools(self) -> list[dict[str, Any]]:
        own = self.own
        conf = self.configuration
        roots = list(own.layout.roots.items())
        got = own.zfs.get_many([r for _, r in roots], ["used", "available"])
        reserved = conf.safe_get("reserved_share_percentage") or 0
        pools = []
        for pool, root in roots:
            props = got.get(root)
            used = _bytes(props, "used") if props else 0
            avail = _bytes(props, "available") if props else 0
            entry: dict[str, Any] = {
                "pool_name": pool,
                "total_capacity_gb": round((used + avail) / GIB, 2),
                "free_capacity_gb": round(avail / GIB, 2),
                "reserved_percentage": reserved,
                "reserved_snapshot_percentage": (
                    conf.safe_get("reserved_share_from_snapshot_percentage") or reserved),
                "reserved_share_extend_percentage": (
                    conf.safe_get("reserved_share_extend_percentage") or reserved),
                **self.common_capabilities,
            }
            if self.replication_domain:
                entry["replication_type"] = "readable"
            pools.append(entry)
        return pools

    @_zfs_errors
    def _update_share_stats(self, data: Mapping[str, Any] | None = None) -> None:
        """Backend and per-pool capacities (one ``zfs get used,available`` over the roots) and capabilities."""
        conf = self.configuration
        reserved = conf.safe_get("reserved_share_percentage") or 0
        stats: dict[str, Any] = {
            "share_backend_name": self.backend_name,
            "storage_protocol": "NFS",
            "vendor_name": "pyzfsnas",
            "driver_version": __version__,
            "driver_name": "ZFS",
            "reserved_percentage": reserved,
            "reserved_snapshot_percentage": conf.safe_get("reserved_share_from_snapshot_percentage") or reserved,
            "reserved_share_extend_percentage": conf.safe_get("reserved_share_extend_percentage") or reserved,
            "snapshot_support": True,
            "create_share_from_snapshot_support": True,
            "revert_to_snapshot_support": True,
            "mount_snapshot_support": False,
            "pools": self._pools(),
        }
        if self.replication_domain:
            stats["replication_type"] = "readable"
        stats.update(data or {})
        super()._update_share_stats(stats)

    # -- replication --------------------------------------------------------------------------------------

    @staticmethod
    def _active(replica_list: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        for replica in replica_list:
            if replica.get("replica_state") == constants.REPLICA_STATE_ACTIVE:
                return replica
        raise exception.ReplicationException(reason="no active replica in the replica list")

    def _replica_site(self, replica: Mapping[str, Any]) -> tuple[Backend, str]:
        backend = self._backend_for_host(replica["host"])
        return backend, self._dataset(replica, backend)

    def _secure_replica(self, backend: Backend, dataset: str, size: int,
                        rules: Sequence[Mapping[str, Any]] | None) -> None:
        """A secondary replica: read-only at the ZFS level *and* read-only exports."""
        backend.zfs.set(dataset, {"readonly": "on", "quota": _quota_bytes(size)})
        if rules is not None:
            good, _ = self._access_rules(rules, backend.nfs)
            backend.nfs.apply(dataset, good, read_only=True)

    def _replication_refs(self, replica_list: Sequence[Mapping[str, Any]]) -> set[str]:
        return {str(t) for r in replica_list if (t := self._ps_get(r["id"], "repl_snapshot_tag"))}

    def _prune(self, backend: Backend, dataset: str, keep: set[str]) -> None:
        """Destroy this driver's replication snapshots of exactly ``dataset`` that no replica refers to."""
        prefix = self._repl_prefix
        for snap in backend.zfs.snapshots(dataset, properties=("type",)):
            if snap.dataset == dataset and snap.snapname.startswith(prefix) and snap.snapname not in keep:
                try:
                    backend.zfs.destroy(snap.name)
                except ZFSError as exc:
                    LOG.warning("could not prune replication snapshot %s: %s", snap.name, exc)

    @_zfs_errors
    def create_replica(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        new_replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> dict[str, Any]:
        """Full ``send -R`` of a fresh snapshot of the active replica into a read-only dataset here."""
        _no_share_server(share_server)
        active = self._active(replica_list)
        src, src_ds = self._replica_site(active)
        own = self.own
        dst_ds = self._dataset(new_replica, own)
        tag = time_tag(self._repl_prefix, new_replica["id"])
        ro_props = {**self._share_properties({**new_replica, "size": active["size"]}, readonly=True)}
        with self._locks.hold(self._key(src, src_ds), self._key(own, dst_ds)):
            src.zfs.snapshot(f"{src_ds}@{tag}")
            try:
                transfer(src.zfs, f"{src_ds}@{tag}", own.zfs, dst_ds, replicate=True, properties=ro_props)
                # -R carries the source's readonly=off and sharenfs: make the replica read-only in both layers.
                self._secure_replica(own, dst_ds, active["size"], access_rules)
            except ZFSError as exc:
                # Leave nothing half-made: the replica's dataset (unless it was there before this call and
                # the receive refused it) and the replication snapshot on the active replica.
                if not isinstance(exc, DatasetExists):
                    self._discard(own, dst_ds)
                with contextlib.suppress(ZFSError):
                    src.zfs.destroy(f"{src_ds}@{tag}")
                raise
        self._ps_update(new_replica["id"], {
            "entity_type": "replica", "replica_type": "readable", "dataset_name": dst_ds,
            "pool_name": dst_ds.split("/")[0], "repl_snapshot_tag": tag})
        return {
            "export_locations": own.export_locations(dst_ds),
            "replica_state": constants.REPLICA_STATE_IN_SYNC,
            "access_rules_status": constants.STATUS_ACTIVE,
        }

    def _sync_replica(
        self,
        replica_list: Sequence[Mapping[str, Any]],
        replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]] | None,
    ) -> str:
        """Send what changed on the active replica since the replica's last sync; return its new state."""
        active = self._active(replica_list)
        src, src_ds = self._replica_site(active)
        dst, dst_ds = self._replica_site(replica)
        prev = self._ps_get(replica["id"], "repl_snapshot_tag")
        if not prev:
            LOG.error("replica %s has no replication base snapshot; it needs re-creating", replica["id"])
            return OUT_OF_SYNC
        tag = time_tag(self._repl_prefix, replica["id"])
        with self._locks.hold(self._key(src, src_ds), self._key(dst, dst_ds)):
            try:
                src.zfs.snapshot(f"{src_ds}@{tag}")
                transfer(src.zfs, f"{src_ds}@{tag}", dst.zfs, dst_ds, incremental_from=f"@{prev}", force=True)
            except ZFSError as exc:
                LOG.warning("sync of replica %s from %s failed: %s", replica["id"], src_ds, exc)
                with contextlib.suppress(ZFSError):
                    src.zfs.destroy(f"{src_ds}@{tag}")
                return OUT_OF_SYNC
            self._ps_update(replica["id"], {"repl_snapshot_tag": tag})
            self._secure_replica(dst, dst_ds, active["size"], access_rules)
            keep = self._replication_refs(replica_list) | {tag}
            self._prune(src, src_ds, keep)
            self._prune(dst, dst_ds, keep)
        return IN_SYNC

    @_zfs_errors
    def update_replica_state(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> str:
        """Incremental sync from the active replica; ``in_sync`` or ``out_of_sync``."""
        _no_share_server(share_server)
        return self._sync_replica(replica_list, replica, access_rules)

    @_zfs_errors
    def delete_replica(
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        replica: Mapping[str, Any],
        share_server: Any = None,
    ) -> None:
        """Destroy exactly the replica's dataset (with its snapshots); absent is fine."""
        _no_share_server(share_server)
        own = self.own
        dataset = self._dataset(replica, own)
        with self._locks.hold(self._key(own, dataset)):
            self._destroy_share_dataset(own, dataset)
        self._ps_delete(replica["id"])

    @_zfs_errors
    def promote_replica(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        share_server: Any = None,
        quiesce_wait_time: Any = None,
    ) -> list[dict[str, Any]]:
        """Make ``replica`` the active one; the old active really becomes ``readonly=on`` and read-only.

        The old active is frozen, snapshotted and sent to every secondary (so nothing written before the
        switch is lost), then the promoted replica is made writable with the share's rules. If the old
        active cannot be reached (frozen) it is reported ``out_of_sync`` and the promotion still happens; its
        next sync starts from the promoted replica's base. If it was frozen but the promoted replica cannot
        get the final sync, the old active is made writable again and ReplicationException is raised.
        """
        _no_share_server(share_server)
        active = self._active(replica_list)
        src, src_ds = self._replica_site(active)
        own = self.own
        new_ds = self._dataset(replica, own)
        updates: dict[str, dict[str, Any]] = {
            r["id"]: {"id": r["id"], "access_rules_status": constants.SHARE_INSTANCE_RULES_SYNCING}
            for r in replica_list
        }
        secondaries = [r for r in replica_list if r["id"] != active["id"]]
        try:
            with self._locks.hold(self._key(src, src_ds)):
                src.zfs.set(src_ds, {"readonly": "on"})
                good, _ = self._access_rules(access_rules, src.nfs)
                src.nfs.apply(src_ds, good, read_only=True)
                tag = time_tag(self._repl_prefix, active["id"])
                src.zfs.snapshot(f"{src_ds}@{tag}")
            updates[active["id"]].update(replica_state=constants.REPLICA_STATE_IN_SYNC,
                                         access_rules_status=constants.STATUS_ACTIVE)
            self._ps_update(active["id"], {"repl_snapshot_tag": tag})
            for repl in secondaries:
                dst, dst_ds = self._replica_site(repl)
                prev = self._ps_get(repl["id"], "repl_snapshot_tag")
                try:
                    if not prev:
                        raise UnsupportedOperation(f"replica {repl['id']} has no replication base")
                    with self._locks.hold(self._key(src, src_ds), self._key(dst, dst_ds)):
                        transfer(src.zfs, f"{src_ds}@{tag}", dst.zfs, dst_ds, incremental_from=f"@{prev}",
                                 force=True)
                except ZFSError as exc:
                    LOG.warning("final sync of replica %s before promotion failed: %s", repl["id"], exc)
                    if repl["id"] == replica["id"]:
                        # Promoting it would lose what the reachable old active has and it lacks: give the
                        # old active its writes back and fail, so that Manila keeps the roles (retry later).
                        self._unfreeze(src, src_ds, access_rules)
                        raise exception.ReplicationException(
                            reason=f"replica {repl['id']} could not get the old active's last changes, so it "
                                   f"was not promoted (the old active stays active): {exc}") from exc
                    updates[repl["id"]]["replica_state"] = constants.REPLICA_STATE_OUT_OF_SYNC
                    continue
                self._ps_update(repl["id"], {"repl_snapshot_tag": tag})
                updates[repl["id"]]["replica_state"] = constants.REPLICA_STATE_IN_SYNC
        except ZFSError as exc:
            LOG.warning("old active replica %s could not be frozen and synced: %s", active["id"], exc)
            updates[active["id"]]["replica_state"] = constants.REPLICA_STATE_OUT_OF_SYNC
            # Its later resync from the new active starts at the last snapshot the two are known to share.
            base = self._ps_get(replica["id"], "repl_snapshot_tag")
            if base:
                self._ps_update(active["id"], {"repl_snapshot_tag": base})
            for repl in secondaries:
                updates[repl["id"]].setdefault("replica_state", constants.REPLICA_STATE_OUT_OF_SYNC)
        with self._locks.hold(self._key(own, new_ds)):
            own.zfs.set(new_ds, {"readonly": "off"})
            good, _ = self._access_rules(access_rules, own.nfs)
            own.nfs.apply(new_ds, good)
        updates[replica["id"]].update(replica_state=constants.REPLICA_STATE_ACTIVE,
                                      access_rules_status=constants.STATUS_ACTIVE)
        return list(updates.values())

    def _unfreeze(self, backend: Backend, dataset: str, rules: Sequence[Mapping[str, Any]]) -> None:
        """Best effort: make an active replica that a failed promotion froze writable again, with its rules."""
        try:
            with self._locks.hold(self._key(backend, dataset)):
                backend.zfs.set(dataset, {"readonly": "off"})
                good, _ = self._access_rules(rules, backend.nfs)
                backend.nfs.apply(dataset, good)
        except ZFSError as exc:
            LOG.warning("could not make %s writable again after the failed promotion: %s", dataset, exc)

    def _snapshot_tag_of(self, replica_list: Sequence[Mapping[str, Any]],
                         replica_snapshots: Sequence[Mapping[str, Any]], backend: Backend) -> str:
        active = self._active(replica_list)
        snapshot_id = replica_snapshots[0]["snapshot_id"]
        recorded = self._ps_get(snapshot_id, "snapshot_tag")
        if recorded:
            return str(recorded)
        for inst in replica_snapshots:
            if inst["share_instance_id"] == active["id"]:
                return backend.layout.snapshot_tag(inst["id"])
        raise exception.ReplicationException(reason="no snapshot instance on the active replica")

    @_zfs_errors
    def create_replicated_snapshot(
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> list[dict[str, Any]]:
        """Snapshot the active replica, then send it to every secondary; one status per instance."""
        _no_share_server(share_server)
        active = self._active(replica_list)
        src, src_ds = self._replica_site(active)
        tag = self._snapshot_tag_of(replica_list, replica_snapshots, src)
        repl_tag = time_tag(self._repl_prefix, active["id"])
        with self._locks.hold(self._key(src, src_ds)):
            src.zfs.snapshot(f"{src_ds}@{tag}")
            src.zfs.snapshot(f"{src_ds}@{repl_tag}")
        self._ps_update(replica_snapshots[0]["snapshot_id"], {"entity_type": "snapshot", "snapshot_tag": tag})
        replicas = {r["id"]: r for r in replica_list}
        out: list[dict[str, Any]] = []
        for inst in replica_snapshots:
            rid = inst["share_instance_id"]
            if rid == active["id"]:
                out.append({"id": inst["id"], "status": constants.STATUS_AVAILABLE,
                            "provider_location": f"{src_ds}@{tag}"})
                continue
            dst, dst_ds = self._replica_site(replicas[rid])
            prev = self._ps_get(rid, "repl_snapshot_tag")
            try:
                with self._locks.hold(self._key(src, src_ds), self._key(dst, dst_ds)):
                    transfer(src.zfs, f"{src_ds}@{repl_tag}", dst.zfs, dst_ds, incremental_from=f"@{prev}",
                             force=True)
            except ZFSError as exc:
                LOG.warning("snapshot %s not sent to replica %s: %s", tag, rid, exc)
                out.append({"id": inst["id"], "status": constants.STATUS_ERROR})
                continue
            self._ps_update(rid, {"repl_snapshot_tag": repl_tag})
            out.append({"id": inst["id"], "status": constants.STATUS_AVAILABLE,
                        "provider_location": f"{dst_ds}@{tag}"})
        return out

    @_zfs_errors
    def delete_replicated_snapshot(
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> list[dict[str, Any]]:
        """Destroy the snapshot on every replica that can be reached; confirmed ones are ``deleted``."""
        _no_share_server(share_server)
        replicas = {r["id"]: r for r in replica_list}
        active = self._active(replica_list)
        tag = self._snapshot_tag_of(replica_list, replica_snapshots, self._replica_site(active)[0])
        out: list[dict[str, Any]] = []
        for inst in replica_snapshots:
            backend, dataset = self._replica_site(replicas[inst["share_instance_id"]])
            name = f"{dataset}@{tag}"
            try:
                with self._locks.hold(self._key(backend, dataset)):
                    backend.zfs.destroy(name)
            except DatasetNotFound:
                pass
            except ZFSError as exc:
                LOG.warning("could not delete %s on %s: %s", name, backend.name, exc)
                out.append({"id": inst["id"]})
                continue
            out.append({"id": inst["id"], "status": constants.STATUS_DELETED})
        self._ps_delete(replica_snapshots[0]["snapshot_id"])
        return out

    @_zfs_errors
    def update_replicated_snapshot(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        share_replica: Mapping[str, Any],
        replica_snapshots: Sequence[Mapping[str, Any]],
        replica_snapshot: Mapping[str, Any],
        share_server: Any = None,
    ) -> dict[str, Any]:
        """Sync the replica, then report whether the snapshot exists on it.

        A snapshot in ``deleting`` that is gone raises SnapshotResourceNotFound, as Manila asks.
        """
        _no_share_server(share_server)
        state = self._sync_replica(replica_list, share_replica, None)
        own = self.own
        dataset = self._dataset(share_replica, own)
        tag = self._snapshot_tag_of(replica_list, replica_snapshots, own)
        name = f"{dataset}@{tag}"
        deleting = replica_snapshot.get("status") == constants.STATUS_DELETING
        exists = own.zfs.exists(name)
        if deleting:
            if exists:
                own.zfs.destroy(name)
            raise exception.SnapshotResourceNotFound(name=name)
        if exists:
            return {"id": replica_snapshot["id"], "status": constants.STATUS_AVAILABLE, "provider_location": name}
        if state != constants.REPLICA_STATE_IN_SYNC:
            return {"id": replica_snapshot["id"]}
        return {"id": replica_snapshot["id"], "status": constants.STATUS_ERROR}

    # -- migration ----------------------------------------------------------------------------------------

    @_zfs_errors
    def migration_check_compatibility(
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> dict[str, bool]:
        """Compatible when the destination backend runs this driver and has the destination pool."""
        _no_share_server(share_server or destination_share_server)
        compatible = False
        try:
            dest = self._backend_for_host(destination_share["host"])
            dest.layout.root_for_host(destination_share["host"])
            if dest is self.own:
                compatible = True
            else:
                mine = self.configuration.safe_get("share_driver")
                theirs = self._backend_configuration(dest.name).safe_get("share_driver")
                compatible = bool(mine) and mine == theirs
        except (exception.ManilaException, ValueError) as exc:
            LOG.info("migration to %s is not driver-assisted: %s", destination_share.get("host"), exc)
        return {"compatible": compatible, "writable": False, "preserve_metadata": True,
                "nondisruptive": False, "preserve_snapshots": False}

    def _run_migration(self, job: _Migration, dst: Backend, props: Mapping[str, object]) -> None:
        try:
            snap = self.own.zfs.get(job.source_snapshot, "referenced")
            job.total = _bytes(snap, "referenced")

            def progress(n: int) -> None:
                job.sent += n

            transfer(self.own.zfs, job.source_snapshot, dst.zfs, job.dst_dataset, properties=props,
                     progress=progress, cancel=job.cancel)
            job.received_props = dst.zfs.flavour.receive_properties
            job.done = True
        except BaseException as exc:
            job.error = exc
            LOG.warning("migration of %s to %s failed: %s", job.source_snapshot, job.dst_dataset, exc)

    @_zfs_errors
    def migration_start(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> None:
        """Snapshot the source and start streaming it to the destination in a background thread."""
        _no_share_server(share_server or destination_share_server)
        own = self.own
        src_ds = self._dataset(source_share, own)
        dst = self._backend_for_host(destination_share["host"])
        try:
            dst_ds = dst.layout.dataset(destination_share)
        except ValueError as exc:
            raise exception.InvalidShare(reason=str(exc)) from None
        tag = time_tag(self._migr_prefix, destination_share["id"])
        snapshot = f"{src_ds}@{tag}"
        with self._locks.hold(self._key(own, src_ds)):
            own.zfs.snapshot(snapshot)
        self._ps_update(source_share["id"], {"migr_snapshot_tag": tag})
        self._ps_update(destination_share["id"], {
            "entity_type": "share", "dataset_name": dst_ds, "pool_name": dst_ds.split("/")[0],
            "migr_snapshot_tag": tag})
        job = _Migration(source_snapshot=snapshot, dst_dataset=dst_ds)
        props = self._share_properties(destination_share)
        job.thread = threading.Thread(target=self._run_migration, args=(job, dst, props),
                                      name=f"pyzfsnas-migration-{destination_share['id']}", daemon=True)
        self._migrations[destination_share["id"]] = job
        job.thread.start()

    @_zfs_errors
    def migration_continue(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> bool:
        """True when the copy is complete, False while it runs; its error is raised."""
        job = self._migrations.get(destination_share["id"])
        if job is None:
            # manila-share restarted mid-migration: the copy is complete iff its snapshot reached the
            # destination.
            dst = self._backend_for_host(destination_share["host"])
            dst_ds = self._dataset(destination_share, dst)
            tag = self._ps_get(destination_share["id"], "migr_snapshot_tag")
            if tag and dst.zfs.exists(f"{dst_ds}@{tag}"):
                return True
            raise exception.ZFSonLinuxException(
                msg=f"no migration of {source_share['id']} is running and {dst_ds} is incomplete")
        if job.error is not None:
            raise exception.ZFSonLinuxException(msg=f"migration failed: {job.error}")
        return job.done

    def migration_get_progress(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> dict[str, int]:
        """``{'total_progress': 0..100}`` from the bytes streamed so far against the snapshot's size."""
        job = self._migrations.get(destination_share["id"])
        if job is None or job.done:
            return {"total_progress": 100 if job is None or job.done else 0}
        if not job.total:
            return {"total_progress": 0}
        return {"total_progress": min(99, int(100 * job.sent / job.total))}

    @_zfs_errors
    def migration_complete(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> dict[str, Any]:
        """Finish on the destination, delete the source; return the *destination's* export locations."""
        job = self._migrations.pop(destination_share["id"], None)
        if job is not None and job.thread is not None:
            job.thread.join()
            if job.error is not None:
                raise exception.ZFSonLinuxException(msg=f"migration failed: {job.error}")
        dst = self._backend_for_host(destination_share["host"])
        dst_ds = self._dataset(destination_share, dst)
        tag = self._ps_get(destination_share["id"], "migr_snapshot_tag")
        with self._locks.hold(self._key(dst, dst_ds)):
            if tag:
                with contextlib.suppress(DatasetNotFound):
                    dst.zfs.destroy(f"{dst_ds}@{tag}")
            if job is None or not job.received_props:
                dst.zfs.set(dst_ds, self._share_properties(destination_share))
            mountpoint = dst.zfs.get(dst_ds, "mountpoint").raw("mountpoint") or ""
        self.delete_share(context, source_share)
        return {"export_locations": dst.layout.export_locations(mountpoint)}

    @_zfs_errors
    def migration_cancel(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> None:
        """Stop the copy (between chunks), then remove the migration snapshot and the destination dataset."""
        job = self._migrations.pop(destination_share["id"], None)
        if job is not None:
            job.cancel.set()
            if job.thread is not None:
                job.thread.join()
            if job.error is not None and not isinstance(job.error, TransferCancelled):
                LOG.info("cancelled migration had failed already: %s", job.error)
        own = self.own
        src_ds = self._dataset(source_share, own)
        tag = self._ps_get(destination_share["id"], "migr_snapshot_tag")
        if tag:
            with self._locks.hold(self._key(own, src_ds)), contextlib.suppress(DatasetNotFound):
                own.zfs.destroy(f"{src_ds}@{tag}")
        dst = self._backend_for_host(destination_share["host"])
        dst_ds = self._dataset(destination_share, dst)
        with self._locks.hold(self._key(dst, dst_ds)):
            self._destroy_share_dataset(dst, dst_ds)
        self._ps_delete(destination_share["id"])
