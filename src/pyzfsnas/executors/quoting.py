"""The one function that turns an argv into a remote shell command line.

An SSH server runs the command it receives through the remote user's login shell (``sh -c``), so an argv has
to be flattened into one string that the shell splits back into exactly the same arguments. Every remote
command in pyzfsnas goes through :func:`quote_argv`, and nothing else builds shell text: one place to audit.

Each argument is quoted with :func:`shlex.quote` (POSIX single quotes; an embedded ``'`` becomes
``'"'"'``), so spaces, ``;``, ``$(...)``, backquotes, backslashes, globs, tabs and newlines reach the
program literally as one argument. The remote login shell must therefore be POSIX (sh, dash, bash, ksh,
zsh), not csh or fish.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from pyzfsnas.errors import InvalidName

__all__ = ["quote_argv"]


def quote_argv(argv: Sequence[str]) -> str:
    """Return ``argv`` as one POSIX shell command line that ``sh`` splits back into exactly ``argv``.

    Raises :class:`~pyzfsnas.errors.InvalidName` for an argument that no remote program could receive
    literally: one containing NUL (C strings end there) or text that is not encodable as UTF-8 (lone
    surrogates). Raises ``TypeError`` for a bare string or a non-string item, ``ValueError`` for an empty
    argv.
    """
    if isinstance(argv, str | bytes):
        raise TypeError("argv must be a sequence of strings, not a single string")
    parts: list[str] = []
    for arg in argv:
        if not isinstance(arg, str):
            raise TypeError(f"argv items must be str, got {type(arg).__name__}")
        if "\0" in arg:
            raise InvalidName(f"NUL byte in argument {arg!r}")
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidName(f"argument is not valid UTF-8 text: {arg!r}") from exc
        parts.append(shlex.quote(arg))
    if not parts:
        raise ValueError("argv is empty")
    return " ".join(parts)
