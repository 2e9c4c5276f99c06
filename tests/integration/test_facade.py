"""The facade's behaviour, asserted identically on the fake host (both flavours) and on real zfs-fuse."""

from __future__ import annotations

from typing import Any

import pytest
from tests.hosts import HostUnderTest

from pyzfsnas import ZFS
from pyzfsnas.errors import (
    CommandFailed,
    DatasetBusy,
    DatasetExists,
    DatasetHasChildren,
    DatasetHasDependents,
    DatasetNotFound,
    InvalidName,
    InvalidProperty,
    SizeBelowUsage,
    UnsupportedOperation,
)
from pyzfsnas.executors.base import Executor, Result
from pyzfsnas.models import Dataset, Snapshot
from pyzfsnas.properties import SourceKind
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

MiB = 1 << 20


def counted(host: HostUnderTest) -> tuple[ZFS, RecordingExecutor]:
    counter = RecordingExecutor(host.zfs.executor)
    return ZFS(counter, flavour=host.zfs.detect_flavour()), counter


def test_flavour_is_detected_once(host: HostUnderTest) -> None:
    zfs = ZFS(host.zfs.executor)
    counter = RecordingExecutor(zfs.executor)
    zfs.executor = counter
    expected = host.flavour_name
    assert zfs.flavour is None and counter.calls == []  # reading the attribute runs nothing
    assert zfs.detect_flavour().name == expected
    assert zfs.detect_flavour().name == expected
    assert zfs.flavour is not None and zfs.flavour.name == expected
    assert counter.calls == [("zfs", "version")]
    assert zfs.detect_flavour(refresh=True).name == expected
    assert counter.calls == [("zfs", "version")] * 2


def test_flavour_is_held_by_each_facade_and_passed_on_explicitly(host: HostUnderTest) -> None:
    # Issue #14: no process-wide cache; a facade holds what it detected, another one is given it.
    counter = RecordingExecutor(host.zfs.executor)
    first = ZFS(counter)
    assert first.detect_flavour().name == host.flavour_name
    second = ZFS(counter, flavour=first.flavour)
    second.datasets(host.root)
    third = ZFS(counter)
    assert third.flavour is None
    assert third.detect_flavour() == first.flavour
    assert [a[:2] for a in counter.calls] == [("zfs", "version"), ("zfs", "get"), ("zfs", "version")]


def test_pools_report_size_and_health(host: HostUnderTest) -> None:
    pools = {p.name: p for p in host.zfs.pools()}
    pool = pools[host.pool]
    assert pool.health == "ONLINE"
    assert pool.size is not None and pool.size > 100 * MiB
    assert pool.free is not None and 0 < pool.free <= pool.size
    assert host.zfs.pool(host.pool).name == host.pool
    props = host.zfs.pool_properties(host.pool)
    assert props["health"].value == "ONLINE"


def test_create_with_properties_and_read_back_types_and_sources(host: HostUnderTest) -> None:
    name = f"{host.root}/a"
    host.zfs.create_dataset(name, {"quota": 64 * MiB, "compression": "on", "com.example:owner": "alice smith"})
    ds = host.zfs.dataset(name)
    assert isinstance(ds, Dataset)
    assert ds.type == "filesystem"
    assert ds.quota == 64 * MiB
    assert ds.compression == "on"
    assert ds.mounted is True
    assert ds.origin is None
    assert ds.creation is not None and ds.creation.tzinfo is not None
    assert ds.available is not None and 0 < ds.available <= 64 * MiB
    assert ds.properties["quota"].source.kind is SourceKind.LOCAL
    assert ds.properties["atime"].source.kind is SourceKind.DEFAULT
    assert ds.properties["com.example:owner"].value == "alice smith"
    assert ds.mountpoint == f"{host.zfs.dataset(host.root).mountpoint}/a"
    child = f"{name}/child"
    host.zfs.create_dataset(child)
    owner = host.zfs.get(child, "com.example:owner", "compression")
    assert owner["com.example:owner"].source.inherited_from == name
    assert owner["compression"].source.kind is SourceKind.INHERITED


def test_datasets_reads_a_whole_tree_in_one_command(host: HostUnderTest) -> None:
    for sub in ("a", "a/b", "a/b/c", "d"):
        host.zfs.create_dataset(f"{host.root}/{sub}")
    host.zfs.snapshot(f"{host.root}/a@s1")
    zfs, counter = counted(host)
    found = zfs.datasets(host.root)
    assert [d.name for d in found] == [host.root, *(f"{host.root}/{s}" for s in ("a", "a/b", "a/b/c", "d"))]
    assert all(isinstance(d, Dataset) and d.used is not None for d in found)
    assert len(counter.calls) == 1
    assert [d.name for d in zfs.datasets(host.root, depth=1)] == [host.root, f"{host.root}/a", f"{host.root}/d"]
    everything = [d.name for d in zfs.datasets()]
    assert host.pool in everything and f"{host.root}/a/b/c" in everything


