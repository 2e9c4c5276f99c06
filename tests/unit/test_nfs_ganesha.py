"""GaneshaNFS: the managed config file (format, strict parser) and the backend's commands, without ganesha.

The backend runs on the in-memory fake host, which keeps files (``cat``/``tee``/``mv``/``rm``, and the two
fixed scripts of :mod:`pyzfsnas.commands`) and a process table (``kill``); :class:`HostView` only presents
that state the way these tests assert it. The same flow also runs through a ``LocalExecutor`` with the real
``sh``, ``cat``, ``mv`` and ``kill`` on a temporary directory and a real process standing in for ganesha.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import pytest

from pyzfsnas.commands import FILE_NOT_INSTALLED, INSTALL_SCRIPT, SIGNAL_PIDFILE_SCRIPT
from pyzfsnas.errors import (
    CommandFailed,
    CommandTimeout,
    InvalidName,
    ParseError,
    PathNotFound,
    UnsupportedOperation,
)
from pyzfsnas.executors.base import install_file
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.nfs import AccessRule, GaneshaNFS, InvalidAccessRule, NFSBackend, normalize_rules
from pyzfsnas.nfs import ganesha as g
from pyzfsnas.nfs.ganesha import GaneshaExport, format_exports, include_directive, parse_exports
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

FIXTURES = Path("/work/shared/fixtures/zfs-fuse")
CONF = "/etc/ganesha/pyzfsnas.conf"
PIDFILE = "/run/ganesha.pid"
PID = 4242


def R(text: str, level: str = "rw") -> AccessRule:
    return AccessRule.parse(text, level)


class _TextFiles(MutableMapping[str, str]):
    """The fake host's files (bytes) seen as text."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self._files = files

    def __getitem__(self, path: str) -> str:
        return self._files[path].decode()

    def __setitem__(self, path: str, text: str) -> None:
        self._files[path] = text.encode()

    def __delitem__(self, path: str) -> None:
        del self._files[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


class HostView:
    """A FakeExecutor (``executor``) and what the backend did on its host.

    ``files`` is the host's file store as text, ``commands`` every argv run, ``writes`` the paths
    the executor's ``write_file`` replaced, ``signals`` the ``(signal, pid)`` pairs ``kill`` delivered.
    """

    def __init__(self, executor: FakeExecutor) -> None:
        self.executor = executor
        self.files = _TextFiles(executor.host.files)

    @property
    def commands(self) -> list[tuple[str, ...]]:
        return self.executor.commands

    @property
    def writes(self) -> list[str]:
        """Paths replaced: by ``write_file``, or by the install command (unless it said it replaced nothing)."""
        return [r.argv[1] if r.argv[0] == "write_file" else r.argv[5] for r in self.executor.transcript
                if (r.argv[0] == "write_file" and r.returncode == 0)
                or (r.argv[:3] == ("sh", "-c", INSTALL_SCRIPT) and r.returncode != FILE_NOT_INSTALLED)]

    @property
    def signals(self) -> list[tuple[str, int]]:
        return [(sig, pid) for pid, sig in self.executor.host.signals]


def fake_host(pids: tuple[int, ...] = (PID,)) -> FakeHost:
    """A fake host with ganesha's pidfile holding ``pids[0]`` and those processes running."""
    fake = FakeHost()
    fake.files[PIDFILE] = f"{pids[0]}\n".encode()
    for pid in pids:
        fake.add_process(pid, "ganesha.nfsd")
    return fake


@pytest.fixture
def host() -> HostView:
    return HostView(FakeExecutor(fake_host((PID, 77))))


@pytest.fixture
def nfs(host: HostView) -> GaneshaNFS:
    return GaneshaNFS(host.executor, config_path=CONF, pidfile=PIDFILE)


# --- format / parse -----------------------------------------------------------------------------------------

GOLDEN = g.HEADER + """EXPORT {
    Export_Id = 1000;
    Path = "/tank/a";
    Pseudo = "/tank/a";
    Protocols = 3, 4;
    Transports = TCP;
    Access_Type = None;
    Squash = No_Root_Squash;
    SecType = sys;
    FSAL {
        Name = VFS;
    }
    CLIENT {
        Clients = 10.0.0.0/24, 127.0.0.1, 2001:db8::/64;
        Access_Type = RW;
    }
    CLIENT {
        Clients = 192.0.2.7, ::1;
        Access_Type = RO;
    }
}
"""


def test_format_golden_text() -> None:
    rules = [R("::1", "ro"), R("127.0.0.1"), R("2001:db8::/64"), R("192.0.2.7", "ro"), R("10.0.0.0/24")]
    assert format_exports([GaneshaExport(1000, "/tank/a", "/tank/a", tuple(rules))]) == GOLDEN


def test_round_trip_mixes() -> None:
    exports = [
        GaneshaExport(1001, "/tank/b", "/tank/b", (R("::1", "ro"),)),
        GaneshaExport(1000, "/tank/a", "/tank/a", (R("10.0.0.0/8"), R("fe80::/64"), R("192.0.2.1", "ro"))),
        GaneshaExport(7, "/tank/with space", "/p", (R("0.0.0.0/0", "ro"), R("::/0"))),
    ]
    back = parse_exports(format_exports(exports))
    assert back == sorted(exports, key=lambda e: e.export_id)
    assert back[1].rules == (R("10.0.0.0/8"), R("192.0.2.1", "ro"), R("fe80::/64"))


def test_format_drops_exports_without_rules() -> None:
    assert format_exports([GaneshaExport(1, "/a", "/a")]) == g.HEADER
    assert parse_exports(g.HEADER) == []
    assert parse_exports("") == []


def test_format_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="export_id"):
        format_exports([GaneshaExport(1, "/a", "/a", (R("::1"),)), GaneshaExport(1, "/b", "/b", (R("::1"),))])
    with pytest.raises(ValueError, match="path"):
        format_exports([GaneshaExport(1, "/a", "/a", (R("::1"),)), GaneshaExport(2, "/a", "/b", (R("::1"),))])


