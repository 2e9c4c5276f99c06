"""Shared pytest configuration for the whole test suite."""

# Real-component fixtures (zfs-fuse, sshd, exportfs): see tests/realhosts/plugin.py.
pytest_plugins = ["tests.realhosts.plugin"]

# The behavioural suite's `host` fixture (fake hosts and real zfs-fuse): see tests/hosts.py.
pytest_plugins += ["tests.hosts"]
