"""quote_argv: the single function that turns an argv into remote shell text must round-trip exactly."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyzfsnas.errors import InvalidName
from pyzfsnas.executors.quoting import quote_argv

# Any Unicode text a remote program could receive: no NUL, no lone surrogates (not encodable as UTF-8).
_ARG = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40)

HOSTILE = [
    "",
    " ",
    "a b",
    "it's",
    "'",
    "''",
    '"',
    "\\",
    "\\'",
    "; rm -rf /",
    "$(touch /tmp/canary)",
    "`touch /tmp/canary`",
    "${HOME}",
    "$HOME",
    "a\nb",
    "\n",
    "tab\there",
    "*",
    "~",
    "!",
    "#comment",
    "&& true",
    "| cat",
    "> /tmp/x",
    "-n",
    "--help",
    "žluťoučký 🐍",
    "\r\n",
]


@settings(max_examples=300)
@given(st.lists(_ARG, min_size=1, max_size=8))
def test_shlex_split_round_trips_any_argv(argv: list[str]) -> None:
    assert shlex.split(quote_argv(argv)) == argv


@pytest.mark.parametrize("arg", HOSTILE)
def test_hostile_argument_is_one_word(arg: str) -> None:
    assert shlex.split(quote_argv(["printf", "%s\\0", arg])) == ["printf", "%s\\0", arg]


def test_safe_words_are_left_readable() -> None:
    assert quote_argv(["zfs", "list", "-H", "-o", "name,used", "tank/a@s1"]) == (
        "zfs list -H -o name,used tank/a@s1"
    )


def test_metacharacters_are_single_quoted() -> None:
    assert quote_argv(["echo", "$(id)"]) == "echo '$(id)'"
    assert quote_argv(["echo", "it's"]) == "echo 'it'\"'\"'s'"
    assert quote_argv(["echo", ""]) == "echo ''"


@pytest.mark.parametrize("arg", ["\0", "a\0b", "tank/a\0; reboot"])
def test_nul_is_refused(arg: str) -> None:
    with pytest.raises(InvalidName, match="NUL"):
        quote_argv(["echo", arg])


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidName, match="UTF-8"):
        quote_argv(["echo", "\udcff"])


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(TypeError):
        quote_argv("zfs list")
    with pytest.raises(TypeError):
        quote_argv(["zfs", 1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="empty"):
        quote_argv([])


# -- which commands SSHExecutor may replay after a dropped connection: what each builder declares --------

from pyzfsnas import commands as cmd  # noqa: E402
from pyzfsnas.flavour import FUSE, OPENZFS  # noqa: E402
from pyzfsnas.nfs.exportfs import exportfs_add_argv, exportfs_unexport_argv  # noqa: E402
from pyzfsnas.nfs.rules import AccessRule  # noqa: E402
from pyzfsnas.replication import SSHTarget, direct_pipeline  # noqa: E402
from pyzfsnas.result import Command, is_read_only  # noqa: E402


@pytest.mark.parametrize(
    "command",
    [
        cmd.zfs_get(["all"], ["tank"]),
        cmd.zfs_get(["used"], ["tank"], flavour=FUSE),
        cmd.zfs_version(),
        cmd.zfs_holds("tank@s"),
        cmd.zpool_get("tank", flavour=OPENZFS),
        cmd.zpool_list(flavour=OPENZFS, columns=["name"]),
        cmd.exportfs_show(),
        cmd.file_cat("/etc/ganesha/exports.conf"),
        cmd.package_version("zfsutils-linux"),
        cmd.zfs_send_resume("1-ab-cd-ef", dry_run=True),
        cmd.zfs_send("tank/a@s", dry_run=True),  # -nP: an estimate, nothing sent (SSH may replay it)
    ],
    ids=lambda c: " ".join(c[:2]),
)
def test_read_only_builders(command: Command) -> None:
    assert isinstance(command, Command)
    assert is_read_only(command)


@pytest.mark.parametrize(
    "command",
    [
        cmd.zfs_create("tank/a"),
        cmd.zfs_destroy("tank/a"),
        *cmd.zfs_set("tank/a", {"quota": 2**30}),
        cmd.zfs_snapshot("tank/a@s"),
        cmd.zfs_send("tank/a@s"),
        cmd.zfs_receive("tank/b"),
        cmd.zpool_create("tank", ["/dev/x"]),
        cmd.zpool_destroy("tank"),
        cmd.zfs_mount("tank/a"),
        cmd.zfs_hold("tank/a@s", "t"),
        exportfs_add_argv("/tank", [AccessRule("127.0.0.1", "rw")], ()),
        cmd.file_install("/etc/.x.tmp", "/etc/x", cmd.signal_pidfile("/run/g.pid")),
        cmd.signal_pidfile("/run/g.pid"),
        cmd.file_remove("/etc/x.tmp"),
        cmd.signal_process(1234),
        cmd.zfs_send_resume("1-ab-cd-ef"),
        cmd.zfs_receive_abort("tank/b"),
        direct_pipeline(["zfs", "send", "a@s"], SSHTarget("h"), ["zfs", "receive", "b"]),
    ],
    ids=lambda c: " ".join(c[:2]) if "\n" not in "".join(c) else f"{c[0]} script {c[4]}",
)
def test_mutating_builders(command: Command) -> None:
    assert isinstance(command, Command)
    assert not is_read_only(command)


@pytest.mark.parametrize("argv", [["zfs", "list"], ["cat", "/etc/exports"], ("true",), []])
def test_a_plain_argv_is_never_read_only(argv: list[str]) -> None:
    # The transport knows no program: only a builder's declaration makes a command replayable.
    assert not is_read_only(argv)


def test_command_is_the_argv_list() -> None:
    c = Command(["zfs", "list"], read_only=True)
    assert c == ["zfs", "list"]
    assert list(c) == ["zfs", "list"]
    assert repr(c) == "Command(['zfs', 'list'], read_only=True)"


def test_exportfs_unexport_is_a_change() -> None:
    from pyzfsnas.nfs.exportfs import Export

    exp = Export.make("/tank", "127.0.0.1", ("rw",))
    assert not is_read_only(exportfs_unexport_argv([exp]))
    assert isinstance(exportfs_unexport_argv([exp]), Command)


@pytest.mark.parametrize(
    "build",
    [
        lambda: cmd.file_install("relative.tmp", "/etc/x"),
        lambda: cmd.file_install("/etc/.x.tmp", "/etc/x\n"),
        lambda: cmd.file_install("/tmp/.x.tmp", "/etc/x"),  # not beside the file: the rename would not be atomic
        lambda: cmd.file_install("/etc/x", "/etc/x"),
        lambda: cmd.file_install("/etc/.x.tmp", "/etc/x", ["kill\0"]),
        lambda: cmd.file_install("/etc/.x.tmp", "/etc/x", [""]),
        lambda: cmd.signal_pidfile("run/g.pid"),
        lambda: cmd.signal_pidfile("/run/g.pid", "HUP; reboot"),
        lambda: cmd.signal_pidfile("/run/g.pid", "-9"),
    ],
)
def test_script_builders_refuse_bad_operands(build: Callable[[], Command]) -> None:
    with pytest.raises(InvalidName):
        build()


def test_script_operands_are_parameters_never_script_text() -> None:
    """Whatever the path, the script is the constant and the operands follow it as $1, $2, ..."""
    odd = "/etc/it's \"$(reboot)\" `x` $HOME;"
    install = cmd.file_install(f"{odd}/.x.tmp", f"{odd}/x", cmd.signal_pidfile(f"{odd}/pid"))
    assert install[:4] == ["sh", "-c", cmd.INSTALL_SCRIPT, "sh"]
    assert install[4:6] == [f"{odd}/.x.tmp", f"{odd}/x"]
    assert install[6:] == ["sh", "-c", cmd.SIGNAL_PIDFILE_SCRIPT, "sh", f"{odd}/pid", "HUP"]
