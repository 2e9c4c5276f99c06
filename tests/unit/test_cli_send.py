"""``pyzfsnas send`` / ``pyzfsnas replicate`` in process, on fake hosts: full, incremental, resumed, a real
SIGINT (Ctrl-C) in the middle of a stream, a dropped link, progress on a terminal and off it."""

from __future__ import annotations

import io
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from tests.linkfaults import link_drop

from pyzfsnas import ZFS, cli
from pyzfsnas.cli_send import Reporter
from pyzfsnas.executors.base import OutputStream, Result
from pyzfsnas.replication import TransferResult
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

MiB = 1 << 20


class Pair:
    def __init__(self, dst_flavour: str = "openzfs") -> None:
        self.a = FakeHost(name="src")
        self.a.create_pool("tank", size=2048 * MiB, mountpoint="/tank")
        self.b = FakeHost(flavour=dst_flavour, name="dst")  # type: ignore[arg-type]
        self.b.create_pool("backup", size=2048 * MiB, mountpoint="/backup")
        z = ZFS(FakeExecutor(self.a))
        z.create_dataset("tank/a")
        for i in (1, 2, 3):
            self.a.write("tank/a", 6 * MiB)
            z.snapshot(f"tank/a@s{i}")
        self.src: Any = FakeExecutor(self.a)

    def snaps(self) -> list[str]:
        return [s.name.split("@")[1] for s in self.b.snapshots_of("backup/a")]


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Pair:
    p = Pair()
    monkeypatch.setattr(cli, "_fake_demo_host", lambda: p.src)
    monkeypatch.setattr(cli, "_fake_destination", lambda: FakeExecutor(p.b))
    return p


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli.main(["--fake", *argv, "--to-fake", "--retry-delay", "0"])
    got = capsys.readouterr()
    assert all(line.startswith("done: ") for line in got.out.splitlines())  # results on stdout, steps on stderr
    return code, got.err + got.out


def test_send_full_then_incremental(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "send", "tank/a@s1", "backup/a")
    assert code == 0, err
    assert err.splitlines()[0] == "full tank/a@s1 into backup/a (about 6.1 MiB)"
    assert err.splitlines()[-1].startswith("done: 6.1 MiB in ")
    assert "\r" not in err  # not a terminal: one line per step
    code, err = run(capsys, "send", "tank/a@s3", "backup/a", "-I", "@s1")
    assert code == 0, err
    assert err.startswith("incremental -I @s1 -> tank/a@s3 into backup/a (about 12.0 MiB)")
    assert pair.snaps() == ["s1", "s2", "s3"]


def test_replicate_full_then_incremental_then_up_to_date(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "replicate", "tank/a", "backup/a")
    assert code == 0, err
    steps = [line for line in err.splitlines() if not line.startswith("done")]
    assert steps == ["full tank/a@s1 into backup/a (about 6.1 MiB)",
                     "incremental -I @s1 -> tank/a@s3 into backup/a (about 12.0 MiB)"]
    assert pair.snaps() == ["s1", "s2", "s3"]
    ZFS(pair.src).snapshot("tank/a@s4")
    code, err = run(capsys, "replicate", "tank/a", "backup/a")
    assert code == 0 and err.startswith("incremental -I @s3 -> tank/a@s4")
    code, err = run(capsys, "replicate", "tank/a", "backup/a")
    assert (code, err) == (0, "backup/a is up to date (tank/a@s4)\n")


def _ctrl_c(inner: Any, after: int) -> RecordingExecutor:
    """``inner`` that delivers a real SIGINT to this process once a ``zfs send`` stream passed ``after`` bytes."""
    pending = [after]

    def interrupting(_argv: tuple[str, ...], out: OutputStream) -> OutputStream:
        class Interrupting:
            @property
            def result(self) -> Result | None:
                return out.result

            def __iter__(self) -> Iterator[bytes]:
                sent = 0
                for chunk in out:
                    sent += len(chunk)
                    if pending and sent > pending[0]:
                        pending.clear()
                        os.kill(os.getpid(), signal.SIGINT)
                    yield chunk

        return Interrupting()

    rec = RecordingExecutor(inner)
    rec.intercept_stream(("zfs", "send"), interrupting)
    return rec


def test_ctrl_c_keeps_a_resumable_state_and_says_how_to_resume(pair: Pair,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    pair.src = _ctrl_c(FakeExecutor(pair.a), after=3 * MiB)
    code, err = run(capsys, "send", "tank/a@s1", "backup/a")
    assert code == 130
    assert ("pyzfsnas: interrupted; the partial state is kept in backup/a: run the same command again to "
            "resume; discard it instead with: zfs receive -A backup/a") in err
    assert ZFS(FakeExecutor(pair.b)).resume_token("backup/a") is not None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    pair.src = FakeExecutor(pair.a)
    code, err = run(capsys, "send", "tank/a@s1", "backup/a")
    assert code == 0, err
    assert "resuming tank/a@s1 into backup/a" in err and "resumed 1x" in err
    assert pair.snaps() == ["s1"]


def test_a_dropped_link_is_resumed_and_reported(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    pair.src = link_drop(FakeExecutor(pair.a), send_cuts=[2 * MiB])
    code, err = run(capsys, "send", "tank/a@s2", "backup/a")
    assert code == 0, err
    assert "interrupted after 2097152 bytes (injected: connection lost" in err and "attempt 1 of 3" in err
    assert pair.snaps() == ["s2"]


def test_zfs_fuse_destination_is_not_resumable(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    p = Pair("zfs-fuse")
    monkeypatch.setattr(cli, "_fake_demo_host", lambda: p.src)
    monkeypatch.setattr(cli, "_fake_destination", lambda: FakeExecutor(p.b))
    code, err = run(capsys, "send", "tank/a@s1", "backup/a", "--resumable")
    assert code == 1 and "resumable transfers need OpenZFS on both hosts" in err
    code, err = run(capsys, "send", "tank/a@s1", "backup/a")
    assert code == 0, err
    assert all(c[:3] != ("zfs", "receive", "-s") for c in FakeExecutor(p.b).commands)
    assert p.snaps() == ["s1"]


def test_progress_bar_on_a_terminal() -> None:
    now = [0.0]
    out = io.StringIO()
    rep = Reporter(out, tty=True, clock=lambda: now[0])
    rep.begin("full tank/a@s1 into backup/a", 100 * MiB)
    now[0] = 2.0
    rep.progress(25 * MiB)
    now[0] = 4.0
    rep.progress(50 * MiB)
    rep.done(TransferResult("tank/a@s1", "backup/a", 100 * MiB, Result(("zfs",), 0), 1))
    text = out.getvalue()
    assert "\r\033[K  [######..................]  25.0%  25.0 MiB of 100.0 MiB  12.5 MiB/s  ETA 0:06" in text
    assert "ETA 0:04" in text  # 50 MiB left at 12.5 MiB/s
    assert text.endswith("\r\033[Kdone: 100.0 MiB in 4.0 s (25.0 MiB/s), resumed 1x\n")
