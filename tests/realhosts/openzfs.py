"""Real OpenZFS 2.x with the kernel NFS server: the QEMU guest of ``tests/guest``, driven over one SSH session.

The session fixture boots the cached image (built by ``tests/guest/build-image.sh``; under ``CI=true`` or with
``PYZFSNAS_GUEST_BUILD=1`` it is built first when missing), creates two pools on the guest's two virtio disks —
``tank`` and ``backup`` — and hands the tests one persistent :class:`~pyzfsnas.executors.ssh.SSHExecutor`
logged in as root. Elsewhere (no QEMU, no image, not root) the tests that need it skip with the reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from tests.guest import vm
from tests.realhosts.common import ComponentUnavailable, in_ci, timings

__all__ = ["COMPONENT", "OpenZFSGuest", "start_guest"]

COMPONENT = "openzfs guest"
POOLS = {"tank": "/dev/disk/by-id/virtio-pool1", "backup": "/dev/disk/by-id/virtio-pool2"}


@dataclass
class OpenZFSGuest:
    """A booted guest, its session executor and its two pools."""

    guest: vm.Guest
    executor: Any  # pyzfsnas SSHExecutor (typed loosely: tests import the library lazily)
    version: str

    def run(self, *argv: str, check: bool = True, stdin: bytes | str | None = None) -> Any:
        """Run ``argv`` in the guest on the session connection; raise on a non-zero exit if ``check``."""
        result = self.executor.run(list(argv), stdin=stdin)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv!r} failed in the guest: exit {result.returncode}: {result.stderr}")
        return result

    def sh(self, script: str, check: bool = True) -> Any:
        """Run a small shell script in the guest (test helpers only; the library never runs a shell)."""
        return self.run("sh", "-c", script, check=check)

    def close(self) -> None:
        try:
            self.executor.close()
        finally:
            with timings.measure("openzfs guest stop"):
                self.guest.stop()


def start_guest() -> OpenZFSGuest:
    """Boot the guest (building its image when allowed) and create the ``tank`` and ``backup`` pools."""
    build = in_ci() or os.environ.get("PYZFSNAS_GUEST_BUILD") == "1"
    try:
        with timings.measure("openzfs guest image"):
            image_dir = vm.image(build=build)
        start = time.perf_counter()
        guest = vm.boot(image_dir)
        timings.add(f"openzfs guest boot ({guest.accel.split()[0]})", time.perf_counter() - start)
    except vm.GuestUnavailable as exc:
        hint = "" if build else " (set PYZFSNAS_GUEST_BUILD=1 or run `bash tests/guest/build-image.sh`)"
        raise ComponentUnavailable(COMPONENT, f"{exc}{hint}") from exc
    try:
        executor = guest.executor()
        host = OpenZFSGuest(guest=guest, executor=executor, version=guest.zfs_version)
        for pool, disk in POOLS.items():
            with timings.measure("openzfs zpool create"):
                host.run("zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint=/{pool}", pool, disk)
        # A second address in a network namespace of the guest, for "denied client" NFS tests.
        host.sh(
            "ip netns add denied && ip link add veth-host type veth peer name veth-denied"
            " && ip link set veth-denied netns denied"
            " && ip addr add 192.168.77.1/24 dev veth-host && ip -6 addr add fd77::1/64 dev veth-host nodad"
            " && ip link set veth-host up"
            " && ip netns exec denied ip addr add 192.168.77.2/24 dev veth-denied"
            " && ip netns exec denied ip -6 addr add fd77::2/64 dev veth-denied nodad"
            " && ip netns exec denied ip link set veth-denied up && ip netns exec denied ip link set lo up"
        )
    except BaseException:
        guest.stop()
        raise
    return host
