"""Introspection of the public API against the built HTML reference (used by ``test_docs.py``).

What counts as public is decided generically, so the check keeps holding as modules are added: every
``pyzfsnas`` module whose dotted name has no ``_``-prefixed part (except the fake host's internals listed in
:data:`INTERNAL_MODULES`), every name in its ``__all__``, and for classes every public method, property,
attrs/dataclass field, annotated class attribute and ``self.NAME = ...`` attribute set in a method. Each must
have an anchor in the reference, and every signature there must carry its types.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import html as htmllib
import importlib
import inspect
import pkgutil
import re
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path

import attrs

#: Modules whose names look public but are implementation details reached only through a public class:
#: the fake host's command interpreters, behind ``FakeExecutor``/``FakeHost``.
INTERNAL_MODULES = frozenset({
    "pyzfsnas.__main__",
    "pyzfsnas.testing.fake.etab",
    "pyzfsnas.testing.fake.exportfs_cli",
    "pyzfsnas.testing.fake.files",
    "pyzfsnas.testing.fake.formatting",
    "pyzfsnas.testing.fake.names",
    "pyzfsnas.testing.fake.output",
    "pyzfsnas.testing.fake.props",
    "pyzfsnas.testing.fake.sharing",
    "pyzfsnas.testing.fake.stream",
    "pyzfsnas.testing.fake.usage",
    "pyzfsnas.testing.fake.zfs_cli",
    "pyzfsnas.testing.fake.zpool_cli",
})

#: Optional dependencies: a module needing one of these is public only when it is installed (the docs build
#: itself requires every one of them).
OPTIONAL = ("manila", "oslo_config", "oslo_log", "oslo_concurrency")


def public_modules() -> list[str]:
    """Every public module of pyzfsnas, by walking the package (sub-packages included)."""
    import pyzfsnas

    found = ["pyzfsnas"]
    for info in pkgutil.walk_packages(pyzfsnas.__path__, "pyzfsnas."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.name in INTERNAL_MODULES:
            continue
        found.append(info.name)
    return sorted(found)


def _defined_here(obj: object, modname: str) -> bool:
    return getattr(obj, "__module__", None) == modname


def _instance_attributes(cls: type) -> set[str]:
    """Public names assigned as ``self.NAME = ...`` in the class's own methods."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return set()
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                    and target.value.id == "self" and not target.attr.startswith("_")):
                names.add(target.attr)
    return names


def _owner(cls: type, name: str) -> type | None:
    """The class of ``cls``'s MRO that defines ``name`` (in its namespace, annotations or fields)."""
    for klass in cls.__mro__:
        if name in vars(klass) or name in getattr(klass, "__annotations__", {}):
            return klass
        if klass.__module__.startswith("pyzfsnas") and name in _instance_attributes(klass):
            return klass
    return None