def test_parse_free_whitespace_comments_and_case() -> None:
    text = """
    # a comment
    export{export_id=12;path=/srv/x;PSEUDO="/x";protocols=3,4;transports=tcp;access_type=none;
      squash=no_root_squash;sectype=SYS;fsal{name=vfs;}  # trailing comment
      client{clients=127.0.0.1,::1;access_type=ro;}client { Clients = 127.0.0.1; Access_Type = rw; }}
    """
    (exp,) = parse_exports(text)
    assert exp == GaneshaExport(12, "/srv/x", "/x", (R("127.0.0.1"), R("::1", "ro")))  # rw wins


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not present")
def test_real_config_export_blocks_parse_but_the_whole_file_is_foreign() -> None:
    text = (FIXTURES / "ganesha_conf_example.conf").read_text()
    with pytest.raises(ParseError, match="only EXPORT blocks") as info:
        parse_exports(text)
    assert info.value.lineno == 1 and info.value.line == "NFS_CORE_PARAM {"
    blocks = re.findall(r"^EXPORT \{.*?^\}", text, flags=re.S | re.M)
    exports = parse_exports("\n".join(blocks))
    assert [(e.export_id, e.path, e.pseudo, e.rules) for e in exports] == [
        (1, "/srv/test/exp/a", "/a", (R("::1"),)),
        (2, "/srv/test/exp/b", "/b", (R("192.0.2.2", "ro"),)),
        (4, "/srv/test/mnt/tank/ds", "/zds", (R("127.0.0.1"),)),
    ]


