"""Immutable value objects for what a ZFS host holds: pools, datasets (filesystems and volumes), snapshots.

Models never perform I/O. Each keeps every property it was read with in ``properties`` (a lazily typed
:class:`~pyzfsnas.properties.PropertyMap`) and exposes the common ones as typed attributes; a property that
was not read, or that ZFS printed as ``-``, is ``None``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import attrs

from pyzfsnas.properties import PropertyMap

__all__ = ["Dataset", "DatasetType", "Snapshot", "Zpool"]

DatasetType = Literal["filesystem", "volume"]


def _int(props: PropertyMap, name: str) -> int | None:
    value = props.value(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _bool(props: PropertyMap, name: str) -> bool | None:
    value = props.value(name)
    return value if isinstance(value, bool) else None


def _str(props: PropertyMap, name: str) -> str | None:
    value = props.value(name)
    return value if isinstance(value, str) else None


def _float(props: PropertyMap, name: str) -> float | None:
    value = props.value(name)
    return value if isinstance(value, float) else None


def _time(props: PropertyMap, name: str) -> datetime | None:
    value = props.value(name)
    return value if isinstance(value, datetime) else None


@attrs.frozen
class Zpool:
    """A storage pool. Sizes are bytes (exact on OpenZFS; rounded from human units on zfs-fuse)."""

    name: str
    size: int | None = None
    allocated: int | None = None
    free: int | None = None
    capacity: int | None = None
    health: str | None = None
    dedupratio: float | None = None
    altroot: str | None = None
    fragmentation: int | None = None
    #: True when sizes came from exact ``-p`` output.
    exact: bool = True
    properties: PropertyMap = attrs.field(factory=PropertyMap, eq=False, hash=False, repr=False)


@attrs.frozen
class _Common:
    name: str
    properties: PropertyMap = attrs.field(factory=PropertyMap, eq=False, hash=False, repr=False)

    @property
    def pool(self) -> str:
        """The pool this object lives in."""
        return self.name.split("/", 1)[0].split("@", 1)[0]

    @property
    def used(self) -> int | None:
        """Bytes used (``used``)."""
        return _int(self.properties, "used")

    @property
    def referenced(self) -> int | None:
        """Bytes referenced (``referenced``)."""
        return _int(self.properties, "referenced")

    @property
    def creation(self) -> datetime | None:
        """Creation time, timezone-aware (UTC)."""
        return _time(self.properties, "creation")

    @property
    def compressratio(self) -> float | None:
        """Achieved compression ratio (``1.0`` means none)."""
        return _float(self.properties, "compressratio")


@attrs.frozen
class Dataset(_Common):
    """A filesystem or volume."""

    type: DatasetType = "filesystem"

    @property
    def parent(self) -> str | None:
        """Name of the parent dataset, or None for a pool's root dataset."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else None

    @property
    def available(self) -> int | None:
        """Bytes available to this dataset (after quotas)."""
        return _int(self.properties, "available")

    @property
    def quota(self) -> int | None:
        """Quota in bytes, or None for no quota."""
        return _int(self.properties, "quota")

    @property
    def refquota(self) -> int | None:
        """Reference quota in bytes, or None for none."""
        return _int(self.properties, "refquota")

    @property
    def reservation(self) -> int | None:
        """Reservation in bytes, or None for none."""
        return _int(self.properties, "reservation")

    @property
    def refreservation(self) -> int | None:
        """Reference reservation in bytes, or None for none."""
        return _int(self.properties, "refreservation")

    @property
    def volsize(self) -> int | None:
        """Volume size in bytes (volumes only)."""
        return _int(self.properties, "volsize")

    @property
    def mountpoint(self) -> str | None:
        """Mount point path, ``none``/``legacy``, or None for volumes."""
        return _str(self.properties, "mountpoint")

    @property
    def mounted(self) -> bool | None:
        """Whether the filesystem is mounted."""
        return _bool(self.properties, "mounted")

    @property
    def origin(self) -> str | None:
        """The snapshot this dataset was cloned from, or None."""
        return _str(self.properties, "origin")

    @property
    def compression(self) -> str | None:
        """Compression algorithm (``off``, ``on``, ``lz4``...)."""
        return _str(self.properties, "compression")

    @property
    def readonly(self) -> bool | None:
        """Whether the dataset is read-only."""
        return _bool(self.properties, "readonly")

    @property
    def sharenfs(self) -> str | None:
        """The raw ``sharenfs`` value (``off`` when not shared)."""
        return _str(self.properties, "sharenfs")


@attrs.frozen
class Snapshot(_Common):
    """A read-only point-in-time image of a dataset: ``dataset@snapname``."""

    @property
    def dataset(self) -> str:
        """The dataset the snapshot belongs to."""
        return self.name.split("@", 1)[0]

    @property
    def snapname(self) -> str:
        """The part after ``@``."""
        return self.name.split("@", 1)[1]

    @property
    def userrefs(self) -> int | None:
        """Number of holds on the snapshot."""
        return _int(self.properties, "userrefs")

    @property
    def defer_destroy(self) -> bool | None:
        """True when a deferred destroy is pending."""
        return _bool(self.properties, "defer_destroy")
