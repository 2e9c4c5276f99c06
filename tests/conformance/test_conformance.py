"""The fake host's ``openzfs`` flavour against real OpenZFS 2.3.2 (issue #11, deliverable 4).

``test_fake_matches_captured_real_outputs`` needs no guest: it replays the script on the fake host and compares
with the real outputs committed under ``tests/fixtures/openzfs-2.3/conformance/``. The ``openzfs`` test runs the
same script on the live guest and on the fake side by side. Both fail on any difference that is not in
:data:`~tests.conformance.script.KNOWN_DIFFERENCES`, and on a known difference that has gone away.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import pytest

from tests.conformance import script


def _report(found: Mapping[str, tuple[str, str]]) -> str:
    unknown = {k: v for k, v in found.items() if k not in script.KNOWN_DIFFERENCES}
    gone = sorted(set(script.KNOWN_DIFFERENCES) - set(found))
    text = [f"{len(unknown)} unlisted difference(s):"]
    for key, (fake, real) in unknown.items():
        text.append(f"== {key}")
        text += list(difflib.unified_diff(fake.splitlines(), real.splitlines(), "fake", "real", lineterm="", n=1))
    if gone:
        text.append(f"known differences no longer seen (remove them from KNOWN_DIFFERENCES): {gone}")
    return "\n".join(text)


def _assert_conforms(found: Mapping[str, tuple[str, str]]) -> None:
    assert set(found) == set(script.KNOWN_DIFFERENCES), _report(found)


def test_fixtures_cover_the_script() -> None:
    """Every step of the script has its captured real output, in order (re-capture after editing the script)."""
    captured = script.load_fixtures()
    assert [o.step for o in captured] == [s.id for s in script.SCRIPT]
    assert [o.argv for o in captured] == [s.argv for s in script.SCRIPT]
    assert (script.FIXTURES.parent / "conformance.source.txt").read_text().count("2.3.2") >= 1


def test_known_differences_are_explained() -> None:
    steps = {s.id for s in script.SCRIPT}
    for key, reason in script.KNOWN_DIFFERENCES.items():
        step, _, stream = key.rpartition(":")
        assert step in steps and stream in ("rc", "stdout", "stderr"), key
        assert len(reason) > 40, f"{key}: say why the difference is accepted"


def test_fake_matches_captured_real_outputs() -> None:
    """The fake's outputs equal the real guest's captured ones, modulo volatile fields and the known list."""
    _assert_conforms(script.compare(script.run_script(script.fake_executor()), script.load_fixtures()))


def test_normalise_masks_only_volatile_fields() -> None:
    """The comparison is not blind: a changed default or exit status is a difference, a new guid is not."""
    line = "tank/a\tcompression\ton\tdefault\ntank/a\tguid\t123\t-\n"
    assert script.normalise(line) == script.normalise(line.replace("123", "456"))
    assert script.normalise(line) != script.normalise(line.replace("\ton\t", "\toff\t"))
    step = script.SCRIPT[0]
    same = script.Outcome(step.id, step.argv, 0, "", "")
    assert script.compare([same], [same]) == {}
    assert set(script.compare([same], [script.Outcome(step.id, step.argv, 255, "", "")])) == {f"{step.id}:rc"}


@pytest.mark.openzfs
@pytest.mark.timeout(900)
def test_fake_matches_live_guest(openzfs: object) -> None:
    """The same script on the live guest and on the fake host: only the known differences.

    The fake models OpenZFS 2.3; on a guest of another series (the 2.1.x tier) this comparison does not apply:
    that guest runs the rest of the tier, and 2.1's known differences from 2.3 are listed in
    ``shared/reference/openzfs-guest.md``.
    """
    version = str(openzfs.version)  # type: ignore[attr-defined]
    if not version.startswith("zfs-2.3."):
        pytest.skip(f"the fake models OpenZFS 2.3; this guest runs {version}")
    executor = openzfs.executor  # type: ignore[attr-defined]
    fake = script.fake_executor(limits_active=script.active_limits(executor))  # the same pool history
    real = script.run_script(executor)
    _assert_conforms(script.compare(script.run_script(fake), real))
