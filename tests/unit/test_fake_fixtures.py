"""The fake host against real captured outputs (fixtures of zfs-fuse 0.7 and nfs-utils exportfs)."""

from __future__ import annotations

import errno
import re
import shlex
import threading
from pathlib import Path

import pytest

from pyzfsnas.errors import CommandTimeout
from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork

FIX = Path("/work/shared/fixtures/zfs-fuse")
MNT = "/srv/test/mnt"


def fixture(name: str) -> tuple[list[str], str, str, int]:
    """(argv, stdout, stderr, exit code) of one fixture file."""
    text = (FIX / name).read_text()
    m = re.match(r"\$ (.*)\n--- stdout ---\n(.*)--- stderr ---\n(.*)--- exit code: (\d+) ---\n", text, re.S)
    assert m, name
    argv = shlex.split(m.group(1))
    if name == "err_invalid_name_char.txt":  # the capture lost the quotes around one argument
        argv = ["zfs", "create", "tank/bad name!"]
    return argv, m.group(2), m.group(3), int(m.group(4))


def fuse() -> FakeExecutor:
    host = FakeHost("zfs-fuse")
    host.create_pool("tank", mountpoint=f"{MNT}/tank")
    ex = FakeExecutor(host)
    ex.run(["zfs", "create", "tank/ds"])
    return ex


def check(ex: FakeExecutor, name: str, *, stdout: bool = True) -> None:
    argv, out, err, rc = fixture(name)
    r = ex.run(argv)
    assert (r.returncode, r.stderr) == (rc, err), name
    if stdout:
        assert r.stdout == out, name


@pytest.mark.parametrize("name", [
    "err_create_exists.txt", "err_create_missing_parent.txt", "err_destroy_nonexistent.txt",
    "err_get_nonexistent.txt", "err_get_unknown_property.txt", "err_invalid_compression.txt",
    "err_invalid_compression_lz4.txt", "err_invalid_mountpoint.txt", "err_invalid_name_char.txt",
    "err_invalid_name_empty_component.txt", "err_invalid_name_leading_slash.txt",
    "err_invalid_name_trailing_slash.txt", "err_invalid_quota_value.txt", "err_invalid_recordsize.txt",
    "err_invalid_snapshot_name.txt", "err_list_nonexistent.txt", "err_pool_nonexistent.txt",
    "err_quota_via_create_bad.txt", "err_readonly_property.txt", "err_snapshot_nonexistent_fs.txt",
    "err_unknown_property.txt", "err_zpool_nonexistent.txt", "zfs_get_t_snapshot.txt",
    "zfs_list_Hp_t_all.txt", "zfs_list_Hp_t_snapshot.txt", "zpool_list_Hp.txt", "zpool_get_Hp_all.txt",
    "holds.txt", "holds_H.txt", "err_allow.txt", "note_user_prop_leading_colon_accepted.txt",
])
def test_fuse_errors_match_fixtures(name: str) -> None:
    check(fuse(), name)


def test_fuse_usage_and_version() -> None:
    ex = fuse()
    r = ex.run(["zfs", "version"])
    assert r.returncode == 2
    usage = (FIX / "zfs_usage.txt").read_text().split("\n", 1)[1]
    assert r.stderr == "unrecognized command 'version'\n" + usage
    oz = FakeExecutor(FakeHost("openzfs"))
    assert oz.run(["zfs", "version"]).stdout == "zfs-2.3.2-1\nzfs-kmod-2.3.2-1\n"


def test_get_all_layout_matches_fixture() -> None:
    ex = fuse()
    _, out, _, _ = fixture("zfs_get_Hp_all_tank.txt")
    r = ex.run(["zfs", "get", "-H", "-p", "all", "tank"])
    got = [line.split("\t") for line in r.stdout.splitlines()]
    want = [line.split("\t") for line in out.splitlines()]
    assert [(g[0], g[1], g[3]) for g in got] == [(w[0], w[1], w[3]) for w in want]
    numeric = {"creation", "used", "available", "referenced", "usedbydataset", "usedbychildren"}
    assert [g[2] for g in got if g[1] not in numeric] == [w[2] for w in want if w[1] not in numeric]


