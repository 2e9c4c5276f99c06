"""Shared helpers of the reliability suite: fake hosts of both flavours, a snapshot of a fake host's whole
state (to prove an operation changed nothing), and the Manila driver fixtures (reused from tests/manila).

Without the ``manila`` package the driver tests skip (fail under ``CI=true``); everything else runs.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

GIB = 1 << 30
FLAVOURS = ("openzfs", "zfs-fuse")

try:
    import manila  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    MANILA_MISSING: str | None = f"manila is not installed ({exc})"
else:
    MANILA_MISSING = None
    # The driver fixtures of tests/manila, re-exported so that pytest finds them for this directory too.
    from tests.manila.conftest import make_driver, storage  # noqa: F401


def need_manila() -> None:
    """Skip a driver test without manila (fail under CI=true, where every component is promised)."""
    if MANILA_MISSING is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{MANILA_MISSING} (CI=true)", pytrace=False)
    pytest.skip(MANILA_MISSING)


def fake(flavour: str = "openzfs", *, name: str = "fakehost", pools: tuple[str, ...] = ("tank",),
         size: int = 8 * GIB) -> tuple[FakeHost, FakeExecutor, ZFS]:
    """A fresh fake host with ``pools`` (mounted under /srv/<pool>), its executor and a facade on it."""
    host = FakeHost(flavour, name=name)  # type: ignore[arg-type]
    for pool in pools:
        host.create_pool(pool, size=size, mountpoint=f"/srv/{pool}")
    ex = FakeExecutor(host)
    return host, ex, ZFS(ex)


_TIME_TAG = re.compile(r"_time_\d{8}T\d+")


def _norm(text: str) -> str:
    """Names with a time tag (replication/migration snapshots) compare equal whatever their time."""
    return _TIME_TAG.sub("_time_T", text)


def host_state(host: FakeHost) -> dict[str, Any]:
    """Everything a driver operation can change on a fake host, read from its memory (no command runs,
    so no injected fault is consumed): every dataset and snapshot with its local properties, origin,
    holds and data, the export table and the OpenZFS exports file."""
    with host.lock:
        datasets = {
            _norm(n): (d.kind, tuple(sorted((k, _norm(v)) for k, v in d.props.items())),
                       _norm(d.origin) if d.origin else None, tuple(sorted(d.holds)), d.mounted,
                       sum(host.chunks.get(c, 0) for c in d.data))
            for n, d in host.datasets.items()
        }
        # fsid is zfs-fuse's per-dataset number: a dataset made again after a clean-up gets a new one.
        exports = sorted((e.path, e.client, tuple(sorted((k, v) for k, v in e.options.items() if k != "fsid")))
                         for e in host.exports.entries())
        zfs_exports = sorted((k, tuple(v)) for k, v in host.zfs_exports.items())
    return {"datasets": datasets, "exports": exports, "zfs_exports": zfs_exports}


def clear_faults(host: FakeHost) -> None:
    """Drop injected faults that did not fire (the operation issued fewer commands than planned)."""
    with host.lock:
        host._faults.clear()
