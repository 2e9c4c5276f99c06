"""The property contract (tests/unit/test_property_contract.py) against the real OpenZFS guest (issue 14 item 7)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.test_property_contract import fake_get_all

from pyzfsnas.parsers import parse_zfs_get
from pyzfsnas.properties import NATIVE

pytestmark = pytest.mark.openzfs


@pytest.mark.parametrize("kind", ["filesystem", "snapshot"])
def test_the_library_and_the_fake_agree_with_real_openzfs(openzfs: Any, kind: str) -> None:
    openzfs.run("zfs", "create", "tank/pcontract")
    try:
        target = "tank/pcontract"
        if kind == "snapshot":
            openzfs.run("zfs", "snapshot", "tank/pcontract@s")
            target = "tank/pcontract@s"
        out = openzfs.run("zfs", "get", "-H", "-p", "all", target).stdout
        props = parse_zfs_get(out)[target]
        real = [n for n in props if ":" not in n]
        unknown = [n for n in real if n not in NATIVE]
        assert unknown == [], f"real OpenZFS {openzfs.version} prints properties the library does not know"
        for name in real:
            props[name]  # typed without error
        if str(openzfs.version).startswith("zfs-2.3."):  # the fake models 2.3; 2.1 prints another set
            assert fake_get_all("openzfs", kind) == real
    finally:
        openzfs.run("zfs", "destroy", "-r", "tank/pcontract", check=False)