def class_members(cls: type) -> set[str]:
    """Public members a reader of ``cls`` needs: its own and those inherited from pyzfsnas classes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if not klass.__module__.startswith("pyzfsnas"):
            continue
        names.update(n for n in vars(klass) if not n.startswith("_"))
        names.update(n for n in getattr(klass, "__annotations__", {}) if not n.startswith("_"))
        names.update(_instance_attributes(klass))
        if attrs.has(klass):
            names.update(f.name for f in attrs.fields(klass) if not f.name.startswith("_"))
        if dataclasses.is_dataclass(klass):
            names.update(f.name for f in dataclasses.fields(klass) if not f.name.startswith("_"))
    if issubclass(cls, enum.Enum):
        names.update(m for m in cls.__members__)
    return names


def expected_ids(modname: str) -> Iterator[tuple[str, set[str]]]:
    """(what, acceptable anchors) for the module, each name of its ``__all__`` defined there, and members."""
    module = importlib.import_module(modname)
    yield modname, {f"module-{modname}"}
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name)
        if isinstance(obj, types.ModuleType):
            continue
        if isinstance(obj, type | types.FunctionType) and obj.__module__ != modname:
            continue  # a re-export: checked where it is defined
        if not inspect.isclass(obj) and not isinstance(obj, types.FunctionType):
            # Data and type aliases have no reliable __module__: documented in any module that holds them.
            yield f"{modname}.{name}", {f"{m}.{name}" for m, mod in list(sys.modules.items())
                                        if m.startswith("pyzfsnas") and getattr(mod, name, None) is obj}
            continue
        yield f"{modname}.{name}", {f"{modname}.{name}"}
        if inspect.isclass(obj):
            for member in sorted(class_members(obj)):
                anchors = {f"{modname}.{name}.{member}"}
                owner = _owner(obj, member)
                if owner is not None and owner is not obj and not owner.__name__.startswith("_"):
                    anchors.add(f"{owner.__module__}.{owner.__qualname__}.{member}")
                yield f"{modname}.{name}.{member}", anchors


_ENTRY = re.compile(
    r'<dl class="py (\w+)">\s*<dt class="sig sig-object py" id="([^"]+)">(.*?)</dt>(?=\s*<dd>(.{0,3000}))', re.S)
_PARAM = re.compile(r'<em class="sig-param">(.*?)</em>', re.S)
_TAG = re.compile(r"<[^>]+>")


def text(fragment: str) -> str:
    return re.sub(r"\s+", " ", htmllib.unescape(_TAG.sub("", fragment))).replace("¶", "").strip()


def entries(html_dir: Path) -> dict[str, tuple[str, str, str]]:
    """Anchor id -> (object kind, signature HTML, start of its body) of every object in the built HTML."""
    found: dict[str, tuple[str, str, str]] = {}
    for page in sorted(html_dir.rglob("*.html")):
        if "_modules" in page.parts or "_sources" in page.parts:
            continue
        body = page.read_text(encoding="utf-8")
        for kind, anchor, sig, body_start in _ENTRY.findall(body):
            found.setdefault(anchor, (kind, sig, body_start))
        for anchor in re.findall(r'\bid="(module-[^"]+)"', body):
            found.setdefault(anchor, ("module", "", ""))
    return found


def is_type_alias(obj: object) -> bool:
    """``Literal[...]``, ``A | B``, ``Union[...]``, ``tuple[...]``: a name for a type, not a value."""
    import typing

    if inspect.isclass(obj):
        return False
    return (typing.get_origin(obj) is not None or isinstance(obj, types.UnionType)
            or type(obj).__module__ == "typing")


def value_only(modules: list[str]) -> set[str]:
    """Anchors whose signature shows a value rather than a type: enum members and type aliases."""
    found: set[str] = set()
    for modname in modules:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, enum.Enum):
                found.update(f"{obj.__module__}.{obj.__qualname__}.{m}" for m in obj.__members__)
            elif is_type_alias(obj):
                found.add(f"{modname}.{name}")
    return found


def untyped(kind: str, anchor: str, sig: str, body: str, exempt: set[str]) -> list[str]:
    """What the signature of one documented object lacks: a parameter's, return value's or attribute's type.

    Anchors in ``exempt`` (enum members, type aliases) must show their value instead (``= 'rw'``, or an
    ``alias of ...`` line).
    """
    problems = []
    if anchor in exempt:
        shown = "=" in text(sig) or "alias of" in text(body)
        return [] if shown else [f"{anchor}: its value is not shown ({text(sig)!r})"]
    if kind in ("function", "method", "class", "exception", "classmethod", "staticmethod"):
        for param in _PARAM.findall(sig):
            ptext = text(param)
            if ptext in ("*", "/"):
                continue
            if ":" not in ptext:
                problems.append(f"{anchor}: parameter {ptext!r} has no type")
        if kind in ("function", "method", "classmethod", "staticmethod") and "sig-return" not in sig:
            problems.append(f"{anchor}: no return type")
    elif kind in ("attribute", "property", "data"):
        # ``name: type`` (a value alone, ``= ...``, is not a type).
        after = text(sig.split('class="sig-name descname"', 1)[-1])
        if ":" not in after:
            problems.append(f"{anchor}: no type ({text(sig)!r})")
    return problems


def leaks(anchor: str, sig: str) -> list[str]:
    """Private names (``_Backend``) and unrendered defaults (``attr_dict[...]``, ``<object at 0x...>``)."""
    shown = text(sig)
    bad = re.findall(r"(?<![\w.])_[A-Za-z]\w*", shown.split("(", 1)[1] if "(" in shown else shown.split(":", 1)[-1])
    problems = [f"{anchor}: private name {b!r} in {shown!r}" for b in bad]
    if "attr_dict" in shown or " at 0x" in shown:
        problems.append(f"{anchor}: unrendered default in {shown!r}")
    return problems


__all__ = ["OPTIONAL", "entries", "expected_ids", "leaks", "public_modules", "untyped"]
