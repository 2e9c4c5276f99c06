"""Start-up cost of ``import pyzfsnas`` in milliseconds (over an empty interpreter start), and what it loads.

``import pyzfsnas`` imports nothing yet (PEP 562 lazy names); ``from pyzfsnas import ZFS`` loads the facade
and what it needs, not paramiko (SSH), the fake host nor the NFS backends. Medians of repeated fresh
interpreter starts; the issue-10 goal is ≤ +40 ms over ``python -c pass``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import table, write_result

RUNS = 15


def _start(code: str) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    base = _start("pass")
    ours = _start("import pyzfsnas")
    facade = _start("from pyzfsnas import ZFS")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, pyzfsnas; print(sorted({m.split('.')[0] for m in sys.modules}))"],
        check=True, capture_output=True, text=True).stdout.strip()
    heavy = [m for m in ("paramiko", "cryptography", "manila", "oslo_config", "attrs") if f"'{m}'" in loaded]
    print(table(("what", f"median ms of {RUNS}", "added ms"),
                [("python -c pass", f"{base * 1e3:.1f}", "-"),
                 ("python -c 'import pyzfsnas'", f"{ours * 1e3:.1f}", f"+{(ours - base) * 1e3:.1f}"),
                 ("python -c 'from pyzfsnas import ZFS'", f"{facade * 1e3:.1f}", f"+{(facade - base) * 1e3:.1f}")]))
    print(f"import pyzfsnas costs {(ours - base) * 1e3:.1f} ms; "
          f"from pyzfsnas import ZFS {(facade - base) * 1e3:.1f} ms")
    print(f"heavy modules loaded by 'import pyzfsnas': {heavy or 'none'}")
    path = write_result("import", {"runs": RUNS, "pass_s": base, "import_s": ours,
                                   "import_cost_ms": (ours - base) * 1e3, "from_import_zfs_s": facade,
                                   "from_import_zfs_cost_ms": (facade - base) * 1e3, "heavy_modules_loaded": heavy})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
