"""zfs-fuse: ``sharenfs`` holds ``host:options`` items separated by spaces, and zfs-fuse runs ``exportfs``.

What zfs-fuse 0.7 really does (checked on this project's machine):

* ``zfs set sharenfs='10.0.0.0/24:rw,no_root_squash 127.0.0.1:ro'`` runs ``exportfs -o OPTS,fsid=N,
  no_subtree_check HOST:MOUNTPOINT`` for each item; ``off`` unexports every client of the mountpoint.
* Changing the value from one host list to another only *adds*: clients that were in the old value stay
  exported. (Upstream Manila's helper relies on ``zfs set`` alone and so never really revokes access on
  zfs-fuse.) :class:`FuseNFS` therefore reads ``exportfs -v`` after each change and unexports the clients
  that are no longer wanted.
* Each item is split at its first ``:``, so IPv6 cannot be expressed at all: ``[::1]:rw`` becomes
  ``exportfs -o :1]:rw '[:/mnt'`` ("Invalid export syntax") and ``::1:rw`` an unknown option. Hence
  ``ipv6_support()`` is False and an IPv6 rule raises :class:`~pyzfsnas.errors.UnsupportedOperation` before
  anything runs. (Use :class:`~pyzfsnas.nfs.exportfs.ExportfsNFS` on a zfs-fuse host when IPv6 clients are
  needed; mixing the two on one dataset is not supported, since ``sharenfs=off`` would drop both.)
* A failed ``exportfs`` leaves the property set but the exports unchanged, so the property can disagree
  with what is served: ``exportfs -v`` is the truth, and :meth:`FuseNFS.rules` logs a warning on mismatch.
* Unmounting unshares and mounting does not share again: after an unmount+mount nothing is served while
  ``sharenfs`` still declares the rules. :meth:`FuseNFS.add`/:meth:`FuseNFS.remove` therefore start from the
  union of the declared and the served rules, so neither source's rules are lost (writing the set shares it
  again).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from pyzfsnas.commands import exportfs_show
from pyzfsnas.errors import ParseError, UnsupportedOperation
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.nfs.exportfs import (
    Export,
    exportfs_unexport_argv,
    parse_exportfs_v,
    rules_from_exports,
    validate_export_path,
)
from pyzfsnas.nfs.rules import WORLD, AccessLevel, AccessRule, InvalidAccessRule, normalize_rules
from pyzfsnas.zfs import ZFS

__all__ = ["FUSE_OPTIONS", "FuseNFS", "format_sharenfs_fuse", "parse_sharenfs_fuse"]

log = logging.getLogger("pyzfsnas")

#: Options written after ``rw``/``ro`` in each item (zfs-fuse adds ``fsid=N,no_subtree_check``).
FUSE_OPTIONS: tuple[str, ...] = ("no_root_squash",)


def _require_ipv4(rules: Iterable[AccessRule]) -> None:
    for rule in rules:
        if rule.version == 6:
            raise UnsupportedOperation(
                f"rule {rule}: zfs-fuse's sharenfs cannot express IPv6 clients (it splits each item at the "
                "first ':'); use ExportfsNFS for IPv6 on this host"
            )


def format_sharenfs_fuse(rules: Iterable[AccessRule], options: Sequence[str] = FUSE_OPTIONS) -> str:
    """``HOST:LEVEL,OPTIONS`` items separated by spaces (``off`` when empty); IPv6 raises."""
    normal = normalize_rules(rules)
    _require_ipv4(normal)
    if not normal:
        return "off"
    return " ".join(":".join((r.host_text, ",".join((r.access_level, *options)))) for r in normal)


def parse_sharenfs_fuse(value: str) -> list[AccessRule]:
    """Rules from a zfs-fuse ``sharenfs`` value.

    ``off`` is no rule; ``on`` is everyone read-only (zfs-fuse exports ``*`` with exportfs's default ``ro``).
    An item's level is its last ``rw``/``ro`` option (``ro`` when none). Non-IP hosts are logged and left
    out; an item without ``host:`` raises :class:`~pyzfsnas.errors.ParseError` (zfs-fuse cannot share it).
    """
    value = value.strip()
    if value in ("off", "-", ""):
        return []
    if value == "on":
        return list(normalize_rules(AccessRule(net, "ro") for net in WORLD))
    rules: list[AccessRule] = []
    for item in value.split():
        host, sep, opts = item.partition(":")
        if not sep or not host:
            raise ParseError(f"sharenfs item {item!r} has no host", line=value)
        level: AccessLevel = "ro"
        for opt in opts.split(","):
            if opt in ("rw", "ro"):
                level = "rw" if opt == "rw" else "ro"
        if host == "*":
            rules.extend(AccessRule(net, level) for net in WORLD)
            continue
        try:
            rules.append(AccessRule.parse(host, level, strict=False))
        except InvalidAccessRule:
            log.warning("sharenfs %r: host %r is not an IP address or network; not reported", value, host)
    return list(normalize_rules(rules))


class FuseNFS:
    """Access rules on zfs-fuse: ``sharenfs`` written in one ``zfs set``, exports checked with ``exportfs``.

    ``apply`` costs three commands (read mountpoint, set, ``exportfs -v``) plus one ``exportfs -u`` when
    clients that zfs-fuse left behind must go. ``rules`` reads ``exportfs -v`` — what is served — and
    compares it with the property, warning when they disagree.
    """

    #: The facade whose executor runs the backend's commands.
    zfs: ZFS
    #: Export options besides the access level.
    options: tuple[str, ...]

    name: str = "zfs-fuse"

    def ipv6_support(self) -> bool:
        """Never: zfs-fuse cannot express IPv6 in sharenfs."""
        return False

    def __init__(self, zfs: ZFS, *, options: Sequence[str] = FUSE_OPTIONS) -> None:
        self.zfs = zfs
        self.options = tuple(options)
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"FuseNFS({self.zfs!r})"

    def _state(self, dataset: str) -> tuple[str, str]:
        props = self.zfs.get(dataset, "mountpoint", "sharenfs")
        mountpoint = props.raw("mountpoint")
        if not mountpoint or not mountpoint.startswith("/"):
            raise UnsupportedOperation(f"dataset {dataset} has no mountpoint ({mountpoint!r}) to share")
        return validate_export_path(mountpoint), props.raw("sharenfs") or "off"

    def _exports(self, path: str) -> list[Export]:
        out = self.zfs.executor.run(exportfs_show()).check().stdout
        return [e for e in parse_exportfs_v(out) if e.path == path]

    def exports(self, dataset: str) -> list[Export]:
        """What ``exportfs -v`` serves for the dataset's mountpoint."""
        return self._exports(self._state(dataset)[0])

    def rules(self, dataset: str) -> list[AccessRule]:
        """The rules served (``exportfs -v``); a warning is logged if ``sharenfs`` says otherwise."""
        path, value = self._state(dataset)
        served = rules_from_exports(self._exports(path), path)
        try:
            declared = parse_sharenfs_fuse(value)
        except ParseError as exc:
            log.warning("%s: cannot read sharenfs %r (%s); exportfs is authoritative", dataset, value, exc)
        else:
            if declared != served:
                log.warning(
                    "%s: sharenfs %r declares %s but exportfs serves %s; exportfs is authoritative",
                    dataset, value, [str(r) for r in declared], [str(r) for r in served],
                )
        return served

    def _write(self, dataset: str, path: str, rules: Sequence[AccessRule]) -> None:
        self.zfs.set(dataset, {"sharenfs": format_sharenfs_fuse(rules, self.options)})
        # zfs-fuse exports each item as ``host_text:MP``; any other entry of the path is left over (an old
        # value's client, ``*``, or the same network under other text such as ``10.0.0.5/32``).
        wanted = {r.access_to: r.host_text for r in rules}
        stale = [
            exp for exp in self._exports(path)
            if exp.is_world or (exp.network is not None and wanted.get(exp.network) != exp.client)
        ]
        if stale:
            log.debug("%s: unexporting clients zfs-fuse left behind: %s", dataset, [e.client for e in stale])
            self.zfs.executor.run(exportfs_unexport_argv(stale)).check()

    def _served_v4(self, path: str) -> list[AccessRule]:
        # ``*`` reads back as 0.0.0.0/0 and ::/0; only the IPv4 half can be written back to sharenfs.
        return [r for r in rules_from_exports(self._exports(path), path) if r.version == 4]

    def _known_v4(self, dataset: str, path: str, value: str) -> tuple[AccessRule, ...]:
        """The rules declared in ``sharenfs`` united with those served (``rw`` wins), IPv4 only.

        Served alone would lose every declared rule after an unmount+mount (nothing is served then);
        declared alone would keep serving a client that an unreadable or failed ``sharenfs`` never listed.
        """
        try:
            declared = [r for r in parse_sharenfs_fuse(value) if r.version == 4]
        except ParseError as exc:
            log.warning("%s: cannot read sharenfs %r (%s); using the exported rules only", dataset, value, exc)
            declared = []
        return normalize_rules([*declared, *self._served_v4(path)])

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """Write the whole set (``off`` when empty) and unexport clients that are no longer wanted."""
        normal = normalize_rules(rules, read_only=read_only)
        _require_ipv4(normal)
        with self._locks.hold(dataset):
            path, _ = self._state(dataset)
            self._write(dataset, path, normal)

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Add or replace the rule for ``rule.access_to`` in the declared-or-served set and write the set.

        Changes to one dataset through this object are serialised; other writers of the same dataset's
        ``sharenfs`` must not run at the same time (the set is read, changed and written back).
        """
        (rule,) = normalize_rules([rule])
        _require_ipv4([rule])
        with self._locks.hold(dataset):
            path, value = self._state(dataset)
            current = [r for r in self._known_v4(dataset, path, value) if r.access_to != rule.access_to]
            self._write(dataset, path, normalize_rules([*current, rule]))

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Drop the rule for ``rule.access_to`` from the declared-or-served set; nothing is written when it is
        neither declared nor served. Serialisation as for :meth:`add`.
        """
        (rule,) = normalize_rules([rule])
        with self._locks.hold(dataset):
            path, value = self._state(dataset)
            current = self._known_v4(dataset, path, value)
            kept = [r for r in current if r.access_to != rule.access_to]
            if len(kept) != len(current):
                self._write(dataset, path, normalize_rules(kept))

    def clear(self, dataset: str) -> None:
        """``sharenfs=off`` and no client of the mountpoint left exported."""
        with self._locks.hold(dataset):
            path, _ = self._state(dataset)
            self._write(dataset, path, ())
