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
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.result import Result
from pymultus.engine.atomic import write_atomic
from pymultus.net import gotypes as go
from pymultus.net import sysctl
from pymultus.plugin import ConfigError
from pymultus.plugin import Request

if TYPE_CHECKING:
    from pymultus.net.link import Link

ALLOWLIST = "/etc/cni/tuning/allowlist.conf"
#: Attributes in the backup file, in the reference's order; sysctls come after.
LINK_KEYS = ("mac", "promisc", "mtu", "allmulti", "txQLen")
SYSCTL_KEY = "pymultusSysctl"
#: DEL's restore order, with the reference's words for (logged) failures.
RESTORE = (
    ("mtu", "MTU"),
    ("mac", "MAC address"),
    ("promisc", "promiscuous mode"),
    ("allmulti", "all-multicast mode"),
    ("txQLen", "transmit queue length"),
)

_IPAM_ARGS = go.struct(
    "IPAMArgs",
    "main.IPAMArgs",
    {
        "sysctl": go.map_of(go.STRING, "map[string]string"),
        "mac": go.STRING,
        "promisc": go.BOOL,
        "mtu": go.INT,
        "allmulti": go.BOOL,
        "txQLen": go.INT,
    },
)
#: The reference's ``TuningConf``, for its decoding errors.
TUNING_CONF = go.struct(
    "TuningConf",
    "main.TuningConf",
    {
        **go.NETCONF_FIELDS,
        "dataDir": go.STRING,
        "sysctl": go.map_of(go.STRING, "map[string]string"),
        "mac": go.STRING,
        "promisc": go.BOOL,
        "mtu": go.INT,
        "txQLen": go.INT,
        "allmulti": go.BOOL,
        "runtimeConfig": go.struct(
            "", 'struct { Mac string "json:\\"mac,omitempty\\"" }', {"mac": go.STRING}
        ),
        "args": go.struct("", 'struct { A *main.IPAMArgs "json:\\"cni\\"" }', {"cni": _IPAM_ARGS}),
    },
)


def _fail(msg: str) -> CniError:
    """A plain error of the reference: code 999."""
    return CniError(INTERNAL, msg)


# -- configuration ----------------------------------------------------------------------


@dataclass
class TuningConf:
    sysctl: dict[str, str] | None = None
    mac: str = ""
    promisc: bool = False
    mtu: int = 0
    allmulti: bool | None = None
    txqlen: int | None = None
    data_dir: str = ""
    #: ``args.cni.sysctl``, merged into ``sysctl`` by :meth:`sysctls`.
    args_sysctl: dict[str, str] = field(default_factory=dict)

    def wanted(self) -> dict[str, Any]:
        """Link attributes to set, named as in the backup file (the reference changes
        only a MAC, ``promisc: true``, a non-zero MTU, and a given allmulti/txQLen)."""
        out = {
            "mac": self.mac or None,
            "promisc": True if self.promisc else None,
            "mtu": self.mtu or None,
            "allmulti": self.allmulti,
            "txQLen": self.txqlen,
        }
        return {k: v for k, v in out.items() if v is not None}

    def sysctls(self) -> dict[str, str]:
        """The config's sysctls, then ``args.cni.sysctl`` (which wins)."""
        if self.args_sysctl and self.sysctl is None:
            raise CniError(
                INVALID_NETWORK_CONFIG,
                'args.cni.sysctl needs a "sysctl" map in the configuration to merge into',
            )
        return {**(self.sysctl or {}), **self.args_sysctl}


def _strings(value: dict[str, Any] | None) -> dict[str, str]:
    return {k: "" if v is None else v for k, v in (value or {}).items()}


_DUPLICATED = object()


def _has_duplicate_sysctl(stdin: bytes) -> bool:
    """Does stdin's top-level ``sysctl`` object name a key twice? (``json`` keeps the
    last silently; HEAD refuses.)"""

    def pairs(items: list[tuple[str, Any]]) -> dict[Any, Any]:
        obj: dict[Any, Any] = dict(items)
        if len(obj) != len(items):
            obj[_DUPLICATED] = True
        return obj

    try:
        doc = json.loads(stdin, object_pairs_hook=pairs)
    except ValueError:
        return False
    sysctl = doc.get("sysctl") if isinstance(doc, dict) else None
    return isinstance(sysctl, dict) and _DUPLICATED in sysctl


def load_conf(req: Request, *, strict: bool = True) -> TuningConf:
    """The reference's ``parseConf``: Go's decoding errors, CNI_ARGS, overrides.
    ``strict`` (ADD, CHECK) first refuses duplicate sysctl keys, as HEAD does."""
    if strict and _has_duplicate_sysctl(req.stdin):
        raise _fail("duplicated sysctl keys are not allowed")
    try:
        doc = go.decode(go.literal_numbers(req.stdin, req.config), TUNING_CONF)
    except go.GoJSONError as exc:
        raise _fail(f"failed to load netconf: {exc}") from None
    conf = TuningConf(
        sysctl=None if doc.get("sysctl") is None else _strings(doc["sysctl"]),
        mac=doc.get("mac", ""),
        promisc=doc.get("promisc", False),
        mtu=doc.get("mtu", 0),
        allmulti=doc.get("allmulti"),
        txqlen=doc.get("txQLen"),
        data_dir=doc.get("dataDir", ""),
    )
    if req.env.args:
        conf.mac = req.cni_args(("MAC",)).get("MAC") or conf.mac
    conf.mac = doc.get("runtimeConfig", {}).get("mac") or conf.mac
    cni = doc.get("args", {}).get("cni", {})
    conf.args_sysctl = _strings(cni.get("sysctl"))
    conf.mac = cni.get("mac", conf.mac)
    conf.promisc = cni.get("promisc", conf.promisc)
    conf.mtu = cni.get("mtu", conf.mtu)
    conf.allmulti = cni.get("allmulti", conf.allmulti)
    conf.txqlen = cni.get("txQLen", conf.txqlen)
    return conf


