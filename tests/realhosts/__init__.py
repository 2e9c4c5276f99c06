"""Real components for integration tests: a zfs-fuse daemon and pools, sshd on 127.0.0.1, and exportfs.

The modules here are plain helpers that know nothing about pytest (benchmarks can use them too); they raise
:class:`~tests.realhosts.common.ComponentUnavailable` when a component cannot be provided. The pytest plugin
:mod:`tests.realhosts.plugin` wraps them in session fixtures and turns that exception into a skip, or into a
failure when ``CI=true`` (see :func:`~tests.realhosts.common.require`).
"""

from tests.realhosts.common import ComponentUnavailable, Timings, require, timings

__all__ = ["ComponentUnavailable", "Timings", "require", "timings"]
