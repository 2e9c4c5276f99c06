"""pytest plugin: session fixtures for real components, plus a timing summary at the end of the run.

Load it from ``tests/conftest.py`` with ``pytest_plugins = ["tests.realhosts.plugin"]``. Fixtures:

``zfsfuse``        a :class:`~tests.realhosts.zfsfuse.ZfsFuseHost` (daemon reused or started; ``create_pool``)
``zfsfuse_pools``  two pools made with it, ``.tank`` and ``.backup`` (:class:`ZfsFusePools`)
``sshd_server``    the running :class:`~tests.realhosts.sshd.SshdServer` (``.log()`` helps debug logins)
``sshd``           its :class:`~tests.realhosts.sshd.SshdInfo` (port, keys, known_hosts files, users)
``openzfs``        the real OpenZFS guest (:class:`~tests.realhosts.openzfs.OpenZFSGuest`): pools ``tank`` and
                   ``backup``, one SSH session for the whole run
``exportfs_host``  a per-test :class:`~tests.realhosts.nfs.ExportfsHost` whose exports are removed afterwards

A component that cannot be provided skips the test, or fails it when ``CI=true``. A test using one of these
fixtures is given the matching marker (``zfsfuse``, ``sshd``, ``exportfs``, ``openzfs``) so ``-m "not zfsfuse"`` works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

import pytest

from tests.realhosts import nfs
from tests.realhosts import openzfs as openzfs_mod
from tests.realhosts import sshd as sshd_mod
from tests.realhosts import zfsfuse as zfsfuse_mod
from tests.realhosts.common import ComponentUnavailable, require, timings

_FIXTURE_MARKERS = {
    "zfsfuse": "zfsfuse",
    "zfsfuse_pools": "zfsfuse",
    "sshd": "sshd",
    "sshd_server": "sshd",
    "exportfs_host": "exportfs",
    "openzfs": "openzfs",
}


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


def _provide(start: Callable[[], C]) -> Iterator[C]:
    """Start a real component for a fixture (skip, or fail under CI, when it cannot be had); close it after."""
    try:
        component = start()
    except ComponentUnavailable as exc:
        require(exc.component, exc.reason)
    try:
        yield component
    finally:
        component.close()


@dataclass(frozen=True)
class ZfsFusePools:
    """The two session pools: ``tank`` (the main one) and ``backup`` (a ``zfs receive`` target)."""

    tank: zfsfuse_mod.PoolInfo
    backup: zfsfuse_mod.PoolInfo


@pytest.fixture(scope="session")
def zfsfuse() -> Iterator[zfsfuse_mod.ZfsFuseHost]:
    """A zfs-fuse daemon for the session (reused if one answers); its pools are destroyed at the end."""
    yield from _provide(zfsfuse_mod.start_host)


@pytest.fixture(scope="session")
def zfsfuse_pools(zfsfuse: zfsfuse_mod.ZfsFuseHost) -> ZfsFusePools:
    """Two fresh 256M pools shared by the session's tests (each test cleans up the datasets it makes)."""
    return ZfsFusePools(tank=zfsfuse.create_pool("tank"), backup=zfsfuse.create_pool("backup"))


@pytest.fixture(scope="session")
def sshd_server() -> Iterator[sshd_mod.SshdServer]:
    """An sshd on 127.0.0.1 with generated keys, running for the whole session."""
    yield from _provide(sshd_mod.start_server)


@pytest.fixture(scope="session")
def sshd(sshd_server: sshd_mod.SshdServer) -> sshd_mod.SshdInfo:
    """Connection facts for the session sshd (see :class:`~tests.realhosts.sshd.SshdInfo`)."""
    return sshd_server.info


@pytest.fixture(scope="session")
def openzfs() -> Iterator[openzfs_mod.OpenZFSGuest]:
    """The real OpenZFS guest for the session (booted once; pools ``tank`` and ``backup``)."""
    yield from _provide(openzfs_mod.start_guest)


@pytest.fixture
def exportfs_host() -> Iterator[nfs.ExportfsHost]:
    """A scratch directory to export from; every export under it is removed when the test ends."""
    yield from _provide(nfs.start_host)


#: Host-kind parameters of the behavioural suites (``host``, ``nfs_host``, ``real_pair``, ...) and the real
#: components each needs, so that ``-m openzfs`` or ``-m "not zfsfuse"`` select at collection time.
_PARAM_MARKERS: dict[str, tuple[str, ...]] = {
    "openzfs": ("openzfs",),
    "zfs-fuse": ("zfsfuse",),
    "zfs-fuse-ssh": ("zfsfuse", "sshd"),
    "local-local": ("zfsfuse",),
    "local-ssh": ("zfsfuse", "sshd"),
    "ssh-ssh": ("zfsfuse", "sshd"),
}
_HOST_PARAMS = ("host", "nfs_host", "real_pair")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the real components its fixtures and host-kind parameters need."""
    for item in items:
        wanted = [_FIXTURE_MARKERS[n] for n in getattr(item, "fixturenames", ()) if n in _FIXTURE_MARKERS]
        params = getattr(getattr(item, "callspec", None), "params", {})
        for name in _HOST_PARAMS:
            if isinstance(params.get(name), str):
                wanted.extend(_PARAM_MARKERS.get(params[name], ()))
        for marker in wanted:
            if item.get_closest_marker(marker) is None:
                item.add_marker(marker)
        if item.get_closest_marker("openzfs") is not None:
            _tier_ids.add(item.nodeid)


_tier_ids: set[str] = set()
_tier: dict[str, list[float]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the real OpenZFS tier's tests and time (CI prints them; an empty tier is visible)."""
    if report.nodeid in _tier_ids and (report.when == "call" or report.outcome != "passed"):
        _tier.setdefault(report.outcome, []).append(report.duration)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how long real-component operations took (daemon start, pool create/destroy, ...)."""
    if _tier:
        total = sum(sum(v) for v in _tier.values())
        counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(_tier.items()))
        terminalreporter.section("real OpenZFS tier (marker openzfs)")
        terminalreporter.write_line(f"openzfs tier: {counts}; {total:.1f} s in its tests")
    lines = timings.report_lines()
    if lines:
        terminalreporter.section("real components: timings")
        for line in lines:
            terminalreporter.write_line(line)
