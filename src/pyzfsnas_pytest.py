"""The ``pytest11`` entry point of pyzfsnas: loads the fixtures of :mod:`pyzfsnas.testing.plugin` once pytest is set up.

It lives outside the ``pyzfsnas`` package on purpose. pytest imports entry-point plugins before pytest-cov
starts measuring; a plugin inside the package made ``import pyzfsnas`` (and everything it imported) run
unmeasured, so CI reported ``models.py`` at 25 % and ``testing.py`` at 0 %. This module imports nothing of
pyzfsnas; :func:`pytest_configure` runs after coverage has started.
"""

from __future__ import annotations

from typing import Any

PLUGIN = "pyzfsnas.testing.plugin"


def pytest_configure(config: Any) -> None:
    """Register the ``fake_host`` / ``fake_zfs`` fixtures (unless a conftest already listed the module)."""
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)
