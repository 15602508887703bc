"""The network selection annotations of a pod, in both of Multus's forms.

``k8s.v1.cni.cncf.io/networks`` is either a comma list (``a, ns/b, c@net5``) or a JSON
list of selection objects; ``v1.multus-cni.io/default-network`` uses the same grammar
and names the pod's cluster network. Parsing is pure. Every error names the pod, the
annotation and the offending element, and the whole ADD fails on it, as in Multus.

Beyond Multus: ``gateway`` is accepted as an alias of ``default-route`` (the seed
example uses it; Multus ignores it silently).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from typing import Final

from pymultus.cni.env import validate_ifname
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import go_json_error
from pymultus.cni.jsonenc import json_type_name
from pymultus.net.gotypes import parse_cidr
from pymultus.net.gotypes import parse_ip
from pymultus.net.gotypes import parse_mac

NETWORKS_ANNOTATION: Final = "k8s.v1.cni.cncf.io/networks"
DEFAULT_NETWORK_ANNOTATION: Final = "v1.multus-cni.io/default-network"
NETWORK_STATUS_ANNOTATION: Final = "k8s.v1.cni.cncf.io/network-status"
RESOURCE_NAME_ANNOTATION: Final = "k8s.v1.cni.cncf.io/resourceName"
CONFIG_SOURCE_ANNOTATION: Final = "kubernetes.io/config.source"

#: DNS-1123 label: what the short form allows for namespaces, names and ifnames.
_DNS1123: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass
class NetworkSelection:
    """One element of a selection annotation (``NetworkSelectionElement``)."""

    name: str
    namespace: str
    interface: str = ""
    #: ``None`` when absent; a list (possibly empty) when given.
    ips: list[str] | None = None
    mac: str = ""
    infiniband_guid: str = ""
    port_mappings: list[dict[str, Any]] | None = None
    bandwidth: dict[str, Any] | None = None
    device_id: str = ""
    cni_args: dict[str, Any] | None = None
    #: ``default-route`` (or its alias ``gateway``): ``None`` when absent.
    default_route: list[str] | None = None
    #: Position in the annotation, and the element as written (for messages).
    index: int = 0
    text: str = ""

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


class AnnotationError(CniError):
    """A selection annotation that cannot be used; the message names pod, annotation
    and element."""

    def __init__(self, pod: str, key: str, problem: str, element: str = "") -> None:
        where = f"pod {pod}: annotation {key}"
        if element:
            where += f": {element}"
        super().__init__(INVALID_NETWORK_CONFIG, f"{where}: {problem}")
        self.pod = pod
        self.key = key
        self.element = element
        self.problem = problem


# -- validation helpers (Go's net.ParseMAC / ParseIP / ParseCIDR, libcni's ifname rules) --


def is_mac(text: str) -> bool:
    """Go ``net.ParseMAC`` accepts ``text`` (6, 8 or 20 bytes)."""
    try:
        parse_mac(text)
    except ValueError:
        return False
    return True


def is_cidr(text: str) -> bool:
    """Go ``net.ParseCIDR`` accepts ``text``."""
    return parse_cidr(text) is not None


#: :func:`validate_ifname`'s rules, worded for an annotation (naming the value).
_IFNAME_PROBLEMS: Final = {
    "interface name is too long": "is longer than 15 characters",
    "interface name is . or ..": "is . or ..",
    "interface name contains / or : or whitespace characters": "contains / or : or whitespace",
}


def ifname_problem(ifname: str) -> str:
    """Why ``ifname`` cannot be an interface name (libcni's rules), or ``""``."""
    try:
        validate_ifname(ifname)
    except CniError as exc:
        return f"interface name {ifname!r} {_IFNAME_PROBLEMS.get(exc.msg, exc.msg)}"
    return ""


# -- the two forms ------------------------------------------------------------------------


def is_json_form(value: str) -> bool:
    """Multus's rule: any of ``[``, ``{``, ``"`` means JSON."""
    return any(ch in value for ch in '[{"')


def parse_selection_annotation(
    value: str, *, default_namespace: str, pod: str, key: str = NETWORKS_ANNOTATION
) -> list[NetworkSelection]:
    """Parse a selection annotation; elements without a namespace get
    ``default_namespace``."""
    if value.strip() == "":
        return []
    if is_json_form(value):
        return _parse_json(value, default_namespace, pod, key)
    return _parse_short(value, default_namespace, pod, key)


def parse_default_network(
    value: str, *, multus_namespace: str, pod: str
) -> NetworkSelection | None:
    """``v1.multus-cni.io/default-network``: at most one element; its namespace
    defaults to ``multusNamespace``."""
    key = DEFAULT_NETWORK_ANNOTATION
    nets = parse_selection_annotation(value, default_namespace=multus_namespace, pod=pod, key=key)
    if len(nets) > 1:
        raise AnnotationError(pod, key, "more than one default network is specified")
    return nets[0] if nets else None


def _parse_short(value: str, default_ns: str, pod: str, key: str) -> list[NetworkSelection]:
    out: list[NetworkSelection] = []
    for index, raw in enumerate(value.split(",")):
        item = raw.strip()
        element = f"element {index} ({json.dumps(item)})"
        if item == "":
            raise AnnotationError(pod, key, "empty network name", element)
        slash = item.split("/")
        if len(slash) > 2:
            raise AnnotationError(pod, key, "invalid network object (failed at '/')", element)
        namespace, rest = (slash[0].strip(), slash[1]) if len(slash) == 2 else ("", slash[0])
        at = rest.split("@")
        if len(at) > 2:
            raise AnnotationError(pod, key, "invalid network object (failed at '@')", element)
        name = at[0].strip()
        ifname = at[1].strip() if len(at) == 2 else ""
        for part, what in ((namespace, "namespace"), (name, "name")):
            if part and not _DNS1123.match(part):
                raise AnnotationError(
                    pod,
                    key,
                    f"{what} {part!r} is not a DNS-1123 label (lower case alphanumerics and "
                    "'-', starting and ending alphanumerically); use the JSON form for other names",
                    element,
                )
        if name == "":
            raise AnnotationError(pod, key, "empty network name", element)
        if ifname:
            problem = ifname_problem(ifname)
            if problem:
                raise AnnotationError(pod, key, problem, element)
        out.append(
            NetworkSelection(
                name=name,
                namespace=namespace or default_ns,
                interface=ifname,
                index=index,
                text=item,
            )
        )
    return out


def _parse_json(value: str, default_ns: str, pod: str, key: str) -> list[NetworkSelection]:
    try:
        doc = json.loads(value)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            pod,
            key,
            "failed to parse pod Network Attachment Selection Annotation JSON format: "
            + go_json_error(exc, value),
        ) from None
    if not isinstance(doc, list):
        raise AnnotationError(
            pod,
            key,
            "failed to parse pod Network Attachment Selection Annotation JSON format: "
            f"expected a list of network selection objects, got {json_type_name(doc, article=True)}",
        )
    return [_element(obj, i, default_ns, pod, key) for i, obj in enumerate(doc)]


