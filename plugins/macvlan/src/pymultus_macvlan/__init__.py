"""macvlan: a macvlan link on a node interface, inside the container's namespace.

Follows the reference plugin (``plugins/main/macvlan``), as installed (1.1.1) for
results, messages and kernel state, and HEAD for the keys 1.1.1 lacks:

- Keys: ``master`` (default: the interface of the first default route), ``mode``
  (``bridge`` default, ``private``, ``vepa``, ``passthru``, ``source``), ``mtu`` (0 =
  inherit; must be within ``[0, master MTU]``), ``mac``, ``linkInContainer`` (the master
  lives in the container's namespace), ``bcqueuelen``, ``ipam`` (no ``ipam.type`` =
  layer 2 only), top-level ``dns`` (copied to the result; the IPAM result's DNS is
  dropped, as the reference does). MAC precedence: ``runtimeConfig.mac`` > CNI_ARGS
  ``MAC`` > ``mac``. Keys are decoded with Go's rules (case-insensitive, Go's type
  errors: :mod:`pymultus.net.gotypes`).
- ADD: the link is created under a temporary ``veth<8 hex>`` name directly in the
  target namespace (no move), with ``txqueuelen`` 0 as the installed reference creates
  it, renamed to CNI_IFNAME; then IPAM runs (outside the namespace), ``arp_notify`` and
  ``ndisc_notify`` are set, addresses and routes applied
  (:func:`pymultus.net.iface.configure_iface`) and the link brought up. The result has
  the container interface (with ``sandbox``) and ``ips[].interface = 0``.
- CHECK: as the reference (prevResult interface, link type and mode, MAC, addresses,
  routes), with 1.1.1's capitalised messages - including its quirk that a route
  without ``gw`` that got the family's gateway on ADD is then "not found".

Intended differences from the reference:

- A failed ADD leaves nothing behind: when IPAM, the address/route setup or the
  result conversion fails, the link is deleted and IPAM DEL is called (the reference
  leaves the link, and skips IPAM DEL when IPAM ADD failed).
- DEL parses the JSON only (HEAD): it succeeds when the master, the netns or the link
  is gone (1.1.1 loads the full config and fails when the master is gone).
- ``mode: source`` is accepted (the kernel has it; the reference rejects it).
- ``ndisc_notify`` = 1 as HEAD sets it (unsolicited NA; 1.1.1 leaves it 0);
  ``cniVersion`` 1.1.0, ``linkInContainer``, ``bcqueuelen`` and STATUS (delegated to
  IPAM) are HEAD's.
- CHECK with an unknown ``mode`` reports ``unknown macvlan mode: "<mode>"`` (1.1.1
  prints a Go rune literal there).
- DAD: like 1.1.1 we wait up to 10 s for IPv6 addresses to leave "tentative" when
  there is an IPv6 gateway, ignoring the outcome, but stop early once only failed
  addresses remain.
- An 8- or 20-byte ``mac`` fails as ``failed to create macvlan: invalid argument``
  before reaching the kernel (which would answer the same).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.result import DNS
from pymultus.cni.result import Interface
from pymultus.cni.result import IPConfig
from pymultus.cni.result import Result
from pymultus.net import gotypes as go
from pymultus.plugin import ConfigError
from pymultus.plugin import Request

if TYPE_CHECKING:
    from pymultus.net.link import Link
    from pymultus.net.netlink import Netlink

MODES = {"": "bridge", "bridge": "bridge", "private": "private", "vepa": "vepa"}
MODES |= {"passthru": "passthru", "source": "source"}

_NETCONF = go.struct(
    "NetConf",
    "main.NetConf",
    {
        **go.NETCONF_FIELDS,
        "master": go.STRING,
        "mode": go.STRING,
        "mtu": go.INT,
        "mac": go.STRING,
        "linkInContainer": go.BOOL,
        "bcqueuelen": go.UINT32,
        "runtimeConfig": go.struct(
            "", 'struct { Mac string "json:\\"mac,omitempty\\"" }', {"mac": go.STRING}
        ),
    },
)


def _fail(msg: str) -> CniError:
    return CniError(INTERNAL, msg)


@dataclass
class MacvlanConf:
    master: str
    mode: str
    mtu: int
    mac: str
    link_in_container: bool
    bcqueuelen: int
    ipam_type: str
    dns: DNS


def decode(req: Request, prefix: str = "failed to load netconf: ") -> MacvlanConf:
    """The JSON alone (what DEL needs)."""
    try:
        raw = go.decode(go.literal_numbers(req.stdin, req.config), _NETCONF)
    except go.GoJSONError as exc:
        raise _fail(f"{prefix}{exc}") from None
    return MacvlanConf(
        master=raw.get("master", ""),
        mode=raw.get("mode", ""),
        mtu=raw.get("mtu", 0),
        mac=raw.get("mac", ""),
        link_in_container=raw.get("linkInContainer", False),
        bcqueuelen=raw.get("bcqueuelen", 0),
        ipam_type=raw.get("ipam", {}).get("type", ""),
        dns=go.dns_from(raw.get("dns", {})),
    )


def kernel_mode(conf: MacvlanConf) -> str:
    """The kernel's name of ``conf.mode``; an unknown mode is the reference's error."""
    if conf.mode not in MODES:
        raise _fail(f'unknown macvlan mode: "{conf.mode}"')
    return MODES[conf.mode]


def load_conf(
    req: Request, master_nl: Netlink, decoded: MacvlanConf | None = None
) -> tuple[MacvlanConf, int]:
    """The reference's ``loadConf``: JSON, default master, master MTU and the ``mtu``
    bounds, then CNI_ARGS ``MAC`` and ``runtimeConfig.mac``. Returns the config and
    the master's index (looked up through ``master_nl``)."""
    from pymultus.net import link
    from pymultus.net import route

    conf = decoded or decode(req)
    try:
        if not conf.master:
            conf.master = route.default_route_interface(master_nl)
        master = link.get_link(master_nl, conf.master)
    except (link.NetlinkFailure, route.NoDefaultRoute) as exc:
        raise _fail(str(exc)) from None
    if not 0 <= conf.mtu <= master.mtu:
        raise _fail(f"invalid MTU {conf.mtu}, must be [0, master MTU({master.mtu})]")
    if req.env.args:
        conf.mac = req.cni_args(("MAC",)).get("MAC") or conf.mac
    conf.mac = req.runtime_config.get("mac") or conf.mac
    return conf, master.index