def test_snapshot_and_clone_property_lists() -> None:
    ex = fuse()
    ex.run(["zfs", "set", "myorg:owner=alice", "tank/ds"])
    ex.run(["zfs", "snapshot", "tank/ds@snap1"])
    ex.run(["zfs", "clone", "-o", "compression=lzjb", "tank/ds@snap1", "tank/clone1"])
    for fx, target in (("zfs_get_Hp_all_snapshot.txt", "tank/ds@snap1"), ("zfs_get_Hp_all_clone.txt",
                                                                           "tank/clone1")):
        _, out, _, _ = fixture(fx)
        got = [line.split("\t") for line in ex.run(["zfs", "get", "-H", "-p", "all", target]).stdout.splitlines()]
        want = [line.split("\t") for line in out.splitlines()]
        assert [(g[1], g[3]) for g in got] == [(w[1], w[3]) for w in want]
    clone = dict(line.split("\t")[1:3] for line in ex.run(["zfs", "get", "-Hp", "all", "tank/clone1"])
                 .stdout.splitlines())
    ds_ref = ex.run(["zfs", "get", "-Hp", "-o", "value", "referenced", "tank/ds"]).stdout.strip()
    assert clone["used"] == "0" and clone["referenced"] == ds_ref and clone["origin"] == "tank/ds@snap1"


def test_human_get_table() -> None:
    ex = fuse()
    ex.run(["zfs", "set", "quota=50M", "tank/ds"])
    ex.run(["zfs", "set", "compression=on", "tank/ds"])
    argv, out, _, _ = fixture("zfs_get_o_tank_ds_human.txt")
    got = ex.run(argv).stdout.splitlines()
    want = out.splitlines()
    assert got[0] == want[0]
    for g, w in zip(got[1:], want[1:], strict=True):
        ws = w.split()
        if ws[1] not in ("used", "available"):
            assert g == w


def test_userprop_inheritance_and_sources() -> None:
    ex = fuse()
    ex.run(["zfs", "set", "myorg:owner=alice", "tank/ds"])
    check(ex, "zfs_get_userprop.txt")
    ex.run(["zfs", "create", "tank/ds/kid"])
    r = ex.run(["zfs", "get", "-H", "-o", "value,source", "myorg:owner,mountpoint", "tank/ds/kid"])
    assert r.stdout == f"alice\tinherited from tank/ds\n{MNT}/tank/ds/kid\tinherited from tank\n"
    ex.run(["zfs", "inherit", "myorg:owner", "tank/ds"])
    assert ex.run(["zfs", "get", "-H", "-o", "value", "myorg:owner", "tank/ds/kid"]).stdout == "-\n"


def test_destroy_refusals_and_busy_bug() -> None:
    ex = fuse()
    r = ex.run(["zfs", "destroy", "tank/ds"])
    assert r.stderr == "cannot destroy 'tank/ds': dataset is busy\n"
    ex.run(["zfs", "create", "tank/h"])
    ex.run(["zfs", "snapshot", "tank/h@s"])
    ex.run(["zfs", "umount", "tank/h"])
    check(ex, "err_destroy_has_snapshots.txt")
    check(ex, "destroy_r.txt")
    assert ex.run(["zfs", "destroy", "tank/ds"]).returncode == 0


def test_destroy_has_children_lists_reverse_order() -> None:
    ex = fuse()
    for a in (["zfs", "create", "-p", "tank/a/b/c"], ["zfs", "snapshot", "-r", "tank/a@rsnap2"]):
        assert ex.run(a).returncode == 0
    check(ex, "err_destroy_has_children.txt")


def test_rename_busy_and_workaround() -> None:
    ex = fuse()
    ex.run(["zfs", "create", "tank/clone1"])
    check(ex, "rename_fs.txt")
    assert ex.run(["zfs", "umount", "tank/clone1"]).ok
    assert ex.run(["zfs", "rename", "tank/clone1", "tank/clone2"]).ok
    assert ex.run(["zfs", "mount", "tank/clone2"]).ok
    assert ex.host.mountpoint("tank/clone2") == f"{MNT}/tank/clone2"


