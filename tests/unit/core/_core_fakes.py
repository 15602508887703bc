"""In-memory plugins and collaborators for the core unit tests.

Nothing here is installed: fake types are answered by a hook object registered on a
``Registry(load_hooks=False, hooks=[...])``. Python fakes run through the real
``PythonPluginRunner`` (so the real skeleton validates their env and stdin); raw fakes
stand for external binaries and hand back whatever dict they were given.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from pymultus import hookimpl
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.engine.cache import ResultCache
from pymultus.engine.chain import Engine
from pymultus.engine.chain import RuntimeConf
from pymultus.engine.registry import PythonPluginRunner
from pymultus.engine.registry import Registry
from pymultus.plugin import PluginContext
from pymultus.plugin import Request

#: A bin dir that does not exist: the skeleton requires CNI_PATH to be set, and no
#: fake type may ever fall through to a real binary.
NO_BIN = "/nonexistent/pymultus-test-bin"


class EmptyIndex:
    """An entry-point index with nothing in it (no metadata scan in unit tests)."""

    fresh = True

    def lookup(self, group: str, name: str) -> None:
        del group, name

    def entries(self, group: str) -> list[Any]:
        del group
        return []

    def refresh(self) -> list[Any]:
        return []


@dataclass
class Call:
    """One plugin call as the plugin saw it."""

    command: str
    type_name: str
    stdin: bytes
    environ: dict[str, str]

    @property
    def config(self) -> dict[str, Any]:
        obj: dict[str, Any] = json.loads(self.stdin)
        return obj


@dataclass
class Journal:
    calls: list[Call] = field(default_factory=list)

    def record(self, command: str, type_name: str, stdin: bytes, environ: Mapping[str, str]):
        self.calls.append(Call(command, type_name, stdin, dict(environ)))

    def seq(self) -> list[tuple[str, str]]:
        """``(command, type)`` in call order."""
        return [(c.command, c.type_name) for c in self.calls]

    def of(self, command: str) -> list[Call]:
        return [c for c in self.calls if c.command == command]


class FakePlugin:
    """A Python plugin type: ADD appends one interface (``<type>0``) and, when its
    config has ``address``, one IP on it, to the prevResult (or to a new result)."""

    cni_versions: tuple[str, ...] = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

    def __init__(self, type_name: str, journal: Journal) -> None:
        self.type_name = type_name
        self.journal = journal
        #: command -> exception to raise (the call is still recorded).
        self.fail: dict[str, BaseException] = {}

    def _enter(self, req: Request) -> None:
        self.journal.record(req.command, self.type_name, req.stdin, req.env.to_environ())
        exc = self.fail.get(req.command)
        if exc is not None:
            raise exc

    def add(self, req: Request) -> Result:
        self._enter(req)
        prev = req.prev_result()
        res = prev if prev is not None else Result(cni_version=req.cni_version)
        res.interfaces.append(Interface(name=f"{self.type_name}0", sandbox=req.netns))
        address = req.config.get("address")
        if isinstance(address, str):
            res.ips.append(IPConfig(address=address, interface=len(res.interfaces) - 1))
        return res

    def delete(self, req: Request) -> None:
        self._enter(req)

    def check(self, req: Request) -> None:
        self._enter(req)

    def status(self, req: Request) -> None:
        self._enter(req)

    def gc(self, req: Request) -> None:
        self._enter(req)


class RawRunner:
    """A type that behaves like an external binary: the output is given verbatim."""

    origin = "exec"

    def __init__(self, type_name: str, journal: Journal, output: dict[str, Any] | None) -> None:
        self.type_name = type_name
        self.description = f"raw:{type_name}"
        self.journal = journal
        self.output = output
        self.fail: dict[str, CniError] = {}

    def invoke(
        self, environ: Mapping[str, str], stdin: bytes, ctx: PluginContext
    ) -> dict[str, Any] | None:
        del ctx
        command = environ["CNI_COMMAND"]
        self.journal.record(command, self.type_name, stdin, environ)
        if command in self.fail:
            raise self.fail[command]
        return self.output if command == "ADD" else None


class FakeTypes:
    """The hook object: answers ``pymultus_resolve_type`` for the fakes it holds."""

    def __init__(self) -> None:
        self.runners: dict[str, Any] = {}

    @hookimpl
    def pymultus_resolve_type(self, type_name: str) -> Any:
        return self.runners.get(type_name)


@dataclass
class Harness:
    journal: Journal
    types: FakeTypes
    registry: Registry
    engine: Engine
    cache_dir: Path

    def python(self, type_name: str) -> FakePlugin:
        plugin = FakePlugin(type_name, self.journal)
        self.types.runners[type_name] = PythonPluginRunner(
            type_name, plugin, "fake-dist", "0.0", f"fakes:{type_name}"
        )
        return plugin

    def raw(self, type_name: str, output: dict[str, Any] | None) -> RawRunner:
        runner = RawRunner(type_name, self.journal, output)
        self.types.runners[type_name] = runner
        return runner

    def cache_files(self) -> dict[str, bytes]:
        results = self.cache_dir / "results"
        if not results.is_dir():
            return {}
        return {p.name: p.read_bytes() for p in sorted(results.iterdir())}


def make_harness(
    tmp_path: Path, *, rollback: bool = True, environ: Mapping[str, str] | None = None
) -> Harness:
    journal = Journal()
    types = FakeTypes()
    registry = Registry(index=EmptyIndex(), load_hooks=False, hooks=[types])  # type: ignore[arg-type]
    cache_dir = tmp_path / "cni-cache"
    engine = Engine(
        registry=registry,
        cache=ResultCache(cache_dir),
        path=(NO_BIN,),
        environ=dict(environ or {"PATH": "/usr/bin:/bin"}),
        ctx=PluginContext(registry=registry, state_root=tmp_path / "state"),
        rollback=rollback,
    )
    return Harness(journal, types, registry, engine, cache_dir)


def conflist(
    plugins: list[dict[str, Any]], version: str = "1.0.0", name: str = "net", **extra: Any
) -> NetworkConfigList:
    doc = {"cniVersion": version, "name": name, **extra, "plugins": plugins}
    return NetworkConfigList.from_bytes(json.dumps(doc).encode())


def runtime(
    cid: str = "ctr1", ifname: str = "eth0", netns: str = "/run/netns/fake", **kw: Any
) -> RuntimeConf:
    return RuntimeConf(container_id=cid, netns=netns, ifname=ifname, **kw)


Raiser = Callable[[], None]
