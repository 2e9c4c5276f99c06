"""Fixtures for the Manila driver tests: real ``manila`` configuration objects, an in-memory private storage,
and drivers on the fake host or on real zfs-fuse pools.

Without the ``manila`` package every test here is skipped, except under ``CI=true`` where that fails.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from manila.share import configuration as manila_configuration
    from manila.share import driver as manila_driver
    from manila.share.manager import share_manager_opts
    from oslo_config import cfg
except ImportError as exc:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"manila is required under CI=true: {exc}") from exc
    pytest.skip(f"manila is not installed ({exc}); pip install 'pyzfsnas[manila]'", allow_module_level=True)

from pyzfsnas.manila_glue import options
from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver
from pyzfsnas.shares import MemoryStore

DRIVER_PATH = "pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver"
_counter = itertools.count(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/manila/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.manila)


def make_config(group: str | None = None, **values: Any) -> Any:
    """A real manila ``Configuration`` for backend ``group`` with ``values`` set as overrides."""
    group = group or f"mnl_backend_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    conf = manila_configuration.Configuration(manila_driver.share_opts, config_group=group)
    conf.append_config_values(options.ZFSONLINUX_OPTS)
    conf.append_config_values(options.PYZFSNAS_OPTS)
    conf.append_config_values(share_manager_opts)
    defaults = {"driver_handles_share_servers": False, "share_driver": DRIVER_PATH,
                "zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2", "share_backend_name": group}
    for key, value in {**defaults, **values}.items():
        cfg.CONF.set_override(key, value, group=group)
    return conf


def share(sid: str | None = None, *, backend: str, pool: str, size: int = 1, **extra: Any) -> dict[str, Any]:
    """A manila-shaped share instance dict."""
    sid = sid or str(uuid.uuid4())
    return {"id": sid, "share_id": sid, "host": f"hostx@{backend}#{pool}", "size": size, "share_proto": "NFS",
            "share_type_id": None, "export_locations": [], **extra}


def snapshot(share_instance: dict[str, Any], sid: str | None = None, **extra: Any) -> dict[str, Any]:
    """A manila-shaped snapshot instance dict."""
    sid = sid or str(uuid.uuid4())
    return {"id": sid, "snapshot_id": "snap-" + sid, "share_instance_id": share_instance["id"],
            "share_instance": share_instance, "share": share_instance, "provider_location": None,
            "status": "creating", **extra}


def rule(access_to: str, level: str = "rw", access_type: str = "ip", rid: str | None = None) -> dict[str, Any]:
    """A manila-shaped access rule dict."""
    rid = rid or str(uuid.uuid4())
    return {"id": rid, "access_id": rid, "access_type": access_type, "access_to": access_to,
            "access_level": level}


@pytest.fixture
def storage() -> MemoryStore:
    return MemoryStore()


MakeDriver = Callable[..., ZFSonLinuxShareDriver]


@pytest.fixture
def make_driver(storage: MemoryStore) -> Iterator[MakeDriver]:
    """Build and set up a driver: ``make_driver(executor, zfs_zpool_list=[...], ...)``."""
    made: list[Any] = []

    def build(executor: Any = None, *, group: str | None = None, setup: bool = True,
              executor_factory: Any = None, **values: Any) -> ZFSonLinuxShareDriver:
        conf = make_config(group, **values)
        drv = ZFSonLinuxShareDriver(configuration=conf, private_storage=storage, executor=executor,
                                    executor_factory=executor_factory)
        made.append(conf)
        if setup:
            drv.do_setup(None)
            drv.check_for_setup_error()
        return drv

    yield build
    for conf in made:
        cfg.CONF.reset()
        del conf


def writable(path: Path) -> bool:
    """Whether a file can be created in ``path``: zfs-fuse reports ``readonly`` as "off temporary" even when
    the mount is read-only, so the tests check behaviour, not the property."""
    try:
        (path / ".probe").write_text("x")
    except OSError:
        return False
    (path / ".probe").unlink()
    return True
