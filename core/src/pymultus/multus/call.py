"""One CNI call of the meta-plugin: what every verb shares.

:class:`Call` parses the netconf, opens the call's log (and bridges the process's
``logging`` records into it, :mod:`pymultus.multus.logbridge`), and builds on first
use the chain executor (:func:`meta_engine`) and the Kubernetes source. The verbs live
in :mod:`~pymultus.multus.add`, :mod:`~pymultus.multus.delete`,
:mod:`~pymultus.multus.check` and :mod:`~pymultus.multus.gcstatus`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import open_kube_source
from pymultus.multus.log import MultusLog
from pymultus.multus.logbridge import LogBridge
from pymultus.multus.netconf import SELF_TYPES
from pymultus.multus.netconf import MultusConf
from pymultus.multus.netconf import load_netconf
from pymultus.multus.plan import Plan
from pymultus.multus.plan import build_plan
from pymultus.multus.plan import parse_k8s_args
from pymultus.multus.plan import search_path
from pymultus.multus.scratch import DelegateCache

if TYPE_CHECKING:
    from pymultus.engine.chain import Engine
    from pymultus.engine.chain import RuntimeConf
    from pymultus.multus.delegates import Delegate
    from pymultus.plugin import PluginContext
    from pymultus.plugin import Request

#: Where the daemon puts its services in ``ctx.extras`` (``pymultus.daemon.services.
#: EXTRAS_KEY``; not imported, thin mode does not load the daemon package).
DAEMON_EXTRAS_KEY = "pymultus.daemon"
#: Multus's readiness poll: every second, up to 45 s (tests override via ctx.extras).
READINESS_TIMEOUT = 45.0
READINESS_INTERVAL = 1.0


def meta_engine(
    ctx: PluginContext, cni_dir: str, path: Sequence[str], environ: Mapping[str, str]
) -> Engine:
    """The chain executor as the meta-plugin runs delegates (``/cni`` and ``/delegate``
    alike): the libcni result cache in ``cni_dir``, rollback on, and the meta-plugin's
    own types refused whatever configuration names them."""
    from pymultus.engine.cache import ResultCache
    from pymultus.engine.chain import Engine

    return Engine(
        registry=ctx.registry,
        cache=ResultCache(Path(cni_dir)),
        path=tuple(path),
        environ=environ,
        ctx=ctx,
        rollback=True,
        refused_types=SELF_TYPES,
    )


class Call:
    """One CNI call of the meta-plugin (``with Call(req) as call``)."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.conf: MultusConf = load_netconf(req.config)
        extras = req.ctx.extras
        self.log = MultusLog(
            level=self.conf.log_level,
            log_file=self.conf.log_file,
            rotation=self.conf.log_rotation,
            to_stderr=self.conf.log_to_stderr,
            container_id=req.container_id,
            sink=extras.get("log_sink"),
        )
        for warning in self.conf.warnings:
            self.log.warning(warning)
        self.k8s = parse_k8s_args(req.env.args)
        self.log.pod = self.k8s.pod_ref
        self.scratch = DelegateCache(self.conf.cni_dir)
        self._bridge = LogBridge(self.log)
        self._engine: Engine | None = None
        self._source: KubeSource | None = None
        self._source_ready = False

    def __enter__(self) -> Call:
        self._bridge.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bridge.__exit__(exc_type, exc, tb)
        self.log.close()  # a daemon serves many calls: no file handle may outlive one

    # -- collaborators ------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            ctx = self.req.ctx
            if self._bridge.active:
                ctx = dataclasses.replace(ctx, log=self._bridge.logger)
            self._engine = meta_engine(
                ctx,
                self.conf.cni_dir,
                search_path(self.conf, self.req.env.path),
                self.req.env.extra,
            )
        return self._engine

    @property
    def source(self) -> KubeSource | None:
        """An injected source (tests), the daemon's (watch caches in front of warm
        live clients), or the live API; ``None`` without one."""
        if not self._source_ready:
            extras = self.req.ctx.extras
            injected = extras.get("kube_source")
            if injected is not None:
                self._source = injected
            elif extras.get(DAEMON_EXTRAS_KEY) is not None:
                from pymultus.multus.cache_source import daemon_source

                self._source = daemon_source(
                    extras[DAEMON_EXTRAS_KEY],
                    self.conf.kubeconfig,
                    self.req.env.extra,
                    pod_uid=self.k8s.uid,
                    writes_status=self.req.command == "ADD",
                )
            else:
                self._source = open_kube_source(self.conf.kubeconfig, self.req.env.extra)
            self._source_ready = True
        return self._source

    def plan(self, *, tolerant: bool = False, auxiliary: bool = True) -> Plan:
        """The pod's plan, from this call's CNI_ARGS, interface, container and source
        (``tolerant``, ``auxiliary``: see :func:`~pymultus.multus.plan.build_plan`)."""
        req = self.req
        return build_plan(
            self.conf,
            cni_args=req.env.args,
            ifname=req.ifname,
            container_id=req.container_id,
            source=self.source,
            tolerant=tolerant,
            auxiliary=auxiliary,
        )

    def runtime(self, d: Delegate, netns: str | None = None) -> RuntimeConf:
        from pymultus.engine.chain import RuntimeConf

        return RuntimeConf(
            container_id=self.req.container_id,
            netns=self.req.netns if netns is None else netns,
            ifname=d.ifname,
            args=tuple(d.cni_args),
            capability_args=d.runtime_config,
        )

    def forget(self, container_id: str) -> None:
        """Remove the delegate cache of a container that is gone (its lock file goes
        when the lock, taken with ``release=True``, is let go)."""
        self.scratch.remove(container_id)

    # -- readiness ----------------------------------------------------------------------

    def wait_ready(self, *, once: bool = False) -> None:
        path = self.conf.readiness_indicator_file
        if not path:
            return
        if once:
            if not os.path.exists(path):
                self.log.warning(f"readinessindicatorfile {path} is missing (DEL goes on)")
            return
        extras = self.req.ctx.extras
        timeout = float(extras.get("readiness_timeout", READINESS_TIMEOUT))
        interval = float(extras.get("readiness_interval", READINESS_INTERVAL))
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() + interval > deadline:
                raise CniError(
                    TRY_AGAIN_LATER,
                    "have you checked that your default network is ready? still waiting for "
                    f"readinessindicatorfile @ {path}. pollimmediate error: timed out waiting "
                    "for the condition",
                )
            time.sleep(interval)


class Clock:
    """Phase durations of one call, for the verbose log (and the benchmark)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()
        self.phases: list[tuple[str, float]] = []

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.phases.append((phase, now - self.last))
        self.last = now

    def __str__(self) -> str:
        parts = [f"{name}={secs * 1000:.2f}ms" for name, secs in self.phases]
        parts.append(f"total={(self.last - self.start) * 1000:.2f}ms")
        return " ".join(parts)


def label(pod_ref: str, network: str) -> str:
    """``[ns/pod:network]``, the prefix of DEL and CHECK errors."""
    return f"[{pod_ref or '/'}:{network}]" if network else f"[{pod_ref or '/'}]"
