"""pyzfsnas.testing: RecordingExecutor (faults at command N, byte cuts, a shared KillSwitch) and ScriptedExecutor
(issue 14 item 6)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import CommandFailed, CommandTimeout, ConnectionFailed, DatasetNotFound, PathNotFound
from pyzfsnas.executors.base import OutputStream
from pyzfsnas.result import Result
from pyzfsnas.testing import FakeExecutor, FakeHost, Killed, KillSwitch, RecordingExecutor, ScriptedExecutor

MiB = 1 << 20


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


def test_a_failed_stream_yields_nothing_and_reports_the_failure() -> None:
    inner = fake_tank()
    inner.run(["zfs", "snapshot", "tank@s"]).check()
    rec = RecordingExecutor(inner)
    rec.fail(match=("zfs", "send"), returncode=2, stderr="boom")
    with rec.stream(["zfs", "send", "tank@s"]) as out:
        assert list(out) == []
    assert out.result is not None and (out.result.returncode, out.result.stderr) == (2, "boom\n")
    assert ("zfs", "send", "tank@s") not in inner.commands  # it never ran


def _source(size: int = 6 * MiB) -> tuple[FakeExecutor, FakeExecutor]:
    """A source with ``tank/d@s`` holding ``size`` bytes, and an empty destination with a pool ``backup``."""
    src = fake_tank()
    src.run(["zfs", "create", "tank/d"]).check()
    src.host.write("tank/d", size)
    src.run(["zfs", "snapshot", "tank/d@s"]).check()
    dst = FakeHost()
    dst.create_pool("backup", mountpoint="/backup")
    return src, FakeExecutor(dst)


def test_drop_after_bytes_cuts_a_stream_then_the_next_passes_whole() -> None:
    src, _ = _source()
    rec = RecordingExecutor(src)
    rec.drop(match=("zfs", "send"), after_bytes=MiB + 123)
    got = bytearray()
    with (pytest.raises(ConnectionFailed, match="after 1048699 bytes of 'zfs send tank/d@s'"),
          rec.stream(["zfs", "send", "tank/d@s"]) as out):
        for chunk in out:
            got += chunk
    assert len(got) == MiB + 123
    with rec.stream(["zfs", "send", "tank/d@s"]) as out:
        whole = b"".join(out)
    assert len(whole) > 6 * MiB and whole.startswith(bytes(got))  # a fault fires once


def test_drop_after_bytes_feeds_the_receive_only_that_many_bytes() -> None:
    fed: list[int] = []
    inner = ScriptedExecutor().on(("zfs", "receive"), lambda argv, stdin: fed.append(len(stdin)) or "")
    rec = RecordingExecutor(inner)
    rec.drop(match=("zfs", "receive"), after_bytes=2500)
    with pytest.raises(ConnectionFailed, match="while running 'zfs receive backup/d', after 2500 bytes"):
        rec.run(["zfs", "receive", "backup/d"], stdin=iter([b"x" * 1000] * 5))
    assert fed == [2500]
    assert rec.results[-1].returncode == 0  # the receive's own end, recorded but never returned


def test_a_receive_cut_mid_stream_keeps_a_resumable_state_on_the_fake_host() -> None:
    src, dst = _source()
    rec = RecordingExecutor(dst)
    rec.drop(match=("zfs", "receive"), after_bytes=3 * MiB)
    with src.stream(["zfs", "send", "tank/d@s"]) as out, pytest.raises(ConnectionFailed):
        rec.run(["zfs", "receive", "-s", "backup/d"], stdin=out)
    token = dst.run(["zfs", "get", "-H", "-o", "value", "receive_resume_token", "backup/d"]).stdout.strip()
    assert token.startswith("1-")
    with src.stream(["zfs", "send", "-t", token]) as rest:
        assert rec.run(["zfs", "receive", "-s", "backup/d"], stdin=rest).returncode == 0
    assert "backup/d@s" in dst.host.datasets


def test_a_byte_cut_counts_only_commands_that_carry_a_stream() -> None:
    fed: list[int] = []
    inner = ScriptedExecutor().on(("zfs", "receive"), lambda argv, stdin: fed.append(len(stdin)) or "")
    rec = RecordingExecutor(inner)
    rec.drop(1, match=("zfs", "receive"), after_bytes=10)
    assert rec.run(["zfs", "receive", "-A", "backup/d"]).returncode == 0  # no stdin: not counted
    assert rec.run(["zfs", "receive", "backup/d"], stdin=b"y" * 50).returncode == 0  # all at once: not counted
    with pytest.raises(ConnectionFailed):
        rec.run(["zfs", "receive", "backup/d"], stdin=[b"z" * 50])
    assert fed == [0, 50, 10]


def test_intercept_stream_hands_the_output_through_a_handler() -> None:
    src, _ = _source(MiB)
    rec = RecordingExecutor(src)

    class FirstChunkOnly:
        def __init__(self, argv: tuple[str, ...], out: OutputStream) -> None:
            self.out, self.argv = out, argv

        def __iter__(self) -> Iterator[bytes]:
            yield next(iter(self.out))

        @property
        def result(self) -> Result | None:
            return Result(self.argv, -1, "", "")

    rec.intercept_stream(("zfs", "send"), FirstChunkOnly)
    with rec.stream(["zfs", "send", "tank/d@s"]) as out:
        chunks = list(out)
    assert len(chunks) == 1 and out.result is not None and out.result.returncode == -1
    assert rec.results[-1].returncode == -1  # the handler's result is the one recorded


def _hosts() -> tuple[FakeExecutor, FakeExecutor]:
    a, b = fake_tank(), FakeHost()
    b.create_pool("backup", mountpoint="/backup")
    return a, FakeExecutor(b)


def test_a_kill_switch_counts_the_steps_of_every_executor_and_then_everything_dies() -> None:
    a, b = _hosts()
    process = KillSwitch(3)
    ra, rb = RecordingExecutor(a, kill_switch=process), RecordingExecutor(b, kill_switch=process)
    ra.run(["zfs", "create", "tank/x"]).check()
    rb.run(["zfs", "create", "backup/x"]).check()
    process.step(("store.update", "x"))  # a step of the process that is no command
    with pytest.raises(Killed):
        ra.run(["zfs", "create", "tank/y"])
    for later in (lambda: rb.run(["zfs", "create", "backup/y"]), lambda: ra.read_file("/etc/exports"),
                  lambda: process.step(("store.delete", "x"))):
        with pytest.raises(Killed):  # every later step dies too, on any executor
            later()
    assert process.dead and process.log == [("zfs", "create", "tank/x"), ("zfs", "create", "backup/x"),
                                            ("store.update", "x")]
    assert "tank/y" not in a.host.datasets and "backup/y" not in b.host.datasets
    assert ra.calls[-1] == ("read_file", "/etc/exports")  # asked for (recorded), never run
    assert rb.results[-1].argv == ("zfs", "create", "backup/x")


def test_killed_escapes_except_exception() -> None:
    a, _ = _hosts()
    rec = RecordingExecutor(a, kill_switch=KillSwitch(0))
    with pytest.raises(Killed):
        try:
            rec.run(["zfs", "list"])
        except Exception:  # what a clean-up in the code under test would catch
            pytest.fail("Killed is not an Exception")


def test_file_operations_are_steps_of_the_kill_switch() -> None:
    a, _ = _hosts()
    process = KillSwitch(1)
    rec = RecordingExecutor(a, kill_switch=process)
    rec.write_file("/etc/x.conf", "one\n")
    with pytest.raises(Killed):
        rec.write_file("/etc/x.conf", "two\n")
    assert a.host.files["/etc/x.conf"] == b"one\n"
    assert process.log == [("write_file", "/etc/x.conf")]
    rec.close()  # a dead process closes nothing (and does not die again)


def test_the_dying_receive_gets_some_of_its_stream_first() -> None:
    fed: list[int] = []
    inner = ScriptedExecutor().on(("zfs", "receive"), lambda argv, stdin: fed.append(len(stdin)) or "")
    process = KillSwitch(1, stdin_chunks=2)
    rec = RecordingExecutor(inner, kill_switch=process)
    rec.run(["zfs", "list"])
    chunks = iter([b"a" * 100, b"b" * 200, b"c" * 300])
    with pytest.raises(Killed):
        rec.run(["zfs", "receive", "backup/d"], stdin=chunks)
    assert fed == [300] and next(chunks) == b"c" * 300  # two chunks went in, the third was never read
    with pytest.raises(Killed):
        rec.run(["zfs", "receive", "backup/d"], stdin=iter([b"d"]))
    assert fed == [300]


def test_a_kill_switch_dies_with_the_exception_asked_for() -> None:
    a, _ = _hosts()
    with pytest.raises(KeyboardInterrupt):
        RecordingExecutor(a, kill_switch=KillSwitch(0, death=KeyboardInterrupt)).run(["zfs", "list"])
    called: list[bool] = []
    with pytest.raises(Killed):  # a death that returns nothing (it could have SIGKILLed the process) -> Killed
        KillSwitch(0, death=lambda: called.append(True)).step(("x",))
    assert called == [True]


def test_a_kill_switch_without_allow_only_logs_and_clearing_the_log_counts_afresh() -> None:
    a, b = _hosts()
    process = KillSwitch()
    ZFS(RecordingExecutor(a, kill_switch=process)).create_dataset("tank/x")
    ZFS(RecordingExecutor(b, kill_switch=process)).create_dataset("backup/x")
    process.step("db.write")  # a name is a step of one part
    assert [s[:2] for s in process.log] == [("zfs", "version"), ("zfs", "create")] * 2 + [("db.write",)]
    process.log.clear()
    process.allow = 1
    rec = RecordingExecutor(a, kill_switch=process)
    rec.run(["zfs", "list"])
    with pytest.raises(Killed):
        rec.run(["zfs", "list"])


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
