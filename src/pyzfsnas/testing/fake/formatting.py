"""Text formatting shared by the fake ``zfs``/``zpool``/``exportfs``: human sizes, dates and column tables.

Kept byte-for-byte with the real tools (``zfs_nicenum`` and ``print_header``/``print_dataset`` spacing), because
parsers and fixtures compare the fake's output with real captures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

__all__ = ["format_date", "nicenum", "parse_size", "render_table"]

_UNITS = " KMGTPE"


def nicenum(num: int, *, bytes_suffix: bool = False) -> str:
    """Format ``num`` like ``zfs_nicenum``: ``0``, ``512``, ``88K``, ``4.36M``, ``214M``.

    OpenZFS 2.x prints a ``B`` after plain byte counts (``0B``); zfs-fuse does not (``0``).
    """
    n = num
    index = 0
    while n >= 1024 and index < 6:
        n //= 1024
        index += 1
    if index == 0:
        return f"{num}B" if bytes_suffix else str(num)
    unit = _UNITS[index]
    if num % (1 << (10 * index)) == 0:
        return f"{n}{unit}"
    val = num / float(1 << (10 * index))
    text = ""
    for digits in (2, 1, 0):
        text = f"{val:.{digits}f}{unit}"
        if len(text) <= 5:
            break
    return text


def format_date(epoch: int) -> str:
    """Format an epoch like ``zfs`` does for ``creation``: ``Wed Nov 25 16:21 2026`` (local time)."""
    return time.strftime("%a %b %e %H:%M %Y", time.localtime(epoch))


_SUFFIX_SHIFT = {"": 0, "B": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


class SizeError(ValueError):
    """A size string ``zfs`` would refuse; ``str(err)`` is the real message tail."""


def parse_size(text: str) -> int:
    """Parse a size like ``zfs_nicestrtonum``: ``1048576``, ``50M``, ``1.5G``, ``10KB``.

    Raises :class:`SizeError` with the real wording (``bad numeric value 'abc'``).
    """
    i = 0
    while i < len(text) and (text[i].isdigit() or text[i] == "."):
        i += 1
    number, suffix = text[:i], text[i:]
    if not number or number.count(".") > 1:
        raise SizeError(f"bad numeric value '{text}'")
    up = suffix.upper()
    if up.endswith("B") and len(up) == 2:
        up = up[0]
    if up not in _SUFFIX_SHIFT:
        raise SizeError(f"invalid numeric suffix '{suffix}'")
    value = float(number) * (1 << _SUFFIX_SHIFT[up]) if "." in number else int(number) << _SUFFIX_SHIFT[up]
    if value >= 2**64:
        raise SizeError("numeric value is too large")
    return int(value)


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[bool] | None = None
) -> str:
    """Render rows as the tools do without ``-H``: columns two spaces apart, last column not padded."""
    right = right or [False] * len(headers)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    out = []
    for row in [list(headers), *[list(r) for r in rows]]:
        cells = []
        last = len(row) - 1
        for i, cell in enumerate(row):
            if right[i]:
                cells.append(cell.rjust(widths[i]))
            elif i == last:
                cells.append(cell)
            else:
                cells.append(cell.ljust(widths[i]))
        out.append("  ".join(cells).rstrip() + "\n")
    return "".join(out)
