"""LocalExecutor: timeouts kill whole pipelines, streamed stdin errors surface, missing programs are exit 127."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pyzfsnas import ZFS, LocalExecutor, ToolNotFound
from pyzfsnas.errors import CommandTimeout
from pyzfsnas.executors.base import NO_TIMEOUT
from pyzfsnas.flavour import OPENZFS


def test_timeout_kills_the_whole_pipeline_promptly(tmp_path: object) -> None:
    start = time.monotonic()
    with pytest.raises(CommandTimeout):
        LocalExecutor(timeout=0.5).run(["sh", "-c", "sleep 7 | cat; true"])
    assert time.monotonic() - start < 3


def test_stream_timeout_kills_the_pipeline() -> None:
    start = time.monotonic()
    with pytest.raises(CommandTimeout), LocalExecutor(timeout=0.5).stream(["sh", "-c", "sleep 7 | cat"]) as out:
        for _ in out:
            pass
    assert time.monotonic() - start < 3


def test_no_timeout_overrides_the_default() -> None:
    assert LocalExecutor(timeout=0.2).run(["sleep", "0.5"], timeout=NO_TIMEOUT).returncode == 0


def test_an_error_in_streamed_stdin_is_raised_not_swallowed() -> None:
    def source() -> Iterator[bytes]:
        yield b"first chunk\n"
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        LocalExecutor().run(["cat"], stdin=source())


def test_missing_program_is_exit_127_for_run_and_stream() -> None:
    ex = LocalExecutor(prefix=["/nonexistent/prog"])
    result = ex.run(["zfs", "list"])
    assert result.returncode == 127 and "/nonexistent/prog" in result.stderr
    with ex.stream(["zfs", "send", "tank/a@s"]) as out:
        assert list(out) == []
    assert out.result is not None and out.result.returncode == 127
    with pytest.raises(ToolNotFound), ZFS(ex, flavour=OPENZFS).send("tank/a@s") as stream:
        list(stream)
