"""Taking the socket: root only, a private directory, never a live daemon's socket."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile

import pytest
from pymultus.daemon.listen import DaemonError
from pymultus.daemon.listen import acquire_lock
from pymultus.daemon.listen import bind_socket
from pymultus.daemon.listen import check_root
from pymultus.daemon.listen import prepare_socket_dir
from pymultus.daemon.listen import refuse_live


@pytest.fixture
def short():
    d = tempfile.mkdtemp(prefix="pml-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_non_root_is_refused():
    with pytest.raises(DaemonError, match="must run as root"):
        check_root(1000)
    check_root(0)


def test_socket_directory_is_created_or_made_private(short):
    fresh = os.path.join(short, "a", "b")
    prepare_socket_dir(fresh)
    assert mode(fresh) == 0o700
    loose = os.path.join(short, "loose")
    os.mkdir(loose)
    os.chmod(loose, 0o755)
    prepare_socket_dir(loose)
    assert mode(loose) == 0o700


def test_shared_directories_are_refused(short):
    shared = os.path.join(short, "shared")
    os.mkdir(shared)
    os.chmod(shared, 0o1777)
    with pytest.raises(DaemonError, match="shared"):
        prepare_socket_dir(shared)
    assert mode(shared) == 0o1777  # left as it was
    afile = os.path.join(short, "file")
    open(afile, "w").close()
    with pytest.raises(DaemonError, match="not a directory"):
        prepare_socket_dir(afile)


def test_socket_is_0600_and_a_stale_one_is_replaced(short):
    path = os.path.join(short, "d.sock")
    first = bind_socket(path)
    assert mode(path) == 0o600
    with pytest.raises(DaemonError, match="already answering"):
        bind_socket(path)
    first.close()  # the file stays: now stale
    assert refuse_live(path) is True
    second = bind_socket(path)
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
    finally:
        second.close()


def test_other_files_are_never_replaced(short):
    path = os.path.join(short, "important")
    with open(path, "w") as fh:
        fh.write("keep me")
    with pytest.raises(DaemonError, match="not a socket"):
        bind_socket(path)
    with open(path) as fh:
        assert fh.read() == "keep me"


def test_lock_is_exclusive(short):
    path = os.path.join(short, "d.sock")
    fd = acquire_lock(path)
    try:
        with pytest.raises(DaemonError, match="another pymultus daemon holds"):
            acquire_lock(path)
    finally:
        os.close(fd)
    os.close(acquire_lock(path))  # free again once released
