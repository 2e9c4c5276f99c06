"""Crash consistency of the share service, measured on the fake host for both flavours.

Every operation of :class:`~pyzfsnas.shares.ShareService` (what the Manila driver calls) is killed after each
of its commands in turn (``tests/crash_service.py``), the service is thrown away, a fresh one on the same hosts
and private storage runs ``ensure_shares`` and then the same call again. ``converged`` = the hosts and store
look exactly as after one clean call (no orphan dataset, snapshot, hold, export, property or record) and the
retry succeeded; ``reported`` = the retry or ``ensure_shares`` said what is wrong; ``lost`` = neither. Every
cell must converge (the fixes this matrix led to are in CHANGELOG.md).
The matrix is printed (``-s``) and summarised in docs/crash-matrix.rst.
"""

from __future__ import annotations

import pytest

from pyzfsnas.shares import Rule, ShareRef, SnapshotRef
from tests.crash_service import MiB, Outcome, Scenario, Services, World, clean, run_point

S = ShareRef("s1", "A", "tank", 1)
S2 = ShareRef("s2", "A", "tank", 2)
SNAP = SnapshotRef("si1", "sn1", S, size=1)
RULES = [Rule("r1", "ip", "10.1.0.5", "rw"), Rule("r2", "ip", "10.2.0.0/24", "ro")]
ACT = ShareRef("ra", "A", "tank", 1, replica_state="active")
NEW = ShareRef("rb", "B", "tankb", 1, replica_state="out_of_sync")
INS = ShareRef("rb", "B", "tankb", 1, replica_state="in_sync")
DST = ShareRef("md", "B", "tankb", 1)


def _share(world: World, svcs: Services, share: ShareRef = S, data: int = 3) -> None:
    svcs["A"].create_share(share)
    svcs["A"].update_access(share, RULES)
    world.h.write(svcs["A"].dataset(share), data * MiB)


def _snapped(world: World, svcs: Services) -> None:
    _share(world, svcs)
    svcs["A"].create_snapshot(SNAP)


def _replicated(world: World, svcs: Services) -> None:
    svcs["A"].create_share(ACT)
    svcs["A"].update_access(ACT, RULES)
    world.h.write("tank/manila_share_ra", 3 * MiB)
    svcs["B"].create_replica([ACT, NEW], NEW, RULES)
    world.h.write("tank/manila_share_ra", 2 * MiB)


def _legacy(world: World, svcs: Services) -> None:
    world.zfs(world.h).create_dataset("tank/legacy")
    world.h.write("tank/legacy", 2 * MiB)


def _legacy_snap(world: World, svcs: Services) -> None:
    _share(world, svcs)
    world.zfs(world.h).snapshot("tank/manila_share_s1@old")


def _backed_up(world: World, svcs: Services) -> None:
    _share(world, svcs)
    svcs["A"].create_backup(S, "k1")
    world.h.write("tank/manila_share_s1", 2 * MiB)


def _backup_and_target(world: World, svcs: Services) -> None:
    _backed_up(world, svcs)
    _share(world, svcs, S2, 1)


def _migrating(world: World, svcs: Services) -> None:
    _share(world, svcs)
    svcs["A"].migration_start(S, DST)
    job = svcs["A"]._migrations[DST.id]
    assert job.thread is not None
    job.thread.join()


def _group(world: World, svcs: Services) -> None:
    _share(world, svcs)
    _share(world, svcs, S2, 1)


def _nothing(world: World, svcs: Services) -> None:
    pass


G = [SnapshotRef("g-1", "gs1", S), SnapshotRef("g-2", "gs2", S2)]
ON_A = {"A": [S]}

