"""``sharenfs`` per flavour: how a dataset's property becomes exports on the fake host.

zfs-fuse runs ``exportfs -o OPTS,fsid=N,no_subtree_check 'HOST:MP'`` for each space-separated ``host:opts``
item (``on`` means ``*``). OpenZFS (Linux libshare) writes ``/etc/exports.d/zfs.exports`` lines
``MP HOST(sec=..,rw|ro,no_subtree_check,mountpoint[,opts])`` and runs ``exportfs -ra``.
"""

from __future__ import annotations

from pyzfsnas.testing.fake import exportfs_cli
from pyzfsnas.testing.fake.host import Dataset, Fail, FakeHost

__all__ = ["parse_openzfs", "share", "unshare"]

_ALLOWED = {"all_squash", "anongid", "anonuid", "async", "auth_nlm", "crossmnt", "fsid", "fsuid", "hide",
            "insecure", "insecure_locks", "mountpoint", "mp", "no_acl", "no_all_squash", "no_auth_nlm",
            "no_root_squash", "no_subtree_check", "no_wdelay", "nohide", "refer", "replicas", "root_squash",
            "secure", "secure_locks", "subtree_check", "sync", "wdelay"}


def _hosts(text: str) -> list[str]:
    """Split a ``rw=``/``ro=`` host list on ``:``, honouring ``[IPv6]`` (OpenZFS 2.2+).

    Like the real libshare, an empty piece (``rw=``, ``rw=a::b``, an unbracketed IPv6 address) is an export to
    everyone (``*``): real OpenZFS 2.3.2 exports ``rw=@fd00::/64`` to ``<world>``.
    """
    out: list[str] = []
    i = 0
    if text == "" or text.endswith(":"):
        out.append("*")
    while i < len(text):
        if text[i] == "[":
            end = text.find("]", i)
            if end < 0:
                raise ValueError("missing ]")
            host = text[i + 1:end]
            j = end + 1
            if j < len(text) and text[j] == "/":
                k = text.find(":", j)
                k = len(text) if k < 0 else k
                host += text[j:k]
                j = k
            if j < len(text) and text[j] != ":":
                raise ValueError("junk after ]")
            out.append(host)
            i = j + 1
            continue
        k = text.find(":", i)
        k = len(text) if k < 0 else k
        item = text[i:k]
        if not item:
            out.append("*")
        elif not item.startswith("/"):  # "/64" left of a split address: exportfs drops it
            out.append(item[1:] if item.startswith("@") else item)
        i = k + 1
    return out


def parse_openzfs(value: str) -> list[tuple[str, str]]:
    """OpenZFS Linux ``sharenfs`` → [(client, exports options)]; ValueError when invalid."""
    if value == "on":
        value = "rw,crossmnt"
    if not value:
        raise ValueError("empty")
    sec = "sys"
    hosts: list[tuple[str, str, str]] = []
    others: list[str] = []
    for item in filter(None, value.split(",")):
        key, eq, val = item.partition("=")
        if key in ("rw", "ro"):
            if not eq:
                hosts.append(("*", key, sec))
            else:
                hosts.extend((h, key, sec) for h in _hosts(val))
        elif key == "sec" and eq:
            sec = val
        elif key == "anon" and eq:
            others.append(f"anonuid={val}")
        elif key == "root_mapping" and eq:
            others += ["root_squash", f"anonuid={val}"]
        elif key == "nosub" and not eq:
            others.append("subtree_check")
        elif key in _ALLOWED:
            others.append(item)
        else:
            raise ValueError(item)
    if not hosts:
        hosts.append(("*", "rw", sec))
    tail = "".join("," + o for o in others)
    return [(h, f"sec={s},{mode},no_subtree_check,mountpoint{tail}") for h, mode, s in hosts]


def validate(host: FakeHost, value: str) -> str | None:
    """Error text when OpenZFS would refuse this ``sharenfs`` value at ``zfs set`` time."""
    if host.flavour != "openzfs" or value == "off":
        return None
    try:
        parse_openzfs(value)
    except ValueError:
        return "'sharenfs' cannot be set to invalid options"
    return None


def share(host: FakeHost, ds: Dataset, *, quiet: bool) -> Fail | None:
    """Share a mounted filesystem per its ``sharenfs``; return the failure (not raised) if sharing failed."""
    value = host.get_prop(ds, "sharenfs")[0]
    if value == "off" or not ds.mounted or ds.kind != "filesystem":
        return None
    mp = host.mountpoint_value(ds)
    if host.flavour == "openzfs":
        host.zfs_exports[mp] = parse_openzfs(value)
        exportfs_cli.resync(host.exports, host.export_files())
        ds.shared = [mp]
        return None
    stdout, stderr = "", ""
    failed = False
    for item in value.split():
        if item == "on":
            client, opts = "*", ""
        elif ":" in item:
            client, opts = item.split(":", 1)
        else:
            failed = True
            continue
        if ds.fsid is None:
            ds.fsid = host.next_fsid()
        options = (opts + "," if opts else "") + f"fsid={ds.fsid},no_subtree_check"
        target = f"{client}:{mp}"
        rc, err = exportfs_cli.export(host.existing_paths(), host.exports, options, target)
        if rc:
            failed = True
            stdout += f"exportfs -o {options} '{target}' -> {rc * 256}\n"
            stderr += err
        else:
            ds.shared.append(target)
    if failed:
        return None if quiet else Fail(stderr + f"cannot share '{ds.name}':  exportfs failed\n", 1, stdout)
    return None


def unshare(host: FakeHost, ds: Dataset) -> None:
    """Remove the exports ``share`` made for ``ds``."""
    if not ds.shared:
        return
    if host.flavour == "openzfs":
        for mp in ds.shared:
            host.zfs_exports.pop(mp, None)
        exportfs_cli.resync(host.exports, host.export_files())
    else:
        for target in ds.shared:
            exportfs_cli.unexport(host.exports, target)
    ds.shared = []
