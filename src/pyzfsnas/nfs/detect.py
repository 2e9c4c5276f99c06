"""Choose the NFS backend a host needs, once per host.

Upstream Manila runs ``modinfo zfs`` to tell kernel ZFS from zfs-fuse. pyzfsnas asks the facade instead,
whose flavour comes from ``zfs version`` (OpenZFS answers it, zfs-fuse rejects it): that uses the ``zfs``
tool the library needs anyway, works the same over SSH, needs no extra package (``kmod``) or privilege, and
cannot be fooled by a kernel module that is installed but not the one serving the pools.
"""

from __future__ import annotations

import threading
import weakref

from pyzfsnas.executors.base import Executor
from pyzfsnas.nfs.base import NFSBackend
from pyzfsnas.nfs.fuse import FuseNFS
from pyzfsnas.nfs.kernel import KernelNFS
from pyzfsnas.zfs import ZFS

__all__ = ["detect"]

_cache: weakref.WeakKeyDictionary[ZFS, NFSBackend] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def detect(target: ZFS | Executor) -> NFSBackend:
    """:class:`~pyzfsnas.nfs.fuse.FuseNFS` on zfs-fuse, :class:`~pyzfsnas.nfs.kernel.KernelNFS` otherwise.

    ``target`` is a facade or an executor. The host's flavour is detected once per executor (see
    :attr:`ZFS.flavour <pyzfsnas.zfs.ZFS.flavour>`); the backend object is cached per facade, so callers
    sharing a facade share its per-dataset locks.
    """
    zfs = target if isinstance(target, ZFS) else ZFS(target)
    with _lock:
        backend = _cache.get(zfs)
        if backend is None:
            backend = FuseNFS(zfs) if zfs.flavour.is_fuse else KernelNFS(zfs)
            _cache[zfs] = backend
        return backend
