"""The in-memory fake host: ZFS (``zfs``/``zpool``) and ``exportfs`` with real semantics and real messages.

It is pyzfsnas's embedded default host and the test double behind the behavioural suite, so its stdout,
stderr and exit codes follow the real tools per flavour (``openzfs`` 2.2 or ``zfs-fuse`` 0.7).
"""

from __future__ import annotations

from pyzfsnas.executors.fake.executor import FakeExecutor
from pyzfsnas.executors.fake.host import Fail, FakeHost
from pyzfsnas.executors.fake.network import FakeNetwork

__all__ = ["Fail", "FakeExecutor", "FakeHost", "FakeNetwork"]
