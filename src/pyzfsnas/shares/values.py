"""The values the share service speaks in: shares, snapshots, rules, states, and the store it records into.

Plain data, no I/O: any front end builds these from its own objects (the Manila adapter from Manila's dicts).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from pyzfsnas.properties import PropertyMap
from pyzfsnas.shares.layout import ExportLocation

__all__ = [
    "ACTIVE", "AVAILABLE", "DELETED", "ERROR", "IN_SYNC", "OUT_OF_SYNC", "SYNCING",
    "MemoryStore", "Rule", "ShareRef", "ShareState", "SnapshotRef", "Store", "bytes_of", "truthy",
]

# States and statuses, spelled as Manila spells them (plain strings: any front end can use them).
#: Replica state: the writable replica.
ACTIVE: str = "active"
#: Replica state: a secondary that has the active replica's last synced state.
IN_SYNC: str = "in_sync"
#: Replica state: a secondary whose last sync failed.
OUT_OF_SYNC: str = "out_of_sync"
#: Status of a share, snapshot or snapshot instance that is ready.
AVAILABLE: str = "available"
#: Status of something that failed (also the state of a rejected access rule).
ERROR: str = "error"
#: Status of a snapshot instance that is gone.
DELETED: str = "deleted"
#: Access rules status while a promotion re-applies them.
SYNCING: str = "syncing"


class Store(Protocol):
    """Per-entity key/value records the service keeps (Manila's private storage fits)."""

    def get(self, entity_id: str, key: str) -> Any: ...

    def update(self, entity_id: str, details: dict[str, Any]) -> None: ...

    def delete(self, entity_id: str) -> None: ...


class MemoryStore:
    """A :class:`Store` in a dict (tests, tools without a database)."""

    def __init__(self) -> None:
        self.data: dict[str, dict[str, str]] = {}

    def get(self, entity_id: str, key: str) -> Any:
        """The value of ``key`` for ``entity_id``, or None."""
        return self.data.get(entity_id, {}).get(key)

    def update(self, entity_id: str, details: dict[str, Any]) -> None:
        """Merge ``details`` (values kept as text, like Manila's store)."""
        self.data.setdefault(entity_id, {}).update({k: str(v) for k, v in details.items()})

    def delete(self, entity_id: str) -> None:
        """Forget ``entity_id``."""
        self.data.pop(entity_id, None)


@attrs.frozen
class ShareRef:
    """A share instance (or replica): its id, backend and pool, size in GiB and type specs."""

    id: str
    backend: str
    pool: str
    size: Any = 1
    proto: str = "NFS"
    #: Share-type extra specs the service reads: ``dedupe``, ``zfsonlinux:compression``.
    specs: Mapping[str, str] = attrs.field(factory=dict)
    replica_state: str | None = None


@attrs.frozen
class SnapshotRef:
    """A snapshot instance of ``share``: instance id (names the tag), entity id (keys the store)."""

    id: str
    snapshot_id: str
    share: ShareRef
    location: str | None = None
    size: Any = 1
    deleting: bool = False


@attrs.frozen
class Rule:
    """An access rule as a caller gives it (validated by the service, per rule)."""

    id: str
    type: str
    to: str
    level: str


@attrs.frozen
class ShareState:
    """What :meth:`ShareService.ensure_shares` found for one share."""

    status: str
    locations: list[ExportLocation]
    reapply_rules: bool


def bytes_of(props: PropertyMap | None, name: str) -> int:
    """An integer property in bytes (0 when absent or not a number)."""
    value = props.value(name) if props is not None else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def truthy(text: str) -> bool | None:
    """A yes/no word (``<is> True``, ``on``, ``0``...) as a bool; None when it is neither."""
    word = text.strip().lower().split(" ")[-1]
    if word in ("true", "1", "yes", "on", "y", "t"):
        return True
    if word in ("false", "0", "no", "off", "n", "f"):
        return False
    return None
