"""tuning: change sysctls and link attributes of the interface an earlier plugin made.

Config keys (as the reference ``tuning`` plugin): ``sysctl`` (map; dots or slashes;
``IFNAME`` stands for CNI_IFNAME; only ``/proc/sys/net/...``; optional allow-list
``/etc/cni/tuning/allowlist.conf``, one regex per line; duplicate keys refused), ``mac``,
``mtu``, ``promisc``, ``allmulti``, ``txQLen``, ``dataDir`` (default
``<state root>/tuning``, i.e. ``/run/cni/tuning``); ``runtimeConfig.mac``; CNI_ARGS
``MAC``; ``args.cni.{sysctl,mac,mtu,promisc,allmulti,txQLen}`` override the config.
MAC precedence: args.cni > runtimeConfig > CNI_ARGS > config. ADD needs ``prevResult``
and prints it in the config's version, with the new MAC on every interface named
CNI_IFNAME. Originals go to ``<dataDir>/<containerID>_<ifname>.json`` before anything
changes; DEL puts them back and never fails because of a restore (failures are
logged, the backup kept). Messages are the reference's, byte for byte, where it is
deterministic. Like the kernel with the reference's request, an 8- or 20-byte MAC is cut
to the device's address length.

Deliberate differences from the reference (each has its own test):

* A second ADD keeps the originals saved by the first (the reference overwrites them
  with the already-tuned values, so DEL can never restore the real originals).
* Sysctls are saved and restored too (the reference never restores them). They live
  under ``pymultusSysctl`` in the backup file, a key the reference ignores: the file
  stays readable by the reference, and reference-written files are read here.
* Bad input never crashes: non-empty ``args.cni.sysctl`` without a ``sysctl`` map is a
  CNI error (code 7) on ADD and CHECK, and ignored on DEL, which does not need it (the
  reference panics, exit 2, on all three).
* All input is validated before the kernel is touched (sysctl keys, MAC), and a failing
  ADD rolls back what it changed, backup file included (the reference leaves earlier
  sysctls, link changes and the backup behind).
* A DEL whose netns is gone or not given drops the backup (nothing is left to restore);
  the reference keeps it in ``/run/cni/tuning`` forever. When only the link is gone,
  the namespace's other sysctls are still restored and the backup dropped (the
  reference restores nothing and keeps the file).
* CHECK prints the configured ``allmulti``/``txQLen`` values where the reference prints
  Go pointers (``0xc0000a4bdc``).
* The rules are those of the current reference (HEAD): ``txQLen``, the allow-list, the
  duplicate-key check, and ``IFNAME`` substituted after the dots become slashes (dotted
  interface names work, the error shows the transformed key, CHECK substitutes too).
  The installed 1.1.1 binary lacks these.

Here: the plugin (ADD, DEL, CHECK, validate) and its kernel helpers; the config's
decoding in :mod:`pymultus_tuning.conf`, the backup file in :mod:`pymultus_tuning.backup`.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
from collections.abc import Callable
from collections.abc import Iterator
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import CniError
from pymultus.cni.result import Result
from pymultus.net import gotypes as go
from pymultus.net import sysctl
from pymultus.plugin import ConfigError
from pymultus.plugin import Request

from pymultus_tuning.backup import LINK_KEYS
from pymultus_tuning.backup import SYSCTL_KEY
from pymultus_tuning.backup import backup_path
from pymultus_tuning.backup import encode_backup
from pymultus_tuning.backup import read_backup
from pymultus_tuning.backup import save
from pymultus_tuning.conf import ALLOWLIST
from pymultus_tuning.conf import check_allowlist
from pymultus_tuning.conf import fail as _fail
from pymultus_tuning.conf import load_conf

if TYPE_CHECKING:
    from pymultus.net.link import Link
    from pymultus.net.netlink import Netlink

#: DEL's restore order, with the reference's words for (logged) failures.
RESTORE = (
    ("mtu", "MTU"),
    ("mac", "MAC address"),
    ("promisc", "promiscuous mode"),
    ("allmulti", "all-multicast mode"),
    ("txQLen", "transmit queue length"),
)


# -- kernel -----------------------------------------------------------------------------


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[Netlink]:
    """This thread inside ``path`` with a netlink socket there; Go's texts on failure."""
    from pymultus.net import ns

    try:
        fd = ns.open(path)
    except ns.NetnsError as exc:
        raise _fail(str(exc)) from None
    try:
        with ns.entered(fd):
            nl = ns.open_netlink()
            try:
                yield nl
            finally:
                nl.close()
    finally:
        os.close(fd)


def find_link(nl: Netlink, ifname: str) -> Link | None:
    from pymultus.net import link

    try:
        return link.find_link(nl, ifname)
    except link.NetlinkFailure as exc:
        raise _fail(str(exc)) from None


