"""exportfs (nfs-kernel-server) for tests: a scratch directory tree whose exports are cleaned up exactly.

Without a kernel nfsd, ``exportfs`` still maintains ``/var/lib/nfs/etab``, which is all the library drives.
The etab is machine-wide and shared with other people, so cleanup removes only entries whose path lies under
a directory this module made (or was told to watch) — never anything else.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tests.realhosts.common import ComponentUnavailable, run, timings

__all__ = [
    "EXPORTFS",
    "ExportEntry",
    "ExportfsHost",
    "client_spec",
    "list_exports",
    "start_host",
    "unexport_under",
]

EXPORTFS = "/usr/sbin/exportfs"
COMPONENT = "exportfs"
_LINE_RE = re.compile(r"^(?P<path>/.*?)\s+(?P<client>[^\s(]+)\((?P<options>[^)]*)\)\s*$")


@dataclass(frozen=True)
class ExportEntry:
    """One ``exportfs -s`` line: exported ``path``, ``client`` (``*`` for everyone), ``options``."""

    path: str
    client: str
    options: str


def client_spec(client: str, path: str) -> str:
    """The ``client:path`` argument of exportfs, bracketing IPv6 clients (unbracketed ones are rejected)."""
    if ":" in client and not client.startswith("["):
        if "/" in client:  # [addr]/prefix form for an IPv6 network
            address, prefix = client.split("/", 1)
            return f"[{address}]/{prefix}:{path}"
        return f"[{client}]:{path}"
    return f"{client}:{path}"


def available() -> bool:
    """Whether exportfs is installed and we are root (the only way to change the etab)."""
    return os.access(EXPORTFS, os.X_OK) and os.geteuid() == 0


def list_exports() -> list[ExportEntry]:
    """All current exports, parsed from ``exportfs -s`` (one line per path and client)."""
    proc = run([EXPORTFS, "-s"], timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"exportfs -s failed ({proc.returncode}): {proc.stderr.strip()}")
    entries = []
    for line in proc.stdout.splitlines():
        match = _LINE_RE.match(line)
        if match:
            entries.append(ExportEntry(match["path"], match["client"], match["options"]))
    return entries


def _is_under(path: str, roots: Iterable[Path]) -> bool:
    real = Path(os.path.realpath(path))
    return any(real == root or root in real.parents for root in (Path(os.path.realpath(r)) for r in roots))


def unexport_under(roots: Iterable[Path]) -> list[ExportEntry]:
    """Unexport every entry whose path is at or below one of ``roots``; return what was removed.

    A no-op when exportfs is unavailable, so callers can use it unconditionally in teardown.
    """
    if not available():
        return []
    roots = list(roots)
    removed = []
    for entry in list_exports():
        if _is_under(entry.path, roots):
            proc = run([EXPORTFS, "-u", client_spec(entry.client, entry.path)], timeout=30)
            if proc.returncode != 0:
                raise RuntimeError(f"exportfs -u {entry.client}:{entry.path} failed: {proc.stderr.strip()}")
            removed.append(entry)
    return removed


@dataclass
class ExportfsHost:
    """A scratch ``workdir`` for directories to export; ``close`` unexports everything under ``roots``."""

    workdir: Path
    roots: list[Path] = field(default_factory=list)

    def make_dir(self, name: str) -> Path:
        """Create (if needed) and return ``workdir/name``, a directory tests may export."""
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def watch(self, root: Path) -> None:
        """Also clean up exports under ``root`` at close (e.g. the mountpoints of zfs-fuse test pools)."""
        self.roots.append(root)

    def export(self, path: Path, client: str = "127.0.0.1", options: str = "rw,no_root_squash") -> None:
        """``exportfs -o OPTIONS CLIENT:PATH``; refuses paths outside the watched roots."""
        if not _is_under(str(path), self.roots):
            raise ValueError(f"{path} is outside {self.roots}: it would not be cleaned up")
        with timings.measure("exportfs add"):
            proc = run([EXPORTFS, "-o", options, client_spec(client, str(path))], timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"exportfs {client}:{path} failed ({proc.returncode}): {proc.stderr.strip()}")

    def unexport(self, path: Path, client: str = "127.0.0.1") -> None:
        """``exportfs -u CLIENT:PATH``."""
        with timings.measure("exportfs remove"):
            proc = run([EXPORTFS, "-u", client_spec(client, str(path))], timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"exportfs -u {client}:{path} failed ({proc.returncode}): {proc.stderr.strip()}")

    def exports(self) -> list[ExportEntry]:
        """Current exports under our roots (other people's are left out)."""
        with timings.measure("exportfs list"):
            entries = list_exports()
        return [e for e in entries if _is_under(e.path, self.roots)]

    def close(self) -> None:
        """Unexport what lies under our roots, then delete the scratch directory."""
        with timings.measure("exportfs cleanup"):
            unexport_under(self.roots)
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_host(base_dir: str | None = None) -> ExportfsHost:
    """Check exportfs is usable (installed, root, ``/var/lib/nfs`` present, ``exportfs -v`` works)."""
    if not os.access(EXPORTFS, os.X_OK):
        raise ComponentUnavailable(COMPONENT, f"{EXPORTFS} not installed (apt-get install nfs-kernel-server)")
    if os.geteuid() != 0:
        raise ComponentUnavailable(COMPONENT, "exportfs needs root")
    os.makedirs("/var/lib/nfs", exist_ok=True)
    start = time.perf_counter()
    proc = run([EXPORTFS, "-v"], timeout=30)
    timings.add("exportfs -v", time.perf_counter() - start)
    if proc.returncode != 0:
        raise ComponentUnavailable(COMPONENT, f"exportfs -v exited {proc.returncode}: {proc.stderr.strip()}")
    workdir = Path(tempfile.mkdtemp(prefix="pzt-exportfs-", dir=base_dir))
    return ExportfsHost(workdir=workdir, roots=[workdir])
