"""The share-service crash matrix on real zfs-fuse: a sample of operations, every kill point, two ways.

In process: the operation's executor stops dead before step ``k`` (a ``pyzfsnas.testing.KillSwitch``, as in the
fake matrix). As a real process: a child python runs the operation with a ``LocalExecutor`` and SIGKILLs itself
before step ``k``; the parent then restarts the service on the same pool and JSON private storage, runs
``ensure_shares`` and the same call again. Either way the end state must be exactly that of one clean call.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.crash_real import OPERATIONS, FileStore, call, prepare, refs, service, signature

from pyzfsnas import ZFS
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.flavour import FUSE
from pyzfsnas.shares.values import ERROR
from pyzfsnas.testing import Killed, KillSwitch

REPO = Path(__file__).resolve().parents[2]
_n = itertools.count(1)


@contextlib.contextmanager
def _root(pool: str) -> Any:
    root = f"{pool}/crash{os.getpid()}_{next(_n)}"
    z = ZFS(LocalExecutor(), flavour=FUSE)
    z.create_dataset(root)
    try:
        yield root
    finally:
        z.destroy(root, recursive=True)


def _restart_and_retry(root: str, pool: str, op: str, store_path: Path) -> tuple[list[Any], list[str]]:
    """manila-share restarts: a fresh service on the same pool and storage, ensure_shares, the same call."""
    store = FileStore(store_path)
    svc = service(root, store)
    s1, s2, _ = refs(pool)
    states = svc.ensure_shares([s1, s2] if op == "share from snapshot" else [s1])
    reports = [f"{sid}: error" for sid, st in states.items() if st.status == ERROR]
    call(op, svc, pool)
    return signature(root, FileStore(store_path)), reports


def _clean(pool: str, op: str, tmp: Path) -> tuple[list[Any], int]:
    store_path = tmp / "clean.json"
    with _root(pool) as root:
        prepare(op, service(root, FileStore(store_path)), pool)
        steps = KillSwitch()
        call(op, service(root, FileStore(store_path), steps), pool)
        return signature(root, FileStore(store_path)), len(steps.log)


@pytest.mark.zfsfuse
@pytest.mark.parametrize("op", OPERATIONS)
def test_killed_in_process_at_every_step_then_restarted_converges_on_zfs_fuse(
        op: str, zfsfuse_pools: Any, tmp_path: Path) -> None:
    pool = zfsfuse_pools.tank.name
    expected, n = _clean(pool, op, tmp_path)
    assert n > 0
    print(f"\n{op}: {n} kill points (in process)")
    for k in range(n):
        store_path = tmp_path / f"k{k}.json"
        with _root(pool) as root:
            prepare(op, service(root, FileStore(store_path)), pool)
            steps = KillSwitch(k)
            with contextlib.suppress(Killed):
                call(op, service(root, FileStore(store_path), steps), pool)
            if not steps.dead:
                # Fewer steps than the clean run this time: zfs-fuse's spurious "busy" makes the number of
                # destroy attempts vary. The call finished before step k: it must simply be done.
                assert signature(root, FileStore(store_path)) == expected, (op, k)
                continue
            got, reports = _restart_and_retry(root, pool, op, store_path)
            assert got == expected, (op, k, reports, [x for x in got if x not in expected],
                                     [x for x in expected if x not in got])


@pytest.mark.zfsfuse
@pytest.mark.parametrize("op", ["delete share", "share from snapshot", "create snapshot"])
def test_sigkilled_process_at_every_step_then_restarted_converges_on_zfs_fuse(
        op: str, zfsfuse_pools: Any, tmp_path: Path) -> None:
    pool = zfsfuse_pools.tank.name
    expected, n = _clean(pool, op, tmp_path)
    print(f"\n{op}: {n} kill points (SIGKILL)")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    for k in range(n):
        store_path = tmp_path / f"k{k}.json"
        with _root(pool) as root:
            prepare(op, service(root, FileStore(store_path)), pool)
            child = subprocess.run([sys.executable, "-m", "tests.crash_real", root, pool, op, str(k),
                                    str(store_path)], cwd=REPO, env=env, capture_output=True, text=True,
                                   timeout=300, check=False)
            if child.returncode == 0:  # finished before step k (zfs-fuse busy retries vary the step count)
                assert signature(root, FileStore(store_path)) == expected, (op, k)
                continue
            assert child.returncode == -signal.SIGKILL, (k, child.returncode, child.stdout, child.stderr[-2000:])
            got, reports = _restart_and_retry(root, pool, op, store_path)
            assert got == expected, (op, k, reports, [x for x in got if x not in expected],
                                     [x for x in expected if x not in got])
