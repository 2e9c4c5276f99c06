"""nfs-ganesha: NFS exports written as ``EXPORT`` blocks in a config file the library owns, reloaded with SIGHUP.

The library owns one whole file (``config_path``, say ``/etc/ganesha/pyzfsnas.conf``); the main
``ganesha.conf`` pulls it in with ``%include "/etc/ganesha/pyzfsnas.conf"`` (:func:`include_directive`).
Every change reads the file, rewrites it whole and makes ganesha re-read its configuration:

* read: the executor's ``read_file`` (a missing file is an empty set of exports);
* write and reload, as one command (:func:`~pyzfsnas.executors.base.install_file`): the new text on stdin
  into a unique temporary file next to ``PATH``, renamed over it (so ganesha never reads a half-written
  file), then ``kill -s HUP`` of the pid in ganesha's pidfile
  (:func:`~pyzfsnas.commands.signal_pidfile`) or of the pid a callable gave. Ganesha adds, changes and
  removes exports on SIGHUP (measured: visible to a client within ~20 ms).

A change that writes therefore takes two round trips (read, then write-and-reload), where it took five
commands (``cat``, ``tee``, ``mv``, ``cat``, ``kill``) in 0.1 and four executor operations after the
executors gained file operations. Without a pidfile the write is the executor's atomic ``write_file``
(SFTP over SSH, the OS locally).

All of it goes through the executor, so it works the same over SSH. Nothing is written (and ganesha is not
signalled) when the file already says what was asked.

One ``EXPORT`` block per exported path::

    EXPORT {
        Export_Id = 1000;
        Path = "/tank/share";
        Pseudo = "/tank/share";
        Protocols = 3, 4;
        Transports = TCP;
        Access_Type = None;
        Squash = No_Root_Squash;
        SecType = sys;
        FSAL {
            Name = VFS;
        }
        CLIENT {
            Clients = 10.0.0.0/24, ::1;
            Access_Type = RW;
        }
        CLIENT {
            Clients = 192.0.2.7;
            Access_Type = RO;
        }
    }

``Access_Type = None`` on the export means a client that no ``CLIENT`` block lists gets nothing (NFSv3
``MNT3ERR_ACCES``, NFSv4 ``NFS4ERR_NOENT``). ``Pseudo`` equals ``Path``, so ``host:/tank/share`` mounts with
NFSv3 and NFSv4 alike. Ganesha gives a client the first ``CLIENT`` block that matches it, and the ``RW`` block
comes first: a host inside an ``rw`` network that also has an ``ro`` rule of its own gets ``rw``.

Clients are written in the forms ganesha's config lexer accepts (checked against nfs-ganesha 4.3), which
are narrower than :class:`~pyzfsnas.nfs.rules.AccessRule`:

* a bare ``0.0.0.0`` means *every* client, IPv4 and IPv6, to ganesha, so the host rule ``0.0.0.0`` is
  written ``0.0.0.0/32``; other single hosts are written bare (``10.0.0.5``, ``::1``);
* a ``/0`` prefix is a syntax error, so ``0.0.0.0/0`` is written as its halves ``0.0.0.0/1, 128.0.0.0/1``
  and ``::/0`` as ``::/1, 8000::/1`` (read back as the ``/0`` rule when both halves have one level);
* IPv6 prefixes of three digits (``/100`` to ``/127``) are a syntax error: such a rule raises
  :class:`~pyzfsnas.errors.UnsupportedOperation` before anything runs.

``Export_Id`` (1..65535, it is part of every NFS file handle) is stable per path: a block keeps its id for as
long as it exists; a new path gets one more than the highest id in the file (at least ``export_id_base``), so
an id that was just freed is not handed to another path while clients may still hold its handles.

The parser (:func:`parse_exports`) reads back only what :func:`format_exports` writes, whitespace and
comments aside: a foreign block, an unknown key or a changed fixed value (``Squash = Root_Squash``,
``Access_Type = RW`` on the export, ...) raises :class:`~pyzfsnas.errors.ParseError` instead of being
silently rewritten or misreported.

Concurrent changes through one :class:`GaneshaNFS` are serialised; two processes changing the same file at
the same time are not (the last writer wins), as with every read-modify-write backend.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence

import attrs

from pyzfsnas.commands import NOT_A_PID, pidfile_pid, signal_pidfile, signal_process
from pyzfsnas.errors import (
    CommandTimeout,
    ConnectionFailed,
    InvalidName,
    ParseError,
    PathNotFound,
    UnsupportedOperation,
    ZFSError,
)
from pyzfsnas.executors.base import Executor, install_file
from pyzfsnas.nfs.base import export_path
from pyzfsnas.nfs.exportfs import validate_export_path
from pyzfsnas.nfs.rules import AccessLevel, AccessRule, InvalidAccessRule, IPNetwork, normalize_rules
from pyzfsnas.result import Command, Result
from pyzfsnas.zfs import ZFS

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_EXPORT_ID_BASE",
    "DEFAULT_PIDFILE",
    "MAX_EXPORT_ID",
    "GaneshaExport",
    "GaneshaNFS",
    "check_rules",
    "format_exports",
    "ganesha_clients",
    "include_directive",
    "parse_exports",
    "validate_ganesha_path",
]

log = logging.getLogger("pyzfsnas")

#: Where the managed export file lives unless told otherwise.
DEFAULT_CONFIG_PATH: str = "/etc/ganesha/pyzfsnas.conf"
#: Debian's ``ganesha.nfsd`` pidfile.
DEFAULT_PIDFILE: str = "/var/run/ganesha/ganesha.pid"
#: First ``Export_Id`` handed out: above the small ids hand-written exports usually take.
DEFAULT_EXPORT_ID_BASE: int = 1000
#: Ganesha's export ids are 16-bit; 0 is its NFSv4 pseudo root.
MAX_EXPORT_ID: int = 65535

HEADER = "# Managed by pyzfsnas (GaneshaNFS): rewritten whole on every change; do not edit.\n"

#: Export keys whose value is fixed, with the value written (compared case-insensitively when read).
_FIXED: dict[str, tuple[str, ...]] = {
    "protocols": ("3", "4"),
    "transports": ("TCP",),
    "access_type": ("None",),
    "squash": ("No_Root_Squash",),
    "sectype": ("sys",),
}
_FIXED_NAMES = {"protocols": "Protocols", "transports": "Transports", "access_type": "Access_Type",
                "squash": "Squash", "sectype": "SecType"}
_LEVEL_TEXT: dict[AccessLevel, str] = {"rw": "RW", "ro": "RO"}

#: Characters a path may not contain: ganesha's quoted strings have no escapes, and control characters
#: (newline included) would end or corrupt the line.
_BAD_PATH_CHARS = re.compile(r'["\\\x00-\x1f\x7f]')


def validate_ganesha_path(path: str) -> str:
    """An absolute path ganesha can be given in double quotes; ``/`` is refused (it is the NFSv4 pseudo root).

    Raises :class:`~pyzfsnas.errors.InvalidName` for a relative path, ``/``, a double quote, a backslash or a
    control character. Trailing slashes are dropped.
    """
    path = validate_export_path(path)
    if path == "/":
        raise InvalidName("ganesha cannot export / (its Pseudo would be the NFSv4 pseudo root)")
    if _BAD_PATH_CHARS.search(path):
        raise InvalidName(f"ganesha export path may not contain '\"', '\\' or control characters: {path!r}")
    return path


_INCLUDE_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")


def include_directive(config_path: str) -> str:
    """The line the main ``ganesha.conf`` needs to read the managed file: ``%include "PATH"``.

    Ganesha reads an include path made of letters, digits, ``.``, ``_`` and ``-`` only; any other
    character raises :class:`~pyzfsnas.errors.InvalidName`.
    """
    path = validate_ganesha_path(config_path)
    if not _INCLUDE_PATH.fullmatch(path):
        raise InvalidName(f"ganesha cannot %include a path with characters other than [A-Za-z0-9._-/]: {path!r}")
    return f'%include "{path}"'


@attrs.frozen
class GaneshaExport:
    """One ``EXPORT`` block: its ``export_id``, ``path``, ``pseudo`` path and normalised ``rules``."""

    export_id: int
    path: str
    pseudo: str
    rules: tuple[AccessRule, ...] = attrs.field(converter=normalize_rules, default=())

    def with_rules(self, rules: Iterable[AccessRule]) -> GaneshaExport:
        """The same export with another rule set."""
        return attrs.evolve(self, rules=tuple(rules))


#: ``/0`` networks, which ganesha cannot parse, as the two ``/1`` halves it can.
_HALVES: dict[IPNetwork, tuple[IPNetwork, IPNetwork]] = {
    ipaddress.IPv4Network("0.0.0.0/0"): (ipaddress.IPv4Network("0.0.0.0/1"), ipaddress.IPv4Network("128.0.0.0/1")),
    ipaddress.IPv6Network("::/0"): (ipaddress.IPv6Network("::/1"), ipaddress.IPv6Network("8000::/1")),
}
#: Longest CIDR prefix ganesha 4.3's lexer reads (two digits); longer IPv6 prefixes are a syntax error.
_MAX_PREFIX = 99


def ganesha_clients(rule: AccessRule) -> list[str]:
    """The ``Clients`` entries meaning exactly ``rule`` to ganesha (see the module docstring).

    Raises :class:`~pyzfsnas.errors.UnsupportedOperation` for an IPv6 prefix of 100 to 127 bits.
    """
    net = rule.access_to
    if net in _HALVES:
        return [half.with_prefixlen for half in _HALVES[net]]
    if rule.is_host and int(net.network_address) == 0:
        if net.version == 6:
            # Bare "::" may mean "every client" to ganesha as bare "0.0.0.0" does, and "::/128" does not lex;
            # the unspecified address is never a client's source address anyway.
            raise UnsupportedOperation(f"rule {rule}: the IPv6 unspecified address cannot be written for ganesha")
        return [net.with_prefixlen]
    if rule.is_host:
        return [rule.host_text]
    if net.prefixlen > _MAX_PREFIX:
        raise UnsupportedOperation(
            f"rule {rule}: ganesha cannot parse an IPv6 prefix longer than /{_MAX_PREFIX} "
            "(use single addresses or a shorter prefix)"
        )
    return [net.with_prefixlen]


def check_rules(rules: Iterable[AccessRule]) -> None:
    """Raise :class:`~pyzfsnas.errors.UnsupportedOperation` if a rule cannot be written for ganesha."""
    for rule in rules:
        ganesha_clients(rule)


def _halves_only(nets: set[IPNetwork]) -> bool:
    """True when ``nets`` is exactly the ``/1`` halves of one family, or of both: how a ``/0`` is written."""
    families = [set(halves) for halves in _HALVES.values()]
    return bool(nets) and nets in (families[0], families[1], families[0] | families[1])


def _merge_halves(rules: list[AccessRule]) -> list[AccessRule]:
    """Read one CLIENT block: a block holding exactly the ``/1`` halves of a family is that ``/0`` rule.

    The writer gives each ``/0`` rule a block of its own and never lets a block of explicit rules hold
    exactly such halves, so an explicit ``0.0.0.0/1`` rule is never read back as ``/0`` (which would make
    ``remove`` of that rule a silent no-op while everyone keeps access).
    """
    if not _halves_only({r.access_to for r in rules}):
        return rules
    level = rules[0].access_level
    return [AccessRule(whole, level) for whole, halves in _HALVES.items() if halves[0] in {r.access_to for r in rules}]


def _client_blocks(rules: Sequence[AccessRule], level: AccessLevel) -> list[list[str]]:
    """The ``Clients`` lists of the CLIENT blocks for ``rules`` at ``level`` (see :func:`_merge_halves`)."""
    mine = [r for r in rules if r.access_level == level]
    blocks = [ganesha_clients(r) for r in mine if r.access_to in _HALVES]
    explicit = [r for r in mine if r.access_to not in _HALVES]
    if _halves_only({r.access_to for r in explicit}):
        blocks += [ganesha_clients(r) for r in explicit]  # one block each: never mistaken for a /0
    elif explicit:
        blocks.append([text for r in explicit for text in ganesha_clients(r)])
    return blocks


def _format_block(export: GaneshaExport) -> str:
    lines = [
        "EXPORT {",
        f"    Export_Id = {export.export_id};",
        f'    Path = "{validate_ganesha_path(export.path)}";',
        f'    Pseudo = "{validate_ganesha_path(export.pseudo)}";',
    ]
    lines += [f"    {_FIXED_NAMES[key]} = {', '.join(values)};" for key, values in _FIXED.items()]
    lines += ["    FSAL {", "        Name = VFS;", "    }"]
    levels: tuple[AccessLevel, AccessLevel] = ("rw", "ro")  # ganesha uses the first match: rw first
    for level in levels:
        for clients in _client_blocks(export.rules, level):
            lines += [
                "    CLIENT {",
                f"        Clients = {', '.join(clients)};",
                f"        Access_Type = {_LEVEL_TEXT[level]};",
                "    }",
            ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def format_exports(exports: Iterable[GaneshaExport]) -> str:
    """The managed file for ``exports``: a header comment, then one block per export with rules, by id.

    An export without rules is left out (empty set: not exported). Raises ``ValueError`` when two exports
    share a path, a pseudo path or an id, or an id is out of 1..65535.
    """
    kept = sorted((e for e in exports if e.rules), key=lambda e: e.export_id)
    for attr in ("export_id", "path", "pseudo"):
        values = [getattr(e, attr) for e in kept]
        if len(values) != len(set(values)):
            raise ValueError(f"two ganesha exports share a {attr}")
    for e in kept:
        if not 1 <= e.export_id <= MAX_EXPORT_ID:
            raise ValueError(f"Export_Id {e.export_id} out of range 1..{MAX_EXPORT_ID}")
    return HEADER + "".join(_format_block(e) for e in kept)


# --- parser -------------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r'(?P<space>[ \t\r]+)|(?P<newline>\n)|(?P<comment>#[^\n]*)|(?P<string>"[^"\n]*")'
    r"|(?P<punct>[{}=;,])|(?P<word>[A-Za-z0-9_./:-]+)"
)


@attrs.frozen
class _Token:
    kind: str  # "string", "word" or "punct"
    text: str
    lineno: int


def _tokenize(text: str) -> list[_Token]:
    lines = text.split("\n")
    tokens: list[_Token] = []
    pos, lineno = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            line = lines[lineno - 1] if lineno <= len(lines) else ""
            raise ParseError(f"ganesha config: unexpected character {text[pos]!r}", line=line, lineno=lineno)
        kind = m.lastgroup or ""
        if kind == "newline":
            lineno += 1
        elif kind == "string":
            tokens.append(_Token(kind, m.group()[1:-1], lineno))
        elif kind in ("punct", "word"):
            tokens.append(_Token(kind, m.group(), lineno))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens of the blocks :func:`format_exports` writes."""

    def __init__(self, text: str) -> None:
        self.lines = text.split("\n")
        self.tokens = _tokenize(text)
        self.pos = 0

    def error(self, message: str, token: _Token | None = None) -> ParseError:
        if token is None:
            token = self.tokens[self.pos] if self.pos < len(self.tokens) else None
        if token is None:
            return ParseError(f"ganesha config: {message} (at end of file)")
        line = self.lines[token.lineno - 1] if token.lineno <= len(self.lines) else ""
        return ParseError(f"ganesha config: {message}", line=line, lineno=token.lineno)

    def peek(self) -> _Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error(f"expected {what}")
        self.pos += 1
        return token

    def expect(self, punct: str) -> _Token:
        token = self.next(repr(punct))
        if token.kind != "punct" or token.text != punct:
            raise self.error(f"expected {punct!r}, got {token.text!r}", token)
        return token

    def word(self, what: str) -> _Token:
        token = self.next(what)
        if token.kind != "word":
            raise self.error(f"expected {what}, got {token.text!r}", token)
        return token

    def values(self) -> tuple[list[str], _Token]:
        """``value (, value)* ;`` after the ``=``; returns the values and the first value's token."""
        first = self.next("a value")
        if first.kind == "punct":
            raise self.error(f"expected a value, got {first.text!r}", first)
        values = [first.text]
        while True:
            token = self.next("',' or ';'")
            if token.kind == "punct" and token.text == ";":
                return values, first
            if token.kind != "punct" or token.text != ",":
                raise self.error(f"expected ',' or ';', got {token.text!r}", token)
            item = self.next("a value")
            if item.kind == "punct":
                raise self.error(f"expected a value, got {item.text!r}", item)
            values.append(item.text)

    def parse(self) -> list[GaneshaExport]:
        exports: list[GaneshaExport] = []
        seen: dict[str, set[object]] = {"export_id": set(), "path": set(), "pseudo": set()}
        while self.peek() is not None:
            start = self.word("EXPORT")
            if start.text.upper() != "EXPORT":
                raise self.error(f"only EXPORT blocks are expected, got {start.text!r}", start)
            export = self.export_block(start)
            for attr, values in seen.items():
                value = getattr(export, attr)
                if value in values:
                    raise self.error(f"duplicate {attr} {value!r}", start)
                values.add(value)
            exports.append(export)
        return exports

    def export_block(self, start: _Token) -> GaneshaExport:
        self.expect("{")
        found: dict[str, tuple[list[str], _Token]] = {}
        rules: list[AccessRule] = []
        fsal = False
        while True:
            token = self.next("a key or '}'")
            if token.kind == "punct" and token.text == "}":
                break
            if token.kind != "word":
                raise self.error(f"expected a key, got {token.text!r}", token)
            key = token.text.lower()
            if key == "fsal":
                if fsal:
                    raise self.error("duplicate FSAL block", token)
                self.fsal_block()
                fsal = True
                continue
            if key == "client":
                rules.extend(self.client_block(token))
                continue
            if key not in _FIXED and key not in ("export_id", "path", "pseudo"):
                raise self.error(f"unexpected key {token.text!r} in EXPORT", token)
            if key in found:
                raise self.error(f"duplicate key {token.text!r}", token)
            self.expect("=")
            found[key] = self.values()
        for key in ("export_id", "path", "pseudo", *_FIXED):
            if key not in found:
                raise self.error(f"EXPORT without {key}", start)
        if not fsal:
            raise self.error("EXPORT without FSAL { Name = VFS; }", start)
        for key, want in _FIXED.items():
            got, token = found[key]
            if [v.lower() for v in got] != [w.lower() for w in want]:
                raise self.error(f"{_FIXED_NAMES[key]} must be {', '.join(want)}, got {', '.join(got)}", token)
        id_values, id_token = found["export_id"]
        if len(id_values) != 1 or not id_values[0].isdigit() or not 1 <= int(id_values[0]) <= MAX_EXPORT_ID:
            raise self.error(f"Export_Id must be an integer in 1..{MAX_EXPORT_ID}", id_token)
        paths = {}
        for key in ("path", "pseudo"):
            values, token = found[key]
            try:
                if len(values) != 1:
                    raise InvalidName("one path expected")
                paths[key] = validate_ganesha_path(values[0])
            except InvalidName as exc:
                raise self.error(f"bad {key}: {exc}", token) from None
        return GaneshaExport(int(id_values[0]), paths["path"], paths["pseudo"], tuple(rules))

    def fsal_block(self) -> None:
        self.expect("{")
        key = self.word("Name")
        if key.text.lower() != "name":
            raise self.error(f"unexpected key {key.text!r} in FSAL", key)
        self.expect("=")
        values, token = self.values()
        if [v.lower() for v in values] != ["vfs"]:
            raise self.error(f"FSAL Name must be VFS, got {', '.join(values)}", token)
        self.expect("}")

    def client_block(self, start: _Token) -> list[AccessRule]:
        self.expect("{")
        found: dict[str, tuple[list[str], _Token]] = {}
        while True:
            token = self.next("a key or '}'")
            if token.kind == "punct" and token.text == "}":
                break
            key = token.text.lower()
            if token.kind != "word" or key not in ("clients", "access_type"):
                raise self.error(f"unexpected key {token.text!r} in CLIENT", token)
            if key in found:
                raise self.error(f"duplicate key {token.text!r}", token)
            self.expect("=")
            found[key] = self.values()
        if "clients" not in found or "access_type" not in found:
            raise self.error("CLIENT needs Clients and Access_Type", start)
        levels, token = found["access_type"]
        level_text = levels[0].upper() if len(levels) == 1 else ""
        if level_text not in ("RW", "RO"):
            raise self.error(f"CLIENT Access_Type must be RW or RO, got {', '.join(levels)}", token)
        level: AccessLevel = "rw" if level_text == "RW" else "ro"
        clients, token = found["clients"]
        if "0.0.0.0" in clients:  # noqa: S104 - a client pattern, not an address to bind
            raise self.error("bare 0.0.0.0 means every client to ganesha; pyzfsnas writes 0.0.0.0/32", token)
        try:
            rules = [AccessRule.parse(client, level) for client in clients]
        except InvalidAccessRule as exc:
            raise self.error(f"bad client: {exc.reason} ({exc.access_to!r})", token) from None
        return _merge_halves(rules)


