"""NFS access rules: who (an IP address or network) may mount a share, and how (``rw`` or ``ro``).

An :class:`AccessRule` is validated with :mod:`ipaddress` when it is made, so every backend receives only
well-formed, normalised networks and can never pass a hostname, a wildcard or shell text to a host.

Rule-set semantics shared by every backend (:func:`normalize_rules`):

* one rule per ``access_to`` (Manila's model): ``10.0.0.5`` and ``10.0.0.5/32`` are the same rule;
* when a set names the same network twice with different levels, ``rw`` wins (the most permissive, as Manila
  expects when both an rw and an ro rule exist for one network);
* overlapping but different networks (``10.0.0.0/24`` and ``10.0.0.5``) are distinct rules; which one a client
  matches is the NFS server's business;
* the result is sorted (IPv4 first, then by address and prefix), so the text written to a host is stable and
  applying the same set twice writes the same value.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Literal

import attrs

from pyzfsnas.errors import ZFSError

__all__ = [
    "WORLD",
    "AccessLevel",
    "AccessRule",
    "IPNetwork",
    "InvalidAccessRule",
    "normalize_rules",
]

AccessLevel = Literal["rw", "ro"]
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_ADDRESS_CHARS = re.compile(r"^[0-9A-Fa-f:./]+$")


class InvalidAccessRule(ZFSError, ValueError):
    """An access rule is not an IPv4/IPv6 address or network with level ``rw``/``ro``; nothing was run."""

    #: The rule's network as given (not validated).
    access_to: object
    #: The rule's access level as given (not validated).
    access_level: object
    #: Why the rule was refused.
    reason: str

    def __init__(self, access_to: object, access_level: object, reason: str) -> None:
        self.access_to = access_to
        self.access_level = access_level
        self.reason = reason
        super().__init__(f"invalid access rule {access_to!r} ({access_level!r}): {reason}")


def _to_network(value: object, level: object = None, *, strict: bool = True) -> IPNetwork:
    """Parse ``value`` strictly into a network; raise :class:`InvalidAccessRule` naming it otherwise."""
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return value
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ipaddress.ip_network(value)
    if not isinstance(value, str):
        raise InvalidAccessRule(value, level, f"access_to must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidAccessRule(value, level, "empty address")
    if not _ADDRESS_CHARS.fullmatch(value):
        raise InvalidAccessRule(
            value, level, "only IPv4/IPv6 addresses and CIDR networks are allowed (no hostnames, wildcards, "
            "scope ids or other characters)"
        )
    try:
        return ipaddress.ip_network(value, strict=strict)
    except ValueError as exc:
        if "has host bits set" in str(exc):
            raise InvalidAccessRule(
                value, level, "host bits set in a CIDR network (did you mean the network address or /32?)"
            ) from None
        raise InvalidAccessRule(value, level, f"not an IP address or network: {exc}") from None


def _network_converter(value: object) -> IPNetwork:
    return _to_network(value)


def _check_level(instance: AccessRule, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in ("rw", "ro"):
        raise InvalidAccessRule(instance.access_to.compressed, value, "access_level must be 'rw' or 'ro'")


@attrs.frozen(order=False)
class AccessRule:
    """Allow one IPv4/IPv6 address or CIDR network (``access_to``) to mount read-write or read-only.

    ``access_to`` accepts a string (``"10.0.0.5"``, ``"10.0.0.0/24"``, ``"2001:db8::/64"``, ``"::1"``) or an
    :mod:`ipaddress` object and is stored as an ``IPv4Network``/``IPv6Network``: a bare address is its /32 or
    /128 network, so ``10.0.0.5`` and ``10.0.0.5/32`` are the same rule. A CIDR with host bits set
    (``10.0.0.5/24``) is an error, not silently widened: that is what an operator's typo looks like, and
    guessing would grant access to 255 hosts nobody named. Hostnames, ``*``, netgroups, empty strings,
    out-of-range octets (``10.0.0.300``), IPv6 scope ids and anything with shell characters raise
    :class:`InvalidAccessRule` naming the rule.
    """

    access_to: IPNetwork = attrs.field(converter=_network_converter)
    access_level: AccessLevel = attrs.field(default="rw", validator=_check_level)

    @classmethod
    def parse(cls, access_to: object, access_level: object = "rw", *, strict: bool = True) -> AccessRule:
        """Build a rule from Manila-style text; :class:`InvalidAccessRule` names the rule when it is bad.

        ``strict=False`` masks host bits instead of refusing them (``10.0.0.5/24`` -> ``10.0.0.0/24``): only
        for reading back what a host already serves, where exportfs itself masks them.
        """
        network = _to_network(access_to, access_level, strict=strict)
        if access_level not in ("rw", "ro"):
            raise InvalidAccessRule(access_to, access_level, "access_level must be 'rw' or 'ro'")
        return cls(network, access_level)

    @property
    def version(self) -> int:
        """4 or 6."""
        return self.access_to.version

    @property
    def is_host(self) -> bool:
        """True when the rule names a single address (/32 or /128)."""
        return self.access_to.prefixlen == self.access_to.max_prefixlen

    @property
    def host_text(self) -> str:
        """The address (host) or ``address/prefix`` (network), unbracketed: ``10.0.0.5``, ``fe80::/64``."""
        if self.is_host:
            return str(self.access_to.network_address)
        return self.access_to.with_prefixlen

    @property
    def bracketed(self) -> str:
        """The client as exportfs and OpenZFS's ``sharenfs`` want it: IPv6 in brackets (``[fe80::]/64``)."""
        if self.version == 4:
            return self.host_text
        addr = f"[{self.access_to.network_address}]"
        return addr if self.is_host else f"{addr}/{self.access_to.prefixlen}"

    def with_level(self, level: AccessLevel) -> AccessRule:
        """The same network with another access level."""
        return attrs.evolve(self, access_level=level)

    def sort_key(self) -> tuple[int, int, int, str]:
        """Stable order: IPv4 before IPv6, then by address and prefix length, rw before ro."""
        net = self.access_to
        return (net.version, int(net.network_address), net.prefixlen, self.access_level)

    def __str__(self) -> str:
        return f"{self.host_text}:{self.access_level}"


#: Everyone, as rules: what ``*``, ``<world>`` and ``sharenfs=on`` mean, in both address families.
WORLD = (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0"))


def normalize_rules(rules: Iterable[AccessRule], *, read_only: bool = False) -> tuple[AccessRule, ...]:
    """One rule per network, ``rw`` winning over ``ro``, sorted; with ``read_only`` every rule becomes ``ro``.

    Raises :class:`InvalidAccessRule` when an item is not an :class:`AccessRule` (a backend never accepts raw
    strings as rules).
    """
    best: dict[IPNetwork, AccessRule] = {}
    for item in rules:
        if not isinstance(item, AccessRule):
            raise InvalidAccessRule(item, None, "expected an AccessRule (use AccessRule.parse)")
        rule = item.with_level("ro") if read_only else item
        current = best.get(rule.access_to)
        if current is None or (current.access_level == "ro" and rule.access_level == "rw"):
            best[rule.access_to] = rule
    return tuple(sorted(best.values(), key=AccessRule.sort_key))
