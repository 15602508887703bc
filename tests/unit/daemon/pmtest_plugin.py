"""A tests-only CNI plugin type, ``pmtest``, installed as a throwaway distribution.

The daemon dispatches to Python plugin types exactly as thin mode does; this type lets
the tests drive both with calls that block, fail, record their order or touch a real
network namespace, without depending on plugins that other work is still writing.

Config keys (all optional):
- ``ip``: address for the result (default 192.0.2.10/24).
- ``gate``: a file path; the call waits until it exists (burst and drain tests).
- ``trace``: a file path; ``start``/``end`` lines per call (serialization tests).
- ``fail`` / ``delFail``: ``{"code", "msg", "details"}`` raised by ADD / DEL.
- ``crash``: raise a plain exception (becomes code 999).
- ``link``: create the veth pair ``CNI_IFNAME`` / ``peer`` inside ``CNI_NETNS`` (ADD),
  delete it (DEL); needs root and a real namespace.
- ``extrasFile``: write what the call found in ``ctx.extras`` (daemon services) as JSON.
- ``strandThread``: move the calling thread into a fresh, unnamed network namespace and
  leave it there (the daemon must notice and retire that worker).

``hotplug`` below stands in for the meta-plugin's ``/delegate`` entry.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from pymultus import CniError
from pymultus import Interface
from pymultus import IPConfig
from pymultus import Request
from pymultus import Result

TYPE = "pmtest"
MODULE = "pmtest_plugin"
HERE = Path(__file__).resolve().parent


def install_dist(target: Path) -> Path:
    """Write a ``pmtest`` distribution's metadata into ``target`` (a directory to put
    on ``sys.path``/``PYTHONPATH`` together with this file's directory)."""
    info = target / "pymultus_pmtest-0.0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pymultus-pmtest\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[pymultus.plugins]\n{TYPE} = {MODULE}:PmTest\n")
    return target


def _trace(req: Request, what: str) -> None:
    path = req.config.get("trace")
    if not path:
        return
    line = f"{what} {req.command} {req.container_id} {time.monotonic_ns()}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _wait_gate(req: Request) -> None:
    gate = req.config.get("gate")
    if not gate:
        return
    end = time.monotonic() + 60
    while not os.path.exists(gate):
        if time.monotonic() > end:
            raise CniError(11, f"gate {gate} never opened")
        time.sleep(0.005)


def _raise(spec: Any) -> None:
    if isinstance(spec, dict):
        raise CniError(
            int(spec.get("code", 999)), str(spec.get("msg", "")), str(spec.get("details", ""))
        )


class PmTest:
    cni_versions = ("0.3.1", "0.4.0", "1.0.0", "1.1.0")

    def add(self, req: Request) -> Result:
        _trace(req, "start")
        try:
            _wait_gate(req)
            _raise(req.config.get("fail"))
            if req.config.get("extrasFile"):
                _write_extras(req)
            if req.config.get("strandThread"):
                _strand_thread()
            if req.config.get("crash"):
                raise RuntimeError("pmtest crashed on purpose")
            mac = ""
            if req.config.get("link"):
                mac = _add_link(req)
            return Result(
                cni_version=req.cni_version,
                interfaces=[Interface(name=req.ifname, mac=mac, sandbox=req.netns)],
                ips=[IPConfig(address=str(req.config.get("ip", "192.0.2.10/24")), interface=0)],
            )
        finally:
            _trace(req, "end")

    def delete(self, req: Request) -> None:
        _trace(req, "start")
        try:
            _wait_gate(req)
            _raise(req.config.get("delFail"))
            if req.config.get("link"):
                _del_link(req)
        finally:
            _trace(req, "end")

    def check(self, req: Request) -> None:
        _raise(req.config.get("checkFail"))


def _write_extras(req: Request) -> None:
    services = req.ctx.extras.get("pymultus.daemon")
    doc = {
        "keys": sorted(req.ctx.extras),
        "node": getattr(services, "node_name", None),
        "caches": sorted(services.caches()) if services is not None else None,
    }
    Path(req.config["extrasFile"]).write_text(json.dumps(doc))


def _strand_thread() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET, this thread only
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def hotplug(
    environ: dict[str, str], config: bytes, attributes: dict[str, Any], ctx: Any
) -> dict[str, Any] | None:
    """A stand-in for the meta-plugin's hot-plug entry: echoes what it was given."""
    conf = json.loads(config)
    if environ.get("CNI_COMMAND") != "ADD":
        return None
    ips = attributes.get("ips") or ["192.0.2.99/24"]
    return {
        "cniVersion": conf.get("cniVersion", "1.0.0"),
        "interfaces": [{"name": environ.get("CNI_IFNAME", ""), "mac": attributes.get("mac", "")}],
        "ips": [{"address": ip, "interface": 0} for ip in ips],
        "dns": {"domain": "daemon" if "pymultus.daemon" in ctx.extras else "none"},
    }


def _add_link(req: Request) -> str:
    from pymultus.net.ns import open_iproute

    peer = str(req.config["peer"])
    mac = str(req.config.get("mac", "02:00:5e:10:00:01"))
    ipr = open_iproute(req.netns)
    try:
        ipr.link("add", ifname=req.ifname, kind="veth", peer=peer)
        idx = ipr.link_lookup(ifname=req.ifname)[0]
        ipr.link("set", index=idx, address=mac, state="up")
    finally:
        ipr.close()
    return mac


def _del_link(req: Request) -> None:
    from pymultus.net.ns import NetnsNotFound
    from pymultus.net.ns import open_iproute

    try:
        ipr = open_iproute(req.netns)
    except NetnsNotFound:
        return
    try:
        found = ipr.link_lookup(ifname=req.ifname)
        if found:
            ipr.link("del", index=found[0])
    finally:
        ipr.close()


def slow_setup(services: Any) -> None:
    """A daemon setup hook that takes its time: it marks ``$PMTEST_SETUP_MARK`` and waits
    for ``$PMTEST_SETUP_GATE`` (tests of what happens while a daemon starts)."""
    del services
    Path(os.environ["PMTEST_SETUP_MARK"]).write_text("in setup")
    gate = os.environ["PMTEST_SETUP_GATE"]
    end = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < end:
        time.sleep(0.01)
