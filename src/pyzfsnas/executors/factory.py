"""One way to name a host: an executor from a spec string, as the CLI and services configure it.

``local``, ``fake`` and ``ssh://[USER@]HOST[:PORT]`` plus query options::

    local                     # LocalExecutor()
    local?sudo=1&timeout=60   # LocalExecutor(prefix=("sudo", "-n"), timeout=60)
    fake?flavour=zfs-fuse     # FakeExecutor(FakeHost(flavour="zfs-fuse"))
    ssh://admin@nas1:2222?sudo=1&known_hosts=/etc/kh&identity=/etc/id_ed25519

SSH options: ``sudo``, ``known_hosts``, ``identity`` (a key file), ``accept_new_host_key``, ``timeout``,
``connect_timeout``, ``keepalive``. Secrets never go in the spec (a ``user:password@`` form is refused): pass
``password=`` or ``pkey=`` as keywords, which :func:`connect` forwards to the executor's constructor along with
any other keyword the spec does not already set. Every error is an :class:`~pyzfsnas.errors.InvalidName`
raised before anything connects.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from pyzfsnas.errors import InvalidName
from pyzfsnas.executors.base import Executor
from pyzfsnas.names import check_port

__all__ = ["connect", "ssh_spec"]

_SUDO = ("sudo", "-n")
_TRUE, _FALSE = frozenset({"1", "true", "yes", "on"}), frozenset({"0", "false", "no", "off"})
_OPTIONS = {
    "local": frozenset({"sudo", "timeout"}),
    "fake": frozenset({"flavour", "name"}),
    "ssh": frozenset({"sudo", "known_hosts", "identity", "accept_new_host_key", "timeout", "connect_timeout",
                      "keepalive"}),
}


def _flag(spec: str, key: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise InvalidName(f"executor spec {spec!r}: {key}={value!r} is not a yes/no value")


def _seconds(spec: str, key: str, value: str) -> float | None:
    if value.lower() == "none":
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidName(f"executor spec {spec!r}: {key}={value!r} is not a positive number of seconds")
    return seconds


def _query(spec: str, kind: str, text: str) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise InvalidName(f"executor spec {spec!r}: malformed options {text!r}") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key not in _OPTIONS[kind]:
            raise InvalidName(f"executor spec {spec!r}: unknown option {key!r} for {kind} "
                              f"(known: {', '.join(sorted(_OPTIONS[kind]))})")
        if key in options:
            raise InvalidName(f"executor spec {spec!r}: option {key!r} given twice")
        options[key] = value
    return options


def _translate(spec: str, kind: str, options: dict[str, str]) -> dict[str, Any]:
    """The spec's query options as constructor keywords."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key == "sudo":
            if _flag(spec, key, value):
                out["prefix"] = _SUDO
        elif key in ("timeout", "connect_timeout"):
            out[key] = _seconds(spec, key, value)
        elif key == "keepalive":
            if not (value.isascii() and value.isdigit()):
                raise InvalidName(f"executor spec {spec!r}: keepalive={value!r} is not a whole number of seconds")
            out[key] = int(value)
        elif key == "accept_new_host_key":
            out["accept_unknown_host_keys"] = _flag(spec, key, value)
        elif key == "identity":
            out["key_filename"] = value
        elif key == "flavour":
            if value not in ("openzfs", "zfs-fuse"):
                raise InvalidName(f"executor spec {spec!r}: flavour must be openzfs or zfs-fuse, not {value!r}")
            out[key] = value
        else:
            out[key] = value
    return out


def connect(spec: str, **keywords: Any) -> Executor:
    """The executor ``spec`` names (see the module docstring); ``keywords`` go to its constructor.

    Nothing connects yet: an SSH executor opens its connection on its first command. A keyword that the spec
    already sets is refused (say it once).
    """
    if not isinstance(spec, str) or not spec:
        raise InvalidName(f"executor spec must be a non-empty string, got {spec!r}")
    kind, _, query = spec.partition("?")
    if kind in ("local", "fake"):
        settings = _translate(spec, kind, _query(spec, kind, query))
        _merge(spec, settings, keywords)
        if kind == "local":
            from pyzfsnas.executors.local import LocalExecutor

            return LocalExecutor(**settings)
        from pyzfsnas.testing.fake import FakeExecutor, FakeHost

        host_keys = {k: settings.pop(k) for k in ("flavour", "name") if k in settings}
        return FakeExecutor(FakeHost(**host_keys), **settings)
    url = urllib.parse.urlsplit(spec)
    if url.scheme != "ssh":
        raise InvalidName(f"executor spec {spec!r}: expected local, fake or ssh://[USER@]HOST[:PORT]")
    if url.password is not None:
        raise InvalidName("executor spec: a password does not belong in the spec; pass password= instead")
    if url.path not in ("", "/") or url.fragment:
        raise InvalidName(f"executor spec {spec!r}: nothing may follow HOST[:PORT] but ?options")
    try:
        port = url.port
    except ValueError:
        raise InvalidName(f"executor spec {spec!r}: the port must be a number in 1..65535") from None
    host = url.hostname
    if not host:
        raise InvalidName(f"executor spec {spec!r}: no host")
    settings = _translate(spec, "ssh", _query(spec, "ssh", url.query))
    if url.username:
        settings["username"] = urllib.parse.unquote(url.username)
    if port is not None:
        settings["port"] = port
    _merge(spec, settings, keywords)
    from pyzfsnas.executors.ssh import SSHExecutor

    return SSHExecutor(host, **settings)


def _merge(spec: str, settings: dict[str, Any], keywords: dict[str, Any]) -> None:
    both = sorted(set(settings) & set(keywords))
    if both:
        raise InvalidName(f"executor spec {spec!r} already sets {', '.join(both)}: give it once")
    settings.update(keywords)


def ssh_spec(host: str, *, username: str | None = None, port: int | None = None, **options: str) -> str:
    """The ``ssh://`` spec of ``host`` (an IPv6 address is bracketed, the user name quoted), with ``options``.

    ``ssh_spec("fd00::5", username="zfs", port=2222, sudo="1")`` is ``ssh://zfs@[fd00::5]:2222?sudo=1``.
    """
    if not isinstance(host, str) or not host or any(c in host for c in "/?#@[] "):
        raise InvalidName(f"invalid ssh host {host!r}")
    where = f"[{host}]" if ":" in host else host
    if username:
        where = f"{urllib.parse.quote(username, safe='')}@{where}"
    if port is not None:
        check_port(port)
        where += f":{port}"
    query = urllib.parse.urlencode(options)
    return f"ssh://{where}" + (f"?{query}" if query else "")
