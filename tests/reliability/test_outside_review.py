"""Regression tests for the findings of the outside review (issue #10), one section per finding.

Each test failed before its fix. The fake host is used where it reproduces the finding; LocalExecutor (real
``tee``, ``cat``, a temporary directory) and the session sshd where the bug lived in a real executor.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas import commands as cmd
from pyzfsnas.errors import InvalidName, InvalidProperty, InvalidText
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.nfs import AccessRule, ExportfsNFS, GaneshaNFS
from pyzfsnas.nfs.exportfs import parse_exportfs_v, validate_export_path
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

#: A lone surrogate: what os.fsdecode makes of the non-UTF-8 byte 0xff in a file name.
LONE = os.fsdecode(b"/srv/caf\xff")


# -- item 1/2: validate before any I/O, flavour detection included ------------------------------------------


def test_cli_refuses_a_bad_name_without_any_zfs_installed(tmp_path: Path) -> None:
    """No ``zfs`` on PATH at all (a fresh machine): a hostile name is still refused as invalid, exit 1."""
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "pyzfsnas", "get", "tank/`touch x`", "used"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("pyzfsnas: invalid"), proc.stderr


BAD_CALLS = {
    "get": lambda z: z.get("tank/a;b", "used"),
    "get bad property": lambda z: z.get("tank/a", "nosuchprop"),
    "get_many": lambda z: z.get_many(["tank/$(x)"], ["used"]),
    "datasets": lambda z: z.datasets("tank/a b\n"),
    "datasets depth": lambda z: z.datasets("tank", depth=True),
    "snapshots": lambda z: z.snapshots("tank/`x`"),
    "dataset": lambda z: z.dataset("tank/a|b"),
    "create_dataset": lambda z: z.create_dataset("tank/a", {"quota": "1G"}),
    "snapshot": lambda z: z.snapshot("tank/a"),
    "clone": lambda z: z.clone("tank/a@s", "tank/b;c"),
    "set": lambda z: z.set("tank/a", compression="nope"),
    "inherit": lambda z: z.inherit("tank/a", "used"),
    "holds": lambda z: z.holds("tank/a"),
    "pools": lambda z: z.pools(["-x"]),
    "pool_properties": lambda z: z.pool_properties("tank", ["bad,prop"]),
    "create_pool": lambda z: z.create_pool("tank", ["/dev/sda\n"]),
    "receive": lambda z: z.receive("tank/a;b", b""),
}


@pytest.mark.parametrize("call", list(BAD_CALLS), ids=list(BAD_CALLS))
def test_facade_validates_before_flavour_detection(call: str) -> None:
    counting = RecordingExecutor(FakeExecutor(FakeHost()))
    with pytest.raises((InvalidName, InvalidProperty)):
        BAD_CALLS[call](ZFS(counting))  # type: ignore[arg-type]
    assert counting.calls == [], "not even `zfs version` may run for bad input"


# -- item 3: stdin feeding never loses data silently ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "fake"])
def test_unencodable_stdin_is_refused_before_anything_runs(kind: str, tmp_path: Path) -> None:
    target = str(tmp_path / "out")
    ex: Any = LocalExecutor(timeout=30) if kind == "local" else FakeExecutor(FakeHost())
    with pytest.raises(InvalidText):
        ex.run(["tee", "--", target], stdin=f"EXPORT {{ Path = \"{LONE}\"; }}\n")
    files = os.listdir(tmp_path) if kind == "local" else list(ex.host.files)
    assert files == [], "tee must not have run"
    with pytest.raises(InvalidText), ex.stream(["cat"], stdin=LONE):
        pass


@pytest.mark.sshd
def test_unencodable_stdin_is_refused_over_ssh_before_anything_runs(request: pytest.FixtureRequest) -> None:
    from pyzfsnas.executors.ssh import SSHExecutor

    sshd = request.getfixturevalue("sshd")
    target = f"/tmp/pzt-stdin-{os.getpid()}"
    ex = SSHExecutor(sshd.host, port=sshd.port, username=sshd.user, key_filename=str(sshd.user_key_path),
                     known_hosts=str(sshd.known_hosts_path), allow_agent=False, timeout=30)
    try:
        with pytest.raises(InvalidText):
            ex.run(["tee", "--", target], stdin=LONE)
        assert not os.path.exists(target), "tee must not have run"
        assert ex.run(["cat"], stdin="still usable\n").stdout == "still usable\n"
    finally:
        ex.close()


def test_a_failing_stdin_source_is_raised_not_swallowed() -> None:
    """A ValueError from the caller's chunk iterator used to end the input quietly: truncated, success."""

    def chunks() -> Iterator[bytes]:
        yield b"first half\n"
        raise ValueError("source broke")

    with pytest.raises(ValueError, match="source broke"):
        LocalExecutor(timeout=30).run(["cat"], stdin=chunks())


