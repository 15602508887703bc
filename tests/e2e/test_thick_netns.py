"""The daemon's per-pod path does not fork and never moves a link between namespaces.

This runs the request path of ``pymultus daemon`` in this process (so process creation
can be intercepted): a worker thread sitting in the private "host" namespace, the
daemon's setup hook and services, ``cnimode.execute`` with the daemon's extras and type
aliases — exactly what ``Daemon._execute`` runs — for a pod whose network is the seed
chain (Python macvlan + static + tuning) with the seed's IP and MAC. ``fork``,
``posix_spawn`` and subprocess creation raise while it runs, and a netlink monitor in the
host namespace records every link the kernel announces there: a macvlan made in the host
and then moved would show up; one made directly in the pod's namespace does not.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import threading
from typing import Any

import pytest
from _multus_e2e import seed_nad
from pymultus.cli import cnimode
from pymultus.cli.settings import Settings
from pymultus.daemon.server import TYPE_ALIASES
from pymultus.daemon.services import EXTRAS_KEY
from pymultus.daemon.services import DaemonServices
from pymultus.multus.thick import daemon_setup
from pymultus.net.ns import entered
from pymultus.net.ns import same_ns
from pymultus.testing import Master
from pymultus.testing import Netns

pytestmark = pytest.mark.kernel

MAC = "c2:b0:57:49:47:f1"
RTMGRP_LINK = 1
RTM_NEWLINK = 16
IFLA_IFNAME = 3


def link_events(sock: socket.socket) -> list[str]:
    """Names in the RTM_NEWLINK notifications queued on ``sock``."""
    names = []
    while True:
        try:
            data = sock.recv(1 << 16, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return names
        offset = 0
        while offset + 16 <= len(data):
            length, kind = struct.unpack_from("=IH", data, offset)
            if kind == RTM_NEWLINK:
                attr = offset + 16 + 16  # nlmsghdr + ifinfomsg
                while attr + 4 <= offset + length:
                    alen, atype = struct.unpack_from("=HH", data, attr)
                    if alen < 4:
                        break
                    if atype == IFLA_IFNAME:
                        names.append(data[attr + 4 : attr + alen].rstrip(b"\0").decode())
                    attr += (alen + 3) & ~3
            offset += (length + 3) & ~3


def test_add_and_del_in_the_daemon_neither_fork_nor_move_links(
    host_netns: Netns,
    container_netns: Netns,
    veth_master: Master,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = json.loads(seed_nad(veth_master.name)["spec"]["config"])
    chain["name"] = "macvlan-conf"
    netconf = {
        "cniVersion": "0.3.1",
        "name": "pymultus-cni-network",
        "type": "pymultus-shim",
        "cniDir": str(tmp_path / "cni"),
        "delegates": [chain],
        "runtimeConfig": {"ips": ["10.1.1.101/24"], "mac": MAC},
    }
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYMULTUS_STATE_ROOT": str(tmp_path / "state"),
        "CNI_CONTAINERID": "pmx-nofork",
        "CNI_NETNS": container_netns.path,
        "CNI_IFNAME": "eth0",
        "CNI_PATH": str(tmp_path / "no-binaries"),  # nothing to exec, even by mistake
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=samplepod",
    }
    services = DaemonServices(node_name="", environ={})
    daemon_setup(services)  # no credentials: no caches, no API
    settings = Settings.from_environ(env)
    registry = settings.registry()
    for ref in registry.python_types():  # the daemon preloads every type at start
        registry.load_python_type(ref.name)

    spawned: list[str] = []

    def refuse(what: str) -> Any:
        def boom(*args: Any, **kwargs: Any) -> Any:
            spawned.append(what)
            raise AssertionError(f"{what} called on the daemon's per-pod path")

        return boom

    outcome: dict[str, Any] = {}

    def worker() -> None:
        try:
            with entered(host_netns.path):
                monitor = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
                monitor.bind((0, RTMGRP_LINK))
                try:
                    for command in ("ADD", "DEL"):
                        outcome[command] = cnimode.execute(
                            {**env, "CNI_COMMAND": command},
                            json.dumps(netconf).encode(),
                            cnimode.META_TYPE,
                            settings=settings,
                            registry=registry,
                            extras={EXTRAS_KEY: services},
                            aliases=TYPE_ALIASES,
                        )
                        outcome[f"{command} host links"] = link_events(monitor)
                        if command == "ADD":
                            link = container_netns.link("eth0")
                            outcome["pod eth0"] = (link.kind, link.mac) if link else None
                            outcome["pod addresses"] = [
                                a.address for a in container_netns.addresses("eth0", family=4)
                            ]
                finally:
                    monitor.close()
                outcome["back home"] = same_ns(host_netns.path)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            outcome["error"] = exc

    with monkeypatch.context() as m:
        m.setattr(os, "fork", refuse("os.fork"))
        m.setattr(os, "posix_spawn", refuse("os.posix_spawn"))
        m.setattr(os, "posix_spawnp", refuse("os.posix_spawnp"))
        m.setattr(subprocess, "_fork_exec", refuse("subprocess"))
        # The kernel state is read with `ip -j` afterwards; only the plugin calls run
        # under the patch. Reads inside the worker use the helpers below.
        m.setattr(Netns, "link", _link_no_exec)
        m.setattr(Netns, "addresses", _addresses_no_exec)
        t = threading.Thread(target=worker, name="pymultus-worker-test")
        t.start()
        t.join(60)
    assert not t.is_alive()
    if "error" in outcome:
        raise outcome["error"]
    assert spawned == []
    result = outcome["ADD"]
    assert result is not None and [ip["address"] for ip in result["ips"]] == ["10.1.1.101/24"]
    assert outcome["pod eth0"] == ("macvlan", MAC)
    assert outcome["pod addresses"] == ["10.1.1.101/24"]
    # The host namespace never saw the pod's link: created in the pod's namespace.
    ours = {veth_master.name, veth_master.peer}
    assert set(outcome["ADD host links"]) <= ours, outcome["ADD host links"]
    assert set(outcome["DEL host links"]) <= ours, outcome["DEL host links"]
    assert outcome["back home"] is True  # the worker thread returned to its namespace
    assert outcome["DEL"] is None
    assert sorted(link.name for link in container_netns.links()) == ["lo"]


class _Link:
    def __init__(self, kind: str, mac: str) -> None:
        self.kind = kind
        self.mac = mac


def _link_no_exec(self: Netns, name: str) -> _Link | None:
    """``Netns.link`` without ``ip`` (a process): a netlink request from this thread."""
    from pymultus.net import link
    from pymultus.net.ns import open_netlink

    with open_netlink(self.path) as nl:
        found = link.find_link(nl, name)
    return None if found is None else _Link(found.kind, found.mac)


class _Addr:
    def __init__(self, address: str) -> None:
        self.address = address


def _addresses_no_exec(self: Netns, ifname: str, family: int = 4) -> list[_Addr]:
    from pymultus.net.ns import open_iproute

    ipr = open_iproute(self.path)
    try:
        fam = socket.AF_INET if family == 4 else socket.AF_INET6
        out = []
        for msg in ipr.get_addr(family=fam, label=ifname):
            out.append(_Addr(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"))
        return out
    finally:
        ipr.close()
