"""Run one case through the reference binary and through pymultus, on identical worlds.

A *world* is a pair of fresh namespaces with fixed names (so every path and name in the
outputs is the same for both runs): ``<prefix>h`` plays the node and holds the macvlan
master (a veth pair with fixed MACs, ``192.0.2.1/24``, a default route via it), and
``<prefix>c`` plays the pod and, for tuning, holds the target interface (the other end
of a veth pair, fixed MAC). Both runs get the world built the same way, run the same
steps with the same environment and stdin, and are read back the same way: stdout,
exit code, kernel state (links, addresses, routes, sysctls) and tuning's backup files.
Then the world is destroyed and built again for the other implementation.

MAC addresses the kernel picks at random (macvlan) are masked as ``<MAC>``; every MAC the
world or the case configures is kept, so a wrong MAC is still seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

REFERENCE_DIR = Path("/usr/lib/cni")
NETNS_DIR = "/run/netns"
CONTAINER_ID = "pmdiff-ctr1"
#: Fixed MACs of the world's links (locally administered).
MASTER_MAC = "0a:58:c0:00:02:01"
MASTER_PEER_MAC = "0a:58:c0:00:02:02"
TARGET_MAC = "0a:58:0a:01:01:05"
TARGET_PEER_MAC = "0a:58:0a:01:01:06"
#: Placeholders in case configs, filled per world.
NETNS = "@NETNS@"
MASTER = "@MASTER@"
DATADIR = "@DATADIR@"
_MAC_RE = re.compile(r"\b[0-9a-fA-F]{2}(?:[:-][0-9a-fA-F]{2}){5,19}\b")
#: Flags that follow carrier/timing rather than configuration.
_VOLATILE_FLAGS = {"LOWER_UP", "M-DOWN", "NO-CARRIER"}
_ADDR_VOLATILE = {"tentative", "dadfailed", "optimistic"}


def ip(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def ip_json(netns: str, *args: str) -> list[dict[str, Any]]:
    out = ip("-n", netns, "-j", *args).strip()
    return [d for d in (json.loads(out) if out else []) if isinstance(d, dict) and d]


# -- the world -------------------------------------------------------------------------------


@dataclass
class WorldSpec:
    """What a case needs before its first step."""

    #: Name of the target interface made in the container (``None``: none).
    target: str | None = "eth1"
    #: ``ip`` commands run in the container after it is built (``{t}`` = target name).
    container_setup: tuple[tuple[str, ...], ...] = ()
    #: Master MTU.
    master_mtu: int = 1500


@dataclass
class World:
    prefix: str
    workdir: Path

    @property
    def host(self) -> str:
        return f"{self.prefix}h"

    @property
    def ctr(self) -> str:
        return f"{self.prefix}c"

    @property
    def master(self) -> str:
        return f"{self.prefix}m"

    @property
    def ctr_path(self) -> str:
        return f"{NETNS_DIR}/{self.ctr}"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "tuning"

    @property
    def state_root(self) -> Path:
        return self.workdir / "state"

    def build(self, spec: WorldSpec) -> None:
        self.destroy()
        for ns in (self.host, self.ctr):
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            # No DAD: IPv6 addresses are final at once, so reading state is not a race.
            for key in ("all", "default"):
                with _in(self.ns_path(ns)):
                    Path(f"/proc/sys/net/ipv6/conf/{key}/accept_dad").write_text("0")
        h = ("-n", self.host)
        mtu = ("mtu", str(spec.master_mtu))
        ip(
            *h,
            "link",
            "add",
            self.master,
            "address",
            MASTER_MAC,
            *mtu,
            "type",
            "veth",
            "peer",
            "name",
            f"{self.prefix}p",
            "address",
            MASTER_PEER_MAC,
            *mtu,
        )
        ip(*h, "link", "set", f"{self.prefix}p", "up")
        ip(*h, "link", "set", self.master, "up")
        ip(*h, "addr", "add", "192.0.2.1/24", "dev", self.master)
        ip(*h, "route", "add", "default", "via", "192.0.2.254", "dev", self.master)
        if spec.target:
            tmp = f"{self.prefix}t"
            ip(
                *h,
                "link",
                "add",
                f"{self.prefix}u",
                "address",
                TARGET_PEER_MAC,
                "type",
                "veth",
                "peer",
                "name",
                tmp,
                "address",
                TARGET_MAC,
            )
            ip(*h, "link", "set", tmp, "netns", self.ctr)
            ip("-n", self.ctr, "link", "set", tmp, "name", spec.target)
        for cmd in spec.container_setup:
            ip("-n", self.ctr, *(part.format(t=spec.target) for part in cmd))
        for d in (self.data_dir, self.state_root):
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)

    def destroy(self) -> None:
        for ns in (self.ctr, self.host):
            if os.path.exists(self.ns_path(ns)):
                ip("netns", "delete", ns, check=False)

    @staticmethod
    def ns_path(ns: str) -> str:
        return f"{NETNS_DIR}/{ns}"


@contextlib.contextmanager
def _in(path: str) -> Iterator[None]:
    from pymultus.net import ns

    with ns.entered(path):
        yield


# -- cases -----------------------------------------------------------------------------------


@dataclass
class Step:
    """One plugin call."""

    command: str
    #: The plugin's stdin (placeholders allowed); ``None``: the previous step's.
    conf: dict[str, Any] | None = None
    #: ``"conf"``: prevResult as in ``conf``; ``"last"``: the last ADD's stdout of the
    #: same implementation (what libcni hands CHECK/DEL or the next plugin).
    prev: str = "conf"
    args: str = ""
    ifname: str | None = None
    #: Environment overrides (``None`` removes a variable).
    env: dict[str, str | None] = field(default_factory=dict)
    #: Done to the world just before the call: ``"rm-netns"``, ``"rm-target"``,
    #: ``"rm-master"``, or an ``ip`` command for the container (a tuple).
    before: str | tuple[str, ...] | None = None


@dataclass
class Case:
    id: str
    steps: list[Step]
    world: WorldSpec = field(default_factory=WorldSpec)
    #: Intended differences -> why: ``"<step>.<aspect>"`` (aspects: rc, stdout, state,
    #: backup) or ``"<step>.<aspect>:<path>"`` for a part of the state or backup only;
    #: ``<step>`` may be ``*``. Each must really differ; everything else must be equal
    #: (see :func:`compare`).
    differs: dict[str, str] = field(default_factory=dict)
    #: sysctls (``net/...`` paths under /proc/sys, ``{t}`` = target) read with the state.
    sysctls: tuple[str, ...] = ()
    #: Python plugin types this case runs through pymultus.
    needs: tuple[str, ...] = ("tuning",)
    #: Extra checks of our run (documented differences: ours must be the safe one).
    ours: Callable[[Run], None] | None = None


@dataclass
class StepOut:
    rc: int
    stdout: str
    stderr: str
    state: dict[str, Any]
    backup: dict[str, str]
    #: Our backup's sysctl originals (a key the reference's files do not have).
    saved_sysctls: dict[str, Any] = field(default_factory=dict)

    def aspect(self, name: str) -> Any:
        return {"rc": self.rc, "stdout": self.stdout, "state": self.state, "backup": self.backup}[
            name
        ]

    @property
    def json(self) -> Any:
        return json.loads(self.stdout) if self.stdout.strip() else None


@dataclass
class Run:
    impl: str
    initial: dict[str, Any]
    steps: list[StepOut]


ASPECTS = ("rc", "stdout", "state", "backup")


def ours_executable() -> str:
    from pymultus.testing import pymultus_executable

    return str(pymultus_executable())


def _fill(obj: Any, world: World) -> Any:
    if isinstance(obj, str):
        return (
            obj.replace(NETNS, world.ctr_path)
            .replace(MASTER, world.master)
            .replace(DATADIR, str(world.data_dir))
        )
    if isinstance(obj, list):
        return [_fill(v, world) for v in obj]
    if isinstance(obj, dict):
        return {k: _fill(v, world) for k, v in obj.items()}
    return obj


def run_case(case: Case, impl: str, world: World) -> Run:
    """Build the world, run every step with ``impl`` (``"ref"`` or ``"ours"``), read
    back after each; the world is destroyed afterwards, also on failure."""
    try:
        world.build(case.world)
        initial = snapshot(world, case)
        outs: list[StepOut] = []
        conf: dict[str, Any] = {}
        last_add: Any = None
        for step in case.steps:
            if step.conf is not None:
                conf = _fill(step.conf, world)
            stdin_conf = dict(conf)
            if step.prev == "last":
                stdin_conf["prevResult"] = last_add
            _before(world, case, step)
            out = _call(impl, world, case, step, stdin_conf)
            if step.command == "ADD" and out.rc == 0:
                last_add = json.loads(out.stdout)
            out.state = snapshot(world, case)
            out.backup, out.saved_sysctls = read_backups(world, case)
            outs.append(out)
        return Run(impl, initial, outs)
    finally:
        world.destroy()


def _before(world: World, case: Case, step: Step) -> None:
    if step.before == "rm-netns":
        # Links first: they go at once, while a namespace's own teardown is deferred.
        for obj in ip_json(world.ctr, "link", "show"):
            if obj["ifname"] != "lo":
                ip("-n", world.ctr, "link", "delete", obj["ifname"])
        ip("netns", "delete", world.ctr)
    elif step.before == "rm-master":
        ip("-n", world.host, "link", "delete", world.master)
    elif step.before == "rm-target":
        ip("-n", world.ctr, "link", "delete", case.world.target or "")
    elif isinstance(step.before, tuple):
        ip("-n", world.ctr, *(p.format(t=case.world.target) for p in step.before))


def _call(impl: str, world: World, case: Case, step: Step, conf: dict[str, Any]) -> StepOut:
    type_name = str(conf.get("type", ""))
    env = {
        "CNI_COMMAND": step.command,
        "CNI_CONTAINERID": CONTAINER_ID,
        "CNI_NETNS": world.ctr_path,
        "CNI_IFNAME": step.ifname or case.world.target or "eth1",
        "CNI_ARGS": step.args,
        "CNI_PATH": str(REFERENCE_DIR),
    }
    if impl == "ours":
        exe = ours_executable()
        env["PYMULTUS_STATE_ROOT"] = str(world.state_root)
    else:
        exe = str(REFERENCE_DIR / type_name)
    for key, value in step.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    raw = conf.get("__raw__")  # stdin that JSON objects cannot express (duplicate keys)
    stdin = (str(raw) if raw is not None else json.dumps(conf, indent=2)).encode()
    if raw is not None:
        type_name = str(json.loads(raw).get("type", ""))
        exe = exe if impl == "ours" else str(REFERENCE_DIR / type_name)
    proc = subprocess.run(
        ["ip", "netns", "exec", world.host, exe],
        input=stdin,
        env=env,
        capture_output=True,
        check=False,
        timeout=120,
    )
    return StepOut(
        proc.returncode,
        proc.stdout.decode(errors="replace"),
        proc.stderr.decode(errors="replace"),
        {},
        {},
    )


# -- reading back ----------------------------------------------------------------------------


def snapshot(world: World, case: Case) -> dict[str, Any]:
    """Kernel state of both namespaces, normalized to what configuration decides."""
    state: dict[str, Any] = {}
    for role, ns in (("host", world.host), ("ctr", world.ctr)):
        if not os.path.exists(world.ns_path(ns)):
            state[role] = None
            continue
        links = {}
        for obj in ip_json(ns, "-d", "link", "show"):
            info = obj.get("linkinfo") or {}
            data = info.get("info_data") or {}
            links[obj["ifname"]] = {
                "kind": info.get("info_kind", ""),
                "macvlan_mode": data.get("mode") if info.get("info_kind") == "macvlan" else None,
                "bcqueuelen": data.get("bcqueuelen"),
                "mac": obj.get("address"),
                "mtu": obj.get("mtu"),
                "flags": sorted(set(obj.get("flags", [])) - _VOLATILE_FLAGS),
                "txqlen": obj.get("txqlen"),
                "promiscuity": obj.get("promiscuity"),
                "allmulti": obj.get("allmulti"),
                "link_index": obj.get("link_index"),
            }
        addrs = []
        for obj in ip_json(ns, "addr", "show"):
            for a in obj.get("addr_info", []):
                if a.get("family") == "inet6" and a.get("scope") == "link":
                    continue  # derived from MACs, masked elsewhere
                flags = sorted(k for k, v in a.items() if v is True and k not in _ADDR_VOLATILE)
                addrs.append(
                    f"{obj['ifname']} {a.get('local')}/{a.get('prefixlen')} "
                    f"scope {a.get('scope')} {' '.join(flags)}".strip()
                )
        routes = []
        for fam in ("-4", "-6"):
            for r in ip_json(ns, fam, "route", "show", "table", "all"):
                dst = str(r.get("dst", ""))
                if dst.startswith(("fe80", "ff00", "multicast")) or r.get("type") == "multicast":
                    continue
                routes.append(
                    " ".join(
                        f"{k}={r[k]}"
                        for k in (
                            "table",
                            "type",
                            "dst",
                            "gateway",
                            "dev",
                            "protocol",
                            "scope",
                            "metric",
                            "prefsrc",
                        )
                        if r.get(k) not in (None, "")
                    )
                )
        state[role] = {
            "links": links,
            "addresses": sorted(addrs),
            "routes": sorted(routes),
        }
    ctr = state.get("ctr")
    if ctr is not None:
        ctr["sysctls"] = read_sysctls(world, case, list(ctr["links"]))
    return mask_macs(state, known_macs(case))


def read_sysctls(world: World, case: Case, links: list[str]) -> dict[str, str | None]:
    keys = []
    for name in links:
        if name == "lo":
            continue
        keys += [
            f"net/ipv4/conf/{name}/arp_notify",
            f"net/ipv6/conf/{name}/ndisc_notify",
            f"net/ipv6/conf/{name}/keep_addr_on_down",
            f"net/ipv6/conf/{name}/disable_ipv6",
        ]
    keys += [k.format(t=case.world.target) for k in case.sysctls]
    out: dict[str, str | None] = {}
    with _in(world.ctr_path):
        for key in keys:
            try:
                out[key] = Path("/proc/sys", key).read_text().rstrip("\n")
            except OSError:
                out[key] = None
    return out


def read_backups(world: World, case: Case) -> tuple[dict[str, str], dict[str, Any]]:
    """tuning's backup files (MACs masked), and the sysctl originals our files add under
    a key the reference does not know: that key is taken out, so the rest compares
    byte for byte with the reference's files."""
    files: dict[str, str] = {}
    sysctls: dict[str, Any] = {}
    if not world.data_dir.is_dir():
        return files, sysctls
    for path in sorted(world.data_dir.iterdir()):
        text = path.read_text()
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict) and "pymultusSysctl" in data:
                sysctls[path.name] = data.pop("pymultusSysctl")
                text = json.dumps(data, indent=1)
                if not data:
                    continue
        files[path.name] = text
    return mask_macs(files, known_macs(case)), sysctls


