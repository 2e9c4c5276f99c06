"""``zfs send``/``zfs receive`` on fake hosts: a self-describing stream, payload generated lazily.

Format: ``PYZFSNAS-FAKE-STREAM 1\\n``, one JSON header line (the snapshots, their chunk ids/sizes, properties),
then each snapshot's payload in turn, exactly as many bytes as its new data. Chunk ids are process-unique, so
a stream from one fake host lines up with what another fake host received earlier (incrementals).

The payload is not zeros: each 1 MiB block of a snapshot's payload is filled with a byte derived from the
snapshot's guid and the block's index, and ``zfs receive`` checks every byte at its offset. So a stream that
is cut short, re-chunked, or resumed at the wrong offset is caught ("checksum mismatch"), as OpenZFS catches
it with its stream checksums.

Resumable receive (OpenZFS only), as ``zfs receive -s`` / ``zfs send -t`` / ``zfs receive -A`` behave:

* a ``receive -s`` whose stream breaks off keeps what it received: a new filesystem stays, inconsistent and
  unmounted, under its own name; into an existing filesystem the state goes to its hidden ``%recv`` child
  (not listed). Either way ``receive_resume_token`` on the target shows the token, and the failure says
  "checksum mismatch or incomplete stream. Partially received snapshot is saved. ... zfs send -t TOKEN";
* without ``-s`` nothing is kept ("incomplete stream");
* while the state exists, a new full or incremental stream into the target fails "destination X contains
  partially-complete state from "zfs receive -s"."; ``zfs send -t TOKEN`` streams the rest (from the
  token's offset, which like OpenZFS's record-granular offsets may be somewhat before the last byte that
  arrived) and a ``receive -s`` of it completes the snapshot; ``receive -A`` discards the state;
* ``zfs send -nvP -t TOKEN`` prints the token's contents and the size left, like OpenZFS.

Tokens have OpenZFS's shape, ``1-<checksum>-<length>-<hex payload>``, with the same fields (``object``,
``offset``, ``bytes``, ``toguid``, ``toname``, ``fromguid``), but the payload is zlib-compressed JSON rather
than a packed nvlist: a fake token means nothing to a real host, and the reverse.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from pyzfsnas.executors.base import CHUNK_SIZE
from pyzfsnas.testing.fake import sharing, zfs_cli
from pyzfsnas.testing.fake.formatting import nicenum
from pyzfsnas.testing.fake.host import Dataset, Fail, FakeHost
from pyzfsnas.testing.fake.output import Out
from pyzfsnas.testing.fake.zfs_cli import (
    check_value,
    create_fs,
    destroy_objects,
    lookup,
    one_operand,
    opts,
    usage,
)

__all__ = ["ZFS_COMMANDS", "cmd_receive", "cmd_send", "decode_token", "encode_token", "run_zfs"]

MAGIC = b"PYZFSNAS-FAKE-STREAM 1\n"
#: payload pattern block (the byte value changes every block)
BLOCK = CHUNK_SIZE
#: resume offsets are rounded down to this (OpenZFS resumes at a record boundary, not at the last byte)
RECORD = 128 * 1024


def _fill(guid: int, block: int) -> int:
    return (guid * 2654435761 + block * 40503 + 17) % 251


def _payload(guid: int, start: int, total: int) -> Iterator[bytes]:
    """The bytes of a snapshot's payload from offset ``start`` to ``total``, in block-aligned pieces."""
    pos = start
    while pos < total:
        n = min(BLOCK - pos % BLOCK, total - pos)
        yield bytes([_fill(guid, pos // BLOCK)]) * n
        pos += n


def _size(entry: dict[str, Any]) -> int:
    return sum(size for _, size in entry["added"])


# ---------------------------------------------------------------------------------------------- tokens
def encode_token(fields: dict[str, Any]) -> str:
    """A resume token with OpenZFS's shape (``1-<cksum>-<len>-<hex>``) holding ``fields``."""
    packed = json.dumps(fields, sort_keys=True).encode()
    compressed = zlib.compress(packed)
    return f"1-{zlib.adler32(compressed):x}-{len(packed):x}-{compressed.hex()}"


def decode_token(token: str) -> dict[str, Any]:
    """The fields of a token from :func:`encode_token`, or the ``zfs send -t`` failure libzfs prints."""
    def corrupt(why: str) -> Fail:
        return Fail(f"cannot resume send: resume token is corrupt ({why})")

    parts = token.split("-")
    if len(parts) != 4 or not all(parts[1:3]):
        raise corrupt("invalid format")
    if parts[0] != "1":
        raise corrupt(f"invalid version {parts[0]}")
    try:
        compressed = bytes.fromhex(parts[3])
    except ValueError:
        raise corrupt("payload is not hex-encoded") from None
    if f"{zlib.adler32(compressed):x}" != parts[1]:
        raise corrupt("incorrect checksum")
    try:
        fields: dict[str, Any] = json.loads(zlib.decompress(compressed))
    except (zlib.error, ValueError):
        raise corrupt("decompression failed") from None
    return fields


# ---------------------------------------------------------------------------------------------- send
def _entry(host: FakeHost, snap: Dataset, base: Dataset | None, with_props: bool) -> dict[str, Any]:
    fs = host.datasets[snap.fs]
    added = sorted(snap.data - (base.data if base else set()))
    return {
        "fs": snap.fs, "snap": snap.name.split("@", 1)[1], "guid": snap.guid, "creation": snap.creation,
        "from": base.name.split("@", 1)[1] if base else None, "from_guid": base.guid if base else None,
        "keep": sorted(snap.data & base.data) if base else [],
        "added": [[c, host.chunks[c]] for c in added],
        "props": dict(fs.props) if with_props else {},
        "snapprops": {k: v for k, v in snap.props.items() if ":" in k} if with_props else {},
        "kind": fs.kind,
    }


def _stream(entries: list[dict[str, Any]], replicate: bool, offset: int = 0) -> Iterator[bytes]:
    header = {"entries": entries, "replicate": replicate, **({"resume": offset} if offset else {})}
    yield MAGIC + json.dumps(header).encode() + b"\n"
    for i, e in enumerate(entries):
        yield from _payload(e["guid"], offset if i == 0 else 0, _size(e))


def _estimate(entries: list[dict[str, Any]], offset: int = 0) -> str:
    """``zfs send -nP`` output: one line per snapshot (full/incremental, names, size), then the total."""
    lines = []
    total = 0
    for i, e in enumerate(entries):
        size = _size(e) - (offset if i == 0 else 0)
        total += size
        to = f"{e['fs']}@{e['snap']}"
        lines.append(f"incremental\t{e['fs']}@{e['from']}\t{to}\t{size}" if e["from"] else f"full\t{to}\t{size}")
    return "\n".join([*lines, f"size\t{total}"]) + "\n"


def _send_resume(host: FakeHost, token: str, dry_run: bool, verbose: bool) -> Out:
    fields = decode_token(token)
    toname: str = fields["toname"]
    snap = next((d for d in host.datasets.values() if d.kind == "snapshot" and d.guid == fields["toguid"]), None)
    if snap is None:
        why = ("is no longer the same snapshot used in the initial send" if toname in host.datasets
               else "used in the initial send no longer exists")
        raise Fail(f"cannot resume send: '{toname}' {why}")
    base = None
    if fields.get("fromguid"):
        base = next((d for d in host.snapshots_of(snap.fs) if d.guid == fields["fromguid"]), None)
        if base is None:
            raise Fail(f"cannot resume send: incremental source {fields['fromguid']:#x} no longer exists")
    entry = _entry(host, snap, base, bool(fields.get("props")))
    offset = int(fields["offset"])
    if dry_run:
        text = ""
        if verbose:
            text = "resume token contents:\nnvlist version: 0\n" + "".join(
                f"\t{k} = {v:#x}\n" if isinstance(v, int) else f"\t{k} = {v}\n"
                for k, v in fields.items() if k != "props")
        return Out(0, text + _estimate([entry], offset))
    return Out(0, _stream([entry], False, offset))


def cmd_send(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:

    spec = "RpDi:I:vnPLcwebt:" if host.flavour == "openzfs" else "RpDi:I:v"
    options, rest = opts(host, "send", args, spec)
    flags = {o for o, _ in options}
    token = next((v for o, v in options if o == "-t"), None)
    if token is not None:
        if rest:

            raise usage(host, "send", "too many arguments")
        return _send_resume(host, token, "-n" in flags, "-v" in flags)
    one_operand(host, "send", rest, "snapshot")
    name = rest[0]
    if "@" not in name:
        raise Fail(f"Error: Unsupported flag with filesystem or bookmark.\ncannot send '{name}': "
                   "operation not applicable to datasets of this type" if host.flavour == "openzfs"
                   else f"cannot send '{name}': operation not applicable to datasets of this type")
    snap = lookup(host, name)
    fsname, _, short = name.partition("@")
    base_name = next((v for o, v in options if o in ("-i", "-I")), None)
    intermediate = "-I" in flags
    base = None
    if base_name is not None:
        if base_name.startswith("@"):
            base_name = fsname + base_name
        elif "@" not in base_name:
            base_name = f"{fsname}@{base_name}"
        base = lookup(host, base_name)
        if base.fs != fsname or base.createtxg >= snap.createtxg:
            raise Fail(f"cannot send '{name}': not an earlier snapshot from the same fs")
    fss = [host.datasets[fsname]]
    if "-R" in flags:
        fss += host.descendants(fsname, snapshots=False)
    entries: list[dict[str, Any]] = []
    for fs in fss:
        snaps = host.snapshots_of(fs.name)
        target = next((s for s in snaps if s.name.endswith("@" + short)), None)
        if target is None:
            continue
        start = None
        if base is not None:
            start = next((s for s in snaps if s.name.endswith("@" + base.name.split("@")[1])), None)
        chain: list[Dataset]
        if "-R" in flags or intermediate:
            lo = start.createtxg if start else -1
            chain = [s for s in snaps if lo < s.createtxg <= target.createtxg]
            if base is not None and not intermediate:  # -R -i: the target alone
                chain = [target]
        else:
            chain = [target]
        prev = start
        for s in chain:
            entries.append(_entry(host, s, prev, "-p" in flags or "-R" in flags))
            prev = s
    if "-n" in flags:
        return Out(0, _estimate(entries) if "-P" in flags or "-v" in flags else "")
    return Out(0, _stream(entries, "-R" in flags))


# ---------------------------------------------------------------------------------------------- receive
class _Reader:
    """Reads exact byte counts from a chunk iterator (fewer only at the end of the stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = bytearray()
        self.eof = False

    def read(self, n: int) -> bytes:
        while len(self._buf) < n and not self.eof:
            chunk = next(self._it, None)
            if chunk is None:
                self.eof = True
            else:
                self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def header(self) -> dict[str, Any]:
        magic = self.read(len(MAGIC))
        if magic != MAGIC:
            raise Fail("cannot receive: invalid stream (bad magic number)" if magic else
                       "cannot receive: failed to read from stream")
        line = bytearray()
        while not line.endswith(b"\n"):
            piece = self.read(1 << 16)
            if not piece:
                raise Fail("cannot receive: failed to read from stream")
            cut = piece.find(b"\n")
            if cut >= 0:
                line += piece[:cut + 1]
                self._buf[:0] = piece[cut + 1:]
            else:
                line += piece
        header: dict[str, Any] = json.loads(bytes(line))
        return header

    def drain(self) -> None:
        for _ in self._it:
            pass


def _consume(reader: _Reader, entry: dict[str, Any], start: int) -> tuple[int, bool]:
    """Read and check one snapshot's payload from ``start``: (bytes good so far, whether it all arrived)."""
    total = _size(entry)
    pos = start
    while pos < total:
        n = min(BLOCK - pos % BLOCK, total - pos)
        piece = reader.read(n)
        if piece != bytes([_fill(entry["guid"], pos // BLOCK)]) * len(piece):
            return pos, False  # checksum mismatch: nothing of this piece is trusted
        pos += len(piece)
        if len(piece) < n:
            return pos, False
    return pos, True


def _broken(host: FakeHost, what: str, dest_fs: str, entry: dict[str, Any], got: int, *, resumable: bool,
            existing: Dataset | None, hidden: bool, props: dict[str, str]) -> Fail:
    """The failure of a stream that broke off ``got`` bytes into ``entry``; with ``-s``, save the state.

    The state goes onto ``existing`` (in its ``%recv`` child when ``hidden``), else into a new, inconsistent
    filesystem ``dest_fs``.
    """
    if not resumable:
        return Fail(f"{what}: incomplete stream")
    offset = got - got % RECORD
    fields = {"object": 1 + offset // RECORD, "offset": offset, "bytes": got, "toguid": entry["guid"],
              "toname": f"{entry['fs']}@{entry['snap']}", **({"fromguid": entry["from_guid"]} if entry["from"]
                                                            else {}), **({"props": 1} if entry["props"] else {})}
    token = encode_token(fields)
    state: dict[str, object] = {"entry": entry, "offset": offset, "token": token, "props": props}
    if existing is not None:
        state["hidden"] = hidden
        existing.partial = state
    else:

        ds = create_fs(host, dest_fs, dict(props), kind=entry["kind"], data=set(), mount=False)
        ds.partial = state
    return Fail(f"{what}: checksum mismatch or incomplete stream.\nPartially received snapshot is saved.\n"
                "A resuming stream can be generated on the sending system by running:\n"
                f"    zfs send -t {token}")


def _abort(host: FakeHost, rest: list[str]) -> Out:

    if len(rest) != 1:
        raise usage(host, "receive", "missing snapshot argument" if not rest else "too many arguments")
    ds = host.datasets.get(rest[0])
    if ds is None or ds.kind not in ("filesystem", "volume"):
        raise usage(host, "receive", f"cannot open '{rest[0]}': dataset does not exist")
    if ds.partial is None:
        raise Fail(f"'{rest[0]}' does not have any resumable receive state to abort")
    if ds.partial.get("hidden"):
        ds.partial = None
    else:
        destroy_objects(host, [ds])
    host.touch()
    return Out()


def cmd_receive(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:

    spec = "vnFdeuo:x:sMhA" if host.flavour == "openzfs" else "vnFdu"
    options, rest = opts(host, "receive", args, spec)
    flags = {o for o, _ in options}
    if "-A" in flags:
        if flags & {"-d", "-e", "-n", "-s", "-u"}:
            raise usage(host, "receive", "invalid option")
        return _abort(host, rest)
    resumable = "-s" in flags
    one_operand(host, "receive", rest, "snapshot")
    target = rest[0]
    overrides = {}
    for o, v in options:
        if o == "-o":
            key, _, value = v.partition("=")
            k, val = check_value(host, key, value, f"cannot receive '{target}'", creating=True)
            overrides[k] = val
    reader = _Reader(stdin)
    header = reader.header()
    entries: list[dict[str, Any]] = header["entries"]
    resume_at = int(header.get("resume", 0))
    if not entries:
        return Out()
    root_fs = entries[0]["fs"]
    out: list[str] = []
    for index, e in enumerate(entries):
        src_fs: str = e["fs"]
        if "-d" in flags:
            dest_fs = target + "/" + src_fs.split("/", 1)[1] if "/" in src_fs else target
        elif header["replicate"]:
            dest_fs = target + src_fs[len(root_fs):]
        else:
            dest_fs = target.split("@")[0]
        dest_snap = f"{dest_fs}@{e['snap']}"
        kind = "incremental" if e["from"] else "full"
        resuming = index == 0 and resume_at > 0
        what = ("cannot receive resume stream" if resuming else
                "cannot receive incremental stream" if e["from"] else "cannot receive new filesystem stream")
        if "-v" in flags:
            out.append(f"receiving {kind} stream of {src_fs}@{e['snap']} into {dest_snap}\n")
        pool = dest_fs.split("/")[0]
        if pool not in host.pools:
            raise Fail(f"cannot open '{pool}': dataset does not exist")
        existing = host.datasets.get(dest_fs)
        newfs_partial = existing is not None and existing.partial is not None and not existing.partial.get("hidden")
        start = 0
        if resuming:
            state = existing.partial if existing is not None else None
            if existing is None:
                raise Fail(f"{what}: destination '{dest_fs}' does not exist")
            entry_state: Any = state["entry"] if state is not None else None
            if state is None or entry_state["guid"] != e["guid"] or state["offset"] != resume_at:
                raise Fail(f"{what}: kernel modules must be upgraded to receive this stream." if resumable
                           else f"{what}: invalid backup stream")
            if e["from"] is None and not newfs_partial and "-F" not in flags:
                raise Fail(f"cannot resume recv {dest_snap}: Resuming recv on existing dataset without force")
            start = resume_at
        elif existing is not None and existing.partial is not None and (e["from"] or "-F" in flags):
            raise Fail(f"{what}: destination {dest_fs} contains partially-complete state from "
                       '"zfs receive -s".')
        if e["from"] is None and not resuming:
            if existing is not None:
                if "-F" not in flags:
                    raise Fail(f"cannot receive new filesystem stream: destination '{dest_fs}' exists\n"
                               "must specify -F to overwrite it")
                snaps = host.snapshots_of(dest_fs)
                if snaps:
                    raise Fail(f"cannot receive new filesystem stream: destination has snapshots "
                               f"(eg. {snaps[0].name})\nmust destroy them to overwrite it")
            parent = dest_fs.rsplit("/", 1)[0] if "/" in dest_fs else None
            if parent and parent not in host.datasets:
                raise Fail(f"cannot receive new filesystem stream: parent of '{dest_fs}' does not exist"
                           if host.flavour == "openzfs" else f"cannot open '{parent}': dataset does not exist")
        elif e["from"] is not None and not resuming:
            if existing is None:
                raise Fail(f"cannot receive incremental stream: destination '{dest_fs}' does not exist")
            snaps = host.snapshots_of(dest_fs)
            base = next((s for s in snaps if s.guid == e["from_guid"]), None)
            if base is None or (snaps[-1] is not base and "-F" not in flags):
                raise Fail(f"cannot receive incremental stream: most recent snapshot of {dest_fs} does not\n"
                           "match incremental source")
            if existing.data != base.data and "-F" not in flags:
                raise Fail(f"cannot receive incremental stream: destination {dest_fs} has been modified\n"
                           "since most recent snapshot")
        doomed: set[str] = set()  # -F destroys the snapshots after the incremental source first
        if e["from"] is not None and existing is not None and not resuming:
            base_txg = next(s.createtxg for s in host.snapshots_of(dest_fs) if s.guid == e["from_guid"])
            doomed = {s.name for s in host.snapshots_of(dest_fs) if s.createtxg > base_txg}
        if dest_snap in host.datasets and dest_snap not in doomed:
            raise Fail(f"cannot receive {kind} stream: destination snapshot {dest_snap} exists")
        # The checks passed (OpenZFS decides them from the stream's BEGIN record); now the data.
        got, complete = _consume(reader, e, start)
        if not complete:
            reader.drain()
            if resuming:  # the state stays where it was, with the new offset (or goes, without -s)
                assert existing is not None and existing.partial is not None
                if not resumable:
                    if newfs_partial:
                        destroy_objects(host, [existing])
                    existing.partial = None
                props: Any = existing.partial["props"] if existing.partial else {}
                raise _broken(host, what, dest_fs, e, got, resumable=resumable, existing=existing,
                              hidden=not newfs_partial, props=dict(props))
            raise _broken(host, what, dest_fs, e, got, resumable=resumable, existing=existing, hidden=True,
                          props=dict(overrides))
        if resuming:
            assert existing is not None and existing.partial is not None
            overrides = {**dict(existing.partial["props"]), **overrides}  # type: ignore[call-overload]
            existing.partial = None
            if newfs_partial:
                destroy_objects(host, [existing])
                existing = None
        if e["from"] is None:
            if existing is not None:
                destroy_objects(host, [existing])
            for cid, size in e["added"]:
                host.add_chunk(cid, size, pool)
            ds = create_fs(host, dest_fs, dict(overrides), kind=e["kind"], data={c for c, _ in e["added"]},
                           mount=False)
            ds.received = dict(e["props"])
        else:
            assert existing is not None
            ds = existing
            snaps = host.snapshots_of(dest_fs)
            base = next(s for s in snaps if s.guid == e["from_guid"])
            destroy_objects(host, [s for s in snaps if s.createtxg > base.createtxg])
            for cid, size in e["added"]:
                host.add_chunk(cid, size, pool)
            ds.data = set(e["keep"]) | {c for c, _ in e["added"]}
            if e["props"]:
                ds.received = dict(e["props"])
            for k, v in overrides.items():
                ds.props[k] = v
        snap = host.new_dataset(dest_snap, "snapshot", props=dict(e["snapprops"]))
        snap.guid, snap.creation = e["guid"], e["creation"]
        snap.data = set(ds.data)
        host.touch()
        if e["from"] is None and "-u" not in flags and ds.kind == "filesystem":
            host.try_mount(ds)
            sharing.share(host, ds, quiet=True)
        if "-v" in flags:
            size = _size(e) - start
            out.append(f"received {nicenum(size)}B stream in 1 seconds ({nicenum(size)}B/sec)\n")
    reader.drain()
    return Out(0, "".join(out))


#: Every ``zfs`` subcommand: :data:`~pyzfsnas.testing.fake.zfs_cli.COMMANDS` and the stream ones.
ZFS_COMMANDS = {**zfs_cli.COMMANDS, "send": cmd_send, "receive": cmd_receive, "recv": cmd_receive}


def run_zfs(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    """Run ``zfs ARGS`` against ``host``, ``send`` and ``receive`` included (caller holds the host lock)."""
    return zfs_cli.run_zfs(host, args, stdin, ZFS_COMMANDS)
