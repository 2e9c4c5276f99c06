"""The fake ``exportfs`` (nfs-utils 2.6): the etab, option parsing and the real output layouts.

Order matters to anyone diffing output, so the etab is kept the way nfs-utils keeps it: each run reads the etab
into per-client-type hash lists (``export_add``: a new hash bucket goes to the list head, a known one after its
last entry), changes it, and writes it back in list order; listings print that order.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from pyzfsnas.testing.fake.etab import ANON, FQDN, NETGROUP, SUBNET, WILDCARD, Export, ExportTable, add
from pyzfsnas.testing.fake.host import FakeHost
from pyzfsnas.testing.fake.output import Out

__all__ = ["Export", "ExportTable", "run_exportfs"]

_FLAGS = {"secure", "insecure", "sync", "async", "wdelay", "no_wdelay", "hide", "nohide", "crossmnt",
          "nocrossmnt", "subtree_check", "no_subtree_check", "auth_nlm", "no_auth_nlm", "secure_locks",
          "insecure_locks", "root_squash", "no_root_squash", "all_squash", "no_all_squash", "acl", "no_acl",
          "pnfs", "no_pnfs", "rw", "ro", "nordirplus", "security_label", "mp", "mountpoint"}
_VALUED = {"fsid", "anonuid", "anongid", "sec", "refer", "replicas", "mountpoint", "mp"}


def parse_client(text: str) -> tuple[str, int] | None:
    """(printed client, type) or None when unresolvable."""
    if text == "*":
        return "*", ANON
    if text.startswith("@"):
        return text, NETGROUP
    if "/" in text:
        return text, SUBNET
    if "*" in text or "?" in text:
        return text, WILDCARD
    try:
        return str(ipaddress.ip_address(text)), FQDN
    except ValueError:
        pass
    if text == "localhost":
        return "localhost", FQDN
    return None


def split_target(arg: str) -> tuple[str, str] | None:
    """``CLIENT:/path`` (IPv6 bracketed) → (client, path), or None for invalid syntax."""
    if arg.startswith("["):
        end = arg.find("]")
        if end < 0:
            return None
        client, rest = arg[1:end], arg[end + 1:]
        if rest.startswith("/") and ":" in rest:
            prefix, _, rest2 = rest.partition(":")
            client, rest = client + prefix, ":" + rest2
        if not rest.startswith(":"):
            return None
        return client, rest[1:]
    client, sep, path = arg.partition(":")
    if not sep:
        return "*", arg
    return client, path


def parse_options(text: str) -> dict[str, str] | str:
    """exportfs option list → dict, or the unknown keyword."""
    out: dict[str, str] = {"_mode": "ro"}
    for item in filter(None, text.split(",")):
        key, eq, value = item.partition("=")
        if (eq and key not in _VALUED) or (not eq and key not in _FLAGS):
            return item
        if key in ("rw", "ro"):
            out["_mode"] = key
            continue
        for a, b in (("sync", "async"), ("wdelay", "no_wdelay"), ("hide", "nohide"),
                     ("subtree_check", "no_subtree_check"), ("root_squash", "no_root_squash"),
                     ("all_squash", "no_all_squash"), ("secure", "insecure"), ("acl", "no_acl"),
                     ("crossmnt", "nocrossmnt"), ("secure_locks", "insecure_locks")):
            if key in (a, b):
                out.pop(a, None)
                out.pop(b, None)
        out[key] = value
    return out


def export(host_paths: set[str], table: ExportTable, opts: str, target: str) -> tuple[int, str]:
    """``exportfs -o OPTS TARGET``: returns (status, stderr)."""
    parts = split_target(target)
    if parts is None or not parts[1].startswith("/"):
        bad = target.split(":", 1)[0]
        return 1, f"exportfs: Invalid export syntax: {bad}\n"
    client_text, path = parts
    options = parse_options(opts)
    if isinstance(options, str):
        return 1, f'exportfs: command line:0: unknown keyword "{options}"\n\n'
    client = parse_client(client_text)
    if client is None:
        return 0, f"exportfs: Failed to resolve {client_text}\n"
    path = path.rstrip("/") or "/"
    lists = table.load()
    for lst in lists:
        for e in lst:
            if e.path == path and e.client == client[0]:
                e.options = options
                break
        else:
            continue
        break
    else:
        add(lists, Export(path, client[0], client[1], options))
    table.store(lists)
    if path not in host_paths:
        return 1, f"exportfs: Failed to stat {path}: No such file or directory\n"
    return 0, ""


def unexport(table: ExportTable, target: str) -> tuple[int, str]:
    """``exportfs -u TARGET``."""
    parts = split_target(target)
    if parts is None:
        return 1, f"exportfs: Invalid export syntax: {target.split(':', 1)[0]}\n"
    client = parse_client(parts[0])
    path = parts[1].rstrip("/") or "/"
    lists = table.load()
    for lst in lists:
        for e in lst:
            if client and e.path == path and e.client == client[0]:
                lst.remove(e)
                table.store(lists)
                return 0, ""
    return 1, f"exportfs: Could not find '{target}' to unexport.\n"


def resync(table: ExportTable, files: Iterable[tuple[str, str, str]]) -> None:
    """``exportfs -r``: the etab becomes exactly the exports files' entries."""
    lists: list[list[Export]] = [[] for _ in range(5)]
    for path, client_text, opts in files:
        client = parse_client(client_text)
        options = parse_options(opts)
        if client is None or isinstance(options, str):
            continue
        add(lists, Export(path, client[0], client[1], options))
    table.store(lists)


def dump(table: ExportTable, *, verbose: bool, export_format: bool) -> str:
    """``exportfs``, ``exportfs -v`` and ``exportfs -s`` listings."""
    out = []
    for lst in table.load():
        for e in lst:
            name = ("*" if export_format else "<world>") if e.ctype == ANON else e.client
            if export_format:
                out.append(f"{e.path}  {name}({e.flags()})\n")
                continue
            opts = f"({e.flags()})" if verbose else ""
            if len(e.path) > 14:
                out.append(f"{e.path}\n\t\t{name}{opts}\n")
            else:
                out.append(f"{e.path:<14}\t{name}{opts}\n")
    return "".join(out)


def run_exportfs(host: object, args: list[str]) -> Out:
    """Run ``exportfs ARGS`` on a :class:`FakeHost` (caller holds its lock)."""
    assert isinstance(host, FakeHost)
    table = host.exports
    flags: set[str] = set()
    opts = ""
    targets: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-o":
            if i + 1 >= len(args):
                return Out(1, "", "exportfs: option requires an argument -- 'o'\n")
            opts = args[i + 1]
            i += 2
            continue
        if a.startswith("-o"):
            opts = a[2:]
        elif a.startswith("-") and len(a) > 1:
            for ch in a[1:]:
                if ch not in "aruvsfio":
                    return Out(1, "", f"exportfs: invalid option -- '{ch}'\n")
                flags.add(ch)
        else:
            targets.append(a)
        i += 1
    status, err = 0, ""
    if "u" in flags:
        if "a" in flags:
            table.store([[] for _ in range(5)])
        for t in targets:
            rc, e = unexport(table, t)
            status, err = max(status, rc), err + e
        return Out(status, "", err)
    if "r" in flags or ("a" in flags and not targets):
        resync(table, host.export_files())
        return Out()
    if targets:
        paths = host.existing_paths()
        for t in targets:
            rc, e = export(paths, table, opts, t)
            status, err = max(status, rc), err + e
        return Out(status, "", err)
    return Out(0, dump(table, verbose="v" in flags, export_format="s" in flags))