def _element(obj: Any, index: int, default_ns: str, pod: str, key: str) -> NetworkSelection:
    if not isinstance(obj, dict):
        raise AnnotationError(
            pod,
            key,
            f"must be a network selection object, got {json_type_name(obj, article=True)}",
            f"element {index}",
        )
    label = obj.get("name") if isinstance(obj.get("name"), str) else ""
    element = f"element {index} ({json.dumps(label)})"

    def fail(problem: str) -> AnnotationError:
        return AnnotationError(pod, key, problem, element)

    def string(field: str) -> str:
        v = obj.get(field)
        if v is None:
            return ""
        if not isinstance(v, str):
            raise fail(f'"{field}" must be a string, got {json_type_name(v, article=True)}')
        return v

    def str_list(field: str) -> list[str] | None:
        v = obj.get(field)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            shown = (
                json_type_name(v, article=True)
                if not isinstance(v, list)
                else "a list holding a non-string"
            )
            raise fail(f'"{field}" must be a list of strings, got {shown} ({json.dumps(v)})')
        return list(v)

    name = string("name")
    if name == "":
        raise fail('"name" is missing or empty')
    namespace = string("namespace") or default_ns
    interface = string("interface") or string("interfaceRequest")
    if interface:
        problem = ifname_problem(interface)
        if problem:
            raise fail(problem)
    ips = str_list("ips")
    for ip in ips or ():
        if "/" in ip:
            if not is_cidr(ip):
                raise fail(f'"ips": failed to parse CIDR {ip!r}')
        elif parse_ip(ip) is None:
            raise fail(f'"ips": failed to parse IP address {ip!r}')
    mac = string("mac")
    if mac and not is_mac(mac):
        raise fail(f'"mac": failed to parse MAC address {mac!r}')
    guid = string("infiniband-guid")
    if guid and not is_mac(guid):
        raise fail(f'"infiniband-guid": failed to validate infiniband GUID {guid!r}')
    default_route = _default_route(obj, fail)
    return NetworkSelection(
        name=name,
        namespace=namespace,
        interface=interface,
        ips=ips,
        mac=mac,
        infiniband_guid=guid,
        port_mappings=_port_mappings(obj.get("portMappings"), fail),
        bandwidth=_bandwidth(obj.get("bandwidth"), fail),
        device_id=string("deviceID"),
        cni_args=_cni_args(obj.get("cni-args"), fail),
        default_route=default_route,
        index=index,
        text=json.dumps(obj, separators=(",", ":"), sort_keys=True),
    )


