"""The real OpenZFS test host: a Debian 12 guest under QEMU, built by ``build-image.sh``, reached over SSH.

The guest never touches a network: QEMU user networking with ``restrict=on``, its sshd forwarded to a free port
on 127.0.0.1 only. Every boot is pristine (the root disk is a qcow2 overlay over the cached image; the pool disks
are new sparse files). KVM is used when the host really runs a stock kernel's vCPU under it; otherwise TCG
(this project's machines expose a PVM ``/dev/kvm`` that hangs stock kernels, see
``shared/reference/openzfs-guest.md``).

Use it from Python (:func:`image`, :func:`boot`, :class:`Guest`) or as a tool::

    python -m tests.guest build          # build or reuse the cached image, print its directory
    python -m tests.guest run -- zfs version   # boot, run one command over SSH, stop
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BUILD_SCRIPT", "Guest", "GuestUnavailable", "accelerator", "boot", "image"]

BUILD_SCRIPT = Path(__file__).with_name("build-image.sh")
QEMU = "qemu-system-x86_64"
#: How long a boot may take to answer SSH: ~60 s is normal under TCG on 2 cores, KVM ~10 s.
BOOT_TIMEOUT = float(os.environ.get("PYZFSNAS_GUEST_BOOT_TIMEOUT", "240"))
#: Size of each sparse pool disk (they grow with what the tests write).
POOL_DISK_BYTES = 4 << 30


class GuestUnavailable(RuntimeError):
    """The guest cannot be built or booted here; the message says why (missing tool, not root, boot failed)."""


def image(*, build: bool = True, suite: str | None = None) -> Path:
    """The cached image directory for ``suite`` (default: ``PYZFSNAS_GUEST_ZFS_SUITE`` or OpenZFS 2.3.x).

    With ``build`` the image is built first when it is not cached yet (root, debootstrap and the Debian mirror
    needed; ~9 minutes on 2 cores). Raises :class:`GuestUnavailable` with the builder's reason otherwise.
    """
    env = dict(os.environ)
    if suite is not None:
        env["PYZFSNAS_GUEST_ZFS_SUITE"] = suite
    if not build:
        env["PYZFSNAS_GUEST_CACHED_ONLY"] = "1"
    if shutil.which("bash") is None:  # pragma: no cover - every Debian has bash
        raise GuestUnavailable("bash is missing")
    proc = subprocess.run(["bash", str(BUILD_SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=3600, check=False)
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise GuestUnavailable(f"no OpenZFS guest image: {reason[0]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def _kvm_usable() -> tuple[bool, str]:
    """Whether KVM can run a stock kernel here, and why not.

    ``/dev/kvm`` alone is not enough: a PVM host (``kvm_pvm``) creates VMs but hangs every kernel not built for
    PVM. A stock kernel needs hardware virtualisation, i.e. ``kvm_intel`` or ``kvm_amd``.
    """
    if os.environ.get("PYZFSNAS_GUEST_ACCEL") == "tcg":
        return False, "PYZFSNAS_GUEST_ACCEL=tcg"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "no usable /dev/kvm"
    for module in ("kvm_intel", "kvm_amd"):
        if Path("/sys/module", module).exists():
            return True, module
    pvm = " (kvm_pvm: runs only PVM guest kernels)" if Path("/sys/module/kvm_pvm").exists() else ""
    return False, f"/dev/kvm without kvm_intel/kvm_amd{pvm}"


def accelerator() -> tuple[list[str], str]:
    """QEMU's accelerator arguments and a short reason for the choice."""
    ok, why = _kvm_usable()
    if ok:
        return ["-accel", "kvm", "-cpu", "host"], f"kvm ({why})"
    return ["-accel", "tcg,thread=multi", "-cpu", "max"], f"tcg ({why})"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Guest:
    """A running guest: where its sshd answers, how to log in, and how to stop it."""

    image_dir: Path
    run_dir: Path
    port: int
    process: subprocess.Popen[bytes]
    accel: str
    boot_seconds: float = 0.0
    zfs_version: str = ""
    _owned_run_dir: bool = field(default=False, repr=False)

    @property
    def key_path(self) -> Path:
        """root's private login key (ed25519, generated when the image was built)."""
        return self.image_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        """A known_hosts file naming the guest's own host key for ``[127.0.0.1]:port``."""
        return self.run_dir / "known_hosts"

    @property
    def console_log(self) -> Path:
        return self.run_dir / "console.log"

    def ssh_argv(self, *command: str) -> list[str]:
        """An OpenSSH client argv that runs ``command`` in the guest as root (host key checked)."""
        return ["ssh", "-p", str(self.port), "-i", str(self.key_path), "-o", "BatchMode=yes",
                "-o", f"UserKnownHostsFile={self.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
                "root@127.0.0.1", "--", shlex.join(command)]  # the remote shell splits it again

    def executor(self, **kwargs: object) -> object:
        """A new :class:`pyzfsnas.SSHExecutor` logged in as root (the caller closes it)."""
        from pyzfsnas.executors.ssh import SSHExecutor

        return SSHExecutor("127.0.0.1", port=self.port, username="root", key_filename=str(self.key_path),
                           known_hosts=str(self.known_hosts_path), **kwargs)  # type: ignore[arg-type]

    def console_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self, timeout: float = 30.0) -> None:
        """Power the guest off (ACPI via ``poweroff``, then kill) and remove its run directory."""
        if self.process.poll() is None:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(self.ssh_argv("systemctl", "poweroff", "--no-block"), capture_output=True,
                               timeout=15, check=False)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._owned_run_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _ssh_ready(guest: Guest) -> bool:
    """One login attempt with the OpenSSH client: true once sshd accepts root's key."""
    try:
        proc = subprocess.run(guest.ssh_argv("true"), capture_output=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def boot(image_dir: Path, *, memory_mib: int = 2048, cpus: int = 2, run_dir: Path | None = None) -> Guest:
    """Boot a pristine guest from ``image_dir`` and wait until root can log in over SSH.

    Two sparse pool disks appear in the guest as ``/dev/disk/by-id/virtio-pool1`` and ``virtio-pool2``.
    Raises :class:`GuestUnavailable` (with the end of the serial console) if it does not come up in time.
    """
    for tool in (QEMU, "qemu-img", "ssh"):
        if shutil.which(tool) is None:
            raise GuestUnavailable(f"{tool} is not installed")
    owned = run_dir is None
    rd = Path(tempfile.mkdtemp(prefix="pyzfsnas-guest-")) if run_dir is None else run_dir
    rd.mkdir(parents=True, exist_ok=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image_dir / "root.raw"),
                    str(rd / "root.qcow2")], check=True, capture_output=True)
    for disk in ("pool1", "pool2"):
        with open(rd / f"{disk}.img", "wb") as f:
            f.truncate(POOL_DISK_BYTES)
    port = _free_port()
    host_key = (image_dir / "ssh_host_ed25519_key.pub").read_text().split()
    (rd / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    accel_args, accel = accelerator()
    argv = [
        QEMU, *accel_args, "-machine", "q35", "-m", str(memory_mib), "-smp", str(cpus),
        "-display", "none", "-no-reboot", "-nodefaults",
        "-kernel", str(image_dir / "vmlinuz"), "-initrd", str(image_dir / "initrd.img"),
        "-append", "root=/dev/vda rw console=ttyS0 systemd.show_status=0 net.ifnames=0",
        # Fixed PCI slots make the enumeration order fixed: root is vda, the pool disks vdb and vdc.
        "-drive", f"if=none,id=root,file={rd / 'root.qcow2'},format=qcow2",
        "-device", "virtio-blk-pci,drive=root,addr=0x5",
        "-drive", f"if=none,id=pool1,file={rd / 'pool1.img'},format=raw,cache=unsafe",
        "-device", "virtio-blk-pci,drive=pool1,serial=pool1,addr=0x6",
        "-drive", f"if=none,id=pool2,file={rd / 'pool2.img'},format=raw,cache=unsafe",
        "-device", "virtio-blk-pci,drive=pool2,serial=pool2,addr=0x7",
        # No network but the forward of sshd to 127.0.0.1: restrict=on keeps the guest off every network.
        "-netdev", f"user,id=n0,ipv4=on,ipv6=on,restrict=on,hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
        "-serial", f"file:{rd / 'console.log'}",
        "-monitor", f"unix:{rd / 'monitor.sock'},server,nowait",
        "-pidfile", str(rd / "qemu.pid"),
    ]
    (rd / "qemu.argv").write_text("\n".join(argv) + "\n")
    start = time.monotonic()
    with open(rd / "qemu.log", "wb") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    guest = Guest(image_dir=image_dir, run_dir=rd, port=port, process=process, accel=accel,
                  _owned_run_dir=owned)
    deadline = start + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            qemu_log = (rd / "qemu.log").read_text(errors="replace").strip()
            guest.stop()
            raise GuestUnavailable(f"qemu exited {process.returncode} while booting: {qemu_log[-500:]}")
        if _ssh_ready(guest):
            guest.boot_seconds = time.monotonic() - start
            proc = subprocess.run(guest.ssh_argv("zfs", "version"), capture_output=True, text=True,
                                  timeout=60, check=False)
            guest.zfs_version = proc.stdout.strip().splitlines()[0] if proc.returncode == 0 else ""
            if not guest.zfs_version:
                tail = guest.console_tail()
                guest.stop()
                raise GuestUnavailable(f"the guest booted but 'zfs version' failed: {proc.stderr.strip()}\n{tail}")
            return guest
        time.sleep(2)
    tail = guest.console_tail()
    guest.stop()
    raise GuestUnavailable(f"the guest did not answer SSH within {BOOT_TIMEOUT:.0f} s ({accel}); console:\n{tail}")