def _open_netns(netns: str, quoted: bool = False) -> int:
    """An fd of CNI_NETNS; errors worded as the reference's (its ADD prints a nil
    value where the path belongs: ``%!q(<nil>)`` is Go's, kept for byte equality)."""
    from pymultus.net import ns

    try:
        return ns.open(netns)
    except ns.NetnsError as exc:
        where = f'"{netns}"' if quoted else "%!q(<nil>)"
        raise _fail(f"failed to open netns {where}: {exc}") from None


class _Sockets:
    """This call's netlink sockets: ``host`` (where the plugin runs; ``None`` with
    ``linkInContainer``) and ``cont`` (the container's), closed on exit."""

    def __init__(self, stack: contextlib.ExitStack, req: Request, *, quoted: bool) -> None:
        from pymultus.net import ns

        self.host: Netlink | None = None
        self.fd = -1
        pre = decode(req)
        if not pre.link_in_container:
            self.host = ns.open_netlink(None)
            stack.callback(self.host.close)
            self.conf, self.master_index = load_conf(req, self.host, pre)
        # Go's loadConf opens the netns itself with linkInContainer (unquoted text).
        self.fd = _open_netns(req.netns, quoted and not pre.link_in_container)
        stack.callback(os.close, self.fd)
        self.cont: Netlink = ns.open_netlink(self.fd)
        stack.callback(self.cont.close)
        if pre.link_in_container:
            self.conf, self.master_index = load_conf(req, self.cont, pre)

    @property
    def master_side(self) -> Netlink:
        return self.cont if self.host is None else self.host


