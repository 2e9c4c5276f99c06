"""NFS access to datasets: validated IP access rules and the backends that put them in force on a host.

* :class:`AccessRule` — one IPv4/IPv6 address or network with ``rw``/``ro``; bad input raises
  :class:`InvalidAccessRule` before anything runs.
* :class:`NFSBackend` — the protocol: ``apply`` / ``add`` / ``remove`` / ``rules`` / ``clear``.
* :class:`KernelNFS` (OpenZFS ``sharenfs``), :class:`FuseNFS` (zfs-fuse ``sharenfs`` + ``exportfs``),
  :class:`ExportfsNFS` (``exportfs`` alone, for any path); :func:`detect` picks kernel or fuse for a host.
* :class:`GaneshaNFS` — nfs-ganesha ``EXPORT`` blocks in a file the library owns, reloaded with SIGHUP.
* :func:`parse_exportfs_v` — ``exportfs -v`` text into :class:`Export` entries.
"""

from pyzfsnas.nfs.base import NFSBackend
from pyzfsnas.nfs.detect import detect
from pyzfsnas.nfs.exportfs import (
    Export,
    ExportfsNFS,
    exportfs_add_argv,
    exportfs_remove_argv,
    parse_exportfs_v,
)
from pyzfsnas.nfs.fuse import FuseNFS, format_sharenfs_fuse, parse_sharenfs_fuse
from pyzfsnas.nfs.ganesha import GaneshaExport, GaneshaNFS
from pyzfsnas.nfs.kernel import KernelNFS, format_sharenfs_kernel, parse_sharenfs_kernel
from pyzfsnas.nfs.rules import AccessLevel, AccessRule, InvalidAccessRule, normalize_rules

__all__ = [
    "AccessLevel",
    "AccessRule",
    "Export",
    "ExportfsNFS",
    "FuseNFS",
    "GaneshaExport",
    "GaneshaNFS",
    "InvalidAccessRule",
    "KernelNFS",
    "NFSBackend",
    "detect",
    "exportfs_add_argv",
    "exportfs_remove_argv",
    "format_sharenfs_fuse",
    "format_sharenfs_kernel",
    "normalize_rules",
    "parse_exportfs_v",
    "parse_sharenfs_fuse",
    "parse_sharenfs_kernel",
]