def _default_route(obj: dict[str, Any], fail: Any) -> list[str] | None:
    routes: dict[str, list[str]] = {}
    for field in ("default-route", "gateway"):
        v = obj.get(field)
        if v is None:
            continue
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise fail(f'"{field}" must be a list of IP addresses, got {json.dumps(v)}')
        parsed = [parse_ip(gw) for gw in v]
        for gw, ip in zip(v, parsed, strict=True):
            if ip is None:
                raise fail(f'"{field}": {gw!r} is not an IP address')
        routes[field] = [str(ip) for ip in parsed]
    if len(routes) == 2 and routes["default-route"] != routes["gateway"]:
        raise fail('"gateway" is an alias of "default-route"; both are given with different values')
    return next(iter(routes.values()), None)


def _int_field(entry: dict[str, Any], field: str, where: str, fail: Any) -> None:
    v = entry.get(field)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or int(v) != v:
        raise fail(f'"{where}.{field}" must be an integer, got {json.dumps(v)}')


def _port_mappings(value: Any, fail: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise fail(
            f'"portMappings" must be a list of objects, got {json_type_name(value, article=True)}'
        )
    out: list[dict[str, Any]] = []
    for i, entry in enumerate(value):
        where = f"portMappings[{i}]"
        if not isinstance(entry, dict):
            raise fail(f'"{where}" must be an object, got {json_type_name(entry, article=True)}')
        for field in ("hostPort", "containerPort"):
            _int_field(entry, field, where, fail)
        for field in ("protocol", "hostIP"):
            if field in entry and entry[field] is not None and not isinstance(entry[field], str):
                raise fail(f'"{where}.{field}" must be a string, got {json.dumps(entry[field])}')
        out.append(dict(entry))
    return out


def _bandwidth(value: Any, fail: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f'"bandwidth" must be an object, got {json_type_name(value, article=True)}')
    for field in ("ingressRate", "ingressBurst", "egressRate", "egressBurst"):
        _int_field(value, field, "bandwidth", fail)
    return dict(value)


def _cni_args(value: Any, fail: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise fail(f'"cni-args" must be an object, got {json_type_name(value, article=True)}')
    return dict(value)
