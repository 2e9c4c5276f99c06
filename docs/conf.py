"""Sphinx configuration for the pyzfsnas documentation.

Build with ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (``nox -s docs``). No network is
needed: intersphinx is off and the theme is Sphinx's built-in alabaster.

Some modules are optional (the Manila glue needs the ``manila`` package) or still being written; the API
pages use the ``optional-automodule`` directive defined here, which documents a module when it imports and
otherwise says it is not available in this build, instead of breaking the build.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

import pyzfsnas

project = "pyzfsnas"
author = "pyzfsnas developers"
copyright = "pyzfsnas developers"
release = pyzfsnas.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
root_doc = "index"

html_theme = "alabaster"
html_title = f"pyzfsnas {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Typed ZFS datasets and NFS exports, locally, over SSH or on a fake host",
    "fixed_sidebar": True,
}

autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
}
autodoc_preserve_defaults = True
autosummary_generate = False
nitpicky = False

_log = logging.getLogger(__name__)


def _importable(modname: str) -> str | None:
    """None when ``modname`` imports; otherwise why it does not."""
    try:
        importlib.import_module(modname)
    except Exception as exc:  # any failure (ImportError, missing optional dependency...) means "not available"
        return f"{type(exc).__name__}: {exc}"
    return None


def _passthrough(value: str | None) -> str:
    return value or ""


def canonical_name(package: str, name: str) -> str | None:
    """Where the public ``package.name`` is documented: the module that defines it, or None if absent.

    Classes and functions carry ``__module__``; constants and type aliases do not, so they are credited to
    the most specific ``pyzfsnas`` module that lists them in its ``__all__`` and holds the same object.
    """
    pkg = importlib.import_module(package)
    try:
        obj = getattr(pkg, name)
    except Exception:
        return None
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(module, str) and module.startswith("pyzfsnas") and isinstance(qualname, str):
        return f"{module}.{qualname}"
    best = package
    for modname, mod in list(sys.modules.items()):
        if (modname.startswith(package + ".") and name in getattr(mod, "__all__", ())
                and getattr(mod, name, None) is obj and len(modname) > len(best)):
            best = modname
    return f"{best}.{name}"


class PublicNames(SphinxDirective):
    """``.. public-names:: pkg``: an autosummary table of ``pkg.__all__``, linking to where each is documented.

    Re-exports are documented once, in their defining module, so cross-references stay unambiguous; this
    table is the package-level index. Names that do not import (work in progress) are left out.
    """

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        package = self.arguments[0]
        if _importable(package) is not None:
            return []
        names = [canonical_name(package, n) for n in getattr(importlib.import_module(package), "__all__", ())]
        # autosummary refuses items under the current module (set by the automodule above): clear it for the
        # table, then restore it.
        current = self.env.ref_context.get("py:module")
        lines = [".. py:currentmodule:: None", "", ".. autosummary::", "   :nosignatures:", ""]
        lines += [f"   ~{target}" for target in names if target is not None]
        lines += ["", f".. py:currentmodule:: {current or 'None'}"]
        source, _ = self.get_source_info()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=source), self.content_offset, container)
        return list(container.children)


class OptionalAutomodule(SphinxDirective):
    """``.. optional-automodule:: pkg.mod``: ``automodule`` when the module imports, a note when it does not.

    Options are passed through to ``automodule`` (for example ``:no-members:``); the directive's content,
    if any, follows the ``automodule`` and is likewise dropped when the module does not import.
    """

    required_arguments = 1
    has_content = True
    option_spec = dict.fromkeys(
        ("no-index", "members", "no-members", "undoc-members", "exclude-members", "synopsis"),
        _passthrough,
    )

    def run(self) -> list[nodes.Node]:
        modname = self.arguments[0]
        why = _importable(modname)
        if why is not None:
            _log.info("optional-automodule: %s not documented (%s)", modname, why)
            para = nodes.paragraph()
            para += nodes.literal(text=modname)
            para += nodes.Text(" is not available in this build of the documentation.")
            return [nodes.note("", para)]
        lines = [f".. automodule:: {modname}"]
        for key, value in self.options.items():
            lines.append(f"   :{key}:{' ' + value if value else ''}")
        lines += ["", *self.content]
        source, _ = self.get_source_info()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=source), self.content_offset, container)
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("optional-automodule", OptionalAutomodule)
    app.add_directive("public-names", PublicNames)
    return {"parallel_read_safe": True}
