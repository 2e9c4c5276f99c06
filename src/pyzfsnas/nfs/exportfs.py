"""``exportfs`` (nfs-utils): the ``exportfs -v`` parser, validated argv builders, the exportfs-only backend.

``exportfs -v`` prints one entry per (path, client). A path shorter than 14 characters is padded to 14
columns and followed by a TAB and the client on the same line; a longer path is alone on its line and the
client follows on the next line after two TABs. ``<world>`` is the ``*`` client; IPv6 clients print without
brackets (``::1``, ``fe80::/64``) although the command line needs them (``[::1]:/path``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Collection, Iterable, Sequence

import attrs

from pyzfsnas.commands import exportfs_show
from pyzfsnas.errors import InvalidName, ParseError
from pyzfsnas.executors.base import Executor
from pyzfsnas.locks import KeyedLocks
from pyzfsnas.names import check_path
from pyzfsnas.nfs.base import export_path
from pyzfsnas.nfs.rules import WORLD, AccessLevel, AccessRule, IPNetwork, normalize_rules
from pyzfsnas.result import Command
from pyzfsnas.zfs import ZFS

__all__ = [
    "DEFAULT_OPTIONS",
    "Export",
    "ExportfsNFS",
    "exportfs_add_argv",
    "exportfs_remove_argv",
    "exportfs_spec",
    "exportfs_unexport_argv",
    "parse_exportfs_v",
    "rules_from_exports",
    "unexport_spec",
    "validate_export_path",
]

log = logging.getLogger("pyzfsnas")

#: Options written with every rule besides ``rw``/``ro``: root is not squashed (Manila's ZFSonLinux meaning).
DEFAULT_OPTIONS: tuple[str, ...] = ("no_root_squash", "no_subtree_check")

_ALLOWED_OPTIONS = frozenset((
    "all_squash", "no_all_squash", "root_squash", "no_root_squash", "sync", "async", "wdelay", "no_wdelay",
    "hide", "nohide", "crossmnt", "nocrossmnt", "secure", "insecure", "subtree_check", "no_subtree_check",
    "secure_locks", "insecure_locks", "no_acl", "acl", "mountpoint", "mp", "fsid", "anonuid", "anongid",
    "sec",
))


def _network_of(client: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(client, strict=False)
    except ValueError:
        return None


def _level_of(options: Sequence[str]) -> AccessLevel:
    level: AccessLevel = "ro"  # exportfs's default
    for opt in options:
        if opt == "rw":
            level = "rw"
        elif opt == "ro":
            level = "ro"
    return level


@attrs.frozen
class Export:
    """One (path, client) entry of ``exportfs -v``.

    ``client`` is the text exportfs printed (``127.0.0.1``, ``::1``, ``10.0.0.0/24``, ``<world>``,
    ``*.example.com``); ``network`` is that client as an IP network, or None when it is not an address
    (``<world>``, hostnames, wildcards, netgroups). ``access_level`` is the last ``rw``/``ro`` in the options
    (``ro`` when neither appears, as exportfs defaults).
    """

    path: str
    client: str
    options: tuple[str, ...] = ()
    network: IPNetwork | None = attrs.field(default=None)
    access_level: AccessLevel = "ro"

    @classmethod
    def make(cls, path: str, client: str, options: Sequence[str] = ()) -> Export:
        """Build an entry, deriving ``network`` and ``access_level`` from the printed text."""
        opts = tuple(options)
        return cls(path, client, opts, _network_of(client), _level_of(opts))

    @property
    def is_world(self) -> bool:
        """True for the everyone client (``<world>`` / ``*``)."""
        return self.client in ("<world>", "*")


def _split_client(text: str, lineno: int, line: str) -> tuple[str, tuple[str, ...]]:
    text = text.strip()
    if not text:
        raise ParseError("exportfs: missing client", line=line, lineno=lineno)
    if "(" not in text:
        if ")" in text or " " in text:
            raise ParseError("exportfs: malformed client", line=line, lineno=lineno)
        return text, ()
    client, _, rest = text.partition("(")
    bad_client = not client or any(c.isspace() for c in client)
    if bad_client or not rest.endswith(")") or "(" in rest or ")" in rest[:-1]:
        raise ParseError("exportfs: malformed client(options)", line=line, lineno=lineno)
    opts = tuple(o for o in rest[:-1].split(",") if o)
    return client, opts


def parse_exportfs_v(text: str) -> list[Export]:
    """Parse ``exportfs -v`` (or plain ``exportfs``) output into :class:`Export` entries, in output order.

    Malformed text raises :class:`~pyzfsnas.errors.ParseError` carrying the line; nothing else escapes.
    """
    exports: list[Export] = []
    pending: tuple[str, int, str] | None = None  # a long path waiting for its client line
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line[0] in " \t":
            if pending is None:
                raise ParseError("exportfs: client line without a path", line=line, lineno=lineno)
            client, opts = _split_client(line, lineno, line)
            exports.append(Export.make(pending[0], client, opts))
            pending = None
            continue
        if pending is not None:
            raise ParseError("exportfs: path without a client", line=pending[2], lineno=pending[1])
        if not line.startswith("/"):
            raise ParseError("exportfs: expected an absolute path", line=line, lineno=lineno)
        if "\t" in line:
            path, _, rest = line.partition("\t")
            client, opts = _split_client(rest, lineno, line)
            exports.append(Export.make(path.rstrip(" "), client, opts))
        else:
            # A path longer than 14 bytes stands alone unpadded: a trailing space is part of it.
            pending = (line if len(line.encode()) > 14 else line.rstrip(" "), lineno, line)
    if pending is not None:
        raise ParseError("exportfs: path without a client", line=pending[2], lineno=pending[1])
    return exports



def validate_export_path(path: str) -> str:
    """An exported path must be absolute, free of control and line-breaking characters, and UTF-8 text.

    A lone surrogate (what :func:`os.fsdecode` makes of a non-UTF-8 name) is refused: it cannot be sent to
    a host over SSH nor written into a config file.
    """
    check_path(path, "export path")  # absolute, no control or line-breaking character, encodable as UTF-8
    if path != "/":
        path = path.rstrip("/")
    return path


def _validate_options(options: Iterable[str]) -> tuple[str, ...]:
    opts = tuple(options)
    for opt in opts:
        key = opt.split("=", 1)[0]
        if key in ("rw", "ro") or key not in _ALLOWED_OPTIONS or any(c in opt for c in ",: \t\n\0()"):
            raise InvalidName(f"export option not allowed: {opt!r}")
    return opts


def exportfs_spec(rule: AccessRule, path: str) -> str:
    """``client:path`` for exportfs, the client taken from a validated rule (IPv6 bracketed)."""
    if not isinstance(rule, AccessRule):
        raise TypeError("exportfs clients come only from AccessRule")
    return f"{rule.bracketed}:{validate_export_path(path)}"


def exportfs_add_argv(
    path: str, rules: Sequence[AccessRule], options: Iterable[str] = DEFAULT_OPTIONS
) -> Command:
    """``exportfs -o LEVEL,OPTIONS CLIENT:PATH...`` for rules that all have the same level."""
    if not rules:
        raise ValueError("exportfs_add_argv needs at least one rule")
    if not all(isinstance(r, AccessRule) for r in rules):
        raise TypeError("exportfs clients come only from AccessRule")
    levels = {r.access_level for r in rules}
    if len(levels) != 1:
        raise ValueError("one exportfs -o command exports one access level")
    opts = ",".join((levels.pop(), *_validate_options(options)))
    return Command(["exportfs", "-o", opts, *(exportfs_spec(r, path) for r in rules)])


def exportfs_remove_argv(path: str, rules: Sequence[AccessRule]) -> list[str]:
    """``exportfs -u CLIENT:PATH...`` with each rule's canonical client text.

    This matches only entries exported with that same text (as :func:`exportfs_add_argv` writes them); to
    unexport what ``exportfs -v`` listed, use :func:`exportfs_unexport_argv`.
    """
    if not rules:
        raise ValueError("exportfs_remove_argv needs at least one rule")
    return ["exportfs", "-u", *(exportfs_spec(r, path) for r in rules)]


def unexport_spec(exp: Export) -> str:
    """The ``exportfs -u`` argument that matches ``exp``: its client text exactly as exportfs printed it.

    exportfs finds an entry to unexport by the client text it stored, not by address: an entry shown as
    ``10.0.0.5/32`` or ``10.0.0.0/255.255.255.0`` is not found by ``10.0.0.5`` or ``10.0.0.0/24``. IPv6 text
    gets the brackets the command line needs (``fe80::0/64`` -> ``[fe80::0]/64``); ``<world>`` is ``*``.
    Only IP and world clients are accepted (their text is limited to address characters).
    """
    path = validate_export_path(exp.path)
    if exp.is_world:
        return f"*:{path}"
    if exp.network is None:
        raise ValueError(f"export {exp.path} to {exp.client!r} is not an IP client")
    client = exp.client
    if ":" in client:
        address, slash, prefix = client.partition("/")
        client = f"[{address}]{slash}{prefix}"
    return f"{client}:{path}"


def exportfs_unexport_argv(exports: Sequence[Export]) -> Command:
    """``exportfs -u CLIENT:PATH...`` for entries read from ``exportfs -v`` (see :func:`unexport_spec`)."""
    if not exports:
        raise ValueError("exportfs_unexport_argv needs at least one export")
    return Command(["exportfs", "-u", *(unexport_spec(e) for e in exports)])


def rules_from_exports(exports: Iterable[Export], path: str) -> list[AccessRule]:
    """The IP rules in force for ``path``: ``<world>`` counts as ``0.0.0.0/0`` and ``::/0``.

    Clients that are not addresses (hostnames, wildcards, netgroups) cannot be access rules: they are
    logged and left out (read :meth:`ExportfsNFS.exports` for the full picture).
    """
    rules: list[AccessRule] = []
    for exp in exports:
        if exp.path != path:
            continue
        if exp.network is not None:
            rules.append(AccessRule(exp.network, exp.access_level))
        elif exp.is_world:
            rules.extend(AccessRule(net, exp.access_level) for net in WORLD)
        else:
            log.warning("export %s to %r is not an IP client; not reported as a rule", path, exp.client)
    return list(normalize_rules(rules))


def _as_zfs(target: ZFS | Executor) -> ZFS:
    return target if isinstance(target, ZFS) else ZFS(target)


class ExportfsNFS:
    """NFS exports made with ``exportfs`` alone, never touching ``sharenfs``.

    ``dataset`` is a dataset name (its mountpoint is looked up through the facade) or an absolute path
    (exported as is, for directories that are not datasets). State is read from ``exportfs -v``. Changes are
    bulk: one ``exportfs -o`` per access level and one ``exportfs -u`` for all removals, and nothing runs when
    the host already matches; ``add``/``remove`` read ``exportfs -v`` first, like ``apply``. A ``*`` export
    (``<world>``) is the rule for both ``0.0.0.0/0`` and ``::/0`` (see :meth:`_sync`). Changes to one dataset
    through one object are serialised (:class:`~pyzfsnas.locks.KeyedLocks`); other writers must not change
    the same path at the same time. Exports made this way live in ``/var/lib/nfs/etab`` only: ``exportfs -r``
    (or a reboot) drops them, so the caller re-applies its rules after such events.
    """

    #: The facade whose executor runs the backend's commands.
    zfs: ZFS
    #: Export options besides the access level.
    options: tuple[str, ...]

    name: str = "exportfs"

    def ipv6_support(self) -> bool:
        """Always: IPv6 rules are expressed as they are."""
        return True

    def __init__(self, target: ZFS | Executor, *, options: Iterable[str] = DEFAULT_OPTIONS) -> None:
        self.zfs = _as_zfs(target)
        self.options = _validate_options(options)
        self._locks = KeyedLocks()

    def __repr__(self) -> str:
        return f"ExportfsNFS({self.zfs.executor!r})"

    def path(self, dataset: str) -> str:
        """The exported path: ``dataset`` itself when absolute, else the dataset's mountpoint."""
        return export_path(self.zfs, dataset, validate_export_path)

    def all_exports(self) -> list[Export]:
        """Every export on the host (``exportfs -v``)."""
        return parse_exportfs_v(self.zfs.executor.run(exportfs_show()).check().stdout)

    def exports(self, dataset: str) -> list[Export]:
        """The exports of ``dataset``'s path, as exportfs prints them."""
        path = self.path(dataset)
        return [e for e in self.all_exports() if e.path == path]

    def rules(self, dataset: str) -> list[AccessRule]:
        """The IP rules in force for ``dataset``, read from ``exportfs -v``."""
        path = self.path(dataset)
        return rules_from_exports(self.all_exports(), path)

    def _sync(
        self, path: str, desired: Sequence[AccessRule], current: Sequence[Export],
        touch: Collection[IPNetwork] | None = None,
    ) -> None:
        """Make the IP (and ``*``) exports of ``path`` match ``desired``, for the networks in ``touch`` (all when
        None); non-IP clients (hostnames, wildcards, netgroups) are left alone with a warning.

        ``*`` (printed ``<world>``) is the rule for both ``0.0.0.0/0`` and ``::/0``: it is kept only while
        ``desired`` has both at its level (with this backend's options); otherwise it is unexported and whichever
        ``/0`` rules remain wanted are exported explicitly (``0.0.0.0/0``, ``[::]/0``). New rules are never
        written as ``*``. An entry is removed with its exact client text (:func:`unexport_spec`), and several
        entries for one network (``10.0.0.5`` and ``10.0.0.5/32``) are each kept or removed on their own.
        """
        want = {r.access_to: r for r in desired}
        opts = set(self.options)
        entries: list[tuple[Export, tuple[IPNetwork, ...]]] = []
        for exp in current:
            if exp.is_world:
                entries.append((exp, WORLD))
            elif exp.network is not None:
                entries.append((exp, (exp.network,)))
            else:
                log.warning("leaving non-IP export %s %s alone", exp.path, exp.client)
        scope: set[IPNetwork] | None = None if touch is None else set(touch)
        if scope is not None and scope & set(WORLD) and any(exp.is_world for exp, _ in entries):
            scope.update(WORLD)  # changing one half of ``*`` rewrites both halves
        if scope is not None:
            entries = [(exp, keys) for exp, keys in entries if scope & set(keys)]

        def serves(exp: Export, key: IPNetwork) -> bool:
            rule = want.get(key)
            return rule is not None and exp.access_level == rule.access_level and opts <= set(exp.options)

        satisfied: set[IPNetwork] = set()
        for exp, keys in entries:
            if all(serves(exp, k) for k in keys):
                satisfied.update(keys)
        to_remove: list[Export] = []
        for exp, keys in entries:
            if all(serves(exp, k) for k in keys):
                continue
            key = keys[0]
            if not exp.is_world and key in want and key not in satisfied and exp.client == want[key].host_text:
                continue  # the add below re-exports this very client text, which replaces its options
            to_remove.append(exp)
        to_add = [r for key, r in want.items() if key not in satisfied and (scope is None or key in scope)]
        for level in ("rw", "ro"):
            batch = [r for r in to_add if r.access_level == level]
            if batch:
                self.zfs.executor.run(exportfs_add_argv(path, batch, self.options)).check()
        if to_remove:
            self.zfs.executor.run(exportfs_unexport_argv(to_remove)).check()

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """Make exactly ``rules`` the exports of ``dataset`` (see the class docstring for the commands)."""
        desired = normalize_rules(rules, read_only=read_only)
        with self._locks.hold(dataset):
            path = self.path(dataset)
            self._sync(path, desired, self._current(path))

    def _current(self, path: str) -> list[Export]:
        return [e for e in self.all_exports() if e.path == path]

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Put ``rule`` in force for its network: reads ``exportfs -v``, then one ``exportfs -o`` per level
        and one ``exportfs -u`` (other exports of that network, or a ``*`` whose level no longer holds for
        both ``/0`` networks, are unexported); nothing runs when it is already in force.
        """
        (rule,) = normalize_rules([rule])
        with self._locks.hold(dataset):
            path = self.path(dataset)
            current = self._current(path)
            kept = [r for r in rules_from_exports(current, path) if r.access_to != rule.access_to]
            self._sync(path, [*kept, rule], current, touch=(rule.access_to,))

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Unexport every entry serving ``rule.access_to``; nothing runs when it is not exported.

        Removing either ``/0`` network when ``*`` is exported unexports ``*`` and exports the other ``/0``
        network explicitly at the level ``*`` had, so the other address family keeps its access.
        """
        (rule,) = normalize_rules([rule])
        with self._locks.hold(dataset):
            path = self.path(dataset)
            current = self._current(path)
            served = rules_from_exports(current, path)
            if any(r.access_to == rule.access_to for r in served):
                kept = [r for r in served if r.access_to != rule.access_to]
                self._sync(path, kept, current, touch=(rule.access_to,))

    def clear(self, dataset: str) -> None:
        """Unexport every IP client of the dataset's path (one ``exportfs -u``)."""
        with self._locks.hold(dataset):
            path = self.path(dataset)
            self._sync(path, (), self._current(path))
