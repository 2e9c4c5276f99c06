"""``zfs send``/``zfs receive`` on fake hosts: a self-describing stream, payload generated lazily.

Format: ``PYZFSNAS-FAKE-STREAM 1\\n``, one JSON header line (the snapshots, their chunk ids/sizes, properties),
then exactly as many payload bytes as the data sent. Chunk ids are process-unique, so a stream from one fake
host lines up with what another fake host received earlier (incrementals).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from pyzfsnas.executors.base import CHUNK_SIZE
from pyzfsnas.executors.fake.formatting import nicenum
from pyzfsnas.executors.fake.host import Dataset, Fail, FakeHost
from pyzfsnas.executors.fake.output import Out

__all__ = ["cmd_receive", "cmd_send"]

MAGIC = b"PYZFSNAS-FAKE-STREAM 1\n"


def _payload(total: int) -> Iterator[bytes]:
    zero = bytes(min(CHUNK_SIZE, max(total, 1)))
    left = total
    while left > 0:
        n = min(left, CHUNK_SIZE)
        yield zero if n == len(zero) else bytes(n)
        left -= n


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


def cmd_send(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    from pyzfsnas.executors.fake.zfs_cli import lookup, opts

    spec = "RpDi:I:vnPLcweb" if host.flavour == "openzfs" else "RpDi:I:v"
    options, rest = opts(host, "send", args, spec)
    flags = {o for o, _ in options}
    from pyzfsnas.executors.fake.zfs_cli import one_operand

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
            if not ("-R" in flags or intermediate) or (base is not None and not intermediate):
                chain = [target]
        else:
            chain = [target]
        prev = start
        for s in chain:
            entries.append(_entry(host, s, prev, "-p" in flags or "-R" in flags))
            prev = s
    header = json.dumps({"entries": entries, "replicate": "-R" in flags}).encode() + b"\n"
    total = sum(size for e in entries for _, size in e["added"])

    def chunks() -> Iterator[bytes]:
        yield MAGIC + header
        yield from _payload(total)

    return Out(0, chunks())


def _read_stream(stdin: Iterable[bytes]) -> tuple[dict[str, Any], int]:
    buf = b""
    it = iter(stdin)
    for chunk in it:
        buf += chunk
        if buf.count(b"\n") >= 2 or (len(buf) > len(MAGIC) and not buf.startswith(MAGIC[: len(buf)])):
            break
    if not buf.startswith(MAGIC) or buf.count(b"\n") < 2:
        raise Fail("cannot receive: invalid stream (bad magic number)")
    first = buf.index(b"\n")
    second = buf.index(b"\n", first + 1)
    header = json.loads(buf[first + 1:second])
    got = len(buf) - second - 1
    for chunk in it:
        got += len(chunk)
    return header, got + second + 1


def cmd_receive(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    from pyzfsnas.executors.fake import sharing
    from pyzfsnas.executors.fake.zfs_cli import check_value, create_fs, destroy_objects, opts, try_mount

    spec = "vnFdeuo:x:sMhA" if host.flavour == "openzfs" else "vnFdu"
    options, rest = opts(host, "receive", args, spec)
    flags = {o for o, _ in options}
    from pyzfsnas.executors.fake.zfs_cli import one_operand

    one_operand(host, "receive", rest, "snapshot")
    target = rest[0]
    overrides = {}
    for o, v in options:
        if o == "-o":
            key, _, value = v.partition("=")
            k, val = check_value(host, key, value, f"cannot receive '{target}'", creating=True)
            overrides[k] = val
    header, nbytes = _read_stream(stdin)
    entries: list[dict[str, Any]] = header["entries"]
    expected = sum(size for e in entries for _, size in e["added"])
    head_len = nbytes - expected
    if nbytes < expected or head_len <= 0:
        if host.flavour == "openzfs" and entries:  # what OpenZFS 2.3 says for a truncated stream
            what = "new filesystem" if entries[0]["from"] is None else "incremental"
            raise Fail(f"cannot receive {what} stream: incomplete stream")
        raise Fail("cannot receive: failed to read from stream")
    if not entries:
        return Out()
    root_fs = entries[0]["fs"]
    out: list[str] = []
    for e in entries:
        src_fs: str = e["fs"]
        if "-d" in flags:
            dest_fs = target + "/" + src_fs.split("/", 1)[1] if "/" in src_fs else target
        elif header["replicate"]:
            dest_fs = target + src_fs[len(root_fs):]
        else:
            dest_fs = target.split("@")[0]
        dest_snap = f"{dest_fs}@{e['snap']}"
        kind = "incremental" if e["from"] else "full"
        if "-v" in flags:
            out.append(f"receiving {kind} stream of {src_fs}@{e['snap']} into {dest_snap}\n")
        pool = dest_fs.split("/")[0]
        if pool not in host.pools:
            raise Fail(f"cannot open '{pool}': dataset does not exist")
        existing = host.datasets.get(dest_fs)
        if e["from"] is None:
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
            if existing is not None:
                destroy_objects(host, [existing])
            for cid, size in e["added"]:
                host.add_chunk(cid, size, pool)
            ds = create_fs(host, dest_fs, dict(overrides), kind=e["kind"], data={c for c, _ in e["added"]},
                           mount=False)
            ds.received = dict(e["props"])
        else:
            if existing is None:
                raise Fail(f"cannot receive incremental stream: destination '{dest_fs}' does not exist")
            ds = existing
            snaps = host.snapshots_of(dest_fs)
            base = next((s for s in snaps if s.guid == e["from_guid"]), None)
            if base is None or (snaps[-1] is not base and "-F" not in flags):
                raise Fail(f"cannot receive incremental stream: most recent snapshot of {dest_fs} does not\n"
                           "match incremental source")
            newer = [s for s in snaps if s.createtxg > base.createtxg]
            if ds.data != base.data and "-F" not in flags:
                raise Fail(f"cannot receive incremental stream: destination {dest_fs} has been modified\n"
                           "since most recent snapshot")
            destroy_objects(host, newer)
            for cid, size in e["added"]:
                host.add_chunk(cid, size, pool)
            ds.data = set(e["keep"]) | {c for c, _ in e["added"]}
            if e["props"]:
                ds.received = dict(e["props"])
            for k, v in overrides.items():
                ds.props[k] = v
        if dest_snap in host.datasets:
            raise Fail(f"cannot receive {kind} stream: destination snapshot {dest_snap} exists")
        snap = host.new_dataset(dest_snap, "snapshot", props=dict(e["snapprops"]))
        snap.guid, snap.creation = e["guid"], e["creation"]
        snap.data = set(ds.data)
        host.touch()
        if e["from"] is None and "-u" not in flags and ds.kind == "filesystem":
            try_mount(host, ds)
            sharing.share(host, ds, quiet=True)
        if "-v" in flags:
            size = sum(s for _, s in e["added"]) + head_len
            out.append(f"received {nicenum(size)}B stream in 1 seconds ({nicenum(size)}B/sec)\n")
    return Out(0, "".join(out))
