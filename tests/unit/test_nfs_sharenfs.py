"""``sharenfs`` text in both directions: kernel OpenZFS (Linux syntax) and zfs-fuse."""

from __future__ import annotations

import pytest

from pyzfsnas.errors import ParseError, UnsupportedOperation
from pyzfsnas.nfs import (
    AccessRule,
    format_sharenfs_fuse,
    format_sharenfs_kernel,
    parse_sharenfs_fuse,
    parse_sharenfs_kernel,
)


def R(text: str, level: str = "rw") -> AccessRule:
    return AccessRule.parse(text, level)


MIXED = [R("10.0.0.0/24", "ro"), R("::1"), R("10.0.0.5/32"), R("fe80::/64", "ro"), R("192.168.1.7")]


def test_kernel_format_mixed() -> None:
    assert format_sharenfs_kernel(MIXED) == (
        "rw=10.0.0.5:192.168.1.7:[::1],ro=10.0.0.0/24:[fe80::]/64,no_root_squash"
    )


def test_kernel_empty_is_off_and_roundtrip() -> None:
    assert format_sharenfs_kernel([]) == "off"
    assert parse_sharenfs_kernel("off") == []
    value = format_sharenfs_kernel(MIXED)
    assert parse_sharenfs_kernel(value) == sorted(set(MIXED), key=AccessRule.sort_key)


def test_kernel_only_ro_and_duplicates() -> None:
    assert format_sharenfs_kernel([R("10.0.0.1", "ro"), R("10.0.0.1/32", "rw"), R("10.0.0.1", "ro")]) == (
        "rw=10.0.0.1,no_root_squash"
    )
    assert format_sharenfs_kernel([R("::1", "ro")], options=()) == "ro=[::1]"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("rw=@127.0.0.1/32,no_root_squash", ["127.0.0.1:rw"]),  # the real fixture sharenfs_get.txt
        ("rw=[::1]:[2::3]/64:[2a01:1234:1234:1234:aa34:234:1234:1234]:1.2.3.4/24",
         ["1.2.3.0/24:rw", "::1:rw", "2::/64:rw", "2a01:1234:1234:1234:aa34:234:1234:1234:rw"]),
        # host bits in hand-written values are masked on read, as exportfs does
        ("rw=[::1]/32:[2::3]/128", ["::/32:rw", "2::3:rw"]),
        ("sec=sys,ro=10.0.0.0/8,rw=10.1.0.0/16,async", ["10.0.0.0/8:ro", "10.1.0.0/16:rw"]),
        ("rw=10.0.0.1,ro=10.0.0.1", ["10.0.0.1:rw"]),
        ("on", ["0.0.0.0/0:rw", "::/0:rw"]),
        ("rw,crossmnt", ["0.0.0.0/0:rw", "::/0:rw"]),
        ("no_root_squash", ["0.0.0.0/0:rw", "::/0:rw"]),
        ("ro", ["0.0.0.0/0:ro", "::/0:ro"]),
        ("rw=host.example.com:10.0.0.1", ["10.0.0.1:rw"]),
        # an empty rw= list is exported to everyone (real OpenZFS 2.3.2: exportfs -v shows <world>)
        ("rw=,,", ["0.0.0.0/0:rw", "::/0:rw"]),
    ],
)
def test_kernel_parse_hand_written(value: str, expected: list[str]) -> None:
    assert [str(r) for r in parse_sharenfs_kernel(value)] == expected


@pytest.mark.parametrize("value", ["rw=[::1]a:[::2]", "rw=[::1"])
def test_kernel_parse_malformed_ipv6(value: str) -> None:
    with pytest.raises(ParseError):
        parse_sharenfs_kernel(value)


def test_fuse_format() -> None:
    rules = [R("10.0.0.0/24", "ro"), R("10.0.0.5/32"), R("127.0.0.1")]
    assert format_sharenfs_fuse(rules) == (
        "10.0.0.0/24:ro,no_root_squash 10.0.0.5:rw,no_root_squash 127.0.0.1:rw,no_root_squash"
    )
    assert format_sharenfs_fuse([]) == "off"


def test_fuse_cannot_express_ipv6() -> None:
    with pytest.raises(UnsupportedOperation, match="IPv6"):
        format_sharenfs_fuse([R("10.0.0.1"), R("::1")])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:rw,no_root_squash", ["127.0.0.1:rw"]),  # fixture sharenfs_get_hostopts.txt
        ("10.0.0.0/24:ro 127.0.0.2:rw", ["10.0.0.0/24:ro", "127.0.0.2:rw"]),
        ("10.0.0.5/32:rw", ["10.0.0.5:rw"]),
        ("127.0.0.1:no_root_squash", ["127.0.0.1:ro"]),
        ("on", ["0.0.0.0/0:ro", "::/0:ro"]),
        ("off", []),
        ("*:rw", ["0.0.0.0/0:rw", "::/0:rw"]),
        ("host.example.com:rw 10.0.0.1:ro", ["10.0.0.1:ro"]),
    ],
)
def test_fuse_parse(value: str, expected: list[str]) -> None:
    assert [str(r) for r in parse_sharenfs_fuse(value)] == expected


def test_fuse_roundtrip() -> None:
    rules = [R("10.0.0.0/24", "ro"), R("10.0.0.5"), R("192.168.0.0/16")]
    assert parse_sharenfs_fuse(format_sharenfs_fuse(rules)) == sorted(rules, key=AccessRule.sort_key)


@pytest.mark.parametrize("value", ["rw,no_root_squash", ":rw"])
def test_fuse_parse_item_without_host(value: str) -> None:
    with pytest.raises(ParseError):
        parse_sharenfs_fuse(value)
