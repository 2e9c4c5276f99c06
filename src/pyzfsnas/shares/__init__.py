"""The share service: NFS shares on ZFS for any front end, with no OpenStack import.

* :class:`ShareService` — shares, snapshots, access, manage, replication, migration, stats of one backend.
* :class:`Site` / :class:`Options` — a backend's host and options (upstream ZFSonLinux option names).
* :class:`Layout` — every dataset and snapshot name, export locations, size rules.
* :mod:`pyzfsnas.shares.errors` — what went wrong, in a caller's terms.

The Manila driver (:mod:`pyzfsnas.manila_glue.driver`) is a thin adapter over this package.
"""

from __future__ import annotations

from pyzfsnas.shares.errors import (
    BackendNotConfigured,
    ConfigError,
    InvalidRequest,
    ManageRefused,
    ReplicationError,
    ShareError,
    ShareNotFound,
    ShrinkWouldLoseData,
    SnapshotManageRefused,
    SnapshotNotFound,
    Unsupported,
)
from pyzfsnas.shares.layout import ExportLocation, Layout, whole_gib
from pyzfsnas.shares.service import MemoryStore, Rule, ShareRef, ShareService, ShareState, SnapshotRef, Store
from pyzfsnas.shares.site import Options, Site, layout_from_options

__all__ = [
    "BackendNotConfigured", "ConfigError", "ExportLocation", "InvalidRequest", "Layout", "ManageRefused",
    "MemoryStore", "Options", "ReplicationError", "Rule", "ShareError", "ShareNotFound", "ShareRef",
    "ShareService", "ShareState", "ShrinkWouldLoseData", "Site", "SnapshotManageRefused", "SnapshotNotFound",
    "SnapshotRef", "Store", "Unsupported", "layout_from_options", "whole_gib",
]
