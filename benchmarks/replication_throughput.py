"""Replication throughput: ``transfer()`` through Python vs ``transfer_direct()`` vs a plain shell pipeline.

On real zfs-fuse pools (tests/realhosts: a daemon is reused or started, two private pools; needs root) and a
private sshd on 127.0.0.1 (the destination side of every variant crosses SSH, as between two hosts):

* ``transfer()``: local ``zfs send`` read by this process, written into ``zfs receive`` on the destination
  over :class:`~pyzfsnas.executors.ssh.SSHExecutor` (paramiko);
* ``transfer_direct()``: the source runs ``sh -c 'zfs send … | ssh … zfs receive …'`` itself;
* the shell pipeline ``zfs send SNAP | ssh … zfs receive TARGET``, run by ``sh``, no pyzfsnas at all;
* ``transfer()`` local to local (no SSH), for reference.

With ``--openzfs`` the same comparison runs on the real OpenZFS guest (tests/guest, booted for the run),
pool ``tank`` to pool ``backup`` of the one guest: ``transfer()`` reads ``zfs send`` over one SSH connection
and writes ``zfs receive`` over another; ``transfer_direct()`` and the shell pipeline run
``zfs send | ssh root@127.0.0.1 zfs receive`` inside the guest; ``zfs send | zfs receive`` inside the guest
is the floor. Under TCG emulation the absolute figures measure the emulator; the ratios are what count.

Each variant receives the same snapshot into a fresh dataset ``--runs`` times (variants interleaved, so a
noisy neighbour hurts all of them alike); the table shows median MiB/s and the ratio to the shell pipeline.
Writes ``benchmarks/results/replication_throughput[_openzfs].json``. Not a test; run it under the
real-component lock: ``flock /tmp/pyzfsnas-real.lock python benchmarks/replication_throughput.py [--mib 256]
[--runs 3] [--openzfs]``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from benchmarks._common import table, write_result  # noqa: E402
from tests.realhosts.sshd import start_server  # noqa: E402
from tests.realhosts.zfsfuse import start_host  # noqa: E402

from pyzfsnas import ZFS, LocalExecutor  # noqa: E402
from pyzfsnas.executors.ssh import SSHExecutor  # noqa: E402
from pyzfsnas.replication import SSHTarget, transfer, transfer_direct  # noqa: E402

MiB = 1 << 20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="MiB of random data in the snapshot")
    parser.add_argument("--runs", type=int, default=3, help="runs per variant")
    parser.add_argument("--openzfs", action="store_true", help="on the real OpenZFS guest instead of zfs-fuse")
    args = parser.parse_args()
    if args.openzfs:
        return openzfs(args)

    host = start_host()
    server = start_server()
    try:
        info = server.info
        tank = host.create_pool("tank", size=f"{args.mib * 2 + 256}M")
        backup = host.create_pool("backup", size=f"{args.mib * 2 * (args.runs + 1) + 512}M")
        local = ZFS(LocalExecutor())
        remote = ZFS(SSHExecutor(info.host, port=info.port, username=info.root_user,
                                 key_filename=str(info.user_key_path), known_hosts=str(info.known_hosts_path),
                                 allow_agent=False))
        src = f"{tank.name}/data"
        local.create_dataset(src)
        mountpoint = local.dataset(src).mountpoint
        assert mountpoint
        with open(Path(mountpoint) / "blob", "wb") as f:
            left = args.mib * MiB
            while left:
                n = min(left, 8 * MiB)
                f.write(os.urandom(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
        snap = f"{src}@bench"
        local.snapshot(snap)
        ssh_opts = ("-o", f"UserKnownHostsFile={info.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
                    "-o", "IdentitiesOnly=yes", "-F", "/dev/null")
        via = SSHTarget(info.host, user=info.root_user, port=info.port, identity_file=str(info.user_key_path),
                        options=(f"UserKnownHostsFile={info.known_hosts_path}", "StrictHostKeyChecking=yes",
                                 "IdentitiesOnly=yes"))
        ssh_argv = ["ssh", "-i", str(info.user_key_path), "-p", str(info.port), *ssh_opts, "-o", "BatchMode=yes",
                    f"{info.root_user}@{info.host}"]
        nbytes: list[int] = []

        def via_python(target: str) -> None:
            nbytes.append(transfer(local, snap, remote, target, unmounted=True).nbytes)

        def direct(target: str) -> None:
            transfer_direct(local, snap, remote, target, via, unmounted=True)

        def shell(target: str) -> None:
            line = (f"zfs send {shlex.quote(snap)} | {shlex.join(ssh_argv)} "
                    f"{shlex.quote('zfs receive -u ' + shlex.quote(target))}")
            subprocess.run(["sh", "-c", line], check=True, capture_output=True, timeout=3600)

        def local_python(target: str) -> None:
            transfer(local, snap, local, target, unmounted=True)

        variants: dict[str, Callable[[str], None]] = {
            "zfs send | ssh zfs receive (shell)": shell,
            "transfer_direct() (source pipes over its ssh)": direct,
            "transfer() through Python (paramiko to dst)": via_python,
            "transfer() local to local (no ssh)": local_python,
        }
        times = interleaved(variants, args.runs, backup.name, lambda target: local.destroy(target, recursive=True))
        report("replication_throughput", "zfs-fuse", nbytes[0], times, "zfs send | ssh zfs receive (shell)",
               args.runs, f"{args.mib} MiB of random data, zfs-fuse pools, sshd on 127.0.0.1")
        remote.executor.close()
    finally:
        server.close()
        host.close()
    return 0


def interleaved(variants: dict[str, Callable[[str], None]], runs: int, parent: str,
                destroy: Callable[[str], None]) -> dict[str, list[float]]:
    """Time each variant ``runs`` times, interleaved (run 1 of each, then run 2 of each...), each receiving into
    a fresh ``PARENT/v<i>r<run>`` that is destroyed after it (untimed); the seconds per variant."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in range(runs):
        for i, (name, fn) in enumerate(variants.items()):
            target = f"{parent}/v{i}r{run}"
            start = time.perf_counter()
            fn(target)
            times[name].append(time.perf_counter() - start)
            destroy(target)
    return times


