"""nox sessions for pyzfsnas: tests, typecheck, lint, docs, benchmarks (``nox -s NAME``; ``nox -l`` lists).

Each session has its own virtualenv (reused between runs) with the package installed editable plus the
extra it needs.
Tests that need real components (zfs-fuse, sshd, exportfs) need root; pass pytest options after ``--``,
e.g. ``nox -s tests -- -m "not zfsfuse" -x``.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (the README's command, ``python -m pytest``); extra arguments go to pytest."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the library."""
    session.install("-e", ".[lint]")
    session.run("mypy", "--strict", "src")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on the library, the tests and the benchmarks; import-linter on the layering (pyproject.toml)."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "src", "tests", "benchmarks")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the HTML documentation, treating warnings as errors.

    The Manila pages need the ``manila`` extra; a documented module that does not import fails the build.
    """
    session.install("-e", ".[docs,manila]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


@nox.session(python=PYTHON)
def benchmarks(session: nox.Session) -> None:
    """Run benchmarks/run.py (real components: needs root; the OpenZFS guest for the side by side); extra
    arguments go to the script."""
    session.install("-e", ".[test,manila]")  # the lifecycle benchmarks drive the Manila driver
    session.run("python", "benchmarks/run.py", *session.posargs)
