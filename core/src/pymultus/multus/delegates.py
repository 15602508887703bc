"""From a network reference to a runnable delegate: config, ifname, runtimeConfig, CNI_ARGS.

A :class:`Delegate` is one network attachment of a pod: the conflist to run, the
interface name it gets, where it came from (``cluster``, ``default``, ``annotation`` or
``auxiliary`` origin: :mod:`pymultus.multus.auxchain`), and exactly what the runtime side of libcni hands it (capability arguments
and CNI_ARGS). Everything here is pure except reading configuration files from
``confDir`` / the paths the netconf names, and asking a :class:`KubeSource` for NADs.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import UNSUPPORTED_FIELD
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import loads_object
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.annotations import RESOURCE_NAME_ANNOTATION
from pymultus.multus.annotations import NetworkSelection
from pymultus.multus.k8s import KubeSource
from pymultus.multus.k8s import NadInfo
from pymultus.multus.netconf import conf_error
from pymultus.multus.netconf import parse_network_config

ORIGINS: Final = ("cluster", "default", "annotation", "auxiliary")
CONF_EXTENSIONS: Final = (".conf", ".json", ".conflist")
DEVICE_INFO_DIR: Final = "/var/run/k8s.cni.cncf.io/devinfo"

#: Selection key → (runtimeConfig key, capability that must be declared for it).
CAPABILITY_KEYS: Final = (
    ("ips", "ips"),
    ("mac", "mac"),
    ("infiniband-guid", "infinibandGUID"),
    ("portMappings", "portMappings"),
    ("bandwidth", "bandwidth"),
)


@dataclass
class Delegate:
    """One network attachment of the pod, ready to run through the chain executor."""

    index: int
    ifname: str
    #: The name events and network-status use: ``ns/nad`` for NADs, else the CNI name.
    network: str
    origin: str
    #: Where the configuration came from, for people (a NAD, a file, the netconf).
    source: str
    conf: NetworkConfigList
    #: Capability arguments libcni filters into each plugin's ``runtimeConfig``.
    runtime_config: dict[str, Any] = field(default_factory=dict)
    cni_args: list[tuple[str, str]] = field(default_factory=list)
    selection: NetworkSelection | None = None
    #: ``default-route`` request: ``None`` when not given.
    default_route: list[str] | None = None
    resource_name: str = ""
    device_info_file: str = ""

    @property
    def master(self) -> bool:
        return self.index == 0

    @property
    def cni_name(self) -> str:
        """The CNI network name: the libcni result-cache key."""
        return self.conf.name

    def plugin_stdin(
        self, plugin_index: int, prev_result: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The exact object plugin ``plugin_index`` of the chain receives on stdin (ADD;
        later plugins also get the previous one's result, known only at run time)."""
        from pymultus.engine.chain import build_plugin_config

        return build_plugin_config(
            self.conf.plugins[plugin_index],
            self.conf.name,
            self.conf.cni_version,
            prev_result,
            self.runtime_config,
        )

    # -- the delegate cache (see pymultus.multus.scratch) --------------------------------

    def to_cache(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "ifname": self.ifname,
            "network": self.network,
            "origin": self.origin,
            "source": self.source,
            "config": base64.b64encode(self.conf.raw).decode(),
            "runtimeConfig": self.runtime_config,
            "cniArgs": [list(p) for p in self.cni_args],
            "defaultRoute": self.default_route,
            "resourceName": self.resource_name,
            "deviceInfoFile": self.device_info_file,
        }

    @classmethod
    def from_cache(cls, obj: Any) -> Delegate:
        """Rebuild from the cache; ``ValueError`` for anything malformed."""
        if not isinstance(obj, dict):
            raise ValueError("delegate entry is not an object")
        try:
            raw = base64.b64decode(obj["config"], validate=True)
            conf = NetworkConfigList.from_bytes(raw, source="delegate cache")
            args = [(str(k), str(v)) for k, v in obj.get("cniArgs") or []]
            rc = obj.get("runtimeConfig") or {}
            route = obj.get("defaultRoute")
            if not isinstance(rc, dict) or (route is not None and not isinstance(route, list)):
                raise ValueError("bad runtimeConfig or defaultRoute")
            return cls(
                index=int(obj["index"]),
                ifname=str(obj["ifname"]),
                network=str(obj["network"]),
                origin=str(obj.get("origin", "")),
                source=str(obj.get("source", "")),
                conf=conf,
                runtime_config=rc,
                cni_args=args,
                default_route=[str(g) for g in route] if route is not None else None,
                resource_name=str(obj.get("resourceName", "")),
                device_info_file=str(obj.get("deviceInfoFile", "")),
            )
        except (KeyError, TypeError, ValueError, CniError) as exc:
            raise ValueError(f"unusable delegate entry: {exc}") from None


