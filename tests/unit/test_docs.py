"""The Sphinx documentation builds with warnings as errors, and its API reference covers the public names.

The build runs ``python -m sphinx -W --keep-going -b html`` in a subprocess into a temporary directory (about
15-30 s on a shared 2-core machine; once per session). Without Sphinx the tests skip, except under
``CI=true`` where they fail.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
IN_CI = os.environ.get("CI") == "true"
BUILD_TIMEOUT = 300

#: Every public module the API reference documents (when it imports in this environment).
API_MODULES = (
    "pyzfsnas", "pyzfsnas.zfs", "pyzfsnas.models", "pyzfsnas.properties", "pyzfsnas.parsers",
    "pyzfsnas.commands", "pyzfsnas.flavour", "pyzfsnas.errors", "pyzfsnas.replication", "pyzfsnas.cli",
    "pyzfsnas.cli_send",
    "pyzfsnas.executors", "pyzfsnas.executors.base", "pyzfsnas.executors.local", "pyzfsnas.executors.ssh",
    "pyzfsnas.executors.quoting", "pyzfsnas.executors.fake", "pyzfsnas.executors.fake.executor",
    "pyzfsnas.executors.fake.host", "pyzfsnas.executors.fake.network",
    "pyzfsnas.nfs", "pyzfsnas.nfs.rules", "pyzfsnas.nfs.base", "pyzfsnas.nfs.kernel", "pyzfsnas.nfs.fuse",
    "pyzfsnas.nfs.exportfs", "pyzfsnas.nfs.ganesha", "pyzfsnas.nfs.detect",
    "pyzfsnas.manila_glue", "pyzfsnas.manila_glue.driver", "pyzfsnas.manila_glue.naming",
    "pyzfsnas.manila_glue.replication", "pyzfsnas.testing",
)


def _importable(modname: str) -> bool:
    try:
        importlib.import_module(modname)
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def html(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The HTML build of docs/ (built once per module, with -W)."""
    if importlib.util.find_spec("sphinx") is None:
        if IN_CI:
            pytest.fail("sphinx is not installed (CI=true): pip install -e '.[docs]'")
        pytest.skip("sphinx is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("docs-html")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT, env=env, check=False,
    )
    assert proc.returncode == 0, f"sphinx-build -W failed ({proc.returncode}):\n{proc.stderr[-5000:]}"
    yield out


def _ids(paths: Iterator[Path]) -> set[str]:
    ids: set[str] = set()
    for path in paths:
        ids.update(re.findall(r'\bid="([^"]+)"', path.read_text(encoding="utf-8")))
    return ids


@pytest.fixture(scope="module")
def api_ids(html: Path) -> set[str]:
    """The ids of every documented object in the API reference pages."""
    return _ids((html / "api").glob("*.html"))


def _missing(package: str, ids: set[str]) -> list[str]:
    """Names of ``package.__all__`` with no documented object id in the API reference."""
    pkg = importlib.import_module(package)
    missing = []
    for name in pkg.__all__:
        try:
            obj = getattr(pkg, name)
        except (AttributeError, ImportError) as exc:
            missing.append(f"{name} (does not import: {exc})")
            continue
        candidates = {f"{package}.{name}"}
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if isinstance(module, str) and module.startswith("pyzfsnas") and isinstance(qualname, str):
            # Documented where it is defined, or under a package that re-exports it.
            candidates.add(f"{module}.{qualname}")
            candidates.update(f"{m}.{name}" for m, mod in list(sys.modules.items())
                              if m.startswith("pyzfsnas") and getattr(mod, name, None) is obj)
            found = bool(candidates & ids)
        else:
            # Constants and type aliases (e.g. ``AccessLevel``) have no __module__: documented in some
            # pyzfsnas module under their own name.
            pattern = re.compile(rf"^{re.escape(package)}(\.\w+)*\.{re.escape(name)}$")
            found = any(pattern.match(i) for i in ids)
        if not found:
            missing.append(f"{name} (looked for {sorted(candidates)})")
    return missing


def test_docs_build_without_warnings(html: Path) -> None:
    for page in ("index", "quickstart", "concepts", "nfs", "manila", "replication", "testing", "benchmarks",
                 "changelog", "api/index"):
        assert (html / f"{page}.html").is_file(), page


def test_every_public_name_of_pyzfsnas_is_documented(api_ids: set[str]) -> None:
    assert _missing("pyzfsnas", api_ids) == []


def test_every_public_name_of_pyzfsnas_nfs_is_documented(api_ids: set[str]) -> None:
    assert _missing("pyzfsnas.nfs", api_ids) == []


def test_every_public_name_of_manila_glue_is_documented(api_ids: set[str]) -> None:
    if not _importable("pyzfsnas.manila_glue"):
        if IN_CI:
            pytest.fail("pyzfsnas.manila_glue does not import (CI=true): pip install -e '.[manila]'")
        pytest.skip("pyzfsnas.manila_glue needs the manila package")
    assert _missing("pyzfsnas.manila_glue", api_ids) == []


def test_every_importable_public_module_has_a_reference_section(api_ids: set[str]) -> None:
    absent = [m for m in API_MODULES if _importable(m) and f"module-{m}" not in api_ids]
    assert absent == []


def test_manila_page_lists_every_option(html: Path) -> None:
    if not _importable("pyzfsnas.manila_glue.options"):
        if IN_CI:
            pytest.fail("pyzfsnas.manila_glue.options does not import (CI=true)")
        pytest.skip("pyzfsnas.manila_glue.options needs the manila package")
    options = importlib.import_module("pyzfsnas.manila_glue.options")
    text = (html / "manila.html").read_text(encoding="utf-8")
    names = [opt.name for opt in [*options.ZFSONLINUX_OPTS, *options.PYZFSNAS_OPTS]]
    assert [n for n in names if n not in text] == []
    assert "pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver" in text
