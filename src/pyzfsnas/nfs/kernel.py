"""Kernel OpenZFS on Linux: access rules live in the ``sharenfs`` property, and ZFS writes the exports.

The value written is ``rw=H1:H2,ro=H3,no_root_squash`` — the meaning of upstream Manila's ZFSonLinux helper
(rw hosts, ro hosts, root not squashed) in the syntax OpenZFS's Linux libshare actually parses: options split
on ``,``, hosts in ``rw=``/``ro=`` split on ``:``, IPv6 in brackets (``[::1]``, ``[fe80::]/64``; OpenZFS
2.2.0+ and 2.1.15+). No rule means ``off``. The whole set is one ``zfs set``; ZFS rewrites
``/etc/exports.d/zfs.exports`` and runs ``exportfs -ra`` itself.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence

from pyzfsnas.commands import validate_dataset_name
from pyzfsnas.errors import ParseError, UnsupportedOperation
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.nfs.rules import WORLD, AccessLevel, AccessRule, InvalidAccessRule, normalize_rules
from pyzfsnas.zfs import ZFS

__all__ = ["KERNEL_OPTIONS", "KernelNFS", "format_sharenfs_kernel", "parse_sharenfs_kernel"]

log = logging.getLogger("pyzfsnas")

#: Options written after the host lists.
KERNEL_OPTIONS: tuple[str, ...] = ("no_root_squash",)

_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?")


def format_sharenfs_kernel(rules: Iterable[AccessRule], options: Sequence[str] = KERNEL_OPTIONS) -> str:
    """The ``sharenfs`` text for ``rules`` (normalised first); ``off`` for an empty set."""
    normal = normalize_rules(rules)
    if not normal:
        return "off"
    parts = []
    for level in ("rw", "ro"):
        hosts = [r.bracketed for r in normal if r.access_level == level]
        if hosts:
            parts.append(f"{level}={':'.join(hosts)}")
    return ",".join([*parts, *options])


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
    IPv6 bracket raises :class:`~pyzfsnas.errors.ParseError`.
    """
    value = value.strip()
    if value in ("off", "-", ""):
        return []
    if value == "on":
        return list(normalize_rules(_host_rules("*", "rw", value)))
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
        hosts = _split_hosts(arg, value) if eq else ["*"]
        for host in hosts:
            rules.extend(_host_rules(host, level, value))
    if not saw_hosts:
        rules.extend(_host_rules("*", "rw", value))
    return list(normalize_rules(rules))


def _ipv6_capable(version: str) -> bool:
    """OpenZFS parses bracketed IPv6 in ``sharenfs`` from 2.2.0, and 2.1.15 in the 2.1 series."""
    m = _VERSION.match(version)
    if not m:
        return True  # unknown: assume a current release
    v = (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
    return v >= (2, 2, 0) or (2, 1, 15) <= v < (2, 2, 0)


class KernelNFS:
    """Access rules through the ``sharenfs`` property of kernel OpenZFS (Linux syntax).

    Every change is one ``zfs set sharenfs=...`` of the whole set (``add``/``remove`` read the property
    first: two commands). ``rules`` parses the property back. The property is the only source of truth here
    (ZFS re-shares from it on mount), so ``add``/``remove`` start from it; being read-modify-write, they are
    serialised per dataset within this object (:class:`~pyzfsnas.locks.KeyedLocks`), and other
    writers of the same dataset's ``sharenfs`` must not run at the same time. IPv6 needs OpenZFS 2.2.0+ or
    2.1.15+; older releases split an IPv6 address at every ``:``, so there an IPv6 rule raises
    :class:`~pyzfsnas.errors.UnsupportedOperation` before anything runs.
    """

    #: The facade whose executor runs the backend's commands.
    zfs: ZFS
    #: Export options besides the access level.
    options: tuple[str, ...]

    name: str = "kernel"

    def __init__(self, zfs: ZFS, *, options: Sequence[str] = KERNEL_OPTIONS) -> None:
        self.zfs = zfs
        self.options = tuple(options)
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"KernelNFS({self.zfs!r})"

    @property
    def supports_ipv6(self) -> bool:
        """True on OpenZFS releases that parse bracketed IPv6 hosts."""
        return _ipv6_capable(self.zfs.flavour.version)

    def _check(self, rules: Sequence[AccessRule]) -> None:
        if not self.supports_ipv6:
            for rule in rules:
                if rule.version == 6:
                    raise UnsupportedOperation(
                        f"rule {rule}: OpenZFS {self.zfs.flavour.version} cannot express IPv6 in sharenfs "
                        "(needs 2.2.0+ or 2.1.15+)"
                    )

    def _write(self, dataset: str, rules: Sequence[AccessRule]) -> None:
        validate_dataset_name(dataset)  # before _check, which may detect the flavour (a command)
        self._check(rules)
        self.zfs.set(dataset, {"sharenfs": format_sharenfs_kernel(rules, self.options)})

    def sharenfs(self, dataset: str) -> str:
        """The raw ``sharenfs`` value of ``dataset``."""
        return self.zfs.get(dataset, "sharenfs").raw("sharenfs") or "off"

    def rules(self, dataset: str) -> list[AccessRule]:
        """The rules in the dataset's ``sharenfs`` property."""
        return parse_sharenfs_kernel(self.sharenfs(dataset))

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
