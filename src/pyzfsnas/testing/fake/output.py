"""What a fake command returns before the executor wraps it into a :class:`~pyzfsnas.executors.base.Result`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Out"]


@dataclass
class Out:
    """Exit status, stdout (text, or byte chunks generated lazily for ``zfs send``) and stderr."""

    returncode: int = 0
    stdout: str | Iterable[bytes] = ""
    stderr: str = ""
