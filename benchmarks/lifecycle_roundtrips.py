"""Count the external commands of the standard Manila share lifecycle on the fake host.

Lifecycle: create share, snapshot, share from snapshot, update_access with 3 rules, extend, delete snapshot,
delete share (upstream: 24 commands and 4 s of sleep). Also ensure_shares over 1,000 shares. Commands are
counted from the FakeExecutor transcript after do_setup. Prints a table and writes
benchmarks/results/lifecycle_roundtrips.json.

    python benchmarks/lifecycle_roundtrips.py
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from manila.share import configuration, driver
from oslo_config import cfg

sys.path.insert(0, str(Path(__file__).parent))

from _common import write_result

from pyzfsnas.manila_glue import options
from pyzfsnas.manila_glue.driver import ZFSonLinuxShareDriver
from pyzfsnas.shares import MemoryStore
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

#: Upstream's figures for the same lifecycle are NOT measured here: they are constants, from reading the code
#: of Manila's own ZFSonLinux driver (manila/share/drivers/zfsonlinux/driver.py): its sleeps are visible
#: there (``time.sleep(2)`` in delete_snapshot and in delete_share); the command count was tallied by hand.
UPSTREAM = {"lifecycle": 24, "lifecycle_sleep_s": 4.0, "how": "constants from reading upstream's code, not measured"}


def make_driver(flavour: str) -> tuple[ZFSonLinuxShareDriver, FakeExecutor, str]:
    host = FakeHost(flavour, name=f"bench-{flavour}")  # type: ignore[arg-type]
    host.create_pool("tank", size=64 << 30)
    ex = FakeExecutor(host)
    group = f"bench_{flavour.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    conf = configuration.Configuration(driver.share_opts, config_group=group)
    conf.append_config_values(options.ZFSONLINUX_OPTS)
    for key, value in {"driver_handles_share_servers": False, "zfs_zpool_list": ["tank"],
                       "zfs_share_export_ip": "10.0.0.1", "zfs_service_ip": "10.0.0.2"}.items():
        cfg.CONF.set_override(key, value, group=group)
    drv = ZFSonLinuxShareDriver(configuration=conf, private_storage=MemoryStore(), executor=ex)
    drv.do_setup(None)
    ex.reset_transcript()
    return drv, ex, f"h@{group}#tank"


def lifecycle(flavour: str) -> dict[str, Any]:
    drv, ex, host = make_driver(flavour)
    steps: list[tuple[str, int]] = []

    def step(name: str, call: Any) -> Any:
        before = len(ex.commands)
        out = call()
        steps.append((name, len(ex.commands) - before))
        return out

    share = {"id": "s1", "host": host, "size": 1, "share_proto": "NFS", "share_type_id": None}
    snap = {"id": "n1", "snapshot_id": "sn1", "share_instance_id": "s1", "share_instance": share}
    copy = {"id": "s2", "host": host, "size": 1, "share_proto": "NFS", "share_type_id": None}
    rules = [{"id": f"r{i}", "access_id": f"r{i}", "access_type": "ip", "access_to": f"10.1.0.{i}",
              "access_level": "rw" if i % 2 else "ro"} for i in range(3)]
    start = time.perf_counter()
    step("create_share", lambda: drv.create_share(None, share))
    snap["provider_location"] = step("create_snapshot", lambda: drv.create_snapshot(None, snap))["provider_location"]
    step("create_share_from_snapshot", lambda: drv.create_share_from_snapshot(None, copy, snap))
    step("update_access (3 rules)", lambda: drv.update_access(None, share, rules, rules, [], []))
    step("extend_share", lambda: drv.extend_share(share, 2))
    step("delete_snapshot", lambda: drv.delete_snapshot(None, snap))
    step("delete_share", lambda: drv.delete_share(None, share))
    elapsed = time.perf_counter() - start
    return {"flavour": flavour, "steps": steps, "total": sum(n for _, n in steps), "seconds": elapsed,
            "commands": [" ".join(c) for c in ex.commands]}


def ensure_thousand() -> dict[str, Any]:
    drv, ex, host = make_driver("openzfs")
    shares = [{"id": f"e{i}", "host": host, "size": 1, "share_proto": "NFS", "share_type_id": None}
              for i in range(1000)]
    for sh in shares[:100]:
        drv.create_share(None, sh)
    ex.reset_transcript()
    start = time.perf_counter()
    updates = drv.ensure_shares(None, shares)
    return {"shares": len(shares), "present": sum(u["status"] == "available" for u in updates.values()),
            "commands": len(ex.commands), "seconds": time.perf_counter() - start}


def main() -> None:
    results = {"lifecycle": [lifecycle("openzfs"), lifecycle("zfs-fuse")],
               "ensure_shares": ensure_thousand(), "upstream": UPSTREAM}
    print(f"{'step':<30}" + "".join(f"{r['flavour']:>10}" for r in results["lifecycle"]))
    names = [name for name, _ in results["lifecycle"][0]["steps"]]
    for i, name in enumerate(names):
        print(f"{name:<30}" + "".join(f"{r['steps'][i][1]:>10}" for r in results["lifecycle"]))
    print(f"{'TOTAL':<30}" + "".join(f"{r['total']:>10}" for r in results["lifecycle"]))
    print("upstream (not measured: constants from reading its code): 24 commands and 4 s of sleep")
    ens = results["ensure_shares"]
    print(f"ensure_shares asked for {ens['shares']} shares, {ens['present']} of them on the host: "
          f"{ens['commands']} command(s)")
    print(f"written {write_result('lifecycle_roundtrips', results)}")


if __name__ == "__main__":
    main()
