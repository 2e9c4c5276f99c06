"""The in-memory fake host: ZFS (``zfs``/``zpool``) and ``exportfs`` with real semantics and real messages.

It is pyzfsnas's embedded default host and the test double behind the behavioural suite, so its stdout,
stderr and exit codes follow the real tools per flavour: ``openzfs`` models OpenZFS 2.3.2 (checked command by
command against the real release by ``tests/conformance``), ``zfs-fuse`` models zfs-fuse 0.7.
"""

from __future__ import annotations

from pyzfsnas.testing.fake.executor import FakeExecutor
from pyzfsnas.testing.fake.host import Fail, FakeHost
from pyzfsnas.testing.fake.network import FakeNetwork

__all__ = ["Fail", "FakeExecutor", "FakeHost", "FakeNetwork"]
