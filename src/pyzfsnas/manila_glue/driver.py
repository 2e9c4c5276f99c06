"""The Manila share driver: a thin adapter from Manila's calls to :class:`pyzfsnas.shares.ShareService`.

``ZFSonLinuxShareDriver`` replaces ``manila.share.drivers.zfsonlinux.driver.ZFSonLinuxShareDriver`` by
changing only ``share_driver``: same options, operations, return shapes and exceptions. Each method turns
Manila's dicts into the service's values, calls the service, and turns the answer back into Manila's dicts;
:func:`_manila_error` is the one place where the service's errors become ``manila.exception`` ones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

from manila.share import configuration as manila_configuration
from manila.share import driver

from manila import exception
from pyzfsnas import __version__
from pyzfsnas.errors import ZFSError
from pyzfsnas.executors.base import Executor
from pyzfsnas.executors.factory import connect, ssh_spec
from pyzfsnas.manila_glue import options
from pyzfsnas.shares import errors as share_errors
from pyzfsnas.shares.layout import ExportLocation
from pyzfsnas.shares.service import Rule, ShareRef, ShareService, SnapshotRef
from pyzfsnas.shares.site import Options, Site, layout_from_options
from pyzfsnas.shares.values import AVAILABLE, ERROR
from pyzfsnas.zfs import ZFS

__all__ = ["ZFSonLinuxShareDriver"]

F = TypeVar("F", bound=Callable[..., Any])

#: Spec keys of a share type the service reads.
_SPEC_KEYS = ("dedupe", "zfsonlinux:compression")


def _manila_error(exc: Exception) -> Exception:
    """The ``manila.exception`` for an error of the service or the library (the one mapping)."""
    text = str(exc)
    out: Exception
    match exc:
        case share_errors.ConfigError():
            out = exception.BadConfigurationException(reason=text)
        case share_errors.InvalidRequest():
            out = exception.InvalidInput(reason=text)
        case share_errors.Unsupported():
            out = exception.InvalidShare(reason=text)
        case share_errors.ShareNotFound():
            out = exception.ShareResourceNotFound(share_id=exc.share_id)
        case share_errors.SnapshotNotFound():
            out = exception.SnapshotResourceNotFound(name=exc.name)
        case share_errors.ShrinkWouldLoseData():
            out = exception.ShareShrinkingPossibleDataLoss(share_id=exc.share_id)
        case share_errors.ManageRefused():
            out = exception.ManageInvalidShare(reason=text)
        case share_errors.SnapshotManageRefused():
            out = exception.ManageInvalidShareSnapshot(reason=text)
        case share_errors.ReplicationError():
            out = exception.ReplicationException(reason=text)
        case _:
            out = exception.ZFSonLinuxException(msg=text)
    return out


def _mapped(func: F) -> F:
    """Raise what :func:`_manila_error` makes of the service's and the library's errors."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (share_errors.ShareError, ZFSError) as exc:
            raise _manila_error(exc) from exc

    return cast(F, wrapper)


def _no_share_server(*servers: Any) -> None:
    for server in servers:
        if server:
            ident = server.get("id", server) if hasattr(server, "get") else server
            raise exception.InvalidInput(
                reason=f"Share server handling is not available, but share_server {ident!r} was provided. "
                       "Share networks must not be used with this driver.")


def _split_host(host: str | None) -> tuple[str, str]:
    """``(backend, pool)`` of a Manila host string ``host@backend#pool``; either may be empty."""
    name, _, pool = (host or "").partition("#")
    return name.partition("@")[2], pool


def _host_parts(host: str) -> tuple[str, str]:
    """``(backend, pool)`` of a Manila host string ``host@backend#pool``; InvalidShare unless both are there."""
    backend, pool = _split_host(host)
    if not backend or not pool:
        raise exception.InvalidShare(reason=f"host {host!r} is not 'host@backend#pool'")
    return backend, pool


def _specs(share: Mapping[str, Any]) -> dict[str, str]:
    if not share.get("share_type_id"):
        return {}
    from manila.share import share_types

    got = share_types.get_extra_specs_from_share(share) or {}
    return {k: str(got[k]) for k in _SPEC_KEYS if got.get(k)}


