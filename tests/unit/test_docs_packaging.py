"""What the documentation promises about packaging: the ``oslo.config.opts`` entry point, and nox sessions
that install every extra their pages or benchmarks import."""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI") == "true"


def _pyproject() -> dict[str, object]:
    tomllib = pytest.importorskip("tomllib", reason="Python 3.11+ reads pyproject.toml with tomllib")
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def _need_oslo_config() -> None:
    if importlib.util.find_spec("oslo_config") is None or importlib.util.find_spec("manila") is None:
        if IN_CI:
            pytest.fail("oslo.config/manila not installed (CI=true): pip install -e '.[manila]'")
        pytest.skip("needs the manila extra (pip install -e '.[manila]')")


def test_oslo_config_generator_finds_the_pyzfsnas_namespace(tmp_path: Path) -> None:
    """``oslo-config-generator --namespace pyzfsnas`` prints every option, through the declared entry point.

    The entry point is read from pyproject.toml into a minimal ``.dist-info`` on ``PYTHONPATH``, so the test
    checks this tree's declaration whatever copy of the package is installed.
    """
    _need_oslo_config()
    entry_points = _pyproject()["project"]["entry-points"]  # type: ignore[index]
    target = entry_points["oslo.config.opts"]["pyzfsnas"]
    dist = tmp_path / "pyzfsnas_docs_probe-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pyzfsnas-docs-probe\nVersion: 0\n")
    (dist / "entry_points.txt").write_text(f"[oslo.config.opts]\npyzfsnas = {target}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT / "src")]),
           "PYTHONWARNINGS": "ignore", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "oslo_config.generator", "--namespace", "pyzfsnas"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Could not load" not in proc.stderr + proc.stdout
    from pyzfsnas.manila_glue import options

    names = [opt.name for opt in [*options.ZFSONLINUX_OPTS, *options.PYZFSNAS_OPTS]]
    printed = {line[1:].split(" =", 1)[0] for line in proc.stdout.splitlines() if line.startswith("#zfs_")}
    assert [n for n in names if n not in printed] == []


def _installs(session: str) -> list[str]:
    """The arguments of ``session.install(...)`` in the noxfile session ``session``."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == session)
    return [ast.literal_eval(arg) for call in ast.walk(func) if isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute) and call.func.attr == "install" for arg in call.args]


@pytest.mark.parametrize(("session", "extras"), [("docs", {"docs", "manila"}), ("benchmarks", {"test", "manila"})])
def test_nox_sessions_install_every_extra_they_import(session: str, extras: set[str]) -> None:
    installed = {e for arg in _installs(session) if arg.startswith(".[") for e in arg[2:-1].split(",")}
    assert extras <= installed


def test_docs_extra_has_the_theme_and_extensions_conf_py_loads() -> None:
    docs_extra = " ".join(_pyproject()["project"]["optional-dependencies"]["docs"])  # type: ignore[index]
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    for dist, used in (("furo", '"furo"'), ("sphinx-copybutton", '"sphinx_copybutton"'),
                       ("oslo.config", '"oslo_config.sphinxext"')):
        assert used in conf
        assert dist in docs_extra
