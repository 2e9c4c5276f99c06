"""One truth about ZFS properties (issue 14 item 7): the library's table, the fake host and real outputs agree.

The library (``pyzfsnas.properties.NATIVE``, ``COMPRESSION_VALUES``) decides what pyzfsnas sends and how it
types what it reads; the fake host (``pyzfsnas.testing.fake.props``) decides what a test host accepts and
prints; recorded real outputs (tests/fixtures: zfs-fuse 0.7 and OpenZFS 2.x) say what hosts really do.
"""

from __future__ import annotations

import pytest
from tests.fixturelib import load

from pyzfsnas.errors import InvalidProperty
from pyzfsnas.parsers import parse_zfs_get
from pyzfsnas.properties import COMPRESSION_VALUES, NATIVE, Kind, validate_property_value
from pyzfsnas.testing.fake import FakeExecutor, FakeHost
from pyzfsnas.testing.fake import props as fake_props

FLAVOURS = ("openzfs", "zfs-fuse")
#: What the library knows that a dataset has (the rest of NATIVE are pool properties).
DATASET_SPECS = {name: spec for name, spec in NATIVE.items() if name in fake_props.PROPS}
POOL_ONLY = {"size", "allocated", "free", "freeing", "expandsize", "checkpoint", "leaked", "capacity",
             "fragmentation", "dedupratio", "health", "altroot", "ashift", "autoexpand", "autoreplace",
             "delegation", "listsnapshots"}

#: Recorded ``zfs get -H -p all`` outputs, by flavour and the kind of object they show: zfs-fuse recorded on
#: the real zfs-fuse 0.7; OpenZFS 2.2 written from its man pages (tests/fixtures/openzfs-2.2/README.md).
RECORDED_GET_ALL = [
    ("zfs-fuse", "filesystem", "zfs-fuse/zfs_get_Hp_all_tank.txt"),
    ("zfs-fuse", "snapshot", "zfs-fuse/zfs_get_Hp_all_snapshot.txt"),
    ("openzfs", "filesystem", "openzfs-2.2/zfs_get_Hp_all_ds.txt"),
]
#: The outputs recorded on a real host: the fake must print exactly their property names, in their order.
#: (The real OpenZFS guest is compared in tests/integration/test_property_contract_openzfs.py.)
RECORDED_ON_A_REAL_HOST = RECORDED_GET_ALL[:2]


def test_every_native_property_is_a_dataset_or_a_pool_property() -> None:
    assert set(NATIVE) == set(DATASET_SPECS) | POOL_ONLY


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_the_fake_knows_each_library_property_on_the_same_flavours(flavour: str) -> None:
    for name, spec in DATASET_SPECS.items():
        library_has = not spec.flavours or flavour in spec.flavours
        fake_has = fake_props.lookup(name, flavour) is not None
        assert library_has == fake_has, f"{name} on {flavour}: library {library_has}, fake {fake_has}"


def test_read_only_agrees() -> None:
    # Set-once properties (volblocksize, utf8only, normalization...) are given at creation: not read-only.
    for name, spec in DATASET_SPECS.items():
        fake = fake_props.PROPS[name]
        assert spec.readonly == (fake.readonly and not fake.setonce), name


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_enumerated_values_agree(flavour: str) -> None:
    for name, spec in DATASET_SPECS.items():
        fake = fake_props.lookup(name, flavour)
        if fake is None or not spec.choices:
            continue
        assert set(spec.choices) == set(fake.values), name
    assert fake_props.lookup("compression", flavour).values == COMPRESSION_VALUES[flavour]  # type: ignore[union-attr]


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("value", ["lz4", "zstd", "zstd-19", "zstd-fast", "zstd-fast-10", "zstd-fast-1000",
                                   "zstd-fast-11", "zstd-20", "gzip-9", "gzip-10", "LZ4", "on", "zle"])
def test_library_and_fake_accept_the_same_compression(flavour: str, value: str) -> None:
    try:
        validate_property_value("compression", value, flavour=flavour)
        library = True
    except InvalidProperty:
        library = False
    host = FakeHost(flavour=flavour)  # type: ignore[arg-type]
    host.create_pool("tank", mountpoint="/tank")
    fake = FakeExecutor(host).run(["zfs", "create", "-o", f"compression={value}", "tank/a"]).returncode == 0
    assert library == fake, f"compression={value} on {flavour}: library {library}, fake {fake}"


@pytest.mark.parametrize(("flavour", "kind", "fixture"), RECORDED_GET_ALL)
def test_recorded_properties_are_known_and_typed(flavour: str, kind: str, fixture: str) -> None:
    (props,) = parse_zfs_get(load(fixture).stdout).values()
    for name in props:
        if ":" in name:
            continue  # a user property
        spec = NATIVE.get(name)
        assert spec is not None, f"the real {flavour} prints {name!r}: unknown to the library"
        assert not spec.flavours or flavour in spec.flavours, f"{name} is printed by {flavour}"
        props[name]  # typed without error
        if spec.kind in (Kind.SIZE, Kind.INT) and props.raw(name) not in ("-", "none"):
            assert isinstance(props.value(name), int), name


def fake_get_all(flavour: str, kind: str) -> list[str]:
    """The native property names the fake host prints for ``zfs get -H -p all`` of a new ``kind``."""
    host = FakeHost(flavour=flavour)  # type: ignore[arg-type]
    host.create_pool("tank", mountpoint="/tank")
    ex = FakeExecutor(host)
    ex.run(["zfs", "create", "tank/ds"]).check()
    target = "tank/ds"
    if kind == "snapshot":
        ex.run(["zfs", "snapshot", "tank/ds@s"]).check()
        target = "tank/ds@s"
    return [n for n in parse_zfs_get(ex.run(["zfs", "get", "-H", "-p", "all", target]).check().stdout)[target]
            if ":" not in n]


@pytest.mark.parametrize(("flavour", "kind", "fixture"), RECORDED_ON_A_REAL_HOST)
def test_the_fake_prints_what_the_real_host_prints(flavour: str, kind: str, fixture: str) -> None:
    real = [n for n in parse_zfs_get(load(fixture).stdout).popitem()[1] if ":" not in n]
    assert fake_get_all(flavour, kind) == real
