"""``exportfs`` (nfs-utils): the ``exportfs -v`` parser, validated argv builders, the exportfs-only backend.

``exportfs -v`` prints one entry per (path, client). A path shorter than 14 characters is padded to 14
columns and followed by a TAB and the client on the same line; a longer path is alone on its line and the
client follows on the next line after two TABs. ``<world>`` is the ``*`` client; IPv6 clients print without
brackets (``::1``, ``fe80::/64``) although the command line needs them (``[::1]:/path``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence

import attrs

from pyzfsnas.errors import InvalidName, ParseError
from pyzfsnas.executors.base import Executor, Result
from pyzfsnas.nfs.base import export_path
from pyzfsnas.nfs.rules import WORLD, AccessLevel, AccessRule, IPNetwork, normalize_rules
from pyzfsnas.zfs import ZFS

__all__ = [
    "DEFAULT_OPTIONS",
    "Export",
    "ExportfsNFS",
    "exportfs_add_argv",
    "exportfs_remove_argv",
    "exportfs_spec",
    "parse_exportfs_v",
    "rules_from_exports",
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
    for lineno, line in enumerate(text.splitlines(), 1):
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
    """An exported path must be absolute and free of newline, NUL and carriage return."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidName(f"export path must be absolute: {path!r}")
    if any(c in path for c in "\n\r\0"):
        raise InvalidName(f"newline or NUL in export path {path!r}")
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
) -> list[str]:
    """``exportfs -o LEVEL,OPTIONS CLIENT:PATH...`` for rules that all have the same level."""
    if not rules:
        raise ValueError("exportfs_add_argv needs at least one rule")
    if not all(isinstance(r, AccessRule) for r in rules):
        raise TypeError("exportfs clients come only from AccessRule")
    levels = {r.access_level for r in rules}
    if len(levels) != 1:
        raise ValueError("one exportfs -o command exports one access level")
    opts = ",".join((levels.pop(), *_validate_options(options)))
    return ["exportfs", "-o", opts, *(exportfs_spec(r, path) for r in rules)]


def exportfs_remove_argv(path: str, rules: Sequence[AccessRule]) -> list[str]:
    """``exportfs -u CLIENT:PATH...``."""
    if not rules:
        raise ValueError("exportfs_remove_argv needs at least one rule")
    return ["exportfs", "-u", *(exportfs_spec(r, path) for r in rules)]


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


def _export_key(rule: AccessRule) -> IPNetwork:
    return rule.access_to


class ExportfsNFS:
    """NFS exports made with ``exportfs`` alone, never touching ``sharenfs``.

    ``dataset`` is a dataset name (its mountpoint is looked up through the facade) or an absolute path
    (exported as is, for directories that are not datasets). State is read from ``exportfs -v``. Changes are
    bulk: one ``exportfs -o`` per access level and one ``exportfs -u`` for all removals, and nothing runs when
    the host already matches. Exports made this way live in ``/var/lib/nfs/etab`` only: ``exportfs -r``
    (or a reboot) drops them, so the caller re-applies its rules after such events.
    """

    name = "exportfs"
    supports_ipv6 = True

    def __init__(self, target: ZFS | Executor, *, options: Iterable[str] = DEFAULT_OPTIONS) -> None:
        self.zfs = _as_zfs(target)
        self.options = _validate_options(options)

    def __repr__(self) -> str:
        return f"ExportfsNFS({self.zfs.executor!r})"

    def _run(self, argv: Sequence[str]) -> Result:
        return self.zfs.executor.run(argv).check()

    def path(self, dataset: str) -> str:
        """The exported path: ``dataset`` itself when absolute, else the dataset's mountpoint."""
        return export_path(self.zfs, dataset, validate_export_path)

    def all_exports(self) -> list[Export]:
        """Every export on the host (``exportfs -v``)."""
        return parse_exportfs_v(self._run(["exportfs", "-v"]).stdout)

    def exports(self, dataset: str) -> list[Export]:
        """The exports of ``dataset``'s path, as exportfs prints them."""
        path = self.path(dataset)
        return [e for e in self.all_exports() if e.path == path]

    def rules(self, dataset: str) -> list[AccessRule]:
        """The IP rules in force for ``dataset``, read from ``exportfs -v``."""
        path = self.path(dataset)
        return rules_from_exports(self.all_exports(), path)

    def _sync(self, path: str, desired: Sequence[AccessRule], current: Sequence[Export]) -> None:
        want = {_export_key(r): r for r in desired}
        have: dict[IPNetwork, Export] = {}
        stray: list[Export] = []
        for exp in current:
            if exp.network is not None:
                have[exp.network] = exp
            else:
                stray.append(exp)
        world = [e for e in stray if e.is_world]
        for exp in stray:
            if not exp.is_world:
                log.warning("leaving non-IP export %s %s alone", exp.path, exp.client)
        to_add = [
            r for key, r in want.items()
            if key not in have or have[key].access_level != r.access_level
            or not set(self.options) <= set(have[key].options)
        ]
        to_remove = [AccessRule(net, exp.access_level) for net, exp in have.items() if net not in want]
        for level in ("rw", "ro"):
            batch = [r for r in to_add if r.access_level == level]
            if batch:
                self._run(exportfs_add_argv(path, batch, self.options))
        if to_remove or world:
            # ``*`` (printed ``<world>``) is never something a rule asked for: it is removed too.
            argv = exportfs_remove_argv(path, to_remove) if to_remove else ["exportfs", "-u"]
            self._run([*argv, *(f"*:{path}" for _ in world[:1])])

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """Make exactly ``rules`` the exports of ``dataset`` (see the class docstring for the commands)."""
        desired = normalize_rules(rules, read_only=read_only)
        path = self.path(dataset)
        current = [e for e in self.all_exports() if e.path == path]
        self._sync(path, desired, current)

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Export to ``rule`` (one ``exportfs -o``; re-exporting a client replaces its options)."""
        (rule,) = normalize_rules([rule])
        self._run(exportfs_add_argv(self.path(dataset), [rule], self.options))

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Unexport ``rule.access_to``; nothing runs when it is not exported."""
        (rule,) = normalize_rules([rule])
        path = self.path(dataset)
        if any(e.path == path and e.network == rule.access_to for e in self.all_exports()):
            self._run(exportfs_remove_argv(path, [rule]))

    def clear(self, dataset: str) -> None:
        """Unexport every IP client of the dataset's path (one ``exportfs -u``)."""
        path = self.path(dataset)
        current = [e for e in self.all_exports() if e.path == path]
        self._sync(path, (), current)