SCENARIOS: list[Scenario] = [
    Scenario("create share", _nothing, lambda s: s["A"].create_share(S), ON_A),
    Scenario("delete share", _snapped, lambda s: s["A"].delete_share(S), ON_A),
    Scenario("create snapshot", _share, lambda s: s["A"].create_snapshot(SNAP), ON_A),
    Scenario("delete snapshot", _snapped, lambda s: s["A"].delete_snapshot(SNAP), ON_A),
    Scenario("share from snapshot", _snapped, lambda s: s["A"].create_share_from_snapshot(S2, SNAP),
             {"A": [S, S2]}),
    Scenario("extend", _share, lambda s: s["A"].resize(S, 3), ON_A),
    Scenario("shrink", lambda w, s: _share(w, s, ShareRef("s1", "A", "tank", 3)), lambda s: s["A"].resize(S, 1),
             ON_A),
    Scenario("revert", lambda w, s: (_snapped(w, s), w.h.write("tank/manila_share_s1", 4 * MiB)),
             lambda s: s["A"].revert_to_snapshot(SNAP, 1), ON_A),
    Scenario("update access", _share, lambda s: s["A"].update_access(S, [RULES[1], Rule("r3", "ip", "10.3.0.1", "rw")]),
             ON_A),
    Scenario("manage", _legacy, lambda s: s["A"].manage(S, "10.0.0.1:/tank/legacy"), ON_A),
    Scenario("unmanage", _share, lambda s: s["A"].unmanage(S), {}),
    Scenario("manage snapshot", _legacy_snap,
             lambda s: s["A"].manage_snapshot(SnapshotRef("si1", "sn1", S, location="tank/manila_share_s1@old")),
             ON_A),
    Scenario("mountable snapshot", _snapped, lambda s: s["A"].mount_snapshot(SNAP), ON_A),
    Scenario("group snapshot", _group, lambda s: s["A"].create_group_snapshot("gs", G), {"A": [S, S2]}),
    Scenario("replica create", lambda w, s: _share(w, s, ACT),
             lambda s: s["B"].create_replica([ACT, NEW], NEW, RULES), {"A": [ACT], "B": [NEW]}),
    Scenario("replica update", _replicated, lambda s: s["B"].sync_replica([ACT, INS], INS, RULES),
             {"A": [ACT], "B": [INS]}),
    Scenario("replica promote", _replicated, lambda s: s["B"].promote_replica([ACT, INS], INS, RULES),
             {"A": [ACT], "B": [INS]}),
    Scenario("replica delete", _replicated, lambda s: s["B"].delete_replica(INS), {"A": [ACT], "B": [INS]}),
    Scenario("migration start", _share, lambda s: s["A"].migration_start(S, DST), {"A": [S]}),
    Scenario("migration continue", _migrating, lambda s: s["A"].migration_continue(S, DST), {"A": [S], "B": [DST]}),
    Scenario("migration complete", _migrating, lambda s: s["A"].migration_complete(S, DST),
             {"A": [S], "B": [DST]}),
    Scenario("backup create", _share, lambda s: s["A"].create_backup(S, "k1"), ON_A),
    Scenario("backup restore (original)", _backed_up, lambda s: s["A"].restore_backup("k1", S), ON_A),
    Scenario("backup restore (new share)", _backup_and_target, lambda s: s["A"].restore_backup("k1", S2),
             {"A": [S, S2]}),
    Scenario("backup delete", _backed_up, lambda s: s["A"].delete_backup("k1", S), ON_A),
]

FLAVOURS = ["openzfs", "zfs-fuse"]


def matrix(scenario: Scenario, flavour: str) -> list[Outcome]:
    """Every kill point of one scenario (an operation with no command has none)."""
    expected, commands = clean(scenario, flavour)
    return [run_point(scenario, flavour, k, expected, " ".join(cmd)) for k, cmd in enumerate(commands)]


def table(points: list[Outcome]) -> str:
    return "\n".join(f"{p.operation:<28} {p.flavour:<8} {p.after:>2} {p.command[:70]:<70} {p.outcome:<9} "
                     f"{p.detail[:400]}" for p in points)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_service_operation_killed_after_every_step_converges(scenario: Scenario,
                                                                             flavour: str) -> None:
    points = matrix(scenario, flavour)
    print("\n" + table(points))
    # Every service operation finishes what a killed attempt of itself left: nothing is merely "reported".
    unfinished = [p for p in points if p.outcome != "converged"]
    assert not unfinished, table(unfinished)




if __name__ == "__main__":  # python -m tests.reliability.test_crash_service: the matrix, counted
    from collections import Counter

    for scen in SCENARIOS:
        for fl in FLAVOURS:
            pts = matrix(scen, fl)
            c = Counter(p.outcome for p in pts)
            bad = [f"{p.after}:{p.outcome}" for p in pts if p.outcome != "converged"]
            print(f"{scen.name}|{fl}|{len(pts)}|{c['converged']}|{c['reported']}|{c['lost']}|{' '.join(bad)}")