def test_snapshots_rename_rollback_hold() -> None:
    ex = fuse()
    ex.run(["zfs", "snapshot", "tank@rsnap"])
    ex.run(["zfs", "snapshot", "tank/ds@rsnap"])
    check(ex, "rename_r_snap.txt")
    assert ex.run(["zfs", "list", "-H", "-t", "snapshot", "-o", "name"]).stdout == "tank@rsnap2\ntank/ds@rsnap2\n"
    ex.run(["zfs", "snapshot", "tank/ds@s2"])
    check(ex, "hold.txt")
    check(ex, "err_destroy_held_snapshot.txt")
    check(ex, "release.txt")
    r = ex.run(["zfs", "rollback", "tank/ds@rsnap2"])
    assert r.returncode == 1 and r.stderr == ("cannot rollback to 'tank/ds@rsnap2': more recent snapshots exist\n"
                                              "use '-r' to force deletion of the following snapshots:\n"
                                              "tank/ds@s2\n")
    assert ex.run(["zfs", "rollback", "-r", "tank/ds@rsnap2"]).ok


def test_quota_accounting_with_write() -> None:
    ex = fuse()
    host = ex.host
    ex.run(["zfs", "set", "quota=10M", "tank/ds"])
    host.write("tank/ds", 4 << 20)
    used = int(ex.run(["zfs", "get", "-Hp", "-o", "value", "used", "tank/ds"]).stdout)
    avail = int(ex.run(["zfs", "get", "-Hp", "-o", "value", "available", "tank/ds"]).stdout)
    assert used + avail == 10 << 20
    with pytest.raises(OSError) as err:
        host.write("tank/ds", 7 << 20)
    assert err.value.errno == errno.EDQUOT
    r = ex.run(["zfs", "set", "quota=1M", "tank/ds"])
    assert r.stderr == "cannot set property for 'tank/ds': size is less than current used or reserved space\n"
    assert ex.run(["zfs", "set", "refquota=1M", "tank/ds"]).returncode == 1
    ex.run(["zfs", "snapshot", "tank/ds@s"])
    host.delete("tank/ds", 4 << 20)
    snapused = int(ex.run(["zfs", "get", "-Hp", "-o", "value", "usedbysnapshots", "tank/ds"]).stdout)
    assert snapused == 4 << 20
    assert ex.run(["zfs", "get", "-H", "-o", "value", "quota", "tank"]).stdout == "none\n"
    assert ex.run(["zfs", "set", "quota=none", "tank/ds"]).ok
    assert ex.run(["zfs", "get", "-Hp", "-o", "value", "quota", "tank/ds"]).stdout == "0\n"


def test_promote_moves_snapshots_and_origin() -> None:
    ex = fuse()
    ex.run(["zfs", "snapshot", "tank/ds@snap1"])
    ex.run(["zfs", "snapshot", "tank/ds@later"])
    ex.run(["zfs", "clone", "tank/ds@snap1", "tank/c"])
    r = ex.run(["zfs", "destroy", "tank/ds@snap1"])
    assert r.stderr.startswith("cannot destroy 'tank/ds@snap1': snapshot has dependent clones\n")
    assert ex.run(["zfs", "promote", "tank/c"]).ok
    r = ex.run(["zfs", "list", "-H", "-t", "all", "-o", "name,origin", "-r", "tank"])
    assert r.stdout == ("tank\t-\ntank/c\t-\ntank/c@snap1\t-\ntank/ds\ttank/c@snap1\ntank/ds@later\t-\n")


