"""Executors: how pyzfsnas runs argv on a host (local, SSH, or the in-memory fake)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyzfsnas.executors.base import Executor, OutputStream, Result
from pyzfsnas.executors.local import LocalExecutor

if TYPE_CHECKING:
    from pyzfsnas.executors.fake import FakeExecutor, FakeHost, FakeNetwork
    from pyzfsnas.executors.ssh import SSHExecutor

__all__ = [
    "Executor",
    "FakeExecutor",
    "FakeHost",
    "FakeNetwork",
    "LocalExecutor",
    "OutputStream",
    "Result",
    "SSHExecutor",
]


def __getattr__(name: str) -> Any:
    # SSH (paramiko) and the fake host are imported on first use: `import pyzfsnas` stays fast.
    if name == "SSHExecutor":
        from pyzfsnas.executors.ssh import SSHExecutor

        return SSHExecutor
    if name in ("FakeExecutor", "FakeHost", "FakeNetwork"):
        from pyzfsnas.executors import fake

        return getattr(fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
