"""``multus.podns.link_names``: the interface names of a pod's namespace, read from
``/proc/thread-self/net/dev`` after entering it.

Interface names are bytes to the kernel: anything but ``/``, ``:`` and whitespace, so
UTF-8 and even non-UTF-8 names exist and must be listed (surrogate-escaped), not fail.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from pymultus.cni.errors import CniError
from pymultus.multus.podns import link_names
from pymultus.testing import Names
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel


def add_veth(netns: Netns, name: bytes, peer: str) -> None:
    """``ip link add`` with a raw byte name (``Netns.ip`` takes text only)."""
    argv = [b"ip", b"-n", netns.name.encode(), b"link", b"add", name, b"type", b"veth"]
    subprocess.run([*argv, b"peer", b"name", peer.encode()], check=True, timeout=30)


def test_non_ascii_and_non_utf8_names_are_listed(cni_names: Names, container_netns: Netns) -> None:
    utf8 = cni_names("u").encode() + "é".encode()
    raw = cni_names("r").encode() + b"\xff"
    add_veth(container_netns, utf8, cni_names("up"))
    add_veth(container_netns, raw, cni_names("rp"))

    names = link_names(container_netns.path)

    assert {os.fsencode(n) for n in names} >= {b"lo", utf8, raw}
    assert utf8.decode() in names  # a UTF-8 name reads as the text it is


def test_missing_namespace_is_the_multus_text(cni_names: Names) -> None:
    gone = f"/run/netns/{cni_names('gone')}"
    with pytest.raises(CniError) as err:
        link_names(gone)
    assert (err.value.code, err.value.msg) == (4, f"no net namespace {gone} found")


def test_a_file_that_is_not_a_namespace(tmp_path: os.PathLike[str]) -> None:
    with pytest.raises(CniError) as err:
        link_names(str(tmp_path))
    assert (err.value.code, err.value.msg) == (4, f"{tmp_path} is not a network namespace")
