"""KernelNFS against what real OpenZFS does with ``sharenfs`` (issue #11): world exports, IPv6 capability.

Real OpenZFS 2.1.11 and 2.3.2 accept ``sharenfs=rw=@fd00::/64`` (exit 0) and export the dataset to everyone
(``exportfs -v``: ``<world>``), because the host list is split at every ``:``. Proven on the guest by
``tests/integration/test_openzfs_kernel_nfs.py``; here the parsing, auditing and capability logic.
"""

from __future__ import annotations

import logging

import pytest

from pyzfsnas import ZFS
from pyzfsnas.errors import UnsupportedOperation
from pyzfsnas.executors.base import Result
from pyzfsnas.nfs import AccessRule, KernelNFS
from pyzfsnas.nfs.kernel import audit_sharenfs_kernel, format_sharenfs_kernel, parse_sharenfs_kernel
from pyzfsnas.nfs.rules import InvalidAccessRule
from pyzfsnas.testing import ScriptedExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

WORLD_RW = ["0.0.0.0/0:rw", "::/0:rw"]


@pytest.mark.parametrize("value", [
    "rw=@fd00::/64", "rw=fd00::7", "rw=@[fd00::]/64", "rw=", "rw=10.0.0.1:", "rw=10.0.0.1::10.0.0.2,no_root_squash",
])
def test_world_exports_by_accident_are_flagged_and_read_as_world(
    value: str, caplog: pytest.LogCaptureFixture
) -> None:
    hazards = audit_sharenfs_kernel(value)
    assert any(h.world and h.level == "rw" for h in hazards)
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        rules = [str(r) for r in parse_sharenfs_kernel(value)]
    assert set(WORLD_RW) <= set(rules)
    assert "DANGEROUS sharenfs" in caplog.text


@pytest.mark.parametrize("value", [
    "off", "on", "rw=[fd00::]/64:[fd00::7],no_root_squash", "rw=10.0.0.1:10.0.0.2,ro=[::1]", "ro", "rw",
    "rw=10.0.0.0/24,ro=192.168.1.5,no_root_squash,sec=sys",
])
def test_values_that_mean_what_they_say_have_no_hazard(value: str) -> None:
    assert audit_sharenfs_kernel(value) == []


def test_format_never_writes_a_misread_value() -> None:
    rules = [AccessRule.parse("fd00::/64", "rw"), AccessRule.parse("fd00::7", "ro")]
    value = format_sharenfs_kernel(rules)
    assert value == "rw=[fd00::]/64,ro=[fd00::7],no_root_squash"
    assert audit_sharenfs_kernel(value) == []
    with pytest.raises(InvalidAccessRule, match="misread"):  # an IPv6 host smuggled in through options
        format_sharenfs_kernel(rules, options=("rw=fd00::9",))


def test_check_reports_a_value_someone_else_wrote() -> None:
    ex = FakeExecutor(FakeHost("openzfs"))
    ex.host.create_pool("tank")
    zfs = ZFS(ex)
    zfs.create_dataset("tank/share")
    nfs = KernelNFS(zfs)
    ex.run(["zfs", "set", "sharenfs=rw=@fd00::/64", "tank/share"]).check()
    check = nfs.check("tank/share")
    assert check.dangerous and check.value == "rw=@fd00::/64"
    assert {str(r) for r in check.rules} == set(WORLD_RW)
    assert [str(r) for r in nfs.rules("tank/share")] == [str(r) for r in check.rules]
    nfs.apply("tank/share", [AccessRule.parse("fd00::/64", "rw")])
    assert not nfs.check("tank/share").dangerous
    assert nfs.sharenfs("tank/share") == "rw=[fd00::]/64,no_root_squash"


def test_check_reads_the_rules_by_the_hazards_it_reports(caplog: pytest.LogCaptureFixture) -> None:
    ex = FakeExecutor(FakeHost("openzfs"))
    ex.host.create_pool("tank")
    zfs = ZFS(ex)
    zfs.create_dataset("tank/share")
    value = "rw=10.0.0.1::10.0.0.2,ro=@fd00::/64"
    ex.run(["zfs", "set", f"sharenfs={value}", "tank/share"]).check()
    with caplog.at_level(logging.WARNING, logger="pyzfsnas"):
        check = KernelNFS(zfs).check("tank/share")
        logged = caplog.text.count("DANGEROUS sharenfs")
    assert logged == len(check.hazards) == 3  # each hazard logged once
    assert list(check.hazards) == audit_sharenfs_kernel(value)
    assert list(check.rules) == parse_sharenfs_kernel(value)


def _host(version: str, package: str | None) -> ScriptedExecutor:
    """An executor answering ``zfs version`` and ``dpkg-query`` like a given host; the rest is not scripted."""
    ex = ScriptedExecutor().on(("zfs", "version"), f"zfs-{version}\nzfs-kmod-{version}\n")
    if package is not None:
        return ex.on(("dpkg-query",), package)
    return ex.on(("dpkg-query",), Result(("dpkg-query",), 1, "", "dpkg-query: no packages found matching "
                                                             "zfsutils-linux\n"))


@pytest.mark.parametrize(("version", "package", "capable", "probed"), [
    ("2.3.2-2~bpo12+2", None, True, False),  # the guest: proven with exportfs -v
    ("2.2.0-1", None, True, False),
    ("2.1.15-1", None, True, False),
    ("2.1.11-1", "2.1.11-1", True, True),  # Debian 12's package: a real host exported [fd00::]/64 correctly
    ("2.1.11-1", "2.1.11-1+deb12u1", True, True),
    ("2.1.12-1", None, False, True),  # upstream RPM build: splits at every ':' (openzfs/zfs#14960)
    ("2.0.7-1", None, False, False),
])
def test_ipv6_capability_from_version_and_package_evidence(
    version: str, package: str | None, capable: bool, probed: bool
) -> None:
    host = _host(version, package)
    nfs = KernelNFS(ZFS(host))
    assert nfs.ipv6_support() is capable
    assert nfs.ipv6_support() is capable  # decided once
    assert sum(c[0] == "dpkg-query" for c in host.calls) == (1 if probed else 0)
    if not capable:
        with pytest.raises(UnsupportedOperation, match="IPv6"):
            nfs.apply("tank/x", [AccessRule.parse("fd00::7", "rw")])
        assert not any(c[:2] == ("zfs", "set") for c in host.calls)


def test_ipv6_capability_can_be_stated() -> None:
    host = _host("2.1.12-1", None)
    assert KernelNFS(ZFS(host), ipv6=True).ipv6_support()
    assert not KernelNFS(ZFS(_host("2.3.2-1", None)), ipv6=False).ipv6_support()
    assert not any(c[0] == "dpkg-query" for c in host.calls)


@pytest.mark.parametrize("value", ["rw=@fd00::/64", "rw=fd00::7", "rw=10.0.0.1:"])
def test_fake_host_exports_misread_values_to_the_world_like_the_real_one(value: str) -> None:
    ex = FakeExecutor(FakeHost("openzfs"))
    ex.host.create_pool("tank", mountpoint="/tank")
    ex.run(["zfs", "create", "tank/e"]).check()
    assert ex.run(["zfs", "set", f"sharenfs={value}", "tank/e"]).returncode == 0  # real: exit 0
    clients = [line.split("\t")[1].split("(")[0] for line in ex.run(["exportfs", "-v"]).stdout.splitlines()]
    assert "<world>" in clients
