"""The ``exportfs -v`` parser (real outputs) and the exportfs argv builders."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pyzfsnas.errors import InvalidName, ParseError
from pyzfsnas.nfs import AccessRule, Export, exportfs_add_argv, exportfs_remove_argv, parse_exportfs_v
from pyzfsnas.nfs.exportfs import exportfs_unexport_argv, rules_from_exports, unexport_spec

FIXTURES = Path("/work/shared/fixtures/zfs-fuse")


def stdout_of(name: str) -> str:
    """The stdout section of a captured command (``--- stdout ---`` ... ``--- stderr ---``)."""
    text = (FIXTURES / name).read_text()
    return text.split("--- stdout ---\n", 1)[1].split("--- stderr ---", 1)[0]


needs_fixtures = pytest.mark.skipif(not FIXTURES.is_dir(), reason="shared fixtures not present")


@needs_fixtures
def test_parse_real_exportfs_v() -> None:
    exports = parse_exportfs_v(stdout_of("exportfs_v.txt"))
    assert [(e.path, e.client, e.access_level) for e in exports] == [
        ("/srv/test/exp/b", "::1", "rw"),
        ("/srv/test/exp/a", "127.0.0.1", "rw"),
        ("/srv/test/exp/c", "192.168.1.5", "rw"),
        ("/srv/test/exp/a", "10.0.0.0/24", "ro"),
        ("/srv/test/exp/c", "<world>", "ro"),
    ]
    assert exports[0].network == ipaddress.ip_network("::1/128")
    assert exports[3].network == ipaddress.ip_network("10.0.0.0/24")
    assert exports[4].network is None and exports[4].is_world
    assert exports[1].options == (
        "sync", "wdelay", "hide", "no_subtree_check", "sec=sys", "rw", "no_root_squash", "no_all_squash"
    )
    assert "anonuid=1000" in exports[4].options


@needs_fixtures
def test_parse_real_exportfs_v_with_ipv6_cidr_and_hostname_wildcard() -> None:
    exports = parse_exportfs_v(stdout_of("exportfs_v_after.txt"))
    assert len(exports) == 9
    by_client = {e.client: e for e in exports}
    assert by_client["fe80::/64"].network == ipaddress.ip_network("fe80::/64")
    assert by_client["2001:db8::10"].access_level == "ro"
    assert by_client["*.example.com"].network is None


@needs_fixtures
def test_parse_plain_exportfs_without_options() -> None:
    exports = parse_exportfs_v(stdout_of("exportfs_noargs.txt"))
    assert [e.client for e in exports] == ["::1", "127.0.0.1", "192.168.1.5", "10.0.0.0/24", "<world>"]
    assert all(e.options == () for e in exports)


def test_parse_short_path_single_line_form_as_printed_by_nfs_utils() -> None:
    # Paths under 14 characters are padded to 14 columns then a TAB (seen on the real exportfs here).
    text = (
        "/tmp/s        \t::1(sync,wdelay,hide,no_subtree_check,sec=sys,ro,root_squash,no_all_squash)\n"
        "/tmp/a b      \t127.0.0.3(sync,sec=sys,rw,root_squash)\n"
        "/tmp/abcdefghijklmn\n\t\t127.0.0.3(sync,sec=sys,ro)\n"
    )
    exports = parse_exportfs_v(text)
    assert [(e.path, e.client, e.access_level) for e in exports] == [
        ("/tmp/s", "::1", "ro"), ("/tmp/a b", "127.0.0.3", "rw"), ("/tmp/abcdefghijklmn", "127.0.0.3", "ro")
    ]


def test_parse_empty_and_level_defaults() -> None:
    assert parse_exportfs_v("") == []
    assert parse_exportfs_v("/p\n\t\t10.0.0.1(sync)\n")[0].access_level == "ro"  # exportfs default
    assert parse_exportfs_v("/p\n\t\t10.0.0.1(ro,rw)\n")[0].access_level == "rw"  # last one wins


@pytest.mark.parametrize(
    ("text", "lineno"),
    [
        ("\t\t127.0.0.1(rw)\n", 1),  # client without a path
        ("/a\n/b\n\t\t127.0.0.1(rw)\n", 1),  # path without a client
        ("/a\n", 1),
        ("relative\n\t\t1.2.3.4(rw)\n", 1),
        ("/a\n\t\t127.0.0.1(rw\n", 2),
        ("/a\n\t\t127.0.0.1(rw))\n", 2),
        ("/a\n\t\t(rw)\n", 2),
        ("/a\n\t\t1.2.3.4(rw)\n/b\t1.2.3.4 x(rw)\n", 3),
        ("/a\n\t\t\n", 1),  # a blank client line is no client
    ],
)
def test_parse_malformed_raises_parse_error_with_line(text: str, lineno: int) -> None:
    with pytest.raises(ParseError) as info:
        parse_exportfs_v(text)
    assert info.value.lineno == lineno


def test_export_make() -> None:
    e = Export.make("/p", "::1", ["rw"])
    assert e.network == ipaddress.ip_network("::1/128") and e.access_level == "rw"


def test_rules_from_exports_world_and_non_ip() -> None:
    exports = parse_exportfs_v("/p\n\t\t<world>(ro)\n/p\n\t\t*.example.com(rw)\n/q\n\t\t1.2.3.4(rw)\n")
    assert [str(r) for r in rules_from_exports(exports, "/p")] == ["0.0.0.0/0:ro", "::/0:ro"]


def test_add_argv_brackets_ipv6_and_keeps_ipv4_plain() -> None:
    rules = [AccessRule.parse("10.0.0.5"), AccessRule.parse("fe80::/64"), AccessRule.parse("::1")]
    assert exportfs_add_argv("/srv/a", rules) == [
        "exportfs", "-o", "rw,no_root_squash,no_subtree_check",
        "10.0.0.5:/srv/a", "[fe80::]/64:/srv/a", "[::1]:/srv/a",
    ]
    assert exportfs_add_argv("/srv/a", [AccessRule.parse("10.0.0.0/8", "ro")], ()) == [
        "exportfs", "-o", "ro", "10.0.0.0/8:/srv/a"
    ]


def test_remove_argv() -> None:
    argv = exportfs_remove_argv("/srv/a/", [AccessRule.parse("::1", "ro")])
    assert argv == ["exportfs", "-u", "[::1]:/srv/a"]


@pytest.mark.parametrize("path", ["relative", "", "/a\nb", "/a\0b", "/a\rb"])
def test_argv_rejects_bad_paths(path: str) -> None:
    with pytest.raises(InvalidName):
        exportfs_add_argv(path, [AccessRule.parse("10.0.0.1")])


@pytest.mark.parametrize(
    "opt", ["rw", "ro", "bogus", "fsid=1,rw", "no_root_squash 1.2.3.4:/", "sec=sys:krb5"]
)
def test_argv_rejects_bad_options(opt: str) -> None:
    with pytest.raises(InvalidName):
        exportfs_add_argv("/a", [AccessRule.parse("10.0.0.1")], [opt])


def test_argv_clients_only_from_rules_and_one_level_per_command() -> None:
    with pytest.raises(TypeError):
        exportfs_add_argv("/a", ["10.0.0.1"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="one access level"):
        exportfs_add_argv("/a", [AccessRule.parse("10.0.0.1"), AccessRule.parse("10.0.0.2", "ro")])
    with pytest.raises(ValueError):
        exportfs_remove_argv("/a", [])


@pytest.mark.parametrize(
    ("client", "spec"),
    [
        # exportfs matches -u by the text it stored, so the text is kept exactly (real exportfs checked).
        ("10.0.0.5", "10.0.0.5:/srv/a"),
        ("10.0.0.5/32", "10.0.0.5/32:/srv/a"),
        ("10.0.0.0/255.255.255.0", "10.0.0.0/255.255.255.0:/srv/a"),
        ("::1", "[::1]:/srv/a"),
        ("::1/128", "[::1]/128:/srv/a"),
        ("fe80::0/64", "[fe80::0]/64:/srv/a"),
        ("<world>", "*:/srv/a"),
        ("*", "*:/srv/a"),
    ],
)
def test_unexport_spec_uses_the_printed_client_text(client: str, spec: str) -> None:
    assert unexport_spec(Export.make("/srv/a", client, ["rw"])) == spec


def test_unexport_argv_refuses_non_ip_clients_and_empty() -> None:
    exports = parse_exportfs_v("/p\n\t\t10.0.0.0/255.255.255.0(rw)\n/p\n\t\t<world>(ro)\n")
    assert exportfs_unexport_argv(exports) == ["exportfs", "-u", "10.0.0.0/255.255.255.0:/p", "*:/p"]
    with pytest.raises(ValueError, match="not an IP client"):
        unexport_spec(Export.make("/p", "*.example.com"))
    with pytest.raises(ValueError):
        exportfs_unexport_argv([])
