"""Kernel OpenZFS on Linux: access rules live in the ``sharenfs`` property, and ZFS writes the exports.

The value written is ``rw=H1:H2,ro=H3,no_root_squash`` — the meaning of upstream Manila's ZFSonLinux helper
(rw hosts, ro hosts, root not squashed) in the syntax OpenZFS's Linux libshare actually parses: options split
on ``,``, hosts in ``rw=``/``ro=`` split on ``:``, IPv6 in brackets (``[::1]``, ``[fe80::]/64``; OpenZFS
2.2.0+ and 2.1.15+, and distribution builds that carry the fix). No rule means ``off``. The whole set is one
``zfs set``; ZFS rewrites ``/etc/exports.d/zfs.exports`` and runs ``exportfs -ra`` itself.

A hazard seen on real OpenZFS 2.1.11 and 2.3.2: ``zfs set`` accepts any host text, and the host splits a list at
*every* ``:`` outside a leading ``[``. An unbracketed IPv6 host (``rw=@fd00::/64``, ``rw=fd00::7``) thus yields
an empty host, which ``exportfs`` reads as *everyone*: a world read-write export, exit status 0. This module
never writes such a value (:func:`format_sharenfs_kernel` brackets IPv6 and checks its own output), reads one as
what the host really exports (everyone), and reports it: :func:`audit_sharenfs_kernel`, :meth:`KernelNFS.check`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence

import attrs

from pyzfsnas.commands import package_version
from pyzfsnas.errors import ParseError, UnsupportedOperation
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.names import validate_dataset_name
from pyzfsnas.nfs.rules import WORLD, AccessLevel, AccessRule, InvalidAccessRule, normalize_rules
from pyzfsnas.zfs import ZFS

__all__ = [
    "IPV6_PATCHED_PACKAGES",
    "KERNEL_OPTIONS",
    "KernelNFS",
    "SharenfsCheck",
    "SharenfsHazard",
    "audit_sharenfs_kernel",
    "format_sharenfs_kernel",
    "parse_sharenfs_kernel",
]

log = logging.getLogger("pyzfsnas")

#: Options written after the host lists.
KERNEL_OPTIONS: tuple[str, ...] = ("no_root_squash",)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


#: Packages (``dpkg-query`` name and version prefix) whose OpenZFS 2.1 older than 2.1.15 parses bracketed IPv6
#: in ``sharenfs`` anyway, with the evidence. Debian 12's ``zfsutils-linux`` 2.1.11-1: a real host exported
#: ``rw=[fd00::]/64`` and ``rw=[fd00::7]`` correctly (issue #11's outside run); upstream 2.1.11 does not.
IPV6_PATCHED_PACKAGES: tuple[tuple[str, str], ...] = (("zfsutils-linux", "2.1.11-1"),)


@attrs.frozen
class SharenfsHazard:
    """Something in a ``sharenfs`` value that the host exports differently from what it seems to say.

    ``level`` is ``rw`` or ``ro``; ``fragment`` the host-list text at fault; ``world`` is true when the host
    exports to everyone because of it (an empty host); ``reason`` says why in words.
    """

    level: AccessLevel
    fragment: str
    reason: str
    world: bool


@attrs.frozen
class SharenfsCheck:
    """What :meth:`KernelNFS.check` found: the raw value, the rules the host really applies, the hazards."""

    dataset: str
    value: str
    rules: tuple[AccessRule, ...]
    hazards: tuple[SharenfsHazard, ...]

    @property
    def dangerous(self) -> bool:
        """True when the value exports to everyone by accident (see :class:`SharenfsHazard`)."""
        return any(h.world for h in self.hazards)


def format_sharenfs_kernel(rules: Iterable[AccessRule], options: Sequence[str] = KERNEL_OPTIONS) -> str:
    """The ``sharenfs`` text for ``rules`` (normalised first); ``off`` for an empty set.

    The result is audited (:func:`audit_sharenfs_kernel`): a value the host would read differently (for
    example an IPv6 host hidden in ``options``) raises :class:`~pyzfsnas.nfs.rules.InvalidAccessRule`.
    """
    normal = normalize_rules(rules)
    if not normal:
        return "off"
    parts = []
    for level in ("rw", "ro"):
        hosts = [r.bracketed for r in normal if r.access_level == level]
        if hosts:
            parts.append(f"{level}={':'.join(hosts)}")
    value = ",".join([*parts, *options])
    hazards = audit_sharenfs_kernel(value)
    if hazards:
        raise InvalidAccessRule(hazards[0].fragment, hazards[0].level,
                                f"sharenfs={value!r} would be misread by the host: {hazards[0].reason}")
    return value


def _host_split(value: str) -> list[str]:
    """Split a host list exactly as OpenZFS's Linux libshare does: at every ``:`` outside a leading ``[``.

    Empty pieces are kept: the host exports them as an empty client, which ``exportfs`` reads as everyone.
    """
    pieces: list[str] = []
    i, n = 0, len(value)
    while True:
        if i < n and value[i] == "[":
            end = value.find("]", i)
            if end < 0:
                pieces.append(value[i:])
                return pieces
            stop = value.find(":", end)
        else:
            stop = value.find(":", i)
        if stop < 0:
            pieces.append(value[i:])
            return pieces
        pieces.append(value[i:stop])
        i = stop + 1


def audit_sharenfs_kernel(value: str) -> list[SharenfsHazard]:
    """The hazards in a ``sharenfs`` value (empty when it means what it says).

    Flags empty hosts (``rw=a::b``, ``rw=a:``, from an unbracketed IPv6 address or a stray ``:``): the host
    exports them to everyone. Flags pieces of an IPv6 address cut at ``:`` (``@fd00``, ``/64``, ``[fd00``).
    """
    hazards: list[SharenfsHazard] = []
    for item in value.strip().split(","):
        key, eq, arg = item.partition("=")
        if key not in ("rw", "ro") or not eq:
            continue
        level: AccessLevel = "rw" if key == "rw" else "ro"
        pieces = _host_split(arg)
        for piece in pieces:
            if piece == "":
                hazards.append(SharenfsHazard(level, arg, f"{key}={arg}: an empty host (a ':' outside [...]) "
                                              "is exported to everyone", world=True))
            elif not piece.startswith("[") and ("[" in piece or "]" in piece or piece.startswith("/")):
                hazards.append(SharenfsHazard(level, piece, f"{key}={arg}: {piece!r} is a piece of an IPv6 "
                                              "address split at ':' (IPv6 needs [brackets])", world=False))
    return hazards


def _split_hosts(value: str, raw: str) -> list[str]:
    """Split a ``rw=``/``ro=`` host list on ``:``, keeping ``[IPv6]`` and ``[IPv6]/prefix`` whole."""
    hosts: list[str] = []
    i, n = 0, len(value)
    while i < n:
        if value[i] == "[":
            end = value.find("]", i)
            if end < 0:
                raise ParseError(f"sharenfs: missing ']' in {raw!r}", line=raw)
            host = value[i + 1:end]
            j = end + 1
            if j < n and value[j] == "/":
                stop = value.find(":", j)
                stop = n if stop < 0 else stop
                host += value[j:stop]
                j = stop
            if j < n and value[j] != ":":
                raise ParseError(f"sharenfs: unexpected text after ']' in {raw!r}", line=raw)
            hosts.append(host)
            i = j + 1
        else:
            stop = value.find(":", i)
            stop = n if stop < 0 else stop
            if stop > i:
                hosts.append(value[i:stop])
            i = stop + 1
    return hosts


def _host_rules(host: str, level: AccessLevel, raw: str) -> list[AccessRule]:
    if host.startswith("@") and not host.startswith("@@"):
        host = host[1:]
    if host == "*":
        return [AccessRule(net, level) for net in WORLD]
    try:
        return [AccessRule.parse(host, level, strict=False)]
    except InvalidAccessRule:
        log.warning("sharenfs %r: host %r is not an IP address or network; not reported as a rule", raw, host)
        return []


def parse_sharenfs_kernel(value: str) -> list[AccessRule]:
    """Rules from an OpenZFS Linux ``sharenfs`` value (what this module writes, and hand-written values).

    ``off`` is no rule; ``on``, a bare ``rw``/``ro`` and a value without host lists mean everyone
    (``0.0.0.0/0`` and ``::/0``). Hostnames, wildcards and netgroups are logged and left out. A malformed
    IPv6 bracket raises :class:`~pyzfsnas.errors.ParseError`. A value the host exports to everyone by
    accident (:func:`audit_sharenfs_kernel`) is read as what the host does, everyone at that level, with a
    warning.
    """
    return _read_sharenfs_kernel(value)[0]


def _read_sharenfs_kernel(value: str) -> tuple[list[AccessRule], list[SharenfsHazard]]:
    """:func:`parse_sharenfs_kernel`'s rules, and the hazards (:func:`audit_sharenfs_kernel`) it read them by."""
    value = value.strip()
    hazards = audit_sharenfs_kernel(value)
    for hazard in hazards:
        log.warning("DANGEROUS sharenfs %r: %s", value, hazard.reason)
    world_levels = {h.level for h in hazards if h.world}
    if value in ("off", "-", ""):
        return [], hazards
    if value == "on":
        return list(normalize_rules(_host_rules("*", "rw", value))), hazards
    rules: list[AccessRule] = []
    saw_hosts = False
    for item in value.split(","):
        if not item:
            continue
        key, eq, arg = item.partition("=")
        if key not in ("rw", "ro"):
            continue
        level: AccessLevel = "rw" if key == "rw" else "ro"
        saw_hosts = True
        if level in world_levels:
            rules.extend(_host_rules("*", level, value))
            continue
        hosts = _split_hosts(arg, value) if eq else ["*"]
        for host in hosts:
            rules.extend(_host_rules(host, level, value))
    if not saw_hosts:
        rules.extend(_host_rules("*", "rw", value))
    return list(normalize_rules(rules)), hazards


def _ipv6_upstream(version: str) -> bool | None:
    """Whether upstream OpenZFS ``version`` parses bracketed IPv6 in ``sharenfs``: 2.2.0+ and 2.1.15+ do,
    2.0 and older do not; None for 2.1.0-2.1.14 (upstream does not, some distribution builds carry the fix).
    """
    m = _VERSION.match(version)
    if not m:
        return True  # unknown text: a current release
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    if v >= (2, 2, 0) or (2, 1, 15) <= v < (2, 2, 0):
        return True
    if (2, 1, 0) <= v < (2, 1, 15):
        return None
    return False


class KernelNFS:
    """Access rules through the ``sharenfs`` property of kernel OpenZFS (Linux syntax).

    Every change is one ``zfs set sharenfs=...`` of the whole set (``add``/``remove`` read the property
    first: two commands). ``rules`` parses the property back. The property is the only source of truth here
    (ZFS re-shares from it on mount), so ``add``/``remove`` start from it; being read-modify-write, they are
    serialised per dataset within this object (:class:`~pyzfsnas.locks.KeyedLocks`), and other
    writers of the same dataset's ``sharenfs`` must not run at the same time.

    IPv6 needs a host that parses ``[brackets]``: upstream 2.2.0+ and 2.1.15+, and 2.1 builds listed in
    :data:`IPV6_PATCHED_PACKAGES` (found by one read-only ``dpkg-query``); ``ipv6=True``/``False`` states it
    for hosts the evidence does not cover. Elsewhere an IPv6 rule raises
    :class:`~pyzfsnas.errors.UnsupportedOperation` before anything runs, because such a host would split the
    address at every ``:`` and export to everyone.
    """

    #: The facade whose executor runs the backend's commands.
    zfs: ZFS
    #: Export options besides the access level.
    options: tuple[str, ...]

    name: str = "kernel"

    def __init__(
        self, zfs: ZFS, *, options: Sequence[str] = KERNEL_OPTIONS, ipv6: bool | None = None
    ) -> None:
        self.zfs = zfs
        self.options = tuple(options)
        self._ipv6 = ipv6
        self._ipv6_lock = threading.Lock()
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"KernelNFS({self.zfs!r})"

    def ipv6_support(self) -> bool:
        """True when the host parses bracketed IPv6 hosts: decided on the first call and held (the flavour's
        version, then the installed package's; ``ipv6=`` decides it without asking)."""
        with self._ipv6_lock:
            if self._ipv6 is None:
                verdict = _ipv6_upstream(self.zfs.detect_flavour().version)
                self._ipv6 = verdict if verdict is not None else self._patched_package()
            return self._ipv6

    def _patched_package(self) -> bool:
        for package, prefix in IPV6_PATCHED_PACKAGES:
            result = self.zfs.executor.run(package_version(package))
            if result.returncode == 0 and result.stdout.strip().startswith(prefix):
                log.debug("%s %s parses bracketed IPv6 in sharenfs", package, result.stdout.strip())
                return True
        return False

    def _check(self, rules: Sequence[AccessRule]) -> None:
        if any(rule.version == 6 for rule in rules) and not self.ipv6_support():
            rule = next(r for r in rules if r.version == 6)
            raise UnsupportedOperation(
                f"rule {rule}: OpenZFS {self.zfs.detect_flavour().version} cannot express IPv6 in sharenfs "
                "(needs 2.2.0+, 2.1.15+ or a build with the fix; KernelNFS(ipv6=True) if this host has it)"
            )

    def _write(self, dataset: str, rules: Sequence[AccessRule]) -> None:
        validate_dataset_name(dataset)  # before _check, which may detect the flavour (a command)
        self._check(rules)
        self.zfs.set(dataset, {"sharenfs": format_sharenfs_kernel(rules, self.options)})

    def sharenfs(self, dataset: str) -> str:
        """The raw ``sharenfs`` value of ``dataset``."""
        return self.zfs.get(dataset, "sharenfs").raw("sharenfs") or "off"

    def rules(self, dataset: str) -> list[AccessRule]:
        """The rules the host applies from the dataset's ``sharenfs`` (a dangerous value is logged and read as
        the world export it really is; :meth:`check` reports it)."""
        return parse_sharenfs_kernel(self.sharenfs(dataset))

    def check(self, dataset: str) -> SharenfsCheck:
        """Audit the dataset's ``sharenfs``: its rules and its hazards (``.dangerous`` for a world export)."""
        value = self.sharenfs(dataset)
        rules, hazards = _read_sharenfs_kernel(value)  # one audit: the one the rules are read by
        return SharenfsCheck(dataset, value, tuple(rules), tuple(hazards))

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """One ``zfs set sharenfs=...`` with the whole set (``off`` when empty)."""
        normal = normalize_rules(rules, read_only=read_only)
        with self._locks.hold(dataset):
            self._write(dataset, normal)

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Read the set, replace or add the rule for ``rule.access_to``, write the set."""
        (rule,) = normalize_rules([rule])
        with self._locks.hold(dataset):
            current = [r for r in self.rules(dataset) if r.access_to != rule.access_to]
            self._write(dataset, normalize_rules([*current, rule]))

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Read the set and write it without ``rule.access_to``; nothing is written if it was absent."""
        (rule,) = normalize_rules([rule])
        with self._locks.hold(dataset):
            current = self.rules(dataset)
            kept = [r for r in current if r.access_to != rule.access_to]
            if len(kept) != len(current):
                self._write(dataset, normalize_rules(kept))

    def clear(self, dataset: str) -> None:
        """``sharenfs=off``."""
        with self._locks.hold(dataset):
            self.zfs.set(dataset, {"sharenfs": "off"})
