"""ZFS name validation with the real error wording (``cannot create 'x': leading slash in name``)."""

from __future__ import annotations

import re

__all__ = ["name_error"]

_OK = re.compile(r"[A-Za-z0-9_.: -]")


def name_error(name: str, *, snapshot: bool | None = False) -> str | None:
    """Why ``name`` is not a valid dataset (``snapshot=False``), snapshot (True) or either (None) name."""
    if not name:
        return "empty component in name"
    if name.startswith("/"):
        return "leading slash in name"
    if name.endswith("/"):
        return "trailing slash in name"
    if name.count("@") > 1:
        return "multiple '@' delimiters in name"
    if "@" in name and snapshot is False:
        return "snapshot delimiter '@' is not expected here"
    if "@" not in name and snapshot is True:
        return "missing '@' delimiter in snapshot name"
    fs, _, snap = name.partition("@")
    for comp in fs.split("/"):
        if not comp:
            return "empty component in name"
    if "@" in name and not snap:
        return "empty component in name"
    for ch in name:
        if ch not in "/@" and not _OK.match(ch):
            return f"invalid character '{ch}' in name"
    if not fs[0].isalpha():
        return "pool name must begin with a letter"
    if len(name) >= 256:
        return "name is too long"
    return None