def test_ganesha_refuses_an_unencodable_path_and_writes_nothing(tmp_path: Path) -> None:
    """The reproduction: GaneshaNFS on LocalExecutor wrote an EMPTY config for such a path and reported success."""
    conf = tmp_path / "exports.conf"
    nfs = GaneshaNFS(LocalExecutor(timeout=30), config_path=str(conf), pidfile=None)
    nfs.apply("/srv/kept", [AccessRule.parse("192.0.2.1", "rw")])
    before = conf.read_text()
    with pytest.raises(InvalidName):
        nfs.apply(LONE, [AccessRule.parse("192.0.2.2", "rw")])
    with pytest.raises(InvalidText):
        nfs.write_config(f"# {LONE}\n")
    assert conf.read_text() == before and sorted(os.listdir(tmp_path)) == ["exports.conf"]


# -- item 5: exportfs -v is split on newlines only --------------------------------------------------------------

SPLITLINES_BREAKS = ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("char", SPLITLINES_BREAKS, ids=[f"U+{ord(c):04X}" for c in SPLITLINES_BREAKS])
def test_exportfs_output_with_a_line_breaking_character_parses(char: str) -> None:
    text = f"/srv/a{char}b\t192.0.2.1(rw,no_root_squash)\n/srv/c\t\t<world>(ro)\n"
    exports = parse_exportfs_v(text)
    assert [(e.path, e.client) for e in exports] == [(f"/srv/a{char}b", "192.0.2.1"), ("/srv/c", "<world>")]


@pytest.mark.parametrize("char", [*SPLITLINES_BREAKS, "\t", "\x1b", "\x7f"])
def test_export_paths_with_control_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidName):
        validate_export_path(f"/srv/a{char}b")
    counting = RecordingExecutor(FakeExecutor(FakeHost()))
    with pytest.raises(InvalidName):
        ExportfsNFS(counting).apply(f"/srv/a{char}b", [AccessRule.parse("192.0.2.1", "rw")])  # type: ignore[arg-type]
    assert counting.calls == []


def test_export_path_with_a_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidName, match="UTF-8"):
        validate_export_path(LONE)


# -- item 6: argv validation gaps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"properties": {"ashift\n": "12"}},
        {"properties": {"comment": "a\x0bb"}},
        {"vdevs": ["/dev/sda\n"]},
        {"vdevs": ["/dev/sd\x85a"]},
        {"vdevs": "/dev/sda"},
        {"vdevs": [b"/dev/sda"]},
        {"mountpoint": "/srv/tank\n"},
        {"mountpoint": "/srv/\ttank"},
    ],
    ids=["property key newline", "property value VT", "vdev newline", "vdev NEL", "vdevs as str",
         "vdev bytes", "mountpoint newline", "mountpoint tab"],
)
def test_zpool_create_validates_every_operand(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"vdevs": ["/dev/sda"], **kwargs}
    with pytest.raises((InvalidName, InvalidProperty)):
        cmd.zpool_create("tank", **args)


@pytest.mark.parametrize("tag", ["a\r", "a\rb", "a\x0bb", "a\u2028", "-x", "", "a\nb", LONE])
def test_hold_tags_are_checked_whole(tag: str) -> None:
    with pytest.raises(InvalidName):
        cmd.zfs_hold("tank/a@s", tag)
    with pytest.raises(InvalidName):
        cmd.zfs_release("tank/a@s", tag)


@pytest.mark.parametrize("depth", [True, False, -1, 1.5, "1"])
def test_zfs_get_depth_must_be_an_int(depth: Any) -> None:
    with pytest.raises(InvalidProperty, match="depth"):
        cmd.zfs_get(["used"], ["tank"], depth=depth)


def test_zfs_get_depth_zero_and_more_are_passed() -> None:
    assert cmd.zfs_get(["used"], ["tank"], depth=0)[-4:-2] == ["-d", "0"]
    assert cmd.zfs_get(["used"], ["tank"], depth=3)[-4:-2] == ["-d", "3"]


# -- item 7: sizes and numbers read from text or given by callers -----------------------------------------------


