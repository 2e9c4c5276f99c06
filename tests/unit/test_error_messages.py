"""Error messages a user can act on: they show the command that really ran (the executor's prefix, such as
``sudo -n``, included) and the tool's own first line of stderr, even when the library explains more."""

from __future__ import annotations

import shutil

import pytest

from pyzfsnas import ZFS, CommandFailed, CommandTimeout, LocalExecutor, Result, ToolNotFound
from pyzfsnas.errors import error_from_result


def test_a_missing_prefix_program_is_named_with_the_argv_that_ran() -> None:
    """The issue's case: ``LocalExecutor(prefix=("sudo", "-n"))`` where sudo is not installed."""
    zfs = ZFS(LocalExecutor(prefix=("pyzfsnas-no-such-sudo", "-n")))
    with pytest.raises(ToolNotFound) as info:
        zfs.detect_flavour()
    message = str(info.value)
    assert "[pyzfsnas-no-such-sudo -n zfs version -> exit 127]" in message
    assert "pyzfsnas-no-such-sudo: command not found" in message
    assert "cannot tell which ZFS this host runs" in message
    assert info.value.argv == ("zfs", "version")
    assert info.value.prefix == ("pyzfsnas-no-such-sudo", "-n")


@pytest.mark.skipif(shutil.which("sudo") is not None, reason="sudo is installed here")
def test_sudo_not_installed() -> None:
    with pytest.raises(ToolNotFound, match=r"sudo: command not found.*\[sudo -n zfs version -> exit 127\]"):
        ZFS(LocalExecutor(prefix=("sudo", "-n"))).detect_flavour()


def test_a_failing_prefix_shows_its_stderr_and_the_whole_argv() -> None:
    """A prefix that refuses (as ``sudo -n`` does without a password rule) is the cause shown."""
    refuse = ("sh", "-c", 'echo "a password is required" >&2; exit 1', "sh")
    result = LocalExecutor(prefix=refuse).run(["zfs", "list"])
    assert result.argv == ("zfs", "list")
    assert result.prefix == refuse
    assert result.command == (*refuse, "zfs", "list")
    with pytest.raises(CommandFailed) as info:
        result.check()
    assert str(info.value).startswith("a password is required [sh -c ")
    assert str(info.value).endswith(" sh zfs list -> exit 1]")


def test_a_timeout_names_the_prefixed_command() -> None:
    with pytest.raises(CommandTimeout, match=r"after 0.2s: env sleep 5$"):
        LocalExecutor(prefix=("env",), timeout=0.2).run(["sleep", "5"])


def test_error_from_result_keeps_prefix_and_argv_apart() -> None:
    err = error_from_result(["zfs", "get", "all", "tank/x"], 1, "cannot open 'tank/x': dataset does not exist\n",
                            prefix=["sudo", "-n"])
    assert err.argv == ("zfs", "get", "all", "tank/x")
    assert err.prefix == ("sudo", "-n")
    assert str(err) == "cannot open 'tank/x': dataset does not exist [sudo -n zfs get all tank/x -> exit 1]"


def test_an_explanation_keeps_the_tool_message() -> None:
    err = CommandFailed(["zfs", "version"], 127, "sh: zfs: not found\n", message="no ZFS here")
    assert str(err) == "no ZFS here: sh: zfs: not found [zfs version -> exit 127]"
    assert str(CommandFailed(["zfs", "version"], 1, "", message="no ZFS here")) == "no ZFS here [zfs version -> exit 1]"


def test_results_without_a_prefix_are_unchanged() -> None:
    result = Result(["zfs", "list"], 0)
    assert result.prefix == ()
    assert result.command == ("zfs", "list")