def test_create_refusals(host: HostUnderTest) -> None:
    name = f"{host.root}/a"
    host.zfs.create_dataset(name)
    with pytest.raises(DatasetExists):
        host.zfs.create_dataset(name)
    with pytest.raises(DatasetNotFound):
        host.zfs.create_dataset(f"{host.root}/missing/child")
    host.zfs.create_dataset(f"{host.root}/missing/child", parents=True)
    assert host.zfs.exists(f"{host.root}/missing")
    assert not host.zfs.exists(f"{host.root}/nope")


def test_invalid_input_runs_nothing(host: HostUnderTest) -> None:
    zfs, counter = counted(host)
    with pytest.raises(InvalidName):
        zfs.create_dataset(f"{host.root}/bad;name")
    with pytest.raises(InvalidName):
        zfs.destroy(f"{host.root}/$(touch /tmp/pwned)")
    with pytest.raises(InvalidProperty):
        zfs.set(host.root, quota="1G")
    with pytest.raises(InvalidProperty):
        zfs.set(host.root, nosuchprop="x")
    with pytest.raises(InvalidProperty):
        zfs.create_dataset(f"{host.root}/x", {"com.example:note": "line\nbreak"})
    assert counter.calls == []


def _send_resume(zfs: ZFS, token: str) -> None:
    with zfs.send_resume(token):
        pass  # pragma: no cover - refused before it starts


@pytest.mark.parametrize("flavour", ["openzfs", "zfs-fuse"])
@pytest.mark.parametrize(("call", "error"), [
    (lambda z: z.pools(["bad;pool"]), InvalidName),
    (lambda z: z.pool("1pool"), InvalidName),
    (lambda z: z.pool_properties("bad;pool"), InvalidName),
    (lambda z: z.pool_properties("tank", ["nosuchprop"]), InvalidProperty),
    (lambda z: z.receive_abort("tank/$(reboot)"), InvalidName),
    (lambda z: z.resume_info("not-a-token"), InvalidName),
    (lambda z: _send_resume(z, "1-ab-cd-ef\n"), InvalidName),
    (lambda z: z.snapshot_many(["tank/a@s", "tank/b"]), InvalidName),
    (lambda z: z.snapshot_many(["tank/a@s", "other/b@s"]), UnsupportedOperation),
    (lambda z: z.send_size("tank/a"), InvalidName),
], ids=["pools", "pool", "pool_properties-name", "pool_properties-prop", "receive_abort", "resume_info",
        "send_resume", "snapshot_many-name", "snapshot_many-pools", "send_size"])
def test_bad_input_runs_nothing_not_even_flavour_detection(flavour: str, call: Any, error: type[Exception]) -> None:
    # A facade that holds no flavour yet: bad input is refused before `zfs version` too.
    host = FakeHost(flavour=flavour)  # type: ignore[arg-type]
    host.create_pool("tank")
    counter = RecordingExecutor(FakeExecutor(host))
    zfs = ZFS(counter)
    with pytest.raises(error):
        call(zfs)
    assert counter.calls == []
    assert zfs.flavour is None


def test_destroy_never_takes_more_than_named(host: HostUnderTest) -> None:
    parent = f"{host.root}/p"
    host.zfs.create_dataset(f"{parent}/child", parents=True)
    with pytest.raises(DatasetHasChildren):
        host.zfs.destroy(parent)
    assert host.zfs.exists(f"{parent}/child")
    lone = f"{host.root}/lone"
    host.zfs.create_dataset(lone)
    host.zfs.snapshot(f"{lone}@s")
    with pytest.raises(DatasetHasChildren):
        host.zfs.destroy(lone)
    assert host.zfs.exists(f"{lone}@s")
    host.zfs.destroy(parent, recursive=True)
    assert not host.zfs.exists(parent)
    host.zfs.destroy(f"{lone}@s")
    host.zfs.destroy(lone)  # a freshly mounted dataset: the zfs-fuse busy bug is handled inside
    assert not host.zfs.exists(lone)
    with pytest.raises(DatasetNotFound):
        host.zfs.destroy(lone)


