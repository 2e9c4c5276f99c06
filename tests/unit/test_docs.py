"""The Sphinx documentation builds with warnings as errors, and its API reference covers the public API.

"Public" is found by introspection (:mod:`tests.unit.docs_reference`): every public module, every name in
its ``__all__``, every public member and field of those classes; each must be in the reference with its type.

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
from tests.unit import docs_reference

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
IN_CI = os.environ.get("CI") == "true"
BUILD_TIMEOUT = 300

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


@pytest.fixture(scope="module")
def documented(html: Path) -> dict[str, tuple[str, str, str]]:
    """Every object documented anywhere in the build: anchor -> (kind, signature HTML, start of body)."""
    return docs_reference.entries(html)


def _public_modules() -> list[str]:
    """The public modules that import here; under CI=true every one must (the docs need every extra)."""
    modules = []
    for modname in docs_reference.public_modules():
        try:
            importlib.import_module(modname)
        except ImportError as exc:
            if IN_CI or (exc.name or "").split(".")[0] not in docs_reference.OPTIONAL:
                raise
            continue
        modules.append(modname)
    return modules


def test_every_public_module_has_a_reference_section(documented: dict[str, tuple[str, str, str]]) -> None:
    absent = [m for m in _public_modules() if f"module-{m}" not in documented]
    assert absent == []


def test_every_public_name_member_and_field_is_documented(documented: dict[str, tuple[str, str, str]]) -> None:
    """Fields and methods inherited from a private base (``Dataset.used``) count; so do instance attributes."""
    missing = [what for modname in _public_modules()
               for what, anchors in docs_reference.expected_ids(modname) if not anchors & documented.keys()]
    assert missing == []


def test_every_documented_signature_carries_its_types(documented: dict[str, tuple[str, str, str]]) -> None:
    """Parameters, return values, attributes, properties and constants show a type; aliases show their value."""
    exempt = docs_reference.value_only(_public_modules())
    problems = [p for anchor, (kind, sig, body) in documented.items() if anchor.startswith("pyzfsnas")
                for p in docs_reference.untyped(kind, anchor, sig, body, exempt)]
    assert problems == []


def test_no_private_type_or_unrendered_default_in_a_signature(documented: dict[str, tuple[str, str, str]]) -> None:
    """No ``own: _Backend``, no ``size=attr_dict['size'].default``, no ``<function time at 0x...>``."""
    problems = [p for anchor, (_kind, sig, _body) in documented.items() if anchor.startswith("pyzfsnas")
                for p in docs_reference.leaks(anchor, sig)]
    assert problems == []


def test_attrs_and_dataclass_defaults_read_as_values(documented: dict[str, tuple[str, str, str]]) -> None:
    zpool = docs_reference.text(documented["pyzfsnas.models.Zpool"][1])
    assert "size: int | None = None" in zpool
    assert "exact: bool = True" in zpool
    assert "properties: PropertyMap = PropertyMap()" in zpool
    fake_host = docs_reference.text(documented["pyzfsnas.testing.fake.host.FakeHost"][1])
    assert "clock: Callable[[], float] = time.time" in fake_host


def test_a_module_that_does_not_import_fails_the_build(tmp_path: Path) -> None:
    """A documented module that cannot be imported (a missing extra) is an error, not a silent note."""
    if importlib.util.find_spec("sphinx") is None:
        pytest.skip("sphinx is not installed (pip install -e '.[docs]')")
    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text((DOCS / "conf.py").read_text(encoding="utf-8").replace(
        'os.path.join(os.path.dirname(__file__), "..", "src")', repr(str(ROOT / "src"))), encoding="utf-8")
    (src / "index.rst").write_text("Index\n=====\n\n.. optional-automodule:: pyzfsnas.no_such_module\n\n"
                                   ".. public-names:: pyzfsnas.no_such_package\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(src), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT, cwd=ROOT, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode != 0
    assert "pyzfsnas.no_such_module does not import" in proc.stderr
    assert "pyzfsnas.no_such_package does not import" in proc.stderr


def test_manila_page_lists_every_option(html: Path) -> None:
    if not _importable("pyzfsnas.manila_glue.options"):
        if IN_CI:
            pytest.fail("pyzfsnas.manila_glue.options does not import (CI=true)")
        pytest.skip("pyzfsnas.manila_glue.options needs the manila package")
    options = importlib.import_module("pyzfsnas.manila_glue.options")
    text = (html / "manila.html").read_text(encoding="utf-8")
    names = [opt.name for opt in [*options.ZFSONLINUX_OPTS, *options.PYZFSNAS_OPTS]]
    # Generated by oslo.config's extension: one described option (type, default, help) per name.
    assert [n for n in names if f'id="zfsonlinux1.{n}"' not in text] == []
    assert "list of builtin" not in text.lower()  # not Python's ``list`` docstring
    assert "pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver" in text


#: Checked in a headless browser at a common laptop width (CSS pixels).
LAYOUT_PAGES = ("index", "quickstart", "concepts", "nfs", "manila", "replication", "testing", "benchmarks",
                "api/core", "api/executors", "api/nfs", "api/manila_glue")
LAYOUT_WIDTH = 1366

_LAYOUT_PROBE = """<script>window.addEventListener('load', function () {
  var over = [];
  document.querySelectorAll('div.highlight pre, table.docutils').forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1) {
      over.push(el.scrollWidth - el.clientWidth + 'px: ' + el.textContent.trim().slice(0, 70));
    }
  });
  document.body.setAttribute('data-overflow', JSON.stringify(over));
});</script>"""


def _chromium() -> str:
    import shutil

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if IN_CI:
            pytest.fail("chromium is not installed (CI=true): apt-get install chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def test_no_code_block_or_table_is_clipped_at_a_laptop_width(html: Path) -> None:
    """Every code block and table of the main pages fits its column at 1366 px: no horizontal scrolling."""
    import html as htmllib
    import json

    browser = _chromium()
    clipped: dict[str, list[str]] = {}
    for page in LAYOUT_PAGES:
        source = html / f"{page}.html"
        probe = source.with_name(f"{source.stem}.layout-probe.html")
        probe.write_text(source.read_text(encoding="utf-8").replace("</body>", _LAYOUT_PROBE + "</body>"),
                         encoding="utf-8")
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={LAYOUT_WIDTH},900",
             "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
        probe.unlink()
        found = re.search(r'data-overflow="([^"]*)"', proc.stdout)
        assert found, f"{page}: the layout probe did not run ({proc.returncode}): {proc.stderr[-500:]}"
        over = json.loads(htmllib.unescape(found.group(1)))
        if over:
            clipped[page] = over
    assert clipped == {}