def parse_exports(text: str) -> list[GaneshaExport]:
    """The exports of a managed file, in file order; :class:`~pyzfsnas.errors.ParseError` on anything else.

    Keys and fixed values are case-insensitive (as in ganesha); whitespace and ``#`` comments are free.
    Duplicate networks within one block are merged, ``rw`` winning (:func:`normalize_rules`).
    """
    return _Parser(text).parse()


# --- the backend --------------------------------------------------------------------------------------------

PidSource = str | Callable[[], int] | None


def _as_zfs(target: ZFS | Executor) -> ZFS:
    return target if isinstance(target, ZFS) else ZFS(target)


class GaneshaNFS:
    """NFS exports served by nfs-ganesha, kept in a config file the library owns (see the module docstring).

    ``target`` is a :class:`~pyzfsnas.zfs.ZFS` facade or an executor (a facade is made around it): datasets
    are given by name (their mountpoint is exported) or as an absolute path (exported as is).
    ``config_path`` is the managed file, included from the main ``ganesha.conf``. ``pidfile`` says how to
    find the ganesha to reload: a pidfile path read on the host, a callable returning the pid, or None to
    only write the file (ganesha picks it up when it starts or is reloaded by someone else).
    ``export_id_base`` is the lowest ``Export_Id`` handed out. ``timeout`` bounds every command.
    """

    #: The facade whose executor runs the backend's commands.
    zfs: ZFS
    #: The ``EXPORT`` blocks file this backend owns.
    config_path: str
    #: ganesha's pid file (or a callable returning the pid), read to send ``SIGHUP``.
    pidfile: PidSource
    #: First ``Export_Id`` this backend assigns.
    export_id_base: int
    #: Time limit of each command, in seconds (``None``: the executor's).
    timeout: float | None

    name: str = "ganesha"

    def ipv6_support(self) -> bool:
        """Always: IPv6 rules are expressed as they are."""
        return True

    def __init__(
        self,
        target: ZFS | Executor,
        *,
        config_path: str = DEFAULT_CONFIG_PATH,
        pidfile: PidSource = DEFAULT_PIDFILE,
        export_id_base: int = DEFAULT_EXPORT_ID_BASE,
        timeout: float | None = 30.0,
    ) -> None:
        if not 1 <= export_id_base <= MAX_EXPORT_ID:
            raise ValueError(f"export_id_base must be in 1..{MAX_EXPORT_ID}")
        if isinstance(pidfile, str):
            validate_export_path(pidfile)
        self.zfs = _as_zfs(target)
        self.config_path = validate_ganesha_path(config_path)
        self.pidfile = pidfile
        self.export_id_base = export_id_base
        self.timeout = timeout
        self._lock = threading.RLock()
        #: The managed file says more than ganesha was told: a reload failed and the file could not be put
        #: back. The next change (even one that finds the file already right) reloads first.
        self._reload_pending = False

    def __repr__(self) -> str:
        return f"GaneshaNFS({self.zfs.executor!r}, config_path={self.config_path!r})"

    # -- paths and state ------------------------------------------------------------------------------------

    def path(self, dataset: str) -> str:
        """The exported path: ``dataset`` itself when absolute, else the dataset's mountpoint."""
        return export_path(self.zfs, dataset, validate_ganesha_path)

    def read_config(self) -> str:
        """The managed file's text (the executor's ``read_file``); empty when the file does not exist yet."""
        try:
            return self.zfs.executor.read_file(self.config_path).decode("utf-8", "replace")
        except PathNotFound:
            return ""

    def exports(self) -> list[GaneshaExport]:
        """Every export in the managed file (:func:`parse_exports`)."""
        return parse_exports(self.read_config())

    def export(self, dataset: str) -> GaneshaExport | None:
        """The block of ``dataset``'s path, or None when it is not exported."""
        path = self.path(dataset)
        return next((e for e in self.exports() if e.path == path), None)

    def rules(self, dataset: str) -> list[AccessRule]:
        """The rules in the dataset's block, read back from the host (sorted)."""
        found = self.export(dataset)
        return list(found.rules) if found else []

    # -- writing --------------------------------------------------------------------------------------------

    def write_config(self, text: str) -> None:
        """Replace the managed file with ``text`` atomically (the executor's ``write_file``: a temporary file in
        the same directory renamed over it; SFTP over SSH, the OS locally, one command behind sudo).

        Raises :class:`~pyzfsnas.errors.CommandFailed` and subclasses, or ``CommandTimeout``; the file is then
        unchanged.
        """
        self.zfs.executor.write_file(self.config_path, text)

    def pid(self) -> int:
        """The pid of the ganesha to reload: from the callable, or the pidfile read on the host."""
        if self.pidfile is None:
            raise UnsupportedOperation("no pidfile or pid getter configured: ganesha cannot be reloaded")
        if callable(self.pidfile):
            pid = self.pidfile()
            if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
                raise ParseError(f"not a process id: {pid!r}")
            return pid
        text = self.zfs.executor.read_file(self.pidfile).decode("utf-8", "replace")
        found = pidfile_pid(text)  # the rule the reload command applies on the host
        if found is None:
            raise ParseError(f"ganesha pidfile {self.pidfile} does not hold a process id", line=text, lineno=1)
        return found

    def reload(self) -> None:
        """Send ganesha ``SIGHUP``: it re-reads its configuration and adds, changes and removes exports.

        One command: :func:`~pyzfsnas.commands.signal_pidfile` reads the pidfile and signals on the host
        (or ``kill`` of the callable's pid). The reload itself is asynchronous (it took well under a second
        on a small config); a no-op when ``pidfile`` is None. A pidfile that holds no pid raises
        :class:`~pyzfsnas.errors.ParseError`.
        """
        command = self._reload_command()
        if command is None:
            log.debug("ganesha: no pidfile configured, %s written but not reloaded", self.config_path)
            return
        self._check_reload(self.zfs.executor.run(command, timeout=self.timeout))

    def _reload_command(self) -> Command | None:
        """What reloads ganesha: signal the pidfile's pid, or the callable's (asked now), or nothing."""
        if self.pidfile is None:
            return None
        if callable(self.pidfile):
            return signal_process(self.pid(), "HUP")
        return signal_pidfile(self.pidfile, "HUP")

    def _check_reload(self, result: Result) -> None:
        if result.returncode == NOT_A_PID and isinstance(self.pidfile, str):
            raise ParseError(f"ganesha pidfile {self.pidfile} does not hold a process id")
        result.check()

    def _allocate_id(self, exports: Sequence[GaneshaExport]) -> int:
        used = {e.export_id for e in exports}
        candidate = max([self.export_id_base - 1, *used]) + 1
        if candidate <= MAX_EXPORT_ID:
            return candidate
        for candidate in range(self.export_id_base, MAX_EXPORT_ID + 1):
            if candidate not in used:
                return candidate
        raise UnsupportedOperation(f"no free ganesha Export_Id in {self.export_id_base}..{MAX_EXPORT_ID}")

    @staticmethod
    def _replace(exports: list[GaneshaExport], index: int | None, new: GaneshaExport) -> Iterator[GaneshaExport]:
        for i, e in enumerate(exports):
            yield new if i == index else e
        if index is None:
            yield new

    def _update(self, dataset: str, change: Callable[[tuple[AccessRule, ...]], Iterable[AccessRule]]) -> None:
        """Read the file, give the dataset's block the rules ``change`` returns, write and reload if changed."""
        path = self.path(dataset)
        with self._lock:
            text = self.read_config()
            exports = parse_exports(text)
            index = next((i for i, e in enumerate(exports) if e.path == path), None)
            current = exports[index].rules if index is not None else ()
            wanted = normalize_rules(change(current))
            if wanted != current:
                if index is not None:
                    new = exports[index].with_rules(wanted)
                else:
                    new = GaneshaExport(self._allocate_id(exports), path, path, wanted)
                new_text = format_exports(self._replace(exports, index, new))
                if new_text != text:
                    self._write_and_reload(new_text, previous=text)
                    return
            if self._reload_pending:  # the file is right, but ganesha may not have read it yet
                self.reload()
                self._reload_pending = False

    def _write_and_reload(self, text: str, *, previous: str) -> None:
        """Write ``text`` and reload ganesha in one command; if the reload fails, put ``previous`` back, raise.

        Without that, a failed reload would leave a file that already says what was asked: a retry would
        find nothing to change and return, and (say) a revoked client would keep its access. With the old
        file back, a retry writes and reloads again. If even that write fails, the next call reloads. When
        the file was not replaced at all, the error is raised as is (nothing changed). A timeout or lost
        connection may have left either file: it is handled like a failed reload.
        """
        then = self._reload_command()
        if then is None:
            self.write_config(text)
            return
        try:
            result = install_file(self.zfs.executor, self.config_path, text, then=then, timeout=self.timeout)
        except (CommandTimeout, ConnectionFailed):
            self._put_back(previous)
            raise
        try:
            self._check_reload(result)
        except ZFSError:
            self._put_back(previous)
            raise
        self._reload_pending = False

    def _put_back(self, previous: str) -> None:
        """After a reload that failed (or may have): restore ``previous``, else reload on the next call.

        A restored file is what ganesha last read, unless a reload was already pending: that stays so.
        """
        try:
            self.write_config(previous)
        except ZFSError as exc:
            self._reload_pending = True
            log.warning("ganesha: reload failed and %s could not be restored (%s): the next change reloads",
                        self.config_path, exc)

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """Make exactly ``rules`` the clients of the dataset's block (no block when empty)."""
        wanted = normalize_rules(rules, read_only=read_only)
        check_rules(wanted)
        self._update(dataset, lambda current: wanted)

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Put ``rule`` in force, replacing the level of a rule for the same network."""
        (rule,) = normalize_rules([rule])
        check_rules([rule])
        self._update(dataset, lambda current: [*(r for r in current if r.access_to != rule.access_to), rule])

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Drop the rule for ``rule.access_to``; nothing is written when there is none."""
        (rule,) = normalize_rules([rule])
        self._update(dataset, lambda current: [r for r in current if r.access_to != rule.access_to])

    def clear(self, dataset: str) -> None:
        """Remove the dataset's block."""
        self._update(dataset, lambda current: ())
