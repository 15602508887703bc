"""The meta-plugin (CNI type ``pymultus``): runs a pod's networks as Multus does.

ADD: netconf → (readiness file) → pod and NADs → plan (:mod:`pymultus.multus.plan`) →
interface-name check in the pod → delegate cache written → each delegate through the
chain executor (Python plugin or binary) → default-route fix-ups → network-status on
``pods/status`` → ``AddedInterface`` events → the cluster network's result. Any failure
deletes every delegate already added (reverse order) before the error is returned.

DEL: the delegate cache (else the plan re-derived from the API, else the libcni result
cache) in reverse; every delegate is attempted and every failure reported. CHECK, STATUS
and GC cover every delegate, not only the cluster network.

Error codes: 4 bad CNI_ARGS / missing netns; 7 configuration, annotation, NAD, isolation,
ECMP or interface-name conflicts; 2 a capability the network does not declare; 11 the API
unreachable (or 5xx through the retry budget) or the readiness file missing; 110 other
API failures (401/403, UID mismatch); a delegate's own code passes through, prefixed
with ``[namespace/pod/uid:network]``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.netconf import NetworkConfigList
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.multus.delegates import Delegate
from pymultus.multus.delegates import NadNotFound
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo
from pymultus.multus.k8s import open_kube_source
from pymultus.multus.log import MultusLog
from pymultus.multus.netconf import MultusConf
from pymultus.multus.netconf import load_netconf
from pymultus.multus.plan import Plan
from pymultus.multus.plan import build_plan
from pymultus.multus.plan import parse_k8s_args
from pymultus.multus.plan import search_path
from pymultus.multus.scratch import CacheCorrupt
from pymultus.multus.scratch import DelegateCache

if TYPE_CHECKING:
    from pymultus.engine.cache import CachedAttachment
    from pymultus.engine.chain import Engine
    from pymultus.engine.chain import RuntimeConf
    from pymultus.plugin import Request

#: Where the daemon puts its services in ``ctx.extras`` (``pymultus.daemon.services.
#: EXTRAS_KEY``; not imported, thin mode does not load the daemon package).
DAEMON_EXTRAS_KEY = "pymultus.daemon"
#: Multus's readiness poll: every second, up to 45 s (tests override via ctx.extras).
READINESS_TIMEOUT = 45.0
READINESS_INTERVAL = 1.0


class MultusPlugin:
    """Entry point ``pymultus`` in the ``pymultus.plugins`` group."""

    cni_versions = cniversion.ALL_VERSIONS

    def add(self, req: Request) -> Result:
        with _Call(req) as call:
            return call.add()

    def delete(self, req: Request) -> None:
        with _Call(req) as call:
            call.delete()

    def check(self, req: Request) -> None:
        with _Call(req) as call:
            call.check()

    def status(self, req: Request) -> None:
        with _Call(req) as call:
            call.status()

    def gc(self, req: Request) -> None:
        with _Call(req) as call:
            call.gc()


def empty_result(ifname: str, cni_version: str) -> Result:
    """Multus's answer for a pod that is gone: one interface, address 0.0.0.0/0."""
    return Result(
        cni_version=cni_version or "0.1.0",
        interfaces=[Interface(name=ifname)],
        ips=[IPConfig(address="0.0.0.0/0", gateway="0.0.0.0")],
    )


