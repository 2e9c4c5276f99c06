"""Every recorded real failure maps to the right typed error, in one place."""

from __future__ import annotations

import pytest
from tests.fixturelib import load

from pyzfsnas import errors as e
from pyzfsnas.executors.base import Result
from pyzfsnas.flavour import flavour_from_version

CASES = [
    ("zfs-fuse/err_create_exists.txt", e.DatasetExists),
    ("zfs-fuse/err_create_missing_parent.txt", e.DatasetNotFound),
    ("zfs-fuse/err_destroy_busy_mounted.txt", e.DatasetBusy),
    ("zfs-fuse/err_destroy_has_children.txt", e.DatasetHasChildren),
    ("zfs-fuse/err_destroy_has_snapshots.txt", e.DatasetHasChildren),
    ("zfs-fuse/err_destroy_held_snapshot.txt", e.DatasetBusy),
    ("zfs-fuse/err_destroy_nonexistent.txt", e.DatasetNotFound),
    ("zfs-fuse/err_destroy_origin_of_clone.txt", e.DatasetHasDependents),
    ("zfs-fuse/err_get_nonexistent.txt", e.DatasetNotFound),
    ("zfs-fuse/err_get_unknown_property.txt", e.PropertyRejected),
    ("zfs-fuse/err_invalid_compression.txt", e.PropertyRejected),
    ("zfs-fuse/err_invalid_mountpoint.txt", e.PropertyRejected),
    ("zfs-fuse/err_invalid_quota_value.txt", e.PropertyRejected),
    ("zfs-fuse/err_invalid_recordsize.txt", e.PropertyRejected),
    ("zfs-fuse/err_pool_nonexistent.txt", e.PoolNotFound),
    ("zfs-fuse/err_quota_below_used.txt", e.SizeBelowUsage),
    ("zfs-fuse/err_refquota_below_used.txt", e.SizeBelowUsage),
    ("zfs-fuse/err_readonly_property.txt", e.PropertyRejected),
    ("zfs-fuse/err_rename_busy.txt", e.DatasetBusy),
    ("zfs-fuse/rename_fs.txt", e.DatasetBusy),
    ("zfs-fuse/err_snapshot_exists.txt", e.DatasetExists),
    ("zfs-fuse/err_snapshot_nonexistent_fs.txt", e.DatasetNotFound),
    ("zfs-fuse/err_unknown_property.txt", e.PropertyRejected),
    ("zfs-fuse/err_zpool_destroy_busy.txt", e.DatasetBusy),
    ("zfs-fuse/err_zpool_nonexistent.txt", e.PoolNotFound),
    ("openzfs/err-zfs-destroy-dataset-is-busy__arch-2.2.4.txt", e.DatasetBusy),
    ("openzfs/err-zfs-destroy-filesystem-has-children__zol-0.7.5.txt", e.DatasetHasChildren),
    ("openzfs/err-zfs-destroy-filesystem-has-dependent-clones__zol-0.7.5.txt", e.DatasetHasDependents),
    ("openzfs/err-zfs-create-dataset-already-exists__zol-0.6.txt", e.DatasetExists),
    ("openzfs/err-zfs-open-dataset-does-not-exist__zol-0.6.txt", e.DatasetNotFound),
]


def _stderr(relpath: str) -> tuple[list[str], int, str]:
    try:
        rec = load(relpath)
        return rec.argv, rec.returncode, rec.stderr or rec.stdout
    except ValueError:
        from tests.fixturelib import FIXTURES

        return ["zfs"], 1, (FIXTURES / relpath).read_text()


@pytest.mark.parametrize(("relpath", "cls"), CASES)
def test_recorded_failures_map_to_typed_errors(relpath: str, cls: type[e.CommandFailed]) -> None:
    argv, rc, stderr = _stderr(relpath)
    err = e.error_from_result(argv, rc or 1, stderr)
    assert type(err) is cls
    assert err.argv == tuple(argv) and err.stderr == stderr
    assert isinstance(err, e.ZFSError)


def test_result_check_raises_and_passes() -> None:
    ok = Result(["true"], 0)
    assert ok.check() is ok
    with pytest.raises(e.DatasetNotFound) as info:
        Result(["zfs", "get", "x"], 1, "", "cannot open 'x': dataset does not exist\n").check()
    assert "dataset does not exist" in str(info.value)
    assert info.value.returncode == 1


def test_daemon_down_and_missing_tool() -> None:
    down = "connect: Connection refused\nPlease make sure that the zfs-fuse daemon is running.\n"
    assert isinstance(e.error_from_result(["zfs", "list"], 1, down), e.ToolNotFound)
    assert isinstance(e.error_from_result(["zfs"], 127, ""), e.ToolNotFound)


def test_flavour_detection_from_version_output() -> None:
    oz = load("openzfs-2.2/zfs_version.txt")
    fl = flavour_from_version(Result(oz.argv, oz.returncode, oz.stdout, oz.stderr))
    assert fl.name == "openzfs" and fl.version == "2.2.2-1" and fl.multi_set
    fuse = flavour_from_version(Result(["zfs", "version"], 2, "", "unrecognized command 'version'\nusage: ..."))
    assert fuse.is_fuse and not fuse.parsable_list and fuse.busy_bug
    with pytest.raises(e.ToolNotFound):
        flavour_from_version(Result(["zfs", "version"], 127, "", "zfs: command not found"))
