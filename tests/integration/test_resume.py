"""Resumable replication: ``receive -s`` keeps what arrived, ``transfer`` resumes with ``send -t``.

On fake hosts (OpenZFS flavour), whose ``zfs receive`` checks every payload byte at its offset, so a resume
from the wrong place fails as a real receive's checksums would. The links are broken by ``tests.linkfaults``:
a dropped connection on either side, or a sender killed with SIGKILL (a real process).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

import pytest
from tests.linkfaults import killed_sender, link_drop, ssh_like_sender

from pyzfsnas import ZFS
from pyzfsnas.errors import (
    ConnectionFailed,
    DatasetNotFound,
    InvalidName,
    ParseError,
    PartialReceiveExists,
    StaleResumeToken,
    UnsupportedOperation,
)
from pyzfsnas.replication import TransferCancelled, TransferInterrupted, transfer
from pyzfsnas.result import Result
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

MiB = 1 << 20


def _hosts(flavour: str = "openzfs") -> tuple[FakeHost, FakeHost]:
    a, b = FakeHost(flavour=flavour, name="alpha"), FakeHost(flavour=flavour, name="beta")  # type: ignore[arg-type]
    a.create_pool("tank", size=2048 * MiB, mountpoint="/tank")
    b.create_pool("backup", size=2048 * MiB, mountpoint="/backup")
    ZFS(FakeExecutor(a)).create_dataset("tank/data")
    a.write("tank/data", 20 * MiB)
    ZFS(FakeExecutor(a)).snapshot("tank/data@s1")
    return a, b


def _same(a: FakeHost, b: FakeHost, src: str, dst: str) -> None:
    """The destination holds the source's snapshots (same guids) and the same data."""
    sa = [(s.name.split("@")[1], s.guid) for s in a.snapshots_of(src)]
    sb = [(s.name.split("@")[1], s.guid) for s in b.snapshots_of(dst)]
    assert sb == sa
    assert b.datasets[dst].data == a.datasets[src].data
    assert b.datasets[dst].partial is None


def test_full_transfer_resumes_after_the_source_link_drops(caplog: pytest.LogCaptureFixture) -> None:
    a, b = _hosts()
    src = ZFS(link_drop(FakeExecutor(a), send_cuts=[7 * MiB + 12345]))
    dst = ZFS(FakeExecutor(b))
    with caplog.at_level(logging.WARNING, "pyzfsnas"):
        res = transfer(src, "tank/data@s1", dst, "backup/data", resumable=True, retry_delay=0)
    assert res.resumes == 1
    _same(a, b, "tank/data", "backup/data")
    assert b.datasets["backup/data"].mounted
    assert any("interrupted after" in r.message and "attempt 1 of 3" in r.message for r in caplog.records)
    sends = [c for c in src.executor.inner.commands if c[:2] == ("zfs", "send")]  # type: ignore[attr-defined]
    assert sends[0] == ("zfs", "send", "tank/data@s1")
    assert sends[-1][:3] == ("zfs", "send", "-t")
    # what was sent twice is at most the part after the last 128 KiB record boundary
    assert 20 * MiB < res.nbytes < 20 * MiB + 128 * 1024 + 4096


def test_incremental_series_cut_in_the_middle_resumes_then_continues() -> None:
    a, b = _hosts()
    za = ZFS(FakeExecutor(a))
    transfer(za, "tank/data@s1", ZFS(FakeExecutor(b)), "backup/data")
    for i in (2, 3, 4):
        a.write("tank/data", 3 * MiB)
        za.snapshot(f"tank/data@s{i}")
    # the -I stream carries s2, s3, s4 (3 MiB each + header): cut inside s3
    src = ZFS(link_drop(FakeExecutor(a), send_cuts=[4 * MiB]))
    res = transfer(src, "tank/data@s4", ZFS(FakeExecutor(b)), "backup/data", incremental_from="@s1",
                   intermediates=True, resumable=True, retry_delay=0)
    assert res.resumes == 1
    _same(a, b, "tank/data", "backup/data")
    sends = [c for c in src.executor.inner.commands if c[:2] == ("zfs", "send")]  # type: ignore[attr-defined]
    assert sends[-1] == ("zfs", "send", "-I", "@s3", "tank/data@s4")  # continued from the resumed s3