def known_macs(case: Case) -> set[str]:
    text = json.dumps([s.conf for s in case.steps]) + " ".join(s.args for s in case.steps)
    found = {m.lower() for m in _MAC_RE.findall(text)}
    found |= {MASTER_MAC, MASTER_PEER_MAC, TARGET_MAC, TARGET_PEER_MAC, "00:00:00:00:00:00"}
    found |= {"ff:ff:ff:ff:ff:ff"}
    # An 8- or 20-byte MAC lands as its first 6 bytes.
    found |= {m[:17] for m in found}
    return found


def mask_macs(obj: Any, known: set[str]) -> Any:
    def sub(text: str) -> str:
        return _MAC_RE.sub(lambda m: m.group(0) if m.group(0).lower() in known else "<MAC>", text)

    if isinstance(obj, str):
        return sub(obj)
    if isinstance(obj, list):
        return [mask_macs(v, known) for v in obj]
    if isinstance(obj, dict):
        return {k: mask_macs(v, known) for k, v in obj.items()}
    return obj


def mask_stdout(text: str, case: Case) -> str:
    out: str = mask_macs(text, known_macs(case))
    return out


# -- the comparison --------------------------------------------------------------------------


def compare(case: Case, ref: Run, ours: Run) -> list[str]:
    """Every mismatch not documented in ``case.differs``, and every documented one that
    is not a mismatch; empty when the case holds.

    A key is ``<step>.<aspect>`` (the whole aspect differs), or
    ``<step>.<aspect>:<path>`` (only what lies under ``<path>`` of the flattened state or
    backup may differ, and must). ``<step>`` may be ``*``: every step may differ there,
    and at least one must.
    """
    problems = []
    if ref.initial != ours.initial:
        problems.append("the two worlds differ before the first step (harness bug)")
    seen_star: set[str] = set()
    for i, (r, o) in enumerate(zip(ref.steps, ours.steps, strict=True)):
        for aspect in ASPECTS:
            a, b = r.aspect(aspect), o.aspect(aspect)
            if aspect == "stdout":
                a, b = mask_stdout(a, case), mask_stdout(b, case)
            key = f"{i}.{aspect}"
            if key in case.differs:
                if a == b:
                    problems.append(
                        f"{key}: documented as different ({case.differs[key]}) but equal"
                    )
                continue
            scoped = {
                k: k.partition(":")[2]
                for k in case.differs
                if ":" in k and k.partition(":")[0] in (key, f"*.{aspect}")
            }
            fa, fb = _flat(a), _flat(b)
            for k, path in scoped.items():
                under = [p for p in set(fa) | set(fb) if p == path or p.startswith(path + "/")]
                if any(fa.get(p, "<absent>") != fb.get(p, "<absent>") for p in under):
                    seen_star.add(k)
                elif not k.startswith("*"):
                    problems.append(f"{k}: documented as different ({case.differs[k]}) but equal")
                for p in under:
                    fa.pop(p, None)
                    fb.pop(p, None)
            if fa != fb:
                problems.append(f"{key}: {_diff(a, b) if not scoped else _diff(fa, fb)}")
    for k in case.differs:
        if k.startswith("*") and k not in seen_star:
            problems.append(f"{k}: documented as different ({case.differs[k]}) but always equal")
    return problems


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{path}/{k}"))
        return out
    return {path or "/": value}


def _diff(a: Any, b: Any) -> str:
    """Only what differs: ``path: reference != ours``."""
    if (
        isinstance(a, str)
        or isinstance(b, str)
        or not (isinstance(a, dict) and isinstance(b, dict))
    ):
        return f"reference {a!r}\n      ours      {b!r}"
    fa, fb = _flat(a), _flat(b)
    lines = [
        f"{k}: reference {fa.get(k, '<absent>')!r} != ours {fb.get(k, '<absent>')!r}"
        for k in sorted(set(fa) | set(fb))
        if fa.get(k, "<absent>") != fb.get(k, "<absent>")
    ]
    return "\n      ".join(lines)


def plugin_available(type_name: str) -> bool:
    """Is the Python type implemented (not the empty placeholder distribution)?"""
    from pymultus.cni.errors import CniError
    from pymultus.engine.index import EntryPointIndex
    from pymultus.engine.registry import Registry

    try:
        runner = Registry(index=EntryPointIndex(None), load_hooks=False).load_python_type(type_name)
    except CniError:
        return False
    return runner is not None and callable(getattr(runner.plugin, "add", None))
