"""``pymultus try``: one pod's networks added for real in a throwaway world, shown, removed.

The ADD and the DEL are the meta-plugin's own, run in this process through
:func:`pymultus.cli.cnimode.execute` — the very function the ``pymultus`` binary runs
for a CNI call — with the manifests injected as the Kubernetes source
(``PluginContext.extras["kube_source"]``). The calling thread enters the throwaway
host namespace for the call (per-thread ``setns``), so Python plugins and the binaries
they exec (bridge, host-local, ...) all see it as their own namespace.

Steps: read the manifests and pick the pod → create the world (:mod:`.world`) → adapt
the NADs (:mod:`.source`) and plan → ADD → read the pod namespace back with ``ip -j``
→ the network-status the ADD wrote → DEL → remove the world. Whatever happens after
the world exists (a CNI error, Ctrl-C, SIGTERM, a bug), the ``finally`` runs the DEL
and removes the world; ``--keep`` skips both after a successful ADD and prints how to
do them by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol

from pymultus.cni.errors import CniError
from pymultus.tryrun.inputs import CLUSTER_NAME
from pymultus.tryrun.inputs import CLUSTER_SUBNET
from pymultus.tryrun.inputs import Netconf
from pymultus.tryrun.world import World

if TYPE_CHECKING:
    from pymultus.cli.settings import Settings
    from pymultus.engine.registry import Registry
    from pymultus.multus.k8s import PodInfo
    from pymultus.multus.manifest_source import ManifestSource
    from pymultus.multus.plan import Plan
    from pymultus.tryrun.source import TrySource

#: The netconf of the run, in the work directory (the printed DEL command reads it).
NETCONF_FILE = "00-pymultus.conf"


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (raised from the signal handler, like Ctrl-C's
    ``KeyboardInterrupt``, so the same ``finally`` cleans up)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signum}")
        self.signum = signum


class Report(Protocol):
    """Where the run tells what it does: a section has a key (JSON), a title and
    lines (text), and data (JSON)."""

    def section(self, key: str, title: str, lines: Sequence[str], data: Any) -> None: ...


@dataclass
class TryOptions:
    """The command line (see ``pymultus try --help``; the plan options are dry-run's)."""

    files: Sequence[str]
    conf: str = ""
    pod: str = ""
    namespace: str = ""
    #: Directories searched for delegate binaries after ``binDir``; ``None``: $CNI_PATH
    #: or the default.
    cni_path: str | None = None
    bin_dir: str = ""
    ifname: str = "eth0"
    #: CNI_ARGS as the runtime passes them; ``None``: containerd's for the pod.
    cni_args: str | None = None
    master: str = ""
    keep: bool = False
    prefix: str = ""
    verbose: int = 0


@dataclass
class TryOutcome:
    kept: bool = False
    add_ok: bool = False
    del_ok: bool | None = None
    cleanup_problems: list[str] = field(default_factory=list)


def pymultus_command() -> list[str]:
    """How to run this ``pymultus`` as a CNI binary from a shell."""
    exe = Path(sys.executable).parent / "pymultus"
    if exe.is_file() and os.access(exe, os.X_OK):
        return [str(exe)]
    return [sys.executable, "-m", "pymultus.cli"]


# -- the run ------------------------------------------------------------------------------------


class TryRun:
    """One ``try``: call :meth:`execute`; it always leaves the machine as it found it
    (or, with ``--keep`` after a successful ADD, the world kept and described)."""

    def __init__(self, opts: TryOptions, report: Report) -> None:
        self.opts = opts
        self.report = report
        self.outcome = TryOutcome()
        self.world: World | None = None
        self.source: ManifestSource | None = None
        self.trysource: TrySource | None = None
        self.pod: PodInfo | None = None
        self.netconf: Netconf | None = None
        self._registry: Registry | None = None
        self._settings: Settings | None = None
        self._add_started = False
        self._add_failed = False
        self._del_done = False

    # -- identity of the call -------------------------------------------------------------

    @property
    def container_id(self) -> str:
        assert self.world is not None
        return f"pymultus-try-{self.world.prefix}"

    def cni_args(self) -> str:
        assert self.pod is not None
        if self.opts.cni_args is not None:
            return self.opts.cni_args
        pairs = [
            ("IgnoreUnknown", "1"),
            ("K8S_POD_NAMESPACE", self.pod.namespace),
            ("K8S_POD_NAME", self.pod.name),
            ("K8S_POD_INFRA_CONTAINER_ID", self.container_id),
        ]
        if self.pod.uid:
            pairs.append(("K8S_POD_UID", self.pod.uid))
        return ";".join(f"{k}={v}" for k, v in pairs)

    def cni_env(self, command: str) -> dict[str, str]:
        from pymultus.cli.settings import DEFAULT_CNI_PATH

        assert self.world is not None
        cni_path = self.opts.cni_path
        if cni_path is None:
            cni_path = os.environ.get("CNI_PATH") or DEFAULT_CNI_PATH
        env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        env.update(
            CNI_COMMAND=command,
            CNI_CONTAINERID=self.container_id,
            CNI_NETNS=self.world.pod_path,
            CNI_IFNAME=self.opts.ifname,
            CNI_PATH=cni_path,
            CNI_ARGS=self.cni_args(),
            PYMULTUS_STATE_ROOT=str(self.world.workdir / "state"),
        )
        return env

    # -- the whole thing --------------------------------------------------------------------

    def execute(self) -> TryOutcome:
        from pymultus.tryrun.inputs import check_master
        from pymultus.tryrun.inputs import load_source
        from pymultus.tryrun.inputs import select_pod
        from pymultus.tryrun.world import new_prefix

        opts = self.opts
        self.source = load_source(opts.files, opts.namespace)
        self.pod = select_pod(self.source, opts.pod, opts.namespace)
        if opts.master:
            check_master(opts.master)

        self.world = World.plan(opts.prefix or new_prefix(), private_host=not opts.master)
        try:
            self.world.create()
            self._prepare()
            self._add()
            self._show()
            if opts.keep:
                self._keep()
                return self.outcome
            self._delete()
        finally:
            if not self.outcome.kept:
                self._cleanup()
        return self.outcome

    def _prepare(self) -> None:
        from pymultus.multus.netconf import load_netconf
        from pymultus.multus.plan import build_plan
        from pymultus.tryrun.inputs import build_netconf
        from pymultus.tryrun.source import TrySource

        world, opts = self.world, self.opts
        assert world is not None and self.source is not None and self.pod is not None
        (world.workdir / "state").mkdir()
        self.netconf = netconf = build_netconf(
            self.source, world, conf_path=opts.conf, bin_dir=opts.bin_dir, verbose=opts.verbose
        )
        text = json.dumps(netconf.conf, indent=2) + "\n"
        (world.workdir / NETCONF_FILE).write_text(text)
        masters: dict[str, str] = {}

        def master_for(network: str, original: str) -> str:
            if opts.master:
                return opts.master
            key = original or f"network {network}"  # no master: one veth per network
            if key not in masters:
                masters[key] = world.add_master(original, network).name
            return masters[key]

        self.trysource = TrySource(
            inner=self.source,
            master_for=master_for,
            host_local_dir=str(world.workdir / "host-local"),
        )
        plan = build_plan(
            load_netconf(netconf.conf),
            cni_args=self.cni_args(),
            ifname=opts.ifname,
            container_id=self.container_id,
            source=self.trysource,
        )
        if netconf.standin and not world.host_ns:
            world.claim_link(f"{world.prefix}br")
        self._report_world()
        self._report_plan(plan)

    def _report_plan(self, plan: Plan) -> None:
        assert self.pod is not None
        rows = []
        data = []
        for d in plan.delegates:
            chain = " -> ".join(_plugin_label(p) for p in d.conf.plugins)
            rows.append((d.ifname, d.network, d.origin, chain))
            data.append(
                {
                    "ifname": d.ifname,
                    "network": d.network,
                    "origin": d.origin,
                    "plugins": [p.get("type", "") for p in d.conf.plugins],
                }
            )
        w = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
        lines = [
            f"{r[0].ljust(w[0])}  {r[1].ljust(w[1])}  {r[2].ljust(w[2])}  {r[3]}" for r in rows
        ]
        lines += plan.routes.describe()
        self.report.section(
            "plan",
            f"Plan for pod {self.pod.ref}",
            lines,
            {"pod": self.pod.ref, "interfaces": data, "routes": plan.routes.describe()},
        )

    def _report_world(self) -> None:
        world, ts, netconf = self.world, self.trysource, self.netconf
        assert world is not None and ts is not None and netconf is not None
        lines = [f"pod netns   {world.pod_ns}"]
        if world.host_ns:
            lines.append(f"host netns  {world.host_ns}  (the plugins run here)")
        else:
            lines.append("host netns  (this one: --master given; the plugins run here)")
        for m in world.masters:
            lines.append(f"master      {m.name}  {m.describe()}")
        if netconf.standin:
            where = world.host_ns or "this netns"
            lines.append(
                f"cluster     bridge {world.prefix}br + host-local {CLUSTER_SUBNET} in {where}"
                "  (stand-in)"
            )
        else:
            lines.append(f"netconf     {netconf.source}")
        lines.append(f"work dir    {world.workdir}  (caches, plugin state, leases)")
        lines += [f"changed     {c.describe()}" for c in ts.changes]
        lines += [f"note        {n}" for n in netconf.notes]
        self.report.section(
            "world",
            "Throwaway world",
            lines,
            {
                "prefix": world.prefix,
                "pod_netns": world.pod_ns,
                "host_netns": world.host_ns or None,
                "masters": [
                    {"name": m.name, "replaces": m.original or None, "network": m.network}
                    for m in world.masters
                ],
                "netconf": netconf.source,
                "cluster_network": {
                    "name": CLUSTER_NAME,
                    "bridge": f"{world.prefix}br",
                    "subnet": CLUSTER_SUBNET,
                }
                if netconf.standin
                else None,
                "workdir": str(world.workdir),
                "changes": [c.to_json() for c in ts.changes],
                "notes": list(netconf.notes),
            },
        )

    # -- CNI calls ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _plugins_netns(self) -> Iterator[None]:
        assert self.world is not None
        if not self.world.host_ns:
            yield
            return
        from pymultus.net.ns import entered

        with entered(self.world.host_path):
            yield

    def _call(self, command: str) -> dict[str, Any] | None:
        from pymultus.cli.cnimode import execute
        from pymultus.cli.settings import Settings

        assert self.world is not None and self.netconf is not None
        if self._settings is None:
            settings = Settings.from_environ(os.environ)
            self._settings = replace(settings, state_root=self.world.workdir / "state")
            self._registry = self._settings.registry()
        stdin = json.dumps(self.netconf.conf).encode()
        with self._plugins_netns():
            return execute(
                self.cni_env(command),
                stdin,
                settings=self._settings,
                registry=self._registry,
                extras={"kube_source": self.trysource},
            )

    def _add(self) -> None:
        self._add_started = True
        try:
            result = self._call("ADD")
        except CniError:
            self._add_failed = True  # answered in protocol: its rollback ran
            raise
        self.outcome.add_ok = True
        ips = " ".join(str(i.get("address", "")) for i in (result or {}).get("ips", ()))
        self.report.section(
            "add",
            "ADD",
            [f"ok; the runtime gets the cluster network's result ({ips or 'no address'})"],
            result,
        )

    def _show(self) -> None:
        from pymultus.tryrun.ipstate import link_lines
        from pymultus.tryrun.ipstate import read_state
        from pymultus.tryrun.ipstate import route_line

        world = self.world
        assert world is not None and self.source is not None and self.pod is not None
        state = read_state(world.pod_ns)
        lines = link_lines(state.links)
        lines.append("")
        lines += [route_line(r) for r in state.routes]
        self.report.section(
            "pod",
            f"Pod network namespace {world.pod_ns}  (ip -n {world.pod_ns} addr; route)",
            lines,
            state.to_json(),
        )
        writes = [w for w in self.source.status_writes if w.name == self.pod.name]
        if not writes:
            self.report.section("network_status", "network-status", ["(not written)"], None)
            return
        value = writes[-1].value
        try:
            entries = json.loads(value)
        except ValueError:
            entries = value
        if isinstance(entries, list):
            body = [
                json.dumps(e) + ("," if i < len(entries) - 1 else "") for i, e in enumerate(entries)
            ]
            lines = ["[", *(f"  {b}" for b in body), "]"]
        else:
            lines = value.splitlines()
        self.report.section(
            "network_status",
            "network-status (the pod annotation the ADD wrote)",
            lines,
            entries,
        )

    def _delete(self) -> None:
        self._call("DEL")
        self._del_done = True
        self.outcome.del_ok = True

    # -- the end ----------------------------------------------------------------------------

    def del_command(self) -> str:
        world = self.world
        assert world is not None
        env = self.cni_env("DEL")
        words = [f"{k}={shlex.quote(env[k])}" for k in _DEL_ENV_KEYS]
        head = f"ip netns exec {world.host_ns} " if world.host_ns else ""
        cmd = " ".join(shlex.quote(w) for w in pymultus_command())
        conf = shlex.quote(str(world.workdir / NETCONF_FILE))
        return f"{head}env {' '.join(words)} {cmd} < {conf}"

    def _keep(self) -> None:
        world = self.world
        assert world is not None
        self.outcome.kept = True
        inspect = [
            f"ip -n {world.pod_ns} addr",
            f"ip -n {world.pod_ns} route",
            f"ip netns exec {world.pod_ns} bash",
        ]
        if world.host_ns:
            inspect.append(f"ip -n {world.host_ns} link")
        remove = [self.del_command(), *world.removal_commands()]
        lines = ["To look around:", *(f"  {c}" for c in inspect)]
        lines += ["To remove (the DEL, then the namespaces and the work directory):"]
        lines += [f"  {c}" for c in remove]
        self.report.section(
            "kept",
            "Kept for inspection",
            lines,
            {"inspect": inspect, "cleanup": remove},
        )

    def _cleanup(self) -> None:
        """DEL (if an ADD started and no DEL ran), then remove the world. Signals are
        held back except during the DEL: a Ctrl-C then skips to removing the world,
        which nothing interrupts. A signal held back is delivered at the end (the
        world is gone by then)."""
        from pymultus.tryrun.world import signals_blocked

        world = self.world
        if world is None:
            return
        lines: list[str] = []
        with signals_blocked():
            run_del = self._add_started and not self._add_failed and not self._del_done
        if run_del:
            try:
                self._call("DEL")
                self._del_done = True
                self.outcome.del_ok = True
            except CniError as exc:
                self.outcome.del_ok = False
                lines.append(f"DEL: failed ({exc}); the namespaces are removed anyway")
            except BaseException as exc:  # noqa: BLE001 - Ctrl-C again, or a bug: go on
                self.outcome.del_ok = False
                lines.append(f"DEL: interrupted ({type(exc).__name__}); removing the namespaces")
        with signals_blocked():
            if self._add_failed:
                lines.append("DEL: not needed (the meta-plugin rolled the failed ADD back)")
            elif self._del_done:
                lines.append("DEL: done")
            self._remove_world(world, lines)

    def _remove_world(self, world: World, lines: list[str]) -> None:
        attempted = [f"netns {n}" for n in world.created]
        attempted += [f"link {n}" for n in world.own_links if world.has_link(n)]
        if world.has_workdir:
            attempted.append(f"directory {world.workdir}")
        problems = world.destroy()
        left = world.leftovers()
        self.outcome.cleanup_problems = problems + [f"still there: {x}" for x in left]
        removed = [a.split(" ", 1)[1] for a in attempted if a not in left]
        if removed:
            lines.append(f"removed: {', '.join(removed)}")
        lines += [f"could not remove: {p}" for p in problems]
        lines.append("still there: " + ", ".join(left) if left else "nothing left behind")
        self.report.section(
            "cleanup",
            "DEL and cleanup",
            lines,
            {
                "del": self.outcome.del_ok,
                "removed": removed,
                "problems": problems,
                "leftovers": left,
            },
        )


_DEL_ENV_KEYS = (
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_PATH",
    "CNI_ARGS",
    "PYMULTUS_STATE_ROOT",
)


def _plugin_label(plugin: dict[str, Any]) -> str:
    ptype = str(plugin.get("type", "?"))
    ipam = plugin.get("ipam")
    if isinstance(ipam, dict) and ipam.get("type"):
        return f"{ptype} (ipam {ipam['type']})"
    return ptype
