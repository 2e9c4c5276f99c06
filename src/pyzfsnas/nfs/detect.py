"""Choose the NFS backend a host needs, once per host.

Upstream Manila runs ``modinfo zfs`` to tell kernel ZFS from zfs-fuse. pyzfsnas asks the facade instead,
whose flavour comes from ``zfs version`` (OpenZFS answers it, zfs-fuse rejects it): that uses the ``zfs``
tool the library needs anyway, works the same over SSH, needs no extra package (``kmod``) or privilege, and
cannot be fooled by a kernel module that is installed but not the one serving the pools.
"""

from __future__ import annotations

from pyzfsnas.executors.base import Executor
from pyzfsnas.nfs.base import NFSBackend
from pyzfsnas.nfs.fuse import FuseNFS
from pyzfsnas.nfs.kernel import KernelNFS
from pyzfsnas.zfs import ZFS

__all__ = ["detect"]


def detect(target: ZFS | Executor) -> NFSBackend:
    """A new :class:`~pyzfsnas.nfs.fuse.FuseNFS` on zfs-fuse, :class:`~pyzfsnas.nfs.kernel.KernelNFS` otherwise.

    ``target`` is a facade or an executor. The flavour is the one the facade holds (detected on its first
    need, see :meth:`ZFS.detect_flavour <pyzfsnas.zfs.ZFS.detect_flavour>`); nothing is cached here: the
    caller holds the backend it gets, and callers that must share its per-dataset locks share that object.
    """
    zfs = target if isinstance(target, ZFS) else ZFS(target)
    return FuseNFS(zfs) if zfs.detect_flavour().is_fuse else KernelNFS(zfs)
