"""The etab of a fake host (state): its entries and the order nfs-utils keeps them in.

State only, like :mod:`pyzfsnas.testing.fake.host`, which holds one :class:`ExportTable`; the ``exportfs``
emulator (:mod:`pyzfsnas.testing.fake.exportfs_cli`) reads and changes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ANON", "FQDN", "NETGROUP", "SUBNET", "WILDCARD", "Export", "ExportTable", "add"]

FQDN, SUBNET, NETGROUP, WILDCARD, ANON = range(5)
@dataclass
class Export:
    """One etab entry: path, client as exportfs prints it, client type and the options given."""

    path: str
    client: str
    ctype: int
    options: dict[str, str] = field(default_factory=dict)

    def flags(self) -> str:
        """The ``(...)`` text of ``exportfs -v``/``-s``, in nfs-utils' ``dump()`` order."""
        o = self.options
        out = ["async" if "async" in o else "sync", "no_wdelay" if "no_wdelay" in o else "wdelay",
               "nohide" if "nohide" in o else "hide"]
        if "crossmnt" in o:
            out.append("crossmnt")
        if "subtree_check" not in o:
            out.append("no_subtree_check")
        if "insecure_locks" in o or "no_auth_nlm" in o:
            out.append("insecure_locks")
        if "no_acl" in o:
            out.append("no_acl")
        if "fsid" in o:
            out.append(f"fsid={o['fsid']}")
        if "mountpoint" in o or "mp" in o:
            mp = o.get("mountpoint", o.get("mp", ""))
            out.append(f"mountpoint={mp}" if mp else "mountpoint")
        if o.get("anonuid", "65534") != "65534":
            out.append(f"anonuid={o['anonuid']}")
        if o.get("anongid", "65534") != "65534":
            out.append(f"anongid={o['anongid']}")
        if "insecure" in o:
            out.append("insecure")
        out.append(f"sec={o.get('sec', 'sys')}")
        out.append("rw" if o.get("_mode") == "rw" else "ro")
        out.append("no_root_squash" if "no_root_squash" in o else "root_squash")
        out.append("all_squash" if "all_squash" in o else "no_all_squash")
        return ",".join(out)


class ExportTable:
    """The etab of one host."""

    def __init__(self) -> None:
        self.etab: list[Export] = []

    def entries(self) -> list[Export]:
        """A copy of the etab, in file order."""
        return list(self.etab)

    def load(self) -> list[list[Export]]:
        """Read the etab into per-type lists the way ``export_add`` inserts."""
        lists: list[list[Export]] = [[] for _ in range(5)]
        for e in self.etab:
            add(lists, e)
        return lists

    def store(self, lists: list[list[Export]]) -> None:
        """Write the lists back (``xtab_write``)."""
        self.etab = [e for lst in lists for e in lst]


def _hash(name: str) -> int:
    return sum(ord(c) for c in name) % 1021


def add(lists: list[list[Export]], e: Export) -> None:
    """nfs-utils ``export_add``."""
    lst = lists[e.ctype]
    h = _hash(e.client)
    same = [i for i, x in enumerate(lst) if _hash(x.client) == h]
    if same:
        lst.insert(same[-1] + 1, e)
    else:
        lst.insert(0, e)
