""":class:`ScriptedExecutor`: an executor that answers commands from rules, for tests of code on top of pyzfsnas.

Each rule maps an argv prefix (or a compiled regex searched in the space-joined argv, or a predicate) to an
answer: a :class:`~pyzfsnas.result.Result`, a text (stdout, exit 0), or a callable that receives the argv and the
stdin bytes and returns either. The first matching rule answers; a command no rule matches exits 127
("not scripted"), so a test never silently passes on an unexpected command. Files live in :attr:`files`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Sequence

from pyzfsnas.errors import error_from_result
from pyzfsnas.executors.base import BaseExecutor, Outcome
from pyzfsnas.result import Result
from pyzfsnas.testing.recording import Match, matches

__all__ = ["Answer", "ScriptedExecutor"]

#: What a rule answers: a Result, stdout text (exit 0), or ``f(argv, stdin) -> Result | str``.
Answer = Result | str | Callable[[tuple[str, ...], bytes], Result | str]


class ScriptedExecutor(BaseExecutor):
    """Answers commands from rules (see the module docstring); every command asked for is in :attr:`calls`."""

    #: The rules, first match wins.
    rules: list[tuple[Match, Answer]]
    #: Every argv run so far, oldest first.
    calls: list[tuple[str, ...]]
    #: The file store of ``read_file`` / ``write_file``: absolute path -> content.
    files: dict[str, bytes]
    #: Nothing is prepended.
    prefix: tuple[str, ...]
    #: No default time limit.
    timeout: float | None
    #: ``scripted``, as log lines name it.
    where: str

    _direct_files = True

    def __init__(self, rules: Iterable[tuple[Match, Answer]] = ()) -> None:
        self.rules = list(rules)
        self.calls = []
        self.files = {}
        self.prefix = ()
        self.timeout = None
        self.where = "scripted"

    def on(self, match: Match, answer: Answer) -> ScriptedExecutor:
        """Add a rule (after the existing ones); returns self, so rules chain."""
        self.rules.append((match, answer))
        return self

    def _answer(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None) -> Result:
        self.calls.append(args)
        data = stdin if isinstance(stdin, bytes) else b"".join(stdin or ())
        for match, answer in self.rules:
            if matches(match, args):
                got = answer(args, data) if callable(answer) else answer
                return Result(args, 0, got) if isinstance(got, str) else got
        return Result(args, 127, "", f"{args[0]}: not scripted ({' '.join(args)})\n")

    def _execute(self, argv: Sequence[str], args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None,
                 limit: float | None) -> Outcome:
        result = self._answer(args, stdin)
        outcome = Outcome(result.returncode)
        outcome.stdout.append(result.stdout.encode())
        outcome.stderr.append(result.stderr.encode())
        return outcome

    @contextlib.contextmanager
    def _open_stream(self, args: tuple[str, ...], stdin: bytes | Iterable[bytes] | None, limit: float | None,
                     outcome: Outcome) -> Iterator[Iterable[bytes]]:
        result = self._answer(args, stdin)
        outcome.returncode = result.returncode
        outcome.stderr.append(result.stderr.encode())
        yield (result.stdout.encode(),)

    def _duration(self, start: float) -> float:
        return 0.0

    def _read_direct(self, path: str) -> bytes:
        if path not in self.files:
            raise error_from_result(("read_file", path), 1, f"cat: {path}: No such file or directory")
        return self.files[path]

    def _write_direct(self, path: str, tmp: str, data: bytes, label: Sequence[str]) -> None:
        self.files[path] = data
