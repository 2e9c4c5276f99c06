"""The share service's transfer policy on top of :func:`pyzfsnas.replication.transfer`.

Incremental syncs carry every intermediate snapshot (``-I``); properties are set at receive time where the
destination supports ``receive -o``, else with one ``zfs set`` right after the receive (zfs-fuse), so callers
get the same dataset on every flavour; progress is reported as per-chunk byte counts, which is what the
migration bookkeeping adds up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from pyzfsnas.replication import TransferCancelled
from pyzfsnas.replication import transfer as _transfer
from pyzfsnas.zfs import ZFS

__all__ = ["TransferCancelled", "transfer"]


def transfer(
    src: ZFS,
    snapshot: str,
    dst: ZFS,
    target: str,
    *,
    incremental_from: str | None = None,
    replicate: bool = False,
    force: bool = False,
    properties: Mapping[str, object] | None = None,
    progress: Callable[[int], None] | None = None,
    cancel: threading.Event | None = None,
) -> None:
    """Send ``snapshot`` from ``src`` into ``target`` on ``dst`` with the driver's defaults (see module).

    A failing ``zfs set`` after the receive (zfs-fuse) leaves the received dataset: the caller discards it.
    """
    last = 0
    at_receive = bool(properties) and dst.detect_flavour().receive_properties

    def delta(total: int) -> None:
        nonlocal last
        if progress is not None:
            progress(total - last)
        last = total

    _transfer(
        src, snapshot, dst, target,
        incremental_from=incremental_from,
        intermediates=incremental_from is not None,
        replicate=replicate,
        force=force,
        properties=properties if at_receive else None,
        progress=delta,
        cancel=cancel,
    )
    if properties and not at_receive:
        dst.set(target, properties)
