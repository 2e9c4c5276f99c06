"""Argv builders validate every name and property before anything can run."""

from __future__ import annotations

import pytest

from pyzfsnas import commands as cmd
from pyzfsnas.errors import InvalidName, InvalidProperty, UnsupportedOperation
from pyzfsnas.flavour import FUSE, OPENZFS
from pyzfsnas.names import check_path
from pyzfsnas.nfs.exportfs import validate_export_path
from pyzfsnas.properties import validate_property_name, validate_property_value

HOSTILE = ["tank/a;rm -rf /", "tank/$(touch x)", "tank/`id`", "tank/a'b", 'tank/a"b', "tank/a\nb", "tank/a\0b",
           "tank/a|b", "tank/a&b", "tank/a>b", "tank/a\\b", "tank/é", "tank/a*", "tank/a?b", "tank/a\tb"]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_dataset_names_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        cmd.zfs_create(name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("/tank/a", "leading slash"),
        ("tank/a/", "trailing slash"),
        ("tank//a", "empty component"),
        ("-tank/a", "must begin with a letter"),
        ("1tank", "must begin with a letter"),
        ("mirror1/a", "reserved"),
        ("tank/../a", "not allowed"),
        ("tank/" + "a" * 300, "longer than 255"),
        ("tank/a@s", "'@'"),
        ("tank/a#b", "'@' and '#'"),
    ],
)
def test_dataset_name_rules(name: str, why: str) -> None:
    with pytest.raises(InvalidName, match=why):
        cmd.validate_dataset_name(name)


@pytest.mark.parametrize("name", ["tank", "tank/a", "tank/a b", "tank/a-b_c.d:e", "t/" + "x" * 250])
def test_valid_dataset_names(name: str) -> None:
    assert cmd.validate_dataset_name(name) == name


@pytest.mark.parametrize("name", ["tank/a", "tank/a@", "tank/a@b@c", "tank/a@b/c", "@s", "tank/a@b;c"])
def test_snapshot_name_rules(name: str) -> None:
    with pytest.raises(InvalidName):
        cmd.validate_snapshot_name(name)


def test_create_argv_with_properties() -> None:
    argv = cmd.zfs_create("tank/a", {"quota": 2**30, "compression": "lz4", "atime": False,
                                     "com.example:tag": "x y"}, parents=True)
    assert argv == ["zfs", "create", "-p", "-o", "quota=1073741824", "-o", "compression=lz4", "-o", "atime=off",
                    "-o", "com.example:tag=x y", "tank/a"]


def test_quota_none_clears() -> None:
    assert cmd.zfs_set("tank/a", {"quota": None}) == [["zfs", "set", "quota=none", "tank/a"]]


@pytest.mark.parametrize(
    ("props", "match"),
    [
        ({"quota": "10G"}, "int of bytes"),
        ({"quota": -1}, "int of bytes"),
        ({"quota": True}, "int of bytes"),
        ({"nosuchprop": "1"}, "unknown property"),
        ({"used": 1}, "read-only"),
        ({"com.example:x": "a\nb"}, "newline"),
        ({"com.example:x": "a\0b"}, "newline or NUL"),
        ({"Bad:Name": "1"}, "user property"),
        ({":x": "1"}, "user property"),
        ({"mountpoint": "relative/path"}, "absolute"),
        ({"atime": "maybe"}, "on or off"),
        ({"canmount": "sometimes"}, "one of"),
        ({"compression": "bogus"}, "not supported"),
        ({"quota=1 tank/b": 1}, "invalid character"),
    ],
)
def test_bad_properties_refused(props: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidProperty, match=match):
        cmd.zfs_set("tank/a", props)


def test_lz4_refused_on_zfs_fuse_only() -> None:
    with pytest.raises(InvalidProperty):
        cmd.zfs_set("tank/a", {"compression": "lz4"}, flavour=FUSE)
    assert cmd.zfs_set("tank/a", {"compression": "lz4"}, flavour=OPENZFS)


