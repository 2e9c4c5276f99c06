"""Replication between hosts: full and incremental, streamed through us or piped directly by the source.

Real runs use two zfs-fuse pools as two hosts, reached locally and through SSHExecutor to a real sshd, and the
two pools of the real OpenZFS guest over its SSH session; they compare file contents byte for byte on the
destination's mountpoint. Fake runs use two FakeHosts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas import ZFS, LocalExecutor
from pyzfsnas.errors import DatasetNotFound, UnsupportedOperation
from pyzfsnas.executors.base import CHUNK_SIZE
from pyzfsnas.replication import SSHTarget, direct_pipeline, transfer, transfer_direct
from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork

MiB = 1 << 20


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _write(path: Path, nbytes: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(os.urandom(nbytes))
        f.flush()
        os.fsync(f.fileno())


class LocalFiles:
    """Files on this machine's mountpoints (zfs-fuse pools)."""

    def write(self, path: str, nbytes: int) -> None:
        _write(Path(path), nbytes)

    def unlink(self, path: str) -> None:
        Path(path).unlink()

    def digest(self, root: str) -> dict[str, str]:
        return _digest_tree(Path(root))


class GuestFiles:
    """Files inside the OpenZFS guest, written and hashed there over the session's SSH connection."""

    def __init__(self, guest: Any) -> None:
        self.guest = guest

    def write(self, path: str, nbytes: int) -> None:
        self.guest.run("sh", "-c", 'mkdir -p "${2%/*}" && head -c "$1" /dev/urandom > "$2" && sync', "sh",
                       str(nbytes), path)

    def unlink(self, path: str) -> None:
        self.guest.run("rm", "--", path)

    def digest(self, root: str) -> dict[str, str]:
        out = self.guest.run("sh", "-c", 'cd "$1" && find . -type f -exec sha256sum {} +', "sh", root).stdout
        return {name.removeprefix("./"): digest for digest, name in (line.split(None, 1) for line in
                                                                      out.splitlines())}


class Pair:
    """A source and a destination dataset on (possibly) different hosts, cleaned up afterwards."""

    def __init__(self, src: ZFS, src_root: str, dst: ZFS, dst_root: str, files: Any = None) -> None:
        self.src, self.dst = src, dst
        self.files = files or LocalFiles()
        tag = f"r{os.getpid()}_{id(self) % 100000}"
        self.src_ds, self.dst_ds = f"{src_root}/{tag}", f"{dst_root}/{tag}"

    def cleanup(self) -> None:
        for zfs, name in ((self.src, self.src_ds), (self.dst, self.dst_ds)):
            with contextlib.suppress(DatasetNotFound):
                zfs.destroy(name, recursive=True)


@pytest.fixture(params=["local-local", "local-ssh", "ssh-ssh", "openzfs"])
def real_pair(request: pytest.FixtureRequest) -> Iterator[Pair]:
    if request.param == "openzfs":
        request.node.add_marker(pytest.mark.openzfs)
        guest = request.getfixturevalue("openzfs")
        zfs = ZFS(guest.executor)
        pair = Pair(zfs, "tank", zfs, "backup", GuestFiles(guest))
        try:
            yield pair
        finally:
            pair.cleanup()
        return
    request.node.add_marker(pytest.mark.zfsfuse)
    pools = request.getfixturevalue("zfsfuse_pools")
    local = ZFS(LocalExecutor())
    ends = request.param.split("-")
    ssh = ZFS(request.getfixturevalue("ssh_root_executor")) if "ssh" in ends else None
    src = ssh if ends[0] == "ssh" else local
    dst = ssh if ends[1] == "ssh" else local
    assert src is not None and dst is not None
    pair = Pair(src, pools.tank.name, dst, pools.backup.name)
    try:
        yield pair
    finally:
        pair.cleanup()


