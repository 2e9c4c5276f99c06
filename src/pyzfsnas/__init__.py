"""pyzfsnas: typed management of ZFS datasets and their NFS exports, locally or over SSH.

Start with :class:`ZFS`::

    from pyzfsnas import ZFS, FakeExecutor
    zfs = ZFS(FakeExecutor())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        InvalidText,
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
    from pyzfsnas.executors.base import Executor
    from pyzfsnas.executors.local import LocalExecutor
    from pyzfsnas.executors.ssh import SSHExecutor
    from pyzfsnas.flavour import Flavour
    from pyzfsnas.models import Dataset, Snapshot, Zpool
    from pyzfsnas.properties import Property, PropertyMap, Source, SourceKind
    from pyzfsnas.result import Result
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork
    from pyzfsnas.zfs import ZFS

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
    "InvalidText",
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


#: Where each public name lives. Nothing is imported until a name is first used (PEP 562), so that
#: ``import pyzfsnas`` costs almost nothing and ``from pyzfsnas import ZFS`` loads only what ZFS needs
#: (paramiko, the fake host and the NFS backends load on their own first use).
_WHERE = {
    **dict.fromkeys(
        ("CommandFailed", "CommandTimeout", "ConnectionFailed", "DatasetBusy", "DatasetExists",
         "DatasetHasChildren", "DatasetHasDependents", "DatasetNotFound", "HostKeyError", "InvalidName",
         "InvalidProperty", "InvalidText", "NewerSnapshotsExist", "ParseError", "PathNotFound",
         "PermissionDenied", "PoolNotFound", "PropertyRejected", "SizeBelowUsage", "StreamIncomplete",
         "ToolNotFound", "UnsupportedOperation", "ZFSError"),
        "pyzfsnas.errors"),
    "Executor": "pyzfsnas.executors.base",
    "Result": "pyzfsnas.result",
    "FakeExecutor": "pyzfsnas.testing.fake",
    "FakeHost": "pyzfsnas.testing.fake",
    "FakeNetwork": "pyzfsnas.testing.fake",
    "LocalExecutor": "pyzfsnas.executors.local",
    "SSHExecutor": "pyzfsnas.executors.ssh",
    "Flavour": "pyzfsnas.flavour",
    "Dataset": "pyzfsnas.models",
    "Snapshot": "pyzfsnas.models",
    "Zpool": "pyzfsnas.models",
    "Property": "pyzfsnas.properties",
    "PropertyMap": "pyzfsnas.properties",
    "Source": "pyzfsnas.properties",
    "SourceKind": "pyzfsnas.properties",
    "ZFS": "pyzfsnas.zfs",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pyzfsnas' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
