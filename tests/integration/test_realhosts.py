"""Tests of the real-component fixtures (tests/realhosts) themselves: everything else builds on them."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import uuid
from pathlib import Path
from types import ModuleType

import paramiko
import pytest
from tests.realhosts import nfs
from tests.realhosts import sshd as sshd_mod
from tests.realhosts import zfsfuse as zf
from tests.realhosts.common import ComponentUnavailable, pid_alive, require
from tests.realhosts.plugin import ZfsFusePools
from tests.realhosts.sshd import SshdInfo

# --- the skip-or-fail rule (no real component needed) ------------------------------------------------------


def test_require_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="zfs-fuse unavailable: not root"):
        require("zfs-fuse", "not root")


def test_require_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="sshd unavailable: no binary"):
        require("sshd", "no binary")


def test_missing_zfs_fuse_binary_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zf, "ZFS_FUSE", "/nonexistent/zfs-fuse")
    with pytest.raises(ComponentUnavailable, match="not installed") as info:
        zf.start_host()
    assert info.value.component == "zfs-fuse"


def test_missing_exportfs_binary_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nfs, "EXPORTFS", "/nonexistent/exportfs")
    with pytest.raises(ComponentUnavailable, match="not installed"):
        nfs.start_host()


@pytest.mark.parametrize("module", [zf, nfs, sshd_mod], ids=["zfsfuse", "exportfs", "sshd"])
def test_non_root_is_reported(module: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Installed but not root: the reason names root. The programs are stand-ins, so that this holds on a
    machine without them too (the fresh-machine CI step)."""
    stand_in = tmp_path / "stand-in"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    for attribute in ("ZFS_FUSE", "EXPORTFS", "SSHD", "SSH_KEYGEN"):
        if hasattr(module, attribute):
            monkeypatch.setattr(module, attribute, str(stand_in))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    starter = getattr(module, "start_server", None) or module.start_host
    with pytest.raises(ComponentUnavailable, match="root"):
        starter()


_INNER_CONFTEST = """
import tests.realhosts.zfsfuse
tests.realhosts.zfsfuse.ZFS_FUSE = "/nonexistent/zfs-fuse"
pytest_plugins = ["tests.realhosts.plugin"]
"""