def test_full_then_incremental_is_byte_exact(real_pair: Pair) -> None:
    p, files = real_pair, real_pair.files
    p.src.create_dataset(p.src_ds)
    src_mp = p.src.dataset(p.src_ds).mountpoint or ""
    files.write(f"{src_mp}/a.bin", 3 * MiB + 17)
    files.write(f"{src_mp}/dir/b.bin", 12345)
    p.src.snapshot(f"{p.src_ds}@s1")
    seen: list[int] = []
    result = transfer(p.src, f"{p.src_ds}@s1", p.dst, p.dst_ds, progress=seen.append)
    assert result.nbytes > 3 * MiB
    assert seen == sorted(seen) and seen[-1] == result.nbytes
    dst_mp = p.dst.dataset(p.dst_ds).mountpoint or ""
    assert files.digest(dst_mp) == files.digest(src_mp)
    assert set(files.digest(dst_mp)) == {"a.bin", "dir/b.bin"}

    files.write(f"{src_mp}/a.bin", 1 * MiB)  # rewrite
    files.unlink(f"{src_mp}/dir/b.bin")
    files.write(f"{src_mp}/c.bin", 2 * MiB)
    p.src.snapshot(f"{p.src_ds}@s2")
    inc = transfer(p.src, f"{p.src_ds}@s2", p.dst, p.dst_ds, incremental_from="@s1", force=True)
    assert inc.nbytes < result.nbytes + 3 * MiB
    assert [s.snapname for s in p.dst.snapshots(p.dst_ds)] == ["s1", "s2"]
    assert files.digest(dst_mp) == files.digest(src_mp)
    assert "dir/b.bin" not in files.digest(dst_mp)


@pytest.mark.zfsfuse
@pytest.mark.sshd
def test_direct_mode_pipes_from_the_source_over_its_own_ssh(zfsfuse_pools: Any, sshd: Any) -> None:
    local = ZFS(LocalExecutor())
    pair = Pair(local, zfsfuse_pools.tank.name, local, zfsfuse_pools.backup.name)
    try:
        local.create_dataset(pair.src_ds)
        src_mp = Path(local.dataset(pair.src_ds).mountpoint or "")
        _write(src_mp / "x y.bin", 2 * MiB)  # a space in a file name changes nothing on the wire
        local.snapshot(f"{pair.src_ds}@d1")
        via = SSHTarget(sshd.host, user=sshd.root_user, port=sshd.port, identity_file=str(sshd.user_key_path),
                        options=(f"UserKnownHostsFile={sshd.known_hosts_path}", "StrictHostKeyChecking=yes"))
        transfer_direct(local, f"{pair.src_ds}@d1", local, pair.dst_ds, via)
        dst_mp = Path(local.dataset(pair.dst_ds).mountpoint or "")
        assert _digest_tree(dst_mp) == _digest_tree(src_mp)
        with pytest.raises(DatasetNotFound):
            transfer_direct(local, f"{pair.src_ds}@missing", local, f"{pair.dst_ds}2", via)
        assert not local.exists(f"{pair.dst_ds}2")
    finally:
        pair.cleanup()


def _fake_pair(flavour: str = "openzfs") -> tuple[ZFS, ZFS, FakeHost, FakeHost, FakeNetwork]:
    net = FakeNetwork()
    a, b = FakeHost(flavour=flavour, name="alpha"), FakeHost(flavour=flavour, name="beta")  # type: ignore[arg-type]
    a.create_pool("tank", size=2048 * MiB, mountpoint="/tank")
    b.create_pool("backup", size=2048 * MiB, mountpoint="/backup")
    return ZFS(FakeExecutor(a, network=net)), ZFS(FakeExecutor(b, network=net)), a, b, net


