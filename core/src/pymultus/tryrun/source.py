"""The Kubernetes source ``try`` hands the meta-plugin: the manifests, with the NADs
adapted to the throwaway world.

It wraps any :class:`~pymultus.multus.k8s.KubeSource` (the manifest backend) and
changes, in the NADs it returns, only what cannot work in a throwaway namespace:

* the ``master`` of macvlan/ipvlan/vlan-style plugins (and a host-device's
  ``device``) becomes a throwaway veth in the private host namespace (or the
  ``--master`` interface); a macvlan/ipvlan without ``master`` gets one, since the
  throwaway host has no default route to pick one from;
* a ``host-local`` IPAM without ``dataDir`` keeps its leases in the work directory.

Each NAD is adapted once and cached, so the plan made before the run (which decides
the masters to create) and the ADD itself see the same configuration. Every change
is recorded in :attr:`TrySource.changes` for the report. Writes (network-status,
events) go to the wrapped source and are recorded here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import Any

from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.k8s import PodInfo

#: plugin type -> the key naming its host-side interface.
MASTER_KEYS = {
    "macvlan": "master",
    "ipvlan": "master",
    "vlan": "master",
    "macvtap": "master",
    "host-device": "device",
}
#: Types that pick the default-route interface when ``master`` is absent.
DEFAULT_MASTER_TYPES = frozenset({"macvlan", "ipvlan"})


@dataclass(frozen=True)
class Change:
    """One adaptation of a NAD for the throwaway world."""

    network: str
    plugin: str
    key: str
    before: str | None
    after: str

    def describe(self) -> str:
        before = "(none)" if self.before is None else self.before
        return f"{self.network}: {self.plugin} {self.key} {before} -> {self.after}"

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "plugin": self.plugin,
            "key": self.key,
            "from": self.before,
            "to": self.after,
        }


@dataclass
class TrySource:
    """A :class:`KubeSource` over ``inner`` with the NADs adapted (see the module)."""

    inner: KubeSource
    #: original master name (``""`` when absent) -> the interface to use instead;
    #: ``None``: leave masters alone.
    master_for: Callable[[str, str], str] | None
    #: Where host-local keeps leases when a NAD does not say.
    host_local_dir: str
    changes: list[Change] = field(default_factory=list)
    network_status: str | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    _nads: dict[tuple[str, str], NadInfo | None] = field(default_factory=dict)

    def get_pod(self, namespace: str, name: str) -> PodInfo | None:
        return self.inner.get_pod(namespace, name)

    def get_nad(self, namespace: str, name: str) -> NadInfo | None:
        key = (namespace, name)
        if key not in self._nads:
            nad = self.inner.get_nad(namespace, name)
            self._nads[key] = None if nad is None else self._adapt(nad)
        return self._nads[key]

    def update_network_status(self, namespace: str, name: str, uid: str, value: str) -> None:
        self.inner.update_network_status(namespace, name, uid, value)
        self.network_status = value

    def post_event(self, pod: PodInfo, event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))
        self.inner.post_event(pod, event_type, reason, message)

    # -- adapting a NAD ------------------------------------------------------------------

    def _adapt(self, nad: NadInfo) -> NadInfo:
        try:
            obj = json.loads(nad.config) if nad.config.strip() else None
        except ValueError:
            obj = None  # the meta-plugin reports the bad JSON with its own words
        if not isinstance(obj, dict):
            return nad
        plugins = obj.get("plugins")
        targets = (
            [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else [obj]
        )
        before = len(self.changes)
        for plugin in targets:
            self._adapt_plugin(nad.ref, plugin)
        if len(self.changes) == before:
            return nad
        return replace(nad, config=json.dumps(obj, indent=2))

    def _adapt_plugin(self, network: str, plugin: dict[str, Any]) -> None:
        ptype = plugin.get("type")
        ptype = ptype if isinstance(ptype, str) else ""
        key = MASTER_KEYS.get(ptype, "master" if isinstance(plugin.get("master"), str) else "")
        if key and self.master_for is not None and not (key == "device" and "device" not in plugin):
            current = plugin.get(key)
            if isinstance(current, str) or (current is None and ptype in DEFAULT_MASTER_TYPES):
                original = current if isinstance(current, str) else ""
                new = self.master_for(network, original)
                if new != original:
                    plugin[key] = new
                    self.changes.append(Change(network, ptype, key, current, new))
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "host-local" and not ipam.get("dataDir"):
            ipam["dataDir"] = self.host_local_dir
            self.changes.append(Change(network, ptype, "ipam.dataDir", None, self.host_local_dir))
