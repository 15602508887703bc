"""The meta-plugin's ADD.

netconf → (readiness file) → pod and NADs → plan (:mod:`pymultus.multus.plan`) →
interface-name check in the pod → delegate cache written → each delegate through the
chain executor (Python plugin or binary; its libcni result cache written already with
the default-route changes the plan makes, see :mod:`pymultus.multus.routes`) → the
cluster result checked against the netconf's cniVersion → default-route fix-ups →
network-status on ``pods/status`` →
``AddedInterface`` events → the cluster network's result. Any failure up to and
including the status write deletes every delegate already added (reverse order)
before the error is returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.multus.call import Call
from pymultus.multus.call import Clock
from pymultus.multus.delegates import Delegate
from pymultus.multus.delegates import NadNotFound
from pymultus.multus.k8s import PodGone
from pymultus.multus.k8s import PodInfo
from pymultus.multus.plan import Plan


def empty_result(ifname: str, cni_version: str) -> Result:
    """Multus's answer for a pod that is gone: one interface, address 0.0.0.0/0."""
    return Result(
        cni_version=cni_version or "0.1.0",
        interfaces=[Interface(name=ifname)],
        ips=[IPConfig(address="0.0.0.0/0", gateway="0.0.0.0")],
    )


def add(call: Call) -> Result:
    req, conf = call.req, call.conf
    clock = Clock()
    call.wait_ready()
    clock.mark("readiness")
    try:
        plan = call.plan()
    except NadNotFound as exc:
        _event_no_network(call, exc)
        call.log.error(str(exc))
        raise
    except CniError as exc:
        call.log.error(str(exc))
        raise
    if plan.pod_missing:
        call.log.verbose(f"pod {plan.pod_ref} not found: returning the empty result")
        return empty_result(req.ifname, conf.cni_version)
    clock.mark("plan")
    for line in plan.routes.describe():
        call.log.debug(f"default-route plan: {line}")
    _check_ifnames(call, plan)
    clock.mark("ifname-check")
    with call.engine.cache.lock(req.container_id):
        call.scratch.save(
            req.container_id,
            netns=req.netns,
            ifname=req.ifname,
            pod=plan.pod_ref,
            pod_uid=plan.pod.uid if plan.pod else call.k8s.uid,
            delegates=plan.delegates,
        )
        clock.mark("cache-write")
        added: list[Delegate] = []
        #: Delegates whose cached result could not be edited when it was written: the
        #: edit is done (and its error raised) after the routes, as it always was.
        unedited: list[Delegate] = []
        try:
            results = _add_all(call, plan, added, clock, unedited)
            _check_answer(call, plan, results[0])
            installed = _routes(call, plan, unedited)
            clock.mark("routes")
            _write_status(call, plan, results, installed)
            clock.mark("status")
        except BaseException as exc:
            if isinstance(exc, CniError):
                call.log.error(f"ADD failed: {exc}; deleting {len(added)} added delegate(s)")
            _rollback(call, added)
            raise
    _events(call, plan, results)
    clock.mark("events")
    call.log.verbose(f"timing ADD: {clock}")
    return results[0]


def _check_ifnames(call: Call, plan: Plan) -> None:
    from pymultus.multus.podns import link_names

    existing = link_names(call.req.netns)
    for d in plan.delegates:
        if d.ifname in existing:
            ptype = d.conf.plugins[0].get("type", "")
            raise CniError(
                INVALID_NETWORK_CONFIG,
                f'{plan.label(d.network)}: cannot set "{ptype}" interface name to '
                f'"{d.ifname}": validateIfName: interface name {d.ifname} already exists',
                f"netns {call.req.netns} already has {d.ifname}; request another "
                '"interface" in the network selection',
            )


def _cache_editor(
    plan: Plan, d: Delegate, unedited: list[Delegate]
) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """What ``d``'s chain caches: its result with the plan's default-route changes."""
    if not plan.routes:
        return None
    from pymultus.multus.routes import edited_result

    def edit(result: dict[str, Any]) -> dict[str, Any]:
        try:
            edited = edited_result(plan.routes, d, result)
        except CniError:
            unedited.append(d)
            return result
        return result if edited is None else edited

    return edit