def _share(share: Mapping[str, Any], *, size: Any = None, specs: bool = False) -> ShareRef:
    """The service's view of a Manila share. ``specs`` reads its share type's extra specs (a database query),
    asked only where a dataset is created or adopted with them (create, manage, replica, migration)."""
    backend, pool = _host_parts(share["host"])
    return ShareRef(id=share["id"], backend=backend, pool=pool,
                    size=share.get("size") if size is None else size,
                    proto=str(share.get("share_proto") or "NFS"), specs=_specs(share) if specs else {},
                    replica_state=share.get("replica_state"))


def _snapshot(snapshot: Mapping[str, Any]) -> SnapshotRef:
    parent = snapshot.get("share_instance") or snapshot.get("share")
    if parent is None:
        raise exception.InvalidInput(reason=f"snapshot {snapshot.get('id')} carries no share instance")
    return SnapshotRef(id=snapshot["id"], snapshot_id=snapshot.get("snapshot_id") or snapshot["id"],
                       share=_share(parent), location=snapshot.get("provider_location") or None,
                       size=snapshot.get("size") or 1, deleting=snapshot.get("status") == "deleting")


def _rules(rules: Sequence[Mapping[str, Any]] | None) -> list[Rule]:
    return [Rule(id=str(r.get("access_id") or r.get("id")), type=str(r.get("access_type") or ""),
                 to=str(r.get("access_to") or ""), level=str(r.get("access_level") or "")) for r in rules or ()]