def test_snapshots_listed_in_order_and_recursive(host: HostUnderTest) -> None:
    a, b = f"{host.root}/a", f"{host.root}/a/b"
    host.zfs.create_dataset(b, parents=True)
    host.zfs.snapshot(f"{a}@one")
    host.zfs.snapshot(f"{a}@two", recursive=True)
    with pytest.raises(DatasetExists):
        host.zfs.snapshot(f"{a}@one")
    with pytest.raises(DatasetNotFound):
        host.zfs.snapshot(f"{host.root}/nope@s")
    snaps = host.zfs.snapshots(a)
    assert [s.name for s in snaps] == [f"{a}@one", f"{a}@two"]
    assert all(isinstance(s, Snapshot) and s.referenced is not None and s.creation for s in snaps)
    assert [s.name for s in host.zfs.snapshots(a, recursive=True)] == [f"{a}@one", f"{a}@two", f"{b}@two"]
    assert f"{b}@two" in [s.name for s in host.zfs.snapshots()]


def test_clone_dependents_and_promote(host: HostUnderTest) -> None:
    src, clone = f"{host.root}/src", f"{host.root}/clone"
    host.zfs.create_dataset(src)
    host.write(src, 2 * MiB)
    host.zfs.snapshot(f"{src}@base")
    # Data shared by the head and its snapshot is charged to the dataset, not to the snapshot.
    origin = host.zfs.dataset(src)
    assert origin.used is not None and origin.used >= 2 * MiB
    assert origin.properties["usedbysnapshots"].value == 0
    assert host.zfs.snapshots(src)[0].used == 0
    host.zfs.clone(f"{src}@base", clone, {"com.example:role": "copy"})
    c = host.zfs.dataset(clone)
    assert c.used is not None and c.used < MiB  # a fresh clone owns none of its origin's data
    assert c.origin == f"{src}@base"
    assert c.referenced is not None and c.referenced >= 2 * MiB
    with pytest.raises(DatasetHasDependents):
        host.zfs.destroy(f"{src}@base")
    assert host.zfs.exists(clone)
    host.zfs.promote(clone)
    assert host.zfs.dataset(clone).origin is None
    assert host.zfs.dataset(src).origin == f"{clone}@base"
    assert [s.name for s in host.zfs.snapshots(clone)] == [f"{clone}@base"]


def test_rename_dataset_and_snapshots(host: HostUnderTest) -> None:
    old, new = f"{host.root}/old", f"{host.root}/new"
    host.zfs.create_dataset(f"{old}/kid", parents=True)
    host.zfs.snapshot(f"{old}@s", recursive=True)
    host.zfs.rename(old, new)  # zfs-fuse: busy on a fresh mount, handled inside
    assert not host.zfs.exists(old)
    assert host.zfs.dataset(new).mounted is True
    assert host.zfs.dataset(f"{new}/kid").mounted is True
    host.zfs.rename(f"{new}@s", f"{new}@t", recursive=True)
    assert [s.name for s in host.zfs.snapshots(new, recursive=True)] == [f"{new}@t", f"{new}/kid@t"]
    host.zfs.rename(f"{host.root}/new", f"{host.root}/deep/er", parents=True)
    assert host.zfs.exists(f"{host.root}/deep/er/kid")


def test_rollback_restores_and_refuses_to_skip_newer(host: HostUnderTest) -> None:
    ds = f"{host.root}/rb"
    host.zfs.create_dataset(ds)
    host.zfs.snapshot(f"{ds}@empty")
    before = host.zfs.dataset(ds).referenced
    host.write(ds, 3 * MiB)
    host.zfs.snapshot(f"{ds}@full")
    assert (host.zfs.dataset(ds).referenced or 0) >= 3 * MiB
    with pytest.raises(CommandFailed) as info:
        host.zfs.rollback(f"{ds}@empty")
    assert "more recent" in str(info.value)
    assert host.zfs.exists(f"{ds}@full")
    host.zfs.rollback(f"{ds}@empty", destroy_newer=True)
    assert not host.zfs.exists(f"{ds}@full")
    assert host.zfs.dataset(ds).referenced == before


def test_set_get_inherit(host: HostUnderTest) -> None:
    ds = f"{host.root}/p"
    host.zfs.create_dataset(ds)
    host.zfs.set(ds, {"com.example:tag": "v1"}, atime=False, quota=32 * MiB)
    props = host.zfs.get(ds, "atime", "quota", "com.example:tag")
    assert props["atime"].value is False and props["atime"].source.kind is SourceKind.LOCAL
    assert props["quota"].value == 32 * MiB
    assert props["com.example:tag"].value == "v1"
    host.zfs.set(ds, quota=None)
    assert host.zfs.dataset(ds).quota is None
    host.zfs.inherit(ds, "atime")
    assert host.zfs.get(ds, "atime")["atime"].source.kind is SourceKind.DEFAULT
    host.zfs.inherit(ds, "com.example:tag")
    assert host.zfs.get(ds, "com.example:tag")["com.example:tag"].value is None


