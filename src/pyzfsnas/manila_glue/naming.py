"""Pure naming rules of the driver: Manila ids to dataset and snapshot names, and export locations.

No I/O and no Manila import here, so the rules are easy to test and to reuse for another backend's layout
(replication and migration name the datasets of the *destination* backend with that backend's options).
Names are always built exactly; nothing in the driver ever matches dataset names by substring.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from pyzfsnas.commands import validate_dataset_name, validate_snapshot_name
from pyzfsnas.errors import InvalidName, InvalidProperty
from pyzfsnas.properties import NATIVE, Kind, canonical_name, parse_size, validate_property_value

__all__ = ["IGNORED_CREATION_OPTIONS", "Layout", "parse_creation_options", "pool_of_host", "time_tag"]

GIB = 1 << 30

#: Options of ``zfs_dataset_creation_options`` the driver owns and therefore ignores (exact names).
IGNORED_CREATION_OPTIONS: frozenset[str] = frozenset({"readonly", "quota", "sharenfs", "sharesmb"})


def pool_of_host(host: str) -> str:
    """The pool part of a Manila host string ``host@backend#pool`` (ValueError when absent)."""
    _, sep, pool = host.partition("#")
    if not sep or not pool:
        raise ValueError(f"host {host!r} names no pool (expected 'host@backend#pool')")
    return pool


def backend_of_host(host: str) -> str:
    """The backend (config group) part of ``host@backend#pool``."""
    name = host.split("#", 1)[0]
    _, sep, backend = name.partition("@")
    if not sep or not backend:
        raise ValueError(f"host {host!r} names no backend (expected 'host@backend#pool')")
    return backend


def parse_creation_options(options: Iterable[str]) -> dict[str, object]:
    """``["compression=gzip", "dedup=off"]`` into a dict, dropping the options the driver owns.

    A malformed item raises ValueError naming it. Keys are compared exactly: ``refquota`` is kept (upstream
    dropped every option *containing* ``quota``).
    """
    out: dict[str, object] = {}
    for item in options:
        text = item.strip()
        if not text:
            continue
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise ValueError(f"zfs_dataset_creation_options: {item!r} is not 'name=value'")
        key = canonical_name(key)
        if key in IGNORED_CREATION_OPTIONS:
            continue
        typed: object = value.strip()
        spec = NATIVE.get(key)
        if spec is not None and spec.kind in (Kind.SIZE, Kind.LIMIT) and typed != "none":
            try:
                typed = parse_size(str(typed))  # "5G" in the config; the facade wants bytes
            except ValueError:
                raise ValueError(f"zfs_dataset_creation_options: {item!r}: not a size") from None
        try:
            validate_property_value(key, typed)
        except InvalidProperty as exc:
            raise ValueError(f"zfs_dataset_creation_options: {item!r}: {exc}") from None
        out[key] = typed
    return out


def time_tag(prefix: str, entity_id: str, now: datetime | None = None) -> str:
    """A snapshot tag unique per entity and time: ``<prefix>_<id>_time_<UTC timestamp>``."""
    when = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%f")
    return f"{prefix}_{entity_id.replace('-', '_')}_time_{when}"


@attrs.frozen
class Layout:
    """How one backend names its datasets and builds its export locations (from its configuration)."""

    #: zpool name -> root dataset (the zpool itself or a nested dataset) from ``zfs_zpool_list``.
    roots: Mapping[str, str]
    share_prefix: str = "manila_share_"
    snapshot_prefix: str = "manila_share_snapshot_"
    export_ip: str = ""
    service_ip: str = ""

    @classmethod
    def from_config(cls, config: Any) -> Layout:
        """Build from a Manila ``Configuration``; ValueError says what is wrong."""
        entries = [e.strip().rstrip("/") for e in (config.safe_get("zfs_zpool_list") or []) if e.strip()]
        if not entries:
            raise ValueError("zfs_zpool_list is empty: name at least one zpool (or zpool/nested/dataset)")
        roots: dict[str, str] = {}
        for entry in entries:
            try:
                validate_dataset_name(entry)
            except InvalidName as exc:
                raise ValueError(f"zfs_zpool_list: {entry!r} is not a valid pool or dataset name ({exc})") from None
            pool = entry.split("/")[0]
            if pool in roots:
                raise ValueError(
                    f"zfs_zpool_list uses zpool {pool!r} twice ({roots[pool]!r} and {entry!r}); "
                    "each zpool may appear once"
                )
            roots[pool] = entry
        return cls(
            roots=roots,
            share_prefix=config.safe_get("zfs_dataset_name_prefix") or "",
            snapshot_prefix=config.safe_get("zfs_dataset_snapshot_name_prefix") or "",
            export_ip=config.safe_get("zfs_share_export_ip") or "",
            service_ip=config.safe_get("zfs_service_ip") or "",
        )

    def root_for_host(self, host: str) -> str:
        """The root dataset of the Manila pool in ``host`` (ValueError for a pool not configured)."""
        pool = pool_of_host(host)
        try:
            return self.roots[pool]
        except KeyError:
            raise ValueError(f"pool {pool!r} of host {host!r} is not in zfs_zpool_list") from None

    def share_leaf(self, instance_id: str) -> str:
        """``<prefix><id with - as _>``: the last component of a share instance's dataset."""
        return self.share_prefix + instance_id.replace("-", "_")

    def dataset(self, share: Mapping[str, Any]) -> str:
        """The dataset of a share instance (or replica): ``<root>/<prefix><id>``, validated."""
        return validate_dataset_name(f"{self.root_for_host(share['host'])}/{self.share_leaf(share['id'])}")

    def snapshot_tag(self, snapshot_instance_id: str) -> str:
        """``<prefix><snapshot instance id with - as _>``."""
        return self.snapshot_prefix + snapshot_instance_id.replace("-", "_")

    def snapshot(self, dataset: str, tag: str) -> str:
        """``dataset@tag``, validated."""
        return validate_snapshot_name(f"{dataset}@{tag}")

    def export_locations(self, mountpoint: str) -> list[dict[str, Any]]:
        """User-facing location on ``zfs_share_export_ip``, admin one on ``zfs_service_ip`` (IPv6 bracketed)."""
        return [
            {"path": f"{_bracket(ip)}:{mountpoint}", "is_admin_only": admin, "metadata": {}}
            for ip, admin in ((self.export_ip, False), (self.service_ip, True))
            if ip
        ]


def _bracket(ip: str) -> str:
    try:
        return f"[{ip}]" if ipaddress.ip_address(ip).version == 6 else ip
    except ValueError:
        return ip  # a host name


def child_mountpoint(root_mountpoint: str, root: str, dataset: str) -> str:
    """Where ``dataset`` under ``root`` mounts when it inherits its mountpoint (no ``zfs get`` needed)."""
    if not dataset.startswith(root + "/"):
        raise ValueError(f"{dataset!r} is not under {root!r}")
    return root_mountpoint.rstrip("/") + "/" + dataset[len(root) + 1:]


def size_gib_ceil(nbytes: int) -> int:
    """Bytes to whole GiB, rounded up, at least 1 (Manila sizes are whole GiB)."""
    return max(1, -(-nbytes // GIB))
