"""The fake host's file store and process table (``cat``, ``tee``, ``mv``, ``rm``, ``kill``, the fixed scripts).

Each scripted scenario runs twice: on the fake under a made-up root and through a ``LocalExecutor`` (real GNU
coreutils) under a temporary directory; exit codes, stdout and stderr (root replaced by ``ROOT``) must match.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pyzfsnas import commands as cmd
from pyzfsnas.executors.base import Result
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

FAKE_ROOT = "/fake/root"

#: (argv with ROOT for the directory, stdin) run in order; the state carries over between steps.
SCENARIO: list[tuple[list[str], str | None]] = [
    (["cat", "--", "ROOT/a"], None),
    (["tee", "--", "ROOT/a"], "hello\n"),
    (["cat", "ROOT/a"], None),
    (["cat", "--", "ROOT/a", "ROOT/missing", "ROOT/a"], None),
    (["tee", "ROOT/b c"], "two\n"),
    (["cat", "ROOT/b c", "ROOT/it's"], None),
    (["cat", "ROOT"], None),
    (["tee", "--", "ROOT"], "x"),
    (["tee", "ROOT/a/under-a-file"], "x"),
    (["cat", "ROOT/a/under-a-file"], None),
    (["cat", "-x", "ROOT/a"], None),
    (["cat", "--bogus"], None),
    (["cat"], "from stdin"),
    (["mv", "-f", "--", "ROOT/a", "ROOT/moved"], None),
    (["cat", "ROOT/a", "ROOT/moved"], None),
    (["mv", "ROOT/a", "ROOT/x"], None),
    (["mv", "ROOT/moved", "ROOT/moved"], None),
    (["mv", "ROOT/moved"], None),
    (["mv"], None),
    (["mv", "-q", "ROOT/moved", "ROOT/x"], None),
    (["mv", "ROOT/moved", "ROOT/b c/x"], None),
    (["tee", "-a", "ROOT/moved"], "more\n"),
    (["cat", "ROOT/moved"], None),
    (["rm", "ROOT/missing"], None),
    (["rm", "-f", "--", "ROOT/missing", "ROOT/moved/x"], None),
    (["rm", "ROOT/it's", "ROOT/a'\"b"], None),
    (["rm", "ROOT"], None),
    (["rm"], None),
    (["rm", "-f"], None),
    (["rm", "--", "ROOT/moved"], None),
    (["cat", "ROOT/moved"], None),
    (["kill", "-HUP", "99999999"], None),
    (["kill", "-s", "HUP", "99999999"], None),
    (["kill", "-HUP", "abc"], None),
]


def _run(executor: FakeExecutor | LocalExecutor, root: str) -> list[tuple[int, str, str]]:
    seen = []
    for argv, stdin in SCENARIO:
        r: Result = executor.run([a.replace("ROOT", root) for a in argv], stdin=stdin, timeout=10)
        seen.append((r.returncode, r.stdout.replace(root, "ROOT"), r.stderr.replace(root, "ROOT")))
    return seen


@pytest.mark.skipif(not all(shutil.which(p) for p in ("cat", "tee", "mv", "rm", "kill")),
                    reason="GNU coreutils / procps kill not installed")
def test_fake_matches_real_coreutils(tmp_path: Path) -> None:
    fake = FakeExecutor(FakeHost())
    fake.host.dirs.add(FAKE_ROOT)
    real = _run(LocalExecutor(), str(tmp_path))
    assert _run(fake, FAKE_ROOT) == real


def test_files_are_bytes_and_directories_implicit() -> None:
    fake = FakeExecutor()
    fake.run(["tee", "--", "/etc/ganesha/x.conf"], stdin="é\n").check()
    assert fake.host.files == {"/etc/ganesha/x.conf": "é\n".encode()}
    assert fake.run(["cat", "--", "/etc/ganesha/x.conf"]).stdout == "é\n"
    assert fake.run(["cat", "/etc/ganesha"]).stderr == "cat: /etc/ganesha: Is a directory\n"
    fake.run(["mv", "-f", "--", "/etc/ganesha/x.conf", "/etc/other/y.conf"]).check()
    assert list(fake.host.files) == ["/etc/other/y.conf"]
    with fake.stream(["cat", "/etc/other/y.conf"]) as out:
        assert b"".join(out) == "é\n".encode()


def test_relative_paths_are_refused() -> None:
    fake = FakeExecutor()
    r = fake.run(["tee", "rel.conf"], stdin="x")
    assert r.returncode == 1 and "relative paths are not supported" in r.stderr
    assert fake.host.files == {}


def test_kill_signals_registered_processes() -> None:
    host = FakeHost()
    host.add_process(42, "ganesha.nfsd")
    fake = FakeExecutor(host)
    fake.run(["kill", "-HUP", "42"]).check()
    fake.run(["kill", "-s", "HUP", "--", "42"]).check()
    assert host.signals == [(42, "HUP"), (42, "HUP")]
    r = fake.run(["kill", "-HUP", "43"])
    assert (r.returncode, r.stderr) == (1, "kill: (43): No such process\n")
    fake.run(["kill", "42"]).check()  # TERM ends it
    assert host.signals[-1] == (42, "TERM") and host.processes == {}
    assert fake.run(["kill", "-HUP", "42"]).returncode == 1
    with pytest.raises(ValueError):
        host.add_process(0, "init?")


def test_injected_faults_apply_to_file_commands() -> None:
    fake = FakeExecutor()
    fake.host.fail_command(1, stderr="tee: /a: No space left on device")
    r = fake.run(["tee", "/a"], stdin="x")
    assert (r.returncode, r.stderr) == (1, "tee: /a: No space left on device\n")
    assert fake.host.files == {}


def _script_scenario(root: str, pid: int) -> list[tuple[list[str], str | None]]:
    """The fixed scripts of pyzfsnas.commands, built by their builders, with ``root`` and a live ``pid``."""
    conf, tmp, pidfile = f"{root}/c.conf", f"{root}/.c.conf.tmp-1", f"{root}/ganesha.pid"
    signal = list(cmd.signal_pidfile(pidfile, "CONT"))
    steps: list[tuple[list[str], str | None]] = [
        (list(cmd.file_install(tmp, conf)), "one\n"),
        (["cat", "--", conf], None),
        (list(cmd.signal_pidfile(pidfile, "CONT")), None),  # no pidfile yet: cat's error and status
        (["tee", "--", pidfile], f"{pid}\n"),
        (list(cmd.file_install(tmp, conf, signal)), "two\n"),
        (["cat", "--", conf], None),
    ]
    for content in ("", "abc\n", "-1\n", "12 13\n", "0\n", f"0{pid}\n", f" {pid}\n", f"+{pid}\n", "²\n",
                    f"{pid}\n\n\n", "99999999\n"):
        steps += [(["tee", "--", pidfile], content), (signal, None)]
    steps += [
        (["tee", "--", tmp], "someone else's\n"),  # the temporary name is taken: left alone, nothing replaced
        (list(cmd.file_install(tmp, conf)), "three\n"),
        (["cat", "--", conf, tmp], None),
        (list(cmd.file_install(f"{conf}/.x.tmp", f"{conf}/x")), "four\n"),  # under a file
        (list(cmd.file_install(f"{root}/.d.tmp", f"{root}/d")), "five\n"),  # d is a directory: refused
        (list(cmd.file_install(f"{root}/.e.tmp", f"{root}/e", ["cat", "--", conf])), "six\n"),  # exec THEN
    ]
    return steps


def test_fake_runs_the_fixed_scripts_as_real_sh_does(tmp_path: Path) -> None:
    """The install and pidfile scripts step by step: the fake's emulation against dash, coreutils, kill."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        fake = FakeExecutor(FakeHost())
        fake.host.dirs.update({FAKE_ROOT, f"{FAKE_ROOT}/d"})
        fake.host.add_process(sleeper.pid, "ganesha.nfsd")
        (tmp_path / "d").mkdir()
        seen = {}
        for name, executor, root in (("real", LocalExecutor(), str(tmp_path)), ("fake", fake, FAKE_ROOT)):
            seen[name] = [
                (r.returncode, r.stdout.replace(root, "ROOT"), r.stderr.replace(root, "ROOT"))
                for r in (executor.run([a.replace("ROOT", root) for a in argv], stdin=stdin, timeout=10)
                          for argv, stdin in _script_scenario(root, sleeper.pid))
            ]
        assert seen["fake"] == seen["real"]
        assert fake.host.signals == [(sleeper.pid, "CONT")] * 2  # after the install; "PID\n\n\n" (only digits)
    finally:
        sleeper.kill()
        sleeper.wait()
