"""pyzfsnas: typed management of ZFS datasets and their NFS exports, locally or over SSH.

Start with :class:`ZFS`::

    from pyzfsnas import ZFS, FakeExecutor
    zfs = ZFS(FakeExecutor())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyzfsnas.errors import (
    CommandFailed,
    CommandTimeout,
    ConnectionFailed,
    DatasetBusy,
    DatasetExists,
    DatasetHasChildren,
    DatasetHasDependents,
    DatasetNotFound,
    HostKeyError,
    InvalidName,
    InvalidProperty,
    NewerSnapshotsExist,
    ParseError,
    PathNotFound,
    PermissionDenied,
    PoolNotFound,
    PropertyRejected,
    SizeBelowUsage,
    StreamIncomplete,
    ToolNotFound,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.executors.base import Executor, Result
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.flavour import Flavour
from pyzfsnas.models import Dataset, Snapshot, Zpool
from pyzfsnas.properties import Property, PropertyMap, Source, SourceKind
from pyzfsnas.zfs import ZFS

if TYPE_CHECKING:
    from pyzfsnas.executors.fake import FakeExecutor, FakeHost, FakeNetwork
    from pyzfsnas.executors.ssh import SSHExecutor

__version__ = "0.1.0.dev0"

__all__ = [
    "ZFS",
    "CommandFailed",
    "CommandTimeout",
    "ConnectionFailed",
    "Dataset",
    "DatasetBusy",
    "DatasetExists",
    "DatasetHasChildren",
    "DatasetHasDependents",
    "DatasetNotFound",
    "Executor",
    "FakeExecutor",
    "FakeHost",
    "FakeNetwork",
    "Flavour",
    "HostKeyError",
    "InvalidName",
    "InvalidProperty",
    "LocalExecutor",
    "NewerSnapshotsExist",
    "ParseError",
    "PathNotFound",
    "PermissionDenied",
    "PoolNotFound",
    "Property",
    "PropertyMap",
    "PropertyRejected",
    "Result",
    "SSHExecutor",
    "SizeBelowUsage",
    "Snapshot",
    "Source",
    "SourceKind",
    "StreamIncomplete",
    "ToolNotFound",
    "UnsupportedOperation",
    "ZFSError",
    "Zpool",
]


def __getattr__(name: str) -> Any:
    # paramiko and the fake host load on first use, so `import pyzfsnas` stays cheap.
    if name in ("SSHExecutor", "FakeExecutor", "FakeHost", "FakeNetwork"):
        from pyzfsnas import executors

        return getattr(executors, name)
    raise AttributeError(f"module 'pyzfsnas' has no attribute {name!r}")
