"""``python -m tests.guest build|run -- CMD...``: build the OpenZFS guest image, or boot it and run one command."""

from __future__ import annotations

import argparse
import subprocess
import sys

from tests.guest import vm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.guest", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("build", help="build (or reuse) the cached image and print its directory")
    run = sub.add_parser("run", help="boot a pristine guest, run COMMAND in it over SSH, stop it")
    run.add_argument("command", nargs="+")
    args = parser.parse_args(argv)
    try:
        image_dir = vm.image(build=True)
        if args.action == "build":
            print(image_dir)
            return 0
        guest = vm.boot(image_dir)
    except vm.GuestUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"# booted in {guest.boot_seconds:.1f} s ({guest.accel}); {guest.zfs_version}", file=sys.stderr)
        return subprocess.run(guest.ssh_argv(*args.command), check=False).returncode
    finally:
        guest.stop()


if __name__ == "__main__":
    sys.exit(main())
