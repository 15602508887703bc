"""``POST /delegate``: one delegate for a running pod (hot-plug), as Multus's thick
daemon serves it for multus-dynamic-networks-controller.

The request's ``config`` is the delegate's own CNI configuration (a conf or a
conflist, as a NAD's ``spec.config``), the env the usual ``CNI_*`` variables, and
``interfaceAttributes`` what the pod's selection element would have said::

    {"ips": ["10.1.1.101/24"], "mac": "c2:b0:57:49:47:f1", "cni-args": {"k": "v"}}

ADD, DEL, CHECK and STATUS run that one delegate through the chain executor with the
runtimeConfig (``ips``/``mac``, for the plugins declaring those capabilities; asking for
one no plugin declares is an error) and the CNI_ARGS (``IP``/``MAC`` too) the meta-plugin
gives an annotation network, and ``cni-args`` merged into each plugin's ``args.cni``.
Unlike ``/cni``: no delegate cache (the libcni result cache is kept, so DEL gets the
``prevResult``), no network-status, no default-route fix-up; an ADD posts the
``AddedInterface`` event. Every error, DEL's included, is returned to the caller.

Directories: the node netconf's ``cniDir`` (the result cache) and ``binDir`` (then
``CNI_PATH``), exactly as the pod's ``/cni`` calls use them — the daemon learns them
from those calls (``DaemonServices.node_dirs``), so the pod's DEL finds (and deletes)
what ``/delegate`` attached. Before the daemon has served any ``/cni`` call (just
started): its own ``PYMULTUS_CNI_DIR`` / ``PYMULTUS_BIN_DIR``, else Multus's defaults
(``/var/lib/cni/multus``, ``/opt/cni/bin``). A request cannot choose them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from typing import Final

from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import KUBERNETES_ERROR
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.annotations import NetworkSelection
from pymultus.multus.annotations import is_cidr
from pymultus.multus.annotations import is_mac
from pymultus.plugin import PluginContext

COMMANDS: Final = ("ADD", "DEL", "CHECK", "STATUS")
WHERE: Final = "/delegate"


def _fail(msg: str, details: str = "") -> CniError:
    return CniError(INVALID_NETWORK_CONFIG, f"{WHERE}: {msg}", details)


def load_config(data: bytes) -> NetworkConfigList:
    """The delegate's configuration (a conf or a conflist with a ``name``)."""
    from pymultus.cni.jsonenc import loads_object
    from pymultus.multus.netconf import parse_network_config

    try:
        obj = loads_object(data, "delegate config")
    except ValueError as exc:
        raise _fail(f"the delegate config is not a JSON object: {exc}") from None
    if not isinstance(obj.get("name"), str) or not obj["name"]:
        raise _fail('the delegate config has no "name" (the result cache is keyed by it)')
    return parse_network_config(obj, f"{WHERE} delegate config", data, "POST /delegate")


def selection(attributes: Mapping[str, Any], network: str) -> NetworkSelection:
    """``interfaceAttributes`` as the selection element it stands for."""
    sel = NetworkSelection(name=network, namespace="", index=0, text=json.dumps(attributes))
    ips = attributes.get("ips")
    if ips is not None:
        if not isinstance(ips, list) or not all(isinstance(i, str) for i in ips):
            raise _fail('interfaceAttributes "ips" must be a list of strings')
        for ip in ips:
            if not is_cidr(ip):
                raise _fail(f'interfaceAttributes "ips": {ip!r} is not an address with a prefix')
        sel.ips = list(ips)
    mac = attributes.get("mac")
    if mac is not None:
        if not isinstance(mac, str) or (mac and not is_mac(mac)):
            raise _fail(f'interfaceAttributes "mac": {mac!r} is not a MAC address')
        sel.mac = mac
    cni_args = attributes.get("cni-args")
    if cni_args is not None:
        if not isinstance(cni_args, dict):
            raise _fail('interfaceAttributes "cni-args" must be an object')
        sel.cni_args = dict(cni_args)
    unknown = sorted(set(attributes) - {"ips", "mac", "cni-args"})
    if unknown:
        raise _fail(f"unknown interfaceAttributes {', '.join(unknown)} (known: ips, mac, cni-args)")
    return sel


