"""Sphinx configuration for the pyzfsnas documentation.

Build with ``pip install -e '.[docs,manila]'`` then ``sphinx-build -W --keep-going -b html docs docs/_build/html``
(``nox -s docs`` does both). No network is needed: intersphinx is off; the theme is furo.

Every documented module must import: the Manila pages need the ``manila`` extra, and a module that does not
import is a build error (a warning, fatal under ``-W``), never a page silently left out.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import os
import sys
from typing import Any

import attrs
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
    "sphinx_copybutton",
    "oslo_config.sphinxext",
]

exclude_patterns = ["_build"]
templates_path: list[str] = []
root_doc = "index"

html_theme = "furo"
html_title = f"pyzfsnas {release}"
html_static_path = ["_static"]
html_css_files = ["pyzfsnas.css"]  # a wider content column
# Copy buttons leave out the prompts and the output of interactive examples.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True

# Types are part of every signature (parameters, return values, attributes), documented or not.
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
}
# Defaults as written in the source (``clock=time.time``, not ``<built-in function time>``); the generated
# ``__init__`` of attrs classes and dataclasses is fixed up by ``_field_defaults`` below.
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


def _opts(path: str) -> list[Any]:
    """The oslo.config options at ``module.NAME`` (a list of options)."""
    modname, _, attr = path.rpartition(".")
    return list(getattr(importlib.import_module(modname), attr))


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
        why = _importable(package)
        if why is not None:
            _log.warning("public-names: %s does not import (%s)", package, why, location=self.get_location())
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
    """``.. optional-automodule:: pkg.mod``: ``automodule``, with a build warning naming the import error.

    Kept under its old name so existing pages work; a module that does not import is no longer optional:
    the warning fails a ``-W`` build instead of a page being silently replaced by a note.

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
            _log.warning("%s does not import (%s): install the extras the documentation needs "
                         "(pip install -e '.[docs,manila]')", modname, why, location=self.get_location())
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


class OsloOptions(SphinxDirective):
    """``.. oslo-options:: pkg.mod.NAME``: oslo.config's own rendering of the option list ``NAME``.

    The same text ``.. show-options::`` produces (type, default, help of each option), taken from the list
    itself rather than through the ``oslo.config.opts`` entry point, so the page documents the source tree
    being built even when an older copy of the package is installed. ``:group:`` names the config group
    (default ``DEFAULT``); ``:namespace:`` the generator namespace shown with it.
    """

    required_arguments = 1
    option_spec = {"group": _passthrough, "namespace": _passthrough}

    def run(self) -> list[nodes.Node]:
        from oslo_config import sphinxext

        path = self.arguments[0]
        try:
            opts = _opts(path)
        except Exception as exc:
            _log.warning("oslo-options: %s does not import (%s)", path, exc, location=self.get_location())
            return []
        group = self.options.get("group") or "DEFAULT"
        lines = list(sphinxext._format_group_opts(self.options.get("namespace") or None, group, None, opts))
        source, _ = self.get_source_info()
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=source), self.content_offset, container)
        return list(container.children)


def _no_constructor_signature(app: Sphinx, what: str, name: str, obj: Any, options: Any, signature: str | None,
                              return_annotation: str | None) -> tuple[str | None, str | None] | None:
    """Protocols and enumerations are not called to be made: drop their ``(*args, **kwargs)`` / ``(value)``."""
    if what in ("class", "exception") and isinstance(obj, type) and (
            issubclass(obj, enum.Enum) or getattr(obj, "_is_protocol", False)):
        return "", None
    return None


def _generated_init_owner(func: Any) -> type | None:
    """The attrs class or dataclass whose generated ``__init__`` ``func`` is, else None."""
    qualname = getattr(func, "__qualname__", "")
    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if not qualname.endswith(".__init__") or module is None:
        return None
    owner: Any = module
    for part in qualname.split(".")[:-1]:
        owner = getattr(owner, part, None)
    if not isinstance(owner, type) or vars(owner).get("__init__") is not func:
        return None
    return owner if attrs.has(owner) or dataclasses.is_dataclass(owner) else None


def _field_default(owner: type, name: str) -> str | None:
    """How a field's default reads in the source: ``repr(value)``, or ``Factory()`` for a factory."""
    if attrs.has(owner):
        fields = {(f.alias or f.name): f for f in attrs.fields(owner)}
        field = fields.get(name)
        if field is None or field.default is attrs.NOTHING:
            return None
        if isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            return f"{getattr(field.default.factory, '__qualname__', 'factory')}()"
        return repr(field.default)
    for dfield in dataclasses.fields(owner):  # type: ignore[arg-type]
        if dfield.name == name:
            if dfield.default is not dataclasses.MISSING:
                return repr(dfield.default)
            if dfield.default_factory is not dataclasses.MISSING:
                return f"{getattr(dfield.default_factory, '__qualname__', 'factory')}()"
    return None


def _field_defaults(app: Sphinx, obj: Any, bound_method: bool) -> None:
    """Defaults of attrs/dataclass ``__init__`` as values (``size=None``, ``properties=PropertyMap()``).

    ``autodoc_preserve_defaults`` reads defaults from the source, which for a generated ``__init__`` is
    ``attr_dict['size'].default``; without it a factory shows as ``NOTHING`` or ``<factory>``.
    """
    from sphinx.ext.autodoc.preserve_defaults import DefaultValue

    owner = _generated_init_owner(obj)
    if owner is None:
        return
    sig = inspect.signature(obj)
    params = []
    for param in sig.parameters.values():
        shown = _field_default(owner, param.name) if param.default is not param.empty else None
        params.append(param.replace(default=DefaultValue(shown)) if shown is not None else param)
    obj.__signature__ = sig.replace(parameters=params)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("autodoc-before-process-signature", _field_defaults)
    app.connect("autodoc-process-signature", _no_constructor_signature)
    app.add_directive("oslo-options", OsloOptions)
    app.add_directive("optional-automodule", OptionalAutomodule)
    app.add_directive("public-names", PublicNames)
    return {"parallel_read_safe": True}