class _Call:
    """One CNI call of the meta-plugin."""

    def __init__(self, req: Request) -> None:
        self.req = req
        self.conf: MultusConf = load_netconf(req.config)
        extras = req.ctx.extras
        self.log = MultusLog(
            level=self.conf.log_level,
            log_file=self.conf.log_file,
            to_stderr=self.conf.log_to_stderr,
            container_id=req.container_id,
            sink=extras.get("log_sink"),
        )
        for warning in self.conf.warnings:
            self.log.warning(warning)
        self.k8s = parse_k8s_args(req.env.args)
        self.log.pod = self.k8s.pod_ref
        self.scratch = DelegateCache(self.conf.cni_dir)
        self._engine: Engine | None = None
        self._source: KubeSource | None = None
        self._source_ready = False

    def __enter__(self) -> _Call:
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.close()  # a daemon serves many calls: no file handle may outlive one

    # -- collaborators ------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from pymultus.engine.cache import ResultCache
            from pymultus.engine.chain import Engine

            self._engine = Engine(
                registry=self.req.ctx.registry,
                cache=ResultCache(Path(self.conf.cni_dir)),
                path=search_path(self.conf, self.req.env.path),
                environ=self.req.env.extra,
                ctx=self.req.ctx,
                rollback=True,
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

    def runtime(self, d: Delegate, netns: str | None = None) -> RuntimeConf:
        from pymultus.engine.chain import RuntimeConf

        return RuntimeConf(
            container_id=self.req.container_id,
            netns=self.req.netns if netns is None else netns,
            ifname=d.ifname,
            args=tuple(d.cni_args),
            capability_args=d.runtime_config,
        )

    def _forget(self, container_id: str) -> None:
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

    # -- ADD ----------------------------------------------------------------------------

    def add(self) -> Result:
        req, conf = self.req, self.conf
        clock = _Clock()
        self.wait_ready()
        clock.mark("readiness")
        try:
            plan = build_plan(
                conf,
                cni_args=req.env.args,
                ifname=req.ifname,
                container_id=req.container_id,
                source=self.source,
            )
        except NadNotFound as exc:
            self._event_no_network(exc)
            self.log.error(str(exc))
            raise
        except CniError as exc:
            self.log.error(str(exc))
            raise
        if plan.pod_missing:
            self.log.verbose(f"pod {plan.pod_ref} not found: returning the empty result")
            return empty_result(req.ifname, conf.cni_version)
        clock.mark("plan")
        for line in plan.routes.describe():
            self.log.debug(f"default-route plan: {line}")
        self._check_ifnames(plan)
        clock.mark("ifname-check")
        with self.engine.cache.lock(req.container_id):
            self.scratch.save(
                req.container_id,
                netns=req.netns,
                ifname=req.ifname,
                pod=plan.pod_ref,
                pod_uid=plan.pod.uid if plan.pod else self.k8s.uid,
                delegates=plan.delegates,
            )
            clock.mark("cache-write")
            added: list[Delegate] = []
            try:
                results = self._add_all(plan, added, clock)
                installed = self._routes(plan)
                clock.mark("routes")
                self._write_status(plan, results, installed)
                clock.mark("status")
            except BaseException as exc:
                if isinstance(exc, CniError):
                    self.log.error(f"ADD failed: {exc}; deleting {len(added)} added delegate(s)")
                self._rollback(plan, added)
                raise
        self._events(plan, results)
        clock.mark("events")
        self.log.verbose(f"timing ADD: {clock}")
        return results[0]

    def _check_ifnames(self, plan: Plan) -> None:
        from pymultus.multus.podns import link_names

        existing = link_names(self.req.netns)
        for d in plan.delegates:
            if d.ifname in existing:
                ptype = d.conf.plugins[0].get("type", "")
                raise CniError(
                    INVALID_NETWORK_CONFIG,
                    f'{plan.label(d.network)}: cannot set "{ptype}" interface name to '
                    f'"{d.ifname}": validateIfName: interface name {d.ifname} already exists',
                    f"netns {self.req.netns} already has {d.ifname}; request another "
                    '"interface" in the network selection',
                )

    def _add_all(self, plan: Plan, added: list[Delegate], clock: _Clock) -> list[Result]:
        from pymultus.engine.chain import add_network_list

        results: list[Result] = []
        for d in plan.delegates:
            dlog = self.log.child(network=d.network)
            dlog.debug(f"ADD {d.cni_name} on {d.ifname} ({d.origin}, {d.source})")
            try:
                out = add_network_list(self.engine, d.conf, self.runtime(d))
            except CniError as exc:
                raise exc.with_prefix(
                    f'{plan.label(d.network)}: error adding container to network "{d.cni_name}" '
                    f"({d.ifname}): "
                ) from exc
            clock.mark(f"delegate:{d.ifname}")
            added.append(d)
            result = Result.from_json(out, d.conf.cni_version)
            dlog.verbose(f"Add: {d.ifname} result {dumps_compact(out)}")
            results.append(result)
        return results

    def _routes(self, plan: Plan) -> dict[str, list[str]] | None:
        if not plan.routes:
            return None
        from pymultus.multus.routes import apply_routes
        from pymultus.multus.routes import edit_cached_results

        applied = apply_routes(plan.routes, self.req.netns)
        for ifname, gw in applied.removed:
            self.log.verbose(f"default-route: removed default via {gw or '-'} dev {ifname}")
        for ifname, gw in applied.added:
            self.log.verbose(f"default-route: added default via {gw} dev {ifname}")
        edit_cached_results(plan.routes, plan.delegates, self.engine.cache, self.req.container_id)
        return applied.gateways

    def _write_status(
        self, plan: Plan, results: Sequence[Result], installed: dict[str, list[str]] | None
    ) -> None:
        source, pod = self.source, plan.pod
        if source is None or pod is None:
            return
        from pymultus.multus import status

        entries: list[dict[str, Any]] = []
        for d, result in zip(plan.delegates, results, strict=True):
            entries.extend(
                status.entries_for(
                    d.network,
                    result,
                    default=d.master,
                    installed=installed,
                    device_info=_read_device_info(d.device_info_file),
                )
            )
        value = status.render(entries)
        try:
            source.update_network_status(pod.namespace, pod.name, pod.uid, value)
        except PodGone as exc:
            self.log.warning(f"{exc}: network-status not written")
            return
        self.log.debug(f"network-status written: {dumps_compact(entries)}")

    def _events(self, plan: Plan, results: Sequence[Result]) -> None:
        source, pod = self.source, plan.pod
        if source is None or pod is None:
            return
        for d, result in zip(plan.delegates, results, strict=True):
            if not result.interfaces and not result.ips:
                continue
            ips = " ".join(ip.address for ip in result.ips)
            try:
                source.post_event(
                    pod, "Normal", "AddedInterface", f"Add {d.ifname} [{ips}] from {d.network}"
                )
            except CniError as exc:
                self.log.child(network=d.network).warning(f"event not posted: {exc}")

    def _event_no_network(self, exc: NadNotFound) -> None:
        source = self.source
        if source is None or not self.k8s.name:
            return
        pod = PodInfo(namespace=self.k8s.namespace, name=self.k8s.name, uid=self.k8s.uid)
        with contextlib.suppress(CniError):
            source.post_event(pod, "Warning", "NoNetworkFound", exc.msg)

    def _rollback(self, plan: Plan, added: list[Delegate]) -> None:
        """DEL what was added, newest first; keep the delegate cache if anything failed
        so the runtime's own DEL can try again."""
        from pymultus.engine.chain import del_network_list

        clean = True
        for d in reversed(added):
            try:
                del_network_list(self.engine, d.conf, self.runtime(d))
            except CniError as exc:
                clean = False
                self.log.child(network=d.network).error(f"rollback DEL failed: {exc}")
        if clean:
            self._forget(self.req.container_id)

    # -- DEL ----------------------------------------------------------------------------

    def delete(self) -> None:
        from pymultus.engine.chain import aggregate
        from pymultus.engine.chain import del_network_list

        req = self.req
        clock = _Clock()
        self.wait_ready(once=True)
        with self.engine.cache.lock(req.container_id, release=True):
            delegates, complete = self._delegates_for_delete()
            clock.mark("delegate-list")
            errors: list[CniError] = []
            for d in reversed(delegates):
                dlog = self.log.child(network=d.network)
                dlog.debug(f"DEL {d.cni_name} on {d.ifname}")
                try:
                    del_network_list(self.engine, d.conf, self.runtime(d))
                except CniError as exc:
                    dlog.error(f"DEL failed: {exc}")
                    errors.append(
                        exc.with_prefix(
                            f"{_label(self.k8s.pod_ref, d.network)}: error deleting network "
                            f'"{d.cni_name}" ({d.ifname}): '
                        )
                    )
                clock.mark(f"delegate:{d.ifname}")
                if d.device_info_file:
                    with contextlib.suppress(OSError):
                        os.unlink(d.device_info_file)
            if errors:
                keep = self.conf.retry_delete_on_error and not any(
                    "no such file or directory" in str(e).lower() for e in errors
                )
                if not keep:
                    self.scratch.remove(req.container_id)
                raise aggregate(errors)
            self._forget(req.container_id)
        self.log.verbose(f"timing DEL: {clock}")
        if not complete:
            raise CniError(
                TRY_AGAIN_LATER,
                f"{_label(self.k8s.pod_ref, '')}: the delegate cache was unusable and the "
                "Kubernetes API unreachable: deleted the networks known from the netconf, but "
                "the pod's other networks may remain; retry when the API is back",
            )

    def _delegates_for_delete(self) -> tuple[list[Delegate], bool]:
        """The delegates to delete, and whether that list can be trusted to be
        complete. It cannot when the delegate cache existed but was unreadable, the API
        could not be asked, and the result cache knows of no attachment either: ADD got
        somewhere, and only the API can say where."""
        req = self.req
        corrupt = False
        try:
            cached = self.scratch.load(req.container_id)
        except CacheCorrupt as exc:
            self.log.error(f"{exc}; re-deriving the delegates from the API and the result cache")
            cached = None
            corrupt = True
        if cached is not None:
            return cached.delegates, True
        plan = build_plan(
            self.conf,
            cni_args=req.env.args,
            ifname=req.ifname,
            container_id=req.container_id,
            source=self.source,
            tolerant=True,
        )
        for problem in plan.problems:
            self.log.error(f"re-deriving the delegates: {problem}")
        delegates = list(plan.delegates)
        found = self._from_result_cache(req.container_id, delegates, req.ifname)
        return delegates, not (corrupt and plan.api_unreachable and found == 0)

    def _from_result_cache(self, container_id: str, delegates: list[Delegate], ifname: str) -> int:
        """Merge the libcni result cache into ``delegates``: a known attachment takes the
        exact config it was added with; an unknown one is appended (or put first when
        it is the cluster interface). Returns how many entries were found."""
        entries = [a for a in self.engine.cache.attachments() if a.container_id == container_id]
        by_key = {(d.cni_name, d.ifname): d for d in delegates}
        for entry in entries:
            try:
                net = NetworkConfigList.from_bytes(entry.config, source="libcni result cache")
            except CniError as exc:
                self.log.error(f"cached attachment {entry.network}/{entry.ifname}: {exc}")
                continue
            known = by_key.get((entry.network, entry.ifname))
            if known is not None:
                known.conf = net
                known.cni_args = list(entry.cni_args)
                known.runtime_config = dict(entry.capability_args or {})
                continue
            d = _delegate_from_attachment(entry, net, len(delegates))
            if entry.ifname == ifname and not any(x.ifname == ifname for x in delegates):
                delegates.insert(0, d)
            else:
                delegates.append(d)
            self.log.verbose(f"DEL of {entry.network} on {entry.ifname} from the result cache")
        return len(entries)

    # -- CHECK --------------------------------------------------------------------------

    def check(self) -> None:
        from pymultus.engine.chain import check_network_list

        cached = self.scratch.load(self.req.container_id)
        if cached is not None:
            delegates = cached.delegates
        else:
            plan = build_plan(
                self.conf,
                cni_args=self.req.env.args,
                ifname=self.req.ifname,
                container_id=self.req.container_id,
                source=self.source,
            )
            delegates = plan.delegates
        for d in delegates:
            dlog = self.log.child(network=d.network)
            if not cniversion.greater_or_equal(d.conf.cni_version or "0.1.0", "0.4.0"):
                dlog.verbose(f"CHECK skipped: {d.cni_name} is version {d.conf.cni_version}")
                continue
            try:
                check_network_list(self.engine, d.conf, self.runtime(d))
            except CniError as exc:
                raise exc.with_prefix(
                    f"{_label(self.k8s.pod_ref, d.network)}: error checking network "
                    f'"{d.cni_name}" ({d.ifname}): '
                ) from exc

    # -- STATUS / GC ---------------------------------------------------------------------

    def _network_delegates(self) -> list[Delegate]:
        plan = build_plan(self.conf, source=self.source, pod_networks=False, fetch=False)
        return plan.delegates

    def status(self) -> None:
        from pymultus.engine.chain import status_network_list

        self.wait_ready()
        for d in self._network_delegates():
            status_network_list(self.engine, d.conf)

    def gc(self) -> None:
        from pymultus.engine.chain import RuntimeConf
        from pymultus.engine.chain import del_network_list
        from pymultus.engine.chain import gc_network_list

        self.wait_ready()
        cache = self.engine.cache
        valid = self.conf.valid_attachments
        errors: list[str] = []
        if valid is None:
            self.log.warning("GC without cni.dev/valid-attachments: nothing is treated as stale")
        else:
            keep = {cid for cid, _ in valid}
            entries = cache.attachments()
            stale = {a.container_id for a in entries if a.container_id not in keep}
            stale |= {c for c in self.scratch.container_ids() if c not in keep}
            for cid in sorted(stale):
                failed = False
                with cache.lock(cid, release=True):
                    for d, netns in self._stale_delegates(cid, entries):
                        rt = RuntimeConf(cid, netns, d.ifname, tuple(d.cni_args), d.runtime_config)
                        try:
                            del_network_list(self.engine, d.conf, rt)
                        except CniError as exc:
                            failed = True
                            errors.append(
                                f"failed to delete stale attachment {cid} {d.ifname}: {exc}"
                            )
                    if not failed:
                        self._forget(cid)
        # Plugin-level GC for every network still in use, with its valid attachments.
        networks: dict[str, NetworkConfigList] = {
            d.conf.name: d.conf for d in self._network_delegates()
        }
        remaining = cache.attachments()
        for entry in remaining:
            if entry.network not in networks:
                with contextlib.suppress(CniError):
                    networks[entry.network] = NetworkConfigList.from_bytes(entry.config)
        for name, net in networks.items():
            attached = [(a.container_id, a.ifname) for a in remaining if a.network == name]
            try:
                gc_network_list(self.engine, net, attached)
            except CniError as exc:
                errors.append(str(exc))
        if errors:
            raise CniError(999, "\n".join(errors))

    def _stale_delegates(
        self, cid: str, entries: Sequence[CachedAttachment]
    ) -> list[tuple[Delegate, str]]:
        """A stale container's delegates, newest first, with the netns they were in."""
        delegates: list[Delegate] = []
        netns = ""
        try:
            cached = self.scratch.load(cid)
        except CacheCorrupt as exc:
            self.log.error(f"GC: {exc}; using the result cache")
            cached = None
        if cached is not None:
            delegates = list(cached.delegates)
            netns = cached.netns
        by_key = {(d.cni_name, d.ifname) for d in delegates}
        for entry in entries:
            if entry.container_id != cid or (entry.network, entry.ifname) in by_key:
                continue
            try:
                net = NetworkConfigList.from_bytes(entry.config)
            except CniError:
                continue
            delegates.append(_delegate_from_attachment(entry, net, len(delegates)))
            netns = netns or entry.netns
        return [(d, netns) for d in reversed(delegates)]


class _Clock:
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


def _label(pod_ref: str, network: str) -> str:
    return f"[{pod_ref or '/'}:{network}]" if network else f"[{pod_ref or '/'}]"


def _delegate_from_attachment(
    entry: CachedAttachment, net: NetworkConfigList, index: int
) -> Delegate:
    return Delegate(
        index=index,
        ifname=entry.ifname,
        network=entry.network,
        origin="cache",
        source="libcni result cache",
        conf=net,
        runtime_config=dict(entry.capability_args or {}),
        cni_args=list(entry.cni_args),
    )


def _read_device_info(path: str) -> dict[str, Any] | None:
    if not path:
        return None
    import json

    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None