def _add_all(
    call: Call, plan: Plan, added: list[Delegate], clock: Clock, unedited: list[Delegate]
) -> list[Result]:
    from pymultus.engine.chain import add_network_list

    results: list[Result] = []
    for d in plan.delegates:
        dlog = call.log.child(network=d.network)
        dlog.debug(f"ADD {d.cni_name} on {d.ifname} ({d.origin}, {d.source})")
        try:
            out = add_network_list(
                call.engine,
                d.conf,
                call.runtime(d),
                cache_result=_cache_editor(plan, d, unedited),
            )
        except CniError as exc:
            raise exc.with_prefix(
                f'{plan.label(d.network)}: error adding container to network "{d.cni_name}" '
                f"({d.ifname}): "
            ) from exc
        clock.mark(f"delegate:{d.ifname}")
        added.append(d)
        result = Result.from_json(out, d.conf.cni_version)
        if dlog.enabled("verbose"):  # the result is not encoded for a line nobody writes
            dlog.verbose(f"Add: {d.ifname} result {dumps_compact(out)}")
        results.append(result)
    return results


def _check_answer(call: Call, plan: Plan, result: Result) -> None:
    """The runtime gets the cluster network's result in the netconf's cniVersion; a
    result that cannot be said in that version (a 0.2.0 netconf and a delegate with
    interfaces but no address) must fail the ADD here, where it still rolls back, not
    after every delegate was added and the network-status written."""
    version = call.conf.cni_version or "0.1.0"
    try:
        result.to_json(version)
    except CniError as exc:
        d = plan.delegates[0]
        raise exc.with_prefix(
            f'{plan.label(d.network)}: the result of network "{d.cni_name}" ({d.ifname}) '
            f"cannot be returned as cniVersion {version}: "
        ) from exc


def _routes(call: Call, plan: Plan, unedited: list[Delegate]) -> dict[str, list[str]] | None:
    if not plan.routes:
        return None
    from pymultus.multus.routes import apply_routes
    from pymultus.multus.routes import edit_cached_results

    applied = apply_routes(plan.routes, call.req.netns)
    for ifname, gw in applied.removed:
        call.log.verbose(f"default-route: removed default via {gw or '-'} dev {ifname}")
    for ifname, gw in applied.added:
        call.log.verbose(f"default-route: added default via {gw} dev {ifname}")
    if unedited:
        edit_cached_results(plan.routes, unedited, call.engine.cache, call.req.container_id)
    return applied.gateways


def _write_status(
    call: Call, plan: Plan, results: Sequence[Result], installed: dict[str, list[str]] | None
) -> None:
    source, pod = call.source, plan.pod
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
        call.log.warning(f"{exc}: network-status not written")
        return
    if call.log.enabled("debug"):
        call.log.debug(f"network-status written: {dumps_compact(entries)}")


def _events(call: Call, plan: Plan, results: Sequence[Result]) -> None:
    source, pod = call.source, plan.pod
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
            call.log.child(network=d.network).warning(f"event not posted: {exc}")


def _event_no_network(call: Call, exc: NadNotFound) -> None:
    source = call.source
    if source is None or not call.k8s.name:
        return
    pod = PodInfo(namespace=call.k8s.namespace, name=call.k8s.name, uid=call.k8s.uid)
    with contextlib.suppress(CniError):
        source.post_event(pod, "Warning", "NoNetworkFound", exc.msg)


def _rollback(call: Call, added: list[Delegate]) -> None:
    """DEL what was added, newest first; keep the delegate cache if anything failed
    so the runtime's own DEL can try again."""
    from pymultus.engine.chain import del_network_list

    clean = True
    for d in reversed(added):
        try:
            del_network_list(call.engine, d.conf, call.runtime(d))
        except CniError as exc:
            clean = False
            call.log.child(network=d.network).error(f"rollback DEL failed: {exc}")
    if clean:
        call.forget(call.req.container_id)


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
