"""The meta-plugin's DEL, and the recovery of what a container has attached.

DEL deletes, newest first, every delegate of the container: the delegate cache written
at ADD (else the plan re-derived from the API), merged with the libcni result cache —
so attachments the delegate cache does not know of (hot-plugged through the daemon's
``/delegate``, or added by an ADD whose delegate cache was lost) are deleted too.
Every delegate is attempted and every failure reported.

GC (:mod:`pymultus.multus.gcstatus`) recovers a stale container's delegates the same
way (:func:`stale_delegates`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pymultus.cni.errors import TRY_AGAIN_LATER
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.call import Call
from pymultus.multus.call import Clock
from pymultus.multus.call import label
from pymultus.multus.delegates import Delegate
from pymultus.multus.scratch import CacheCorrupt

if TYPE_CHECKING:
    from pymultus.engine.cache import CachedAttachment


def delete(call: Call) -> None:
    from pymultus.engine.chain import aggregate
    from pymultus.engine.chain import del_network_list

    req = call.req
    clock = Clock()
    call.wait_ready(once=True)
    with call.engine.cache.lock(req.container_id, release=True):
        delegates, complete = delegates_for_delete(call)
        clock.mark("delegate-list")
        errors: list[CniError] = []
        for d in reversed(delegates):
            dlog = call.log.child(network=d.network)
            dlog.debug(f"DEL {d.cni_name} on {d.ifname}")
            try:
                del_network_list(call.engine, d.conf, call.runtime(d))
            except CniError as exc:
                dlog.error(f"DEL failed: {exc}")
                errors.append(
                    exc.with_prefix(
                        f"{label(call.k8s.pod_ref, d.network)}: error deleting network "
                        f'"{d.cni_name}" ({d.ifname}): '
                    )
                )
            clock.mark(f"delegate:{d.ifname}")
            if d.device_info_file:
                with contextlib.suppress(OSError):
                    os.unlink(d.device_info_file)
        if errors:
            keep = call.conf.retry_delete_on_error and not any(
                "no such file or directory" in str(e).lower() for e in errors
            )
            if not keep:
                call.scratch.remove(req.container_id)
            raise aggregate(errors)
        call.forget(req.container_id)
    call.log.verbose(f"timing DEL: {clock}")
    if not complete:
        raise CniError(
            TRY_AGAIN_LATER,
            f"{label(call.k8s.pod_ref, '')}: the delegate cache was unusable and the "
            "Kubernetes API unreachable: deleted the networks known from the netconf, but "
            "the pod's other networks may remain; retry when the API is back",
        )


def delegates_for_delete(call: Call) -> tuple[list[Delegate], bool]:
    """The delegates to delete, and whether that list can be trusted to be complete.
    It cannot when the delegate cache existed but was unreadable, the API could not be
    asked, and the result cache knows of no attachment either: ADD got somewhere, and
    only the API can say where."""
    req = call.req
    corrupt = False
    try:
        cached = call.scratch.load(req.container_id)
    except CacheCorrupt as exc:
        call.log.error(f"{exc}; re-deriving the delegates from the API and the result cache")
        cached = None
        corrupt = True
    if cached is not None:
        delegates = list(cached.delegates)
        merge_result_cache(call, delegates, req.ifname, adopt=False)
        return delegates, True
    # Not the auxiliary chain: without the pod's networks its index (so its ifname) is
    # unknown; the libcni result cache below still holds it, on the right interface.
    plan = call.plan(tolerant=True, auxiliary=False)
    for problem in plan.problems:
        call.log.error(f"re-deriving the delegates: {problem}")
    delegates = list(plan.delegates)
    found = merge_result_cache(call, delegates, req.ifname, adopt=True)
    return delegates, not (corrupt and plan.api_unreachable and found == 0)


def merge_result_cache(call: Call, delegates: list[Delegate], ifname: str, *, adopt: bool) -> int:
    """Merge this container's entries of the libcni result cache into ``delegates``
    (same network name and interface = the same attachment). An unknown one is
    appended (or put first when it is the cluster interface and nothing has that
    name); with ``adopt``, a known one takes the exact config, CNI_ARGS and capability
    arguments it was added with (a re-derived plan may differ from what ADD ran).
    Returns how many entries the container has."""
    container_id = call.req.container_id
    entries = call.engine.cache.attachments(container_id=container_id)
    by_key = {(d.cni_name, d.ifname): d for d in delegates}
    for entry in entries:
        known = by_key.get((entry.network, entry.ifname))
        if known is not None and not adopt:
            continue
        try:
            net = NetworkConfigList.from_bytes(entry.config, source="libcni result cache")
        except CniError as exc:
            call.log.error(f"cached attachment {entry.network}/{entry.ifname}: {exc}")
            continue
        if known is not None:
            known.conf = net
            known.cni_args = list(entry.cni_args)
            known.runtime_config = dict(entry.capability_args or {})
            continue
        d = delegate_from_attachment(entry, net, len(delegates))
        if entry.ifname == ifname and not any(x.ifname == ifname for x in delegates):
            delegates.insert(0, d)
        else:
            delegates.append(d)
        by_key[(entry.network, entry.ifname)] = d
        call.log.verbose(f"DEL of {entry.network} on {entry.ifname} from the result cache")
    return len(entries)


def stale_delegates(
    call: Call, cid: str, entries: Sequence[CachedAttachment]
) -> list[tuple[Delegate, str]]:
    """A stale container's delegates (GC), newest first, with the netns they were in:
    its delegate cache, plus its result-cache entries in ``entries`` not in it."""
    delegates: list[Delegate] = []
    netns = ""
    try:
        cached = call.scratch.load(cid)
    except CacheCorrupt as exc:
        call.log.error(f"GC: {exc}; using the result cache")
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
        delegates.append(delegate_from_attachment(entry, net, len(delegates)))
        netns = netns or entry.netns
    return [(d, netns) for d in reversed(delegates)]


def delegate_from_attachment(
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