def check_allowlist(keys: list[str], allowlist: str) -> None:
    """Each key must match (``re.search``) a line of the allow-list, if there is one."""
    try:
        with open(allowlist, encoding="utf-8") as fh:
            patterns = [line.strip() for line in fh.read().split("\n") if line.strip()]
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _fail(f"read {allowlist}: {go.errno_text(exc.errno or errno.EIO)}") from None
    for key in keys:
        try:
            allowed = any(re.search(p, key) for p in patterns)
        except re.error as exc:
            raise _fail(f"error parsing regexp: {exc}") from None
        if not allowed:
            raise _fail(
                f"Sysctl {key} is not allowed. Only the following sysctls are allowed: "
                f"[{' '.join(patterns)}]"
            )


# -- kernel -----------------------------------------------------------------------------


@contextlib.contextmanager
def in_netns(path: str) -> Iterator[Any]:
    """This thread inside ``path`` with a netlink socket there; Go's texts on failure."""
    from pymultus.net import ns

    try:
        fd = ns.open(path)
    except ns.NetnsError as exc:
        raise _fail(str(exc)) from None
    try:
        with ns.entered(fd):
            ipr = ns.open_iproute()
            try:
                yield ipr
            finally:
                ipr.close()
    finally:
        os.close(fd)


def find_link(ipr: Any, ifname: str) -> Link | None:
    from pymultus.net import link

    try:
        return link.find_link(ipr, ifname)
    except link.NetlinkFailure as exc:
        raise _fail(str(exc)) from None


def set_attr(ipr: Any, target: Link, key: str, value: Any) -> None:
    """Set one attribute named as in the backup file; Go's texts on failure."""
    from pymultus.net import link

    try:
        if key == "mac":
            raw = go.parse_mac_arg(value)
            width = len(target.mac.split(":")) if target.mac else len(raw)
            if len(raw) < width:
                raise link.NetlinkFailure(errno.EINVAL)
            # The kernel takes the device's address length from a longer address.
            link.set_mac(ipr, target.index, raw[:width].hex(":"))
        elif key in ("promisc", "allmulti"):
            flag = link.IFF_PROMISC if key == "promisc" else link.IFF_ALLMULTI
            link.set_flag(ipr, target.index, flag, bool(value))
        elif key == "mtu":
            link.set_mtu(ipr, target.index, value & 0xFFFFFFFF)  # Go sends a u32
        else:
            link.set_txqlen(ipr, target.index, value & 0xFFFFFFFF)
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


# -- backup file ------------------------------------------------------------------------


def backup_path(req: Request, data_dir: str) -> Path:
    directory: Path = req.state_dir("tuning", data_dir or None)
    return directory / f"{req.container_id}_{req.ifname}.json"


def read_backup(path: Path) -> dict[str, Any] | None:
    """The saved originals, ours or the reference's; ``None`` when unusable."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    kinds: dict[str, type] = {"mac": str, "promisc": bool, "allmulti": bool, SYSCTL_KEY: dict}
    for key, value in data.items():
        want = kinds.get(key, int if key in ("mtu", "txQLen") else object)
        if value is not None and (
            not isinstance(value, want) or (want is int and isinstance(value, bool))
        ):
            return None
    if not all(isinstance(v, str) for v in (data.get(SYSCTL_KEY) or {}).values()):
        return None
    return data


def save(path: Path, data: bytes, ifname: str) -> None:
    """Write the backup atomically (a crash leaves the old file or the new one)."""
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise _fail(f"failed to save file {ifname}.json: {exc}") from None


def encode_backup(data: dict[str, Any]) -> bytes:
    """``json.MarshalIndent(v, "", " ")`` of the reference's struct, then our key."""
    out = {k: data[k] for k in (*LINK_KEYS, SYSCTL_KEY) if data.get(k) is not None}
    for key in ("mac", "mtu", SYSCTL_KEY):  # omitempty
        if key in out and not out[key]:
            del out[key]
    return json.dumps(out, indent=1).encode()


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
        with in_netns(req.netns) as ipr:
            # Everything is checked and read before the first change.
            paths = {sysctl.net_path(k, req.ifname): v for k, v in sysctls.items()}
            old_sysctl = {p: sysctl.read_if_readable(p) for p in paths}
            target = find_link(ipr, req.ifname) if wanted else None
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
                        set_attr(ipr, target, key, wanted[key])
                        undo.append(functools.partial(set_attr, ipr, target, key, old_link[key]))
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
            with in_netns(req.netns) as ipr:
                target = find_link(ipr, req.ifname)
                for key, words in RESTORE:
                    value = saved.get(key)
                    if target is None or value is None or (key in ("mac", "mtu") and not value):
                        continue
                    try:
                        set_attr(ipr, target, key, value)
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
        with in_netns(req.netns) as ipr:
            for key, want in sysctls.items():
                path = sysctl.net_path(key, name)
                cur = sysctl.read(path)
                if cur != want:
                    raise _fail(
                        f"Error: Tuning configured value of {path} is {want}, current value is {cur}"
                    )
            target = find_link(ipr, name)
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
