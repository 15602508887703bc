"""The meta-plugin's CHECK: every delegate of the container (the delegate cache, else
the plan), not only the cluster network; networks older than 0.4.0 are skipped."""

from __future__ import annotations

from pymultus.cni import version as cniversion
from pymultus.cni.errors import CniError
from pymultus.multus.auxchain import ORIGIN as AUX_ORIGIN
from pymultus.multus.call import Call
from pymultus.multus.call import label


def check(call: Call) -> None:
    from pymultus.engine.chain import check_network_list

    cached = call.scratch.load(call.req.container_id)
    delegates = cached.delegates if cached is not None else call.plan().delegates
    for d in delegates:
        dlog = call.log.child(network=d.network)
        if d.origin == AUX_ORIGIN:
            # As Multus: its passthru makes no interface, so there is nothing on net<N>
            # for its plugins to check.
            dlog.verbose(f"CHECK skipped: {d.cni_name} is the auxiliary chain")
            continue
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
