"""Shared pieces of the real-component helpers: the skip-or-fail rule, command running and timings."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

__all__ = [
    "ComponentUnavailable",
    "Timings",
    "in_ci",
    "pid_alive",
    "require",
    "run",
    "timings",
]


class ComponentUnavailable(RuntimeError):
    """A real component (binary, privilege, daemon) cannot be provided; ``component`` names which one."""

    def __init__(self, component: str, reason: str) -> None:
        super().__init__(f"{component}: {reason}")
        self.component = component
        self.reason = reason


def in_ci() -> bool:
    """True when running in CI (``CI=true``), where a missing real component is a failure, not a skip."""
    return os.environ.get("CI") == "true"


def require(component: str, reason: str) -> NoReturn:
    """Give up on a test that needs ``component``: ``pytest.skip`` normally, ``pytest.fail`` when ``CI=true``.

    CI promises every real component, so an absent one there is a broken environment that must not pass
    silently as a skip.
    """
    import pytest

    message = f"{component} unavailable: {reason}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: real components are mandatory)", pytrace=False)
    pytest.skip(message)


def run(
    argv: Sequence[str], *, timeout: float = 60.0, check: bool = False, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell) capturing text output; raise ``CalledProcessError`` on failure if ``check``."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check, input=input_text)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs.

    ``kill -0`` is not enough here: PID 1 of a container reaps slowly, so a dead daemon lingers as a zombie
    and still "exists". Read ``/proc/PID/status`` and treat a missing entry or a zombie as dead.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1] and "X" not in line.split()[1]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return True


class Timings:
    """Wall-clock measurements of real-component operations, summarised at the end of the pytest run."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}

    def add(self, name: str, seconds: float) -> None:
        """Record one measurement of ``name``."""
        self.samples.setdefault(name, []).append(seconds)

    @contextmanager
    def measure(self, name: str) -> Iterator[None]:
        """Time the ``with`` body as one sample of ``name`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def report_lines(self) -> list[str]:
        """One line per measured operation: count, median, min and max in milliseconds."""
        lines = []
        for name, values in sorted(self.samples.items()):
            ordered = sorted(values)
            median = ordered[len(ordered) // 2]
            lines.append(
                f"{name:<28} n={len(values):<3} median={median * 1000:8.1f} ms  "
                f"min={ordered[0] * 1000:8.1f} ms  max={ordered[-1] * 1000:8.1f} ms"
            )
        return lines


#: The process-wide collector the helpers record into.
timings = Timings()