def test_resumes_after_the_destination_link_drops(caplog: pytest.LogCaptureFixture) -> None:
    a, b = _hosts()
    dst = ZFS(link_drop(FakeExecutor(b), receive_cuts=[5 * MiB]))
    src = ZFS(ssh_like_sender(FakeExecutor(a)))  # its send is killed (exit -1) when we stop reading it
    with caplog.at_level(logging.WARNING, "pyzfsnas"):
        res = transfer(src, "tank/data@s1", dst, "backup/data", resumable=True, retry_delay=0)
    assert res.resumes == 1
    _same(a, b, "tank/data", "backup/data")
    # the cause is named: the receive's lost connection, not the send it took down with it
    assert any("connection lost while running 'zfs receive" in r.message for r in caplog.records)


def test_resumes_after_the_sender_is_killed_with_sigkill() -> None:
    a, b = _hosts()
    src = ZFS(killed_sender(FakeExecutor(a), send_cuts=[9 * MiB, 3 * MiB]))
    res = transfer(src, "tank/data@s1", ZFS(FakeExecutor(b)), "backup/data", resumable=True, retry_delay=0)
    assert res.resumes == 2
    _same(a, b, "tank/data", "backup/data")


def test_retries_are_bounded_and_a_later_call_finishes_what_was_left() -> None:
    a, b = _hosts()
    src = ZFS(link_drop(FakeExecutor(a), send_cuts=[2 * MiB] * 3))
    with pytest.raises(TransferInterrupted) as info:
        transfer(src, "tank/data@s1", ZFS(FakeExecutor(b)), "backup/data", resumable=True, retries=2,
                 retry_delay=0)
    dst = ZFS(FakeExecutor(b))
    assert info.value.token == dst.resume_token("backup/data")
    assert "zfs receive -A backup/data" in str(info.value)
    assert not dst.exists("backup/data@s1")
    # a new process: the same call picks the partial state up
    fresh = ZFS(FakeExecutor(a))
    res = transfer(fresh, "tank/data@s1", dst, "backup/data", resumable=True, retry_delay=0)
    assert res.resumes == 1 and res.nbytes < 20 * MiB
    _same(a, b, "tank/data", "backup/data")


def test_cancel_discards_the_partial_receive() -> None:
    a, b = _hosts()
    cancel = threading.Event()

    def progress(n: int) -> None:
        if n > 4 * MiB:
            cancel.set()

    dst = ZFS(FakeExecutor(b))
    with pytest.raises(TransferCancelled):
        transfer(ZFS(FakeExecutor(a)), "tank/data@s1", dst, "backup/data", resumable=True, progress=progress,
                 cancel=cancel, retry_delay=0)
    assert not dst.exists("backup/data")
    assert ("zfs", "receive", "-A", "backup/data") in dst.executor.commands  # type: ignore[attr-defined]


def test_cancel_of_an_incremental_leaves_the_target_as_it_was() -> None:
    a, b = _hosts()
    za, dst = ZFS(FakeExecutor(a)), ZFS(FakeExecutor(b))
    transfer(za, "tank/data@s1", dst, "backup/data")
    before = set(b.datasets["backup/data"].data)
    a.write("tank/data", 8 * MiB)
    za.snapshot("tank/data@s2")
    cancel = threading.Event()
    with pytest.raises(TransferCancelled):
        transfer(za, "tank/data@s2", dst, "backup/data", incremental_from="@s1", resumable=True,
                 progress=lambda n: cancel.set() if n > MiB else None, cancel=cancel, retry_delay=0)
    assert dst.resume_token("backup/data") is None
    assert [s.snapname for s in dst.snapshots("backup/data")] == ["s1"]
    assert b.datasets["backup/data"].data == before


