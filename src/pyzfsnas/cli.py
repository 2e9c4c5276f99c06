"""The ``pyzfsnas`` command line: inspect a host's pools, datasets, snapshots, properties and exports.

``pyzfsnas send`` / ``pyzfsnas replicate`` move snapshots to another host (see :mod:`pyzfsnas.cli_send`).

Hosts: this machine (default), ``--ssh user@host[:port]``, or ``--fake`` (a small built-in demo host).
Output: aligned tables for people, ``--json`` for programs. Expected failures (a missing dataset, an
unreachable host, a malformed ``--ssh`` value) print one line on stderr and exit 1; command-line syntax
errors (an unknown option or command, a missing argument) print the usage and exit 2. ``pyzfsnas demo``
runs a whole share lifecycle on a fake host and prints every command it ran.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TextIO

from pyzfsnas.errors import ConnectionFailed, InvalidName, ZFSError
from pyzfsnas.executors.base import Executor
from pyzfsnas.executors.factory import connect, ssh_spec
from pyzfsnas.names import check_port
from pyzfsnas.properties import PropertyMap
from pyzfsnas.zfs import ZFS

__all__ = ["main"]

MiB = 1 << 20
GiB = 1 << 30


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _human(n: object) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return "-" if n is None else str(n)
    size = float(n)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if size < 1024 or unit == "P":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.3g}{unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def _table(rows: list[dict[str, object]], columns: Sequence[str], out: TextIO) -> None:
    """Print rows as left-aligned columns with a header (numbers right-aligned)."""
    cells = [[("-" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r.get(c), int | float) or r.get(c) is None for r in rows) and rows
               for c in columns]
    out.write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    for row in cells:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(row, widths, numeric, strict=True)]
        out.write("  ".join(parts).rstrip() + "\n")


def _emit(args: argparse.Namespace, rows: list[dict[str, object]], columns: Sequence[str],
          human: Sequence[str] = ()) -> None:
    if args.json:
        json.dump([{k: _jsonable(v) for k, v in r.items()} for r in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    shown = [{k: (_human(v) if k in human and not args.parsable else v) for k, v in r.items()} for r in rows]
    _table(shown, columns, sys.stdout)


def _props_row(name: str, props: PropertyMap, names: Sequence[str]) -> dict[str, object]:
    return {"name": name, **{n: _jsonable(props.value(n)) for n in names}}


def _percent(n: object) -> str:
    return "-" if n is None else f"{n}%"


def cmd_pools(zfs: ZFS, args: argparse.Namespace) -> None:
    rows: list[dict[str, object]] = [
        {"name": p.name, "size": p.size, "allocated": p.allocated, "free": p.free, "capacity": p.capacity,
         "health": p.health, "exact": p.exact}
        for p in zfs.pools()
    ]
    if not args.json:  # a percentage, as zpool prints it (JSON keeps the number)
        rows = [{**r, "capacity": _percent(r["capacity"])} for r in rows]
    _emit(args, rows, ("name", "size", "allocated", "free", "capacity", "health"),
          human=("size", "allocated", "free"))


def cmd_datasets(zfs: ZFS, args: argparse.Namespace) -> None:
    cols = ("used", "available", "referenced", "quota", "mountpoint")
    rows = [_props_row(d.name, d.properties, ("type", *cols)) for d in zfs.datasets(args.root)]
    _emit(args, rows, ("name", *cols), human=("used", "available", "referenced", "quota"))


def cmd_snapshots(zfs: ZFS, args: argparse.Namespace) -> None:
    cols = ("used", "referenced", "creation", "userrefs")
    rows = [_props_row(s.name, s.properties, cols) for s in zfs.snapshots(args.dataset, recursive=True)]
    _emit(args, rows, ("name", *cols), human=("used", "referenced"))


def cmd_get(zfs: ZFS, args: argparse.Namespace) -> None:
    props = zfs.get(args.dataset, *args.property)
    rows: list[dict[str, object]] = [
        {"name": args.dataset, "property": n, "value": _jsonable(p.value), "raw": p.raw, "source": str(p.source)}
        for n, p in props.items()
    ]
    _emit(args, rows, ("name", "property", "raw", "source"))


def cmd_exports(zfs: ZFS, args: argparse.Namespace) -> None:
    from pyzfsnas.nfs.exportfs import ExportfsNFS

    backend = ExportfsNFS(zfs)
    exports = backend.exports(args.dataset) if args.dataset else backend.all_exports()
    rows: list[dict[str, object]] = [
        {"path": e.path, "client": e.client, "access": e.access_level, "options": ",".join(e.options)}
        for e in exports
    ]
    _emit(args, rows, ("path", "client", "access", "options"))


def _fake_demo_host() -> Executor:
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    host = FakeHost(flavour="openzfs", name="fake")
    host.create_pool("tank", size=8 * GiB, mountpoint="/tank")
    zfs = ZFS(FakeExecutor(host))
    zfs.create_dataset("tank/shares", {"compression": "lz4"})
    zfs.create_dataset("tank/shares/alpha", {"quota": 2 * GiB})
    host.write("tank/shares/alpha", 300 * MiB)
    zfs.snapshot("tank/shares/alpha@daily")
    return FakeExecutor(host)


def demo(out: TextIO = sys.stdout) -> int:
    """Run a whole share lifecycle on two fake hosts, printing each step and the exact commands it ran."""
    from pyzfsnas.nfs import AccessRule, detect
    from pyzfsnas.replication import transfer
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    primary, standby = FakeHost(flavour="openzfs", name="primary"), FakeHost(flavour="openzfs", name="standby")
    # Pools larger than the share's quota, so that "available" reads the quota's room, not the pool's.
    primary.create_pool("tank", size=8 * GiB, mountpoint="/tank")
    standby.create_pool("backup", size=8 * GiB, mountpoint="/backup")
    hosts = {"primary": FakeExecutor(primary), "standby": FakeExecutor(standby)}
    zfs, zfs2 = ZFS(hosts["primary"]), ZFS(hosts["standby"])
    seen = dict.fromkeys(hosts, 0)

    def step(title: str) -> None:
        out.write(f"\n== {title}\n")

    def commands() -> None:
        for where, ex in hosts.items():
            for res in ex.transcript[seen[where]:]:
                out.write(f"   [{where}] $ {' '.join(res.argv)}   (exit {res.returncode})\n")
            seen[where] = len(ex.transcript)

    share, snap = "tank/share1", "tank/share1@before-upgrade"
    step("create a 1 GiB share with lz4 compression")
    zfs.create_dataset(share, {"quota": GiB, "compression": "lz4"})
    commands()
    step("clients write 200 MiB (simulated on the fake host)")
    primary.write(share, 200 * MiB)
    step("snapshot it")
    zfs.snapshot(snap)
    commands()
    step("clone the snapshot into a new share")
    zfs.clone(snap, "tank/share2")
    commands()
    step("pick the NFS backend for this host")
    nfs = detect(zfs)
    commands()
    out.write(f"   -> {nfs!r}\n")
    step("allow three clients (IPv4 network rw, one IPv4 host ro, an IPv6 network rw)")
    nfs.apply(share, [AccessRule.parse("10.0.0.0/24", "rw"), AccessRule.parse("192.0.2.7", "ro"),
                      AccessRule.parse("fd00::/64", "rw")])
    commands()
    step("read the rules in force back")
    rules = nfs.rules(share)
    commands()
    out.write(f"   -> {', '.join(f'{r.access_to} {r.access_level}' for r in rules)}\n")
    step("extend the share to 2 GiB")
    zfs.set(share, quota=2 * GiB)
    commands()
    step("read the share")
    ds = zfs.dataset(share)
    commands()
    out.write(f"   -> used {_human(ds.used)}, quota {_human(ds.quota)}, available {_human(ds.available)}\n")
    step("replicate the snapshot to the standby host")
    last = [0]

    def progress(n: int) -> None:
        if n - last[0] >= 64 * MiB:
            last[0] = n
            out.write(f"   ... sent {_human(n)}\n")

    result = transfer(zfs, snap, zfs2, "backup/share1", progress=progress)
    commands()
    out.write(f"   -> {_human(result.nbytes)} into standby:{result.target}\n")
    step("tear down: unexport, destroy the clone, then the share and its snapshot")
    nfs.clear(share)
    zfs.destroy("tank/share2")
    zfs.destroy(share, recursive=True)
    commands()
    total = sum(len(ex.transcript) for ex in hosts.values())
    out.write(f"\ndone: {total} commands in all.\n")
    return 0


def _fake_destination() -> Executor:
    """``--to-fake``: an empty fake host with one pool, ``backup``."""
    from pyzfsnas.testing.fake import FakeExecutor, FakeHost

    host = FakeHost(flavour="openzfs", name="fake-destination")
    host.create_pool("backup", size=8 * GiB, mountpoint="/backup")
    return FakeExecutor(host)


def _executor_spec(args: argparse.Namespace, *, destination: bool = False) -> str:
    """The executor spec (:func:`pyzfsnas.executors.factory.connect`) the options name: local or ``ssh://``;
    with ``destination``, the host ``--to-ssh`` / ``--to-sudo`` name."""
    ssh: str | None = args.to_ssh if destination else args.ssh
    sudo: bool = args.to_sudo if destination else args.sudo
    options: dict[str, str] = {}
    if sudo:
        options["sudo"] = "1"
    if not ssh:
        return "local" + (f"?{urllib.parse.urlencode(options)}" if options else "")
    user, _, hostport = ssh.rpartition("@")
    host, _, port = hostport.partition(":")
    port = port or "22"
    try:
        if not host or not (port.isascii() and port.isdigit()):
            raise ValueError(port)
        number = check_port(int(port))
    except (ValueError, InvalidName):
        wants = f"{'--to-ssh' if destination else '--ssh'} wants USER@HOST[:PORT], got {ssh!r}"
        raise ConnectionFailed(wants) from None
    if args.identity:
        options["identity"] = args.identity
    if args.known_hosts:
        options["known_hosts"] = args.known_hosts
    if args.accept_new_host_key:
        options["accept_new_host_key"] = "1"
    return ssh_spec(host, username=user or None, port=number, **options)


def _executor(args: argparse.Namespace, *, destination: bool = False) -> Executor:
    """The host the global options name, or with ``destination`` the one ``--to-ssh``/``--to-fake`` name."""
    fake: bool = args.to_fake if destination else args.fake
    if fake:
        return _fake_destination() if destination else _fake_demo_host()
    return connect(_executor_spec(args, destination=destination))


def _transfer(args: argparse.Namespace) -> int:
    """``send`` / ``replicate``: source from the global options, destination from ``--to-*``."""
    source = _executor(args)
    try:
        destination = _executor(args, destination=True)
        try:
            code: int = args.transfer(ZFS(source), ZFS(destination), args)
        finally:
            destination.close()
    finally:
        source.close()
    return code


def _global_options(p: argparse.ArgumentParser, *, after: bool) -> None:
    """The options that apply to every subcommand, accepted before it and (``after``) after it too.

    After the subcommand they default to ``SUPPRESS``, so that an option given before it is not reset.
    """
    kw: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    where = p.add_mutually_exclusive_group()
    where.add_argument("--ssh", metavar="USER@HOST[:PORT]", help="run on a remote host over SSH", **kw)
    where.add_argument("--fake", action="store_true", help="use a built-in fake host with demo data", **kw)
    p.add_argument("--identity", "-i", metavar="KEYFILE", help="SSH private key (default: agent, ~/.ssh)", **kw)
    p.add_argument("--known-hosts", metavar="FILE",
                   help="SSH known_hosts file (default: /etc/ssh/ssh_known_hosts and ~/.ssh/known_hosts)", **kw)
    p.add_argument("--accept-new-host-key", action="store_true",
                   help="accept an SSH host key not in known_hosts (a changed key is always refused)", **kw)
    p.add_argument("--sudo", action="store_true", help="prefix commands with 'sudo -n' (locally or over SSH)",
                   **kw)
    p.add_argument("--json", action="store_true", help="machine-readable output", **kw)
    p.add_argument("--parsable", "-p", action="store_true", help="exact byte counts in tables", **kw)
    p.add_argument("--verbose", "-v", action="store_true", help="log every command run (DEBUG)", **kw)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    Global options may come before or after the subcommand (``pyzfsnas --fake datasets --json``).
    """
    # The docstring's first line without its reST literal markup (``x``), which --help would print as is.
    p = argparse.ArgumentParser(prog="pyzfsnas", description=__doc__.splitlines()[0].replace("``", ""))
    _global_options(p, after=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, after=True)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("pools", help="list pools", parents=[common]).set_defaults(func=cmd_pools)
    s = sub.add_parser("datasets", help="list filesystems and volumes", parents=[common])
    s.add_argument("root", nargs="?")
    s.set_defaults(func=cmd_datasets)
    s = sub.add_parser("snapshots", help="list snapshots", parents=[common])
    s.add_argument("dataset", nargs="?")
    s.set_defaults(func=cmd_snapshots)
    s = sub.add_parser("get", help="show properties", parents=[common])
    s.add_argument("dataset")
    s.add_argument("property", nargs="*")
    s.set_defaults(func=cmd_get)
    s = sub.add_parser("exports", help="list NFS exports (exportfs -v)", parents=[common])
    s.add_argument("dataset", nargs="?")
    s.set_defaults(func=cmd_exports)
    sub.add_parser("demo", help="run a share lifecycle on a fake host, printing each command", parents=[common])
    from pyzfsnas.cli_send import add_commands

    add_commands(sub, parents=[common])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pyzfsnas`` and ``python -m pyzfsnas``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.fake and args.ssh:  # one before the subcommand, the other after it
        parser.error("argument --fake: not allowed with argument --ssh")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "demo":
            return demo()
        if args.command in ("send", "replicate"):
            return _transfer(args)
        executor = _executor(args)
        try:
            func: Callable[[ZFS, argparse.Namespace], Any] = args.func
            func(ZFS(executor), args)
        finally:
            executor.close()
    except ZFSError as exc:
        print(f"pyzfsnas: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # pragma: no cover - `| head`
        return 0
    return 0
