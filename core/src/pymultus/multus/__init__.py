"""The Multus-style meta-plugin (CNI type ``pymultus``).

Planning, pure (touches no kernel, reads NADs/pods through a ``KubeSource``):
:mod:`~pymultus.multus.netconf` (the netconf keys), :mod:`~pymultus.multus.annotations`
(selection annotations), :mod:`~pymultus.multus.k8s` (``KubeSource`` and the live API),
:mod:`~pymultus.multus.delegates` (network → delegate), :mod:`~pymultus.multus.routes`
(default-route plan), :mod:`~pymultus.multus.status` (network-status) and
:mod:`~pymultus.multus.plan` (``build_plan``: all of it for one pod).

Execution: :mod:`~pymultus.multus.plugin` (``MultusPlugin``: ADD/DEL/CHECK/STATUS/GC),
:mod:`~pymultus.multus.scratch` (the delegate cache), :mod:`~pymultus.multus.podns`
(interface names in the pod), :mod:`~pymultus.multus.log`.

Nothing is imported here: the CNI binary pays only for the modules a call uses.
"""
