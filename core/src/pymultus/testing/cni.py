"""Running CNI calls in tests: one plugin config or a conflist, in-process or via the CLI.

Both drivers take the same arguments, return a :class:`CniOutcome` and raise
:class:`CniCallError` (a :class:`~pymultus.cni.errors.CniError`), so one test body can
run both ways (the ``cni_driver`` fixture does exactly that).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from pymultus.cni.errors import CniError
from pymultus.testing.kernel import Names
from pymultus.testing.kernel import Netns
from pymultus.testing.kernel import ns_path

if TYPE_CHECKING:
    from pymultus.cni.result import Result
    from pymultus.engine.chain import Engine
    from pymultus.engine.index import EntryPointIndex
    from pymultus.engine.registry import Registry
    from pymultus.plugin import PluginContext

#: Where Debian's reference plugins live; the default ``CNI_PATH`` of the harness.
REFERENCE_CNI_DIR: Final = "/usr/lib/cni"
NetnsArg = Netns | str | None
_CHAIN_ERROR: Final = re.compile(
    r"pymultus chain: error: (?P<text>.*) \(CNI code (?P<code>-?\d+)\)\s*\Z", re.DOTALL
)


@dataclass
class CniOutcome:
    """A successful call: the decoded stdout and the texts the caller saw."""

    #: ``ADD``, ``DEL``, ... or ``chain add``, ``chain del``, ...
    command: str
    #: ``"inproc"`` or ``"cli"``.
    mode: str
    #: Decoded stdout: the result (ADD), the version info (VERSION), else ``None``.
    data: dict[str, Any] | None
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0

    @property
    def result(self) -> Result:
        """:attr:`data` as a canonical :class:`~pymultus.cni.result.Result`."""
        from pymultus.cni.result import Result

        if self.data is None:
            raise ValueError(f"{self.command} ({self.mode}) printed no result")
        return Result.from_json(self.data)


class CniCallError(CniError):
    """A failed call: code, msg and details as the caller decoded them, plus the exit
    code and output of the process (CLI) or what they would have been (in-process)."""

    def __init__(
        self,
        code: int,
        msg: str,
        details: str = "",
        *,
        command: str,
        mode: str,
        exit_code: int = 1,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        super().__init__(code, msg, details)
        self.command = command
        self.mode = mode
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def __str__(self) -> str:
        text = f"{self.command} ({self.mode}) failed with CNI code {self.code}: {super().__str__()}"
        if self.stderr.strip():
            text += f"\n--- stderr ---\n{self.stderr.strip()[-3000:]}"
        return text


class CliProtocolError(AssertionError):
    """The CLI answered outside the CNI protocol (unparsable output, odd exit code)."""


@dataclass(frozen=True)
class CniCall:
    """One call, as a driver runs it."""

    #: ``ADD``/``DEL``/``CHECK``/``VERSION``/``STATUS``/``GC``, or ``chain <verb>``
    #: with verb ``add``/``del``/``check``/``status``/``gc``.
    command: str
    #: The plugin config (stdin), or the conflist for ``chain`` calls.
    conf: Mapping[str, Any]
    netns: str = ""
    ifname: str = ""
    container_id: str = ""
    args: str = ""
    capability_args: Mapping[str, Any] = field(default_factory=dict)
    #: ``chain gc``: the (container id, ifname) pairs to keep; ``None``: none given.
    valid: tuple[tuple[str, str], ...] | None = None

    @property
    def verb(self) -> str:
        return self.command.removeprefix("chain ")


class CniDriver:
    """Runs calls one way; see :class:`CniHarness` for the state they use.

    ``conf`` is one plugin's configuration exactly as a binary gets it on stdin (with
    ``name``, ``cniVersion`` and, for a chained plugin, ``prevResult``); ``conflist``
    is a network configuration list (or a single conf, which is wrapped as libcni
    does). ``netns`` is a :class:`Netns`, a path, a name in ``/run/netns`` or ``None``.
    ``container_id`` defaults to :attr:`CniHarness.container_id`.
    """

    mode = ""

    def __init__(self, harness: CniHarness) -> None:
        self.h = harness

    # -- one plugin config ----------------------------------------------------------

    def add(
        self,
        conf: Mapping[str, Any],
        netns: NetnsArg = None,
        ifname: str = "net1",
        *,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        """ADD of one plugin config."""
        return self.run(self.h._call("ADD", conf, netns, ifname, container_id, args))

    def check(
        self,
        conf: Mapping[str, Any],
        netns: NetnsArg = None,
        ifname: str = "net1",
        *,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        return self.run(self.h._call("CHECK", conf, netns, ifname, container_id, args))

    def delete(
        self,
        conf: Mapping[str, Any],
        netns: NetnsArg = None,
        ifname: str = "net1",
        *,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        return self.run(self.h._call("DEL", conf, netns, ifname, container_id, args))

    def version(
        self, type_or_conf: str | Mapping[str, Any], cni_version: str = "1.0.0"
    ) -> CniOutcome:
        """VERSION of a type (stdin ``{"cniVersion": ..., "type": ...}``) or of a conf."""
        conf = type_or_conf
        if isinstance(conf, str):
            conf = {"cniVersion": cni_version, "type": conf}
        return self.run(CniCall("VERSION", conf))

    def status(self, conf: Mapping[str, Any]) -> CniOutcome:
        return self.run(CniCall("STATUS", conf))

    def gc(
        self, conf: Mapping[str, Any], valid: Sequence[tuple[str, str]] | None = None
    ) -> CniOutcome:
        """GC; ``valid`` (container id, ifname) pairs go in ``cni.dev/valid-attachments``."""
        body = dict(conf)
        if valid is not None:
            body["cni.dev/valid-attachments"] = [{"containerID": c, "ifname": i} for c, i in valid]
        return self.run(CniCall("GC", body))

    # -- a conflist -----------------------------------------------------------------

    def chain_add(
        self,
        conflist: Mapping[str, Any],
        netns: NetnsArg,
        ifname: str = "net1",
        *,
        capability_args: Mapping[str, Any] | None = None,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        """ADD of every plugin in order (a failure rolls back); ``capability_args``
        become the ``runtimeConfig`` of the plugins that declare those capabilities."""
        call = self.h._call(
            "chain add", conflist, netns, ifname, container_id, args, capability_args
        )
        return self.run(call)

    def chain_check(
        self,
        conflist: Mapping[str, Any],
        netns: NetnsArg,
        ifname: str = "net1",
        *,
        capability_args: Mapping[str, Any] | None = None,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        call = self.h._call(
            "chain check", conflist, netns, ifname, container_id, args, capability_args
        )
        return self.run(call)

    def chain_delete(
        self,
        conflist: Mapping[str, Any],
        netns: NetnsArg,
        ifname: str = "net1",
        *,
        capability_args: Mapping[str, Any] | None = None,
        container_id: str | None = None,
        args: str = "",
    ) -> CniOutcome:
        call = self.h._call(
            "chain del", conflist, netns, ifname, container_id, args, capability_args
        )
        return self.run(call)

    def chain_status(self, conflist: Mapping[str, Any]) -> CniOutcome:
        return self.run(CniCall("chain status", conflist))

    def chain_gc(
        self, conflist: Mapping[str, Any], valid: Sequence[tuple[str, str]] | None = None
    ) -> CniOutcome:
        """Delete the cached attachments not in ``valid`` (all when ``None``), then GC."""
        keep = tuple(valid) if valid is not None else None
        return self.run(CniCall("chain gc", conflist, valid=keep))

    def run(self, call: CniCall) -> CniOutcome:
        """Run one :class:`CniCall` (what every method above builds)."""
        raise NotImplementedError


class InProcessDriver(CniDriver):
    """Calls in this process, with the calling thread inside the host namespace: one
    plugin through :func:`pymultus.cni.skel.dispatch` (a binary through the exec
    fallback), a conflist through :mod:`pymultus.engine.chain`."""

    mode = "inproc"

    def run(self, call: CniCall) -> CniOutcome:
        from pymultus.cli.cnimode import render
        from pymultus.cni.jsonenc import dumps_indent
        from pymultus.net.ns import entered

        try:
            with entered(self.h.host.path):
                out = self._chain(call) if call.command.startswith("chain ") else self._one(call)
        except CniError as exc:
            raise CniCallError(
                exc.code,
                exc.msg,
                exc.details,
                command=call.command,
                mode=self.mode,
                stdout=dumps_indent(exc.to_json()),
            ) from exc
        return CniOutcome(call.command, self.mode, out, stdout=render(call.command, out))

    def _one(self, call: CniCall) -> dict[str, Any] | None:
        from pymultus.cni.skel import dispatch

        h = self.h
        environ = h.cni_environ(call)
        stdin = json.dumps(call.conf).encode()
        runner = h.registry.resolve(str(call.conf.get("type", "")), h.cni_path)
        plugin = getattr(runner, "plugin", None)
        if runner.origin == "python" and plugin is not None:
            return dispatch(plugin, environ, stdin, h.context)
        return runner.invoke(environ, stdin, h.context)

    def _chain(self, call: CniCall) -> dict[str, Any] | None:
        from pymultus.cni.env import split_cni_args
        from pymultus.cni.netconf import NetworkConfigList
        from pymultus.engine import chain

        net = NetworkConfigList.from_bytes(json.dumps(call.conf).encode())
        engine = self.h.engine()
        rt = chain.RuntimeConf(
            container_id=call.container_id,
            netns=call.netns,
            ifname=call.ifname,
            args=tuple(split_cni_args(call.args)),
            capability_args=dict(call.capability_args),
        )
        if call.verb == "add":
            return chain.add_network_list(engine, net, rt)
        if call.verb == "del":
            chain.del_network_list(engine, net, rt)
        elif call.verb == "check":
            chain.check_network_list(engine, net, rt)
        elif call.verb == "status":
            chain.status_network_list(engine, net)
        else:
            chain.gc_network_list(engine, net, list(call.valid) if call.valid is not None else None)
        return None


class CliDriver(CniDriver):
    """Calls through the installed ``pymultus`` executable under ``ip netns exec
    <host>``: one plugin as a CNI binary (``CNI_*`` env and stdin; Python types only),
    a conflist with ``pymultus chain <verb>``. Types added with
    :meth:`CniHarness.register` do not exist there.

    ``pymultus chain`` reports an error on stderr as one text, so its ``details`` are
    part of :attr:`CniCallError.msg`.
    """

    mode = "cli"

    def run(self, call: CniCall) -> CniOutcome:
        h = self.h
        chained = call.command.startswith("chain ")
        if chained:
            argv = ["chain", call.verb, "--conf", str(h.write_conf(call.conf))]
            argv += ["--netns", call.netns, "--ifname", call.ifname or "net1"]
            argv += ["--container-id", call.container_id or h.container_id]
            argv += ["--cache-dir", str(h.cache_dir)]
            if call.args:
                argv += ["--args", call.args]
            if call.capability_args:
                argv += ["--capability-args", json.dumps(dict(call.capability_args))]
            for cid, ifname in call.valid or ():
                argv += ["--valid", f"{cid}/{ifname}"]
            proc = h.pymultus(*argv)
        else:
            proc = h.pymultus(env=h.cli_environ(h.cni_environ(call)), input=json.dumps(call.conf))
        data = _stdout_json(proc, call.command)
        if proc.returncode == 0:
            return CniOutcome(call.command, self.mode, data, proc.stdout, proc.stderr)
        err: CniError | None = None
        if chained:
            m = _CHAIN_ERROR.search(proc.stderr)
            err = CniError(int(m.group("code")), m.group("text")) if m else None
        else:
            err = CniError.from_json(data)
        if proc.returncode != 1 or err is None:
            raise CliProtocolError(
                f"{call.command}: pymultus exited {proc.returncode} without a CNI error\n"
                f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
            )
        raise CniCallError(
            err.code,
            err.msg,
            err.details,
            command=call.command,
            mode=self.mode,
            exit_code=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
        )


def _stdout_json(proc: subprocess.CompletedProcess[str], command: str) -> dict[str, Any] | None:
    text = proc.stdout.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CliProtocolError(
            f"{command}: stdout is not JSON ({exc})\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
        ) from None
    if not isinstance(data, dict):
        raise CliProtocolError(f"{command}: stdout is JSON but not an object: {text}")
    return data


def pymultus_executable() -> str:
    """The ``pymultus`` console script of this environment."""
    beside = Path(sys.executable).with_name("pymultus")
    if beside.is_file():
        return str(beside)
    found = shutil.which("pymultus")
    if found is None:
        raise RuntimeError("pymultus.testing: the pymultus executable is not installed")
    return found


class CniHarness:
    """CNI calls for one test, run "on the node" (``host``), with private state.

    :meth:`run_reference` runs a reference binary (``/usr/lib/cni/<type>``) with the
    same stdin and environment, to compare its output with ours.

    A test may change, before calling: ``cni_path`` (directories searched for
    binaries, default ``[/usr/lib/cni]``), ``env`` (extra environment for the CLI and
    exec'd plugins), ``container_id``, ``timeout`` (seconds per call). Directories,
    removed with the test: ``cache_dir`` (libcni result cache), ``state_root``
    (:attr:`PluginContext.state_root`), ``data_dir`` (for IPAM, e.g. host-local's
    ``"dataDir"``).
    """

    def __init__(
        self, names: Names, host: Netns, workdir: Path, *, index: EntryPointIndex | None = None
    ) -> None:
        self.names = names
        self.host = host
        self.workdir = workdir
        self.cni_path: list[str] = [REFERENCE_CNI_DIR]
        self.env: dict[str, str] = {}
        self.container_id = names.container_id
        self.timeout = 120.0
        self.cache_dir = workdir / "cache"
        self.state_root = workdir / "state"
        self.data_dir = workdir / "data"
        for d in (self.cache_dir, self.state_root, self.data_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.inproc = InProcessDriver(self)
        self.cli = CliDriver(self)
        self._index = index
        self._types: dict[str, Any] = {}
        self._registry: Registry | None = None
        self._context: PluginContext | None = None
        self._confs = 0

    def driver(self, mode: str) -> CniDriver:
        """``"inproc"`` or ``"cli"``."""
        if mode not in ("inproc", "cli"):
            raise ValueError(f"driver must be 'inproc' or 'cli', not {mode!r}")
        return self.inproc if mode == "inproc" else self.cli

    def register(self, type_name: str, plugin: Any) -> None:
        """Run ``plugin`` (a class or an instance) for ``type_name`` in-process, before
        any installed package or binary: test a plugin before it is packaged."""
        self._types[type_name] = plugin() if isinstance(plugin, type) else plugin
        self._registry = None
        self._context = None

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            from pymultus.engine.index import EntryPointIndex
            from pymultus.engine.registry import Registry

            self._registry = Registry(
                index=self._index if self._index is not None else EntryPointIndex(None),
                hooks=[_registered_types(self._types)] if self._types else (),
                self_paths=[pymultus_executable()],
            )
        return self._registry

    @property
    def context(self) -> PluginContext:
        if self._context is None:
            from pymultus.plugin import PluginContext

            self._context = PluginContext(
                registry=self.registry, state_root=self.state_root, exec_timeout=self.timeout
            )
        return self._context

    def engine(self) -> Engine:
        """A chain executor with this test's registry, cache, path and context."""
        from pymultus.engine.cache import ResultCache
        from pymultus.engine.chain import Engine

        return Engine(
            registry=self.registry,
            cache=ResultCache(self.cache_dir),
            path=tuple(self.cni_path),
            environ=self.base_environ(),
            ctx=self.context,
        )

    def base_environ(self) -> dict[str, str]:
        """This process's environment without ``CNI_*``, plus :attr:`env`."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update(self.env)
        return env

    def cni_environ(self, call: CniCall) -> dict[str, str]:
        """The environment of one plugin call, as a runtime sets it."""
        env = self.base_environ()
        env.update(
            CNI_COMMAND=call.command,
            CNI_CONTAINERID=call.container_id,
            CNI_NETNS=call.netns,
            CNI_IFNAME=call.ifname,
            CNI_ARGS=call.args,
            CNI_PATH=":".join(self.cni_path),
        )
        return env

    def cli_environ(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """``env`` (default :meth:`base_environ`) with this test's ``CNI_PATH``, state
        root, cache dir and timeout, for the ``pymultus`` executable."""
        out = dict(self.base_environ() if env is None else env)
        out.setdefault("CNI_PATH", ":".join(self.cni_path))
        out["PYMULTUS_STATE_ROOT"] = str(self.state_root)
        out["PYMULTUS_CACHE_DIR"] = str(self.cache_dir)
        out["PYMULTUS_EXEC_TIMEOUT"] = str(self.timeout)
        return out

    def pymultus(
        self, *args: str, env: Mapping[str, str] | None = None, input: str = ""
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pymultus args...`` in the host namespace (``ip netns exec``)."""
        return self._exec(
            pymultus_executable(),
            *args,
            input=input,
            env=self.cli_environ() if env is None else env,
        )

    def _exec(
        self, *argv: str, input: str, env: Mapping[str, str]
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` in the host namespace, whatever it exits with; a call's timeout plus
        a margin for the process start."""
        return self.host.exec(*argv, check=False, input=input, env=env, timeout=self.timeout + 30)

    def _call(
        self,
        command: str,
        conf: Mapping[str, Any],
        netns: NetnsArg,
        ifname: str,
        container_id: str | None,
        args: str,
        capability_args: Mapping[str, Any] | None = None,
    ) -> CniCall:
        """The :class:`CniCall` the drivers and :meth:`run_reference` run: ``netns`` as a
        path, ``container_id`` defaulting to :attr:`container_id`."""
        return CniCall(
            command,
            conf,
            ns_path(netns),
            ifname,
            self.container_id if container_id is None else container_id,
            args,
            dict(capability_args or {}),
        )

    def run_reference(
        self,
        command: str,
        conf: Mapping[str, Any],
        netns: NetnsArg = None,
        ifname: str = "net1",
        *,
        binary: str | os.PathLike[str] | None = None,
        container_id: str | None = None,
        args: str = "",
    ) -> subprocess.CompletedProcess[str]:
        """Run a reference binary on the node the way :attr:`cli` runs ours: the same
        stdin (``conf`` as JSON) and the same ``CNI_*`` environment
        (:meth:`cni_environ`), under ``ip netns exec <host>``. ``binary`` defaults to
        ``REFERENCE_CNI_DIR/<conf["type"]>``. Returns the finished process (exit code,
        stdout, stderr) whatever it exited with, for a byte-for-byte comparison."""
        call = self._call(command, conf, netns, ifname, container_id, args)
        path = os.fspath(binary) if binary is not None else f"{REFERENCE_CNI_DIR}/{conf['type']}"
        return self._exec(path, input=json.dumps(call.conf), env=self.cni_environ(call))

    def write_conf(self, conf: Mapping[str, Any]) -> Path:
        """Write a conf or conflist to a new file in the test's directory."""
        self._confs += 1
        path = self.workdir / f"net-{self._confs}.conflist"
        path.write_text(json.dumps(conf, indent=2))
        return path


def _registered_types(types: Mapping[str, Any]) -> object:
    """A hook object that resolves the test-registered types first."""
    from pymultus.engine.hookspecs import hookimpl
    from pymultus.engine.registry import PythonPluginRunner

    class _TestTypes:
        @hookimpl(tryfirst=True)
        def pymultus_resolve_type(self, type_name: str) -> PythonPluginRunner | None:
            plugin = types.get(type_name)
            if plugin is None:
                return None
            target = f"{type(plugin).__module__}:{type(plugin).__qualname__}"
            return PythonPluginRunner(type_name, plugin, "(registered by the test)", "", target)

    return _TestTypes()
