"""Load recorded real command outputs from tests/fixtures/ (``$ cmd``, stdout, stderr, exit code)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import attrs

FIXTURES = Path(__file__).parent / "fixtures"
_LAYOUT = re.compile(
    r"^\$ (?P<cmd>[^\n]*)\n--- stdout ---\n(?P<stdout>.*?)--- stderr ---\n(?P<stderr>.*?)"
    r"--- exit code: (?P<rc>-?\d+) ---",
    re.S,
)


@attrs.frozen
class Recorded:
    command: str
    stdout: str
    stderr: str
    returncode: int

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.command)


def load(relpath: str) -> Recorded:
    text = (FIXTURES / relpath).read_text()
    m = _LAYOUT.match(text)
    if not m:
        raise ValueError(f"{relpath}: not in the recorded-command layout")
    return Recorded(m["cmd"], m["stdout"], m["stderr"], int(m["rc"]))
