"""A tiny in-memory file store and process table for the fake host: ``cat``, ``tee``, ``mv``, ``rm``, ``kill``.

Enough for backends that keep a config file on the host and signal a daemon (GaneshaNFS): files live in
:attr:`FakeHost.files <pyzfsnas.testing.fake.host.FakeHost.files>` (absolute path -> bytes), processes in
``FakeHost.processes`` (pid -> name, see ``FakeHost.add_process``) and every delivered signal is appended to
``FakeHost.signals`` as ``(pid, "HUP")``.

Directories are implicit: a path is a directory when a stored file lies under it (or it is in
``FakeHost.dirs``), so writing ``/etc/ganesha/x.conf`` needs no ``mkdir``. Paths must be absolute (the fake
has no working directory); a relative one fails with a message saying so. Errors, exit codes and the
quoting of file names follow GNU coreutils 9 and procps-ng 4 in the C locale, as measured on Debian.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable

from pyzfsnas.commands import pidfile_pid
from pyzfsnas.testing.fake.host import FakeHost
from pyzfsnas.testing.fake.output import Out

__all__ = ["FILE_PROGRAMS", "install", "read_file", "run_file_command", "signal_pidfile", "write_file"]

#: Characters GNU's ``quotef`` leaves bare (anything else makes it quote the name).
_PLAIN = re.compile(r"^[A-Za-z0-9@%+=:,./_-]+$")
_ENOENT = "No such file or directory"


def _quote(name: str) -> str:
    """GNU ``quote()`` (shell-escape-always style): ``'name'``, ``"it's"`` or ``'a'\\''"b'``."""
    if "'" not in name:
        return f"'{name}'"
    if not re.search(r'["$`\\]', name):
        return f'"{name}"'
    return "'" + name.replace("'", "'\\''") + "'"


def _quotef(name: str) -> str:
    """GNU ``quotef()``: the name bare when it is plain, else quoted like :func:`_quote`."""
    return name if _PLAIN.fullmatch(name) else _quote(name)


def _usage(prog: str, message: str) -> Out:
    return Out(1, "", f"{prog}: {message}\nTry '{prog} --help' for more information.\n")


def _split_args(prog: str, args: list[str], allowed: str) -> tuple[set[str], list[str]] | Out:
    """GNU option parsing: short flags from ``allowed`` anywhere before ``--``; ``-`` alone is an operand."""
    flags: set[str] = set()
    operands: list[str] = []
    rest = iter(args)
    for arg in rest:
        if arg == "--":
            operands.extend(rest)
            break
        if arg.startswith("--"):
            return _usage(prog, f"unrecognized option '{arg}'")
        if arg.startswith("-") and arg != "-":
            for flag in arg[1:]:
                if flag not in allowed:
                    return _usage(prog, f"invalid option -- '{flag}'")
                flags.add(flag)
            continue
        operands.append(arg)
    return flags, operands


def _is_dir(host: FakeHost, path: str) -> bool:
    if path == "/" or path in host.dirs:
        return True
    prefix = path.rstrip("/") + "/"
    return any(name.startswith(prefix) for name in host.files)


def _lookup_error(host: FakeHost, path: str) -> str | None:
    """Why ``path`` cannot name a file (``Not a directory`` when an ancestor is a file), or None."""
    if not path.startswith("/"):
        return "relative paths are not supported by the fake host (it has no working directory)"
    parent = posixpath.dirname(path.rstrip("/"))
    while parent not in ("/", ""):
        if parent in host.files:
            return "Not a directory"
        parent = posixpath.dirname(parent)
    return None