def delegate(
    environ: Mapping[str, str], config: bytes, attributes: Mapping[str, Any], ctx: PluginContext
) -> dict[str, Any] | None:
    """Run one hot-plug request; the decoded result for ADD, else ``None``."""
    from pymultus.cni.env import CniEnv
    from pymultus.engine.chain import RuntimeConf
    from pymultus.engine.chain import check_network_list
    from pymultus.engine.chain import del_network_list
    from pymultus.engine.chain import status_network_list
    from pymultus.multus.call import DAEMON_EXTRAS_KEY
    from pymultus.multus.call import meta_engine
    from pymultus.multus.delegates import check_capabilities
    from pymultus.multus.delegates import delegate_cni_args
    from pymultus.multus.delegates import inject_cni_args
    from pymultus.multus.delegates import selection_runtime_config
    from pymultus.multus.plan import parse_k8s_args

    env = CniEnv.from_environ(environ)
    command = env.command
    if command not in COMMANDS:
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES,
            f"{WHERE} serves {', '.join(COMMANDS)}, not {command or 'an empty CNI_COMMAND'}",
        )
    net = load_config(config)
    services = ctx.extras.get(DAEMON_EXTRAS_KEY)
    cni_dir, bin_dir = node_dirs(services)
    path = tuple(dict.fromkeys(d for d in (bin_dir, *env.path) if d))
    engine = meta_engine(ctx, cni_dir, path, env.extra)
    if command == "STATUS":
        status_network_list(engine, net)
        return None

    sel = selection(attributes, net.name)
    if sel.cni_args:
        net = inject_cni_args(net, sel.cni_args, f"{WHERE} {net.name}")
    k8s = parse_k8s_args(env.args)
    pod = None
    source = None
    if command == "ADD":
        check_capabilities(net, sel, net.name)
        source = _source(services, env.extra, k8s.uid)
        if source is not None and k8s.name and k8s.namespace:
            from pymultus.multus.plan import fetch_pod

            pod = fetch_pod(source, k8s, tolerant=False)
            if pod is None:
                raise CniError(KUBERNETES_ERROR, f"{WHERE}: pod {k8s.pod_ref} not found")
    rt = RuntimeConf(
        container_id=env.container_id,
        netns=env.netns,
        ifname=env.ifname,
        args=tuple(delegate_cni_args(k8s.base_args(pod.uid if pod else ""), k8s.pairs, sel)),
        capability_args=selection_runtime_config({}, sel),
    )
    if command == "DEL":
        del_network_list(engine, net, rt)
        return None
    if command == "CHECK":
        check_network_list(engine, net, rt)
        return None
    return _add(engine, net, rt, source, pod)


def node_dirs(services: Any) -> tuple[str, str]:
    """``(cniDir, binDir)`` as the node's ``/cni`` calls use them (see the module
    docstring)."""
    from pymultus.multus.netconf import DEFAULT_BIN_DIR
    from pymultus.multus.netconf import DEFAULT_CNI_DIR

    known: Mapping[str, str] | None = getattr(services, "node_dirs", None)
    if known is None:
        known = {}
        daemon_env: Mapping[str, str] = getattr(services, "environ", None) or {}
        for key, var in (("cniDir", "PYMULTUS_CNI_DIR"), ("binDir", "PYMULTUS_BIN_DIR")):
            if daemon_env.get(var):
                known[key] = daemon_env[var]
    return known.get("cniDir") or DEFAULT_CNI_DIR, known.get("binDir") or DEFAULT_BIN_DIR


def _source(services: Any, environ: Mapping[str, str], pod_uid: str) -> Any:
    if services is None:
        return None
    from pymultus.multus.cache_source import daemon_source

    return daemon_source(services, "", environ, pod_uid=pod_uid, writes_status=False)


def _add(engine: Any, net: NetworkConfigList, rt: Any, source: Any, pod: Any) -> dict[str, Any]:
    from pymultus.cni.result import Result
    from pymultus.engine.chain import add_network_list
    from pymultus.multus.podns import link_names

    if rt.ifname in link_names(rt.netns):
        ptype = net.plugins[0].get("type", "")
        raise CniError(
            INVALID_NETWORK_CONFIG,
            f'{WHERE}: cannot set "{ptype}" interface name to "{rt.ifname}": validateIfName: '
            f"interface name {rt.ifname} already exists",
        )
    try:
        out = add_network_list(engine, net, rt)
    except CniError as exc:
        raise exc.with_prefix(
            f'{WHERE}: error adding container to network "{net.name}" ({rt.ifname}): '
        ) from exc
    if source is not None and pod is not None:
        result = Result.from_json(out, net.cni_version)
        ips = " ".join(ip.address for ip in result.ips)
        try:
            source.post_event(
                pod, "Normal", "AddedInterface", f"Add {rt.ifname} [{ips}] from {net.name}"
            )
        except CniError as exc:
            engine.ctx.log.warning("/delegate: event not posted: %s", exc)
    return out