BAD_TEXTS = {
    "foreign block": "LOG { Default_Log_Level = EVENT; }\n",
    "unknown key": GOLDEN.replace("SecType = sys;", "SecType = sys;\n    Disable_ACL = true;"),
    "export access rw": GOLDEN.replace("Access_Type = None;", "Access_Type = RW;"),
    "root squash": GOLDEN.replace("No_Root_Squash", "Root_Squash"),
    "protocols 4 only": GOLDEN.replace("Protocols = 3, 4;", "Protocols = 4;"),
    "missing fsal": GOLDEN.replace("    FSAL {\n        Name = VFS;\n    }\n", ""),
    "other fsal": GOLDEN.replace("Name = VFS;", "Name = CEPH;"),
    "missing squash": GOLDEN.replace("    Squash = No_Root_Squash;\n", ""),
    "missing id": GOLDEN.replace("    Export_Id = 1000;\n", ""),
    "id zero": GOLDEN.replace("Export_Id = 1000;", "Export_Id = 0;"),
    "id too big": GOLDEN.replace("Export_Id = 1000;", "Export_Id = 65536;"),
    "id not int": GOLDEN.replace("Export_Id = 1000;", "Export_Id = x1;"),
    "hostname client": GOLDEN.replace("192.0.2.7, ::1", "192.0.2.7, nfs.example.com"),
    "wildcard client": GOLDEN.replace("192.0.2.7, ::1", "*"),
    "host bits": GOLDEN.replace("10.0.0.0/24", "10.0.0.1/24"),
    "client access none": GOLDEN.replace("Access_Type = RO;", "Access_Type = None;"),
    "client extra key": GOLDEN.replace("Access_Type = RO;", "Access_Type = RO;\n        Squash = None;"),
    "empty list item": GOLDEN.replace("192.0.2.7, ::1", "192.0.2.7,, ::1"),
    "missing semicolon": GOLDEN.replace("Transports = TCP;", "Transports = TCP"),
    "unterminated string": GOLDEN.replace('Path = "/tank/a";', 'Path = "/tank/a;'),
    "unbalanced": GOLDEN[:-2],
    "relative path": GOLDEN.replace('Path = "/tank/a";', 'Path = "tank/a";'),
    "duplicate key": GOLDEN.replace("SecType = sys;", "SecType = sys;\n    SecType = sys;"),
    "duplicate path": GOLDEN + GOLDEN.replace("1000", "1001").replace('Pseudo = "/tank/a"', 'Pseudo = "/b"'),
    "duplicate id": GOLDEN + GOLDEN.replace('"/tank/a"', '"/tank/b"'),
    "include": '%include "/etc/ganesha/other.conf"\n',
    "shell text": GOLDEN.replace("Transports = TCP;", "Transports = $(reboot);"),
}


@pytest.mark.parametrize("text", BAD_TEXTS.values(), ids=BAD_TEXTS.keys())
def test_parse_refuses_what_it_does_not_write(text: str) -> None:
    with pytest.raises(ParseError):
        parse_exports(text)


def test_parse_error_names_the_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_exports(BAD_TEXTS["root squash"])
    assert info.value.line == "    Squash = Root_Squash;"
    assert info.value.lineno == 9


@pytest.mark.parametrize("path", ["relative", "/", '/a"b', "/a\\b", "/a\nb", "/a\tb", "/a\0b"])
def test_bad_paths(path: str) -> None:
    with pytest.raises(InvalidName):
        g.validate_ganesha_path(path)


def test_include_directive() -> None:
    assert include_directive("/etc/ganesha/pyzfsnas.conf") == '%include "/etc/ganesha/pyzfsnas.conf"'
    with pytest.raises(InvalidName):
        include_directive("/etc/ganesha/with space.conf")


# --- the backend --------------------------------------------------------------------------------------------


def test_protocol_and_flags(nfs: GaneshaNFS) -> None:
    assert isinstance(nfs, NFSBackend)
    assert nfs.name == "ganesha" and nfs.ipv6_support() is True


def test_apply_writes_block_and_reloads(nfs: GaneshaNFS, host: HostView) -> None:
    assert nfs.rules("/tank/a") == []  # no file yet
    nfs.apply("/tank/a/", [R("::1", "ro"), R("127.0.0.1"), R("2001:db8::/64"), R("192.0.2.7", "ro"),
                           R("10.0.0.0/24")])
    assert host.files[CONF] == GOLDEN
    assert host.signals == [("HUP", 4242)]
    assert host.commands[-1][-6:] == ("sh", "-c", SIGNAL_PIDFILE_SCRIPT, "sh", PIDFILE, "HUP")
    assert nfs.rules("/tank/a") == [R("10.0.0.0/24"), R("127.0.0.1"), R("192.0.2.7", "ro"), R("::1", "ro"),
                                    R("2001:db8::/64")]


