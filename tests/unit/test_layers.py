"""The layering of docs/concepts.rst holds: the import-linter contracts of pyproject.toml are kept (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept() -> None:
    try:
        import importlinter  # noqa: F401
    except ImportError:  # the lint extra is not installed
        if os.environ.get("CI") == "true":
            pytest.fail("import-linter (the lint extra) is needed under CI=true")
        pytest.skip("import-linter is not installed (pip install -e '.[lint]')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout
