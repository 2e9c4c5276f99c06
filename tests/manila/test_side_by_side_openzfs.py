"""Our driver and upstream's ZFSonLinux driver run the same lifecycle on the real OpenZFS guest.

``benchmarks/manila_side_by_side.py`` checks every step's end state on the guest (dataset and data, snapshot,
``sharenfs`` and ``exportfs -v``, quota, gone after delete); this proves both drivers did their work and that
ours needs at most 9 commands where upstream needs more (and sleeps).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks import manila_side_by_side as sbs

from tests.realhosts.openzfs import OpenZFSGuest

pytestmark = pytest.mark.openzfs


def test_lifecycle_side_by_side_on_openzfs(openzfs: OpenZFSGuest, tmp_path: Path) -> None:
    results = sbs.side_by_side(openzfs.guest, openzfs.executor.run, openzfs.executor, tmp_path)

    ours, upstream = results["ours"], results["upstream"]
    assert [s["step"] for s in ours["steps"]] == sbs.STEPS == [s["step"] for s in upstream["steps"]]
    assert ours["total_commands"] <= 9, [s["commands"] for s in ours["steps"]]
    assert all(s["commands"] for s in ours["steps"]), "every step reached the host"
    assert upstream["total_commands"] > ours["total_commands"]
    # upstream sleeps 2 s before each destroy (snapshot and share)
    assert upstream["total_seconds"] > 4.0
    assert ours["total_seconds"] < upstream["total_seconds"]
