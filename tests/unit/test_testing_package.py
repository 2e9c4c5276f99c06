"""pyzfsnas.testing: RecordingExecutor (faults at command N) and ScriptedExecutor (issue 14 item 6)."""

from __future__ import annotations

import re

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import CommandFailed, CommandTimeout, ConnectionFailed, DatasetNotFound, PathNotFound
from pyzfsnas.result import Result
from pyzfsnas.testing import FakeExecutor, FakeHost, RecordingExecutor, ScriptedExecutor


def fake_tank() -> FakeExecutor:
    host = FakeHost()
    host.create_pool("tank", mountpoint="/tank")
    return FakeExecutor(host)


def test_recording_keeps_every_operation_and_result() -> None:
    rec = RecordingExecutor(fake_tank())
    zfs = ZFS(rec)
    zfs.create_dataset("tank/a")
    assert zfs.exists("tank/a")
    assert [c[:2] for c in rec.calls] == [("zfs", "version"), ("zfs", "create"), ("zfs", "get")]
    assert [r.returncode for r in rec.results] == [0, 0, 0]


def test_fail_at_the_nth_matching_command_without_running_it() -> None:
    inner = fake_tank()
    rec = RecordingExecutor(inner)
    zfs = ZFS(rec, flavour=ZFS(inner).detect_flavour())
    rec.fail(2, match=("zfs", "create"), stderr="cannot create: out of space")
    zfs.create_dataset("tank/a")
    with pytest.raises(CommandFailed, match="out of space"):
        zfs.create_dataset("tank/b")
    zfs.create_dataset("tank/c")  # a fault fires once
    assert sorted(n for n in inner.host.datasets if n.startswith("tank/")) == ["tank/a", "tank/c"]


def test_hang_raises_a_timeout_without_running() -> None:
    inner = fake_tank()
    rec = RecordingExecutor(inner)
    rec.hang(match=re.compile(r"^zfs create"))
    with pytest.raises(CommandTimeout):
        rec.run(["zfs", "create", "tank/a"])
    assert "tank/a" not in inner.host.datasets


@pytest.mark.parametrize("after_running", [True, False])
def test_drop_loses_the_connection_after_or_before_running(after_running: bool) -> None:
    inner = fake_tank()
    rec = RecordingExecutor(inner)
    rec.drop(match=lambda argv: argv[:2] == ("zfs", "create"), after_running=after_running)
    with pytest.raises(ConnectionFailed):
        rec.run(["zfs", "create", "tank/a"])
    assert ("tank/a" in inner.host.datasets) is after_running


def test_intercept_answers_instead_of_the_inner_executor() -> None:
    inner = fake_tank()
    rec = RecordingExecutor(inner)

    def busy(argv: tuple[str, ...], _inner: object) -> Result:
        return Result(argv, 1, "", f"cannot destroy '{argv[-1]}': dataset is busy\n")

    rec.intercept(("zfs", "destroy"), busy)
    inner.run(["zfs", "create", "tank/a"]).check()
    assert rec.run(["zfs", "destroy", "tank/a"]).stderr.endswith("dataset is busy\n")
    assert "tank/a" in inner.host.datasets


def test_file_operations_are_recorded_and_faultable() -> None:
    inner = fake_tank()
    rec = RecordingExecutor(inner)
    rec.write_file("/etc/x.conf", "one\n")
    rec.fail(1, match=("read_file",), stderr="cat: /etc/x.conf: Permission denied")
    with pytest.raises(CommandFailed, match="Permission denied"):
        rec.read_file("/etc/x.conf")
    assert rec.read_file("/etc/x.conf") == b"one\n"
    assert rec.calls == [("write_file", "/etc/x.conf"), ("read_file", "/etc/x.conf"), ("read_file", "/etc/x.conf")]


def test_stream_is_recorded() -> None:
    inner = fake_tank()
    inner.run(["zfs", "snapshot", "tank@s"]).check()
    rec = RecordingExecutor(inner)
    with rec.stream(["zfs", "send", "tank@s"]) as out:
        assert sum(len(c) for c in out) > 0
    assert out.result is not None and out.result.returncode == 0
    assert rec.calls == [("zfs", "send", "tank@s")] and rec.results[-1].returncode == 0


def test_scripted_answers_by_prefix_regex_and_callable() -> None:
    ex = ScriptedExecutor()
    ex.on(("zfs", "version"), "zfs-2.3.2-1\nzfs-kmod-2.3.2-1\n")
    ex.on(re.compile(r"^zfs get .* tank/missing$"),
          Result(("zfs", "get"), 1, "", "cannot open 'tank/missing': dataset does not exist\n"))
    ex.on(("cat",), lambda argv, stdin: stdin.decode().upper())
    zfs = ZFS(ex)
    assert zfs.detect_flavour().version == "2.3.2-1"
    with pytest.raises(DatasetNotFound):
        zfs.get("tank/missing", "used")
    assert ex.run(["cat"], stdin="abc").stdout == "ABC"
    unknown = ex.run(["zpool", "scrub", "tank"])
    assert unknown.returncode == 127 and "not scripted" in unknown.stderr
    assert ex.calls[-1] == ("zpool", "scrub", "tank")
    with ex.stream(["zfs", "version"]) as out:
        assert b"".join(out).startswith(b"zfs-2.3.2")
    assert out.result is not None and out.result.returncode == 0


def test_scripted_files() -> None:
    ex = ScriptedExecutor()
    with pytest.raises(PathNotFound):
        ex.read_file("/etc/ganesha/exports.conf")
    ex.write_file("/etc/ganesha/exports.conf", "EXPORT {}\n")
    assert ex.files == {"/etc/ganesha/exports.conf": b"EXPORT {}\n"}
    assert ex.read_file("/etc/ganesha/exports.conf") == b"EXPORT {}\n"


def test_importing_the_package_loads_neither_pytest_nor_the_fake() -> None:
    import subprocess
    import sys

    code = ("import sys, pyzfsnas.testing; "
            "print(sorted(m for m in ('pytest', 'pyzfsnas.testing.fake') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
