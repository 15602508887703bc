"""Fake delegate types and a runner for the meta-plugin, in-process.

The meta-plugin runs through the real skeleton (``dispatch``) with a registry whose only
types are the fakes below, so every delegate call is recorded and nothing is exec'd.
The fakes never touch the kernel; the meta-plugin itself still enters the pod's
namespace for its interface-name check, so tests hand it a real one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from pymultus.cni.errors import CniError
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.cni.result import Route
from pymultus.cni.skel import dispatch
from pymultus.engine.registry import PythonPluginRunner
from pymultus.engine.registry import Registry
from pymultus.multus.k8s_memory import MemoryKubeSource
from pymultus.multus.plugin import MultusPlugin
from pymultus.plugin import PluginContext
from pymultus.plugin import Request

from tests.unit.core._core_fakes import EmptyIndex
from tests.unit.core._core_fakes import FakeTypes

ALL = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")


@dataclass
class Call:
    command: str
    type_name: str
    ifname: str
    netns: str
    args: str
    config: dict[str, Any]


@dataclass
class Journal:
    calls: list[Call] = field(default_factory=list)

    def seq(self) -> list[tuple[str, str, str]]:
        return [(c.command, c.type_name, c.ifname) for c in self.calls]

    def of(self, command: str) -> list[Call]:
        return [c for c in self.calls if c.command == command]


class FakeDelegate:
    """ADD answers an interface named CNI_IFNAME in CNI_NETNS with the address from the
    config (``address``) or ``runtimeConfig.ips``, and ``route`` as a default route."""

    cni_versions = ALL

    def __init__(self, type_name: str, journal: Journal) -> None:
        self.type_name = type_name
        self.journal = journal
        self.fail: dict[str, CniError] = {}
        self.empty = False
        #: ADD answers the interface only, no address.
        self.no_ips = False
        #: Called at the start of each ADD (to log, for instance).
        self.on_add: Callable[[Request], None] | None = None

    def _enter(self, req: Request) -> None:
        self.journal.calls.append(
            Call(req.command, self.type_name, req.ifname, req.netns, req.env.args, dict(req.config))
        )
        if req.command in self.fail:
            raise self.fail[req.command]

    def add(self, req: Request) -> Result:
        self._enter(req)
        if self.on_add is not None:
            self.on_add(req)
        prev = req.prev_result()
        if self.empty:
            return prev or Result(cni_version=req.cni_version)
        res = prev or Result(cni_version=req.cni_version)
        if prev is None:
            mac = req.runtime_config.get("mac") or req.config.get("mac") or "0a:58:00:00:00:01"
            res.interfaces.append(Interface(name=req.ifname, mac=str(mac), sandbox=req.netns))
            ips = req.runtime_config.get("ips") or [req.config.get("address", "192.0.2.10/24")]
            if self.no_ips:
                ips = []
            for ip in ips:
                res.ips.append(IPConfig(address=str(ip), interface=0))
            if req.config.get("route"):
                res.routes.append(Route(dst="0.0.0.0/0", gw=str(req.config["route"])))
        return res

    def delete(self, req: Request) -> None:
        self._enter(req)

    def check(self, req: Request) -> None:
        self._enter(req)

    def status(self, req: Request) -> None:
        self._enter(req)

    def gc(self, req: Request) -> None:
        self._enter(req)


@dataclass
class Meta:
    """The meta-plugin wired to fakes: ``run(command, conf)`` is one CNI call."""

    journal: Journal
    types: FakeTypes
    registry: Registry
    kube: MemoryKubeSource | None
    cni_dir: Path
    netns: str
    container_id: str = "123456789"
    args: str = "IgnoreUnknown=1;K8S_POD_NAMESPACE=test;K8S_POD_NAME=testpod;K8S_POD_UID=testUID"
    extras: dict[str, Any] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)

    def fake(self, type_name: str) -> FakeDelegate:
        plugin = FakeDelegate(type_name, self.journal)
        self.types.runners[type_name] = PythonPluginRunner(
            type_name, plugin, "fake", "0", type_name
        )
        return plugin

    def environ(self, command: str, **over: str) -> dict[str, str]:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": self.container_id,
            "CNI_NETNS": self.netns,
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": self.args,
            "CNI_PATH": "/nonexistent/pymultus-test-bin",
            "PATH": "/usr/bin:/bin",
        }
        env.update(over)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, command: str, conf: Mapping[str, Any], **over: str) -> dict[str, Any] | None:
        extras: dict[str, Any] = {"log_sink": lambda lvl, line: self.log.append((lvl, line))}
        if self.kube is not None:
            extras["kube_source"] = self.kube
        extras.update(self.extras)
        ctx = PluginContext(registry=self.registry, extras=extras)
        stdin = json.dumps(conf).encode()
        return dispatch(MultusPlugin(), self.environ(command, **over), stdin, ctx)

    def cache_files(self) -> list[str]:
        if not self.cni_dir.exists():
            return []
        return sorted(
            str(p.relative_to(self.cni_dir)) for p in self.cni_dir.rglob("*") if p.is_file()
        )


def make_meta(tmp_path: Path, netns: str, kube: MemoryKubeSource | None) -> Meta:
    journal = Journal()
    types = FakeTypes()
    registry = Registry(index=EmptyIndex(), load_hooks=False, hooks=[types])  # type: ignore[arg-type]
    return Meta(journal, types, registry, kube, tmp_path / "cni", netns)
