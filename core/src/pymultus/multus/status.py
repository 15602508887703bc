"""The ``k8s.v1.cni.cncf.io/network-status`` annotation, in Multus's JSON shape.

One entry per pod-side interface of each delegate's result: ``name`` (``ns/nad``, or
the CNI name for the cluster network from a file), ``interface``, ``ips`` (without
prefix), ``mac``, ``mtu``, ``default`` (only ``true``, on the cluster network), ``dns``
(always, ``{}`` when empty), ``device-info``, ``gateway``. The value is the entries,
each indented by 4 spaces, joined by ``,`` inside ``[...]`` — byte for byte what the
Go client writes. Unlike Multus, ``gateway`` shows the default routes actually in the
pod after ``default-route`` was applied, not what the plugin first returned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from pymultus.cni.jsonenc import dumps_indent
from pymultus.cni.result import Result


def _ip_only(cidr: str) -> str:
    return cidr.split("/", 1)[0]


def _dns(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.dns.nameservers:
        out["nameservers"] = list(result.dns.nameservers)
    if result.dns.domain:
        out["domain"] = result.dns.domain
    if result.dns.search:
        out["search"] = list(result.dns.search)
    if result.dns.options:
        out["options"] = list(result.dns.options)
    return out


def result_gateways(result: Result) -> list[str]:
    """Gateways of the default routes a result declares (Multus's ``gateway``)."""
    return [r.gw for r in result.routes if r.is_default and r.gw]


def entries_for(
    network: str,
    result: Result,
    *,
    default: bool,
    installed: Mapping[str, list[str]] | None = None,
    device_info: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Status entries of one delegate's result.

    ``installed``: default-route gateways per interface as read from the pod after the
    route fix-ups; ``None`` when nothing was changed (then the result's routes count).
    """
    sandboxed = [i for i, iface in enumerate(result.interfaces) if iface.sandbox]
    if not result.interfaces:
        return []  # Multus writes nothing for a result without interfaces
    if len(result.interfaces) == 1:
        groups = {0: list(result.ips)}
        slots = [0]
    else:
        slots = sandboxed
        groups = {i: [] for i in slots}
        for ip in result.ips:
            if ip.interface in groups:
                groups[ip.interface].append(ip)
            elif slots:
                groups[slots[-1]].append(ip)
    out: list[dict[str, Any]] = []
    for n, slot in enumerate(slots):
        iface = result.interfaces[slot]
        entry: dict[str, Any] = {"name": network}
        if iface.sandbox:
            entry["interface"] = iface.name
        ips = [_ip_only(ip.address) for ip in groups[slot]]
        if ips:
            entry["ips"] = ips
        if iface.sandbox and iface.mac:
            entry["mac"] = iface.mac
        if iface.sandbox and iface.mtu:
            entry["mtu"] = iface.mtu
        if default and n == 0:
            entry["default"] = True
        entry["dns"] = _dns(result)
        if device_info:
            entry["device-info"] = device_info
        if installed is not None:
            gws = list(installed.get(iface.name, []))
        else:
            gws = result_gateways(result) if n == 0 else []
        if gws:
            entry["gateway"] = gws
        out.append(entry)
    return out


def render(entries: Sequence[Mapping[str, Any]]) -> str:
    """The annotation value, formatted as the Go client formats it."""
    return "[" + ",".join(dumps_indent(dict(e)) for e in entries) + "]"


def parse(value: str) -> list[dict[str, Any]]:
    """Read an annotation value back (tests, the dry-run)."""
    doc = json.loads(value)
    if not isinstance(doc, list):
        raise ValueError("network-status is not a list")
    return [e for e in doc if isinstance(e, dict)]
