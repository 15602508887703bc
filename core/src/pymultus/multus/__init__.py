"""The Multus-style meta-plugin (CNI type ``pymultus``).

Planning, pure (touches no kernel, reads NADs/pods through a ``KubeSource``):
:mod:`~pymultus.multus.netconf` (the netconf keys), :mod:`~pymultus.multus.annotations`
(selection annotations), :mod:`~pymultus.multus.k8s` (``KubeSource`` and its data;
the live API in :mod:`~pymultus.multus.k8s_live`, an in-memory source for tests in
:mod:`~pymultus.multus.k8s_memory`), :mod:`~pymultus.multus.delegates` (network →
delegate), :mod:`~pymultus.multus.routes`
(default-route plan), :mod:`~pymultus.multus.status` (network-status) and
:mod:`~pymultus.multus.plan` (``build_plan``: all of it for one pod).

Execution: :mod:`~pymultus.multus.plugin` (``MultusPlugin``, the entry point; imports
nothing until a verb runs), one module per verb — :mod:`~pymultus.multus.add`,
:mod:`~pymultus.multus.delete` (with the recovery of a container's attachments from the
caches), :mod:`~pymultus.multus.check`, :mod:`~pymultus.multus.gcstatus` — and what they
share, :mod:`~pymultus.multus.call` (netconf, log, chain executor, Kubernetes source);
:mod:`~pymultus.multus.scratch` (the delegate cache), :mod:`~pymultus.multus.podns`
(interface names in the pod), :mod:`~pymultus.multus.log` and
:mod:`~pymultus.multus.logbridge` (the process's ``logging`` records into the call's log).
Thick mode: :mod:`~pymultus.multus.thick` (the daemon's setup and warm clients),
:mod:`~pymultus.multus.thick_cache` (list+watch caches),
:mod:`~pymultus.multus.thick_workers` (background threads),
:mod:`~pymultus.multus.cache_source`, :mod:`~pymultus.multus.hotplug` (``/delegate``).

Manifests, for the CLI's ``dry-run``/``validate``/``try`` (never on the CNI path):
:mod:`~pymultus.multus.manifests` is the facade the commands import from; the work is in
:mod:`~pymultus.multus.manifest_location` (locations, problems),
:mod:`~pymultus.multus.manifest_objects` (documents, objects, kinds),
:mod:`~pymultus.multus.manifest_reader` (files, stdin, YAML/JSON streams, Lists),
:mod:`~pymultus.multus.manifest_infos` (``PodInfo``/``NadInfo`` of an object) and
:mod:`~pymultus.multus.manifest_source` (``ManifestSource``, the recording ``KubeSource``).

Nothing is imported here: the CNI binary pays only for the modules a call uses.
"""
