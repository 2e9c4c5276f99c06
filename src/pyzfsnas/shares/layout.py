"""A backend's layout: share ids to dataset and snapshot names, export locations, sizes. Pure, no I/O.

Every dataset and snapshot name the share service uses comes from a :class:`Layout` (one per backend, so
replication and migration name the *destination's* datasets with the destination's options). Names are
always built exactly; nothing matches dataset names by substring.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from pyzfsnas.errors import InvalidName, InvalidProperty
from pyzfsnas.names import validate_dataset_name, validate_snapshot_name
from pyzfsnas.properties import NATIVE, Kind, canonical_name, parse_size, validate_property_value
from pyzfsnas.shares.errors import InvalidRequest

__all__ = [
    "GIB", "IGNORED_CREATION_OPTIONS", "ExportLocation", "Layout",
    "parse_creation_options", "size_gib_ceil", "time_tag", "time_tag_prefix", "whole_gib",
]

#: ``get(option_name)`` -> value or None: how the service reads a backend's options (Manila's
#: ``Configuration.safe_get``, a dict's ``get``).
OptionGetter = Callable[[str], Any]

#: Bytes in a GiB (share sizes are whole GiB).
GIB: int = 1 << 30

#: Options of ``zfs_dataset_creation_options`` the driver owns and therefore ignores (exact names).
IGNORED_CREATION_OPTIONS: frozenset[str] = frozenset({"readonly", "quota", "sharenfs", "sharesmb"})


_WHOLE = re.compile(r"[0-9]+")


def whole_gib(value: Any, what: str = "share size") -> int:
    """``value`` as a whole number of GiB >= 1; anything else is :class:`InvalidRequest`, before any I/O.

    Accepted: ``int``, ASCII digits as text. Refused: bools, ``0``, floats (``2.7`` is never truncated, and
    ``2.5e30`` is no exact size either), other digits (``"²"``, Arabic-Indic ones), anything else.
    """
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None or number < 1:
        raise InvalidRequest(f"{what} must be a whole number of GiB >= 1, got {value!r}")
    return number


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


def time_tag_prefix(prefix: str, entity_id: str) -> str:
    """What every :func:`time_tag` of one entity starts with: ``<prefix>_<id>_time_``."""
    return f"{prefix}_{entity_id.replace('-', '_')}_time_"


def time_tag(prefix: str, entity_id: str, now: datetime | None = None) -> str:
    """A snapshot tag unique per entity and time: ``<prefix>_<id>_time_<UTC timestamp>``."""
    when = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%f")
    return time_tag_prefix(prefix, entity_id) + when


@attrs.frozen
class Layout:
    """How one backend names its datasets and builds its export locations (from its configuration)."""

    #: zpool name -> root dataset (the zpool itself or a nested dataset) from ``zfs_zpool_list``.
    roots: Mapping[str, str]
    share_prefix: str = "manila_share_"
    snapshot_prefix: str = "manila_share_snapshot_"
    #: User-facing export addresses (IPs or host names): ``zfs_share_export_ip`` then
    #: ``zfs_share_export_ips``, e.g. one IPv4 and one IPv6 address.
    export_hosts: tuple[str, ...] = ()
    service_ip: str = ""

    @classmethod
    def from_options(cls, get: OptionGetter) -> Layout:
        """Build from a backend's options (upstream's names); ValueError says what is wrong."""
        entries = [e.strip().rstrip("/") for e in (get("zfs_zpool_list") or []) if e.strip()]
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
        hosts: list[str] = []
        for value in [get("zfs_share_export_ip"), *(get("zfs_share_export_ips") or [])]:
            text = str(value or "").strip()
            if text and text not in hosts:
                hosts.append(text)
        return cls(
            roots=roots,
            share_prefix=get("zfs_dataset_name_prefix") or "",
            snapshot_prefix=get("zfs_dataset_snapshot_name_prefix") or "",
            export_hosts=tuple(hosts),
            service_ip=str(get("zfs_service_ip") or ""),
        )

    def share_leaf(self, instance_id: str) -> str:
        """``<prefix><id with - as _>``: the last component of a share instance's dataset."""
        return self.share_prefix + instance_id.replace("-", "_")

    def root(self, pool: str) -> str:
        """The root dataset of Manila pool ``pool`` (ValueError for a pool not configured)."""
        try:
            return self.roots[pool]
        except KeyError:
            raise ValueError(f"pool {pool!r} is not in zfs_zpool_list") from None

    def dataset(self, pool: str, share_id: str) -> str:
        """The dataset of a share instance (or replica) in ``pool``: ``<root>/<prefix><id>``, validated."""
        return validate_dataset_name(f"{self.root(pool)}/{self.share_leaf(share_id)}")

    def snapshot_tag(self, snapshot_instance_id: str) -> str:
        """``<prefix><snapshot instance id with - as _>``."""
        return self.snapshot_prefix + snapshot_instance_id.replace("-", "_")

    def snapshot_mount(self, dataset: str, snapshot_instance_id: str) -> str:
        """The read-only clone that exports a mountable snapshot: ``<parent>/<snapshot prefix><id>``."""
        parent = dataset.rsplit("/", 1)[0]
        return validate_dataset_name(f"{parent}/{self.snapshot_tag(snapshot_instance_id)}")

    def backup_dataset(self, root: str, share_id: str, chain: str = "") -> str:
        """Where a share's backups are received under ``root``: one dataset per incremental chain."""
        leaf = self.share_leaf(share_id) + (f"_{chain}" if chain else "")
        return validate_dataset_name(f"{root}/{leaf}")

    def snapshot(self, dataset: str, tag: str) -> str:
        """``dataset@tag``, validated."""
        return validate_snapshot_name(f"{dataset}@{tag}")

    def export_locations(self, mountpoint: str) -> list[ExportLocation]:
        """User-facing locations on the export addresses, an admin one on ``zfs_service_ip``."""
        pairs = [(host, False) for host in self.export_hosts]
        if self.service_ip:
            pairs.append((self.service_ip, True))
        return [ExportLocation(f"{_bracket(ip)}:{mountpoint}", admin) for ip, admin in pairs]


@attrs.frozen
class ExportLocation:
    """Where clients mount a share: ``path`` (``addr:/mountpoint``), ``admin`` for the service network."""

    path: str
    admin: bool = False


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
