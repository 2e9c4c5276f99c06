"""Errors of the share service: what went wrong in a caller's terms, independent of any front end.

Each front end maps these in one place (the Manila adapter to ``manila.exception``); library errors
(:class:`pyzfsnas.errors.ZFSError`) that escape an operation mean the host refused something unexpected.
"""

from __future__ import annotations

__all__ = [
    "BackendNotConfigured",
    "ConfigError",
    "InvalidRequest",
    "ManageRefused",
    "ReplicationError",
    "ShareError",
    "ShareNotFound",
    "ShrinkWouldLoseData",
    "SnapshotManageRefused",
    "SnapshotNotFound",
    "Unsupported",
]


class ShareError(Exception):
    """Base of the service's errors; ``str()`` is a sentence for an operator."""


class ConfigError(ShareError):
    """A backend's options are wrong or incomplete; found before any host is touched."""


class BackendNotConfigured(ConfigError):
    """Another backend (replication, migration) is not configured as a ZFS backend here."""


class InvalidRequest(ShareError):
    """The request itself is malformed (a size that is not a whole number, a share server); nothing ran."""


class Unsupported(ShareError):
    """The request names something this service does not offer (a protocol, a feature, a metadata key)."""


class ShareNotFound(ShareError):
    """The share's dataset does not exist on its host."""

    #: The share (instance) asked for.
    share_id: str

    def __init__(self, share_id: str, detail: str = "") -> None:
        super().__init__(f"share {share_id}: dataset not found{': ' + detail if detail else ''}")
        self.share_id = share_id


class SnapshotNotFound(ShareError):
    """The snapshot does not exist on the host (asked for during its deletion, or never made)."""

    #: The snapshot (``dataset@tag``) or backup asked for.
    name: str

    def __init__(self, name: str) -> None:
        super().__init__(f"snapshot {name} not found")
        self.name = name


class ShrinkWouldLoseData(ShareError):
    """The share already uses more than the size asked for; nothing changed."""

    #: The share (instance) that was not shrunk.
    share_id: str

    def __init__(self, share_id: str) -> None:
        super().__init__(f"share {share_id} uses more than the requested size; not shrunk")
        self.share_id = share_id


class ManageRefused(ShareError):
    """A dataset cannot be taken under management (absent, outside the roots, wrong pool, too big)."""


class SnapshotManageRefused(ShareError):
    """A snapshot cannot be taken under management."""


class ReplicationError(ShareError):
    """A replication step could not be done; the roles of the replicas are unchanged."""