def test_quota_below_used_is_refused_and_quota_is_enforced(host: HostUnderTest) -> None:
    ds = f"{host.root}/q"
    host.zfs.create_dataset(ds)
    host.write(ds, 4 * MiB)
    with pytest.raises(SizeBelowUsage):
        host.zfs.set(ds, quota=1 * MiB)
    with pytest.raises(SizeBelowUsage):
        host.zfs.set(ds, refquota=1 * MiB)
    assert host.zfs.dataset(ds).quota is None
    host.zfs.set(ds, quota=8 * MiB)
    with pytest.raises(OSError):
        host.write(ds, 16 * MiB, filename="too-much")


def test_holds_block_destroy(host: HostUnderTest) -> None:
    ds = f"{host.root}/h"
    host.zfs.create_dataset(ds)
    host.zfs.snapshot(f"{ds}@s")
    host.zfs.hold(f"{ds}@s", "keep")
    assert host.zfs.snapshots(ds)[0].userrefs == 1
    with pytest.raises(DatasetBusy):
        host.zfs.destroy(f"{ds}@s")
    if host.zfs.detect_flavour().holds:
        assert host.zfs.holds(f"{ds}@s") == ["keep"]
    host.zfs.release(f"{ds}@s", "keep")
    host.zfs.destroy(f"{ds}@s")
    assert not host.zfs.exists(f"{ds}@s")


def test_send_receive_full_and_incremental(host: HostUnderTest) -> None:
    src, dst = f"{host.root}/src", f"{host.root}/dst"
    host.zfs.create_dataset(src)
    host.write(src, 1 * MiB, filename="one")
    host.zfs.snapshot(f"{src}@s1")
    with host.zfs.send(f"{src}@s1") as stream:
        host.zfs.receive(dst, stream)
    assert [s.snapname for s in host.zfs.snapshots(dst)] == ["s1"]
    assert host.zfs.dataset(dst).referenced == host.zfs.dataset(src).referenced
    host.write(src, 2 * MiB, filename="two")
    host.zfs.snapshot(f"{src}@s2")
    with host.zfs.send(f"{src}@s2", incremental_from=f"{src}@s1") as stream:
        host.zfs.receive(dst, stream, force=True)
    assert [s.snapname for s in host.zfs.snapshots(dst)] == ["s1", "s2"]
    assert host.zfs.dataset(dst).referenced == host.zfs.dataset(src).referenced
    with pytest.raises(DatasetExists), host.zfs.send(f"{src}@s1") as stream:
        host.zfs.receive(dst, stream)


def test_send_of_missing_snapshot_raises(host: HostUnderTest) -> None:
    with pytest.raises(DatasetNotFound), host.zfs.send(f"{host.root}@nope") as stream:
        for _ in stream:
            pass



def always_busy(inner: Executor) -> RecordingExecutor:
    """zfs-fuse at its worst: every destroy of a filesystem says "dataset is busy" (and, like zfs-fuse,
    the first one unmounts it)."""
    rec = RecordingExecutor(inner)

    def busy(argv: tuple[str, ...], host: Executor) -> Result:
        host.run(["zfs", "umount", argv[-1]])
        return Result(argv, 1, "", f"cannot destroy '{argv[-1]}': dataset is busy\n")

    rec.intercept(lambda argv: argv[:2] == ("zfs", "destroy") and "@" not in argv[-1], busy)
    return rec


def test_a_destroy_that_stays_busy_leaves_the_tree_mounted_and_shared_as_before() -> None:
    from pyzfsnas.nfs import AccessRule, FuseNFS
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    fake = FakeHost(flavour="zfs-fuse")
    fake.create_pool("tank", mountpoint="/tank")
    busy = always_busy(FakeExecutor(fake))
    zfs = ZFS(busy)
    zfs.create_dataset("tank/c/d", parents=True)
    zfs.unmount("tank/c/d")  # unmounted on purpose: must stay so
    nfs = FuseNFS(zfs)
    nfs.apply("tank/c", [AccessRule.parse("127.0.0.1", "rw")])
    with pytest.raises(DatasetBusy):
        zfs.destroy("tank/c", recursive=True)
    assert zfs.dataset("tank/c").mounted is True
    assert zfs.dataset("tank/c/d").mounted is False
    assert [str(r.access_to) for r in nfs.rules("tank/c")] == ["127.0.0.1/32"]
