"""Moved: the fake host lives in :mod:`pyzfsnas.testing.fake` (test doubles apart from the product).

``from pyzfsnas.executors.fake import FakeExecutor, FakeHost, FakeNetwork`` keeps working; new code imports
them from :mod:`pyzfsnas.testing`.
"""

from __future__ import annotations

from pyzfsnas.testing.fake import Fail, FakeExecutor, FakeHost, FakeNetwork

__all__ = ["Fail", "FakeExecutor", "FakeHost", "FakeNetwork"]
