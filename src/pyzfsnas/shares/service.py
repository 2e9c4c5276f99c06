"""The share service: NFS shares on ZFS datasets, for any front end (Manila today, a CSI driver tomorrow).

:class:`ShareService` is the whole service: the core (:mod:`~pyzfsnas.shares.core`), replication
(:mod:`~pyzfsnas.shares.replication`), migration (:mod:`~pyzfsnas.shares.migration`) and backups
(:mod:`~pyzfsnas.shares.backups`). Callers describe shares, snapshots, rules and replicas with the values of
:mod:`~pyzfsnas.shares.values`, never with a front end's dicts; every dataset and snapshot name comes from a
:class:`~pyzfsnas.shares.layout.Layout`. Errors are :mod:`pyzfsnas.shares.errors` (or a library
:class:`~pyzfsnas.errors.ZFSError` the host raised unexpectedly).
"""

from __future__ import annotations

from pyzfsnas.shares.backups import Backups
from pyzfsnas.shares.core import METADATA_PROPERTIES
from pyzfsnas.shares.migration import Migrations
from pyzfsnas.shares.replication import Replication
from pyzfsnas.shares.values import (
    MemoryStore,
    Rule,
    ShareRef,
    ShareState,
    SnapshotRef,
    Store,
)

__all__ = [
    "METADATA_PROPERTIES", "MemoryStore", "Rule", "ShareRef", "ShareService", "ShareState", "SnapshotRef", "Store",
]


class ShareService(Replication, Migrations, Backups):
    """NFS shares of one backend (``site``), with other backends' sites from ``peers(name)``.

    ``connect(address)`` reaches a host by address (the backup target when it is not this host).
    """
