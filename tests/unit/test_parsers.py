"""Parsers against real zfs-fuse outputs and hand-written OpenZFS 2.2 outputs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from tests.fixturelib import FIXTURES, load

from pyzfsnas.errors import ParseError
from pyzfsnas.models import Dataset, Snapshot
from pyzfsnas.parsers import (
    build_objects,
    check_typed,
    parse_send_size,
    parse_zfs_get,
    parse_zfs_list,
    parse_zpool_get,
    parse_zpool_get_table,
    parse_zpool_list,
)
from pyzfsnas.properties import SourceKind


def test_zfs_get_all_zfs_fuse_types_every_value() -> None:
    raw = parse_zfs_get(load("zfs-fuse/zfs_get_Hp_all_tank.txt").stdout)
    check_typed(raw)
    (tank,) = build_objects(raw)
    assert isinstance(tank, Dataset)
    assert tank.type == "filesystem"
    assert tank.used == 4251648
    assert tank.available == 224337920
    assert tank.quota is None  # 0 means no quota
    assert tank.mounted is True
    assert tank.compressratio == 1.0
    assert tank.creation == datetime.fromtimestamp(1795623682, tz=timezone.utc)
    assert tank.creation.tzinfo is not None
    assert tank.mountpoint == "/srv/test/mnt/tank"
    assert tank.readonly is False
    assert tank.properties["mountpoint"].source.kind is SourceKind.LOCAL
    assert tank.properties["quota"].source.kind is SourceKind.DEFAULT
    assert tank.properties["type"].source.kind is SourceKind.NONE
    assert tank.properties["recordsize"].value == 131072
    assert tank.properties["mlslabel"].value == "off"  # unknown-kind text kept as text
    assert len(tank.properties) == 44


def test_zfs_get_snapshot_and_inherited_user_property() -> None:
    (snap,) = build_objects(parse_zfs_get(load("zfs-fuse/zfs_get_Hp_all_snapshot.txt").stdout))
    assert isinstance(snap, Snapshot)
    assert snap.dataset == "tank/ds" and snap.snapname == "snap1"
    assert snap.used == 90112 and snap.referenced == 3268608
    assert snap.userrefs == 0 and snap.defer_destroy is False
    owner = snap.properties["myorg:owner"]
    assert owner.value == "alice"
    assert owner.source.kind is SourceKind.INHERITED
    assert owner.source.inherited_from == "tank/ds"
    assert str(owner.source) == "inherited from tank/ds"


def test_zfs_get_clone_origin() -> None:
    (clone,) = build_objects(parse_zfs_get(load("zfs-fuse/zfs_get_Hp_all_clone.txt").stdout))
    assert isinstance(clone, Dataset)
    assert clone.origin == "tank/ds@snap1"
    assert clone.compression == "lzjb"


def test_zfs_get_subset_of_columns_recursive() -> None:
    rec = load("zfs-fuse/zfs_get_Hp_r_used_tank.txt")
    raw = parse_zfs_get(rec.stdout, ("name", "property", "value"))
    objs = build_objects(raw)
    names = [o.name for o in objs]
    assert names[:3] == ["tank", "tank@rsnap", "tank/a"]
    snaps = [o for o in objs if isinstance(o, Snapshot)]
    assert all(s.properties["available"].value is None for s in snaps)
    assert all(s.properties["used"].source.kind is SourceKind.NONE for s in snaps)


def test_zfs_get_reordered_columns() -> None:
    text = "local\tquota\ttank/a\t1024\n"
    raw = parse_zfs_get(text, ("source", "property", "name", "value"))
    assert list(raw) == ["tank/a"]
    assert raw["tank/a"]["quota"].value == 1024
    assert str(raw["tank/a"]["quota"].source) == "local"


def test_user_property_value_with_tabs_and_spaces_survives() -> None:
    raw = parse_zfs_get("tank/a\tcom.example:note\ta\tb c\tlocal\ntank/a\tquota\t0\tdefault\n")
    note = raw["tank/a"]["com.example:note"]
    assert (note.raw, str(note.source)) == ("a\tb c", "local")
    assert raw["tank/a"]["quota"].value is None


def test_user_properties_from_fixture() -> None:
    raw = parse_zfs_get(load("zfs-fuse/zfs_get_userprop.txt").stdout)
    assert raw["tank"]["myorg:owner"].value is None
    assert raw["tank"]["myorg:owner"].source.kind is SourceKind.NONE
    assert raw["tank/ds"]["myorg:owner"].raw == "alice"
    assert raw["tank/ds"]["myorg:owner"].source.kind is SourceKind.LOCAL


def test_openzfs_2_2_get_all_keeps_unknown_and_user_properties() -> None:
    raw = parse_zfs_get(load("openzfs-2.2/zfs_get_Hp_all_ds.txt").stdout)
    check_typed(raw)
    (ds,) = build_objects(raw)
    assert isinstance(ds, Dataset)
    assert ds.compressratio == 1.52
    assert ds.quota == 2 * 1024**3
    assert ds.properties["logicalused"].value == 1632108544
    assert ds.properties["objsetid"].value == 259  # known (and typed) since the property contract of issue 14
    unknown = parse_zfs_get("tank/ds\tfuture_prop\t7\t-\n")["tank/ds"]
    assert unknown["future_prop"].value == "7"  # an unknown native property: kept as text
    assert ds.properties["xattr"].value == "sa"  # not on/off: kept as text, never lost
    assert ds.properties["com.example:owner"].value == "alice smith"
    assert ds.properties["com.example:team"].source.inherited_from == "tank"
    assert ds.sharenfs == "rw=@10.0.0.0/24:@[fd00::]/64,ro=@192.0.2.7,no_root_squash"


def test_zfs_list_parsable_openzfs() -> None:
    rec = load("openzfs-2.2/zfs_list_Hp_t_all.txt")
    raw = parse_zfs_list(rec.stdout, ("name", "used", "available", "referenced", "mountpoint"))
    objs = build_objects(raw)
    assert [o.name for o in objs] == ["tank", "tank/ds", "tank/ds@s1", "tank/vol"]
    assert objs[1].used == 1073872896
    assert isinstance(objs[2], Snapshot)
    assert objs[3].properties["mountpoint"].value is None


def test_zfs_list_dash_values_from_freebsd() -> None:
    text = (FIXTURES / "openzfs/zfs-list-Hp-o-name-used-usedby-lrefer__dash-values__freebsd-2.2.7-reconstructed.txt")
    cols = ("name", "used", "usedbysnapshots", "usedbydataset", "usedbychildren", "usedbyrefreservation",
            "logicalreferenced")
    raw = parse_zfs_list(text.read_text(), cols)
    check_typed(raw)
    share = build_objects(raw)[1]
    assert share.name == "z/data/share"
    assert share.used == 3189260421888
    assert share.properties["usedbysnapshots"].value is None
    assert share.properties["logicalreferenced"].value == 2535836658176


def test_zpool_list_human_sizes_of_zfs_fuse_are_flagged_inexact() -> None:
    cols = ("name", "size", "allocated", "free", "capacity", "health", "altroot")
    pools = parse_zpool_list(load("zfs-fuse/zpool_list_H_o.txt").stdout, cols, exact=False)
    assert [p.name for p in pools] == ["backup", "tank"]
    assert pools[0].size == 250 * 2**20
    assert pools[0].allocated == 556 * 1024
    assert pools[0].capacity == 0
    assert pools[0].health == "ONLINE"
    assert pools[0].altroot is None
    assert pools[0].exact is False


def test_zpool_list_parsable_openzfs() -> None:
    pools = parse_zpool_list(load("openzfs-2.2/zpool_list_Hp_o.txt").stdout)
    assert pools[0].size == 10737418240 and pools[0].exact
    assert pools[1].dedupratio == 1.25 and pools[1].altroot == "/mnt" and pools[1].health == "DEGRADED"


def test_zpool_get_table_of_zfs_fuse() -> None:
    raw = parse_zpool_get_table(load("zfs-fuse/zpool_get_all.txt").stdout)
    props = raw["tank"]
    assert props["guid"].value == 10577665061469939084
    assert props["guid"].source.kind is SourceKind.DEFAULT
    assert props["size"].value == 250 * 2**20 and props["size"].raw == "250M"
    assert props["altroot"].value is None


def test_zpool_get_scripted_openzfs() -> None:
    raw = parse_zpool_get(load("openzfs-2.2/zpool_get_Hp_o.txt").stdout)
    assert raw["tank"]["feature@lz4_compress"].raw == "active"
    assert raw["tank"]["fragmentation"].value == 3


@pytest.mark.parametrize(
    "text",
    ["tank\tused\n", "tank\n", "\tused\t1\t-\n", "tank\t\t1\t-\n", "tank\tused\t1\t-\ntank\t\t1\t-\n"],
)
def test_malformed_zfs_get_raises_parse_error_with_line(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_zfs_get(text)
    bad = text.rstrip("\n").split("\n")[-1]
    assert info.value.lineno == text.count("\n")
    assert info.value.line == bad


def test_bad_value_surfaces_as_parse_error_on_access() -> None:
    raw = parse_zfs_get("tank\tused\tlots\t-\n")
    (ds,) = build_objects(raw)
    with pytest.raises(ParseError):
        _ = ds.used
    with pytest.raises(ParseError):
        check_typed(raw)


def test_bad_source_is_parse_error() -> None:
    with pytest.raises(ParseError):
        check_typed(parse_zfs_get("tank\tquota\t0\tfrom nowhere\n"))


def test_error_names_second_line() -> None:
    with pytest.raises(ParseError) as info:
        parse_zfs_get("tank\tused\t1\t-\nbroken\n")
    assert info.value.lineno == 2


def test_zpool_list_bad_column_count() -> None:
    with pytest.raises(ParseError):
        parse_zpool_list("tank\t1\n")


def test_empty_output_is_empty() -> None:
    assert parse_zfs_get("") == {}
    assert parse_zpool_list("") == []


def test_zpool_list_plain_openzfs_2_3_eleven_columns() -> None:
    """``zpool list -H -p`` without ``-o`` on real OpenZFS 2.3.2 prints 11 columns; the defaults read them."""
    from tests.conformance.script import load_fixtures

    (out,) = [o for o in load_fixtures() if o.step == "zpool-list-plain"]
    assert all(len(line.split("\t")) == 11 for line in out.stdout.splitlines())
    pools = parse_zpool_list(out.stdout)
    assert [p.name for p in pools] == ["backup", "tank"]
    for p in pools:
        assert p.health == "ONLINE" and p.size == 4026531840 and p.fragmentation == 0
        assert p.allocated is not None and p.free is not None and p.allocated + p.free == p.size
        assert p.capacity == 0 and p.dedupratio == 1.0 and p.altroot is None


def test_zpool_list_plain_zfs_fuse_and_own_columns_still_parse() -> None:
    fuse = "tank\t250M\t556K\t249M\t0%\t1.00x\tONLINE\t-\n"
    (p,) = parse_zpool_list(fuse, exact=False)
    assert (p.name, p.health, p.capacity) == ("tank", "ONLINE", 0)
    with pytest.raises(ParseError):
        parse_zpool_list("tank\t1\t2\n")


def test_send_size_is_the_size_line_in_ascii_digits() -> None:
    assert parse_send_size("full\ttank/a@s\t1234\nsize\t1234\n") == 1234
    assert parse_send_size("resume token contents:\n\ttoname = tank/a@s\r\nsize\t77\r\n") == 77
    assert parse_send_size("full\ttank/a@s\t1234\n") is None  # no estimate
    assert parse_send_size("") is None
    # "²".isdigit() is True but int("²") fails: only ASCII digits count, anything else is a ParseError.
    for bad in ("size\t²\n", "size\t12a\n", "size\t\n", "size\t-1\n", "size\t1\t2\n", "size\t\u0661\u0662\n"):
        with pytest.raises(ParseError) as info:
            parse_send_size("full\tx@s\t1\n" + bad)
        assert info.value.lineno == 2
