# ruff: noqa: B023 - the lambdas built in loops here are called within the same iteration
"""Hostile input through every public entry point: rejected with a typed error before anything runs, or
passed to the host as one literal argument — never interpreted by a shell.

On the fake host the transcript proves it (no command for rejected input; the exact string as one argv
element otherwise). Through :class:`LocalExecutor` and :class:`SSHExecutor` a canary file that every
injection would create (``touch``) must never appear, and accepted strings must round-trip byte for byte.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import CommandFailed, InvalidName, InvalidProperty, UnsupportedOperation, ZFSError
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.flavour import FUSE, OPENZFS
from pyzfsnas.nfs import AccessRule, ExportfsNFS, FuseNFS, InvalidAccessRule, KernelNFS
from pyzfsnas.testing import RecordingExecutor
from pyzfsnas.testing.fake import FakeExecutor
from tests.reliability.conftest import FLAVOURS, GIB, fake, need_manila

CANARY = Path(f"/tmp/pyzfsnas-canary-{uuid.uuid4().hex[:10]}")

#: Shell metacharacters, quotes, control characters, option-looking and over-long text. Every injection
#: would create CANARY if a shell ever saw it.
_PAYLOADS = [
    f"a;touch {CANARY}", f"$(touch {CANARY})", f"`touch {CANARY}`", f"a|touch {CANARY}", f"a&&touch {CANARY}",
    f"a\ntouch {CANARY}", f"a'; touch {CANARY}; '", f'a"; touch {CANARY}; "', "a\0b", "a\rb", "a\tb",
    "a b", "-rf", "--help", "ünïcødé", "日本", "x" * 300, "a>b", "a*", "~root", "$HOME", "..", ".",
    "a/../b", "", " ", "a=b", "a,b", "a@b", "a#b", "a\\b", "a{b}", "a%b", "\x1b[31m",
]
HOSTILE_NAMES = [f"tank/{p}" for p in _PAYLOADS] + [p for p in _PAYLOADS if p] + [
    "-tank/a", " tank", "tank/", "/tank/a", "tank//a", "tank/a b c", "tank/-x", "tank/a:b-c.d_e",
]
HOSTILE_SNAPSHOTS = [f"tank/ds@{p}" for p in _PAYLOADS] + [f"tank/{p}@s" for p in _PAYLOADS[:12]] + [
    "tank/ds@a@b", "tank/ds@", "@s", "tank/ds@a/b", "tank/ds@ a b ",
]
HOSTILE_VALUES = [p for p in _PAYLOADS if p] + [f"/srv/{p}" for p in _PAYLOADS] + [-1, 1.5, True, None, object()]

VALIDATION_ERRORS = (InvalidName, InvalidProperty, UnsupportedOperation, InvalidAccessRule)


@pytest.fixture(autouse=True)
def _no_canary() -> Iterator[None]:
    """The canary must not exist before a test, nor after it."""
    with contextlib.suppress(FileNotFoundError):
        CANARY.unlink()
    yield
    assert not CANARY.exists(), "a hostile string reached a shell: the canary file was created"


def _literal_or_rejected(ex: FakeExecutor, call: Callable[[], Any], *literals: str) -> str:
    """Run ``call`` on a clean transcript; classify it as 'rejected' (typed validation error, no command) or
    'literal' (every hostile string reached some argv as one whole element) and assert the invariant."""
    ex.reset_transcript()
    try:
        out = call()
        if isinstance(out, contextlib.AbstractContextManager):
            with out as stream:
                list(stream)
    except CommandFailed:
        pass  # the host refused it (e.g. no such dataset, PropertyRejected): fine, as long as the argv was literal
    except VALIDATION_ERRORS:
        assert ex.commands == [], f"rejected input still ran {ex.commands}"
        return "rejected"
    except ZFSError as exc:  # pragma: no cover - a typed error we did not plan for is still a finding
        pytest.fail(f"unexpected typed error {exc!r}")
    args = [a for argv in ex.commands for a in argv]
    for text in literals:
        if isinstance(text, str) and text:
            assert any(text in a for a in args), f"{text!r} not passed literally: {ex.commands}"
            for a in args:
                # never split or re-quoted: where the text appears, it appears whole, unmodified
                assert "\0" not in a
    return "literal"


# -- the ZFS facade on the fake host -----------------------------------------------------------------------

def _facade_calls(z: ZFS, name: str) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("create_dataset", lambda: z.create_dataset(name)),
        ("destroy", lambda: z.destroy(name)),
        ("get", lambda: z.get(name, "used")),
        ("datasets", lambda: z.datasets(name)),
        ("snapshots", lambda: z.snapshots(name)),
        ("snapshot", lambda: z.snapshot(f"{name}@s1")),
        ("clone", lambda: z.clone("tank/ds@s", name)),
        ("rename-to", lambda: z.rename("tank/ds", name)),
        ("rename-from", lambda: z.rename(name, "tank/other")),
        ("set", lambda: z.set(name, quota=GIB)),
        ("inherit", lambda: z.inherit(name, "compression")),
        ("receive", lambda: z.receive(name, b"")),
        ("dataset", lambda: z.dataset(name)),
        ("exists", lambda: z.exists(name)),
    ]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hostile_dataset_names_on_every_facade_method(flavour: str) -> None:
    host, ex, z = fake(flavour)
    z.create_dataset("tank/ds")
    z.snapshot("tank/ds@s")
    outcomes: dict[str, set[str]] = {}
    for name in HOSTILE_NAMES:
        for method, call in _facade_calls(z, name):
            outcomes.setdefault(_literal_or_rejected(ex, call, name), set()).add(name)
            outcomes.setdefault(method, set()).add(name)
    # the shell payloads are never accepted anywhere; names ZFS allows (spaces, '-x' after the pool) are
    assert not any(p in n for n in outcomes.get("literal", ()) for p in (";", "$(", "`", "\n", "|", "&"))
    assert "tank/a b" in outcomes["literal"] and "tank/-x" in outcomes["literal"]
    assert "tank/" + "x" * 300 in outcomes["rejected"] and "-rf" in outcomes["rejected"]
    # a dataset name with spaces arrives as one argument and is created as such
    ex.reset_transcript()
    z.create_dataset("tank/sp a c e")
    assert ex.commands[-1][-1] == "tank/sp a c e"
    assert "tank/sp a c e" in host.datasets


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hostile_snapshot_names_and_hold_tags(flavour: str) -> None:
    _host, ex, z = fake(flavour)
    z.create_dataset("tank/ds")
    z.snapshot("tank/ds@s")
    for snap in HOSTILE_SNAPSHOTS:
        for call in (lambda: z.snapshot(snap), lambda: z.rollback(snap), lambda: z.destroy(snap),
                     lambda: z.clone(snap, "tank/c"), lambda: z.hold(snap, "t"), lambda: z.release(snap, "t"),
                     lambda: z.send(snap), lambda: z.send("tank/ds@s", incremental_from=snap),
                     lambda: z.rename("tank/ds@s", snap)):
            _literal_or_rejected(ex, call, snap)
    for tag in [p for p in _PAYLOADS if p] + ["", "-x", "a\nb"]:
        for call in (lambda: z.hold("tank/ds@s", tag), lambda: z.release("tank/ds@s", tag)):
            outcome = _literal_or_rejected(ex, call, tag)
            if tag.startswith("-") or any(c in tag for c in "\n\0\t") or not tag:
                assert outcome == "rejected", tag
    if "tank/ds@s" not in _host.datasets:  # a literal rename above may have moved it away
        z.snapshot("tank/ds@s")
    ex.reset_transcript()
    z.hold("tank/ds@s", f"$(touch {CANARY})")  # a literal tag, harmless as one argv element
    assert ex.commands[-1] == ("zfs", "hold", f"$(touch {CANARY})", "tank/ds@s")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_hostile_property_names_and_values(flavour: str) -> None:
    _host, ex, z = fake(flavour)
    z.create_dataset("tank/ds")
    names = [p for p in _PAYLOADS if p] + ["quota=1", "com.x:a;b", "com.x:$(x)", "COM.X:A", "com.x:a\nb",
                                            ":x", "all", "used", "type"]
    for prop in names:
        _literal_or_rejected(ex, lambda: z.set("tank/ds", {prop: "on"}), prop)
        _literal_or_rejected(ex, lambda: z.get("tank/ds", prop), prop)
        _literal_or_rejected(ex, lambda: z.inherit("tank/ds", prop), prop)
        _literal_or_rejected(ex, lambda: z.create_dataset("tank/n", {prop: "x"}), prop)
    for value in HOSTILE_VALUES:
        for prop in ("quota", "compression", "mountpoint", "readonly", "canmount", "com.pyzfsnas:note", "sharenfs"):
            outcome = _literal_or_rejected(ex, lambda: z.set("tank/ds", {prop: value}),
                                           f"{prop}={value}" if isinstance(value, str) else "")
            control = isinstance(value, str) and any(c in value for c in "\n\0\r")
            if (prop == "quota" and value is not None) or control:
                assert outcome == "rejected", (prop, value)
    # accepted free-text values are single literal argv elements
    ex.reset_transcript()
    z.set("tank/ds", {"com.pyzfsnas:note": f"$(touch {CANARY}); `x`"})
    assert ex.commands[-1] == ("zfs", "set", f"com.pyzfsnas:note=$(touch {CANARY}); `x`", "tank/ds")
    assert z.get("tank/ds", "com.pyzfsnas:note").raw("com.pyzfsnas:note") == f"$(touch {CANARY}); `x`"


# -- NFS rules and backends ---------------------------------------------------------------------------------

HOSTILE_ACCESS = [p for p in _PAYLOADS] + [
    "10.0.0.1;touch x", "10.0.0.1 10.0.0.2", "10.0.0.1\n", "10.0.0.1/24", "*", "host.example.com", "@netgroup",
    "fe80::1%eth0", "10.0.0.300", "10.0.0.1,rw", "10.0.0.1(rw)", "-10.0.0.1", "::ffff:10.0.0.1x",
    "10.0.0.0/33", "0x0a000001", None, 10, b"10.0.0.1",
]


def test_access_rule_parse_rejects_hostile_text() -> None:
    for text in HOSTILE_ACCESS:
        for level in ("rw", "ro", "rw;x", "RW", "", None, "no_root_squash"):
            try:
                rule = AccessRule.parse(text, level)
            except InvalidAccessRule:
                continue
            # whatever is accepted is a plain network and a plain level: nothing else survives
            assert rule.access_level in ("rw", "ro")
            assert set(str(rule.access_to)) <= set("0123456789abcdef:./")


@pytest.mark.parametrize("backend", ["kernel", "fuse", "exportfs"])
def test_nfs_backends_refuse_hostile_datasets(backend: str) -> None:
    flavour = "zfs-fuse" if backend == "fuse" else "openzfs"
    _host, ex, z = fake(flavour)
    z.create_dataset("tank/ds")
    nfs = {"kernel": KernelNFS, "fuse": FuseNFS, "exportfs": ExportfsNFS}[backend](z)
    rule = AccessRule.parse("10.0.0.1")
    for name in HOSTILE_NAMES:
        for call in (lambda: nfs.apply(name, [rule]), lambda: nfs.add(name, rule), lambda: nfs.remove(name, rule),
                     lambda: nfs.clear(name)):
            # ExportfsNFS exports any absolute path: such a "name" is a path, exported literally
            _literal_or_rejected(ex, call, *([] if backend == "exportfs" and name.startswith("/") else [name]))
    nfs.apply("tank/ds", [rule, AccessRule.parse("10.1.0.0/16", "ro")])
    assert [str(r) for r in nfs.rules("tank/ds")] == [str(r) for r in sorted(
        [rule, AccessRule.parse("10.1.0.0/16", "ro")], key=AccessRule.sort_key)]


# -- the Manila driver ---------------------------------------------------------------------------------------

@pytest.fixture
def driver_env(request: pytest.FixtureRequest) -> tuple[Any, FakeExecutor]:
    need_manila()
    make_driver = request.getfixturevalue("make_driver")
    _host, ex, _z = fake(request.param if hasattr(request, "param") else "openzfs")
    return make_driver(ex, zfs_zpool_list=["tank"]), ex


@pytest.mark.parametrize("driver_env", FLAVOURS, indirect=True)
def test_driver_hostile_share_ids_sizes_and_specs(driver_env: tuple[Any, FakeExecutor],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from manila.share import share_types

    from manila import exception
    from tests.manila.conftest import share

    drv, ex = driver_env
    for payload in [p for p in _PAYLOADS if p not in ("", "a b", "a*", "ünïcødé", "日本")]:
        sh = share(payload, backend="x", pool="tank")
        ex.reset_transcript()
        try:
            drv.create_share(None, sh)
        except (exception.InvalidShare, exception.ZFSonLinuxException):
            assert ex.commands == [], payload
        else:  # an id ZFS can name ('-rf', 'a.b'...) is one literal component under the root
            assert ex.commands[-1][-1] == f"tank/manila_share_{payload.replace('-', '_')}"
    ex.reset_transcript()
    for size in (-1, -(2**70)):
        with pytest.raises(exception.ManilaException):
            drv.create_share(None, share(backend="x", pool="tank", size=size))
    assert ex.commands == []
    with pytest.raises(exception.InvalidInput):  # a fraction is never truncated: refused before running
        drv.create_share(None, share(backend="x", pool="tank", size=2.5e30))
    assert ex.commands == []
    with pytest.raises(exception.ZFSonLinuxException):  # refused by the host, as one literal -o argument
        drv.create_share(None, share(backend="x", pool="tank", size=2**70))
    ex.reset_transcript()
    for specs in ({"zfsonlinux:compression": f"lz4;touch {CANARY}"}, {"dedupe": f"<is> True; touch {CANARY}"},
                  {"zfsonlinux:compression": "gzip\n-o readonly=off"}, {"dedupe": "$(true)"}):
        monkeypatch.setattr(share_types, "get_extra_specs_from_share", lambda s, specs=specs: specs)
        with pytest.raises(exception.ManilaException):
            drv.create_share(None, share(backend="x", pool="tank", share_type_id="t"))
        assert ex.commands == []


def test_driver_non_numeric_size_is_a_manila_error(request: pytest.FixtureRequest) -> None:
    need_manila()
    from manila import exception
    from tests.manila.conftest import share

    _host, ex, _z = fake()
    drv = request.getfixturevalue("make_driver")(ex, zfs_zpool_list=["tank"])
    for size in ("1; rm -rf /", "1e3", None, [1], 0):
        ex.reset_transcript()
        with pytest.raises(exception.ManilaException):
            drv.create_share(None, share(backend="x", pool="tank", size=size))
        assert ex.commands == []
    sh = share("ok", backend="x", pool="tank")
    drv.create_share(None, sh)
    with pytest.raises(exception.ManilaException):
        drv.extend_share(sh, 0)


@pytest.mark.parametrize("driver_env", FLAVOURS, indirect=True)
def test_driver_hostile_access_rules_are_per_rule_errors(driver_env: tuple[Any, FakeExecutor]) -> None:
    from tests.manila.conftest import rule, share

    drv, ex = driver_env
    sh = share("acc", backend="x", pool="tank")
    drv.create_share(None, sh)
    good = rule("10.9.0.1", rid="good")
    bad = [rule(t, rid=f"bad{i}") for i, t in enumerate(HOSTILE_ACCESS) if t is not None]
    bad += [rule("10.9.0.2", f"rw;touch {CANARY}", rid="badlevel"), rule("10.9.0.3", access_type=";x", rid="badtype")]
    ex.reset_transcript()
    result = drv.update_access(None, sh, [good, *bad], [good, *bad], [], [])
    assert set(result) == {r["access_id"] for r in bad}
    assert all(v == {"state": "error", "access_key": None} for v in result.values())
    args = " ".join(a for argv in ex.commands for a in argv)
    assert "10.9.0.1" in args and "touch" not in args and ";" not in args.replace("sharenfs=", "")


@pytest.mark.parametrize("driver_env", FLAVOURS, indirect=True)
def test_driver_manage_existing_hostile_export_paths(driver_env: tuple[Any, FakeExecutor]) -> None:
    from manila import exception
    from tests.manila.conftest import share

    drv, ex = driver_env
    for payload in [p for p in _PAYLOADS if p] + ["/-rf", ":/", "10.0.0.1:"]:
        for path in (f"10.0.0.1:/tank/{payload}", f"10.0.0.1:/srv/tank/{payload}", payload):
            ex.reset_transcript()
            with pytest.raises(exception.ManilaException):
                drv.manage_existing(share(backend="x", pool="tank", export_locations=[{"path": path}]), {})
            # at most the read of a literal (ZFS-valid) name ran; nothing was renamed or changed
            assert all(argv[:2] == ("zfs", "get") for argv in ex.commands), (path, ex.commands)


def test_driver_manage_existing_refuses_the_pool_root(request: pytest.FixtureRequest) -> None:
    need_manila()
    from manila import exception
    from tests.manila.conftest import share

    _host, ex, _z = fake()
    drv = request.getfixturevalue("make_driver")(ex, zfs_zpool_list=["tank"])
    for path in ("10.0.0.1:/tank", "10.0.0.1:/tank/", "10.0.0.1:/srv/tank"):
        ex.reset_transcript()
        with pytest.raises(exception.ManageInvalidShare):
            drv.manage_existing(share(backend="x", pool="tank", export_locations=[{"path": path}]), {})
        assert all(argv[:2] != ("zfs", "rename") for argv in ex.commands), ex.commands


# -- the CLI (subprocess) ---------------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    return subprocess.run([sys.executable, "-m", "pyzfsnas", *args], capture_output=True, text=True,
                          timeout=60, env=env, check=False)


def test_cli_subprocess_rejects_hostile_names() -> None:
    for args in (["--fake", "get", f"tank/$(touch {CANARY})"], ["--fake", "datasets", f"tank;touch {CANARY}"],
                 ["get", f"tank/`touch {CANARY}`", "used"], ["--fake", "snapshots", f"-rf;touch {CANARY}"]):
        proc = _cli(*args)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("pyzfsnas: invalid"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_cli_in_process_every_hostile_name(capsys: pytest.CaptureFixture[str]) -> None:
    from pyzfsnas import cli

    for name in HOSTILE_NAMES:
        if "\0" in name or name.startswith("-"):
            continue  # argv cannot carry NUL; a leading '-' is an option to argparse itself
        for sub in (["get", name, "used"], ["datasets", name], ["snapshots", name], ["exports", name]):
            assert cli.main(["--fake", *sub]) in (0, 1), sub
    capsys.readouterr()


# -- LocalExecutor and SSHExecutor: canary and literal round trips ----------------------------------------------

def _echo_round_trip(inner: Any) -> int:
    """Every facade call through ``printf '%s\\0' ARGV...`` (an executor prefix): what the host receives is
    echoed back split on NUL and must equal the argv we built, element for element. Returns calls checked."""
    rec = RecordingExecutor(inner)
    checked = 0
    for flavour in (OPENZFS, FUSE):
        z = ZFS(rec, flavour=flavour)
        for name in [*HOSTILE_NAMES, "tank/a b", "tank/-rf", "tank/a:b"]:
            for _method, call in _facade_calls(z, name):
                rec.results.clear()
                try:
                    call()
                except (*VALIDATION_ERRORS, ZFSError):
                    pass
                for result in rec.results:
                    received = result.stdout.split("\0")[:-1]
                    assert received[-len(result.argv):] == list(result.argv), (result.argv, received)
                    checked += 1
    return checked


def test_local_executor_literal_round_trip_and_canary() -> None:
    assert _echo_round_trip(LocalExecutor(prefix=("printf", "%s\\0"))) > 50
    assert not CANARY.exists()


def test_local_executor_real_zfs_binary_canary() -> None:
    """The real ``zfs`` program receives accepted names literally (and fails cleanly on an absent pool)."""
    z = ZFS(LocalExecutor(timeout=30), flavour=FUSE)
    for name in ("pztnopool/a b", "pztnopool/-rf", "pztnopool/a:b"):
        with pytest.raises(CommandFailed) as info:
            z.get(name, "used")
        assert info.value.argv[-1] == name
    for name in HOSTILE_NAMES:
        with contextlib.suppress(ZFSError):
            z.get(name, "used")
    assert not CANARY.exists()


def test_ssh_executor_literal_round_trip(request: pytest.FixtureRequest) -> None:
    try:
        from pyzfsnas.executors.ssh import SSHExecutor
    except ImportError as exc:  # pragma: no cover - SSH is being finished elsewhere
        if os.environ.get("CI") == "true":
            pytest.fail(f"pyzfsnas.executors.ssh unavailable: {exc}")
        pytest.skip(f"pyzfsnas.executors.ssh unavailable: {exc}")
    sshd = request.getfixturevalue("sshd")
    ex = SSHExecutor(sshd.host, port=sshd.port, username=sshd.user, key_filename=str(sshd.user_key_path),
                     known_hosts=str(sshd.known_hosts_path), allow_agent=False, prefix=("printf", "%s\\0"))
    try:
        assert _echo_round_trip(ex) > 50
        # the strings ZFS accepts, alone, as arguments of one command
        accepted = ["tank/a b", "tank/a  b ", "tank/-rf", f"tank/x@$(touch {CANARY})", "com.x:y=`id`;'\"\\"]
        result = ex.run(accepted)
        assert result.stdout.split("\0")[:-1] == accepted
    finally:
        ex.close()
    assert not CANARY.exists()
