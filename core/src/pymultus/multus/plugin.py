"""The meta-plugin (CNI type ``pymultus``): runs a pod's networks as Multus does.

This module is the entry point only, and imports nothing of the meta-plugin: a
``VERSION`` call (or a registry resolving the type) pays for this class alone. Each
verb imports its module when it runs:

- ADD: :mod:`pymultus.multus.add` (plan, delegates, routes, network-status, events;
  rollback of everything on failure);
- DEL: :mod:`pymultus.multus.delete` (delegate cache, else the plan re-derived from the
  API, merged with the libcni result cache; every delegate attempted, every failure
  reported);
- CHECK: :mod:`pymultus.multus.check`; STATUS and GC: :mod:`pymultus.multus.gcstatus`;
  all covering every delegate, not only the cluster network;
- what they share (netconf, log, chain executor, Kubernetes source, readiness wait):
  :mod:`pymultus.multus.call`.

Error codes: 4 bad CNI_ARGS / missing netns; 7 configuration, annotation, NAD, isolation,
ECMP or interface-name conflicts, or a delegate of the meta-plugin's own type; 2 a
capability the network does not declare; 11 the API unreachable (or 5xx through the
retry budget) or the readiness file missing; 110 other API failures (401/403, UID
mismatch); a delegate's own code passes through, prefixed with
``[namespace/pod/uid:network]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pymultus.cni import version as cniversion

if TYPE_CHECKING:
    from pymultus.cni.result import Result
    from pymultus.plugin import Request


class MultusPlugin:
    """Entry point ``pymultus`` in the ``pymultus.plugins`` group."""

    cni_versions = cniversion.ALL_VERSIONS

    def add(self, req: Request) -> Result:
        from pymultus.multus.add import add
        from pymultus.multus.call import Call

        with Call(req) as call:
            return add(call)

    def delete(self, req: Request) -> None:
        from pymultus.multus.call import Call
        from pymultus.multus.delete import delete

        with Call(req) as call:
            delete(call)

    def check(self, req: Request) -> None:
        from pymultus.multus.call import Call
        from pymultus.multus.check import check

        with Call(req) as call:
            check(call)

    def status(self, req: Request) -> None:
        from pymultus.multus.call import Call
        from pymultus.multus.gcstatus import status

        with Call(req) as call:
            status(call)

    def gc(self, req: Request) -> None:
        from pymultus.multus.call import Call
        from pymultus.multus.gcstatus import gc

        with Call(req) as call:
            gc(call)