# -- configuration files ------------------------------------------------------------------------


def _load_file(path: Path) -> NetworkConfigList:
    """A conf or conflist file; a conflist also gets its "safe subdirectory" plugins."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise conf_error(f"error reading CNI config file {path}: {exc.strerror or exc}") from None
    try:
        obj = loads_object(data, "CNI config file")
    except ValueError as exc:
        raise conf_error(
            f"Error loading CNI config file {path}: error parsing configuration: {exc}"
        ) from None
    where = f"CNI config file {path}"
    if path.suffix == ".conflist":
        merged = _with_subdirectory_plugins(path, obj)
        if merged is not None:
            return parse_network_config(merged, where, source=str(path))
        return parse_network_config(obj, where, data, str(path))
    if obj.get("type") in (None, ""):
        raise conf_error(
            f"Error loading CNI config file {path}: no 'type'; perhaps this is supposed to be a "
            ".conflist?"
        )
    return parse_network_config(obj, where, data, str(path))


def _with_subdirectory_plugins(path: Path, obj: dict[str, Any]) -> dict[str, Any] | None:
    """libcni's subdirectory chains: plugin confs in ``<dir>/<list name>/`` are appended
    (unless ``loadOnlyInlinedPlugins``). ``None`` when there is nothing to add."""
    name = obj.get("name")
    if not isinstance(name, str) or not name or obj.get("loadOnlyInlinedPlugins") is True:
        return None
    extra = subdirectory_plugins(path.parent, name)
    if not extra:
        return None
    merged = dict(obj)
    merged["plugins"] = list(obj.get("plugins") or []) + extra
    return merged


def subdirectory_plugins(directory: Path, name: str) -> list[dict[str, Any]]:
    """The plugin confs in ``directory/name/``, as libcni's ``NetworkPluginConfsFromFiles``
    reads them: ``*.conf`` files only, in filename order, each an object with a
    ``type``; none when the directory does not exist, an error when it cannot be read."""
    subdir = directory / name
    try:
        entries = sorted(os.listdir(subdir))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise conf_error(f"error loading chained plugins from {subdir}: {exc.strerror}") from None
    extra: list[dict[str, Any]] = []
    for entry in entries:
        file = subdir / entry
        if not entry.endswith(".conf") or file.is_dir():
            continue
        try:
            plugin = loads_object(file.read_bytes(), "plugin conf")
        except (OSError, ValueError) as exc:
            raise conf_error(f"error loading chained plugin {file}: {exc}") from None
        if not isinstance(plugin.get("type"), str) or not plugin["type"]:
            raise conf_error(f"error loading chained plugin {file}: missing 'type'")
        extra.append(plugin)
    return extra


def conf_files(directory: str) -> list[Path]:
    """``.conf``, ``.json`` and ``.conflist`` files of a directory, in filename order."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [Path(directory, n) for n in names if n.endswith(CONF_EXTENSIONS)]


def find_conf_by_name(directory: str, name: str) -> NetworkConfigList | None:
    """The first config file in ``directory`` whose ``name`` is ``name``; an unparsable
    file met before it is an error, as in Multus."""
    files = conf_files(directory)
    if not files:
        raise conf_error(f"No networks found in {directory}")
    for path in files:
        net = _load_file(path)
        if net.name == name:
            return net
    return None


