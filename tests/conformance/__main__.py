"""``python -m tests.conformance capture|diff``: record the real guest's outputs as fixtures, or show differences.

``capture`` boots a pristine OpenZFS guest (``tests/guest``), creates its pools as the ``openzfs`` fixture does,
runs :data:`tests.conformance.script.SCRIPT` and writes one fixture per step under
``tests/fixtures/openzfs-2.3/conformance/`` with a ``.source.txt`` naming the command and the guest's version.
``--port/--key/--known-hosts`` use an already running guest instead (its pools must exist).
``diff`` runs the script on the fake host and prints every difference from the committed fixtures.
"""

from __future__ import annotations

import argparse
import datetime
import difflib
import sys
from typing import Any

from tests.conformance import script


def _executor(args: argparse.Namespace) -> tuple[Any, Any]:
    if args.port:
        from pyzfsnas.executors.ssh import SSHExecutor

        return SSHExecutor("127.0.0.1", port=args.port, username="root", key_filename=args.key,
                           known_hosts=args.known_hosts), None
    from tests.realhosts.openzfs import start_guest

    guest = start_guest()
    return guest.executor, guest


def capture(args: argparse.Namespace) -> int:
    executor, guest = _executor(args)
    try:
        version = executor.run(["zfs", "version"]).stdout.split()
        kernel = executor.run(["uname", "-r"]).stdout.strip()
        outcomes = script.run_script(executor)
    finally:
        if guest is not None:
            guest.close()
        else:
            executor.close()
    script.write_fixtures(outcomes)
    source = script.FIXTURES.parent / "conformance.source.txt"
    source.write_text(
        "Captured by: python -m tests.conformance capture   (tests/conformance/__main__.py)\n"
        f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"Host: the project's QEMU guest (tests/guest/build-image.sh): Debian 12, kernel {kernel}, "
        f"{' / '.join(version)} (bookworm-backports zfs-dkms), pools tank and backup created with\n"
        "  zpool create -f -o ashift=12 -O mountpoint=/POOL POOL /dev/disk/by-id/virtio-poolN"
        " (tests/realhosts/openzfs.py)\n"
        "Over: pyzfsnas SSHExecutor as root (stdout, stderr and exit code exactly as received).\n"
        "Layout: conformance/NNN-STEP.txt, one per step of tests/conformance/script.py SCRIPT, in order:\n"
        "  $ argv / --- stdout --- / --- stderr --- / --- exit code: N ---  (a send's stream is shown as"
        " '<stream>').\n"
    )
    print(f"wrote {len(outcomes)} fixtures to {script.FIXTURES}", file=sys.stderr)
    return 0


def diff(_: argparse.Namespace) -> int:
    real = script.load_fixtures()
    fake = script.run_script(script.fake_executor())
    found = script.compare(fake, real)
    for key, (a, b) in found.items():
        known = script.KNOWN_DIFFERENCES.get(key)
        print(f"===== {key}" + (f"   (known: {known})" if known else ""))
        print("".join(list(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "fake", "real", n=0))[2:]))
    unknown = [k for k in found if k not in script.KNOWN_DIFFERENCES]
    print(f"{len(found)} differences, {len(unknown)} not known", file=sys.stderr)
    return 1 if unknown else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    cap = sub.add_parser("capture", help="run the script on a real guest and write the fixtures")
    cap.add_argument("--port", type=int)
    cap.add_argument("--key")
    cap.add_argument("--known-hosts")
    sub.add_parser("diff", help="compare the fake host with the committed fixtures")
    args = parser.parse_args(argv)
    return capture(args) if args.action == "capture" else diff(args)


if __name__ == "__main__":
    sys.exit(main())
