"""Start-up cost of ``import pyzfsnas`` in milliseconds (over an empty interpreter start), and what it loads.

paramiko (SSH) and the fake host are imported lazily, so a tool that only reads local pools does not pay
for them. Medians of repeated fresh interpreter starts.
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
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, pyzfsnas; print(sorted({m.split('.')[0] for m in sys.modules}))"],
        check=True, capture_output=True, text=True).stdout.strip()
    heavy = [m for m in ("paramiko", "cryptography", "manila", "oslo_config") if f"'{m}'" in loaded]
    print(table(("what", f"median ms of {RUNS}"),
                [("python -c pass", f"{base * 1e3:.1f}"),
                 ("python -c 'import pyzfsnas'", f"{ours * 1e3:.1f}")]))
    print(f"import pyzfsnas costs {(ours - base) * 1e3:.1f} ms")
    print(f"heavy modules loaded by 'import pyzfsnas': {heavy or 'none'}")
    path = write_result("import", {"runs": RUNS, "pass_s": base, "import_s": ours,
                                   "import_cost_ms": (ours - base) * 1e3, "heavy_modules_loaded": heavy})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
