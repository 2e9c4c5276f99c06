"""Every Python example of ``docs/*.rst`` and ``README.md`` runs, on fake hosts, with the output it shows.

The rules (also stated in ``docs/testing.rst``, "How the examples are tested"):

* the ``python`` and ``pycon`` code blocks of a page run in order in one namespace, like a doctest file;
* a block with ``>>>`` prompts is a doctest: what it shows after each prompt is compared with what ran;
* a block that defines ``test_*`` functions is a pytest module: it runs under pytest (with the
  ``pyzfsnas.testing`` fixtures) and every test must pass;
* an example that names a real host (``ZFS()``, ``LocalExecutor(...)``, ``SSHExecutor("nas1", ...)``) gets a
  :class:`~pyzfsnas.testing.fake.executor.FakeExecutor` on a fake OpenZFS host of that name instead. Each
  such host has a 1 GiB pool ``tank`` with a filesystem ``tank/share``; ``nas2`` (alias ``nas2.storage.lan``)
  also has a pool ``backup``. They share one :class:`~pyzfsnas.testing.fake.network.FakeNetwork`, so
  ``ssh nas2 ...`` from one reaches the other.
"""

from __future__ import annotations

import doctest
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pyzfsnas.testing.fake import FakeExecutor, FakeHost, FakeNetwork

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.rst")), ROOT / "README.md"]
GIB = 2**30

_RST_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. code-block:: (?P<lang>python|pycon)[ \t]*\n"
                        r"(?:(?P=indent)[ \t]+:[\w-]+:.*\n)*\n(?P<body>(?:(?P=indent)[ \t]+.*\n|[ \t]*\n)+)",
                        re.MULTILINE)
_MD_BLOCK = re.compile(r"^```(?P<lang>python|pycon)[ \t]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> list[tuple[int, str]]:
    """(line number, dedented code) of each Python block of ``page``, in order."""
    text = page.read_text(encoding="utf-8")
    pattern = _MD_BLOCK if page.suffix == ".md" else _RST_BLOCK
    found = []
    for match in pattern.finditer(text):
        body = match.group("body")
        lines = body.splitlines()
        indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
        code = "\n".join(line[indent:] for line in lines).strip("\n") + "\n"
        found.append((text.count("\n", 0, match.start("body")) + 1, code))
    return found


def test_the_runner_finds_the_examples() -> None:
    """A guard against a regex that silently matches nothing."""
    counts = {page.name: len(blocks(page)) for page in PAGES}
    assert counts["quickstart.rst"] >= 3
    assert counts["testing.rst"] >= 3
    assert counts["README.md"] >= 1
    assert sum(counts.values()) >= 15


class _FakeRemote(FakeExecutor):
    """A FakeExecutor that, like SSHExecutor, is a context manager."""

    def __enter__(self) -> _FakeRemote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.fixture
def fake_world(monkeypatch: pytest.MonkeyPatch) -> FakeNetwork:
    """Real-host executors replaced by fake executors on named fake hosts (see the module docstring)."""
    import pyzfsnas
    import pyzfsnas.executors
    import pyzfsnas.executors.local
    import pyzfsnas.executors.ssh

    net = FakeNetwork()

    def host(name: str) -> FakeHost:
        found = net.get(name)
        if found is None:
            found = net.add(FakeHost("openzfs", name=name))
            found.create_pool("tank", size=GIB, mountpoint="/tank")
            FakeExecutor(found).run(["zfs", "create", "tank/share"]).check()
        return found

    nas2 = host("nas2")
    net.add(nas2, "nas2.storage.lan")
    nas2.create_pool("backup", size=GIB, mountpoint="/backup")

    def local(*, prefix: Any = (), timeout: Any = None) -> FakeExecutor:
        return _FakeRemote(host("localhost"), network=net)

    def ssh(hostname: str, **_options: Any) -> FakeExecutor:
        return _FakeRemote(host(hostname), network=net)

    for module in (pyzfsnas, pyzfsnas.executors, pyzfsnas.executors.local):
        monkeypatch.setattr(module, "LocalExecutor", local, raising=False)
    # Also where the packages' lazy attributes may already hold the real class (a test that read every
    # public name, like the reference check, resolves and keeps them).
    for module in (pyzfsnas, pyzfsnas.executors, pyzfsnas.executors.ssh):
        monkeypatch.setattr(module, "SSHExecutor", ssh, raising=False)
    return net


def _run_doctest(code: str, namespace: dict[str, Any], name: str, lineno: int) -> None:
    parser = doctest.DocTestParser()
    test = parser.get_doctest(code, namespace, name, name, lineno)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    out: list[str] = []
    runner.run(test, out=out.append, clear_globs=False)
    namespace.update(test.globs)
    assert runner.failures == 0, "".join(out)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_example_of_the_page_runs(page: Path, fake_world: FakeNetwork, pytester: pytest.Pytester,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, Any] = {"__name__": f"docs_{page.stem}"}
    for lineno, code in blocks(page):
        where = f"{page.name}:{lineno}"
        if ">>>" in code:
            _run_doctest(code, namespace, where, lineno)
        elif re.search(r"^def test_", code, re.MULTILINE):
            pytester.makepyfile(**{f"test_{page.stem}_{lineno}": code})
            result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
            outcomes = result.parseoutcomes()
            assert outcomes.get("passed", 0) >= 1 and set(outcomes) <= {"passed", "warnings"}, (
                where, result.stdout.str()[-3000:])
        else:
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as exc:  # pragma: no cover - the assertion message is the point
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}\n{code}")
    capsys.readouterr()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "pyzfsnas", *args], capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def test_every_fake_host_command_of_the_quickstart_runs() -> None:
    """The ``sh`` block's ``pyzfsnas --fake ...`` and ``pyzfsnas demo`` lines succeed as written.

    Optional placeholders (``[ROOT]``) are left out.
    """
    text = (ROOT / "docs" / "quickstart.rst").read_text(encoding="utf-8")
    commands = [line.split("#", 1)[0].split() for line in text.splitlines()
                if line.strip().startswith(("pyzfsnas --fake", "pyzfsnas demo"))]
    assert len(commands) >= 5
    for argv in commands:
        proc = _cli(*[a for a in argv[1:] if not a.startswith("[")])
        assert proc.returncode == 0, (argv, proc.stderr)
        assert proc.stdout.strip(), argv


def test_the_quickstart_exit_statuses_are_the_real_ones() -> None:
    """1 for an expected failure, a malformed ``--ssh`` value included; 2 for command-line syntax errors."""
    assert _cli("--ssh", "bad@@", "pools").returncode == 1
    assert _cli("--fake", "get", "tank/nope", "quota").returncode == 1
    assert _cli("--bogus").returncode == 2
    assert _cli("--fake", "nosuchcommand").returncode == 2


def test_help_has_no_rest_markup() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0
    assert "``" not in proc.stdout
    assert "The pyzfsnas command line" in proc.stdout


def test_the_readme_names_every_nfs_backend() -> None:
    import pyzfsnas.nfs

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    # Every concrete class of the package that has the backend protocol's methods.
    backends = [name for name in pyzfsnas.nfs.__all__ if name != "NFSBackend"
                and isinstance(getattr(pyzfsnas.nfs, name), type)
                and all(hasattr(getattr(pyzfsnas.nfs, name), m) for m in ("apply", "add", "remove", "rules", "clear"))]
    assert len(backends) >= 4
    assert [b for b in backends if f"`{b}`" not in readme] == []
