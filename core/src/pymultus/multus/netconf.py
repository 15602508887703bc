"""The meta-plugin's own configuration (the netconf a runtime hands to type ``pymultus``).

Every key Multus reads, with Multus's defaults and mutual exclusions, so a node can
switch by changing ``"type": "multus"`` to ``"type": "pymultus"``. Parsing is pure: no
file, no API, no netns is touched. A key of the wrong JSON type is an error naming the
key; unknown keys are ignored, as Multus ignores them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import json_type_name
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.logfile import RotationPolicy

DEFAULT_CNI_DIR: Final = "/var/lib/cni/multus"
DEFAULT_CONF_DIR: Final = "/etc/cni/multus/net.d"
DEFAULT_BIN_DIR: Final = "/opt/cni/bin"
DEFAULT_MULTUS_NAMESPACE: Final = "kube-system"
DEFAULT_GLOBAL_NAMESPACES: Final = ("default",)
DEFAULT_SYSTEM_NAMESPACES: Final = ("kube-system",)

#: Log levels, most verbose first (Multus: debug > verbose > error > panic).
LOG_LEVELS: Final = ("debug", "verbose", "error", "panic")

#: The runtimeConfig keys Multus understands; the rest of a runtime's capability
#: arguments reach only the cluster network (see :func:`runtime_config_for_secondary`).
MULTUS_RUNTIME_KEYS: Final = (
    "portMappings",
    "bandwidth",
    "ips",
    "mac",
    "infinibandGUID",
    "deviceID",
    "CNIDeviceInfoFile",
)

#: Types that are this meta-plugin: a delegate of one of these would call itself.
SELF_TYPES: Final = frozenset({"pymultus", "pymultus-shim"})


def conf_error(msg: str, details: str = "") -> CniError:
    return CniError(INVALID_NETWORK_CONFIG, msg, details)


def _want(obj: dict[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
    """``obj[key]`` if present with the right JSON type, ``None`` if absent or null."""
    if key not in obj or obj[key] is None:
        return None
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise conf_error(f'failed to load netconf: "{key}" must be {what}, got boolean')
    if not isinstance(value, kind):
        raise conf_error(
            f'failed to load netconf: "{key}" must be {what}, got {json_type_name(value)}'
        )
    return value


def _str(obj: dict[str, Any], key: str, default: str = "") -> str:
    value = _want(obj, key, str, "a string")
    return default if value is None else str(value)


def _bool(obj: dict[str, Any], key: str, default: bool = False) -> bool:
    value = _want(obj, key, bool, "true or false")
    return default if value is None else bool(value)


def _str_list(obj: dict[str, Any], key: str, default: tuple[str, ...] = ()) -> list[str]:
    value = _want(obj, key, list, "a list of strings")
    if value is None:
        return list(default)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise conf_error(
                f'failed to load netconf: "{key}"[{i}] must be a string, got {json_type_name(item)}'
            )
    return list(value)


def _dict(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = _want(obj, key, dict, "an object")
    return {} if value is None else dict(value)


def _log_rotation(options: dict[str, Any], warnings: list[str]) -> RotationPolicy:
    """``logOptions``: ``maxSize`` (MB), ``maxAge`` (days), ``maxBackups``, ``compress``.
    A value of the wrong type fails as Go's JSON decoding fails; a negative number (Go
    takes it, lumberjack then misbehaves) is a warning and the default, as a bad
    ``logLevel`` is."""

    def count(key: str, default: int) -> int:
        value = options.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise conf_error(
                f'failed to load netconf: "logOptions.{key}" must be a whole number, '
                f"got {json.dumps(value)}"
            )
        if value < 0:
            warnings.append(f"logOptions.{key} {value} is negative; using {default}")
            return default
        return value

    compress = options.get("compress", True)
    if not isinstance(compress, bool):
        raise conf_error(
            f'failed to load netconf: "logOptions.compress" must be true or false, '
            f"got {json.dumps(compress)}"
        )
    return RotationPolicy(
        max_size_mb=count("maxSize", 100),
        max_age_days=count("maxAge", 5),
        max_backups=count("maxBackups", 5),
        compress=compress,
    )


@dataclass
class MultusConf:
    """The parsed netconf. Field names follow Multus's keys (see the module docstring)."""

    cni_version: str
    name: str
    type: str
    cluster_network: str = ""
    default_networks: list[str] = field(default_factory=list)
    #: Inline delegates (only when ``clusterNetwork`` is empty: Multus ignores them
    #: otherwise); the first one is the cluster network.
    delegates: list[NetworkConfigList] = field(default_factory=list)
    kubeconfig: str = ""
    conf_dir: str = DEFAULT_CONF_DIR
    cni_dir: str = DEFAULT_CNI_DIR
    bin_dir: str = DEFAULT_BIN_DIR
    log_file: str = ""
    log_level: str = "panic"
    log_to_stderr: bool = True
    log_options: dict[str, Any] = field(default_factory=dict)
    #: ``logOptions`` as the log file's rotation (Multus's defaults when absent).
    log_rotation: RotationPolicy = field(default_factory=RotationPolicy)
    namespace_isolation: bool = False
    global_namespaces: list[str] = field(default_factory=lambda: list(DEFAULT_GLOBAL_NAMESPACES))
    system_namespaces: list[str] = field(default_factory=lambda: list(DEFAULT_SYSTEM_NAMESPACES))
    multus_namespace: str = DEFAULT_MULTUS_NAMESPACE
    readiness_indicator_file: str = ""
    retry_delete_on_error: bool = False
    auxiliary_cni_chain_name: str = ""
    capabilities: dict[str, Any] = field(default_factory=dict)
    runtime_config: dict[str, Any] = field(default_factory=dict)
    #: ``cni.dev/valid-attachments`` (GC): ``None`` when the runtime sent none.
    valid_attachments: list[tuple[str, str]] | None = None
    #: Problems that do not stop the call (an unknown log level), for the log.
    warnings: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def has_cluster_source(self) -> bool:
        return bool(self.cluster_network or self.delegates)


