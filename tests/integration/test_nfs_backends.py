"""NFS backends against hosts: real zfs-fuse + exportfs, and the fake host of both flavours.

The same behavioural tests run on every host (``nfs_host`` is parametrized). What is served is checked with
``exportfs -s`` through the host's executor and a parser independent of the library's. Real datasets live in
a module pool made with the shared ``zfsfuse`` fixture (named ``pzt<pid>_nfsh<n>``, destroyed at module end);
every export made under its mountpoint is removed afterwards.
"""

from __future__ import annotations

import logging
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.realhosts import nfs as real_nfs
from tests.realhosts.common import require
from tests.realhosts.zfsfuse import PoolInfo, ZfsFuseHost

from pyzfsnas import ZFS, LocalExecutor
from pyzfsnas.errors import UnsupportedOperation
from pyzfsnas.executors.base import Result
from pyzfsnas.nfs import AccessRule, ExportfsNFS, FuseNFS, InvalidAccessRule, KernelNFS, NFSBackend, detect
from pyzfsnas.testing import RecordingExecutor

_LINE = re.compile(r"^(?P<path>/.*?)\s+(?P<client>[^\s(]+)\((?P<options>[^)]*)\)\s*$")


def R(text: str, level: str = "rw") -> AccessRule:
    return AccessRule.parse(text, level)


class Recorder(RecordingExecutor):
    """A :class:`~pyzfsnas.testing.RecordingExecutor` that also says which calls changed exports."""

    def writes(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls
                if c[:2] == ("zfs", "set") or (c[0] == "exportfs" and c[1] in ("-o", "-u"))]


@dataclass
class NFSHost:
    kind: str
    zfs: ZFS
    recorder: Recorder
    dataset: str

    def served(self, path: str) -> dict[str, tuple[str, set[str]]]:
        """``{client: (level, options)}`` for ``path`` from ``exportfs -s`` (independent parse)."""
        out = self.recorder.inner.run(["exportfs", "-s"]).check().stdout
        result = {}
        for line in out.splitlines():
            m = _LINE.match(line)
            if m and m["path"] == path:
                opts = set(m["options"].split(","))
                result[m["client"]] = ("rw" if "rw" in opts else "ro", opts)
        return result

    def mountpoint(self) -> str:
        mp = self.zfs.get(self.dataset, "mountpoint").raw("mountpoint")
        assert mp and mp.startswith("/")
        return mp


@pytest.fixture(scope="module")
def nfsh_pool(zfsfuse: ZfsFuseHost) -> Iterator[PoolInfo]:
    pool = zfsfuse.create_pool("nfsh")
    try:
        yield pool
    finally:
        real_nfs.unexport_under([pool.mountpoint])
        zfsfuse.destroy_pool(pool.name)


_count = iter(range(1, 10_000))


def _fake(flavour: str) -> tuple[ZFS, Recorder, str]:
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    fake = FakeHost(flavour=flavour)  # type: ignore[arg-type]
    fake.create_pool("tank", mountpoint="/srv/tank")
    rec = Recorder(FakeExecutor(fake))
    return ZFS(rec), rec, "tank"


@pytest.fixture(params=["zfs-fuse", "fake-zfs-fuse", "fake-openzfs", "openzfs"])
def nfs_host(request: pytest.FixtureRequest) -> Iterator[NFSHost]:
    kind = request.param
    if kind == "openzfs":
        # Real OpenZFS 2.x + kernel nfsd in the guest: sharenfs runs the guest's exportfs.
        request.node.add_marker(pytest.mark.openzfs)
        guest = request.getfixturevalue("openzfs")
        rec = Recorder(guest.executor)
        zfs, pool_name = ZFS(rec), "tank"
    elif kind == "zfs-fuse":
        request.node.add_marker(pytest.mark.zfsfuse)
        request.node.add_marker(pytest.mark.exportfs)
        if not real_nfs.available():
            require("exportfs", "exportfs not installed or not root")
        pool: PoolInfo = request.getfixturevalue("nfsh_pool")
        rec = Recorder(LocalExecutor())
        zfs, pool_name = ZFS(rec), pool.name
    else:
        zfs, rec, pool_name = _fake(kind.removeprefix("fake-"))
    dataset = f"{pool_name}/share{next(_count)}"
    zfs.create_dataset(dataset)
    host = NFSHost(kind, zfs, rec, dataset)
    mountpoint = host.mountpoint()
    try:
        yield host
    finally:
        if kind == "zfs-fuse":
            real_nfs.unexport_under([Path(mountpoint)])
        zfs.destroy(dataset, recursive=True)


