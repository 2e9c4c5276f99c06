"""The `pyzfsnas` command line run as a user would (a subprocess), and the shipped pytest plugin."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pyzfsnas", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_demo_runs_the_whole_lifecycle_and_prints_commands() -> None:
    proc = cli("demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in ("zfs create -o quota=1073741824 -o compression=lz4 tank/share1",
                     "zfs snapshot tank/share1@before-upgrade",
                     "zfs clone tank/share1@before-upgrade tank/share2",
                     "sharenfs=rw=10.0.0.0/24:[fd00::]/64,ro=192.0.2.7",
                     "zfs set quota=2147483648 tank/share1",
                     "[standby] $ zfs receive backup/share1",
                     "zfs destroy -r tank/share1"):
        assert expected in out
    assert "10.0.0.0/24 rw, 192.0.2.7/32 ro, fd00::/64 rw" in out
    assert "sent 192M" in out  # the progress line of the replication


def test_fake_tables_are_aligned() -> None:
    proc = cli("--fake", "datasets")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAME", "USED", "AVAILABLE", "REFERENCED", "QUOTA", "MOUNTPOINT"]
    names = [line.split()[0] for line in lines[1:]]
    assert names == ["tank", "tank/shares", "tank/shares/alpha"]
    starts = {line.index("/tank") for line in lines[1:] if "/tank" in line}
    assert len(starts) == 1  # the mountpoint column starts at the same place on every row


def test_fake_json_output_is_typed() -> None:
    proc = cli("--fake", "--json", "datasets", "tank/shares")
    data = json.loads(proc.stdout)
    alpha = next(d for d in data if d["name"] == "tank/shares/alpha")
    assert alpha["quota"] == 2 * 2**30
    assert alpha["used"] >= 300 * 2**20
    snaps = json.loads(cli("--fake", "--json", "snapshots").stdout)
    assert [s["name"] for s in snaps] == ["tank/shares/alpha@daily"]
    assert snaps[0]["creation"].endswith("+00:00")
    props = json.loads(cli("--fake", "--json", "get", "tank/shares", "compression").stdout)
    assert props == [{"name": "tank/shares", "property": "compression", "value": "lz4", "raw": "lz4",
                      "source": "local"}]
    pools = json.loads(cli("--fake", "--json", "pools").stdout)
    assert pools[0]["name"] == "tank" and pools[0]["health"] == "ONLINE" and pools[0]["exact"] is True


def test_expected_failures_are_one_line_with_exit_1() -> None:
    proc = cli("--fake", "get", "tank/nope")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "dataset does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr
    bad = cli("--fake", "get", "tank/a;b")
    assert bad.returncode == 1 and "invalid character" in bad.stderr
    usage = cli("nosuchcommand")
    assert usage.returncode == 2


@pytest.mark.zfsfuse
def test_cli_against_real_zfs_fuse(zfsfuse_pools: object) -> None:
    pool = zfsfuse_pools.tank.name  # type: ignore[attr-defined]
    proc = cli("--json", "datasets", pool)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data[0]["name"] == pool and isinstance(data[0]["used"], int)
    table = cli("pools")
    assert pool in table.stdout and "ONLINE" in table.stdout


def test_plugin_fixtures_work_in_a_users_project(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from pyzfsnas import DatasetExists

        def test_uses_the_fake(fake_zfs, fake_host):
            fake_zfs.create_dataset("tank/projects", {"quota": 2**30})
            assert fake_zfs.dataset("tank/projects").quota == 2**30
            with pytest.raises(DatasetExists):
                fake_zfs.create_dataset("tank/projects")
            assert fake_zfs.executor.commands[-1][:2] == ("zfs", "create")
            assert fake_host.mountpoint("tank/projects") == "/tank/projects"

        @pytest.mark.parametrize("fake_host", ["zfs-fuse"], indirect=True)
        def test_fuse_flavour(fake_zfs):
            assert fake_zfs.flavour is None  # nothing ran yet
            assert fake_zfs.detect_flavour().name == "zfs-fuse"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.zfsfuse
@pytest.mark.sshd
def test_cli_over_ssh_to_real_zfs_fuse(zfsfuse_pools: object, sshd: object) -> None:
    pool = zfsfuse_pools.tank.name  # type: ignore[attr-defined]
    target = f"{sshd.root_user}@{sshd.host}:{sshd.port}"  # type: ignore[attr-defined]
    common = ["--ssh", target, "--identity", str(sshd.user_key_path),  # type: ignore[attr-defined]
              "--known-hosts", str(sshd.known_hosts_path)]  # type: ignore[attr-defined]
    proc = cli(*common, "--json", "get", pool, "type", "mountpoint")
    assert proc.returncode == 0, proc.stderr
    assert {d["property"]: d["value"] for d in json.loads(proc.stdout)}["type"] == "filesystem"
    # An unknown host key is refused by default, with one line and exit 1.
    other = [*common[:-1], str(sshd.other_known_hosts_path)]  # type: ignore[attr-defined]
    refused = cli(*other, "pools")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "host key" in refused.stderr.lower()
    bad = cli("--ssh", "root@127.0.0.1:notaport", "pools")
    assert bad.returncode == 1 and "USER@HOST[:PORT]" in bad.stderr


@pytest.mark.exportfs
def test_cli_lists_real_exports(exportfs_host: object) -> None:
    import subprocess as sp

    path = exportfs_host.make_dir("cli")  # type: ignore[attr-defined]
    sp.run(["exportfs", "-o", "ro,no_subtree_check", f"127.0.0.9:{path}"], check=True, capture_output=True)
    rows = json.loads(cli("--json", "exports").stdout)
    mine = [r for r in rows if r["path"] == str(path)]
    assert mine == [{"path": str(path), "client": "127.0.0.9", "access": "ro",
                     "options": mine[0]["options"]}]
    assert "no_subtree_check" in mine[0]["options"]
