"""Micro-benchmark: what SSHExecutor costs per command, against raw paramiko and a fresh ``ssh`` per command.

Starts a private sshd on 127.0.0.1 (tests/realhosts/sshd.py; needs root and openssh-server), then times
``--count`` runs of ``true`` three ways:

* ``SSHExecutor.run(["true"])`` on one persistent connection (quoting, threads, result decoding included);
* raw paramiko: ``open_session`` + ``exec_command("true")`` + ``recv_exit_status`` on one open transport
  whose socket has TCP_NODELAY (the floor for any paramiko-based executor);
* a fresh OpenSSH ``ssh`` process per command (new TCP connection, key exchange and auth every time).

Prints a table of medians and ratios and writes benchmarks/results/ssh_overhead.json. Not a test.
Usage: ``python benchmarks/ssh_overhead.py [--count 200] [--ssh-count 200]``.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "benchmarks")]

import paramiko  # noqa: E402
from _common import write_result  # noqa: E402
from tests.realhosts.sshd import SshdInfo, start_server  # noqa: E402

from pyzfsnas.executors.ssh import SSHExecutor  # noqa: E402


def timed(fn: Callable[[], object], count: int) -> list[float]:
    """Wall-clock seconds of ``count`` calls of ``fn`` (after one untimed warm-up call)."""
    fn()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def bench_executor(info: SshdInfo, count: int) -> list[float]:
    ex = SSHExecutor(info.host, port=info.port, username=info.user, key_filename=str(info.user_key_path),
                     known_hosts=str(info.known_hosts_path), allow_agent=False)
    try:
        def one() -> None:
            assert ex.run(["true"]).returncode == 0
        return timed(one, count)
    finally:
        ex.close()


def bench_raw_paramiko(info: SshdInfo, count: int) -> list[float]:
    client = paramiko.SSHClient()
    client.load_system_host_keys(str(info.known_hosts_path))
    sock = socket.create_connection((info.host, info.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.connect(info.host, port=info.port, username=info.user, key_filename=str(info.user_key_path),
                   allow_agent=False, look_for_keys=False, sock=sock)
    transport = client.get_transport()
    assert transport is not None
    try:
        def one() -> None:
            chan = transport.open_session()
            chan.exec_command("true")
            assert chan.recv_exit_status() == 0
            chan.close()
        return timed(one, count)
    finally:
        client.close()


def bench_ssh_cli(info: SshdInfo, count: int) -> list[float]:
    argv = [
        "ssh", "-i", str(info.user_key_path), "-p", str(info.port),
        "-o", f"UserKnownHostsFile={info.known_hosts_path}", "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-F", "/dev/null",
        f"{info.user}@{info.host}", "true",
    ]

    def one() -> None:
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    return timed(one, count)


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(samples),
        "median_ms": statistics.median(samples) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
        "min_ms": ordered[0] * 1000,
        "max_ms": ordered[-1] * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="commands per paramiko-based variant")
    parser.add_argument("--ssh-count", type=int, default=200, help="commands for the fresh-ssh variant")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "ssh_overhead.json")
    args = parser.parse_args()

    server = start_server()
    try:
        info = server.info
        results = {
            "SSHExecutor.run (one connection)": summary(bench_executor(info, args.count)),
            "raw paramiko exec (one transport, TCP_NODELAY)": summary(bench_raw_paramiko(info, args.count)),
            "fresh ssh process per command": summary(bench_ssh_cli(info, args.ssh_count)),
        }
    finally:
        server.close()

    base = results["raw paramiko exec (one transport, TCP_NODELAY)"]["median_ms"]
    print(f"{'variant':<48} {'n':>4} {'median ms':>10} {'p90 ms':>8} {'vs raw':>7}")
    for name, row in results.items():
        print(f"{name:<48} {row['n']:>4.0f} {row['median_ms']:>10.2f} {row['p90_ms']:>8.2f} "
              f"{row['median_ms'] / base:>6.2f}x")
    payload = {
        "benchmark": "ssh_overhead",
        "command": "true",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "paramiko": paramiko.__version__,
        "results": results,
        "ratios_vs_raw_paramiko": {name: row["median_ms"] / base for name, row in results.items()},
    }
    print(f"wrote {write_result('ssh_overhead', payload, args.out)}")  # machine facts: python, commit...
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