class Macvlan:
    """The ``macvlan`` type."""

    cni_versions = cniversion.ALL_VERSIONS

    def add(self, req: Request) -> Result:
        from pymultus.net import link

        with contextlib.ExitStack() as stack:
            socks = _Sockets(stack, req, quoted=False)
            conf = socks.conf
            mode = kernel_mode(conf)
            tmp = link.temp_name()
            mac = go.mac_str(go.parse_mac_arg(conf.mac)) if conf.mac else None
            try:
                link.create_macvlan(
                    socks.master_side,
                    tmp,
                    socks.master_index,
                    mode,
                    netns_fd=None if socks.host is None else socks.fd,
                    mtu=conf.mtu,
                    mac=mac,
                    bcqueuelen=conf.bcqueuelen,
                    txqlen=0,  # what the installed reference sends (HEAD: kernel default)
                )
            except link.NetlinkFailure as exc:
                raise _fail(f"failed to create macvlan: {exc}") from None
            try:
                step = "failed to create macvlan"
                created = link.get_link(socks.cont, tmp)
                step = f'failed to rename macvlan to "{req.ifname}"'
                link.rename_link(socks.cont, created.index, req.ifname)
            except link.NetlinkFailure as exc:
                with contextlib.suppress(link.NetlinkFailure):
                    link.delete_link(socks.cont, tmp)  # the rename failed: still ``tmp``
                raise _fail(f"{step}: {exc}") from None
            undo = _Undo(req, socks.cont, created.index)
            try:
                return _finish(req, conf, socks, created, undo)
            except BaseException:
                undo.run()
                raise
        raise AssertionError("unreachable")

    def delete(self, req: Request) -> None:
        from pymultus.net import link
        from pymultus.net import ns

        conf = decode(req, prefix="failed to load netConf: ")
        if conf.ipam_type:
            req.delegate_ipam("DEL")
        if not req.netns:
            return
        try:
            fd = ns.open(req.netns)
        except ns.NetnsNotFound:
            return  # already gone: DEL is idempotent
        except ns.NetnsError as exc:
            raise _fail(str(exc)) from None
        try:
            nl = ns.open_netlink(fd)
        finally:
            os.close(fd)
        try:
            link.delete_link(nl, req.ifname)
        except link.NetlinkFailure as exc:
            raise _fail(f'failed to delete "{req.ifname}": {exc}') from None
        finally:
            nl.close()

    def check(self, req: Request) -> None:
        from pymultus.net import iface
        from pymultus.net import link

        with contextlib.ExitStack() as stack:
            socks = _Sockets(stack, req, quoted=True)
            conf = socks.conf
            if conf.ipam_type:
                req.delegate_ipam("CHECK")
            if not req.has_prev_result:
                raise _fail("Required prevResult missing")
            prev = req.prev_result()
            assert prev is not None
            mine = [i for i in prev.interfaces if (i.name, i.sandbox) == (req.ifname, req.netns)]
            if not mine:
                raise _fail(f"Sandbox in prevResult  doesn't match configured netns: {req.netns}")
            intf = mine[-1]
            found = link.find_link(socks.cont, intf.name)
            if found is None:
                raise _fail(f"Container Interface name in prevResult: {intf.name} not found")
            if found.kind != "macvlan":
                raise _fail(f"Error: Container interface {intf.name} not of type macvlan")
            mode = kernel_mode(conf)
            if found.macvlan_mode != mode:
                raise _fail(
                    f"Container macvlan mode {found.macvlan_mode} does not match "
                    f"expected value: {mode}"
                )
            if intf.mac and intf.mac != found.mac:
                raise _fail(
                    f"Interface {intf.name} Mac {intf.mac} doesn't match container Mac: {found.mac}"
                )
            iface.check_addresses(socks.cont, req.ifname, prev.ips)
            iface.check_routes(socks.cont, prev.routes)

    def validate(self, config: dict[str, Any]) -> None:
        """Static checks (no kernel): the JSON as ADD decodes it, the mode, the MAC
        (``runtimeConfig.mac`` wins over ``mac``, as in ADD). The master and the MTU
        bounds need the node and are left to ADD."""
        conf = decode(Request.for_config(config))
        try:
            kernel_mode(conf)
        except CniError as exc:
            raise ConfigError.at("mode", exc) from None
        runtime_mac = (config.get("runtimeConfig") or {}).get("mac")
        mac, where = (runtime_mac, "runtimeConfig.mac") if runtime_mac else (conf.mac, "mac")
        if mac:
            try:
                go.parse_mac_arg(str(mac))
            except CniError as exc:
                raise ConfigError.at(where, exc) from None

    def status(self, req: Request) -> None:
        """HEAD: the config must parse; IPAM, if any, answers for the network."""
        conf = decode(req)
        if conf.ipam_type:
            req.delegate_ipam("STATUS")


def _finish(req: Request, conf: MacvlanConf, socks: _Sockets, created: Link, undo: _Undo) -> Result:
    """After the rename: run IPAM, configure (or just bring up). The MAC is the one the
    link was created with (a rename does not change it), so no refetch is needed."""
    from pymultus.net import iface
    from pymultus.net import link
    from pymultus.net import ns
    from pymultus.net import sysctl

    cont = socks.cont
    index = created.index
    result = Result(interfaces=[Interface(name=req.ifname, mac=created.mac, sandbox=req.netns)])
    if conf.ipam_type:
        undo.ipam_called = True
        ipam = req.delegate_ipam("ADD")
        if ipam is None or not ipam.ips:
            raise _fail("IPAM plugin returned missing IP config")
        result.ips = [IPConfig(i.address, i.gateway, interface=0) for i in ipam.ips]
        result.routes = ipam.routes
        with ns.entered(socks.fd):
            for key in ("ipv4/conf/{}/arp_notify", "ipv6/conf/{}/ndisc_notify"):
                with contextlib.suppress(sysctl.SysctlError):
                    sysctl.write(f"{sysctl.PROC_SYS}/net/{key.format(req.ifname)}", "1")
            iface.configure_iface(cont, req.ifname, result, index=index)
    else:
        try:
            link.set_up(cont, index)
        except link.NetlinkFailure as exc:
            raise _fail(f'failed to set "{req.ifname}" UP: {exc}') from None
    result.dns = conf.dns
    result.to_json(req.cni_version or "0.1.0")  # a conversion error must fail while we can undo
    return result


class _Undo:
    """After a failed ADD: remove the link and release the IPAM allocation. Errors here
    are logged; the ADD's own error is the one reported."""

    def __init__(self, req: Request, cont: Netlink, index: int) -> None:
        self.req, self.cont, self.index = req, cont, index
        self.ipam_called = False

    def run(self) -> None:
        from pymultus.net import link

        log = self.req.ctx.log
        try:
            link.delete_link(self.cont, index=self.index)
        except link.NetlinkFailure as exc:
            log.warning("macvlan: could not remove %s after a failed ADD: %s", self.req.ifname, exc)
        if self.ipam_called:
            try:
                self.req.delegate_ipam("DEL")
            except CniError as exc:
                log.warning("macvlan: IPAM DEL after a failed ADD failed: %s", exc)
