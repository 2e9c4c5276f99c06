"""Run every benchmark (``nox -s benchmarks``): each prints a table and writes JSON to benchmarks/results/.

Not part of the test run. Timings are ratios against a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["lifecycle_roundtrips.py", "parse_bench.py", "import_bench.py", "ssh_overhead.py",
           "manila_side_by_side.py"]


def main() -> int:
    failed = []
    for script in SCRIPTS:
        print(f"\n===== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], check=False).returncode != 0:
            failed.append(script)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