def set_attr(nl: Netlink, target: Link, key: str, value: Any) -> None:
    """Set one attribute named as in the backup file; Go's texts on failure."""
    from pymultus.net import link

    try:
        if key == "mac":
            raw = go.parse_mac_arg(value)
            width = len(target.mac.split(":")) if target.mac else len(raw)
            if len(raw) < width:
                raise link.NetlinkFailure(errno.EINVAL)
            # The kernel takes the device's address length from a longer address.
            link.set_mac(nl, target.index, raw[:width].hex(":"))
        elif key in ("promisc", "allmulti"):
            flag = link.IFF_PROMISC if key == "promisc" else link.IFF_ALLMULTI
            link.set_flag(nl, target.index, flag, bool(value))
        elif key == "mtu":
            link.set_mtu(nl, target.index, value & 0xFFFFFFFF)  # Go sends a u32
        else:
            link.set_txqlen(nl, target.index, value & 0xFFFFFFFF)
    except link.NetlinkFailure as exc:
        raise _fail(str(exc)) from None


def link_value(target: Link, key: str) -> Any:
    """An attribute as the backup file records it (``promisc``: the counter is not 0)."""
    from pymultus.net import link

    return {
        "mac": target.mac,
        "promisc": target.promiscuity != 0,
        "mtu": target.mtu,
        "allmulti": bool(target.flags & link.IFF_ALLMULTI),
        "txQLen": target.txqlen,
    }[key]


# -- the plugin -------------------------------------------------------------------------