def load_path(path: str) -> NetworkConfigList:
    """``clusterNetwork``/``defaultNetworks`` given as a path: a directory (its first
    config file), a ``.conflist`` or a single conf."""
    p = Path(path)
    if p.is_dir():
        files = conf_files(path)
        if not files:
            raise conf_error(f"No networks found in {path}")
        return _load_file(files[0])
    if not p.exists():
        raise conf_error(f"network configuration {path} does not exist")
    return _load_file(p)


# -- NADs ----------------------------------------------------------------------------------------


def conf_from_nad(nad: NadInfo, conf_dir: str) -> NetworkConfigList:
    """A NAD's CNI config: ``spec.config``, or the file in ``confDir`` named like the
    NAD when ``spec.config`` is empty; a missing ``name`` becomes the NAD's name."""
    where = f"network-attachment-definition {nad.ref}"
    if nad.config.strip() == "":
        net = find_conf_by_name(conf_dir, nad.name)
        if net is None:
            raise conf_error(
                f"{where} has an empty spec.config and no config named {nad.name!r} is in {conf_dir}"
            )
        return net
    data = nad.config.encode()
    try:
        obj = loads_object(data, "spec.config")
    except ValueError as exc:
        raise conf_error(f"{where}: spec.config is not valid JSON: {exc}") from None
    if not obj.get("name"):
        obj = {**obj, "name": nad.name}
        data = b""
    return parse_network_config(obj, where, data, f"NetworkAttachmentDefinition {nad.ref}")


def nad_delegate_conf(
    source: KubeSource | None, namespace: str, name: str, conf_dir: str
) -> tuple[NetworkConfigList, NadInfo]:
    """Look a NAD up and load its config; a missing NAD is a clear error."""
    if source is None:
        raise conf_error(
            f"network {namespace}/{name} needs the Kubernetes API, but the netconf has no "
            "kubeconfig and no in-cluster credentials are available"
        )
    nad = source.get_nad(namespace, name)
    if nad is None:
        raise NadNotFound(namespace, name)
    return conf_from_nad(nad, conf_dir), nad


class NadNotFound(CniError):
    def __init__(self, namespace: str, name: str) -> None:
        super().__init__(
            INVALID_NETWORK_CONFIG,
            f"cannot find a network-attachment-definition ({name}) in namespace ({namespace}): "
            f'network-attachment-definitions.k8s.cni.cncf.io "{name}" not found',
        )
        self.namespace = namespace
        self.name = name


def resolve_network_ref(
    value: str, namespace: str, source: KubeSource | None, conf_dir: str
) -> tuple[NetworkConfigList, str, str, str]:
    """``clusterNetwork``/``defaultNetworks`` entry → (conf, status name, source
    description, resourceName). A value with ``/`` is a path; otherwise the NAD
    ``namespace/value`` (on any error: the config named ``value`` in ``confDir``)."""
    if "/" in value:
        net = load_path(value)
        return net, net.name, f"file {net.source or value}", ""
    nad_error: CniError | None = None
    if source is not None:
        try:
            net, nad = nad_delegate_conf(source, namespace, value, conf_dir)
            return (
                net,
                f"{namespace}/{value}",
                f"NetworkAttachmentDefinition {namespace}/{value}",
                nad.annotations.get(RESOURCE_NAME_ANNOTATION, ""),
            )
        except CniError as exc:
            nad_error = exc
    try:
        net_or_none = find_conf_by_name(conf_dir, value)
    except CniError as exc:
        net_or_none = None
        file_error: CniError | None = exc
    else:
        file_error = None
    if net_or_none is not None:
        return net_or_none, net_or_none.name, f"file {net_or_none.source}", ""
    reasons = [str(e) for e in (nad_error, file_error) if e is not None]
    raise conf_error(
        f"cannot find network {value!r}: no NetworkAttachmentDefinition {namespace}/{value} "
        f"and no config named {value!r} in {conf_dir}",
        "; ".join(reasons),
    )


# -- per-delegate arguments -----------------------------------------------------------------------


