"""AccessRule validation and normalisation, and rule-set semantics (duplicates, read-only)."""

from __future__ import annotations

import ipaddress

import pytest

from pyzfsnas.errors import ZFSError
from pyzfsnas.nfs import AccessRule, InvalidAccessRule, normalize_rules


@pytest.mark.parametrize(
    ("text", "network", "host_text", "bracketed"),
    [
        ("10.0.0.5", "10.0.0.5/32", "10.0.0.5", "10.0.0.5"),
        ("10.0.0.5/32", "10.0.0.5/32", "10.0.0.5", "10.0.0.5"),
        ("10.0.0.0/24", "10.0.0.0/24", "10.0.0.0/24", "10.0.0.0/24"),
        ("0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0", "0.0.0.0/0"),
        ("::1", "::1/128", "::1", "[::1]"),
        ("2001:DB8:0:0::10", "2001:db8::10/128", "2001:db8::10", "[2001:db8::10]"),
        ("fe80::/64", "fe80::/64", "fe80::/64", "[fe80::]/64"),
    ],
)
def test_valid_rules_are_normalised(text: str, network: str, host_text: str, bracketed: str) -> None:
    rule = AccessRule.parse(text, "ro")
    assert rule.access_to == ipaddress.ip_network(network)
    assert rule.access_level == "ro"
    assert rule.host_text == host_text
    assert rule.bracketed == bracketed


def test_host_and_slash32_are_the_same_rule() -> None:
    assert AccessRule.parse("10.0.0.5") == AccessRule.parse("10.0.0.5/32", "rw")
    assert hash(AccessRule.parse("::1")) == hash(AccessRule.parse("::1/128"))


def test_constructor_validates_too() -> None:
    assert AccessRule("10.0.0.1", "rw").access_to == ipaddress.ip_network("10.0.0.1/32")
    with pytest.raises(InvalidAccessRule):
        AccessRule("example.com", "rw")
    with pytest.raises(InvalidAccessRule):
        AccessRule("10.0.0.1", "rx")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad",
    ["", "*", "host.example.com", "localhost", "10.0.0.300", "1.2.3.4;rm -rf /", "10.0.0.1 ", " 10.0.0.1",
     "10.0.0.5/24", "fe80::1/64", "fe80::1%eth0", "10.0.0.0/33", "@10.0.0.0/24", "[::1]", "10.0.0.1:rw",
     "$(id)", "10.0.0.1\n", "01.2.3.4", "-o"],
)
def test_invalid_access_to_raises_typed_error_naming_the_rule(bad: str) -> None:
    with pytest.raises(InvalidAccessRule) as info:
        AccessRule.parse(bad, "rw")
    assert isinstance(info.value, ZFSError) and isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value)
    assert info.value.access_to == bad


def test_host_bits_set_is_an_error_with_a_hint() -> None:
    with pytest.raises(InvalidAccessRule, match="host bits"):
        AccessRule.parse("10.0.0.5/24", "rw")


@pytest.mark.parametrize("level", ["", "RW", "rx", "none", None, 1])
def test_invalid_level(level: object) -> None:
    with pytest.raises(InvalidAccessRule, match="access_level"):
        AccessRule.parse("10.0.0.1", level)


def test_non_string_access_to() -> None:
    with pytest.raises(InvalidAccessRule):
        AccessRule.parse(167772161, "rw")
    assert AccessRule.parse(ipaddress.ip_address("10.0.0.1")).is_host


def test_duplicates_rw_wins_and_result_is_sorted() -> None:
    rules = [
        AccessRule.parse("::1", "ro"),
        AccessRule.parse("10.0.0.5/32", "ro"),
        AccessRule.parse("10.0.0.0/24", "ro"),
        AccessRule.parse("10.0.0.5", "rw"),
        AccessRule.parse("10.0.0.5", "ro"),
        AccessRule.parse("10.0.0.0/24", "ro"),
    ]
    assert [str(r) for r in normalize_rules(rules)] == ["10.0.0.0/24:ro", "10.0.0.5:rw", "::1:ro"]


def test_overlapping_networks_are_distinct_rules() -> None:
    rules = normalize_rules([AccessRule.parse("10.0.0.0/24", "ro"), AccessRule.parse("10.0.0.5", "rw")])
    assert len(rules) == 2


def test_read_only_forces_ro() -> None:
    both = [AccessRule.parse("10.0.0.5", "rw"), AccessRule.parse("::1", "rw")]
    rules = normalize_rules(both, read_only=True)
    assert {r.access_level for r in rules} == {"ro"}


def test_normalize_refuses_raw_strings() -> None:
    with pytest.raises(InvalidAccessRule):
        normalize_rules(["10.0.0.1"])  # type: ignore[list-item]
