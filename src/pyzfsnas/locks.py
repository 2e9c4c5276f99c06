"""In-process locks keyed by name (a dataset, a path), for read-modify-write changes that must not interleave."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["KeyedLocks"]


class KeyedLocks:
    """One lock per key, created on first use; several keys are taken in sorted order (no deadlock).

    Serialises callers in this process that share the object; other processes must coordinate themselves.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def lock(self, key: str) -> threading.Lock:
        """The lock of ``key``."""
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    @contextlib.contextmanager
    def hold(self, *keys: str) -> Iterator[None]:
        """Hold the locks of ``keys`` (deduplicated, sorted) for the ``with`` block."""
        with contextlib.ExitStack() as stack:
            for key in sorted(set(keys)):
                stack.enter_context(self.lock(key))
            yield
