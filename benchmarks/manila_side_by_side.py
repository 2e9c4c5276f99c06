"""Our Manila driver and upstream's ZFSonLinux driver, side by side on one real OpenZFS guest.

Boots one pristine guest (``tests/guest``), creates pool ``tank``, then runs the 7-operation lifecycle of
``lifecycle_roundtrips.py`` (create share, snapshot, share from snapshot, update_access with 3 rules, extend,
delete snapshot, delete share) with

* ours: ``pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver``, ``zfs_use_ssh = True`` to the guest;
* upstream: ``manila.share.drivers.zfsonlinux.driver.ZFSonLinuxShareDriver`` from the installed ``manila``
  package, unmodified, ``zfs_use_ssh = True`` to the same guest.

Both are configured from one manila.conf-style file (two backend stanzas) and get manila-shaped dicts. Every
step is checked on the guest after it ran (dataset, data, snapshot, ``sharenfs`` and ``exportfs -v``, quota,
gone after delete) with a separate SSH connection that is neither counted nor timed. Commands are counted at
the SSH executors (ours: every ``SSHExecutor.run``/``stream`` of the driver's own connection; upstream: every
call of its ``ganesha_utils.SSHExecutor``, retries and failed commands included); wall seconds are the driver
calls' own, upstream's ``time.sleep`` included.

What the harness does for upstream (nothing in its code is changed):

* it hard-codes SSH port 22 (``zfsonlinux.utils.get_remote_shell_executor(port=22)``): that function is
  wrapped to pass the forwarded port instead (and to count);
* it prefixes commands with ``sudo``; the guest has none, so a pass-through ``/usr/local/bin/sudo``
  (``exec "$@"``; we log in as root) is installed in the booted guest;
* ``create_share_from_snapshot`` runs ``ssh root@<zfs_service_ip> zfs send ... | ssh ... zfs receive`` *on
  the ZFS host*: ``zfs_service_ip = 127.0.0.1`` and root in the guest gets the login key and the guest's host
  key for 127.0.0.1, as a real upstream deployment needs between its ZFS hosts;
* share types come from Manila's database: ``share_types.get_extra_specs_from_share`` answers for the one
  share type of the run (the same answer to both drivers).

    python benchmarks/manila_side_by_side.py          # root, QEMU and the cached guest image
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.guest

STEPS = ["create_share", "create_snapshot", "create_share_from_snapshot", "update_access (3 rules)",
         "extend_share", "delete_snapshot", "delete_share"]
OURS_GROUP = "sbs_ours"
UPSTREAM_GROUP = "sbs_upstream"
OURS_DRIVER = "pyzfsnas.manila_glue.driver.ZFSonLinuxShareDriver"
UPSTREAM_DRIVER = "manila.share.drivers.zfsonlinux.driver.ZFSonLinuxShareDriver"
SHARE_TYPE_ID = "sbs-share-type"
POOL = "tank"
POOL_DISK = "/dev/disk/by-id/virtio-pool1"
RULES = [("10.1.0.0", "ro"), ("10.1.0.1", "rw"), ("10.1.0.2", "ro")]
Run = Callable[..., Any]  # checker: run(argv, stdin=None) -> pyzfsnas Result


class Model(dict[str, Any]):
    """A manila model: item and attribute access (upstream reads ``snapshot.share_instance``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


# -- the guest ------------------------------------------------------------------------------------------------

def _ok(run: Run, *argv: str, stdin: str | None = None) -> str:
    result = run(list(argv), stdin=stdin)
    if result.returncode != 0:
        raise AssertionError(f"{argv!r} failed in the guest: exit {result.returncode}: {result.stderr}")
    return str(result.stdout)


def prepare_guest(run: Run, guest: Any) -> None:
    """What upstream needs on its ZFS host: ``sudo`` (pass-through: we are root) and ssh from root to itself."""
    _ok(run, "sh", "-c", "printf '#!/bin/sh\\nexec \"$@\"\\n' > /usr/local/bin/sudo && chmod 755 /usr/local/bin/sudo")
    host_key = (Path(guest.image_dir) / "ssh_host_ed25519_key.pub").read_text().split()
    _ok(run, "sh", "-c", "umask 077 && mkdir -p /root/.ssh && cat > /root/.ssh/id_ed25519",
        stdin=Path(guest.key_path).read_text())
    _ok(run, "sh", "-c", "cat >> /root/.ssh/known_hosts", stdin=f"127.0.0.1 {host_key[0]} {host_key[1]}\n")


def exports(run: Run) -> dict[str, dict[str, str]]:
    """``exportfs -v`` in the guest: {path: {client: 'rw'|'ro'}}."""
    text = _ok(run, "exportfs", "-v")
    table: dict[str, dict[str, str]] = {}
    path = ""
    for token in text.split():
        m = re.fullmatch(r"(\S+)\(([^)]*)\)", token)
        if m is None:
            path = token
            continue
        opts = m.group(2).split(",")
        table.setdefault(path, {})[m.group(1)] = "rw" if "rw" in opts else "ro"
    return table


def _dataset_at(run: Run, mountpoint: str) -> str:
    return _ok(run, "zfs", "list", "-H", "-o", "name", mountpoint).strip()


def _exists(run: Run, name: str) -> bool:
    return bool(run(["zfs", "list", "-H", "-t", "all", "-o", "name", name]).returncode == 0)


def _snapshots(run: Run, dataset: str) -> list[str]:
    out = _ok(run, "zfs", "list", "-H", "-t", "snapshot", "-o", "name", "-r", dataset)
    return [line for line in out.splitlines() if line.startswith(dataset + "@")]


def _prop(run: Run, name: str, prop: str) -> str:
    return _ok(run, "zfs", "get", "-H", "-p", "-o", "value", prop, name).strip()


def _mountpoint(locations: Any) -> str:
    """The path of the user-facing export location (``ip:/path``) a driver returned (a list, or a model update
    with ``export_locations``)."""
    if isinstance(locations, dict):
        locations = locations["export_locations"]
    first = locations[0]
    path = first["path"] if isinstance(first, dict) else str(first)
    return path.rsplit(":", 1)[1]


# -- configuration --------------------------------------------------------------------------------------------

def write_config(directory: Path, guest: Any) -> Path:
    """A manila.conf with one stanza per driver, both ``zfs_use_ssh = True`` to the guest."""
    common = (f"driver_handles_share_servers = False\nzfs_zpool_list = {POOL}\nzfs_share_export_ip = 127.0.0.1\n"
              "zfs_service_ip = 127.0.0.1\nzfs_dataset_creation_options =\nzfs_use_ssh = True\n"
              "zfs_ssh_username = root\n"
              f"zfs_ssh_private_key_path = {guest.key_path}\n")
    path = directory / "manila.conf"
    # upstream registers its options in [DEFAULT] too, three of them required there
    path.write_text(
        f"[DEFAULT]\nenabled_share_backends = {OURS_GROUP},{UPSTREAM_GROUP}\nzfs_zpool_list = {POOL}\n"
        "zfs_share_export_ip = 127.0.0.1\nzfs_service_ip = 127.0.0.1\n\n"
        f"[oslo_concurrency]\nlock_path = {directory / 'locks'}\n\n"
        f"[{OURS_GROUP}]\nshare_driver = {OURS_DRIVER}\nshare_backend_name = {OURS_GROUP}\n{common}"
        f"zfs_ssh_port = {guest.port}\nzfs_ssh_known_hosts_file = {guest.known_hosts_path}\n\n"
        f"[{UPSTREAM_GROUP}]\nshare_driver = {UPSTREAM_DRIVER}\nshare_backend_name = {UPSTREAM_GROUP}\n{common}"
        "zfs_share_helpers = NFS=manila.share.drivers.zfsonlinux.utils.NFSviaZFSHelper\n")
    return path


@contextlib.contextmanager
def harness(guest_port: int, ignore: object) -> Iterator[dict[str, list[str]]]:
    """Count each driver's commands; point upstream at the forwarded port; answer share-type look-ups.

    Yields ``{"ours": [...], "upstream": [...]}``, the command lines as they were sent. ``ignore`` is the
    checker's own executor, whose commands are not counted.
    """
    from manila.share import share_types
    from manila.share.drivers.zfsonlinux import utils as zfs_utils

    from pyzfsnas.executors.ssh import SSHExecutor

    sent: dict[str, list[str]] = {"ours": [], "upstream": []}
    real_get_executor = zfs_utils.get_remote_shell_executor
    real_run, real_stream = SSHExecutor.run, SSHExecutor.stream
    real_specs = share_types.get_extra_specs_from_share

    def get_remote_shell_executor(ip: str, port: int, conn_timeout: Any, **kwargs: Any) -> Any:
        executor = real_get_executor(ip, guest_port, conn_timeout, **kwargs)  # the one change: the port

        def counted(*cmd: str, **kw: Any) -> Any:
            sent["upstream"].append(("sudo " if kw.get("run_as_root") else "") + " ".join(cmd))
            return executor(*cmd, **kw)

        return counted

    def run(self: Any, argv: Sequence[str], **kw: Any) -> Any:
        if self is not ignore:
            sent["ours"].append(" ".join(argv))
        return real_run(self, argv, **kw)

    def stream(self: Any, argv: Sequence[str], **kw: Any) -> Any:
        if self is not ignore:
            sent["ours"].append(" ".join(argv))
        return real_stream(self, argv, **kw)

    def extra_specs(share: Any) -> Any:
        if share.get("share_type_id") == SHARE_TYPE_ID:
            return {"driver_handles_share_servers": "False"}
        return real_specs(share)

    zfs_utils.get_remote_shell_executor = get_remote_shell_executor
    own = {name: vars(SSHExecutor).get(name) for name in ("run", "stream")}  # inherited ones are not in vars()
    SSHExecutor.run, SSHExecutor.stream = run, stream  # type: ignore[method-assign]
    share_types.get_extra_specs_from_share = extra_specs
    try:
        yield sent
    finally:
        zfs_utils.get_remote_shell_executor = real_get_executor
        for name, method in own.items():  # put the class back exactly as it was (no copies of inherited methods)
            if method is None:
                delattr(SSHExecutor, name)
            else:
                setattr(SSHExecutor, name, method)
        share_types.get_extra_specs_from_share = real_specs


def load_config(path: Path) -> None:
    """Parse ``path`` into the global CONF, as manila-share does (upstream looks its stanzas up there)."""
    from oslo_config import cfg

    cfg.CONF(["--config-file", str(path)], project="manila", default_config_files=[], default_config_dirs=[])


def unload_config() -> None:
    """Forget the parsed file again (registered options and overrides stay)."""
    from oslo_config import cfg

    cfg.CONF.clear()


def make_driver(kind: str) -> Any:
    """Build and set up one driver the way manila-share does (configuration object for its stanza)."""
    from manila.share import configuration, driver
    from manila.share.manager import share_manager_opts
    from oslo_utils import importutils

    from pyzfsnas.shares import MemoryStore

    group = OURS_GROUP if kind == "ours" else UPSTREAM_GROUP
    conf = configuration.Configuration(driver.share_opts, config_group=group)
    conf.append_config_values(share_manager_opts)
    cls = importutils.import_class(OURS_DRIVER if kind == "ours" else UPSTREAM_DRIVER)
    drv = cls(configuration=conf, private_storage=MemoryStore())
    drv.do_setup(None)
    drv.check_for_setup_error()
    return drv


# -- the lifecycle --------------------------------------------------------------------------------------------

def lifecycle(kind: str, drv: Any, sent: list[str], run: Run) -> dict[str, Any]:
    """The 7 operations, each timed and counted, each checked on the guest afterwards (untimed)."""
    group = OURS_GROUP if kind == "ours" else UPSTREAM_GROUP
    host = f"hostx@{group}#{POOL}"

    def new_share() -> Model:
        sid = str(uuid.uuid4())
        return Model(id=sid, share_id=sid, host=host, size=1, share_proto="NFS", share_type_id=SHARE_TYPE_ID,
                     export_locations=[], status="creating")

    share, copy = new_share(), new_share()
    sid = str(uuid.uuid4())
    snap = Model(id=sid, snapshot_id="snap-" + sid, share_instance_id=share["id"], share_instance=share,
                 share=share, provider_location=None, status="creating")
    rules = [{"id": f"r{i}", "access_id": f"r{i}", "access_type": "ip", "access_to": ip, "access_level": level}
             for i, (ip, level) in enumerate(RULES)]
    steps: list[dict[str, Any]] = []

    def step(name: str, call: Callable[[], Any]) -> Any:
        before, start = len(sent), time.perf_counter()
        out = call()
        steps.append({"step": name, "seconds": time.perf_counter() - start, "commands": sent[before:]})
        return out

    locations = step(STEPS[0], lambda: drv.create_share(None, share))
    mountpoint = _mountpoint(locations)
    dataset = _dataset_at(run, mountpoint)
    assert _prop(run, dataset, "quota") == str(1 << 30), f"{kind}: {dataset} quota is not 1 GiB"
    _ok(run, "sh", "-c", f"echo {kind} > {mountpoint}/proof")

    snap["provider_location"] = step(STEPS[1], lambda: drv.create_snapshot(None, snap))["provider_location"]
    assert len(_snapshots(run, dataset)) == 1, f"{kind}: no snapshot of {dataset}"

    copy_locations = step(STEPS[2], lambda: drv.create_share_from_snapshot(None, copy, snap))
    copy_mountpoint = _mountpoint(copy_locations)
    copy_dataset = _dataset_at(run, copy_mountpoint)
    assert copy_dataset != dataset
    assert _ok(run, "cat", f"{copy_mountpoint}/proof").strip() == kind, f"{kind}: the copy lacks the data"
    assert _prop(run, copy_dataset, "quota") == str(1 << 30), f"{kind}: copy quota is not 1 GiB"
    assert _snapshots(run, copy_dataset) == [], f"{kind}: the copy kept the transfer snapshot"

    step(STEPS[3], lambda: drv.update_access(None, share, rules, rules, [], []))
    assert _prop(run, dataset, "sharenfs") != "off", f"{kind}: sharenfs still off"
    exported = exports(run).get(mountpoint, {})
    assert exported == dict(RULES), f"{kind}: exportfs -v shows {exported} for {mountpoint}"

    step(STEPS[4], lambda: drv.extend_share(share, 2))
    assert _prop(run, dataset, "quota") == str(2 << 30), f"{kind}: quota is not 2 GiB after extend"

    step(STEPS[5], lambda: drv.delete_snapshot(None, snap))
    assert _snapshots(run, dataset) == [], f"{kind}: the snapshot is still there"

    step(STEPS[6], lambda: drv.delete_share(None, share))
    assert not _exists(run, dataset), f"{kind}: {dataset} still exists after delete_share"
    assert mountpoint not in exports(run), f"{kind}: {mountpoint} is still exported after delete_share"
    assert _exists(run, copy_dataset), f"{kind}: delete_share removed the copy too"

    drv.delete_share(None, copy)  # clean up (not part of the lifecycle)
    return {"driver": kind, "steps": steps, "total_commands": sum(len(s["commands"]) for s in steps),
            "total_seconds": sum(s["seconds"] for s in steps)}


def side_by_side(guest: Any, run: Run, checker: object, workdir: Path) -> dict[str, Any]:
    """Both lifecycles on ``guest`` (pool ``tank`` already created); ``run``/``checker`` is our own session."""
    from oslo_utils import importutils

    for path in (OURS_DRIVER, UPSTREAM_DRIVER):  # before parsing: importing manila registers CLI options
        importutils.import_class(path)
    prepare_guest(run, guest)
    load_config(write_config(workdir, guest))
    results: dict[str, Any] = {}
    try:
        with harness(guest.port, checker) as sent:
            for kind in ("ours", "upstream"):
                before = len(sent[kind])
                start = time.perf_counter()
                drv = make_driver(kind)
                setup = {"commands": sent[kind][before:], "seconds": time.perf_counter() - start}
                results[kind] = {**lifecycle(kind, drv, sent[kind], run), "setup": setup}
    finally:
        unload_config()
    results["ratio_seconds"] = results["ours"]["total_seconds"] / results["upstream"]["total_seconds"]
    return results


def report(results: dict[str, Any]) -> str:
    from benchmarks._common import table

    rows = []
    for i, name in enumerate(STEPS):
        ours, up = results["ours"]["steps"][i], results["upstream"]["steps"][i]
        rows.append([name, len(ours["commands"]), f"{ours['seconds']:.2f}", len(up["commands"]),
                     f"{up['seconds']:.2f}"])
    o, u = results["ours"], results["upstream"]
    rows.append(["total", o["total_commands"], f"{o['total_seconds']:.2f}", u["total_commands"],
                 f"{u['total_seconds']:.2f}"])
    text = table(["step", "ours cmds", "ours s", "upstream cmds", "upstream s"], rows)
    return f"{text}\nours / upstream wall time: {results['ratio_seconds']:.2f}x (goal <= 0.5x)"


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> int:
    from benchmarks._common import write_result
    from tests.guest import vm

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    uptime_before = _uptime()
    try:
        guest = vm.boot(vm.image(build=False))
    except vm.GuestUnavailable as exc:
        print(f"skipped: {exc} (build it with `bash tests/guest/build-image.sh`)")
        return 0
    try:
        checker: Any = guest.executor()
        try:
            _ok(checker.run, "zpool", "create", "-f", "-o", "ashift=12", "-O", f"mountpoint=/{POOL}", POOL,
                POOL_DISK)
            with tempfile.TemporaryDirectory(prefix="pyzfsnas-sbs-") as tmp:
                results = side_by_side(guest, checker.run, checker, Path(tmp))
            load = _ok(checker.run, "cat", "/proc/loadavg").split()[:3]
        finally:
            checker.close()
    finally:
        guest.stop()
    facts = {"date": started, "accel": guest.accel, "zfs_version": guest.zfs_version,
             "guest_boot_seconds": round(guest.boot_seconds, 1), "host_uptime_before": uptime_before,
             "host_uptime_after": _uptime(), "guest_loadavg": load}
    print(report(results))
    print(facts)
    path = write_result("manila_side_by_side", {"facts": facts, **results})
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