@pytest.mark.parametrize(("ci", "outcome", "code"), [("", "1 skipped", 0), ("true", "1 error", 1)])
def test_fixture_skips_or_fails_in_ci(tmp_path: Path, ci: str, outcome: str, code: int) -> None:
    """End to end: a fixture whose component is absent skips the test, or errors it when CI=true."""
    (tmp_path / "conftest.py").write_text(_INNER_CONFTEST)
    (tmp_path / "test_inner.py").write_text("def test_needs_zfs(zfsfuse):\n    pass\n")
    env = {
        **os.environ,
        "CI": ci,
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rsE",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert outcome in proc.stdout
    assert "zfs-fuse unavailable: /nonexistent/zfs-fuse not installed" in proc.stdout


def test_pid_alive_sees_through_dead_processes() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert pid_alive(proc.pid) is False
    assert pid_alive(os.getpid()) is True


def test_client_spec_brackets_ipv6() -> None:
    assert nfs.client_spec("127.0.0.1", "/p") == "127.0.0.1:/p"
    assert nfs.client_spec("*", "/p") == "*:/p"
    assert nfs.client_spec("::1", "/p") == "[::1]:/p"
    assert nfs.client_spec("fe80::/64", "/p") == "[fe80::]/64:/p"


# --- zfs-fuse ----------------------------------------------------------------------------------------------


def _zfs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([zf.find_tool("zfs"), *args], check=False, capture_output=True, text=True, timeout=60)


@pytest.mark.zfsfuse
def test_session_pools_exist_and_are_writable(zfsfuse_pools: ZfsFusePools) -> None:
    names = zf.pool_names()
    for pool in (zfsfuse_pools.tank, zfsfuse_pools.backup):
        assert pool.name in names
        assert pool.name.startswith(zf.POOL_PREFIX) and pool.name[0].isalpha()
        got = _zfs("get", "-H", "-p", "-o", "value", "mountpoint", pool.name)
        assert got.returncode == 0, got.stderr
        assert got.stdout.strip() == str(pool.mountpoint)
        probe = pool.mountpoint / f"probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"written through zfs-fuse\n")
        assert probe.read_bytes() == b"written through zfs-fuse\n"
        probe.unlink()
    assert zfsfuse_pools.tank.name != zfsfuse_pools.backup.name


@pytest.mark.zfsfuse
def test_create_and_destroy_extra_pool(zfsfuse: zf.ZfsFuseHost) -> None:
    pool = zfsfuse.create_pool("extra", size="128M")
    assert pool.vdev.stat().st_size == 128 * 1024 * 1024
    assert pool.vdev.stat().st_blocks * 512 < pool.vdev.stat().st_size  # sparse
    assert pool.name in zf.pool_names()
    made = _zfs("create", f"{pool.name}/fs")
    assert made.returncode == 0, made.stderr
    zfsfuse.destroy_pool(pool.name)
    assert pool.name not in zf.pool_names()
    assert not pool.vdev.exists()


@pytest.mark.zfsfuse
def test_destroy_pool_tolerates_a_pool_already_gone(zfsfuse: zf.ZfsFuseHost) -> None:
    pool = zfsfuse.create_pool("gone")
    subprocess.run([zf.find_tool("zpool"), "destroy", pool.name], check=False, timeout=60)
    if pool.name in zf.pool_names():  # zfs-fuse may call a fresh pool busy once
        subprocess.run([zf.find_tool("zpool"), "destroy", pool.name], check=True, timeout=60)
    zfsfuse.destroy_pool(pool.name)
    assert pool.name not in zfsfuse.pools


@pytest.mark.zfsfuse
def test_destroy_pool_refuses_pools_it_did_not_create(zfsfuse: zf.ZfsFuseHost) -> None:
    with pytest.raises(ValueError, match="not created by this host"):
        zfsfuse.destroy_pool("fkhsomeoneelse")


@pytest.mark.zfsfuse
def test_pool_prefix_must_be_alphanumeric(zfsfuse: zf.ZfsFuseHost) -> None:
    with pytest.raises(ValueError, match="letters and digits"):
        zfsfuse.create_pool("bad/name")


# --- sshd --------------------------------------------------------------------------------------------------


def _connect(info: SshdInfo, user: str, known_hosts: Path) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        info.host,
        port=info.port,
        username=user,
        key_filename=str(info.user_key_path),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


def _exec(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=30)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


@pytest.mark.sshd
def test_sshd_accepts_user_key_with_known_hosts(sshd: SshdInfo) -> None:
    client = _connect(sshd, sshd.user, sshd.known_hosts_path)
    try:
        assert _exec(client, "echo hello") == (0, "hello\n")
        assert _exec(client, "id -un") == (0, f"{sshd.user}\n")
        assert pwd.getpwnam(sshd.user).pw_shell == "/bin/sh"  # no slow .bashrc on this account
        assert _exec(client, "exit 3")[0] == 3
    finally:
        client.close()


@pytest.mark.sshd
def test_sshd_accepts_root_with_same_key(sshd: SshdInfo) -> None:
    client = _connect(sshd, sshd.root_user, sshd.known_hosts_path)
    try:
        assert _exec(client, "id -u") == (0, "0\n")
    finally:
        client.close()


@pytest.mark.sshd
def test_sshd_other_known_hosts_is_a_changed_host_key(sshd: SshdInfo) -> None:
    assert sshd.other_known_hosts_path.read_text() != sshd.known_hosts_path.read_text()
    with pytest.raises(paramiko.BadHostKeyException):
        _connect(sshd, sshd.user, sshd.other_known_hosts_path).close()


@pytest.mark.sshd
def test_sshd_known_hosts_line_matches_host_key(sshd: SshdInfo) -> None:
    key_type, key = sshd.host_public_key_line.split()[:2]
    assert key_type == "ssh-ed25519"
    assert sshd.known_hosts_path.read_text() == f"[127.0.0.1]:{sshd.port} {key_type} {key}\n"


@pytest.mark.sshd
def test_sshd_rejects_unknown_user_key(sshd: SshdInfo, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    client = paramiko.SSHClient()
    client.load_host_keys(str(sshd.known_hosts_path))
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            sshd.host,
            port=sshd.port,
            username=sshd.user,
            key_filename=str(stranger),
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
    client.close()


# --- exportfs ----------------------------------------------------------------------------------------------


@pytest.mark.exportfs
def test_exportfs_add_list_remove(exportfs_host: nfs.ExportfsHost) -> None:
    share = exportfs_host.make_dir("share")
    exportfs_host.export(share, "127.0.0.1", "rw,no_root_squash")
    exportfs_host.export(share, "::1", "ro")
    entries = {e.client: e for e in exportfs_host.exports()}
    assert set(entries) == {"127.0.0.1", "::1"}
    assert entries["127.0.0.1"].path == str(share)
    assert "rw" in entries["127.0.0.1"].options.split(",")
    assert "no_root_squash" in entries["127.0.0.1"].options.split(",")
    assert "ro" in entries["::1"].options.split(",")
    exportfs_host.unexport(share, "::1")
    assert [e.client for e in exportfs_host.exports()] == ["127.0.0.1"]
    exportfs_host.unexport(share, "127.0.0.1")
    assert exportfs_host.exports() == []


@pytest.mark.exportfs
def test_exportfs_refuses_paths_it_would_not_clean(exportfs_host: nfs.ExportfsHost) -> None:
    with pytest.raises(ValueError, match="outside"):
        exportfs_host.export(Path("/srv"))


@pytest.mark.exportfs
def test_exportfs_close_removes_only_its_own_exports(exportfs_host: nfs.ExportfsHost) -> None:
    bystander = exportfs_host.make_dir("bystander")
    exportfs_host.export(bystander, "127.0.0.1", "ro")
    other = nfs.start_host()
    leftover = other.make_dir("leftover")
    other.export(leftover, "*", "ro")
    other.export(leftover, "127.0.0.1", "rw")
    other.close()
    paths = {e.path for e in nfs.list_exports()}
    assert str(leftover) not in paths
    assert str(bystander) in paths  # another host's export survives
    assert not other.workdir.exists()
