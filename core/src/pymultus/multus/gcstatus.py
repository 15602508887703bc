"""The meta-plugin's STATUS and GC (CNI 1.1.0), covering every network of the netconf.

GC works from one snapshot of the caches: the containers not in
``cni.dev/valid-attachments`` are stale, and each one's delegates (delegate cache plus
result cache, :func:`~pymultus.multus.delete.stale_delegates`) are deleted under its
lock. Then every network still in use gets the plugin-level GC with the attachments
it still has (:func:`~pymultus.engine.chain.gc_plugins`). The executor's own stale pass
(:func:`~pymultus.engine.chain.delete_stale_attachments`) is not run: it would list the
cache again and delete what an ADD attached after the snapshot.
"""

from __future__ import annotations

import contextlib

from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.call import Call
from pymultus.multus.delegates import Delegate
from pymultus.multus.plan import build_plan


def network_delegates(call: Call) -> list[Delegate]:
    """The networks of the netconf (cluster, defaults or ``delegates``), no pod's."""
    plan = build_plan(call.conf, source=call.source, pod_networks=False, fetch=False)
    return plan.delegates


def status(call: Call) -> None:
    from pymultus.engine.chain import status_network_list

    call.wait_ready()
    for d in network_delegates(call):
        status_network_list(call.engine, d.conf)


def gc(call: Call) -> None:
    from pymultus.engine.chain import RuntimeConf
    from pymultus.engine.chain import del_network_list
    from pymultus.engine.chain import gc_plugins
    from pymultus.multus.delete import stale_delegates

    call.wait_ready()
    cache = call.engine.cache
    valid = call.conf.valid_attachments
    errors: list[str] = []
    if valid is None:
        call.log.warning("GC without cni.dev/valid-attachments: nothing is treated as stale")
    else:
        keep = {cid for cid, _ in valid}
        entries = cache.attachments()
        stale = {a.container_id for a in entries if a.container_id not in keep}
        stale |= {c for c in call.scratch.container_ids() if c not in keep}
        for cid in sorted(stale):
            failed = False
            with cache.lock(cid, release=True):
                for d, netns in stale_delegates(call, cid, entries):
                    rt = RuntimeConf(cid, netns, d.ifname, tuple(d.cni_args), d.runtime_config)
                    try:
                        del_network_list(call.engine, d.conf, rt)
                    except CniError as exc:
                        failed = True
                        errors.append(f"failed to delete stale attachment {cid} {d.ifname}: {exc}")
                if not failed:
                    call.forget(cid)
    # Plugin-level GC for every network still in use, with its valid attachments.
    networks: dict[str, NetworkConfigList] = {d.conf.name: d.conf for d in network_delegates(call)}
    remaining = cache.attachments()
    for entry in remaining:
        if entry.network not in networks:
            with contextlib.suppress(CniError):
                networks[entry.network] = NetworkConfigList.from_bytes(entry.config)
    for name, net in networks.items():
        attached = [(a.container_id, a.ifname) for a in remaining if a.network == name]
        try:
            gc_plugins(call.engine, net, attached)
        except CniError as exc:
            errors.append(str(exc))
    if errors:
        raise CniError(999, "\n".join(errors))
