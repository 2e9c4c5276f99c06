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


#: Every refusal of the conformance script, as real OpenZFS 2.3.2 printed it (tests/fixtures/openzfs-2.3).
REAL_2_3 = {
    "rollback-blocked": e.NewerSnapshotsExist,
    "receive-exists": e.DatasetExists,
    "receive-incomplete": e.StreamIncomplete,
    "err-no-pool-create": e.PoolNotFound,
    "err-no-pool-zpool": e.PoolNotFound,
    "err-no-pool-zpool-get": e.PoolNotFound,
    "err-not-found-get": e.DatasetNotFound,
    "err-not-found-destroy": e.DatasetNotFound,
    "err-not-found-snap": e.DatasetNotFound,
    "err-not-found-parent": e.DatasetNotFound,
    "err-exists": e.DatasetExists,
    "err-exists-snap": e.DatasetExists,
    "err-exists-rename": e.DatasetExists,
    "err-has-children": e.DatasetHasChildren,
    "err-has-snapshots": e.DatasetHasChildren,
    "err-dependent-clones": e.DatasetHasDependents,
    "err-held": e.DatasetBusy,
    "err-refquota-below-usage": e.SizeBelowUsage,
    "err-unknown-property": e.PropertyRejected,
    "err-get-unknown-property": e.PropertyRejected,
    "err-bad-numeric": e.PropertyRejected,
    "err-must-be-one-of": e.PropertyRejected,
    "err-absolute-path": e.PropertyRejected,
    "err-power-of-2": e.PropertyRejected,
    "err-readonly": e.PropertyRejected,
    "err-sharenfs-invalid": e.PropertyRejected,
    "err-volsize-on-fs": e.PropertyRejected,
    "err-invalid-name": e.CommandFailed,  # the library validates names before running anything
    "err-no-such-command": e.ToolNotFound,
    "err-exportfs-missing-path": e.PathNotFound,
}


@pytest.mark.parametrize(("step", "cls"), sorted(REAL_2_3.items()))
def test_real_openzfs_2_3_refusals_map_to_typed_errors(step: str, cls: type[e.CommandFailed]) -> None:
    from tests.conformance.script import load_fixtures

    (out,) = [o for o in load_fixtures() if o.step == step]
    assert out.returncode != 0, f"{step} did not fail on the real host"
    err = e.error_from_result(out.argv, out.returncode, out.stderr, out.stdout)
    assert type(err) is cls, f"{step}: {out.stderr!r}"


def test_newer_snapshots_is_a_has_children_error() -> None:
    """Callers catching DatasetHasChildren for "use -r" refusals still catch the rollback one."""
    assert issubclass(e.NewerSnapshotsExist, e.DatasetHasChildren)
