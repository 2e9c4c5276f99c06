"""Injected faults in every Manila driver operation: for each N from 1 to the number of commands the operation
issues (on each host it touches), the N-th command fails (or hangs past its timeout). Afterwards the operation
has either completed, or left the hosts exactly as they were (nothing half-made), and a retry succeeds and
reaches the same end state as an undisturbed run. States are read from the fake hosts' memory (zfs datasets,
snapshots, local properties, data, exports), so observing them consumes no injected fault.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from tests.reliability.conftest import FLAVOURS, GIB, clear_faults, host_state, need_manila


@dataclass
class Env:
    """Two backends (fA on host ha, fB on host hb) reaching each other through an executor factory."""

    a: Any
    b: Any
    ha: FakeHost
    hb: FakeHost
    ea: FakeExecutor
    eb: FakeExecutor
    ctx: dict[str, Any] = field(default_factory=dict)

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return host_state(self.ha), host_state(self.hb)


def make_env(make_driver: Callable[..., Any], flavour: str) -> Env:
    ha, hb = FakeHost(flavour, name="ha"), FakeHost(flavour, name="hb")  # type: ignore[arg-type]
    ha.create_pool("tanka", size=8 * GIB)
    hb.create_pool("tankb", size=8 * GIB)
    ea, eb = FakeExecutor(ha), FakeExecutor(hb)
    factory = {"10.0.1.2": ea, "10.0.2.2": eb}.__getitem__
    a = make_driver(ea, group="fA", zfs_zpool_list=["tanka"], zfs_share_export_ip="10.0.1.1",
                    zfs_service_ip="10.0.1.2", replication_domain="d", executor_factory=factory)
    b = make_driver(eb, group="fB", zfs_zpool_list=["tankb"], zfs_share_export_ip="10.0.2.1",
                    zfs_service_ip="10.0.2.2", replication_domain="d", executor_factory=factory)
    return Env(a, b, ha, hb, ea, eb)


def _sh(sid: str, backend: str = "fA", pool: str = "tanka", **kw: Any) -> dict[str, Any]:
    from tests.manila.conftest import share

    return share(sid, backend=backend, pool=pool, **kw)


def _with_share(e: Env, size: int = 1) -> None:
    e.ctx["sh"] = _sh("s-1", size=size)
    e.a.create_share(None, e.ctx["sh"])
    e.ha.write("tanka/manila_share_s_1", 3 << 20)


def _with_snapshot(e: Env) -> None:
    from tests.manila.conftest import snapshot

    _with_share(e)
    snap = snapshot(e.ctx["sh"], "n-1")
    snap["provider_location"] = e.a.create_snapshot(None, snap)["provider_location"]
    e.ctx["snap"] = snap


def _with_replica(e: Env) -> None:
    from tests.manila.conftest import rule

    e.ctx["active"] = _sh("r-a", size=1, replica_state="active")
    e.a.create_share(None, e.ctx["active"])
    e.ha.write("tanka/manila_share_r_a", 2 << 20)
    e.ctx["new"] = _sh("r-b", backend="fB", pool="tankb", size=1, replica_state="out_of_sync")
    e.ctx["rules"] = [rule("10.5.0.1", "rw", rid="r1")]


def _with_secondary(e: Env) -> None:
    _with_replica(e)
    e.b.create_replica(None, [e.ctx["active"], e.ctx["new"]], e.ctx["new"], e.ctx["rules"], [])
    e.ctx["new"]["replica_state"] = "in_sync"


def _migrate_start(e: Env) -> None:
    e.a.migration_start(None, e.ctx["sh"], e.ctx["dst"], [], {})
    deadline = time.monotonic() + 10
    while not e.a.migration_continue(None, e.ctx["sh"], e.ctx["dst"], [], {}):
        assert time.monotonic() < deadline
        time.sleep(0.005)


def _with_migration_target(e: Env) -> None:
    _with_share(e)
    e.ctx["dst"] = _sh("m-d", backend="fB", pool="tankb", size=1)


def _with_copied_migration(e: Env) -> None:
    _with_migration_target(e)
    _migrate_start(e)


def _undo_migration(e: Env) -> None:
    """What Manila does after a failed migration step: cancel it (destination and snapshot removed)."""
    e.a.migration_cancel(None, e.ctx["sh"], e.ctx["dst"], [], {})


@dataclass
class Scenario:
    prepare: Callable[[Env], None]
    op: Callable[[Env], Any]
    undo: Callable[[Env], None] | None = None
    #: A failed attempt may leave partial progress, provided the retry converges on the undisturbed end state
    #: (idempotent, forward-only operations: the whole rule set is rewritten; completion only removes the
    #: migration snapshot and sets properties before deleting the source).
    converges: bool = False


def _from_snapshot(e: Env) -> Any:
    return e.a.create_share_from_snapshot(None, _sh("d-1", size=2), e.ctx["snap"])


SCENARIOS: dict[str, Scenario] = {
    "create_share": Scenario(lambda e: None, lambda e: e.a.create_share(None, _sh("c-1", size=2))),
    "create_snapshot": Scenario(_with_share, lambda e: e.a.create_snapshot(None, __import__(
        "tests.manila.conftest", fromlist=["snapshot"]).snapshot(e.ctx["sh"], "n-2"))),
    "create_share_from_snapshot": Scenario(_with_snapshot, _from_snapshot),
    "update_access": Scenario(_with_share, lambda e: e.a.update_access(None, e.ctx["sh"], *[[
        __import__("tests.manila.conftest", fromlist=["rule"]).rule("10.7.0.1", rid="x1"),
        __import__("tests.manila.conftest", fromlist=["rule"]).rule("10.8.0.0/16", "ro", rid="x2")]] * 2, [], []),
        converges=True),
    "extend_share": Scenario(_with_share, lambda e: e.a.extend_share(e.ctx["sh"], 3)),
    "shrink_share": Scenario(lambda e: _with_share(e, size=3), lambda e: e.a.shrink_share(e.ctx["sh"], 2)),
    "delete_snapshot": Scenario(_with_snapshot, lambda e: e.a.delete_snapshot(None, e.ctx["snap"])),
    "delete_share": Scenario(_with_snapshot, lambda e: e.a.delete_share(None, e.ctx["sh"])),
    "create_replica": Scenario(_with_replica, lambda e: e.b.create_replica(
        None, [e.ctx["active"], e.ctx["new"]], e.ctx["new"], e.ctx["rules"], [])),
    "migration_start": Scenario(_with_migration_target, _migrate_start, _undo_migration),
    "migration_complete": Scenario(_with_copied_migration, lambda e: e.a.migration_complete(
        None, e.ctx["sh"], e.ctx["dst"], [], {}), converges=True),
}

# Operations where a fault at some N leaves half-made state or blocks the retry (see the report):
KNOWN_BAD: dict[tuple[str, str], str] = {}


def _run_case(make_driver: Callable[..., Any], flavour: str, name: str) -> list[str]:
    from manila import exception

    sc = SCENARIOS[name]
    ref = make_env(make_driver, flavour)
    sc.prepare(ref)
    ref.ea.reset_transcript()
    ref.eb.reset_transcript()
    sc.op(ref)
    counts = {"ha": len(ref.ea.transcript), "hb": len(ref.eb.transcript)}
    final = ref.state()
    problems: list[str] = []
    for hostname, count in counts.items():
        for n in range(1, count + 1):
            for kind in ("fail", "hang"):
                e = make_env(make_driver, flavour)
                sc.prepare(e)
                before = e.state()
                host = e.ha if hostname == "ha" else e.hb
                if kind == "fail":
                    host.fail_command(n, returncode=1, stderr="injected failure")
                else:
                    host.hang_command(n)
                where = f"{name}[{flavour}] {kind} at command {n} on {hostname}"
                try:
                    sc.op(e)
                    failed = False
                except exception.ManilaException:
                    failed = True
                except Exception as exc:
                    problems.append(f"{where}: untyped {type(exc).__name__}: {exc}")
                    failed = True
                clear_faults(e.ha)
                clear_faults(e.hb)
                if failed and sc.undo is not None:
                    try:
                        sc.undo(e)
                    except Exception as exc:
                        problems.append(f"{where}: undo failed: {type(exc).__name__}: {exc}")
                after = e.state()
                if failed and after != before and not sc.converges:
                    problems.append(f"{where}: failed but left half-made state: {_diff(before, after)}")
                elif not failed and after != final:
                    problems.append(f"{where}: reported success but state differs: {_diff(final, after)}")
                if failed:
                    try:
                        sc.op(e)
                    except Exception as exc:
                        problems.append(f"{where}: retry failed: {type(exc).__name__}: {exc}")
                        continue
                    if e.state() != final:
                        problems.append(f"{where}: retry reached another state: {_diff(final, e.state())}")
    return problems


def _diff(want: Any, got: Any) -> str:
    out = []
    for i, (w, g) in enumerate(zip(want, got, strict=True)):
        for key in w:
            if w[key] != g[key]:
                if isinstance(w[key], dict):
                    extra = sorted(set(g[key]) - set(w[key]))
                    missing = sorted(set(w[key]) - set(g[key]))
                    changed = sorted(k for k in set(w[key]) & set(g[key]) if w[key][k] != g[key][k])
                    out.append(f"{'ab'[i]}.{key}: +{extra} -{missing} ~{changed}")
                else:
                    out.append(f"{'ab'[i]}.{key}: {w[key]} -> {g[key]}")
    return "; ".join(out)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_at_every_command(request: pytest.FixtureRequest, name: str, flavour: str) -> None:
    need_manila()
    if (name, flavour) in KNOWN_BAD:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=KNOWN_BAD[name, flavour]))
    problems = _run_case(request.getfixturevalue("make_driver"), flavour, name)
    assert not problems, "\n".join(problems)


# -- promote_replica ----------------------------------------------------------------------------------------
#
# promote_replica does not always raise: when the old active cannot be frozen or a secondary cannot get its
# final sync, it still promotes and *reports* those replicas ``out_of_sync``. So it gets its own runner, which
# plays Manila's part: a raised error leaves Manila's records as they were and the retry is another
# promote_replica; reported states are recorded, and the retry is Manila's periodic update_replica_state of
# every non-active replica (on its own backend's driver) with the new roles.

def _roles(e: Env) -> dict[str, Any]:
    """What promotion decides, per replica dataset: ``readonly`` and the exports (client, mode)."""
    out: dict[str, Any] = {}
    for host, ds in ((e.ha, "tanka/manila_share_r_a"), (e.hb, "tankb/manila_share_r_b")):
        with host.lock:
            d = host.datasets[ds]
            path = host.mountpoint_value(d)
            exports = sorted((x.client, x.options.get("_mode")) for x in host.exports.entries() if x.path == path)
            out[ds] = (d.props.get("readonly", "off"), exports)
    return out


def _data(e: Env) -> tuple[int, int]:
    """Bytes written into the old active's and the promoted replica's datasets (the fake counts them)."""
    sizes = []
    for host, ds in ((e.ha, "tanka/manila_share_r_a"), (e.hb, "tankb/manila_share_r_b")):
        with host.lock:
            sizes.append(sum(host.chunks.get(c, 0) for c in host.datasets[ds].data))
    return sizes[0], sizes[1]


def _promote(e: Env) -> list[dict[str, Any]]:
    return list(e.b.promote_replica(None, [e.ctx["active"], e.ctx["new"]], e.ctx["new"], e.ctx["rules"]))


def _record(e: Env, states: list[dict[str, Any]]) -> None:
    """Manila's side of a returned promotion: store each replica's reported state."""
    for replica in (e.ctx["active"], e.ctx["new"]):
        reported = next(s for s in states if s["id"] == replica["id"])
        if "replica_state" in reported:
            replica["replica_state"] = reported["replica_state"]


def _check_reported(where: str, states: list[dict[str, Any]], problems: list[str]) -> None:
    by_id = {s["id"]: s for s in states}
    if set(by_id) != {"r-a", "r-b"}:
        problems.append(f"{where}: states for {sorted(by_id)}, want both replicas")
        return
    if by_id["r-b"].get("replica_state") != "active" or by_id["r-b"].get("access_rules_status") != "active":
        problems.append(f"{where}: promoted replica reported {by_id['r-b']}")
    if by_id["r-a"].get("replica_state") not in ("in_sync", "out_of_sync"):
        problems.append(f"{where}: old active reported {by_id['r-a']}")


def _run_promote_case(make_driver: Callable[..., Any], storage: Any, flavour: str) -> list[str]:
    from manila import exception

    ref = make_env(make_driver, flavour)
    _with_secondary(ref)
    ref.ha.write("tanka/manila_share_r_a", 1 << 20)  # written after the last sync: promotion must carry it
    ref.ea.reset_transcript()
    ref.eb.reset_transcript()
    ref_states = _promote(ref)
    problems: list[str] = []
    _check_reported("undisturbed", ref_states, problems)
    if {s["id"]: s["replica_state"] for s in ref_states} != {"r-a": "in_sync", "r-b": "active"}:
        problems.append(f"undisturbed run reported {ref_states}")
    counts = {"ha": len(ref.ea.transcript), "hb": len(ref.eb.transcript)}
    final, final_roles, final_data = ref.state(), _roles(ref), _data(ref)
    if final_data[0] != final_data[1]:
        problems.append(f"undisturbed run: the promoted replica lacks the last writes: {final_data}")
    for hostname, count in counts.items():
        for n in range(1, count + 1):
            for kind in ("fail", "hang"):
                where = f"promote_replica[{flavour}] {kind} at command {n} on {hostname}"
                storage.data.clear()  # the private storage is per test: forget the previous run's records
                e = make_env(make_driver, flavour)
                _with_secondary(e)
                e.ha.write("tanka/manila_share_r_a", 1 << 20)
                before = e.state()
                host = e.ha if hostname == "ha" else e.hb
                if kind == "fail":
                    host.fail_command(n, returncode=1, stderr="injected failure")
                else:
                    host.hang_command(n)
                states: list[dict[str, Any]] | None = None
                try:
                    states = _promote(e)
                except exception.ManilaException:
                    pass
                except Exception as exc:
                    problems.append(f"{where}: untyped {type(exc).__name__}: {exc}")
                clear_faults(e.ha)
                clear_faults(e.hb)
                try:
                    if states is None:
                        # Manila keeps the old roles; the operator (or Manila) promotes again.
                        _check_reported(f"{where} (retry)", _promote(e), problems)
                        if e.state() != final:
                            problems.append(f"{where}: retry reached another state: {_diff(final, e.state())}")
                        if _data(e) != final_data:
                            problems.append(f"{where}: data after the retry {_data(e)}, want {final_data}")
                        continue
                    _check_reported(where, states, problems)
                    _record(e, states)
                    if states == ref_states:  # reported as an undisturbed run: it must be one
                        if e.state() != final:
                            problems.append(f"{where}: reported success but state differs: "
                                            f"{_diff(final, e.state())}")
                        continue
                    # The old active was reported out_of_sync (it could not be frozen: promotion went ahead with
                    # what the promoted replica had, as for an unreachable active). Manila's periodic sync of
                    # the non-active replica must then bring it under the new active's data, read-only.
                    synced_before = _data(e)[1]
                    replicas = [e.ctx["active"], e.ctx["new"]]
                    got = e.a.update_replica_state(None, replicas, e.ctx["active"], e.ctx["rules"], [])
                    if got != "in_sync":
                        problems.append(f"{where}: update_replica_state of the old active gave {got!r}")
                    if _data(e) != (synced_before, synced_before):
                        problems.append(f"{where}: after the resync the replicas hold {_data(e)} bytes, "
                                        f"want the new active's {synced_before} on both")
                except Exception as exc:
                    problems.append(f"{where}: retry failed: {type(exc).__name__}: {exc}")
                    continue
                if e.state() == before:
                    problems.append(f"{where}: nothing changed after the retry")
                if _roles(e) != final_roles:
                    problems.append(f"{where}: roles after the retry {_roles(e)}, want {final_roles}")
    return problems


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_promote_replica_fault_at_every_command(request: pytest.FixtureRequest, flavour: str) -> None:
    need_manila()
    problems = _run_promote_case(request.getfixturevalue("make_driver"), request.getfixturevalue("storage"),
                                 flavour)
    assert not problems, "\n".join(problems)
