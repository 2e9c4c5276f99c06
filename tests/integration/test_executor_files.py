"""Executor file operations (issue 14): ``read_file`` and atomic ``write_file`` behave alike on every host kind.

The OS locally, SFTP over SSH, the file store on the fake host, and the command fallback (``cat``, one
``install_file`` command) that an executor behind a prefix uses (here the harmless prefix ``env``, locally and
over SSH).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from pyzfsnas.commands import FILE_NOT_INSTALLED
from pyzfsnas.errors import CommandFailed, InvalidName, PathNotFound
from pyzfsnas.executors.base import Executor, install_file
from pyzfsnas.executors.factory import connect
from pyzfsnas.executors.local import LocalExecutor
from pyzfsnas.executors.ssh import SSHExecutor
from pyzfsnas.testing.fake import FakeExecutor, FakeHost

KINDS = [
    "fake",
    "local",
    "local-prefixed",
    pytest.param("ssh", marks=pytest.mark.sshd),
    pytest.param("ssh-prefixed", marks=pytest.mark.sshd),
]


class Place:
    """An executor and a directory it may write, with a way to list that directory's entries."""

    def __init__(self, executor: Executor, directory: str) -> None:
        self.executor = executor
        self.dir = directory

    def entries(self) -> list[str]:
        if isinstance(self.executor, FakeExecutor):
            prefix = self.dir + "/"
            return sorted(p[len(prefix):] for p in self.executor.host.files if p.startswith(prefix))
        return sorted(os.listdir(self.dir))


@pytest.fixture(params=KINDS)
def place(request: pytest.FixtureRequest) -> Iterator[Place]:
    kind = request.param
    if kind == "fake":
        host = FakeHost()
        host.make_dir("/srv/files")
        yield Place(FakeExecutor(host), "/srv/files")
        return
    directory = tempfile.mkdtemp(prefix="pzt-files-")
    os.chmod(directory, 0o777)
    executor: Executor
    if kind.startswith("local"):
        executor = LocalExecutor(prefix=("env",) if kind == "local-prefixed" else ())
    else:
        sshd = request.getfixturevalue("sshd")
        executor = SSHExecutor(sshd.host, port=sshd.port, username=sshd.user, key_filename=str(sshd.user_key_path),
                               known_hosts=str(sshd.known_hosts_path), allow_agent=False, connect_timeout=5.0,
                               timeout=30.0, prefix=("env",) if kind == "ssh-prefixed" else ())
    try:
        yield Place(executor, directory)
    finally:
        executor.close()
        shutil.rmtree(directory, ignore_errors=True)


def test_write_then_read_round_trips(place: Place) -> None:
    path = f"{place.dir}/exports.conf"
    place.executor.write_file(path, "EXPORT { Path = \"/tank/ä\"; }\n")
    assert place.executor.read_file(path) == "EXPORT { Path = \"/tank/ä\"; }\n".encode()
    place.executor.write_file(path, b"second\n")  # replaces, whole
    assert place.executor.read_file(path) == b"second\n"
    place.executor.write_file(path, "")
    assert place.executor.read_file(path) == b""
    assert place.entries() == ["exports.conf"]  # no temporary file left behind


def test_reading_a_missing_file_is_path_not_found(place: Place) -> None:
    with pytest.raises(PathNotFound):
        place.executor.read_file(f"{place.dir}/absent.conf")


def test_writing_into_a_missing_directory_fails_and_leaves_nothing(place: Place) -> None:
    if isinstance(place.executor, FakeExecutor):
        # A known, tested difference: the fake host's directories are implicit (pyzfsnas.testing.fake.files),
        # so any parent exists and the write succeeds.
        place.executor.write_file(f"{place.dir}/no/such/dir.conf", "x")
        assert place.executor.read_file(f"{place.dir}/no/such/dir.conf") == b"x"
        return
    with pytest.raises(PathNotFound):
        place.executor.write_file(f"{place.dir}/no/such/dir.conf", "x")
    assert place.entries() == []


def test_a_failed_write_names_the_install_command_on_every_path(place: Place) -> None:
    """A direct write (the OS, SFTP) fails as the install command the command path runs would: same error.

    The fake host's directories are implicit (a missing one is no failure there) and its file operations are
    recorded as ``("write_file", PATH)``: its failure is a path under a file.
    """
    if isinstance(place.executor, FakeExecutor):
        place.executor.host.files[f"{place.dir}/blocker"] = b""
        with pytest.raises(CommandFailed, match="Not a directory") as failed:
            place.executor.write_file(f"{place.dir}/blocker/x.conf", "x")
        assert failed.value.argv == ("write_file", f"{place.dir}/blocker/x.conf")
        return
    path = f"{place.dir}/no/such/dir.conf"
    with pytest.raises(PathNotFound) as caught:
        place.executor.write_file(path, "x")
    assert caught.value.argv[:2] == ("sh", "-c") and caught.value.argv[-1] == path


@pytest.mark.parametrize("path", ["relative.conf", "", "/etc/x\nEXPORT", "-rf"])
def test_bad_paths_are_refused_before_anything_runs(place: Place, path: str) -> None:
    with pytest.raises(InvalidName):
        place.executor.write_file(path, "x")
    with pytest.raises(InvalidName):
        place.executor.read_file(path)
    assert place.entries() == []


def test_factory_executors_have_file_operations() -> None:
    ex = connect("fake")
    assert isinstance(ex, FakeExecutor)
    ex.host.make_dir("/etc")
    ex.write_file("/etc/motd", "hi\n")
    assert ex.read_file("/etc/motd") == b"hi\n"
    assert ex.commands == [("write_file", "/etc/motd"), ("read_file", "/etc/motd")]


def test_install_file_writes_then_runs_the_follow_up_in_one_command(place: Place) -> None:
    """``install_file``: one command on every host kind; the follow-up's result comes back unchecked."""
    path = f"{place.dir}/exports.conf"
    before = len(place.executor.commands) if isinstance(place.executor, FakeExecutor) else 0
    result = install_file(place.executor, path, "one\n", then=["cat", "--", path])
    assert (result.argv, result.returncode, result.stdout) == (("cat", "--", path), 0, "one\n")
    if isinstance(place.executor, FakeExecutor):
        assert len(place.executor.commands) == before + 1
    failed = install_file(place.executor, path, "two\n", then=["cat", "--", f"{place.dir}/absent"])
    assert failed.returncode == 1 and "No such file" in failed.stderr  # written; the follow-up failed
    assert place.executor.read_file(path) == b"two\n"
    assert place.entries() == ["exports.conf"]


def test_install_file_onto_a_directory_raises_and_changes_nothing(place: Place) -> None:
    if isinstance(place.executor, FakeExecutor):
        place.executor.host.make_dir(f"{place.dir}/sub")
    else:
        os.mkdir(f"{place.dir}/sub")
    with pytest.raises(CommandFailed, match="Is a directory") as caught:
        install_file(place.executor, f"{place.dir}/sub", "x\n", then=["cat", "--", f"{place.dir}/sub"])
    assert caught.value.returncode == FILE_NOT_INSTALLED
    if isinstance(place.executor, FakeExecutor):
        assert place.entries() == []  # the fake lists files only
    else:
        assert place.entries() == ["sub"] and os.listdir(f"{place.dir}/sub") == []