def test_stop_keeps_a_resumable_state() -> None:
    a, b = _hosts()
    stop = threading.Event()
    dst = ZFS(FakeExecutor(b))
    with pytest.raises(TransferInterrupted) as info:
        transfer(ZFS(FakeExecutor(a)), "tank/data@s1", dst, "backup/data", resumable=True,
                 progress=lambda n: stop.set() if n > 6 * MiB else None, stop=stop, retry_delay=0)
    assert dst.resume_token("backup/data") == info.value.token
    res = transfer(ZFS(FakeExecutor(a)), "tank/data@s1", dst, "backup/data", resumable=True, retry_delay=0)
    assert res.resumes == 1
    _same(a, b, "tank/data", "backup/data")


def test_without_resumable_a_dropped_link_keeps_nothing() -> None:
    a, b = _hosts()
    src = ZFS(link_drop(FakeExecutor(a), send_cuts=[5 * MiB]))
    with pytest.raises(ConnectionFailed):
        transfer(src, "tank/data@s1", ZFS(FakeExecutor(b)), "backup/data")
    assert "backup/data" not in b.datasets


def test_a_partial_state_whose_snapshot_is_gone_is_discarded_and_the_transfer_starts_afresh() -> None:
    a, b = _hosts()
    za, dst = ZFS(FakeExecutor(a)), ZFS(FakeExecutor(b))
    with pytest.raises(TransferInterrupted):
        transfer(ZFS(link_drop(FakeExecutor(a), send_cuts=[MiB] * 2)), "tank/data@s1", dst, "backup/data",
                 resumable=True, retries=1, retry_delay=0)
    token = dst.resume_token("backup/data")
    assert token is not None
    za.snapshot("tank/data@s2")
    za.destroy("tank/data@s1")
    with pytest.raises(StaleResumeToken, match="used in the initial send no longer exists"):
        za.resume_info(token)
    transfer(za, "tank/data@s2", dst, "backup/data", resumable=True, retry_delay=0)
    _same(a, b, "tank/data", "backup/data")


def test_zfs_fuse_has_no_resumable_receive() -> None:
    a, b = _hosts("zfs-fuse")
    za, zb = ZFS(FakeExecutor(a)), ZFS(FakeExecutor(b))
    with pytest.raises(UnsupportedOperation):
        transfer(za, "tank/data@s1", zb, "backup/data", resumable=True)
    with pytest.raises(UnsupportedOperation):
        zb.receive_abort("backup/data")
    assert zb.resume_token("backup/data") is None
    with pytest.raises(InvalidName):
        za.resume_info("not-a-token")
    assert set(zb.executor.commands) <= {("zfs", "version")}  # type: ignore[attr-defined]