def test_apply_same_set_writes_nothing(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.apply("/tank/a", [R("127.0.0.1"), R("::1", "ro")])
    nfs.apply("/tank/a", [R("::1", "ro"), R("127.0.0.1"), R("127.0.0.1/32", "ro")])  # same after normalising
    assert len(host.writes) == 1 and len(host.signals) == 1


def test_duplicates_rw_wins_and_read_only_forces_ro(nfs: GaneshaNFS) -> None:
    nfs.apply("/tank/a", [R("10.0.0.5", "ro"), R("10.0.0.5/32", "rw")])
    assert nfs.rules("/tank/a") == [R("10.0.0.5", "rw")]
    nfs.apply("/tank/a", [R("10.0.0.5"), R("::1")], read_only=True)
    assert nfs.rules("/tank/a") == [R("10.0.0.5", "ro"), R("::1", "ro")]


def test_add_change_remove(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.add("/tank/a", R("127.0.0.1"))
    nfs.add("/tank/a", R("::1"))
    nfs.add("/tank/a", R("127.0.0.1", "ro"))  # replaces the level
    assert nfs.rules("/tank/a") == [R("127.0.0.1", "ro"), R("::1")]
    writes = len(host.writes)
    nfs.remove("/tank/a", R("192.0.2.1"))  # never applied: not an error, nothing written
    nfs.add("/tank/a", R("::1"))  # already in force: nothing written
    assert len(host.writes) == writes
    nfs.remove("/tank/a", R("::1", "ro"))  # whatever the level
    assert nfs.rules("/tank/a") == [R("127.0.0.1", "ro")]
    nfs.remove("/tank/a", R("127.0.0.1"))  # last rule: the block goes
    assert nfs.exports() == [] and host.files[CONF] == g.HEADER
    assert len(host.signals) == len(host.writes) == writes + 2


def test_empty_set_and_clear_remove_only_the_named_block(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.apply("/tank/a", [R("127.0.0.1")])
    nfs.apply("/tank/b", [R("::1", "ro")])
    block_b = re.search(r"EXPORT \{\n    Export_Id = 1001;.*?\n\}\n", host.files[CONF], re.S)
    assert block_b
    nfs.apply("/tank/a", [])
    assert host.files[CONF] == g.HEADER + block_b.group()
    nfs.clear("/tank/b")
    assert host.files[CONF] == g.HEADER
    writes = len(host.writes)
    nfs.clear("/tank/b")
    nfs.apply("/tank/never", [])
    assert len(host.writes) == writes


def test_export_ids_are_stable_per_path(nfs: GaneshaNFS) -> None:
    for path in ("/tank/a", "/tank/b", "/tank/c"):
        nfs.add(path, R("127.0.0.1"))
    ids = {e.path: e.export_id for e in nfs.exports()}
    assert ids == {"/tank/a": 1000, "/tank/b": 1001, "/tank/c": 1002}
    nfs.add("/tank/b", R("::1", "ro"))
    nfs.clear("/tank/a")
    nfs.add("/tank/d", R("127.0.0.1"))
    nfs.add("/tank/a", R("127.0.0.1"))
    ids = {e.path: e.export_id for e in nfs.exports()}
    assert ids == {"/tank/b": 1001, "/tank/c": 1002, "/tank/d": 1003, "/tank/a": 1004}


def test_export_id_wraps_to_a_free_id_then_runs_out(host: HostView) -> None:
    nfs = GaneshaNFS(host.executor, config_path=CONF, pidfile=PIDFILE, export_id_base=65533)
    for path in ("/a", "/b", "/c"):
        nfs.add(path, R("::1"))
    nfs.clear("/a")
    nfs.add("/d", R("::1"))
    assert {e.path: e.export_id for e in nfs.exports()} == {"/b": 65534, "/c": 65535, "/d": 65533}
    with pytest.raises(UnsupportedOperation, match="Export_Id"):
        nfs.add("/e", R("::1"))


def test_pid_getter_and_no_reload(host: HostView) -> None:
    GaneshaNFS(host.executor, config_path=CONF, pidfile=lambda: 77).add("/a", R("::1"))
    assert host.signals == [("HUP", 77)]
    GaneshaNFS(host.executor, config_path=CONF, pidfile=None).add("/b", R("::1"))
    assert host.signals == [("HUP", 77)] and len(host.writes) == 2
    with pytest.raises(UnsupportedOperation):
        GaneshaNFS(host.executor, config_path=CONF, pidfile=None).pid()


@pytest.mark.parametrize("content", ["", "abc\n", "-1\n", "12 13\n", f"0{PID}\n", f" {PID}\n", "0\n"])
def test_bad_pidfile_is_a_parse_error(host: HostView, content: str) -> None:
    host.files[PIDFILE] = content
    nfs = GaneshaNFS(host.executor, config_path=CONF, pidfile=PIDFILE)
    with pytest.raises(ParseError):
        nfs.add("/a", R("::1"))
    with pytest.raises(ParseError):  # pid() reads it by the same rule as the reload command
        nfs.pid()
    assert host.signals == []


def test_missing_pidfile_raises_and_puts_the_file_back(host: HostView) -> None:
    nfs = GaneshaNFS(host.executor, config_path=CONF, pidfile="/run/none.pid")
    with pytest.raises(CommandFailed):
        nfs.add("/a", R("::1"))
    assert nfs.rules("/a") == []  # ganesha was not told: the file says what it serves, a retry redoes it
    host.files["/run/none.pid"] = f"{PID}\n"
    nfs.add("/a", R("::1"))
    assert nfs.rules("/a") == [R("::1")] and host.signals == [("HUP", PID)]


def test_failed_reload_is_completed_by_a_retry(host: HostView, nfs: GaneshaNFS) -> None:
    """Issue #10 item 4: a revoke whose reload failed must not be a no-op when retried."""
    nfs.add("/tank/a", R("192.0.2.7"))
    assert host.signals == [("HUP", PID)]
    host.executor.reset_transcript()
    del host.executor.host.processes[PID]  # ganesha is gone: the file is written, then kill fails
    with pytest.raises(CommandFailed, match="No such process"):
        nfs.remove("/tank/a", R("192.0.2.7"))
    assert host.signals == [("HUP", PID)]
    assert nfs.rules("/tank/a") == [R("192.0.2.7")]  # the old file is back: it is what ganesha serves
    host.executor.host.add_process(PID, "ganesha.nfsd")
    nfs.remove("/tank/a", R("192.0.2.7"))  # the retry
    assert host.signals == [("HUP", PID), ("HUP", PID)] and nfs.rules("/tank/a") == []


def test_failed_reload_and_failed_restore_reload_on_the_next_call(host: HostView, nfs: GaneshaNFS) -> None:
    nfs.add("/tank/a", R("192.0.2.7"))
    host.executor.reset_transcript()
    del host.executor.host.processes[PID]
    host.executor.host.fail_command(3, stderr="No space left on device")  # read, install, the OLD TEXT's write
    with pytest.raises(CommandFailed, match="No such process"):
        nfs.remove("/tank/a", R("192.0.2.7"))
    assert nfs.rules("/tank/a") == []  # the file holds the revoke, ganesha does not know yet
    host.executor.host.add_process(PID, "ganesha.nfsd")
    host.executor.reset_transcript()
    nfs.remove("/tank/a", R("192.0.2.7"))  # nothing to change in the file: reload all the same
    assert host.signals == [("HUP", PID), ("HUP", PID)]
    assert host.commands == [("read_file", CONF), ("sh", "-c", SIGNAL_PIDFILE_SCRIPT, "sh", PIDFILE, "HUP")]
    nfs.remove("/tank/a", R("192.0.2.7"))  # done: a no-op again
    assert host.signals == [("HUP", PID), ("HUP", PID)]


def test_foreign_file_is_never_rewritten(host: HostView, nfs: GaneshaNFS) -> None:
    host.files[CONF] = "NFS_CORE_PARAM { NFS_Port = 2049; }\n"
    with pytest.raises(ParseError):
        nfs.apply("/a", [R("::1")])
    with pytest.raises(ParseError):
        nfs.rules("/a")
    assert host.writes == [] and host.signals == []


def test_validation_happens_before_anything_runs(host: HostView, nfs: GaneshaNFS) -> None:
    with pytest.raises(InvalidName):
        nfs.apply('/a"b', [R("::1")])
    with pytest.raises(InvalidAccessRule):
        nfs.apply("/a", ["10.0.0.1"])  # type: ignore[list-item]
    with pytest.raises(InvalidAccessRule):
        R("host.example.com")
    assert host.commands == []
    with pytest.raises(InvalidName):
        GaneshaNFS(host.executor, config_path="relative.conf")


def test_dataset_name_exports_its_mountpoint() -> None:
    fake = fake_host((9,))
    fake.create_pool("tank")
    executor = FakeExecutor(fake)
    executor.run(["zfs", "create", "tank/share"]).check()
    nfs = GaneshaNFS(executor, config_path=CONF, pidfile=PIDFILE)
    nfs.apply("tank/share", [R("192.0.2.0/24"), R("2001:db8::1", "ro")])
    (exp,) = nfs.exports()
    assert (exp.path, exp.pseudo) == ("/tank/share", "/tank/share")
    assert nfs.rules("tank/share") == nfs.rules("/tank/share") == [R("192.0.2.0/24"), R("2001:db8::1", "ro")]
    assert fake.signals == [(9, "HUP")]
    executor.run(["zfs", "set", "mountpoint=none", "tank/share"]).check()
    with pytest.raises(UnsupportedOperation, match="mountpoint"):
        nfs.rules("tank/share")


def test_update_is_two_round_trips(nfs: GaneshaNFS, host: HostView) -> None:
    # Issue #14: read the file, then one command writes it and reloads ganesha: two round trips, where
    # 0.1 ran five commands (cat, tee, mv, cat, kill) and the first file operations four.
    nfs.add("/tank/a", R("::1"))
    (read, install) = host.commands
    tmp = install[4]
    assert read == ("read_file", CONF)
    assert install == ("sh", "-c", INSTALL_SCRIPT, "sh", tmp, CONF,
                       "sh", "-c", SIGNAL_PIDFILE_SCRIPT, "sh", PIDFILE, "HUP")
    assert os.path.dirname(tmp) == os.path.dirname(CONF) and tmp != CONF
    assert sorted(host.files) == [CONF, PIDFILE] and host.signals == [("HUP", PID)]
    host.executor.reset_transcript()
    GaneshaNFS(host.executor, config_path=CONF, pidfile=lambda: 77).add("/tank/b", R("::1"))
    tmp = host.commands[1][4]
    assert [c[:6] for c in host.commands] == [("read_file", CONF), ("sh", "-c", INSTALL_SCRIPT, "sh", tmp, CONF)]
    assert host.commands[1][6:] == ("kill", "-HUP", "77")


def test_reload_alone_is_one_command(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.reload()
    assert host.commands == [("sh", "-c", SIGNAL_PIDFILE_SCRIPT, "sh", PIDFILE, "HUP")]
    assert host.signals == [("HUP", PID)]


def test_failed_write_leaves_the_file_and_raises(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.add("/tank/a", R("::1"))
    before = host.files[CONF]
    host.executor.reset_transcript()
    host.executor.host.fail_command(2, stderr="No space left on device")  # the write-and-reload command
    with pytest.raises(CommandFailed, match="No space left"):
        nfs.add("/tank/b", R("::1"))
    assert sorted(host.files) == [CONF, PIDFILE] and host.files[CONF] == before
    assert host.signals == [("HUP", PID)]  # only the first change reloaded


def test_timed_out_write_and_reload_puts_the_old_text_back(nfs: GaneshaNFS, host: HostView) -> None:
    nfs.add("/tank/a", R("::1"))
    before = host.files[CONF]
    host.executor.host.hang_command(2)  # read, then the write-and-reload hangs: it may or may not have run
    with pytest.raises(CommandTimeout):
        nfs.add("/tank/b", R("::1"))
    assert sorted(host.files) == [CONF, PIDFILE] and host.files[CONF] == before
    nfs.add("/tank/b", R("::1"))  # the retry does it all
    assert nfs.rules("/tank/b") == [R("::1")] and host.signals == [("HUP", PID), ("HUP", PID)]


# -- the command fallback of BaseExecutor.write_file (executors behind a prefix such as sudo) -------------


class _FilesByCommands(FakeExecutor):
    """A fake executor whose file operations go through commands, as any executor's do behind ``sudo``."""

    _direct_files = False


@pytest.fixture
def by_commands() -> HostView:
    return HostView(_FilesByCommands(fake_host((PID, 77))))


def test_command_write_is_one_install_command_next_to_the_file(by_commands: HostView) -> None:
    host = by_commands
    host.executor.write_file(CONF, "one\n")
    (install,) = host.commands
    tmp = install[4]
    assert install == ("sh", "-c", INSTALL_SCRIPT, "sh", tmp, CONF)
    assert os.path.dirname(tmp) == os.path.dirname(CONF) and tmp != CONF
    assert sorted(host.files) == [CONF, PIDFILE] and host.files[CONF] == "one\n"
    host.executor.write_file(CONF, "two\n")
    assert host.commands[1][4] != tmp  # a fresh temp name per write
    assert host.executor.read_file(CONF) == b"two\n"
    assert host.commands[-1] == ("cat", "--", CONF)


def test_command_write_that_cannot_create_its_file_raises_and_changes_nothing(by_commands: HostView) -> None:
    host = by_commands
    host.files["/etc/ganesha"] = "a file where the directory should be\n"
    with pytest.raises(CommandFailed, match="cannot create") as caught:
        host.executor.write_file(CONF, "after\n")
    assert caught.value.returncode == FILE_NOT_INSTALLED and "not replaced" not in caught.value.stderr
    assert sorted(host.files) == ["/etc/ganesha", PIDFILE]


def test_failed_command_write_changes_nothing_and_raises(by_commands: HostView) -> None:
    host = by_commands
    host.files[CONF] = "before\n"
    host.executor.host.fail_command(1, stderr="No space left on device")
    with pytest.raises(CommandFailed, match="No space left"):
        host.executor.write_file(CONF, "after\n")
    assert sorted(host.files) == [CONF, PIDFILE] and host.files[CONF] == "before\n"


def test_timed_out_command_write_removes_the_temp_file(by_commands: HostView) -> None:
    host = by_commands
    host.executor.host.hang_command(1)
    with pytest.raises(CommandTimeout):
        host.executor.write_file(CONF, "x\n")
    assert host.commands[-1][:3] == ("rm", "-f", "--") and host.commands[-1][3] == host.commands[0][4]
    assert sorted(host.files) == [PIDFILE]


def _lines_of(path: Path, count: int) -> int:
    """Wait (up to 5 s) until ``path`` holds ``count`` lines; return how many it holds."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        n = len(path.read_text().splitlines()) if path.exists() else 0
        if n >= count:
            return n
        time.sleep(0.02)
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_real_sh_writes_atomically_and_reloads_a_real_process(tmp_path: Path) -> None:
    """The two fixed scripts under the real ``sh``, ``cat``, ``mv`` and ``kill``: a process that counts the
    SIGHUPs it gets stands in for ganesha."""
    hups = tmp_path / "hups"
    daemon = subprocess.Popen(["sh", "-c", 'trap "echo hup >> \\"$1\\"" HUP; while :; do sleep 0.05; done',
                               "sh", str(hups)])
    pidfile = tmp_path / "ganesha.pid"
    pidfile.write_text(f"{daemon.pid}\n")
    conf = tmp_path / "exports.conf"
    nfs = GaneshaNFS(LocalExecutor(timeout=30), config_path=str(conf), pidfile=str(pidfile))
    try:
        nfs.apply("/tank/a", [R("127.0.0.1"), R("::1", "ro")])
        assert _lines_of(hups, 1) == 1
        nfs.add("/tank/b b", R("10.0.0.0/8"))
        assert _lines_of(hups, 2) == 2
        assert sorted(os.listdir(tmp_path)) == ["exports.conf", "ganesha.pid", "hups"]  # no temp file left
        assert stat.S_ISREG(conf.stat().st_mode)
        assert [(e.path, e.rules) for e in parse_exports(conf.read_text())] == [
            ("/tank/a", (R("127.0.0.1"), R("::1", "ro"))), ("/tank/b b", (R("10.0.0.0/8"),))
        ]
        nfs.reload()
        assert _lines_of(hups, 3) == 3
        before = conf.read_text()
        pidfile.write_text("0\n")  # "kill 0" would signal the whole process group: refused
        with pytest.raises(ParseError, match="does not hold a process id"):
            nfs.remove("/tank/a", R("127.0.0.1"))
        assert conf.read_text() == before  # written, not reloaded: put back
        pidfile.write_text(f"{daemon.pid}\n")
        daemon.kill()
        daemon.wait()
        with pytest.raises(CommandFailed, match="No such process"):
            nfs.remove("/tank/a", R("127.0.0.1"))
        assert conf.read_text() == before
        assert sorted(os.listdir(tmp_path)) == ["exports.conf", "ganesha.pid", "hups"]
    finally:
        daemon.kill()
        daemon.wait()
    bad = GaneshaNFS(LocalExecutor(), config_path=str(tmp_path / "missing" / "x.conf"), pidfile=str(pidfile))
    with pytest.raises(PathNotFound, match="Directory nonexistent"):
        bad.apply("/tank/a", [R("::1")])
    assert sorted(os.listdir(tmp_path)) == ["exports.conf", "ganesha.pid", "hups"]


# --- what ganesha's lexer can read ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "clients"),
    [
        ("10.0.0.5", ["10.0.0.5"]),
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        ("0.0.0.0", ["0.0.0.0/32"]),  # bare 0.0.0.0 is "everyone" to ganesha
        ("0.0.0.0/0", ["0.0.0.0/1", "128.0.0.0/1"]),  # /0 is a syntax error
        ("::/0", ["::/1", "8000::/1"]),
        ("::1", ["::1"]),
        ("2001:db8::/99", ["2001:db8::/99"]),
        ("::ffff:7f00:1", ["::ffff:7f00:1"]),
    ],
)
def test_ganesha_client_forms(rule: str, clients: list[str]) -> None:
    assert g.ganesha_clients(R(rule)) == clients


def test_ipv6_unspecified_address_is_refused() -> None:
    # bare "::" may mean "every client" to ganesha (as bare 0.0.0.0 does) and "::/128" does not lex
    with pytest.raises(UnsupportedOperation, match="unspecified"):
        g.ganesha_clients(R("::"))


def test_slash_zero_round_trips_through_its_halves() -> None:
    rules = (R("0.0.0.0/0", "ro"), R("10.0.0.0/8"), R("::/0"))
    text = format_exports([GaneshaExport(1, "/a", "/a", rules)])
    # each /0 gets a CLIENT block of its own, so explicit /1 rules can never be mistaken for one
    assert "Clients = ::/1, 8000::/1;" in text
    assert "Clients = 10.0.0.0/8;" in text
    assert "Clients = 0.0.0.0/1, 128.0.0.0/1;" in text
    assert parse_exports(text)[0].rules == normalize_rules(rules)
    one_half = text.replace("0.0.0.0/1, 128.0.0.0/1", "128.0.0.0/1")
    assert parse_exports(one_half)[0].rules == normalize_rules([R("128.0.0.0/1", "ro"), R("10.0.0.0/8"), R("::/0")])


def test_explicit_halves_stay_explicit() -> None:
    rules = normalize_rules([R("0.0.0.0/1"), R("128.0.0.0/1"), R("::/0", "ro"), R("8000::/1", "ro")])
    text = format_exports([GaneshaExport(1, "/a", "/a", rules)])
    assert parse_exports(text)[0].rules == rules
    assert "Clients = 0.0.0.0/1;" in text and "Clients = 128.0.0.0/1;" in text


def test_bare_v4_any_is_refused_when_read() -> None:
    with pytest.raises(ParseError, match="every client"):
        parse_exports(GOLDEN.replace("192.0.2.7, ::1", "0.0.0.0"))


@pytest.mark.parametrize("net", ["2001:db8::/100", "::/127", "fe80::/112"])
def test_long_ipv6_prefix_is_unsupported_before_anything_runs(nfs: GaneshaNFS, host: HostView, net: str) -> None:
    with pytest.raises(UnsupportedOperation, match="prefix"):
        nfs.apply("/a", [R("::1"), R(net)])
    with pytest.raises(UnsupportedOperation):
        nfs.add("/a", R(net))
    assert host.commands == []
    nfs.remove("/a", R(net))  # removing is always possible (and here a no-op)


def test_a_refusing_prefix_is_not_taken_for_a_failed_follow_up(tmp_path: Path) -> None:
    """When the install command never ran (``sudo`` refused), the error is the command's, not the follow-up's:
    a file never written must not look like "written, reload failed" (which would put back and reload)."""
    refuse = LocalExecutor(prefix=("sh", "-c", 'echo "sudo: a password is required" >&2; exit 1', "sh"))
    with pytest.raises(CommandFailed, match="password is required") as caught:
        install_file(refuse, str(tmp_path / "x.conf"), "x\n", then=["kill", "-HUP", "1"])
    assert caught.value.argv[:3] == ("sh", "-c", INSTALL_SCRIPT)
    with pytest.raises(CommandFailed, match="password is required"):
        refuse.write_file(str(tmp_path / "x.conf"), "x\n")
    assert os.listdir(tmp_path) == []
    done = install_file(LocalExecutor(), str(tmp_path / "x.conf"), "x\n", then=["cat", "--", str(tmp_path / "x.conf")])
    assert (done.argv[0], done.stdout, done.stderr) == ("cat", "x\n", "")  # the script's marker line is not kept
