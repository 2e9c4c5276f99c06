"""Test doubles for code built on pyzfsnas, shipped apart from the product.

* :class:`~pyzfsnas.testing.recording.RecordingExecutor` wraps any executor, records every command and file
  operation, and injects faults: fail, hang or drop the connection at the Nth (matching) command, or after N
  bytes of its stream.
* :class:`~pyzfsnas.testing.recording.KillSwitch` kills the process under test at its Nth step, across all
  its executors, with :class:`~pyzfsnas.testing.recording.Killed` (a ``BaseException``, as SIGKILL leaves it).
* :class:`~pyzfsnas.testing.scripted.ScriptedExecutor` answers commands from rules (argv prefix or regex →
  :class:`~pyzfsnas.result.Result`, text, or a callable), with an in-memory file store.
* The pytest plugin :mod:`pyzfsnas.testing.plugin` (fixtures ``fake_host`` and ``fake_zfs``), registered by the
  ``pytest11`` entry point.
* The in-memory fake host, ``FakeHost`` / ``FakeExecutor`` / ``FakeNetwork`` (see :doc:`/testing`).

The fake host is imported on first use, so ``import pyzfsnas.testing`` loads neither pytest nor the fake host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyzfsnas.testing.recording import Killed, KillSwitch, RecordingExecutor
from pyzfsnas.testing.scripted import ScriptedExecutor

if TYPE_CHECKING:
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork

__all__ = ["FakeExecutor", "FakeHost", "FakeNetwork", "KillSwitch", "Killed", "RecordingExecutor",
           "ScriptedExecutor"]


def __getattr__(name: str) -> Any:
    # The fake host loads on first use: ``import pyzfsnas.testing`` stays light.
    if name in ("FakeExecutor", "FakeHost", "FakeNetwork"):
        from pyzfsnas.testing import fake

        return getattr(fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
