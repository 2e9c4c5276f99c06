"""Nothing is lost by accident: refused shrinks leave quota and data alone, destroys refuse what has children
or dependent clones, deleting a share never reaches another share's data, and recursion (``-r``/``-R``) is
used only on what the caller named — checked on the transcripts' argv."""

from __future__ import annotations

from typing import Any

import pytest

from pyzfsnas.errors import DatasetHasChildren, DatasetHasDependents
from tests.reliability.conftest import FLAVOURS, GIB, fake, host_state, need_manila


def _destroys(commands: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    return [c for c in commands if c[:2] == ("zfs", "destroy")]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_shrink_below_used_is_refused_and_changes_nothing(request: pytest.FixtureRequest, flavour: str) -> None:
    need_manila()
    from manila import exception
    from tests.manila.conftest import share

    host, ex, z = fake(flavour)
    drv = request.getfixturevalue("make_driver")(ex, group="nl", zfs_zpool_list=["tank"])
    sh = share("big", backend="nl", pool="tank", size=4)
    drv.create_share(None, sh)
    host.write("tank/manila_share_big", 3 * GIB // 2)
    before = host_state(host)
    with pytest.raises(exception.ShareShrinkingPossibleDataLoss):
        drv.shrink_share(sh, 1)
    assert host_state(host) == before
    assert z.get("tank/manila_share_big", "quota").value("quota") == 4 * GIB


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_destroy_refuses_children_and_dependent_clones(flavour: str) -> None:
    host, ex, z = fake(flavour)
    z.create_dataset("tank/p")
    z.create_dataset("tank/p/child")
    host.write("tank/p/child", 1 << 20)
    z.snapshot("tank/p/child@s")
    z.clone("tank/p/child@s", "tank/c")
    before = host_state(host)
    ex.reset_transcript()
    for name, error in (("tank/p", DatasetHasChildren), ("tank/p/child", DatasetHasChildren),
                        ("tank/p/child@s", DatasetHasDependents)):
        with pytest.raises(error):
            z.destroy(name)
    assert host_state(host) == before
    assert all("-r" not in c and "-R" not in c for c in _destroys(ex.commands))
    ex.reset_transcript()
    with pytest.raises(DatasetHasDependents):
        z.destroy("tank/p", recursive=True)  # -r alone may not take the clone of a descendant's snapshot
    assert host_state(host) == before
    assert ex.commands[-1] == ("zfs", "destroy", "-r", "tank/p")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_deleting_a_source_share_keeps_the_other_share(request: pytest.FixtureRequest, flavour: str) -> None:
    need_manila()
    from manila import exception
    from tests.manila.conftest import share, snapshot

    host, ex, z = fake(flavour)
    drv = request.getfixturevalue("make_driver")(ex, group="nl", zfs_zpool_list=["tank"])
    src = share("src", backend="nl", pool="tank")
    drv.create_share(None, src)
    host.write("tank/manila_share_src", 5 << 20)
    snap = snapshot(src, "sn")
    snap["provider_location"] = drv.create_snapshot(None, snap)["provider_location"]
    drv.create_share_from_snapshot(None, share("dst", backend="nl", pool="tank"), snap)
    # an administrator's clone of the source's snapshot: a dependent Manila does not know about
    z.clone(snap["provider_location"], "tank/adminclone")
    dst_before = host_state(host)["datasets"]["tank/manila_share_dst"]
    clone_before = host_state(host)["datasets"]["tank/adminclone"]
    ex.reset_transcript()
    with pytest.raises(exception.ZFSonLinuxException, match="dependent clones"):
        drv.delete_share(None, src)  # typed refusal: the clone is not destroyed behind the admin's back
    assert z.exists("tank/manila_share_src") and z.exists("tank/adminclone")
    z.destroy("tank/adminclone")
    drv.delete_snapshot(None, snap)
    drv.delete_share(None, src)
    state = host_state(host)["datasets"]
    assert "tank/manila_share_src" not in state
    assert state["tank/manila_share_dst"] == dst_before and clone_before[0] == "filesystem"
    destroys = _destroys(ex.commands)
    assert all("-R" not in c for c in destroys)
    assert all(c[-1] in ("tank/manila_share_src", "tank/adminclone", snap["provider_location"])
               for c in destroys if "-r" in c or c[-1] != "tank/adminclone")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_driver_lifecycle_never_uses_capital_r(request: pytest.FixtureRequest, flavour: str) -> None:
    """A whole share lifecycle: -r only on the share's own dataset, never -R."""
    need_manila()
    from tests.manila.conftest import rule, share, snapshot

    host, ex, _z = fake(flavour)
    drv = request.getfixturevalue("make_driver")(ex, group="nl", zfs_zpool_list=["tank"])
    shares: list[dict[str, Any]] = [share(f"l{i}", backend="nl", pool="tank") for i in range(3)]
    for sh in shares:
        drv.create_share(None, sh)
        host.write(f"tank/manila_share_{sh['id']}", 1 << 20)
        sn = snapshot(sh, f"s{sh['id']}")
        sn["provider_location"] = drv.create_snapshot(None, sn)["provider_location"]
        drv.update_access(None, sh, [rule("10.0.0.9")], [], [], [])
        drv.extend_share(sh, 2)
        drv.create_share_from_snapshot(None, share(f"f{sh['id']}", backend="nl", pool="tank"), sn)
        drv.delete_snapshot(None, sn)
    for sh in shares:
        drv.delete_share(None, sh)
    for argv in _destroys(ex.commands):
        assert "-R" not in argv, argv
        if "-r" in argv:
            assert argv[-1].startswith("tank/manila_share_l") and "@" not in argv[-1], argv
    assert sorted(n for n in host.datasets if "manila_share_f" in n) == [f"tank/manila_share_fl{i}" for i in range(3)]