class Tuning:
    cni_versions = cniversion.ALL_VERSIONS

    def __init__(self, allowlist: str = ALLOWLIST) -> None:
        self.allowlist = allowlist

    def add(self, req: Request) -> Result:
        conf = load_conf(req)
        sysctls = conf.sysctls()
        check_allowlist(list(sysctls), self.allowlist)
        if "/" in req.ifname:
            raise _fail(f"Interface name ({req.ifname}) contains an invalid character /")
        prev = prev_result(req)
        wanted = conf.wanted()
        backup = backup_path(req, conf.data_dir)
        with in_netns(req.netns) as nl:
            # Everything is checked and read before the first change.
            paths = {sysctl.net_path(k, req.ifname): v for k, v in sysctls.items()}
            old_sysctl = {p: sysctl.read_if_readable(p) for p in paths}
            target = find_link(nl, req.ifname) if wanted else None
            if wanted and target is None:
                raise _fail(f'failed to get "{req.ifname}": Link not found')
            if conf.mac:
                go.parse_mac_arg(conf.mac)
            old_link = {k: link_value(target, k) for k in wanted if target is not None}
            old_file = backup.read_bytes() if backup.exists() else None
            saved = (read_backup(backup) if old_file is not None else None) or {}
            # A second ADD keeps what the first saved: those are the real originals.
            for key, value in old_link.items():
                saved.setdefault(key, value)
            known = {
                p[len(sysctl.PROC_SYS) + 1 :]: v for p, v in old_sysctl.items() if v is not None
            }
            saved[SYSCTL_KEY] = {**known, **(saved.get(SYSCTL_KEY) or {})}
            if old_link or known:
                save(backup, encode_backup(saved), req.ifname)
            undo: list[Callable[[], None]] = []
            try:
                for path, value in paths.items():
                    sysctl.write(path, value)
                    old = old_sysctl[path]
                    if old is not None:
                        undo.append(functools.partial(sysctl.write, path, old))
                for key in LINK_KEYS:
                    if key in wanted and target is not None:
                        set_attr(nl, target, key, wanted[key])
                        undo.append(functools.partial(set_attr, nl, target, key, old_link[key]))
            except BaseException:
                for step in reversed(undo):
                    with contextlib.suppress(CniError, OSError):
                        step()
                if old_file is None:
                    backup.unlink(missing_ok=True)
                elif old_link or known:
                    save(backup, old_file, req.ifname)
                raise
        if conf.mac:
            for iface in prev.interfaces:
                if iface.name == req.ifname:
                    iface.mac = conf.mac
        return prev

    def validate(self, config: dict[str, Any]) -> None:
        """Static checks (no kernel, no files): what ADD checks before touching anything
        (duplicate sysctl keys, the JSON as decoded, ``args.cni.sysctl`` needing a
        ``sysctl`` map, each key under ``/proc/sys/net``, the MAC). The allow-list is a
        node's file and is left to ADD."""
        req = Request.for_config(config)
        conf = load_conf(req)
        try:
            sysctls = conf.sysctls()
        except CniError as exc:
            raise ConfigError.at("args.cni.sysctl", exc) from None
        from_args = set(conf.args_sysctl)
        for key in sysctls:
            try:
                sysctl.net_path(key, "IFNAME")
            except CniError as exc:
                where = "args.cni.sysctl" if key in from_args else "sysctl"
                raise ConfigError.at(f"{where}[{json.dumps(key)}]", exc) from None
        if conf.mac:
            try:
                go.parse_mac_arg(conf.mac)
            except CniError as exc:
                raise ConfigError.at(_mac_key(config, conf.mac), exc) from None

    def delete(self, req: Request) -> None:
        conf = load_conf(req, strict=False)
        backup = backup_path(req, conf.data_dir)
        if not backup.exists():
            return
        saved = read_backup(backup)
        log = req.ctx.log
        if saved is None:
            log.warning("tuning: cannot parse %s; left in place", backup)
            return
        if req.netns == "" or not os.path.lexists(req.netns):
            backup.unlink(missing_ok=True)  # the namespace and its links are gone
            return
        errors: list[str] = []
        try:
            with in_netns(req.netns) as nl:
                target = find_link(nl, req.ifname)
                for key, words in RESTORE:
                    value = saved.get(key)
                    if target is None or value is None or (key in ("mac", "mtu") and not value):
                        continue
                    try:
                        set_attr(nl, target, key, value)
                    except CniError as exc:
                        errors.append(f"failed to restore {words}: {exc.msg}")
                for rel, value in (saved.get(SYSCTL_KEY) or {}).items():
                    try:
                        path = sysctl.net_file(rel)
                    except CniError:
                        errors.append(f"refusing to restore {rel}: not a net sysctl")
                        continue
                    if not os.path.exists(path):
                        continue  # gone together with its link
                    try:
                        sysctl.write(path, value)
                    except CniError as exc:
                        errors.append(f"failed to restore {rel}: {exc.msg}")
        except (CniError, OSError) as exc:
            errors.append(str(exc))
        if errors:
            log.warning("tuning: restoring %s: %s; backup kept", backup, "; ".join(errors))
            return
        backup.unlink(missing_ok=True)

    def check(self, req: Request) -> None:
        conf = load_conf(req)
        sysctls = conf.sysctls()
        prev_result(req)
        name = req.ifname
        with in_netns(req.netns) as nl:
            for key, want in sysctls.items():
                path = sysctl.net_path(key, name)
                cur = sysctl.read(path)
                if cur != want:
                    raise _fail(
                        f"Error: Tuning configured value of {path} is {want}, current value is {cur}"
                    )
            target = find_link(nl, name)
        if target is None:
            raise _fail(f"Cannot find container link {name}")
        if conf.mac and conf.mac != target.mac:
            raise _fail(
                f"Error: Tuning configured Ethernet of {name} is {conf.mac}, "
                f"current value is {target.mac}"
            )
        if conf.promisc != (target.promiscuity != 0):
            raise _fail(
                f"Error: Tuning link {name} configured promisc is {_go_bool(conf.promisc)}, "
                f"current value is {target.promiscuity}"
            )
        if conf.mtu and conf.mtu != target.mtu:
            raise _fail(
                f"Error: Tuning configured MTU of {name} is {conf.mtu}, current value is {target.mtu}"
            )
        allmulti = link_value(target, "allmulti")
        if conf.allmulti is not None and conf.allmulti != allmulti:
            # The reference prints a Go pointer for the configured value; we print it.
            raise _fail(
                f"Error: Tuning configured all-multicast mode of {name} is "
                f"{_go_bool(conf.allmulti)}, current value is {_go_bool(allmulti)}"
            )
        if conf.txqlen is not None and conf.txqlen != target.txqlen:
            raise _fail(
                f"Error: Tuning configured Transmit Queue Length of {name} is {conf.txqlen}, "
                f"current value is {target.txqlen}"
            )


def _mac_key(config: dict[str, Any], mac: str) -> str:
    """Which key the effective MAC came from (for messages only)."""
    args = config.get("args")
    cni = args.get("cni") if isinstance(args, dict) else None
    if isinstance(cni, dict) and cni.get("mac") == mac:
        return "args.cni.mac"
    runtime = config.get("runtimeConfig")
    if isinstance(runtime, dict) and runtime.get("mac") == mac:
        return "runtimeConfig.mac"
    return "mac"


def _go_bool(value: bool) -> str:
    return "true" if value else "false"


def prev_result(req: Request) -> Result:
    """``prevResult`` decoded; missing or unparsable is a plain error, as in the reference."""
    if not req.has_prev_result:
        raise _fail("Required prevResult missing")
    try:
        prev = req.prev_result()
    except CniError as exc:
        raise _fail(exc.msg) from None
    assert prev is not None
    return prev
