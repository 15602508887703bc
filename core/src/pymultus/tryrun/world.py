"""The throwaway world of one ``pymultus try``: namespaces, masters, a work directory.

Every namespace and link made here is named with the run's prefix (``pmt`` and five
random characters unless one is given), so nothing can collide with what the machine
already has and a leftover is easy to spot. Two namespaces:

* ``<prefix>-pod``: the pod's network namespace (``CNI_NETNS``);
* ``<prefix>-host``: a private "node": the plugins run with it as their own namespace,
  so the veth masters standing in for the NADs' ``master`` interfaces, the cluster
  network's bridge and every other host-side link live there and nowhere else. With
  ``--master`` there is no such namespace: the plugins run in the caller's own.

The work directory (``/tmp/pymultus-try-<prefix>-*``) holds the netconf, the stand-in
cluster network, the result and delegate caches, plugin state and host-local leases,
so nothing lands in ``/var/lib/cni`` or ``/run/cni``.

:meth:`World.destroy` removes all of it and is safe to call at any point, more than
once; it runs with SIGINT/SIGTERM blocked so a second Ctrl-C cannot cut it short.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shlex
import shutil
import signal
import string
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from pymultus.tryrun.ipstate import IpFailed
from pymultus.tryrun.ipstate import link_names
from pymultus.tryrun.ipstate import netns_exists
from pymultus.tryrun.ipstate import netns_names
from pymultus.tryrun.ipstate import run_ip

PREFIX_RE = re.compile(r"[a-z][a-z0-9]{2,7}")
IFNAME_MAX = 15
_ALPHABET = string.ascii_lowercase + string.digits


def taken(prefix: str) -> bool:
    """Does any namespace, or any link of this namespace, start with ``prefix``?"""
    if any(n.startswith(prefix) for n in netns_names()):
        return True
    try:
        return any(n.startswith(prefix) for n in link_names(None))
    except IpFailed:
        return False


def new_prefix() -> str:
    """``pmt`` + 5 random characters, not used by any namespace or link here."""
    for _ in range(50):
        prefix = "pmt" + "".join(secrets.choice(_ALPHABET) for _ in range(5))
        if not taken(prefix):
            return prefix
    raise RuntimeError("could not find an unused name prefix for the throwaway namespaces")


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP held back for the block (delivered after it)."""
    sigs = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class Master:
    """A throwaway veth master (both ends in the host namespace) for one original
    master name, or for one network that names none (``original`` empty)."""

    original: str
    name: str
    #: The network it was made for (the first one, when several share ``original``).
    network: str = ""

    def describe(self) -> str:
        if self.original:
            return f"veth standing in for {self.original}"
        return f"veth for {self.network} (its config names no master)"

    @property
    def peer(self) -> str:
        return self.name + "p"