def test_send_receive_between_hosts_and_over_ssh() -> None:
    net = FakeNetwork()
    a, b = FakeHost("openzfs", name="a"), FakeHost("openzfs", name="b")
    a.create_pool("tank")
    b.create_pool("backup")
    ea, eb = FakeExecutor(a, network=net), FakeExecutor(b, network=net)
    ea.run(["zfs", "create", "tank/ds"])
    a.write("tank/ds", 3 << 20)
    ea.run(["zfs", "snapshot", "tank/ds@s1"])
    with ea.stream(["zfs", "send", "tank/ds@s1"]) as out:
        r = eb.run(["zfs", "receive", "-v", "backup/ds"], stdin=iter(out))
    assert r.ok, r.stderr
    assert out.result is not None and out.result.ok
    assert r.stdout.startswith("receiving full stream of tank/ds@s1 into backup/ds@s1\n")
    ref = ["zfs", "get", "-Hp", "-o", "value", "referenced"]
    assert eb.run([*ref, "backup/ds@s1"]).stdout == ea.run([*ref, "tank/ds@s1"]).stdout
    a.write("tank/ds", 1 << 20)
    ea.run(["zfs", "snapshot", "tank/ds@s2"])
    r = ea.run(["sh", "-c", "zfs send -i tank/ds@s1 tank/ds@s2 | ssh -o BatchMode=yes root@b zfs receive backup/ds"])
    assert r.ok, r.stderr
    assert eb.run([*ref, "backup/ds"]).stdout == ea.run([*ref, "tank/ds"]).stdout
    # base missing on the destination
    ea.run(["zfs", "snapshot", "tank/ds@s3"])
    r = ea.run(["sh", "-c", "zfs send -i tank/ds@s2 tank/ds@s3 | ssh b zfs receive backup/other"])
    assert r.returncode == 1 and "does not exist" in r.stderr
    eb.run(["zfs", "destroy", "backup/ds@s2"])
    r = ea.run(["sh", "-c", "zfs send -i tank/ds@s2 tank/ds@s3 | ssh b zfs receive backup/ds"])
    assert "most recent snapshot of backup/ds does not\nmatch incremental source" in r.stderr
    r = ea.run(["sh", "-c", "zfs send tank/ds@s1 | ssh b zfs receive backup/ds"])
    assert "destination 'backup/ds' exists" in r.stderr
    assert ea.run(["ssh", "nowhere", "zfs", "list"]).returncode == 255


def test_receive_options_per_flavour() -> None:
    ex = fuse()
    r = ex.run(["zfs", "receive", "-o", "a:b=c", "tank/x"], stdin=b"")
    assert r.returncode == 2 and r.stderr.startswith("invalid option 'o'\nusage:\n\treceive [-vnF]")


def test_exportfs_sequence_matches_fixtures() -> None:
    host = FakeHost("zfs-fuse")
    for d in ("a", "b", "c"):
        host.make_dir(f"/srv/test/exp/{d}")
    ex = FakeExecutor(host)
    for cmd in ("exportfs -o rw 192.168.1.5:/srv/test/exp/c", "exportfs -o rw,no_root_squash 127.0.0.1:/srv/test/exp/a",
                "exportfs -o rw [::1]:/srv/test/exp/b", "exportfs -o ro 10.0.0.0/24:/srv/test/exp/a",
                "exportfs -o ro,all_squash,anonuid=1000,anongid=1000 *:/srv/test/exp/c"):
        assert ex.run(shlex.split(cmd)).ok
    # put the etab in the fixture's file order: listings must come out in nfs-utils' (re-read) order
    order = [("c", "192.168.1.5"), ("a", "127.0.0.1"), ("b", "::1"), ("a", "10.0.0.0/24"), ("c", "*")]
    host.exports.etab.sort(key=lambda e: order.index((e.path[-1], e.client)))
    check(ex, "exportfs_v.txt")
    check(ex, "exportfs_s.txt")
    check(ex, "exportfs_noargs.txt")
    for name in ("exportfs_err_bad_option.txt", "exportfs_err_ipv6_unbracketed.txt",
                 "exportfs_err_unresolvable.txt", "exportfs_u_nonexistent_entry.txt"):
        check(ex, name)
    check(ex, "exportfs_err_nonexistent_path.txt")
    assert "/srv/test/exp/nope" in ex.run(["exportfs", "-v"]).stdout
    check(ex, "exportfs_u_nopath.txt")
    check(ex, "exportfs_u.txt")
    check(ex, "exportfs_u_ipv6.txt")
    check(ex, "exportfs_u_cidr.txt")
    check(ex, "exportfs_ua.txt")
    assert ex.run(["exportfs", "-v"]).stdout == ""


def test_sharenfs_fuse() -> None:
    ex = fuse()
    ex.run(["zfs", "create", "tank/r4x"])
    assert ex.run(["zfs", "set", "sharenfs=127.0.0.1:rw,no_root_squash", "tank/r4x"]).ok
    _, out, _, _ = fixture("exportfs_s_after_sharenfs.txt")
    assert ex.run(["exportfs", "-s"]).stdout == out
    check(ex, "sharenfs_get_hostopts.txt")
    check(ex, "sharenfs_err_no_host.txt")
    assert ex.run(["zfs", "set", "sharenfs=on", "tank/r4x"]).ok
    assert "<world>(sync,wdelay,hide,no_subtree_check,fsid=1,sec=sys,ro,root_squash" in ex.run(
        ["exportfs", "-v"]).stdout
    check(ex, "zfs_unshare_sharenfs.txt")
    check(ex, "zfs_unshare.txt")
    check(ex, "zfs_share_sharenfs.txt")
    ex.run(["zfs", "umount", "tank/r4x"])
    assert ex.run(["exportfs", "-v"]).stdout == ""


