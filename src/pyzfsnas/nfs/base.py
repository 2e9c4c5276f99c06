"""The NFS backend protocol: how a share's access rules are written to and read back from one host.

Every backend follows the same contract, so the Manila glue (and tests) can treat them alike:

* ``apply(dataset, rules)`` makes the rules in force exactly ``rules`` (bulk, idempotent), writing the whole
  set in one command where the backend allows; ``read_only=True`` turns every rule into ``ro`` (read-only
  replicas);
* ``add``/``remove`` change one rule; a rule names a network, so ``add`` replaces the level of a rule already
  in force for the same network and ``remove`` drops the rule for that network whatever its level; removing
  a rule that is not in force is not an error;
* ``rules(dataset)`` reads what is in force back from the host (never from a cache);
* ``clear(dataset)`` removes every export of the dataset;
* rule changes touch only the dataset named. Duplicate networks in one set: ``rw`` wins
  (:func:`~pyzfsnas.nfs.rules.normalize_rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

from pyzfsnas.errors import UnsupportedOperation
from pyzfsnas.nfs.rules import AccessRule
from pyzfsnas.zfs import ZFS

__all__ = ["NFSBackend", "export_path"]


@runtime_checkable
class NFSBackend(Protocol):
    """Writes and reads the NFS access rules of datasets on one host."""

    #: Short backend name (``kernel``, ``zfs-fuse``, ``exportfs``, ``ganesha``).
    name: str

    def ipv6_support(self) -> bool:
        """Whether IPv6 rules can be expressed on this host; when False an IPv6 rule raises before anything
        runs. A call, not an attribute: a backend may have to ask the host once (kernel NFS on OpenZFS)."""
        ...

    def apply(self, dataset: str, rules: Iterable[AccessRule], *, read_only: bool = False) -> None:
        """Make exactly ``rules`` the rules in force on ``dataset`` (empty: not exported)."""
        ...

    def add(self, dataset: str, rule: AccessRule) -> None:
        """Put ``rule`` in force, replacing the level of a rule for the same network."""
        ...

    def remove(self, dataset: str, rule: AccessRule) -> None:
        """Remove the rule for ``rule.access_to``; a no-op when there is none."""
        ...

    def rules(self, dataset: str) -> list[AccessRule]:
        """The rules in force, read back from the host, sorted."""
        ...

    def clear(self, dataset: str) -> None:
        """Remove every export of ``dataset``."""
        ...


def export_path(zfs: ZFS, dataset: str, validate: Callable[[str], str]) -> str:
    """The path a backend exports for ``dataset``: itself when absolute, else the dataset's mountpoint.

    ``validate`` is the backend's own path check (exportfs and ganesha accept different characters).
    """
    if dataset.startswith("/"):
        return validate(dataset)
    mountpoint = zfs.get(dataset, "mountpoint").raw("mountpoint")
    if not mountpoint or not mountpoint.startswith("/"):
        raise UnsupportedOperation(f"dataset {dataset} has no mountpoint ({mountpoint!r}) to export")
    return validate(mountpoint)
