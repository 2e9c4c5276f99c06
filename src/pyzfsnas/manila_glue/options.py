"""Configuration options of the driver: upstream's ZFSonLinux options (same names, same meaning) plus ours.

Nothing is registered at import time and no option is ``required=True``: oslo.config raises
``RequiredOptError`` when a required option is read before the config file is parsed, and registering
upstream-named options in the global group could clash with Manila's own ZFSonLinux module. The driver
registers these lists in its backend's config group (``config_opts``) and checks the required ones itself in
``do_setup`` with a clear :class:`~manila.exception.BadConfigurationException`.
"""

from __future__ import annotations

from oslo_config import cfg, types

from pyzfsnas.shares.site import UPSTREAM_HELPER as _UPSTREAM_HELPER

__all__ = ["PYZFSNAS_OPTS", "UPSTREAM_HELPER", "ZFSONLINUX_OPTS", "list_opts"]

#: The value of ``zfs_share_helpers`` in upstream configurations; accepted and means "detect".
UPSTREAM_HELPER: str = _UPSTREAM_HELPER

ZFSONLINUX_OPTS: list[cfg.Opt] = [
    cfg.HostAddressOpt(
        "zfs_share_export_ip",
        help="IP address or host name added to the user-facing export location. Required (checked at "
             "setup)."),
    cfg.HostAddressOpt(
        "zfs_service_ip",
        help="IP address or host name added to the admin-facing export location; other backends reach "
             "this host's ZFS through it for replication and migration. Required (checked at setup)."),
    cfg.ListOpt(
        "zfs_zpool_list",
        help="Zpools (or nested datasets, 'pool/nested/ds') the backend may use; each is a Manila pool "
             "named after its zpool. Using the same zpool twice is a configuration error. Required."),
    cfg.ListOpt(
        "zfs_dataset_creation_options",
        default=[],
        help="Options applied at each dataset creation, e.g. compression=gzip,dedup=off. 'readonly', "
             "'quota', 'sharenfs' and 'sharesmb' are ignored: the driver owns them."),
    cfg.StrOpt(
        "zfs_dataset_name_prefix",
        default="manila_share_",
        help="Prefix of each share's dataset name."),
    cfg.StrOpt(
        "zfs_dataset_snapshot_name_prefix",
        default="manila_share_snapshot_",
        help="Prefix of each share snapshot's name."),
    cfg.BoolOpt(
        "zfs_use_ssh",
        default=False,
        help="Manage the ZFS host at zfs_service_ip over SSH instead of locally."),
    cfg.StrOpt(
        "zfs_ssh_username",
        help="SSH user for the ZFS host (zfs_use_ssh) and for other backends reaching it."),
    cfg.StrOpt(
        "zfs_ssh_user_password",
        secret=True,
        help="Password of zfs_ssh_username (zfs_use_ssh)."),
    cfg.StrOpt(
        "zfs_ssh_private_key_path",
        help="Private key of zfs_ssh_username (zfs_use_ssh)."),
    cfg.Opt(
        "zfs_share_helpers",
        type=types.Dict(key_value_separator="="),
        default={"NFS": UPSTREAM_HELPER},
        help="Share helpers per protocol. For NFS: upstream's NFSviaZFSHelper class path or 'auto' "
             "(detect kernel OpenZFS or zfs-fuse), 'kernel', 'zfs-fuse', 'exportfs', or a pyzfsnas.nfs "
             "backend class path."),
    cfg.StrOpt(
        "zfs_replica_snapshot_prefix",
        default="tmp_snapshot_for_replication_",
        help="Prefix of the snapshots made by replication."),
    cfg.StrOpt(
        "zfs_migration_snapshot_prefix",
        default="tmp_snapshot_for_share_migration_",
        help="Prefix of the snapshots made by migration."),
]

PYZFSNAS_OPTS: list[cfg.Opt] = [
    cfg.ListOpt(
        "zfs_share_export_ips",
        item_type=types.HostAddress(),
        default=[],
        help="More user-facing export addresses besides zfs_share_export_ip, e.g. an IPv6 one beside an "
             "IPv4 one; each becomes an export location (pyzfsnas)."),
    cfg.PortOpt(
        "zfs_ssh_port",
        default=22,
        help="SSH port of the ZFS host (pyzfsnas)."),
    cfg.StrOpt(
        "zfs_ssh_known_hosts_file",
        help="known_hosts file used to check the ZFS host's SSH key (pyzfsnas; default: the user's)."),
    cfg.BoolOpt(
        "zfs_ssh_accept_unknown_host_keys",
        default=False,
        help="Accept SSH host keys that are not in known_hosts (pyzfsnas; insecure, off by default)."),
    cfg.ListOpt(
        "zfs_command_prefix",
        default=[],
        help="Argv prefix for every command on the ZFS host, e.g. sudo,-n (pyzfsnas)."),
    cfg.StrOpt(
        "zfs_backup_dataset",
        help="Dataset that share backups are received into as ZFS send streams, e.g. backup/manila "
             "(pyzfsnas; empty: no backups). Each share gets one dataset per incremental chain below it."),
    cfg.HostAddressOpt(
        "zfs_backup_service_ip",
        help="Host holding zfs_backup_dataset, reached like another backend's host (SSH with the "
             "zfs_ssh_* options); empty: this backend's own host (pyzfsnas)."),
    cfg.StrOpt(
        "zfs_backup_snapshot_prefix",
        default="manila_backup_",
        help="Prefix of the snapshots that backups make (pyzfsnas)."),
    cfg.BoolOpt(
        "zfs_use_external_locks",
        default=False,
        help="Also take oslo.concurrency file locks per dataset, for several manila-share processes "
             "sharing one ZFS host (pyzfsnas; needs oslo_concurrency.lock_path)."),
]


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Options for ``oslo-config-generator`` (all belong in a backend stanza)."""
    return [(None, [*ZFSONLINUX_OPTS, *PYZFSNAS_OPTS])]
