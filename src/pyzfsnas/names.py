"""Names and operands every host kind accepts: pool, dataset and snapshot names, free-text operands.

Pure checks, no I/O: each returns its argument or raises :class:`~pyzfsnas.errors.InvalidName`. The argv
builders of :mod:`pyzfsnas.commands` use them, and so may any caller that validates names before it builds
anything (a share service, a driver) without depending on the builders.
"""

from __future__ import annotations

import re

from pyzfsnas.errors import InvalidName

__all__ = [
    "CONTROL",
    "MAX_NAME_LEN",
    "check_operand",
    "check_path",
    "check_port",
    "validate_dataset_name",
    "validate_name",
    "validate_pool_name",
    "validate_snapshot_name",
]

#: Longest dataset or snapshot name ZFS accepts (ZFS_MAX_DATASET_NAME_LEN - 1).
MAX_NAME_LEN: int = 255
_COMPONENT = re.compile(r"^[A-Za-z0-9_.: \-]+$")
_BAD_CHAR = re.compile(r"[^A-Za-z0-9_.: \-]")
_RESERVED_POOL_PREFIXES = ("mirror", "raidz", "draid", "spare")
_RESERVED_POOLS = ("log", "cache", "special", "dedup")


def _check_component(name: str, component: str, what: str) -> None:
    if not component:
        raise InvalidName(f"invalid {what} name {name!r}: empty component")
    bad = _BAD_CHAR.search(component)
    if bad:
        raise InvalidName(f"invalid {what} name {name!r}: invalid character {bad.group()!r}")
    if component in (".", ".."):
        raise InvalidName(f"invalid {what} name {name!r}: component {component!r} is not allowed")


def _check_text(name: object, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidName(f"{what} name must be str, got {type(name).__name__}")
    if not name:
        raise InvalidName(f"empty {what} name")
    if len(name) > MAX_NAME_LEN:
        raise InvalidName(f"invalid {what} name {name[:40]!r}...: longer than {MAX_NAME_LEN} characters")
    return name


#: Characters no operand may hold: C0 controls, DEL, and what ``str.splitlines`` also breaks lines on (one of
#: them in an export path would break line-oriented outputs like ``exportfs -v`` and ganesha's config).
CONTROL: re.Pattern[str] = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def check_operand(value: object, what: str) -> str:
    """Check a free-text operand (vdev path, mountpoint, hold tag): a non-empty ``str``, not an option, no
    control or line-breaking character, encodable as UTF-8 (no lone surrogate)."""
    if not isinstance(value, str) or not value:
        raise InvalidName(f"invalid {what} {value!r}: must be a non-empty str")
    if value.startswith("-"):
        raise InvalidName(f"invalid {what} {value!r}: must not start with '-'")
    bad = CONTROL.search(value)
    if bad:
        raise InvalidName(f"invalid {what} {value!r}: control character {bad.group()!r}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidName(f"invalid {what} {value!r}: not encodable as UTF-8") from None
    return value


def check_path(value: object, what: str) -> str:
    """Check an absolute path operand: a ``str`` starting with ``/``, then :func:`check_operand`'s rules (no
    control or line-breaking character, encodable as UTF-8); ``what`` names it in the message."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise InvalidName(f"{what} must be absolute: {value!r}")
    return check_operand(value, what)


def check_port(value: object) -> int:
    """Check an SSH port: an ``int`` (not a ``bool``) in 1..65535."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise InvalidName(f"invalid ssh port {value!r}: an int in 1..65535")
    return value


def validate_pool_name(name: str) -> str:
    """Check a pool name: starts with a letter, allowed characters only, not a reserved word."""
    _check_text(name, "pool")
    if not name[0].isascii() or not name[0].isalpha():
        raise InvalidName(f"invalid pool name {name!r}: must begin with a letter")
    _check_component(name, name, "pool")
    if name in _RESERVED_POOLS or name.startswith(_RESERVED_POOL_PREFIXES):
        raise InvalidName(f"invalid pool name {name!r}: name is reserved")
    return name


def validate_dataset_name(name: str) -> str:
    """Check a filesystem or volume name: ``pool[/child...]``, no ``@``, no empty components."""
    _check_text(name, "dataset")
    if "@" in name or "#" in name:
        raise InvalidName(f"invalid dataset name {name!r}: '@' and '#' are for snapshots and bookmarks")
    if name.startswith("/"):
        raise InvalidName(f"invalid dataset name {name!r}: leading slash")
    if name.endswith("/"):
        raise InvalidName(f"invalid dataset name {name!r}: trailing slash")
    pool, *rest = name.split("/")
    try:
        validate_pool_name(pool)
    except InvalidName as exc:
        raise InvalidName(f"invalid dataset name {name!r}: {exc}") from None
    for component in rest:
        _check_component(name, component, "dataset")
    return name


def validate_snapshot_name(name: str) -> str:
    """Check ``dataset@snapname``: exactly one ``@``, valid dataset, non-empty valid snapshot part."""
    _check_text(name, "snapshot")
    if name.count("@") != 1:
        raise InvalidName(f"invalid snapshot name {name!r}: need exactly one '@'")
    dataset, snap = name.split("@")
    validate_dataset_name(dataset)
    if "/" in snap:
        raise InvalidName(f"invalid snapshot name {name!r}: '/' after '@'")
    _check_component(name, snap, "snapshot")
    return name


def validate_name(name: str) -> str:
    """Check a dataset or snapshot name (a snapshot when it contains ``@``)."""
    if isinstance(name, str) and "@" in name:
        return validate_snapshot_name(name)
    return validate_dataset_name(name)
