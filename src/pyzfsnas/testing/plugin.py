"""pytest fixtures for projects built on pyzfsnas: a ready fake host and a :class:`~pyzfsnas.ZFS` on it.

Installed as a pytest plugin (the ``pytest11`` entry point :mod:`pyzfsnas_pytest` registers this module), so a
project that depends on pyzfsnas gets, with no configuration:

``fake_host``
    a :class:`~pyzfsnas.testing.fake.FakeHost` (OpenZFS flavour) with an empty pool ``tank`` mounted at
    ``/tank``. Parametrize indirectly with ``"zfs-fuse"`` to get that flavour instead.
``fake_zfs``
    a :class:`~pyzfsnas.ZFS` driving ``fake_host``; ``fake_zfs.executor.transcript`` lists every command run.

Example::

    def test_my_tool_creates_a_share(fake_zfs):
        my_tool.provision(fake_zfs, "tank/projects")
        assert fake_zfs.dataset("tank/projects").quota == 10 * 2**30
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyzfsnas.testing.fake import FakeHost
    from pyzfsnas.zfs import ZFS

__all__ = ["fake_host", "fake_zfs"]


@pytest.fixture
def fake_host(request: pytest.FixtureRequest) -> FakeHost:
    """A fresh in-memory ZFS host with pool ``tank`` (mounted at ``/tank``)."""
    from pyzfsnas.testing.fake import FakeHost

    flavour = getattr(request, "param", "openzfs")
    if flavour not in ("openzfs", "zfs-fuse"):
        raise ValueError(f"fake_host flavour must be 'openzfs' or 'zfs-fuse', not {flavour!r}")
    host = FakeHost(flavour="zfs-fuse" if flavour == "zfs-fuse" else "openzfs")
    host.create_pool("tank", mountpoint="/tank")
    return host


@pytest.fixture
def fake_zfs(fake_host: FakeHost) -> ZFS:
    """A :class:`~pyzfsnas.ZFS` facade on ``fake_host``."""
    from pyzfsnas.testing.fake import FakeExecutor
    from pyzfsnas.zfs import ZFS

    return ZFS(FakeExecutor(fake_host))
