"""The meta-plugin's CHECK: every delegate of the container (the delegate cache, else
the plan), not only the cluster network; networks older than 0.4.0 are skipped."""

from __future__ import annotations

from pymultus.cni import version as cniversion
from pymultus.cni.errors import CniError
from pymultus.multus.call import Call
from pymultus.multus.call import label
from pymultus.multus.plan import build_plan


def check(call: Call) -> None:
    from pymultus.engine.chain import check_network_list

    req = call.req
    cached = call.scratch.load(req.container_id)
    if cached is not None:
        delegates = cached.delegates
    else:
        plan = build_plan(
            call.conf,
            cni_args=req.env.args,
            ifname=req.ifname,
            container_id=req.container_id,
            source=call.source,
        )
        delegates = plan.delegates
    for d in delegates:
        dlog = call.log.child(network=d.network)
        if not cniversion.greater_or_equal(d.conf.cni_version or "0.1.0", "0.4.0"):
            dlog.verbose(f"CHECK skipped: {d.cni_name} is version {d.conf.cni_version}")
            continue
        try:
            check_network_list(call.engine, d.conf, call.runtime(d))
        except CniError as exc:
            raise exc.with_prefix(
                f"{label(call.k8s.pod_ref, d.network)}: error checking network "
                f'"{d.cni_name}" ({d.ifname}): '
            ) from exc