@dataclass
class World:
    prefix: str
    #: Name of the pod namespace (``/run/netns/<name>``).
    pod_ns: str
    #: Name of the private host namespace; ``""`` when the plugins run in the
    #: caller's namespace (``--master``).
    host_ns: str
    masters: list[Master] = field(default_factory=list)
    #: Links of the *caller's* namespace to delete at the end (the stand-in bridge
    #: with ``--master``), if they did not exist before.
    own_links: list[str] = field(default_factory=list)
    #: Namespaces this run made (only these are ever deleted).
    created: list[str] = field(default_factory=list)
    #: The work directory (set by :meth:`create`).
    workdir: Path = field(default_factory=Path)
    has_workdir: bool = False

    # -- creation ---------------------------------------------------------------------------

    @classmethod
    def plan(cls, prefix: str, *, private_host: bool) -> World:
        """The names of a world; nothing is made until :meth:`create`."""
        if not PREFIX_RE.fullmatch(prefix):
            raise ValueError(
                f"name prefix {prefix!r}: 3 to 8 characters, lowercase letters and digits, "
                "starting with a letter"
            )
        return cls(
            prefix=prefix,
            pod_ns=f"{prefix}-pod",
            host_ns=f"{prefix}-host" if private_host else "",
        )

    def create(self) -> None:
        """The work directory and the namespaces. Signals are held back meanwhile, so
        whatever was made is recorded before a Ctrl-C can act; on a failure the caller's
        :meth:`destroy` removes it."""
        with signals_blocked():
            self.workdir = Path(tempfile.mkdtemp(prefix=f"pymultus-try-{self.prefix}-"))
            self.has_workdir = True
            for name in (self.pod_ns, self.host_ns):
                if not name:
                    continue
                if netns_exists(name):
                    raise FileExistsError(f"network namespace {name} exists already")
                run_ip("netns", "add", name)
                self.created.append(name)
                run_ip("link", "set", "lo", "up", netns=name)

    @property
    def pod_path(self) -> str:
        return f"/run/netns/{self.pod_ns}"

    @property
    def host_path(self) -> str:
        return f"/run/netns/{self.host_ns}" if self.host_ns else ""

    def master_name(self, index: int) -> str:
        name = f"{self.prefix}m{index}"
        if len(name) + 1 > IFNAME_MAX:
            raise ValueError(f"too many masters: {name!r} is too long")
        return name

    def add_master(self, original: str, network: str = "") -> Master:
        """A veth pair ``<prefix>m<i>`` / ``<prefix>m<i>p`` in the host namespace, UP."""
        if not self.host_ns:
            raise RuntimeError("throwaway masters need the private host namespace")
        m = Master(original, self.master_name(len(self.masters)), network)
        with signals_blocked():
            run_ip(
                "link", "add", m.name, "type", "veth", "peer", "name", m.peer, netns=self.host_ns
            )
            self.masters.append(m)
        run_ip("link", "set", m.name, "up", netns=self.host_ns)
        run_ip("link", "set", m.peer, "up", netns=self.host_ns)
        return m

    def claim_link(self, name: str) -> None:
        """Delete link ``name`` of the caller's namespace at the end, if it is not
        there now (it will be made by a plugin)."""
        if name in link_names(None):
            raise FileExistsError(f"link {name} exists already in this network namespace")
        self.own_links.append(name)

    def has_link(self, name: str) -> bool:
        """Is link ``name`` in the caller's namespace?"""
        try:
            return name in link_names(None)
        except IpFailed:
            return False

    # -- removal ----------------------------------------------------------------------------

    def destroy(self) -> list[str]:
        """Remove everything; returns one problem per thing that could not be removed
        (nothing is raised: every step is attempted)."""
        problems: list[str] = []
        with signals_blocked():
            for name in reversed(self.created):  # only what this run made
                if netns_exists(name):
                    try:
                        run_ip("netns", "del", name)
                    except IpFailed as exc:
                        problems.append(str(exc))
            for link in self.own_links:
                with contextlib.suppress(IpFailed):
                    if link in link_names(None):
                        try:
                            run_ip("link", "del", link)
                        except IpFailed as exc:
                            problems.append(str(exc))
            if self.has_workdir and self.workdir.exists():
                try:
                    shutil.rmtree(self.workdir)
                except OSError as exc:
                    problems.append(f"removing {self.workdir}: {exc}")
        return problems

    def leftovers(self) -> list[str]:
        """What of this world is still there (for the final check)."""
        out = [f"netns {n}" for n in self.created if netns_exists(n)]
        with contextlib.suppress(IpFailed):
            here = link_names(None)
            out += [f"link {n}" for n in self.own_links if n in here]
        if self.has_workdir and self.workdir.exists():
            out.append(f"directory {self.workdir}")
        return out

    # -- for people ------------------------------------------------------------------------

    def removal_commands(self) -> list[str]:
        """Shell commands that remove the world after the DEL (``--keep``)."""
        cmds = [f"ip netns del {n}" for n in self.created]
        cmds += [f"ip link del {shlex.quote(n)}" for n in self.own_links]
        cmds.append(f"rm -rf {shlex.quote(str(self.workdir))}")
        return cmds