def load_netconf(config: dict[str, Any]) -> MultusConf:
    """Parse the meta-plugin's netconf (already decoded from stdin)."""
    conf = MultusConf(
        cni_version=_str(config, "cniVersion"),
        name=_str(config, "name"),
        type=_str(config, "type"),
        raw=config,
    )
    conf.cluster_network = _str(config, "clusterNetwork")
    conf.default_networks = _str_list(config, "defaultNetworks")
    conf.kubeconfig = _str(config, "kubeconfig")
    conf.conf_dir = _str(config, "confDir", DEFAULT_CONF_DIR) or DEFAULT_CONF_DIR
    conf.cni_dir = _str(config, "cniDir", DEFAULT_CNI_DIR) or DEFAULT_CNI_DIR
    conf.bin_dir = _str(config, "binDir", DEFAULT_BIN_DIR) or DEFAULT_BIN_DIR
    conf.log_file = _str(config, "logFile")
    level = _str(config, "logLevel").lower()
    if level in LOG_LEVELS:
        conf.log_level = level
    elif level:
        conf.warnings.append(f"cannot set logging level to {level}; keeping panic")
    conf.log_to_stderr = _bool(config, "logToStderr", True)
    conf.log_options = _dict(config, "logOptions")
    conf.log_rotation = _log_rotation(conf.log_options, conf.warnings)
    conf.namespace_isolation = _bool(config, "namespaceIsolation")
    conf.global_namespaces = _global_namespaces(config)
    conf.system_namespaces = _str_list(config, "systemNamespaces", DEFAULT_SYSTEM_NAMESPACES)
    conf.multus_namespace = (
        _str(config, "multusNamespace", DEFAULT_MULTUS_NAMESPACE) or DEFAULT_MULTUS_NAMESPACE
    )
    conf.readiness_indicator_file = _str(config, "readinessindicatorfile")
    conf.retry_delete_on_error = _bool(config, "retryDeleteOnError")
    conf.auxiliary_cni_chain_name = _str(config, "auxiliaryCNIChainName")
    conf.capabilities = _dict(config, "capabilities")
    conf.runtime_config = _dict(config, "runtimeConfig")
    conf.valid_attachments = _valid_attachments(config)

    raw_delegates = _want(config, "delegates", list, "a list of network configurations")
    if not raw_delegates and not conf.cluster_network:
        raise conf_error("at least one delegate/clusterNetwork must be specified")
    if not conf.cluster_network:
        assert raw_delegates is not None
        conf.delegates = [load_delegate(d, i) for i, d in enumerate(raw_delegates)]
    return conf


def _global_namespaces(config: dict[str, Any]) -> list[str]:
    """``globalNamespaces`` is a comma list in Multus; a JSON list is accepted too."""
    value = config.get("globalNamespaces")
    if value is None or value == "":
        return list(DEFAULT_GLOBAL_NAMESPACES)
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")]
    return _str_list(config, "globalNamespaces")


def _valid_attachments(config: dict[str, Any]) -> list[tuple[str, str]] | None:
    value = config.get("cni.dev/valid-attachments", config.get("cni.dev/attachments"))
    if value is None:
        return None
    if not isinstance(value, list):
        raise conf_error('failed to load netconf: "cni.dev/valid-attachments" must be a list')
    out: list[tuple[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str):
            raise conf_error(
                f'failed to load netconf: "cni.dev/valid-attachments"[{i}] must be an object '
                'with "containerID" and "ifname"'
            )
        ifname = item.get("ifname", "")
        out.append((item["containerID"], ifname if isinstance(ifname, str) else ""))
    return out


def load_delegate(obj: Any, index: int) -> NetworkConfigList:
    """One entry of ``delegates``: a conf (with ``type``) or a conflist (``plugins``)."""
    where = f"failed to load delegate {index} config"
    if not isinstance(obj, dict):
        raise conf_error(f"{where}: must be an object, got {json_type_name(obj)}")
    return parse_network_config(obj, where)


def parse_network_config(
    obj: dict[str, Any], where: str, raw: bytes = b"", source: str = ""
) -> NetworkConfigList:
    """A conf or conflist object as Multus loads a delegate: ``type`` makes it a single
    conf; else ``plugins`` whose first element has a ``type``."""
    ptype = obj.get("type")
    if ptype in (None, ""):
        plugins = obj.get("plugins")
        if not isinstance(plugins, list) or not plugins:
            raise conf_error(f"{where}: delegate must have the 'type' or 'plugins' field")
        first = plugins[0]
        if not isinstance(first, dict) or first.get("type") in (None, ""):
            raise conf_error(f"{where}: a plugin delegate must have the 'type' field")
    try:
        net = NetworkConfigList.from_dict(obj, raw=raw, source=source)
    except CniError as exc:
        raise conf_error(f"{where}: {exc.msg}", exc.details) from None
    for plugin in net.plugins:
        if plugin.get("type") in SELF_TYPES:
            raise conf_error(
                f'{where}: a delegate of type "{plugin.get("type")}" would run pymultus '
                "inside itself",
                "point the network at the real CNI plugin (the one pymultus delegates to)",
            )
    return net


def runtime_config_for_secondary(runtime_config: dict[str, Any]) -> dict[str, Any]:
    """What Multus copies from the runtime's runtimeConfig into a non-cluster delegate."""
    return {k: runtime_config[k] for k in MULTUS_RUNTIME_KEYS if k in runtime_config}