def inject_cni_args(
    net: NetworkConfigList, cni_args: dict[str, Any], where: str
) -> NetworkConfigList:
    """``cni-args`` of the selection merged into ``args.cni`` of every plugin (the
    selection wins per key)."""

    def merged(plugin: dict[str, Any]) -> dict[str, Any]:
        args = plugin.get("args")
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise conf_error(f'{where}: "args" of the config is not an object')
        cni = args.get("cni")
        if cni is None:
            cni = {}
        if not isinstance(cni, dict):
            raise conf_error(f'{where}: "args.cni" of the config is not an object')
        return {**plugin, "args": {**args, "cni": {**cni, **cni_args}}}

    obj = json.loads(net.raw) if net.raw else net.to_dict()
    if "plugins" in obj and obj.get("type") in (None, ""):
        obj["plugins"] = [merged(p) if isinstance(p, dict) else p for p in obj["plugins"]]
    else:
        obj = merged(obj)
    return parse_network_config(obj, where, source=net.source)


def check_capabilities(net: NetworkConfigList, sel: NetworkSelection, network: str) -> None:
    """The spec's rule (Multus skips it): a selection asking for ``ips``, ``mac``, ... is
    an error unless some plugin of the network declares that capability."""
    declared: set[str] = set()
    for plugin in net.plugins:
        caps = plugin.get("capabilities")
        if isinstance(caps, dict):
            declared.update(k for k, v in caps.items() if v is True)
    asked = {
        "ips": bool(sel.ips),
        "mac": bool(sel.mac),
        "infiniband-guid": bool(sel.infiniband_guid),
        "portMappings": bool(sel.port_mappings),
        "bandwidth": sel.bandwidth is not None,
    }
    for key, cap in CAPABILITY_KEYS:
        if asked[key] and cap not in declared:
            raise CniError(
                UNSUPPORTED_FIELD,
                f'network {network}: the pod asks for "{key}" but no plugin of the network '
                f'declares the "{cap}" capability, so no plugin would receive it',
                f'add "capabilities": {{"{cap}": true}} to the plugin that should apply it '
                f"(annotation element {sel.index}: {sel.text})",
            )


def selection_runtime_config(base: dict[str, Any], sel: NetworkSelection | None) -> dict[str, Any]:
    """Multus's ``mergeCNIRuntimeConfig`` for a non-cluster delegate."""
    rc = dict(base)
    if sel is None:
        return rc
    if sel.port_mappings:
        rc["portMappings"] = sel.port_mappings
    if sel.bandwidth is not None:
        rc["bandwidth"] = sel.bandwidth
    if sel.ips:
        rc["ips"] = list(sel.ips)
    if sel.mac:
        rc["mac"] = sel.mac
    if sel.infiniband_guid:
        rc["infinibandGUID"] = sel.infiniband_guid
    if sel.device_id:
        rc["deviceID"] = sel.device_id
    return rc


def device_info_path(network: str, container_id: str, ifname: str) -> str:
    """Where Multus tells a device plugin's CNI to write its device-info file."""
    return os.path.join(
        DEVICE_INFO_DIR, "cni", f"{network}-{container_id}_{ifname}".replace("/", "-")
    )


def delegate_cni_args(
    base: Sequence[tuple[str, str]],
    runtime_pairs: Sequence[tuple[str, str]],
    sel: NetworkSelection | None,
) -> list[tuple[str, str]]:
    """CNI_ARGS as Multus builds them: its five pod keys first (``IgnoreUnknown``
    first), then the runtime's own pairs (filling an empty key, else appended), then the
    legacy ``MAC``/``IP`` of the selection.

    Unlike Multus, a runtime pair that repeats one already there (same key and value, or
    a true ``IgnoreUnknown``) is not appended again: kubelet passes the very pod keys
    Multus puts first, and the doubled list only confused people reading it."""
    args = [list(p) for p in base]
    for key, value in runtime_pairs:
        if [key, value] in args or (
            key == "IgnoreUnknown"
            and value.lower() in ("1", "true")
            and ["IgnoreUnknown", "true"] in args
        ):
            continue
        for pair in args:
            if pair[0] == key and pair[1] == "" and value != "":
                pair[1] = value
                break
        else:
            args.append([key, value])
    if sel is not None:
        if sel.mac:
            args.append(["MAC", sel.mac])
        if sel.ips:
            args.append(["IP", ",".join(sel.ips)])
    return [(k, v) for k, v in args]
