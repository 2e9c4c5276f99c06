"""pyzfsnas.executors.factory.connect: one executor from a spec string (issue 14 item 4)."""

from __future__ import annotations

import argparse
import re

import pytest

from pyzfsnas.cli import _executor_spec, build_parser
from pyzfsnas.errors import ConnectionFailed, InvalidName
from pyzfsnas.executors.factory import connect, ssh_spec
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.executors.ssh import SSHExecutor
from pyzfsnas.names import check_port
from pyzfsnas.replication import SSHTarget
from pyzfsnas.testing.fake import FakeExecutor


def test_local() -> None:
    ex = connect("local")
    assert isinstance(ex, LocalExecutor) and ex.prefix == () and ex.timeout == 600.0
    ex = connect("local?sudo=1&timeout=30")
    assert isinstance(ex, LocalExecutor) and ex.prefix == ("sudo", "-n") and ex.timeout == 30.0
    assert connect("local?timeout=none").timeout is None  # type: ignore[attr-defined]


def test_fake() -> None:
    ex = connect("fake?flavour=zfs-fuse&name=nas1")
    assert isinstance(ex, FakeExecutor) and ex.host.flavour == "zfs-fuse" and ex.host.name == "nas1"
    assert isinstance(connect("fake"), FakeExecutor)


def test_ssh_spec_names_every_setting_without_connecting() -> None:
    ex = connect("ssh://admin@nas1:2222?sudo=1&known_hosts=/etc/kh&identity=/etc/id&accept_new_host_key=yes"
                 "&timeout=5&connect_timeout=2&keepalive=0")
    assert isinstance(ex, SSHExecutor) and not ex.connected
    assert (ex.host, ex.port, ex.username, ex.prefix) == ("nas1", 2222, "admin", ("sudo", "-n"))
    assert ex.accept_unknown_host_keys and (ex.timeout, ex.connect_timeout, ex.keepalive) == (5.0, 2.0, 0)
    assert ex._known_hosts == ("/etc/kh",) and ex._key_filename == "/etc/id"
    v6 = connect("ssh://[::1]")
    assert isinstance(v6, SSHExecutor) and (v6.host, v6.port) == ("::1", 22)


def test_keywords_complete_the_spec() -> None:
    ex = connect("ssh://nas1", password="s3cret", username="svc")
    assert isinstance(ex, SSHExecutor) and ex.username == "svc" and "s3cret" not in repr(ex)
    with pytest.raises(InvalidName, match="already sets username"):
        connect("ssh://bob@nas1", username="svc")


@pytest.mark.parametrize("spec, message", [
    ("", "non-empty"),
    ("lokal", "expected local, fake or ssh"),
    ("http://nas1", "expected local, fake or ssh"),
    ("ssh://bob:pw@nas1", "password does not belong"),
    ("ssh://nas1:0", "port"),
    ("ssh://nas1:99999", "port"),
    ("ssh://nas1/tank", "nothing may follow"),
    ("ssh://", "no host"),
    ("ssh://nas1?sudo=maybe", "yes/no"),
    ("ssh://nas1?timeout=-1", "positive number"),
    ("ssh://nas1?colour=red", "unknown option 'colour'"),
    ("local?sudo=1&sudo=0", "given twice"),
    ("local?flavour=openzfs", "unknown option 'flavour'"),
    ("fake?flavour=solaris", "openzfs or zfs-fuse"),
])
def test_bad_specs_are_refused_before_anything_runs(spec: str, message: str) -> None:
    with pytest.raises(InvalidName, match=message):
        connect(spec)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args([*argv, "pools"])


def test_the_cli_builds_its_executor_from_a_spec() -> None:
    assert _executor_spec(_args()) == "local"
    assert _executor_spec(_args("--sudo")) == "local?sudo=1"
    spec = _executor_spec(_args("--ssh", "root@nas1:2200", "-i", "/k", "--known-hosts", "/kh", "--sudo"))
    assert spec == "ssh://root@nas1:2200?sudo=1&identity=%2Fk&known_hosts=%2Fkh"
    ex = connect(spec)
    assert isinstance(ex, SSHExecutor) and (ex.username, ex.port, ex.prefix) == ("root", 2200, ("sudo", "-n"))


def test_ssh_spec_quotes_what_a_url_needs() -> None:
    assert ssh_spec("nas1") == "ssh://nas1"
    assert ssh_spec("fd00::5", username="zfs admin", port=2222, sudo="1") == "ssh://zfs%20admin@[fd00::5]:2222?sudo=1"
    ex = connect(ssh_spec("fd00::5", username="zfs admin", port=2222), password="pw")
    assert isinstance(ex, SSHExecutor) and (ex.host, ex.username, ex.port) == ("fd00::5", "zfs admin", 2222)
    for bad in ("", "a/b", "u@h", "[::1]"):
        with pytest.raises(InvalidName):
            ssh_spec(bad)
    with pytest.raises(InvalidName):
        ssh_spec("h", port=0)


@pytest.mark.parametrize("port", [0, 65536, -1, True, "22", 22.0])
def test_one_ssh_port_rule_everywhere(port: object) -> None:
    # names.check_port is the rule the executor, the spec builder and the direct-transfer target share.
    message = rf"^invalid ssh port {re.escape(repr(port))}: an int in 1\.\.65535$"
    with pytest.raises(InvalidName, match=message):
        check_port(port)
    with pytest.raises(InvalidName, match=message):
        SSHExecutor("h", port=port)  # type: ignore[arg-type]
    with pytest.raises(InvalidName, match=message):
        ssh_spec("h", port=port)  # type: ignore[arg-type]
    with pytest.raises(InvalidName, match=message):
        SSHTarget("h", port=port).argv()  # type: ignore[arg-type]
    assert [check_port(p) for p in (1, 22, 65535)] == [1, 22, 65535]


@pytest.mark.parametrize("text", ["h:0", "h:65536", "h:x", "h:²", "h:-1", ":22"])
def test_cli_ssh_option_refuses_a_bad_port(text: str) -> None:
    with pytest.raises(ConnectionFailed, match=r"^--ssh wants USER@HOST\[:PORT\], got "):
        _executor_spec(_args("--ssh", text))
    assert _executor_spec(_args("--ssh", "h:65535")) == "ssh://h:65535"
