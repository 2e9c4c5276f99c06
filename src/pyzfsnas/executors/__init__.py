"""Executors: how pyzfsnas runs argv on a host (local, SSH, or the in-memory fake)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyzfsnas.executors.base import Executor, OutputStream, Result

if TYPE_CHECKING:
    from pyzfsnas.executors.factory import connect
    from pyzfsnas.executors.local import LocalExecutor
    from pyzfsnas.executors.ssh import SSHExecutor
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork

__all__ = [
    "Executor",
    "FakeExecutor",
    "FakeHost",
    "FakeNetwork",
    "LocalExecutor",
    "OutputStream",
    "Result",
    "SSHExecutor",
    "connect",
]


def __getattr__(name: str) -> Any:
    # The executors are imported on first use: `from pyzfsnas import ZFS` (which needs only the protocol in
    # executors.base) loads neither subprocess, paramiko nor the fake host.
    if name == "LocalExecutor":
        from pyzfsnas.executors.local import LocalExecutor

        return LocalExecutor
    if name == "SSHExecutor":
        from pyzfsnas.executors.ssh import SSHExecutor

        return SSHExecutor
    if name == "connect":
        from pyzfsnas.executors.factory import connect

        return connect
    if name in ("FakeExecutor", "FakeHost", "FakeNetwork"):
        from pyzfsnas.testing import fake

        return getattr(fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
