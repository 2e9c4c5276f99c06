"""Host flavours: what the ZFS tools of a host can do, decided once per host from ``zfs version``.

OpenZFS 2.x answers ``zfs version`` (``zfs-2.2.2-1``); zfs-fuse 0.7 answers "unrecognized command". The
capabilities below pick the command forms each flavour supports, so the facade never sends a form the host
would reject.
"""

from __future__ import annotations

import re
from typing import Literal

import attrs

from pyzfsnas.errors import ToolNotFound, UnsupportedOperation
from pyzfsnas.result import Result

__all__ = ["FUSE", "OPENZFS", "Flavour", "FlavourName", "flavour_from_version"]

FlavourName = Literal["openzfs", "zfs-fuse"]


@attrs.frozen
class Flavour:
    """The ZFS implementation of a host and its capabilities."""

    name: FlavourName
    version: str = ""

    @property
    def is_fuse(self) -> bool:
        """True for zfs-fuse."""
        return self.name == "zfs-fuse"

    @property
    def parsable_list(self) -> bool:
        """``zfs list -p`` and ``zpool list -p`` exist."""
        return not self.is_fuse

    @property
    def zpool_get_scripted(self) -> bool:
        """``zpool get -H -p -o`` exists (zfs-fuse only prints a header table)."""
        return not self.is_fuse

    @property
    def get_types(self) -> bool:
        """``zfs get -t TYPE`` exists."""
        return not self.is_fuse

    @property
    def multi_set(self) -> bool:
        """``zfs set a=1 b=2 DS`` sets several properties in one command."""
        return not self.is_fuse

    @property
    def multi_snapshot(self) -> bool:
        """``zfs snapshot a@x b@x`` takes several snapshots in one command, atomically within a pool."""
        return not self.is_fuse

    @property
    def holds(self) -> bool:
        """``zfs holds`` works."""
        return not self.is_fuse

    @property
    def volumes(self) -> bool:
        """Volumes (zvols) can be created."""
        return not self.is_fuse

    @property
    def receive_properties(self) -> bool:
        """``zfs receive -o prop=value`` exists."""
        return not self.is_fuse

    @property
    def resumable_receive(self) -> bool:
        """``zfs receive -s`` and ``receive_resume_token`` exist."""
        return not self.is_fuse

    @property
    def busy_bug(self) -> bool:
        """Rename/destroy of a freshly mounted dataset fails "dataset is busy" (zfs-fuse)."""
        return self.is_fuse

    @property
    def stale_cache_after_receive(self) -> bool:
        """An incremental receive into a mounted filesystem leaves stale file data in the page cache (zfs-fuse)."""
        return self.is_fuse

    def require(self, capability: str, what: str) -> None:
        """Raise :class:`UnsupportedOperation` unless this flavour has ``capability``."""
        if not getattr(self, capability):
            raise UnsupportedOperation(f"{what} is not supported on {self.name} {self.version}".rstrip())


#: OpenZFS 2.x (every capability).
OPENZFS: Flavour = Flavour("openzfs")
#: zfs-fuse 0.7.
FUSE: Flavour = Flavour("zfs-fuse", "0.7")

_VERSION = re.compile(r"^zfs-(\d[\w.\-]*)", re.MULTILINE)


def flavour_from_version(result: Result) -> Flavour:
    """Decide the flavour from the result of ``zfs version``.

    Raises :class:`ToolNotFound` when the answer is neither (no ``zfs`` on the host, daemon down).
    """
    if result.returncode == 0:
        m = _VERSION.search(result.stdout)
        return Flavour("openzfs", m.group(1) if m else "")
    if "unrecognized command 'version'" in result.stderr:
        return FUSE
    raise ToolNotFound(result.argv, result.returncode, result.stderr, result.stdout,
                       message="cannot tell which ZFS this host runs: 'zfs version' failed", prefix=result.prefix)