def test_detect_picks_the_flavour_backend_once(nfs_host: NFSHost) -> None:
    backend = detect(nfs_host.zfs)
    expected = KernelNFS if nfs_host.kind in ("fake-openzfs", "openzfs") else FuseNFS
    assert isinstance(backend, expected)
    assert isinstance(backend, NFSBackend)
    before = len(nfs_host.recorder.calls)
    again = detect(nfs_host.zfs)  # the facade holds its flavour: no command; no module cache: a new object
    assert isinstance(again, expected) and again is not backend
    assert len(nfs_host.recorder.calls) == before
    # From an executor: a new facade, which detects its own flavour (one ``zfs version``).
    assert isinstance(detect(nfs_host.zfs.executor), expected)
    assert [c[:2] for c in nfs_host.recorder.calls[before:]] == [("zfs", "version")]


def test_apply_replace_add_remove_clear(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    ds, mp = nfs_host.dataset, nfs_host.mountpoint()

    nfs.apply(ds, [R("127.0.0.1"), R("10.0.0.0/24", "ro"), R("10.0.0.0/24", "rw"), R("192.168.7.7/32", "ro")])
    expected = [R("10.0.0.0/24"), R("127.0.0.1"), R("192.168.7.7", "ro")]
    assert nfs.rules(ds) == expected
    served = nfs_host.served(mp)
    assert {c: lvl for c, (lvl, _) in served.items()} == {"10.0.0.0/24": "rw", "127.0.0.1": "rw",
                                                          "192.168.7.7": "ro"}
    assert all("no_root_squash" in opts for _, opts in served.values())

    # Replace the set: clients no longer wanted stop being served (zfs-fuse alone would keep them).
    nfs.apply(ds, [R("10.0.0.5", "ro")])
    assert nfs.rules(ds) == [R("10.0.0.5", "ro")]
    assert set(nfs_host.served(mp)) == {"10.0.0.5"}

    nfs.add(ds, R("10.0.0.6"))
    nfs.add(ds, R("10.0.0.5", "rw"))  # same network: the level is replaced
    assert nfs.rules(ds) == [R("10.0.0.5"), R("10.0.0.6")]

    nfs.remove(ds, R("10.0.0.5", "ro"))  # a rule names a network; its level does not matter
    assert nfs.rules(ds) == [R("10.0.0.6")]
    writes = len(nfs_host.recorder.writes())
    nfs.remove(ds, R("172.16.0.0/12"))  # never applied: not an error, nothing written
    assert len(nfs_host.recorder.writes()) == writes
    assert nfs.rules(ds) == [R("10.0.0.6")]

    nfs.clear(ds)
    assert nfs.rules(ds) == []
    assert nfs_host.served(mp) == {}
    assert nfs_host.zfs.get(ds, "sharenfs").raw("sharenfs") == "off"


def test_apply_is_one_set_and_read_only(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    ds = nfs_host.dataset
    before = len(nfs_host.recorder.calls)
    nfs.apply(ds, [R("127.0.0.1"), R("10.1.0.0/16"), R("10.2.0.0/16", "ro")], read_only=True)
    sets = [c for c in nfs_host.recorder.calls[before:] if c[:2] == ("zfs", "set")]
    assert len(sets) == 1
    assert {r.access_level for r in nfs.rules(ds)} == {"ro"}
    assert {lvl for lvl, _ in nfs_host.served(nfs_host.mountpoint()).values()} == {"ro"}
    nfs.apply(ds, [])
    assert nfs.rules(ds) == []


def test_other_datasets_are_untouched(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    other = f"{nfs_host.dataset}/other"
    nfs_host.zfs.create_dataset(other)
    other_mp = nfs_host.zfs.get(other, "mountpoint").raw("mountpoint")
    assert other_mp
    nfs.apply(other, [R("127.0.0.9")])
    nfs.apply(nfs_host.dataset, [R("127.0.0.1")])
    nfs.clear(nfs_host.dataset)
    assert nfs.rules(other) == [R("127.0.0.9")]
    assert set(nfs_host.served(other_mp)) == {"127.0.0.9"}
    nfs.clear(other)


def test_ipv6(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    ds = nfs_host.dataset
    rules = [R("::1"), R("fe80::/64", "ro"), R("127.0.0.1")]
    if not nfs.ipv6_support():
        # zfs-fuse splits sharenfs items at the first ':': IPv6 is refused before anything runs.
        before = len(nfs_host.recorder.calls)
        with pytest.raises(UnsupportedOperation, match="IPv6"):
            nfs.apply(ds, rules)
        with pytest.raises(UnsupportedOperation, match="IPv6"):
            nfs.add(ds, R("::1"))
        assert nfs_host.recorder.calls[before:] == []
        return
    nfs.apply(ds, rules)
    assert nfs.rules(ds) == [R("127.0.0.1"), R("::1"), R("fe80::/64", "ro")]
    assert set(nfs_host.served(nfs_host.mountpoint())) == {"127.0.0.1", "::1", "fe80::/64"}


def test_invalid_rules_run_nothing(nfs_host: NFSHost) -> None:
    before = len(nfs_host.recorder.calls)
    for bad in ("*", "host.example.com", "10.0.0.300", "1.2.3.4;rm -rf /", "", "10.0.0.5/24"):
        with pytest.raises(InvalidAccessRule):
            detect(nfs_host.zfs).apply(nfs_host.dataset, [AccessRule.parse(bad, "rw")])
    assert nfs_host.recorder.calls[before:] == []


# -- real zfs-fuse only ------------------------------------------------------------------------------------


@pytest.fixture
def real(nfs_host: NFSHost) -> NFSHost:
    if nfs_host.kind != "zfs-fuse":
        pytest.skip("real zfs-fuse behaviour")
    return nfs_host


@pytest.mark.parametrize("nfs_host", ["zfs-fuse"], indirect=True)
def test_fuse_mismatch_exportfs_wins_and_warns(real: NFSHost, caplog: pytest.LogCaptureFixture) -> None:
    nfs = FuseNFS(real.zfs)
    nfs.apply(real.dataset, [R("127.0.0.1")])
    # A value zfs-fuse cannot share: the property changes, the exports do not.
    proc = subprocess.run(["zfs", "set", "sharenfs=::1:rw", real.dataset], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        assert nfs.rules(real.dataset) == [R("127.0.0.1")]
    assert "exportfs is authoritative" in caplog.text
    nfs.apply(real.dataset, [R("127.0.0.2")])
    assert set(real.served(real.mountpoint())) == {"127.0.0.2"}
    nfs.clear(real.dataset)


@pytest.mark.parametrize("nfs_host", ["zfs-fuse"], indirect=True)
def test_exportfs_backend_on_a_dataset(real: NFSHost) -> None:
    nfs = ExportfsNFS(real.zfs)
    ds, mp = real.dataset, real.mountpoint()
    nfs.apply(ds, [R("127.0.0.1"), R("::1", "ro"), R("fe80::/64"), R("10.0.0.0/24", "ro")])
    assert nfs.rules(ds) == [R("10.0.0.0/24", "ro"), R("127.0.0.1"), R("::1", "ro"), R("fe80::/64")]
    assert set(real.served(mp)) == {"127.0.0.1", "::1", "fe80::/64", "10.0.0.0/24"}
    assert real.zfs.get(ds, "sharenfs").raw("sharenfs") == "off"  # exportfs only: sharenfs untouched
    nfs.clear(ds)
    assert real.served(mp) == {}


def _levels(entries: list[real_nfs.ExportEntry]) -> dict[str, str]:
    return {e.client: "rw" if "rw" in e.options.split(",") else "ro" for e in entries}


def test_exportfs_backend_on_a_plain_directory(exportfs_host: real_nfs.ExportfsHost) -> None:
    path = str(exportfs_host.make_dir("plain"))
    rec = Recorder(LocalExecutor())
    nfs = ExportfsNFS(rec)
    nfs.apply(path, [R("127.0.0.1"), R("::1", "ro"), R("10.9.0.0/16", "ro")])
    got = _levels(exportfs_host.exports())
    assert got == {"127.0.0.1": "rw", "::1": "ro", "10.9.0.0/16": "ro"}
    assert len(rec.writes()) == 2  # one exportfs -o per access level

    before = len(rec.calls)
    nfs.apply(path, [R("10.9.0.0/16", "ro"), R("::1", "ro"), R("127.0.0.1/32")])  # same set: no writes
    assert [c for c in rec.calls[before:] if c[1] in ("-o", "-u")] == []

    nfs.apply(path, [R("::1"), R("127.0.0.2", "ro")])  # change ::1 to rw, drop two, add one
    assert _levels(exportfs_host.exports()) == {"::1": "rw", "127.0.0.2": "ro"}
    nfs.add(path, R("fe80::/64", "ro"))
    nfs.remove(path, R("::1"))
    nfs.remove(path, R("::2"))  # never applied
    assert nfs.rules(path) == [R("127.0.0.2", "ro"), R("fe80::/64", "ro")]
    nfs.clear(path)
    assert exportfs_host.exports() == []


# -- exportfs backend: ``*`` and client text exportfs stored verbatim (real exportfs and the fake) ---------


@dataclass
class DirHost:
    """A plain exported directory on a real or fake exportfs host, with an independent ``exportfs -s`` view."""

    recorder: Recorder
    path: str

    def exportfs(self, *args: str) -> None:
        """Run exportfs directly (not through the library), as an operator would have."""
        self.recorder.inner.run(["exportfs", *args]).check()

    def served(self) -> dict[str, str]:
        """``{client text: level}`` for the path, from ``exportfs -s``."""
        out = self.recorder.inner.run(["exportfs", "-s"]).check().stdout
        result = {}
        for line in out.splitlines():
            m = _LINE.match(line)
            if m and m["path"] == self.path:
                result[m["client"]] = "rw" if "rw" in m["options"].split(",") else "ro"
        return result


@pytest.fixture(params=["exportfs", "fake"])
def dir_host(request: pytest.FixtureRequest) -> DirHost:
    if request.param == "exportfs":
        request.node.add_marker(pytest.mark.exportfs)
        host: real_nfs.ExportfsHost = request.getfixturevalue("exportfs_host")
        return DirHost(Recorder(LocalExecutor()), str(host.make_dir(f"d{next(_count)}")))
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    fake = FakeHost(flavour="zfs-fuse")
    fake.make_dir("/srv/plain")
    return DirHost(Recorder(FakeExecutor(fake)), "/srv/plain")


def test_exportfs_remove_either_half_of_world_unexports_star(dir_host: DirHost) -> None:
    nfs, path = ExportfsNFS(dir_host.recorder), dir_host.path
    dir_host.exportfs("-o", "rw,no_root_squash,no_subtree_check", f"*:{path}")
    assert nfs.rules(path) == [R("0.0.0.0/0"), R("::/0")]
    nfs.remove(path, R("0.0.0.0/0"))
    # ``*`` is gone; the other address family keeps its access, now as an explicit rule.
    assert dir_host.served() == {"::/0": "rw"}
    assert nfs.rules(path) == [R("::/0")]
    nfs.remove(path, R("::/0"))
    assert dir_host.served() == {}

    dir_host.exportfs("-o", "ro", f"*:{path}")
    nfs.remove(path, R("::/0", "rw"))  # the level of the rule removed does not matter
    assert dir_host.served() == {"0.0.0.0/0": "ro"}


def test_exportfs_add_world_level_replaces_star(dir_host: DirHost) -> None:
    nfs, path = ExportfsNFS(dir_host.recorder), dir_host.path
    dir_host.exportfs("-o", "rw,no_root_squash,no_subtree_check", f"*:{path}", f"127.0.0.1:{path}")
    nfs.add(path, R("0.0.0.0/0", "ro"))
    assert dir_host.served() == {"0.0.0.0/0": "ro", "::/0": "rw", "127.0.0.1": "rw"}
    assert nfs.rules(path) == [R("0.0.0.0/0", "ro"), R("127.0.0.1"), R("::/0")]

    # ``*`` that already matches both /0 rules is kept: nothing runs.
    nfs.clear(path)
    dir_host.exportfs("-o", "rw,no_root_squash,no_subtree_check", f"*:{path}")
    before = len(dir_host.recorder.writes())
    nfs.apply(path, [R("0.0.0.0/0"), R("::/0")])
    nfs.add(path, R("::/0"))
    assert len(dir_host.recorder.writes()) == before
    assert dir_host.served() == {"*": "rw"}
    nfs.apply(path, [R("0.0.0.0/0")])
    assert dir_host.served() == {"0.0.0.0/0": "rw"}
    nfs.clear(path)
    assert dir_host.served() == {}


def test_exportfs_removes_clients_by_the_text_exportfs_stored(dir_host: DirHost) -> None:
    nfs, path = ExportfsNFS(dir_host.recorder), dir_host.path
    opts = "rw,no_root_squash,no_subtree_check"
    dir_host.exportfs("-o", opts, f"10.0.0.5/32:{path}", f"10.0.0.0/255.255.255.0:{path}",
                      f"[fe80::0]/64:{path}", f"[::1]/128:{path}")
    dir_host.exportfs("-o", "ro", f"10.0.0.5:{path}")  # same network as 10.0.0.5/32, other level
    assert nfs.rules(path) == [R("10.0.0.0/24"), R("10.0.0.5"), R("::1"), R("fe80::/64")]

    nfs.remove(path, R("10.0.0.5"))  # both entries of the network go
    assert set(dir_host.served()) == {"10.0.0.0/255.255.255.0", "fe80::0/64", "::1/128"}
    nfs.add(path, R("10.0.0.0/24", "ro"))  # the level changes: the old text is unexported
    assert dir_host.served()["10.0.0.0/24"] == "ro"
    assert "10.0.0.0/255.255.255.0" not in dir_host.served()

    before = len(dir_host.recorder.writes())
    nfs.apply(path, [R("10.0.0.0/24", "ro"), R("fe80::/64"), R("::1")])  # already served: nothing runs
    assert len(dir_host.recorder.writes()) == before
    nfs.apply(path, [R("fe80::/64")])
    assert dir_host.served() == {"fe80::0/64": "rw"}
    nfs.clear(path)
    assert dir_host.served() == {}


# -- sharenfs backends: declared rules survive an unmount+mount; leftovers are removed by their text --------


def test_add_remove_after_remount_keep_declared_rules(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    ds, mp = nfs_host.dataset, nfs_host.mountpoint()
    nfs.apply(ds, [R("10.0.0.1"), R("10.0.0.2", "ro")])
    nfs_host.zfs.unmount(ds)
    nfs_host.zfs.mount(ds)  # zfs-fuse unshared on unmount and does not share again on mount
    nfs.add(ds, R("10.0.0.3"))
    expected = [R("10.0.0.1"), R("10.0.0.2", "ro"), R("10.0.0.3")]
    assert nfs.rules(ds) == expected
    assert {c: lvl for c, (lvl, _) in nfs_host.served(mp).items()} == {
        "10.0.0.1": "rw", "10.0.0.2": "ro", "10.0.0.3": "rw"}

    nfs_host.zfs.unmount(ds)
    nfs_host.zfs.mount(ds)
    nfs.remove(ds, R("10.0.0.1"))
    assert nfs.rules(ds) == [R("10.0.0.2", "ro"), R("10.0.0.3")]
    assert set(nfs_host.served(mp)) == {"10.0.0.2", "10.0.0.3"}
    nfs.clear(ds)


@pytest.mark.parametrize("nfs_host", ["zfs-fuse", "fake-zfs-fuse"], indirect=True)
def test_fuse_unexports_leftovers_by_their_text(nfs_host: NFSHost) -> None:
    nfs = FuseNFS(nfs_host.zfs)
    ds, mp = nfs_host.dataset, nfs_host.mountpoint()
    run = nfs_host.recorder.inner.run
    run(["exportfs", "-o", "rw,no_root_squash", f"10.0.0.5/32:{mp}", f"10.0.0.0/255.255.255.0:{mp}",
         f"*:{mp}"]).check()
    nfs.apply(ds, [R("10.0.0.5", "ro"), R("10.0.0.9")])
    assert {c: lvl for c, (lvl, _) in nfs_host.served(mp).items()} == {"10.0.0.5": "ro", "10.0.0.9": "rw"}
    assert nfs.rules(ds) == [R("10.0.0.5", "ro"), R("10.0.0.9")]
    nfs.clear(ds)
    assert nfs_host.served(mp) == {}


@pytest.mark.parametrize("nfs_host", ["fake-zfs-fuse", "fake-openzfs"], indirect=True)
def test_concurrent_adds_on_one_backend_lose_nothing(nfs_host: NFSHost) -> None:
    nfs = detect(nfs_host.zfs)
    ds = nfs_host.dataset
    inner_run = nfs_host.recorder.run

    def slow_reads(argv: Any, **kwargs: Any) -> Result:
        result = inner_run(argv, **kwargs)
        if tuple(argv[:2]) in (("zfs", "get"), ("exportfs", "-v")):
            time.sleep(0.005)  # widen the read-modify-write window a missing lock would lose changes in
        return result

    nfs_host.recorder.run = slow_reads  # type: ignore[method-assign]
    rules = [R(f"10.0.1.{i}") for i in range(1, 17)]
    threads = [threading.Thread(target=nfs.add, args=(ds, r)) for r in rules]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert nfs.rules(ds) == rules
