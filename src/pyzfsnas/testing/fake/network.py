"""A fake network of hosts: ``ssh [opts] [user@]HOST cmd...`` runs on another :class:`FakeHost`, and
``sh -c "A | B"`` runs a two-command pipeline (``zfs send ... | ssh host zfs receive ...``).

Like real ssh, the remote words are joined with spaces and re-split by the remote shell (``shlex.split``), so
quoting mistakes behave as on a real host.
"""

from __future__ import annotations

import shlex
import threading

from pyzfsnas.testing.fake.host import FakeHost

__all__ = ["FakeNetwork", "split_ssh"]

_SSH_WITH_ARG = set("BbcDEeFIiJLlmOoPpQRSWw")


class FakeNetwork:
    """A registry of fake hosts by host name (and any aliases such as IP addresses)."""

    def __init__(self, *hosts: FakeHost) -> None:
        self._hosts: dict[str, FakeHost] = {}
        self._lock = threading.Lock()
        for h in hosts:
            self.add(h)

    def add(self, host: FakeHost, *aliases: str) -> FakeHost:
        """Register ``host`` under its name and ``aliases``; return it."""
        with self._lock:
            for n in (host.name, *aliases):
                self._hosts[n] = host
        return host

    def get(self, name: str) -> FakeHost | None:
        """The host called ``name`` (None when nothing answers there)."""
        with self._lock:
            return self._hosts.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


def split_ssh(args: list[str]) -> tuple[str, list[str]] | None:
    """Parse ``ssh`` argv (without ``ssh``) into (host, remote argv after shell re-splitting)."""
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if a.startswith("-") and len(a) > 1:
            last = a[-1]
            if last in _SSH_WITH_ARG and len(a) == 2:
                i += 2
            else:
                i += 1
            continue
        break
    if i >= len(args):
        return None
    dest = args[i].rsplit("@", 1)[-1]
    remote = " ".join(args[i + 1:])
    return dest, shlex.split(remote)