def _cat(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    parsed = _split_args("cat", args, "")
    if isinstance(parsed, Out):
        return parsed
    _, operands = parsed
    out: list[bytes] = []
    err = ""
    for name in operands or ["-"]:
        if name == "-":
            out.extend(stdin)
            continue
        problem = _lookup_error(host, name)
        if problem is None and name not in host.files:
            problem = "Is a directory" if _is_dir(host, name) else _ENOENT
        if problem is not None:
            err += f"cat: {_quotef(name)}: {problem}\n"
        else:
            out.append(host.files[name])
    return Out(1 if err else 0, out, err)


def _tee(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    parsed = _split_args("tee", args, "a")
    if isinstance(parsed, Out):
        return parsed
    flags, operands = parsed
    data = b"".join(stdin)
    err = ""
    for name in operands:
        problem = _lookup_error(host, name) or ("Is a directory" if _is_dir(host, name) else None)
        if problem is not None:
            err += f"tee: {_quotef(name)}: {problem}\n"
            continue
        host.files[name] = (host.files.get(name, b"") if "a" in flags else b"") + data
    return Out(1 if err else 0, [data], err)


def _mv(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    parsed = _split_args("mv", args, "f")
    if isinstance(parsed, Out):
        return parsed
    _, operands = parsed
    if not operands:
        return _usage("mv", "missing file operand")
    if len(operands) == 1:
        return _usage("mv", f"missing destination file operand after {_quote(operands[0])}")
    if len(operands) > 2:
        return Out(1, "", "mv: the fake host moves one file at a time\n")
    src, dst = operands
    problem = _lookup_error(host, src)
    if problem is None and src not in host.files:
        problem = "moving directories is not supported by the fake host" if _is_dir(host, src) else _ENOENT
    if problem is not None:
        return Out(1, "", f"mv: cannot stat {_quote(src)}: {problem}\n")
    if _is_dir(host, dst):
        dst = posixpath.join(dst, posixpath.basename(src))
    if dst == src:
        return Out(1, "", f"mv: {_quote(src)} and {_quote(dst)} are the same file\n")
    problem = _lookup_error(host, dst)
    if problem is not None:
        return Out(1, "", f"mv: cannot stat {_quote(dst)}: {problem}\n")  # GNU mv stats the target first
    host.files[dst] = host.files.pop(src)
    return Out()


def _rm(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    parsed = _split_args("rm", args, "f")
    if isinstance(parsed, Out):
        return parsed
    flags, operands = parsed
    force = "f" in flags
    if not operands and not force:
        return _usage("rm", "missing operand")
    err = ""
    for name in operands:
        problem = _lookup_error(host, name)
        if problem is None and name not in host.files:
            problem = "Is a directory" if _is_dir(host, name) else _ENOENT
        if problem is None:
            del host.files[name]
        elif not (force and problem in (_ENOENT, "Not a directory")):
            err += f"rm: cannot remove {_quote(name)}: {problem}\n"
    return Out(1 if err else 0, "", err)


#: Signals ``kill`` accepts, by the names and numbers it takes.
_SIGNALS = {"HUP": "HUP", "1": "HUP", "SIGHUP": "HUP", "TERM": "TERM", "15": "TERM", "SIGTERM": "TERM",
            "INT": "INT", "2": "INT", "SIGINT": "INT", "USR1": "USR1", "10": "USR1", "SIGUSR1": "USR1",
            "KILL": "KILL", "9": "KILL", "SIGKILL": "KILL", "CONT": "CONT", "18": "CONT", "SIGCONT": "CONT",
            "0": "0"}


def _kill(host: FakeHost, args: list[str], stdin: Iterable[bytes]) -> Out:
    """procps-ng ``kill [-SIG | -s SIG] [--] PID...``: records ``(pid, SIG)`` in ``host.signals``.

    ``TERM``/``INT``/``KILL`` also end the process. Only the "No such process" and "failed to parse
    argument" texts are procps's own; its usage screens are replaced by one-line messages.
    """
    signal = "TERM"
    rest = list(args)
    if rest and rest[0] == "-s":
        if len(rest) < 2 or rest[1].upper() not in _SIGNALS:
            return Out(1, "", "kill: -s: a signal the fake host knows is expected "
                              "(HUP, TERM, INT, USR1, KILL, CONT, 0)\n")
        signal, rest = _SIGNALS[rest[1].upper()], rest[2:]
    elif rest and rest[0].startswith("-") and rest[0] != "--":
        name = rest[0][1:].upper()
        if name not in _SIGNALS:
            return Out(1, "", f"kill: signal {rest[0][1:]!r} is not one the fake host knows\n")
        signal, rest = _SIGNALS[name], rest[1:]
    if rest and rest[0] == "--":
        rest = rest[1:]
    if not rest:
        return Out(1, "", "kill: not enough arguments\n")
    err = ""
    for text in rest:
        if not text.isdigit():
            return Out(1, "", f"kill: failed to parse argument: '{text}'\n")
        pid = int(text)
        if pid not in host.processes:
            err += f"kill: ({pid}): No such process\n"
        elif signal != "0":
            host.signals.append((pid, signal))
            if signal in ("TERM", "INT", "KILL"):
                del host.processes[pid]
    return Out(1 if err else 0, "", err)


def install(host: FakeHost, tmp: str, path: str, stdin: Iterable[bytes]) -> Out:
    """The write half of :data:`~pyzfsnas.commands.INSTALL_SCRIPT`, step by step as dash runs it.

    A directory at ``PATH`` is refused; ``set -C; true > TMP`` (exclusive: an existing ``TMP`` is left
    alone), ``cat >> TMP``, ``mv -f -- TMP PATH``; on failure ``rm -f -- TMP`` (only a ``TMP`` it made) and
    the ``pyzfsnas: not replaced: PATH`` line with exit 90. Once ``PATH`` was replaced, the ``pyzfsnas:
    replaced: PATH`` line and exit 0; the caller then runs the follow-up.
    """
    gave_up = f"pyzfsnas: not replaced: {path}\n"
    if _is_dir(host, path):
        return Out(90, "", f"pyzfsnas: {path}: Is a directory\n{gave_up}")
    problem = _lookup_error(host, tmp) or (
        "File exists" if tmp in host.files else "Is a directory" if _is_dir(host, tmp) else None)
    if problem == "Not a directory":
        problem = "Directory nonexistent"  # dash says so for ENOTDIR as for ENOENT
    if problem is not None:
        return Out(90, "", f"sh: 3: cannot create {tmp}: {problem}\n{gave_up}")
    host.files[tmp] = b"".join(stdin)
    moved = _mv(host, ["-f", "--", tmp, path], ())
    if moved.returncode != 0:
        host.files.pop(tmp, None)
        return Out(90, "", f"{moved.stderr}{gave_up}")
    return Out(0, "", f"pyzfsnas: replaced: {path}\n")


def signal_pidfile(host: FakeHost, pidfile: str, signal: str) -> Out:
    """:data:`~pyzfsnas.commands.SIGNAL_PIDFILE_SCRIPT` as dash runs it: ``cat`` the pidfile (its status on
    failure), refuse anything but plain decimal digits without a leading zero (exit 92), then ``kill -s``."""
    read = _cat(host, ["--", pidfile], ())
    if read.returncode != 0:
        return read
    raw = b"".join(read.stdout if not isinstance(read.stdout, str) else [read.stdout.encode()])
    pid = pidfile_pid(raw.decode("utf-8", "surrogateescape"))
    if pid is None:
        return Out(92, "", f"pyzfsnas: {pidfile} does not hold a process id\n")
    if pid not in host.processes:
        return Out(1, "", "sh: 3: kill: No such process\n\n")  # dash's built-in kill, as measured
    return _kill(host, [f"-{signal}", "--", str(pid)], ())


#: The commands this module interprets, by program name.
FILE_PROGRAMS: dict[str, Callable[[FakeHost, list[str], Iterable[bytes]], Out]] = {
    "cat": _cat, "tee": _tee, "mv": _mv, "rm": _rm, "kill": _kill,
}


def run_file_command(host: FakeHost, prog: str, args: list[str], stdin: Iterable[bytes]) -> Out:
    """Run ``prog args`` (one of :data:`FILE_PROGRAMS`) on ``host``'s files and processes."""
    return FILE_PROGRAMS[prog](host, args, stdin)


def read_file(host: FakeHost, path: str) -> Out:
    """An executor's ``read_file`` on the file store: what ``cat -- PATH`` would say."""
    return _cat(host, ["--", path], ())


def write_file(host: FakeHost, path: str, data: bytes) -> Out:
    """An executor's atomic ``write_file`` on the file store: what ``tee -- PATH`` would say, without the echo."""
    out = _tee(host, ["--", path], (data,))
    return Out(out.returncode, "", out.stderr)