def test_set_is_one_command_on_openzfs_and_one_per_property_on_zfs_fuse() -> None:
    props = {"quota": 1024, "atime": True}
    assert cmd.zfs_set("tank/a", props, flavour=OPENZFS) == [["zfs", "set", "quota=1024", "atime=on", "tank/a"]]
    assert cmd.zfs_set("tank/a", props, flavour=FUSE) == [
        ["zfs", "set", "quota=1024", "tank/a"], ["zfs", "set", "atime=on", "tank/a"]]


def test_get_uses_type_filter_only_where_supported() -> None:
    assert "-t" in cmd.zfs_get(["used"], ["tank"], flavour=OPENZFS, types=("snapshot",))
    assert "-t" not in cmd.zfs_get(["used"], ["tank"], flavour=FUSE, types=("snapshot",))


@pytest.mark.parametrize("flavour", [None, OPENZFS, FUSE])
def test_get_refuses_unknown_types_on_every_host(flavour: object) -> None:
    # The facade validates with its flavour alone once it holds one: that build must check what the
    # flavour-free one does, also where -t is left out (zfs-fuse).
    with pytest.raises(ValueError, match="unknown dataset types"):
        cmd.zfs_get(["used"], ["tank"], flavour=flavour, types=("snapshots",))  # type: ignore[arg-type]


def test_get_validates_property_names_per_flavour() -> None:
    with pytest.raises(InvalidProperty):
        cmd.zfs_get(["logicalused"], ["tank"], flavour=FUSE)
    assert cmd.zfs_get(["logicalused"], ["tank"], flavour=OPENZFS)[-2] == "logicalused"
    assert cmd.zfs_get(["avail"], ["tank"])[-2] == "available"


def test_destroy_is_never_recursive_unless_asked() -> None:
    assert cmd.zfs_destroy("tank/a") == ["zfs", "destroy", "tank/a"]
    assert cmd.zfs_destroy("tank/a", recursive=True) == ["zfs", "destroy", "-r", "tank/a"]
    with pytest.raises(InvalidName):
        cmd.zfs_destroy("tank/a", defer=True)


def test_rename_rules() -> None:
    with pytest.raises(InvalidName):
        cmd.zfs_rename("tank/a@s", "tank/b@s")
    with pytest.raises(InvalidName):
        cmd.zfs_rename("tank/a", "tank/b@s")
    assert cmd.zfs_rename("tank/a@s", "tank/a@t", recursive=True) == ["zfs", "rename", "-r", "tank/a@s", "tank/a@t"]


def test_send_receive_argv() -> None:
    assert cmd.zfs_send("tank/a@s2", incremental_from="@s1") == ["zfs", "send", "-i", "@s1", "tank/a@s2"]
    assert cmd.zfs_send("tank/a@s2", incremental_from="tank/a@s1", intermediates=True)[2:4] == ["-I", "tank/a@s1"]
    assert cmd.zfs_receive("b/a", force=True, unmounted=True) == ["zfs", "receive", "-F", "-u", "b/a"]
    with pytest.raises(UnsupportedOperation):
        cmd.zfs_receive("b/a", resumable=True, flavour=FUSE)
    with pytest.raises(UnsupportedOperation):
        cmd.zfs_receive("b/a", properties={"readonly": True}, flavour=FUSE)
    assert cmd.zfs_receive("b/a", properties={"readonly": True}, flavour=OPENZFS)[-3:] == ["-o", "readonly=on", "b/a"]


def test_volumes_only_where_supported() -> None:
    with pytest.raises(UnsupportedOperation):
        cmd.zfs_create("tank/v", volsize=2**20, flavour=FUSE)
    assert cmd.zfs_create("tank/v", volsize=2**20, flavour=OPENZFS)[-3:] == ["-V", "1048576", "tank/v"]