def test_sharenfs_openzfs() -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    ex = FakeExecutor(host)
    ex.run(["zfs", "create", "tank/s"])
    r = ex.run(["zfs", "set", "sharenfs=rw=@10.0.0.0/24:[fd00::]/64,ro=@1.2.3.4,no_root_squash", "tank/s"])
    assert r.ok, r.stderr
    assert ex.run(["exportfs", "-s"]).stdout.splitlines() == [
        "/tank/s  1.2.3.4(sync,wdelay,hide,no_subtree_check,mountpoint,sec=sys,ro,no_root_squash,no_all_squash)",
        "/tank/s  10.0.0.0/24(sync,wdelay,hide,no_subtree_check,mountpoint,sec=sys,rw,no_root_squash,no_all_squash)",
        "/tank/s  fd00::/64(sync,wdelay,hide,no_subtree_check,mountpoint,sec=sys,rw,no_root_squash,no_all_squash)",
    ]
    r = ex.run(["zfs", "set", "sharenfs=rw=[::1", "tank/s"])
    assert r.stderr == "cannot set property for 'tank/s': 'sharenfs' cannot be set to invalid options\n"
    assert ex.run(["zfs", "set", "sharenfs=off", "tank/s"]).ok
    assert ex.run(["exportfs", "-v"]).stdout == ""


def test_openzfs_forms() -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    ex = FakeExecutor(host)
    assert ex.run(["zfs", "create", "-V", "10M", "tank/vol"]).ok
    assert ex.run(["zfs", "set", "compression=lz4", "atime=off", "tank"]).ok
    r = ex.run(["zfs", "list", "-Hp", "-o", "name,type", "-t", "volume"])
    assert r.stdout == "tank/vol\tvolume\n"
    assert ex.run(["zpool", "list", "-Hp", "-o", "name,size"]).stdout == f"tank\t{250 << 20}\n"
    assert ex.run(["zpool", "get", "-Hp", "-o", "name,property,value,source", "health", "tank"]).stdout == \
        "tank\thealth\tONLINE\t-\n"
    assert ex.run(["zfs", "get", "-H", "-o", "value", "receive_resume_token", "tank"]).stdout == "-\n"
    ex.run(["zfs", "snapshot", "tank@a", "tank/vol@a"])
    ex.run(["zfs", "hold", "k", "tank@a"])
    assert ex.run(["zfs", "holds", "-H", "tank@a"]).stdout.startswith("tank@a\tk\t")


def test_fault_injection_transcript_and_unknown() -> None:
    ex = fuse()
    ex.reset_transcript()
    ex.host.fail_command(2, returncode=3, stderr="boom")
    assert ex.run(["zfs", "list"]).ok
    r = ex.run(["zfs", "create", "tank/never"])
    assert (r.returncode, r.stderr) == (3, "boom\n")
    assert "tank/never" not in ex.host.datasets
    ex.host.hang_command(1)
    with pytest.raises(CommandTimeout):
        ex.run(["zfs", "list"], timeout=5)
    r = ex.run(["frobnicate", "x"])
    assert (r.returncode, r.stderr) == (127, "frobnicate: command not found\n")
    assert ex.commands == [("zfs", "list"), ("zfs", "create", "tank/never"), ("zfs", "list"),
                           ("frobnicate", "x")]
    assert all(res.duration > 0 for res in ex.transcript)


def test_thread_safety() -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    ex = FakeExecutor(host)
    errors: list[str] = []

    def work(i: int) -> None:
        for j in range(20):
            for argv in (["zfs", "create", f"tank/t{i}-{j}"], ["zfs", "snapshot", f"tank/t{i}-{j}@s"],
                         ["zfs", "list", "-H", "-t", "all"]):
                r = ex.run(argv)
                if not r.ok:
                    errors.append(r.stderr)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(ex.transcript) == 8 * 60
    assert len(ex.run(["zfs", "list", "-H", "-t", "snapshot"]).stdout.splitlines()) == 160