def report(name: str, host: str, size: int, times: dict[str, list[float]], shell_name: str, runs: int,
           note: str) -> None:
    """Print the table (median MiB/s, min, max, ratio to the shell pipeline) and write the JSON result."""
    shell_rate = size / MiB / statistics.median(times[shell_name])
    rows = []
    results = {}
    for variant, samples in times.items():
        rate = size / MiB / statistics.median(samples)
        rows.append([variant, f"{rate:.1f}", f"{min(size / MiB / s for s in samples):.1f}",
                     f"{max(size / MiB / s for s in samples):.1f}", f"{rate / shell_rate:.2f}x"])
        results[variant] = {"median_mib_s": rate, "seconds": samples, "vs_shell": rate / shell_rate}
    print(f"stream: {size / MiB:.1f} MiB, {runs} runs per variant, {note}")
    print(table(["variant", "median MiB/s", "min", "max", "vs shell"], rows))
    path = write_result(name, {"benchmark": name, "host": host, "stream_bytes": size, "runs": runs,
                               "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results})
    print(f"wrote {path}")


def openzfs(args: argparse.Namespace) -> int:
    """The comparison on the real OpenZFS guest (see the module docstring)."""
    from tests.realhosts.openzfs import start_guest

    host = start_guest()
    try:
        g = host.guest
        # root in the guest may ssh to itself with the image's key (for transfer_direct and the pipeline)
        host.run("sh", "-c", "mkdir -p /root/.ssh && cat > /root/.ssh/id_ed25519 && chmod 600 /root/.ssh/id_ed25519"
                 " && ssh-keyscan -t ed25519 127.0.0.1 > /root/.ssh/known_hosts 2>/dev/null",
                 stdin=g.key_path.read_bytes())
        src_zfs = ZFS(host.executor)
        dst_ex = g.executor()
        dst_zfs = ZFS(dst_ex)
        src_zfs.create_dataset("tank/bench")
        host.run("sh", "-c", f"head -c {args.mib}M /dev/urandom > /tank/bench/blob && sync")
        snap = "tank/bench@bench"
        src_zfs.snapshot(snap)
        via = SSHTarget("127.0.0.1", user="root", options=("StrictHostKeyChecking=yes",))
        nbytes: list[int] = []

        def python(target: str) -> None:
            nbytes.append(transfer(src_zfs, snap, dst_zfs, target, unmounted=True).nbytes)

        def direct(target: str) -> None:
            transfer_direct(src_zfs, snap, dst_zfs, target, via, unmounted=True)

        def shell(target: str) -> None:
            host.run("sh", "-c", f"zfs send {snap} | ssh -o BatchMode=yes root@127.0.0.1 zfs receive -u {target}")

        def local(target: str) -> None:
            host.run("sh", "-c", f"zfs send {snap} | zfs receive -u {target}")

        variants: dict[str, Callable[[str], None]] = {
            "zfs send | ssh zfs receive (shell, in the guest)": shell,
            "transfer_direct() (the guest pipes over its ssh)": direct,
            "transfer() through Python (two SSH connections)": python,
            "zfs send | zfs receive (in the guest, no ssh)": local,
        }
        times = interleaved(variants, args.runs, "backup", lambda target: src_zfs.destroy(target, recursive=True))
        report("replication_throughput_openzfs", f"openzfs {host.version} guest ({g.accel})", nbytes[0], times,
               "zfs send | ssh zfs receive (shell, in the guest)", args.runs,
               f"{args.mib} MiB of random data, OpenZFS {host.version} guest under {g.accel.split()[0]}")
        dst_ex.close()
    finally:
        host.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