def _locations(locations: Sequence[ExportLocation]) -> list[dict[str, Any]]:
    return [{"path": loc.path, "is_admin_only": loc.admin, "metadata": {}} for loc in locations]


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
    #: A backup can be restored into another share than its own (receive and swap).
    restore_to_target_support: bool

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
        self._service: ShareService | None = None
        self.ipv6_implemented = True
        self.restore_to_target_support = True

    # -- setup --------------------------------------------------------------------------------------------

    @property
    def service(self) -> ShareService:
        """The share service of this backend (after do_setup)."""
        if self._service is None:
            raise exception.ZFSonLinuxException(msg="driver used before do_setup")
        return self._service

    def _group(self) -> str:
        return str(self.configuration.config_group or self.backend_name)

    def _ssh_executor(self, conf: Any, address: str) -> Executor:
        """The executor of the host at ``address``, from the backend's ``zfs_ssh_*`` options (one factory)."""
        spec = ssh_spec(address, username=conf.safe_get("zfs_ssh_username"),
                        port=conf.safe_get("zfs_ssh_port") or 22)
        return connect(
            spec,
            key_filename=conf.safe_get("zfs_ssh_private_key_path"),
            password=conf.safe_get("zfs_ssh_user_password"),
            known_hosts=conf.safe_get("zfs_ssh_known_hosts_file"),
            accept_unknown_host_keys=bool(conf.safe_get("zfs_ssh_accept_unknown_host_keys")),
            prefix=tuple(conf.safe_get("zfs_command_prefix") or ()),
        )

    def _own_executor(self) -> Executor:
        conf = self.configuration
        if self._executor is not None:
            return self._executor
        if conf.safe_get("zfs_use_ssh"):
            if not conf.safe_get("zfs_ssh_username"):
                raise share_errors.ConfigError("zfs_use_ssh is set but zfs_ssh_username is not")
            if not (conf.safe_get("zfs_ssh_private_key_path") or conf.safe_get("zfs_ssh_user_password")):
                raise share_errors.ConfigError("zfs_use_ssh needs zfs_ssh_private_key_path or zfs_ssh_user_password")
            return self._ssh_executor(conf, conf.zfs_service_ip)
        return connect("local", prefix=tuple(conf.safe_get("zfs_command_prefix") or ()))

    def _remote_zfs(self, conf: Any, address: str) -> ZFS:
        """A facade on another host: ``executor_factory(address)``, else SSH with ``conf``'s options."""
        executor = (self._executor_factory(address) if self._executor_factory is not None
                    else self._ssh_executor(conf, address))
        return ZFS(executor)

    def _peer(self, name: str) -> Site:
        """Another backend's site, from its stanza in manila.conf (replication, migration)."""
        conf = self._backend_configuration(name)
        zfs = self._remote_zfs(conf, conf.zfs_service_ip)
        try:
            return Site.from_options(name, conf.safe_get, zfs)
        except share_errors.ConfigError as exc:
            raise share_errors.ConfigError(f"[{name}] {exc}") from None

    def _connect(self, address: str) -> ZFS:
        """A facade on the host at ``address`` (the backup target), reached like a peer's host."""
        return self._remote_zfs(self.configuration, address)

    def _backend_configuration(self, backend_name: str) -> Any:
        config = manila_configuration.Configuration(driver.share_opts, config_group=backend_name)
        config.append_config_values(options.ZFSONLINUX_OPTS)
        config.append_config_values(options.PYZFSNAS_OPTS)
        if not config.safe_get("zfs_zpool_list") or not config.safe_get("zfs_service_ip"):
            raise share_errors.BackendNotConfigured(
                f"backend stanza [{backend_name}] is missing or is not a ZFS backend (it needs "
                "zfs_zpool_list and zfs_service_ip); replication and migration read it")
        return config

    def do_setup(self, context: Any) -> None:
        """Check the configuration, connect to the ZFS host and cache the root datasets' mountpoints."""
        super().do_setup(context)
        get = self.configuration.safe_get
        try:
            opts = Options.from_options(get)
            layout = layout_from_options(get)
            zfs = ZFS(self._own_executor())
            service = ShareService(Site(self._group(), zfs, layout, opts.helper), opts, self.private_storage,
                                   self._peer, self._connect)
            service.setup()
        except (share_errors.ShareError, ZFSError) as exc:
            raise exception.BadConfigurationException(reason=f"[{self._group()}] {exc}") from exc
        self._service = service

    @_mapped
    def check_for_setup_error(self) -> None:
        """Fail clearly when do_setup did not complete or the host lost a configured root."""
        if self._service is None:
            raise share_errors.ConfigError(f"[{self._group()}] do_setup has not completed")
        site = self._service.site
        if set(site.mountpoints) != set(site.layout.roots.values()):
            raise share_errors.ConfigError(f"[{self._group()}] the mountpoints of zfs_zpool_list could not all be read")

    def get_network_allocations_number(self) -> int:
        """ZFS does not handle networking."""
        return 0

    # -- shares -------------------------------------------------------------------------------------------

    @_mapped
    def create_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> list[dict[str, Any]]:
        """One ``zfs create -o quota=... -o readonly=off -o sharenfs=off ...``; returns export locations."""
        _no_share_server(share_server)
        return _locations(self.service.create_share(_share(share, specs=True)))

    @_mapped
    def delete_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> None:
        """``zfs destroy -r`` of exactly the share's dataset; an absent dataset is not an error."""
        _no_share_server(share_server)
        self.service.delete_share(_share(share))

    def get_pool(self, share: Mapping[str, Any]) -> str | None:
        """The Manila pool (zpool name) of a share; None when its host names none (Manila asks exactly then)."""
        return _split_host(share.get("host"))[1] or None

    @_mapped
    def ensure_share(self, context: Any, share: Mapping[str, Any], share_server: Any = None) -> list[dict[str, Any]]:
        """Export locations of an existing share (one ``zfs get``); ShareResourceNotFound when absent."""
        _no_share_server(share_server)
        return _locations(self.service.ensure_share(_share(share)))

    @_mapped
    def get_backend_info(self, context: Any) -> dict[str, str]:
        """What export locations and exports depend on; Manila re-runs ensure_shares when it changes."""
        return self.service.backend_info()

    @_mapped
    def ensure_shares(self, context: Any, shares: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
        """Check all shares with one ``zfs get``; report locations and status per share."""
        refs = []
        for s in shares:
            try:
                refs.append(_share(s))
            except exception.InvalidShare:
                refs.append(ShareRef(id=s["id"], backend="", pool=""))
        found = self.service.ensure_shares(refs)
        return {sid: {"status": st.status, "export_locations": _locations(st.locations),
                      "reapply_access_rules": st.reapply_rules} for sid, st in found.items()}

    @_mapped
    def extend_share(self, share: Mapping[str, Any], new_size: int, share_server: Any = None) -> None:
        """``zfs set quota=<new_size GiB>``."""
        _no_share_server(share_server)
        self.service.resize(_share(share), new_size)

    @_mapped
    def shrink_share(self, share: Mapping[str, Any], new_size: int, share_server: Any = None) -> None:
        """``zfs set quota=<new_size GiB>``; ZFS refuses a quota below the space used (nothing changes)."""
        _no_share_server(share_server)
        self.service.resize(_share(share), new_size)

    @_mapped
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
        """Make ``access_rules`` exactly the exports (bulk, one write); bad rules come back in ``error``."""
        _no_share_server(share_server)
        rules = _rules(access_rules)
        rejected = self.service.update_access(_share(share), rules)
        return {rid: {"state": ERROR, "access_key": None} for rid in rejected} or None

    # -- manage / unmanage --------------------------------------------------------------------------------

    @_mapped
    def manage_existing(self, share: Mapping[str, Any], driver_options: Mapping[str, Any]) -> dict[str, Any]:
        """Rename an existing dataset to the share's name, set its quota; return size and locations."""
        locations = share.get("export_locations") or []
        if not locations:
            raise exception.ManageInvalidShare(reason="no export location names the dataset to manage")
        size, locs = self.service.manage(_share(share, size=1, specs=True), str(locations[0]["path"]),
                                         (driver_options or {}).get("size"))
        return {"size": size, "export_locations": _locations(locs)}

    def unmanage(self, share: Mapping[str, Any]) -> None:
        """Forget the share; the dataset stays."""
        if self._service is not None:
            self._service.unmanage(_share(share))

    @_mapped
    def manage_existing_snapshot(
        self, snapshot: Mapping[str, Any], driver_options: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Rename ``provider_location`` (``dataset@tag`` of the share's dataset) to the driver's tag."""
        size, name = self.service.manage_snapshot(_snapshot(snapshot), (driver_options or {}).get("size"))
        return {"size": size, "provider_location": name}

    def unmanage_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Forget the snapshot; it stays on the host."""
        if self._service is not None:
            self._service.unmanage_snapshot(_snapshot(snapshot))

    # -- snapshots ----------------------------------------------------------------------------------------

    @_mapped
    def create_snapshot(self, context: Any, snapshot: Mapping[str, Any], share_server: Any = None) -> dict[str, Any]:
        """``zfs snapshot dataset@<prefix><snapshot instance id>``; returns ``provider_location``."""
        _no_share_server(share_server)
        snap = _snapshot(snapshot)
        parent = snapshot.get("share_instance") or snapshot.get("share") or {}
        if parent.get("mount_snapshot_support"):
            name, locations = self.service.create_mountable_snapshot(snap)
            return {"provider_location": name, "export_locations": _locations(locations)}
        return {"provider_location": self.service.create_snapshot(snap)}

    @_mapped
    def snapshot_update_access(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        snapshot: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        add_rules: Sequence[Mapping[str, Any]],
        delete_rules: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> None:
        """Make ``access_rules`` exactly the read-only exports of a mountable snapshot."""
        _no_share_server(share_server)
        self.service.snapshot_access(_snapshot(snapshot), _rules(access_rules))

    @_mapped
    def delete_snapshot(self, context: Any, snapshot: Mapping[str, Any], share_server: Any = None) -> None:
        """``zfs destroy dataset@tag``; an absent snapshot is not an error."""
        _no_share_server(share_server)
        self.service.delete_snapshot(_snapshot(snapshot))

    @_mapped
    def create_share_from_snapshot(
        self,
        context: Any,
        share: Mapping[str, Any],
        snapshot: Mapping[str, Any],
        share_server: Any = None,
        parent_share: Any = None,
    ) -> dict[str, Any]:
        """Copy the snapshot into an independent dataset (send/receive); ``{'status', 'export_locations'}``."""
        _no_share_server(share_server)
        locations = self.service.create_share_from_snapshot(_share(share, specs=True), _snapshot(snapshot))
        return {"status": AVAILABLE, "export_locations": _locations(locations)}

    @_mapped
    def revert_to_snapshot(
        self,
        context: Any,
        snapshot: Mapping[str, Any],
        share_access_rules: Any,
        snapshot_access_rules: Any,
        share_server: Any = None,
    ) -> int:
        """``zfs rollback`` to the share's latest snapshot; quota and returned size are the snapshot's size."""
        _no_share_server(share_server)
        snap = _snapshot(snapshot)
        self.service.revert_to_snapshot(snap, snap.size)
        return int(snap.size)

    # -- share groups -------------------------------------------------------------------------------------

    @_mapped
    def create_share_group_snapshot(self, context: Any, snap_dict: Mapping[str, Any],
                                    share_server: Any = None) -> tuple[None, list[dict[str, Any]] | None]:
        """One atomic ``zfs snapshot`` per pool for the whole group (where the host can); member locations."""
        _no_share_server(share_server)
        members = snap_dict.get("share_group_snapshot_members") or []
        if not members:
            return None, None
        refs = [SnapshotRef(id=m["id"], snapshot_id=m["id"], share=_share(m["share"])) for m in members]
        names = self.service.create_group_snapshot(snap_dict["id"], refs)
        return None, [{"id": mid, "provider_location": name, "status": AVAILABLE} for mid, name in names.items()]

    # -- usage, metadata, status ----------------------------------------------------------------------------

    @_mapped
    def update_share_usage_size(self, context: Any, shares: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """``used_size`` (GiB, fractional) of every share, read with one ``zfs get``."""
        from oslo_utils import timeutils

        refs = {s["id"]: _share(s) for s in shares}
        used = self.service.usage(list(refs.values()))
        now = timeutils.utcnow()
        return [{"id": sid, "used_size": nbytes / (1 << 30), "gathered_at": now}
                for sid, nbytes in used.items()]

    @_mapped
    def get_share_status(self, share: Mapping[str, Any], share_server: Any = None) -> dict[str, Any]:
        """``{'status': 'available'|'error', 'export_locations': [...]}`` from the host."""
        try:
            locations = self.service.ensure_share(_share(share))
        except share_errors.ShareNotFound:
            return {"status": ERROR}
        return {"status": AVAILABLE, "export_locations": _locations(locations)}

    # -- backups ------------------------------------------------------------------------------------------

    @_mapped
    def create_backup(self, context: Any, share_instance: Mapping[str, Any], backup: Mapping[str, Any],
                      share_server: Any = None) -> None:
        """Send a snapshot of the share to ``zfs_backup_dataset`` (incremental after the first backup)."""
        _no_share_server(share_server)
        self.service.create_backup(_share(share_instance), backup["id"])

    @_mapped
    def create_backup_continue(self, context: Any, share_instance: Mapping[str, Any], backup: Mapping[str, Any],
                               share_server: Any = None) -> dict[str, str]:
        """``{'total_progress': '100'}`` once the backup is on the target (it is made in one call)."""
        return {"total_progress": str(self.service.backup_progress(backup["id"]))}

    @_mapped
    def delete_backup(self, context: Any, backup: Mapping[str, Any], share_instance: Mapping[str, Any],
                      share_server: Any = None) -> None:
        """Destroy the backup on the target and its snapshot on the share."""
        self.service.delete_backup(backup["id"], _share(share_instance) if share_instance else None)

    @_mapped
    def restore_backup(self, context: Any, backup: Mapping[str, Any], share_instance: Mapping[str, Any],
                       share_server: Any = None) -> None:
        """Make the share's content the backup's (rollback into the original, else receive and swap)."""
        _no_share_server(share_server)
        self.service.restore_backup(backup["id"], _share(share_instance))

    def restore_backup_continue(self, context: Any, backup: Mapping[str, Any],
                                share_instance: Mapping[str, Any], share_server: Any = None) -> dict[str, str]:
        """``{'total_progress': '100'}``: a restore completes within ``restore_backup``."""
        return {"total_progress": "100"}

    @_mapped
    def update_share_from_metadata(self, context: Any, share: Mapping[str, Any], metadata: Mapping[str, Any],
                                   share_server: Any = None) -> None:
        """Set the ZFS properties named by ``zfs:*`` metadata keys (see ``METADATA_PROPERTIES``)."""
        _no_share_server(share_server)
        self.service.apply_metadata(_share(share), metadata or {})

    # -- stats --------------------------------------------------------------------------------------------

    def get_configured_ip_versions(self) -> list[int]:
        """Exactly the IP versions of the export locations that the NFS backend can serve."""
        if self._service is None:
            return [4]
        return self._service.ip_versions() or [4]

    @_mapped
    def _update_share_stats(self, data: Mapping[str, Any] | None = None) -> None:
        """Backend and per-pool capacities (one ``zfs get used,available`` over the roots) and capabilities."""
        opts = self.service.options
        stats: dict[str, Any] = {
            "share_backend_name": self.backend_name,
            "storage_protocol": "NFS",
            "vendor_name": "pyzfsnas",
            "driver_version": __version__,
            "driver_name": "ZFS",
            "reserved_percentage": opts.reserved_percentage,
            "reserved_snapshot_percentage": opts.reserved_snapshot_percentage,
            "reserved_share_extend_percentage": opts.reserved_extend_percentage,
            "snapshot_support": True,
            "create_share_from_snapshot_support": True,
            "revert_to_snapshot_support": True,
            "mount_snapshot_support": True,
            "pools": self.service.pools(),
        }
        if self.replication_domain:
            stats["replication_type"] = "readable"
        stats["share_group_stats"] = {
            "consistent_snapshot_support": "pool" if self.service.consistent_group_snapshots() else None}
        stats.update(data or {})
        super()._update_share_stats(stats)

    # -- replication --------------------------------------------------------------------------------------

    @staticmethod
    def _replicas(replica_list: Sequence[Mapping[str, Any]]) -> list[ShareRef]:
        return [_share(r) for r in replica_list]

    @_mapped
    def create_replica(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        new_replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> dict[str, Any]:
        """Full ``send -R`` of a fresh snapshot of the active replica; per-rule states for its rules."""
        _no_share_server(share_server)
        rules = _rules(access_rules)
        new = _share(new_replica, specs=True)
        locations, rejected = self.service.create_replica(self._replicas(replica_list), new, rules)
        out: dict[str, Any] = {
            "export_locations": _locations(locations),
            "replica_state": "in_sync",
            "access_rules_status": ERROR if rejected else "active",
        }
        if rejected:
            # The manager writes these states rule by rule (a rule it is not told about becomes active).
            out["share_access_rules"] = [{"id": r.id, "state": ERROR if r.id in rejected else "active"}
                                         for r in rules]
        return out

    @_mapped
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
        return self.service.sync_replica(self._replicas(replica_list), _share(replica), _rules(access_rules))

    @_mapped
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
        self.service.delete_replica(_share(replica))

    @_mapped
    def promote_replica(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica: Mapping[str, Any],
        access_rules: Sequence[Mapping[str, Any]],
        share_server: Any = None,
        quiesce_wait_time: Any = None,
    ) -> list[dict[str, Any]]:
        """Make ``replica`` the active one (see :meth:`ShareService.promote_replica`)."""
        _no_share_server(share_server)
        return self.service.promote_replica(self._replicas(replica_list), _share(replica), _rules(access_rules))

    @_mapped
    def create_replicated_snapshot(
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> list[dict[str, Any]]:
        """Snapshot the active replica, then send it to every secondary; one status per instance."""
        _no_share_server(share_server)
        return self.service.create_replicated_snapshot(self._replicas(replica_list),
                                                       self._replica_snapshots(replica_list, replica_snapshots))

    @staticmethod
    def _replica_snapshots(replica_list: Sequence[Mapping[str, Any]],
                           snapshots: Sequence[Mapping[str, Any]]) -> list[SnapshotRef]:
        by_id = {r["id"]: r for r in replica_list}
        out = []
        for s in snapshots:
            parent = s.get("share_instance") or by_id.get(s["share_instance_id"])
            out.append(_snapshot({**s, "share_instance": parent}))
        return out

    @_mapped
    def delete_replicated_snapshot(
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_server: Any = None,
    ) -> list[dict[str, Any]]:
        """Destroy the snapshot on every replica that can be reached; confirmed ones are ``deleted``."""
        _no_share_server(share_server)
        return self.service.delete_replicated_snapshot(self._replicas(replica_list),
                                                       self._replica_snapshots(replica_list, replica_snapshots))

    @_mapped
    def update_replicated_snapshot(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        replica_list: Sequence[Mapping[str, Any]],
        share_replica: Mapping[str, Any],
        replica_snapshots: Sequence[Mapping[str, Any]],
        replica_snapshot: Mapping[str, Any],
        share_server: Any = None,
    ) -> dict[str, Any]:
        """Sync the replica, then report whether the snapshot exists on it."""
        _no_share_server(share_server)
        snaps = self._replica_snapshots(replica_list, replica_snapshots)
        this = self._replica_snapshots(replica_list, [replica_snapshot])[0]
        return self.service.update_replicated_snapshot(self._replicas(replica_list), _share(share_replica),
                                                       snaps, this)

    @_mapped
    def revert_to_replicated_snapshot(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        active_replica: Mapping[str, Any],
        replica_list: Sequence[Mapping[str, Any]],
        active_replica_snapshot: Mapping[str, Any],
        replica_snapshots: Sequence[Mapping[str, Any]],
        share_access_rules: Any,
        snapshot_access_rules: Any,
        share_server: Any = None,
    ) -> None:
        """Roll every replica back to the snapshot; the quota becomes the snapshot's size."""
        _no_share_server(share_server)
        snaps = self._replica_snapshots(replica_list, replica_snapshots)
        size = active_replica_snapshot.get("size") or 1
        self.service.revert_replicated(self._replicas(replica_list), snaps, size)

    # -- migration ----------------------------------------------------------------------------------------

    @_mapped
    def migration_check_compatibility(
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> dict[str, bool]:
        """Compatible when the destination backend runs this driver and has the destination pool."""
        _no_share_server(share_server, destination_share_server)
        compatible = False
        try:
            dest = _share(destination_share, specs=True)
            compatible = self.service.migration_compatible(dest)
            if compatible and dest.backend != self.service.site.name:
                mine = self.configuration.safe_get("share_driver")
                theirs = self._backend_configuration(dest.backend).safe_get("share_driver")
                compatible = bool(mine) and mine == theirs
        except (exception.ManilaException, share_errors.ShareError):
            compatible = False
        return {"compatible": compatible, "writable": False, "preserve_metadata": True,
                "nondisruptive": False, "preserve_snapshots": False}

    @_mapped
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
        _no_share_server(share_server, destination_share_server)
        self.service.migration_start(_share(source_share), _share(destination_share, specs=True))

    @_mapped
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
        return self.service.migration_continue(_share(source_share), _share(destination_share, specs=True))

    @_mapped
    def migration_get_progress(  # noqa: PLR0917 - Manila's signature
        self,
        context: Any,
        source_share: Mapping[str, Any],
        destination_share: Mapping[str, Any],
        source_snapshots: Any,
        snapshot_mappings: Any,
        share_server: Any = None,
        destination_share_server: Any = None,
    ) -> dict[str, Any]:
        """``{'total_progress': 0..100}``; after a restart, only what the destination shows."""
        return self.service.migration_progress(_share(source_share), _share(destination_share, specs=True))

    @_mapped
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
        locations = self.service.migration_complete(_share(source_share), _share(destination_share, specs=True))
        return {"export_locations": _locations(locations)}

    @_mapped
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
        """Stop the copy, then remove the migration snapshot and the destination dataset."""
        self.service.migration_cancel(_share(source_share), _share(destination_share, specs=True))