def test_fake_receive_s_speaks_like_openzfs() -> None:
    """The messages and states of an interrupted ``receive -s`` (libzfs_sendrecv.c, zfs_main.c, 2.3)."""
    a, b = _hosts()
    ea, eb = FakeExecutor(a), FakeExecutor(b)
    with ea.stream(["zfs", "send", "tank/data@s1"]) as out:
        blob = b"".join(out)
    r = eb.run(["zfs", "receive", "backup/data"], stdin=blob[: 3 * MiB])
    assert r.returncode == 1 and r.stderr == "cannot receive new filesystem stream: incomplete stream\n"
    assert "backup/data" not in b.datasets
    r = eb.run(["zfs", "receive", "-s", "backup/data"], stdin=blob[: 3 * MiB])
    lines = r.stderr.splitlines()
    assert lines[:3] == ["cannot receive new filesystem stream: checksum mismatch or incomplete stream.",
                         "Partially received snapshot is saved.",
                         "A resuming stream can be generated on the sending system by running:"]
    token = eb.run(["zfs", "get", "-H", "-o", "value", "receive_resume_token", "backup/data"]).stdout.strip()
    assert lines[3] == f"    zfs send -t {token}" and token.startswith("1-")
    assert eb.run(["zfs", "list", "-H", "-o", "name,mounted", "backup/data"]).stdout == "backup/data\tno\n"
    r = eb.run(["zfs", "receive", "-F", "backup/data"], stdin=blob)
    assert r.stderr == ('cannot receive new filesystem stream: destination backup/data contains '
                        'partially-complete state from "zfs receive -s".\n')
    with pytest.raises(PartialReceiveExists):
        r.check()
    r = eb.run(["zfs", "receive", "backup/data"], stdin=blob)
    assert "destination 'backup/data' exists\nmust specify -F to overwrite it" in r.stderr
    dry = ea.run(["zfs", "send", "-nvP", "-t", token]).stdout
    assert dry.startswith("resume token contents:\nnvlist version: 0\n") and "\ttoname = tank/data@s1\n" in dry
    with ea.stream(["zfs", "send", "-t", token]) as out:
        rest = b"".join(out)
    assert len(rest) < len(blob)
    assert eb.run(["zfs", "receive", "-s", "backup/data"], stdin=rest).returncode == 0
    assert eb.run(["zfs", "get", "-H", "-o", "value", "receive_resume_token", "backup/data"]).stdout == "-\n"
    r = eb.run(["zfs", "receive", "-A", "backup/data"])
    assert (r.returncode, r.stderr) == (1, "'backup/data' does not have any resumable receive state to abort\n")
    bad = ea.run(["zfs", "send", "-t", "1-0-0-00"])
    assert bad.stderr == "cannot resume send: resume token is corrupt (incorrect checksum)\n"


def test_a_resume_stream_at_the_wrong_offset_is_refused() -> None:
    a, b = _hosts()
    ea, eb = FakeExecutor(a), FakeExecutor(b)
    with ea.stream(["zfs", "send", "tank/data@s1"]) as out:
        blob = b"".join(out)
    eb.run(["zfs", "receive", "-s", "backup/data"], stdin=blob[: 3 * MiB])
    # skipping bytes of the payload is caught at once (the fake checks each byte at its offset)
    r = eb.run(["zfs", "receive", "backup/other"], stdin=blob[: 3 * MiB] + blob[3 * MiB + 1:])
    assert r.returncode == 1 and "incomplete stream" in r.stderr
    assert "backup/other" not in b.datasets
    with pytest.raises(DatasetNotFound):
        ZFS(eb).get("backup/other", "used")


# ---------------------------------------------------------------------------------------------- real OpenZFS
def _guest_digest(guest: Any, root: str) -> dict[str, str]:
    out = guest.run("sh", "-c", 'cd "$1" && find . -type f -exec sha256sum {} +', "sh", root).stdout
    return {name: digest for digest, name in (line.split(None, 1) for line in out.splitlines())}


def test_openzfs_resumes_after_the_ssh_connection_drops_mid_stream(openzfs: Any) -> None:
    """Real OpenZFS: the receive's SSH connection is cut (its TCP socket shut down) mid-stream; transfer()
    reads the token, resumes with ``zfs send -t`` and the files on the destination are byte-exact."""
    guest = openzfs
    src = ZFS(guest.executor)
    recv_ex = guest.guest.executor()
    dst = ZFS(recv_ex)
    name = f"rs{os.getpid()}"
    try:
        src.create_dataset(f"tank/{name}")
        guest.run("sh", "-c", 'head -c 40M /dev/urandom > "$1/a.bin" && head -c 77777 /dev/urandom > "$1/b.bin"'
                  " && sync", "sh", f"/tank/{name}")
        src.snapshot(f"tank/{name}@s1")
        dropped = []

        def progress(n: int) -> None:
            if n > 12 * MiB and not dropped:
                dropped.append(n)
                transport = recv_ex._client.get_transport()  # the receive's live connection
                transport.sock.shutdown(socket.SHUT_RDWR)

        res = transfer(src, f"tank/{name}@s1", dst, f"backup/{name}", resumable=True, retry_delay=3,
                       progress=progress)
        assert dropped and res.resumes >= 1
        assert dst.resume_token(f"backup/{name}") is None
        assert src.get(f"tank/{name}@s1", "guid").raw("guid") == dst.get(f"backup/{name}@s1", "guid").raw("guid")
        digest = _guest_digest(guest, f"/backup/{name}")
        assert digest == _guest_digest(guest, f"/tank/{name}") and set(digest) == {"./a.bin", "./b.bin"}
    finally:
        for ds in (f"tank/{name}", f"backup/{name}"):
            guest.run("zfs", "destroy", "-r", ds, check=False)
        recv_ex.close()


