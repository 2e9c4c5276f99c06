"""quote_argv: the single function that turns an argv into remote shell text must round-trip exactly."""

from __future__ import annotations

import shlex

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


# -- which commands SSHExecutor may replay after a dropped connection (pyzfsnas.executors.ssh) ---------

from pyzfsnas.executors.ssh import is_read_only  # noqa: E402


@pytest.mark.parametrize(
    "argv",
    [
        ["zfs", "get", "-H", "-p", "all", "tank"],
        ["zfs", "list", "-H"],
        ["zfs", "version"],
        ["zfs", "holds", "tank@s"],
        ["/sbin/zfs", "list"],
        ["zpool", "get", "all", "tank"],
        ["zpool", "list"],
        ["zpool", "status", "-x"],
        ["zpool", "version"],
        ["exportfs", "-v"],
        ["exportfs", "-s"],
        ["exportfs", "-v", "-s"],
        ["cat", "/etc/exports"],
        ["test", "-d", "/tank"],
        ["stat", "/tank"],
        ["true"],
        ["printf", "%s", "x"],
        ["echo", "hi"],
        ["uname", "-a"],
    ],
)
def test_read_only_commands(argv: list[str]) -> None:
    assert is_read_only(argv)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["zfs"],
        ["zfs", "create", "tank/a"],
        ["zfs", "destroy", "tank/a"],
        ["zfs", "set", "quota=1G", "tank/a"],
        ["zfs", "snapshot", "tank/a@s"],
        ["zfs", "send", "tank/a@s"],
        ["zfs", "receive", "tank/b"],
        ["zfs", "-v", "list"],
        ["zpool", "create", "tank", "/dev/x"],
        ["zpool", "scrub", "tank"],
        ["exportfs"],
        ["exportfs", "-o", "rw", "127.0.0.1:/tank"],
        ["exportfs", "-u", "127.0.0.1:/tank"],
        ["exportfs", "-v", "-r"],
        ["exportfs", "-ra"],
        ["sh", "-c", "cat /x"],
        ["rm", "-rf", "/tank"],
        ["tee", "/etc/exports"],
        ["sudo", "zfs", "list"],
    ],
)
def test_mutating_or_unknown_commands(argv: list[str]) -> None:
    assert not is_read_only(argv)
