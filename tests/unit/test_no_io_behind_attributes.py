"""Issue #14: no I/O behind attribute access. Reading every public property of the facade, the NFS backends,
the share service and its site, freshly built over a recording executor, runs nothing on the host; the
explicit calls (``detect_flavour()``, ``ipv6_support()``, ``nfs()``) are where commands run.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.nfs import ExportfsNFS, FuseNFS, GaneshaNFS, KernelNFS
from pyzfsnas.shares import MemoryStore, Options, ShareService, Site, layout_from_options
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost


def _properties(obj: object) -> list[str]:
    return sorted(name for name, member in inspect.getmembers(type(obj))
                  if isinstance(member, property) and not name.startswith("_"))


def _objects(recorder: RecordingExecutor) -> dict[str, Any]:
    zfs = ZFS(recorder)
    get = {"zfs_zpool_list": ["tank"], "zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2",
           "zfs_dataset_name_prefix": "manila_share_", "zfs_dataset_snapshot_name_prefix": "manila_share_snapshot_",
           "zfs_share_helpers": {"NFS": "auto"}}.get
    options = Options.from_options(get)
    site = Site("A", zfs, layout_from_options(get), options.helper)
    return {"ZFS": zfs, "KernelNFS": KernelNFS(zfs), "FuseNFS": FuseNFS(zfs), "ExportfsNFS": ExportfsNFS(zfs),
            "GaneshaNFS": GaneshaNFS(zfs), "Site": site, "ShareService": ShareService(site, options, MemoryStore())}


@pytest.mark.parametrize("kind", ["ZFS", "KernelNFS", "FuseNFS", "ExportfsNFS", "GaneshaNFS", "Site", "ShareService"])
def test_reading_public_properties_runs_nothing(kind: str) -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    recorder = RecordingExecutor(FakeExecutor(host))
    obj = _objects(recorder)[kind]
    for name in _properties(obj):
        getattr(obj, name)
    assert recorder.calls == [], f"{kind} ran {recorder.calls} behind attribute reads"


def test_the_explicit_calls_are_where_commands_run() -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    recorder = RecordingExecutor(FakeExecutor(host))
    objects = _objects(recorder)
    assert objects["ZFS"].flavour is None
    assert objects["KernelNFS"].ipv6_support() is True  # OpenZFS 2.3: asks the flavour once
    assert recorder.calls == [("zfs", "version")]
    assert objects["ZFS"].flavour is not None and objects["ZFS"].flavour.name == "openzfs"
    assert objects["Site"].nfs().name == "kernel"  # chosen from the held flavour: nothing more runs
    assert recorder.calls == [("zfs", "version")]