def test_fake_partial_receive_matches_real_openzfs(openzfs: Any) -> None:
    """The same truncated ``receive -s``, refused re-receive, resume and ``-A`` on the guest and on the fake."""
    guest = openzfs
    name = f"cf{os.getpid()}"
    a, b = _hosts()
    fake = FakeExecutor(b)
    with FakeExecutor(a).stream(["zfs", "send", "tank/data@s1"]) as out:
        fake_blob = b"".join(out)

    def real(script: str) -> Any:
        return guest.run("sh", "-c", script, check=False)

    try:
        real(f"zfs create tank/{name} && head -c 20M /dev/urandom > /tank/{name}/f && zfs snapshot tank/{name}@s1")
        steps: list[tuple[Any, Any]] = []
        steps.append((real(f"zfs send tank/{name}@s1 | head -c 3000000 | zfs receive -s backup/{name}"),
                      fake.run(["zfs", "receive", "-s", f"backup/{name}"], stdin=fake_blob[:3000000])))
        steps.append((real(f"zfs send tank/{name}@s1 | zfs receive -F backup/{name}"),
                      fake.run(["zfs", "receive", "-F", f"backup/{name}"], stdin=fake_blob)))
        steps.append((real(f"zfs list -H -o name,mounted backup/{name}"),
                      fake.run(["zfs", "list", "-H", "-o", "name,mounted", f"backup/{name}"])))
        steps.append((real(f"zfs receive -A backup/{name}"), fake.run(["zfs", "receive", "-A", f"backup/{name}"])))
        steps.append((real(f"zfs receive -A backup/{name}"), fake.run(["zfs", "receive", "-A", f"backup/{name}"])))
        for i, (r, f) in enumerate(steps):
            # the real pipelines' zfs send may also warn of the pipe its receive closed; the token differs;
            # usage texts differ between versions, so a usage error is compared by its first line only
            real_err = [ln for ln in r.stderr.splitlines() if "zfs send -t" not in ln
                        and not ln.startswith("warning: cannot send")]
            fake_err = [ln for ln in f.stderr.splitlines() if "zfs send -t" not in ln]
            n = 1 if r.returncode == 2 else 3
            assert (r.returncode, real_err[:n], r.stdout) == (f.returncode, fake_err[:n], f.stdout), f"step {i}"
    finally:
        real(f"zfs destroy -r tank/{name}; zfs destroy -r backup/{name}")


def test_a_size_line_in_other_digits_is_a_parse_error_not_a_value_error() -> None:
    # "²".isdigit() is True: the facade parsed it with int() and raised ValueError (send_size, resume_info).
    a, _ = _hosts()
    token = "1-ab-cd-ef"
    ex = RecordingExecutor(FakeExecutor(a))
    ex.intercept(lambda argv: argv[:3] == ("zfs", "send", "-nP"),
                 lambda argv, _inner: Result(argv, 0, "full\ttank/data@s1\t1\nsize\t\u00b2\n", ""))
    ex.intercept(lambda argv: argv[:3] == ("zfs", "send", "-nvP"),
                 lambda argv, _inner: Result(argv, 0, "\ttoname = tank/data@s1\nsize\t\u00b2\n", ""))
    za = ZFS(ex)
    with pytest.raises(ParseError):
        za.send_size("tank/data@s1")
    with pytest.raises(ParseError):
        za.resume_info(token)