def test_hold_tag_validation() -> None:
    with pytest.raises(InvalidName):
        cmd.zfs_hold("tank/a@s", "-r")
    assert cmd.zfs_hold("tank/a@s", "keep") == ["zfs", "hold", "keep", "tank/a@s"]


def test_property_helpers() -> None:
    assert validate_property_name("refer") == "referenced"
    assert validate_property_value("readonly", True) == ("readonly", "on")
    assert validate_property_value("com.example:x", "v") == ("com.example:x", "v")


def test_pool_argv_built_and_validated_in_one_place() -> None:
    argv = cmd.zpool_create("tank", ["/dev/sdb"], mountpoint="/srv/tank", properties={"ashift": 12},
                            fs_properties={"compression": "on"}, force=True)
    assert argv == ["zpool", "create", "-f", "-m", "/srv/tank", "-o", "ashift=12", "-O", "compression=on",
                    "tank", "/dev/sdb"]
    for bad in ({"ashift=9 -f": 1}, {"comment": "a\nb"}):
        with pytest.raises(InvalidProperty):
            cmd.zpool_create("tank", ["/dev/sdb"], properties=bad)
    with pytest.raises(InvalidName):
        cmd.zpool_create("tank", ["-f"])
    assert cmd.zpool_destroy("tank", force=True) == ["zpool", "destroy", "-f", "tank"]
    assert cmd.zfs_share("tank/a") == ["zfs", "share", "tank/a"]
    with pytest.raises(InvalidName):
        cmd.zfs_holds("tank/a")


@pytest.mark.parametrize(
    "token", ["1-ab-cd-ef\n", "1-ab-cd-ef\nx", "\n1-ab-cd-ef", "1-ab-cd-ef ", "2-ab-cd-ef", "1-ab-cd"]
)
def test_resume_token_must_be_the_whole_text(token: str) -> None:
    # "$" matches before a trailing newline: the whole string must be the token, nothing after it.
    with pytest.raises(InvalidName):
        cmd.validate_resume_token(token)
    with pytest.raises(InvalidName):
        cmd.zfs_send_resume(token)
    assert cmd.validate_resume_token("1-ab-cd-ef") == "1-ab-cd-ef"


@pytest.mark.parametrize("signal", [9, None, b"HUP", "hup", "HUP\n", "-9", ""])
def test_both_signal_builders_refuse_a_bad_signal_name_alike(signal: object) -> None:
    # signal_process had no str check: a non-str signal raised TypeError from re instead of InvalidName.
    with pytest.raises(InvalidName, match="invalid signal name"):
        cmd.signal_process(1234, signal)  # type: ignore[arg-type]
    with pytest.raises(InvalidName, match="invalid signal name"):
        cmd.signal_pidfile("/run/g.pid", signal)  # type: ignore[arg-type]
    assert cmd.signal_process(1234, "USR1") == ["kill", "-USR1", "1234"]


@pytest.mark.parametrize("path", ["relative", "", None, b"/etc/x", "/etc/a\nb", "/etc/\x7f", "/etc/\ud800"])
def test_one_path_rule_for_file_commands_and_export_paths(path: object) -> None:
    # names.check_path: commands' file paths and nfs.exportfs.validate_export_path refuse the same paths.
    for check in (lambda p: check_path(p, "path"), cmd.file_cat, cmd.file_remove, validate_export_path):
        with pytest.raises(InvalidName):
            check(path)


def test_path_messages_name_what_was_checked() -> None:
    with pytest.raises(InvalidName, match=r"^export path must be absolute: 'srv/a'$"):
        validate_export_path("srv/a")
    with pytest.raises(InvalidName, match=r"^invalid export path '/srv/a\\nb': control character"):
        validate_export_path("/srv/a\nb")
    with pytest.raises(InvalidName, match=r"^path must be absolute: 'etc/x'$"):
        cmd.file_cat("etc/x")
    assert validate_export_path("/srv/a/") == "/srv/a" and cmd.file_cat("/srv/a/") == ["cat", "--", "/srv/a/"]