@pytest.mark.parametrize("flavour", ["openzfs", "zfs-fuse"])
def test_fake_transfer_streams_in_bounded_chunks(flavour: str) -> None:
    src, dst, a, _, _ = _fake_pair(flavour)
    src.create_dataset("tank/data")
    a.write("tank/data", 40 * MiB)
    src.snapshot("tank/data@s1")
    sizes: list[int] = []
    last = [0]

    def progress(total: int) -> None:
        sizes.append(total - last[0])
        last[0] = total

    res = transfer(src, "tank/data@s1", dst, "backup/data", progress=progress)
    assert res.nbytes >= 40 * MiB
    assert max(sizes) <= CHUNK_SIZE  # never more than one chunk held by us at a time
    assert dst.dataset("backup/data").referenced == src.dataset("tank/data").referenced
    a.write("tank/data", 5 * MiB)
    src.snapshot("tank/data@s2")
    inc = transfer(src, "tank/data@s2", dst, "backup/data", incremental_from="tank/data@s1")
    assert 5 * MiB <= inc.nbytes < 6 * MiB
    assert [s.snapname for s in dst.snapshots("backup/data")] == ["s1", "s2"]


def test_fake_direct_mode_over_the_fake_network() -> None:
    src, dst, a, _, _ = _fake_pair()
    src.create_dataset("tank/data")
    a.write("tank/data", 3 * MiB)
    src.snapshot("tank/data@s1")
    transfer_direct(src, "tank/data@s1", dst, "backup/data", SSHTarget("beta", user="root"))
    argv = src.executor.commands[-1]  # type: ignore[attr-defined]
    assert argv[:2] == ("sh", "-c") and "ssh -o BatchMode=yes -p 22 root@beta" in argv[2]
    assert dst.dataset("backup/data").referenced == src.dataset("tank/data").referenced


def test_receive_options_the_host_lacks_are_refused_before_anything_runs() -> None:
    src, dst, *_ = _fake_pair("zfs-fuse")
    src.create_dataset("tank/data")
    src.snapshot("tank/data@s1")
    before = len(src.executor.transcript)  # type: ignore[attr-defined]
    with pytest.raises(UnsupportedOperation):
        transfer(src, "tank/data@s1", dst, "backup/data", resumable=True)
    with pytest.raises(UnsupportedOperation):
        transfer(src, "tank/data@s1", dst, "backup/data", properties={"readonly": True})
    assert len(src.executor.transcript) == before  # type: ignore[attr-defined]


def test_direct_pipeline_quotes_twice() -> None:
    argv = direct_pipeline(["zfs", "send", "tank/a b@s"], SSHTarget("h", user="u"),
                           ["zfs", "receive", "backup/it's"])
    assert argv[0:2] == ["sh", "-c"]
    first = shlex.split(argv[2])
    pipe = first.index("|")
    assert first[:pipe] == ["zfs", "send", "tank/a b@s"]
    remote = first[-1]
    assert shlex.split(remote) == ["zfs", "receive", "backup/it's"]


def test_receive_refusal_wins_over_the_send_broken_pipe_it_causes(tmp_path: Path) -> None:
    """A real local process streams; the destination refuses at once: the caller sees DatasetExists,
    not the send's SIGPIPE."""
    from pyzfsnas.errors import DatasetExists
    from pyzfsnas.flavour import OPENZFS

    src, _, a, _, _ = _fake_pair()
    src.create_dataset("tank/data")
    a.write("tank/data", 64 * MiB)
    src.snapshot("tank/data@s1")
    blob = tmp_path / "stream.bin"
    with src.send("tank/data@s1") as stream, blob.open("wb") as f:
        for chunk in stream:
            f.write(chunk)
    # A local "zfs send" that replays that stream through a pipe (ignoring its argv).
    local = ZFS(LocalExecutor(prefix=["sh", "-c", 'exec cat "$0"', str(blob)]), flavour=OPENZFS)
    dest_host = FakeHost(name="dest")
    dest_host.create_pool("backup", size=2048 * MiB)
    dest = ZFS(FakeExecutor(dest_host))
    dest.create_dataset("backup/data")
    with pytest.raises(DatasetExists):
        transfer(local, "tank/data@s1", dest, "backup/data")