@pytest.mark.parametrize("port", ["abc", "²", "1.5", "0", "70000", "-1"])
def test_cli_ssh_port_is_a_one_line_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    from pyzfsnas import cli

    assert cli.main(["--ssh", f"root@host:{port}", "pools"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyzfsnas: --ssh wants USER@HOST[:PORT]"), err


@pytest.mark.parametrize("port", ["22", 2.7, True, 0, 65536, "²"])
def test_ssh_ports_must_be_ints_in_range(port: Any) -> None:
    from pyzfsnas.executors.ssh import SSHExecutor
    from pyzfsnas.replication import SSHTarget

    with pytest.raises(InvalidName, match="port"):
        SSHTarget("host", port=port).argv()
    with pytest.raises(InvalidName, match="port"):
        SSHExecutor("host", port=port)


@pytest.mark.parametrize("field", ["host\r", "host\tx", "a\u2028b"])
def test_ssh_target_fields_refuse_control_characters(field: str) -> None:
    from pyzfsnas.replication import SSHTarget

    with pytest.raises(InvalidName):
        SSHTarget(field).argv()


@pytest.mark.parametrize("content", ["²\n", "٣x\n", "1.5\n"])
def test_ganesha_pidfile_with_odd_digits_is_a_parse_error(content: str) -> None:
    from pyzfsnas.errors import ParseError

    host = FakeHost()
    host.files["/run/ganesha.pid"] = content.encode()
    nfs = GaneshaNFS(FakeExecutor(host), config_path="/etc/ganesha/x.conf", pidfile="/run/ganesha.pid")
    with pytest.raises(ParseError):
        nfs.pid()


@pytest.mark.parametrize("raw", ["²", "1²", "12\n"])
def test_parse_size_refuses_non_ascii_digits_and_newlines(raw: str) -> None:
    from pyzfsnas.properties import parse_size

    with pytest.raises(ValueError, match="not a size"):
        parse_size(raw)


@pytest.mark.parametrize("value", [2.7, "2.7", "abc", "²", True])
def test_facade_sizes_must_be_int_bytes(value: Any) -> None:
    counting = RecordingExecutor(FakeExecutor(FakeHost()))
    with pytest.raises(InvalidProperty):
        ZFS(counting).set("tank/a", quota=value)  # type: ignore[arg-type]
    with pytest.raises(InvalidProperty):
        ZFS(counting).create_dataset("tank/v", volsize=value)  # type: ignore[arg-type]
    assert counting.calls == []


# -- item 8: property knowledge agrees with itself -------------------------------------------------------------

ZSTD_FAST = [f"zstd-fast-{n}" for n in (1, 5, 10, 20, 50, 100, 500, 1000)]


@pytest.mark.parametrize("value", ["zstd", "zstd-1", "zstd-19", "zstd-fast", *ZSTD_FAST])
def test_every_zstd_level_openzfs_accepts_is_accepted(value: str) -> None:
    from pyzfsnas.properties import validate_property_value

    assert validate_property_value("compression", value, flavour="openzfs") == ("compression", value)
    assert validate_property_value("compress", value) == ("compression", value)
    host = FakeHost("openzfs")
    host.create_pool("tank")
    zfs = ZFS(FakeExecutor(host))
    zfs.create_dataset("tank/a", {"compression": value})
    assert zfs.get("tank/a", "compression")["compression"].raw == value


@pytest.mark.parametrize("value", ["zstd-0", "zstd-20", "zstd-fast-0", "zstd-fast-11", "zstd-fast-15",
                                   "zstd-fast-110", "zstd-fast-1001", "lz5"])
def test_compression_values_openzfs_refuses_are_refused_by_both(value: str) -> None:
    from pyzfsnas.errors import PropertyRejected
    from pyzfsnas.properties import validate_property_value

    with pytest.raises(InvalidProperty):
        validate_property_value("compression", value, flavour="openzfs")
    host = FakeHost("openzfs")
    host.create_pool("tank")
    result = FakeExecutor(host).run(["zfs", "create", "-o", f"compression={value}", "tank/a"])
    with pytest.raises(PropertyRejected):
        result.check()


def test_zfs_fuse_knows_no_zstd_nor_lz4() -> None:
    from pyzfsnas.properties import validate_property_value

    for value in ("lz4", "zstd", "zstd-fast-10"):
        with pytest.raises(InvalidProperty):
            validate_property_value("compression", value, flavour="zfs-fuse")


# -- item 2 (NFS backends) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["openzfs", "zfs-fuse"])
@pytest.mark.parametrize("backend", ["exportfs", "fuse", "kernel", "ganesha"])
@pytest.mark.parametrize("call", ["apply", "add", "remove", "rules", "clear"])
def test_nfs_backends_validate_names_before_any_command(flavour: str, backend: str, call: str) -> None:
    from pyzfsnas.nfs import FuseNFS, KernelNFS

    counting = RecordingExecutor(FakeExecutor(FakeHost(flavour)))  # type: ignore[arg-type]
    zfs = ZFS(counting)  # type: ignore[arg-type]
    nfs: Any = {"exportfs": lambda: ExportfsNFS(zfs), "fuse": lambda: FuseNFS(zfs), "kernel": lambda: KernelNFS(zfs),
                "ganesha": lambda: GaneshaNFS(zfs, config_path="/etc/ganesha/x.conf")}[backend]()
    rule = AccessRule.parse("192.0.2.1", "rw")
    args = {"apply": ([rule],), "add": (rule,), "remove": (rule,), "rules": (), "clear": ()}[call]
    with pytest.raises(InvalidName):
        getattr(nfs, call)("tank/a;touch x", *args)
    assert counting.calls == []


# -- item 9: short column names, on outputs written outside this project -------------------------------------


def test_zfs_list_with_short_column_names_from_telegraf() -> None:
    """Telegraf runs ``zfs list -Hp -o name,avail,used,usedsnap,usedds``: every column must be typed."""
    from pyzfsnas.parsers import build_objects, check_typed, parse_zfs_list
    from tests.fixturelib import FIXTURES

    cols = ("name", "avail", "used", "usedsnap", "usedds")
    text = (FIXTURES / "openzfs/zfs-list-Hp-o-name-avail-used-usedsnap-usedds__freebsd-zata__telegraf.txt").read_text()
    raw = parse_zfs_list(text, cols)
    check_typed(raw)
    storage = build_objects(raw)[3]
    assert storage.name == "zata/storage"
    assert storage.available == 10741741326336
    assert storage.used == 8556084379648
    assert storage.properties["usedbysnapshots"].value == 3601138999296
    assert storage.properties["usedbydataset"].value == 4954945380352
    text = (FIXTURES / "openzfs/zfs-list-Hp-o-name-avail-used-usedsnap-usedds__freebsd-14__telegraf.txt").read_text()
    objs = build_objects(parse_zfs_list(text, cols))
    assert len(objs) == 14 and all(o.available == 53069045760 for o in objs)
    assert objs[0].properties["usedbysnapshots"].value is None  # '-' on that host


@pytest.mark.parametrize("host", ["freenas", "freebsd-14", "unavail"])
def test_zpool_list_with_short_column_names_from_telegraf(host: str) -> None:
    from pyzfsnas.parsers import parse_zpool_list
    from tests.fixturelib import FIXTURES

    cols = ("name", "health", "size", "alloc", "free", "fragmentation", "capacity", "dedupratio")
    name = f"zpool-list-Hp-o-name-health-size-alloc-free-fragmentation-capacity-dedupratio__{host}__telegraf.txt"
    pools = parse_zpool_list((FIXTURES / "openzfs" / name).read_text(), cols)
    first = pools[0]
    if host == "unavail":
        assert (first.name, first.health, first.size, first.allocated) == ("temp2", "UNAVAIL", None, None)
        return
    assert all(isinstance(p.allocated, int) and p.allocated + p.free <= p.size for p in pools)  # type: ignore[operator]
    if host == "freenas":
        red1 = pools[1]
        assert (red1.allocated, red1.fragmentation, red1.capacity, red1.dedupratio) == (1126164848640, 8, 12, 1.83)
    else:
        assert (first.allocated, first.capacity, first.dedupratio) == (11959578624, 17, 1.0)


def test_every_zfs_short_name_is_read_as_its_property() -> None:
    from pyzfsnas.parsers import parse_zfs_list
    from pyzfsnas.properties import ZFS_ALIASES

    cols = ("name", *ZFS_ALIASES)
    raw = parse_zfs_list("tank\t" + "\t".join(["-"] * len(ZFS_ALIASES)) + "\n", cols)
    assert set(raw["tank"]) == set(ZFS_ALIASES.values())


def test_zpool_short_names_on_the_fake_and_through_the_parser() -> None:
    from pyzfsnas.parsers import parse_zpool_list

    host = FakeHost("openzfs")
    host.create_pool("tank")
    cols = ("name", "size", "alloc", "free", "frag", "cap", "dedup", "health")
    out = FakeExecutor(host).run(["zpool", "list", "-Hp", "-o", ",".join(cols)]).check().stdout
    (pool,) = parse_zpool_list(out, cols)
    assert isinstance(pool.allocated, int) and pool.allocated > 0 and pool.capacity is not None
    assert pool.dedupratio == 1.0 and pool.health == "ONLINE"


def test_facade_reads_short_property_names_typed() -> None:
    host = FakeHost("openzfs")
    host.create_pool("tank")
    zfs = ZFS(FakeExecutor(host))
    (ds,) = zfs.datasets("tank", properties=("avail", "refer", "usedsnap", "compress"))
    assert isinstance(ds.available, int) and isinstance(ds.referenced, int)
    assert ds.properties["compression"].value == "on"  # OpenZFS 2.3 default


# -- item 10: CLI ergonomics ---------------------------------------------------------------------------------


def test_cli_global_options_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pyzfsnas import cli

    assert cli.main(["--fake", "datasets", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert cli.main(["--json", "--fake", "datasets"]) == 0
    assert json.loads(capsys.readouterr().out) == after and after[0]["name"] == "tank"
    assert cli.main(["pools", "--fake", "-p"]) == 0
    assert "CAPACITY" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        cli.main(["--ssh", "a@b", "pools", "--fake"])
    assert info.value.code == 2
    assert "not allowed with" in capsys.readouterr().err


def test_cli_pool_capacity_is_a_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from pyzfsnas import cli

    assert cli.main(["--fake", "pools"]) == 0
    header, row = capsys.readouterr().out.splitlines()[:2]
    capacity = row.split()[header.split().index("CAPACITY")]
    assert capacity.endswith("%") and capacity[:-1].isdigit()
    assert cli.main(["--fake", "pools", "--json"]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)[0]["capacity"], int)


def test_demo_extended_share_reads_its_quota_room() -> None:
    import io
    import re

    from pyzfsnas import cli

    out = io.StringIO()
    assert cli.demo(out) == 0
    (line,) = [ln for ln in out.getvalue().splitlines() if "available" in ln]
    available = re.search(r"available (\S+)", line).group(1)  # type: ignore[union-attr]
    assert available.endswith("G") and float(available[:-1]) > 1.5, line  # 2 GiB quota, 200 MiB used


# -- item 11: measurement hygiene ---------------------------------------------------------------------------


def test_pytest_entry_point_imports_nothing_of_pyzfsnas() -> None:
    """pytest imports entry-point plugins before pytest-cov starts: that import must not load pyzfsnas."""
    import tomllib

    from tests.fixturelib import FIXTURES

    pyproject = tomllib.loads((FIXTURES.parents[1] / "pyproject.toml").read_text())
    module = pyproject["project"]["entry-points"]["pytest11"]["pyzfsnas"]
    assert module.split(".")[0] != "pyzfsnas"
    code = (f"import sys, {module}\n"
            "loaded = sorted(m for m in sys.modules if m == 'pyzfsnas' or m.startswith('pyzfsnas.'))\n"
            "print(loaded)\nsys.exit(1 if loaded else 0)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_entry_point_module_registers_the_fixtures(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the module under test, no other plugin
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    pytester.makeconftest("pytest_plugins = ['pyzfsnas_pytest']\n")
    pytester.makepyfile("def test_it(fake_zfs, fake_host):\n"
                        "    fake_zfs.create_dataset('tank/x')\n"
                        "    assert fake_host.datasets['tank/x']\n")
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_import_pyzfsnas_loads_no_submodule() -> None:
    code = ("import sys, pyzfsnas\n"
            "print(sorted(m for m in sys.modules if m.startswith('pyzfsnas.')))\n"
            "from pyzfsnas import ZFS\n"
            "print(sorted(m for m in ('paramiko', 'subprocess', 'pyzfsnas.nfs', 'pyzfsnas.testing.fake')"
            " if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[]", "[]"]


def test_zfs_list_freebsd_paste_with_its_own_columns() -> None:
    """The columns exactly as the reporter's command gave them (``...,usedbychildren,lrefer``)."""
    from pyzfsnas.parsers import build_objects, parse_zfs_list
    from tests.fixturelib import FIXTURES

    cols = ["name", "used", "usedbydataset", "usedbyrefreservation", "usedbysnapshots", "usedbychildren", "lrefer"]
    text = (FIXTURES / "openzfs/zfs-list-Hp-o-name-used-usedby-lrefer__dash-values__freebsd-2.2.7-reconstructed.txt")
    vms, share = build_objects(parse_zfs_list(text.read_text(), cols))
    parts = [vms.properties[p].value for p in ("usedbydataset", "usedbyrefreservation", "usedbysnapshots",
                                                "usedbychildren")]
    assert sum(parts) == vms.used == 3166535424  # type: ignore[arg-type]
    assert vms.properties["logicalreferenced"].value == 4080961536
    assert share.properties["logicalreferenced"].value == 2535836658176
