"""pytest fixtures for testing CNI plugin types against the real kernel.

This package is a pytest plugin (entry point ``pytest11``): once pymultus is installed,
its fixtures exist in every test suite of that environment. Importing it costs only the
standard library and pymultus' protocol types; nothing touches the kernel until a test
asks for a fixture.

Fixtures (function-scoped; what they make is removed at teardown, also when the test
fails; the ones that make namespaces skip the test when not root):

``cni_names``        :class:`Names`: this test's unique 6-character prefix, and names
                     made from it (``cni_names("m0")`` is e.g. ``"q7k00am0"``).
``netns_factory``    ``make(role="ns") -> Netns``: one more named namespace.
``container_netns``  a fresh namespace standing for the pod (:class:`Netns`).
``host_netns``       a private namespace standing for the node; never the real host.
``master_factory``   ``make(kind="veth"|"bridge", *, address=None, mtu=None,
                     peer_netns=None, role=None) -> Master``: a master, UP, in
                     ``host_netns`` (a veth's peer is UP too).
``veth_master``      a veth master (the usual macvlan master); ``bridge_master`` a
                     bridge. ``@pytest.mark.cni_master(address=..., mtu=...)`` sets
                     their options.
``cni``              :class:`CniHarness`: runs a plugin config or a conflist
                     in-process (``cni.inproc``) or through the ``pymultus`` CLI
                     (``cni.cli``), with a private cache, state and IPAM data dir;
                     ``cni.run_reference(...)`` runs ``/usr/lib/cni/<type>`` with
                     the same stdin and environment, to compare with ours.
``cni_driver``       parametrized over both drivers: the test runs once with each.

Kernel state is read with ``ip -j``: :meth:`Netns.links`, :meth:`Netns.link`,
:meth:`Netns.addresses`, :meth:`Netns.routes`; :meth:`Netns.sysctl` reads
``/proc/sys`` inside the namespace.

Names and cleanup: a session picks a 3-character tag that no namespace or link of the
machine starts with (``PYMULTUS_TEST_TAG`` chooses it); a test's prefix is the tag plus
a 3-character counter. After each test, what its fixtures made is deleted, then every
namespace and every link of the root namespace named with the test's prefix; anything
still there fails the test's teardown. At the end of the session the same sweep runs
for the tag and the session's temporary directory is removed. Names that existed
before the session are never touched.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

import pytest

if TYPE_CHECKING:
    from pymultus.engine.index import EntryPointIndex
    from pymultus.testing.cni import REFERENCE_CNI_DIR
    from pymultus.testing.cni import CliDriver
    from pymultus.testing.cni import CliProtocolError
    from pymultus.testing.cni import CniCall
    from pymultus.testing.cni import CniCallError
    from pymultus.testing.cni import CniDriver
    from pymultus.testing.cni import CniHarness
    from pymultus.testing.cni import CniOutcome
    from pymultus.testing.cni import InProcessDriver
    from pymultus.testing.cni import pymultus_executable
    from pymultus.testing.kernel import NETNS_DIR
    from pymultus.testing.kernel import AddrInfo
    from pymultus.testing.kernel import IpError
    from pymultus.testing.kernel import LinkInfo
    from pymultus.testing.kernel import Master
    from pymultus.testing.kernel import Names
    from pymultus.testing.kernel import Netns
    from pymultus.testing.kernel import RouteInfo
    from pymultus.testing.kernel import create_master
    from pymultus.testing.kernel import create_netns
    from pymultus.testing.kernel import delete_netns
    from pymultus.testing.kernel import existing_names
    from pymultus.testing.kernel import leftovers
    from pymultus.testing.kernel import peer_name
    from pymultus.testing.kernel import read_addresses
    from pymultus.testing.kernel import read_link
    from pymultus.testing.kernel import read_links
    from pymultus.testing.kernel import read_routes
    from pymultus.testing.kernel import read_sysctl
    from pymultus.testing.kernel import run_ip
    from pymultus.testing.kernel import sweep

TAG_ENV: Final = "PYMULTUS_TEST_TAG"
#: Public names, imported on first use (the plugin itself must load fast).
_LAZY: Final = {
    "REFERENCE_CNI_DIR": "cni",
    "CliDriver": "cni",
    "CliProtocolError": "cni",
    "CniCall": "cni",
    "CniCallError": "cni",
    "CniDriver": "cni",
    "CniHarness": "cni",
    "CniOutcome": "cni",
    "InProcessDriver": "cni",
    "pymultus_executable": "cni",
    "NETNS_DIR": "kernel",
    "AddrInfo": "kernel",
    "IpError": "kernel",
    "LinkInfo": "kernel",
    "Master": "kernel",
    "Names": "kernel",
    "Netns": "kernel",
    "RouteInfo": "kernel",
    "create_master": "kernel",
    "create_netns": "kernel",
    "delete_netns": "kernel",
    "existing_names": "kernel",
    "leftovers": "kernel",
    "peer_name": "kernel",
    "read_addresses": "kernel",
    "read_link": "kernel",
    "read_links": "kernel",
    "read_routes": "kernel",
    "read_sysctl": "kernel",
    "run_ip": "kernel",
    "sweep": "kernel",
}

_TAG_RE: Final = re.compile(r"[a-z][a-z0-9]{2}")
_B36: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pymultus.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"pymultus.testing.{module}"), name)


def is_root() -> bool:
    return os.geteuid() == 0


def require_kernel() -> None:
    """Skip the calling test unless namespaces can be made (root and ``ip``)."""
    if not is_root():
        pytest.skip("pymultus.testing: needs root to create network namespaces")
    if shutil.which("ip") is None:
        pytest.skip("pymultus.testing: the ip command (iproute2) is not installed")


# -- the session and each test -------------------------------------------------------------


def _pick_tag(taken: frozenset[str]) -> str:
    forced = os.environ.get(TAG_ENV, "")
    if forced:
        if not _TAG_RE.fullmatch(forced):
            raise pytest.UsageError(f"{TAG_ENV}={forced!r}: need 3 characters, [a-z][a-z0-9]{{2}}")
        return forced
    for _ in range(1000):
        tag = secrets.choice(_B36[10:]) + secrets.choice(_B36) + secrets.choice(_B36)
        if not any(n.startswith(tag) for n in taken):
            return tag
    raise RuntimeError("pymultus.testing: no unused session tag found")


@dataclass
class _Session:
    tag: str
    #: Temporary directory holding every test's work directory.
    base: Path
    #: Names of namespaces and root links when the session began: never swept.
    preexisting: frozenset[str] = frozenset()
    counter: int = 0
    index: EntryPointIndex | None = None

    def next_prefix(self) -> str:
        n = self.counter
        self.counter += 1
        if n >= 36**3:
            raise RuntimeError("pymultus.testing: more than 46656 tests in one session")
        return self.tag + _B36[n // 1296] + _B36[n // 36 % 36] + _B36[n % 36]


_SESSION: Final = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session:
    st = config.stash.get(_SESSION, None)
    if st is None:
        from pymultus.testing.kernel import existing_names

        taken = existing_names()
        # tags of sessions running now (their directories) count as taken too
        running = {
            p.name[len("pymultus-test-") :]
            for p in Path(tempfile.gettempdir()).glob("pymultus-test-*")
        }
        tag = _pick_tag(taken | running)
        base = Path(tempfile.mkdtemp(prefix=f"pymultus-test-{tag}-"))
        st = _Session(tag, base, preexisting=taken)
        config.stash[_SESSION] = st
    return st


class _TestState:
    """What one test made, for its teardown."""

    def __init__(self, session: _Session) -> None:
        from pymultus.testing.kernel import Names

        self.session = session
        self.names = Names(session.next_prefix())
        self.workdir = session.base / self.names.prefix
        self.netns: list[str] = []
        #: (namespace name, link name)
        self.links: list[tuple[str, str]] = []

    def unique(self, role: str) -> str:
        taken = set(self.netns) | {name for _, name in self.links}
        name, i = self.names(role), 0
        while name in taken:
            i += 1
            name = self.names(f"{role}{i}")
        return name

    def cleanup(self) -> list[str]:
        """Remove what the test made; return what could not be removed."""
        from pymultus.testing.kernel import NETNS_DIR
        from pymultus.testing.kernel import delete_netns
        from pymultus.testing.kernel import leftovers
        from pymultus.testing.kernel import run_ip
        from pymultus.testing.kernel import sweep

        for ns, name in reversed(self.links):
            if os.path.exists(f"{NETNS_DIR}/{ns}"):
                run_ip("link", "delete", name, netns=ns, check=False)
        for ns in reversed(self.netns):
            delete_netns(ns)
        problems: list[str] = []
        if is_root() and shutil.which("ip"):
            sweep(self.names.prefix, self.session.preexisting)
            problems = leftovers(self.names.prefix, self.session.preexisting)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.workdir.exists():
            problems.append(f"directory {self.workdir}")
        return problems


# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def _pymultus_test(request: pytest.FixtureRequest) -> Iterator[_TestState]:
    state = _TestState(_session(request.config))
    state.workdir.mkdir(parents=True, exist_ok=True)
    yield state
    problems = state.cleanup()
    if problems:
        raise RuntimeError(
            "pymultus.testing could not remove what the test made: " + ", ".join(problems)
        )


@pytest.fixture
def cni_names(_pymultus_test: _TestState) -> Names:
    """This test's :class:`Names` (its prefix, and names made from it)."""
    return _pymultus_test.names


@pytest.fixture
def netns_factory(_pymultus_test: _TestState) -> Callable[..., Netns]:
    """``make(role="ns") -> Netns``: a new namespace named ``<prefix><role>[n]``."""
    from pymultus.testing.kernel import create_netns

    require_kernel()
    state = _pymultus_test

    def make(role: str = "ns") -> Netns:
        name = state.unique(role)
        state.netns.append(name)  # tracked before it exists: a half-made one goes too
        return create_netns(name)

    return make


@pytest.fixture
def container_netns(netns_factory: Callable[..., Netns]) -> Netns:
    """A fresh namespace for the pod side."""
    return netns_factory("ct")


@pytest.fixture
def host_netns(netns_factory: Callable[..., Netns]) -> Netns:
    """A private namespace playing the node: masters live here, CNI calls run here."""
    return netns_factory("host")


@pytest.fixture
def master_factory(_pymultus_test: _TestState, host_netns: Netns) -> Callable[..., Master]:
    """``make(kind="veth", *, address=None, mtu=None, peer_netns=None, role=None)``:
    a master link, UP, in ``host_netns``."""
    from pymultus.testing.kernel import create_master
    from pymultus.testing.kernel import peer_name

    state = _pymultus_test

    def make(
        kind: str = "veth",
        *,
        address: str | None = None,
        mtu: int | None = None,
        peer_netns: Netns | None = None,
        role: str | None = None,
    ) -> Master:
        name = state.unique(role or ("m" if kind == "veth" else "br"))
        peer = peer_name(name)
        state.links.append((host_netns.name, name))
        if kind == "veth":
            state.links.append(((peer_netns or host_netns).name, peer))
        return create_master(
            host_netns, name, kind=kind, peer=peer, peer_netns=peer_netns, address=address, mtu=mtu
        )

    return make


def _master_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("cni_master")
    return dict(marker.kwargs) if marker else {}


@pytest.fixture
def veth_master(request: pytest.FixtureRequest, master_factory: Callable[..., Master]) -> Master:
    """A veth master in ``host_netns``, UP (its peer too)."""
    return master_factory("veth", **_master_options(request))


@pytest.fixture
def bridge_master(request: pytest.FixtureRequest, master_factory: Callable[..., Master]) -> Master:
    """A bridge master in ``host_netns``, UP."""
    return master_factory("bridge", **_master_options(request))


@pytest.fixture
def cni(_pymultus_test: _TestState, host_netns: Netns) -> CniHarness:
    """This test's :class:`CniHarness` (calls run in ``host_netns``)."""
    from pymultus.testing.cni import CniHarness

    session = _pymultus_test.session
    if session.index is None:
        from pymultus.engine.index import EntryPointIndex

        session.index = EntryPointIndex(None)  # one metadata scan per session
    return CniHarness(_pymultus_test.names, host_netns, _pymultus_test.workdir, index=session.index)


@pytest.fixture(params=["inproc", "cli"])
def cni_driver(request: pytest.FixtureRequest, cni: CniHarness) -> CniDriver:
    """Each driver in turn: the test runs in-process, then through the CLI."""
    return cni.driver(str(request.param))


# -- hooks ---------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    declared = {str(line).split(":")[0].split("(")[0].strip() for line in config.getini("markers")}
    if "kernel" not in declared:
        config.addinivalue_line("markers", "kernel: needs root and real network namespaces")
    config.addinivalue_line(
        "markers",
        "cni_master(address=None, mtu=None, peer_netns=None): options of the veth_master "
        "and bridge_master fixtures (pymultus.testing)",
    )


def pytest_sessionfinish(session: pytest.Session) -> None:
    st = session.config.stash.get(_SESSION, None)
    if st is None:
        return
    removed: list[str] = []
    if is_root() and shutil.which("ip"):
        from pymultus.testing.kernel import sweep

        removed = sweep(st.tag, st.preexisting)
    shutil.rmtree(st.base, ignore_errors=True)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if removed and reporter is not None:
        reporter.write_line(
            f"pymultus.testing: session sweep (tag {st.tag}) removed {', '.join(removed)}"
        )


__all__ = [
    "NETNS_DIR",
    "REFERENCE_CNI_DIR",
    "TAG_ENV",
    "AddrInfo",
    "CliDriver",
    "CliProtocolError",
    "CniCall",
    "CniCallError",
    "CniDriver",
    "CniHarness",
    "CniOutcome",
    "InProcessDriver",
    "IpError",
    "LinkInfo",
    "Master",
    "Names",
    "Netns",
    "RouteInfo",
    "create_master",
    "create_netns",
    "delete_netns",
    "existing_names",
    "is_root",
    "leftovers",
    "peer_name",
    "pymultus_executable",
    "read_addresses",
    "read_link",
    "read_links",
    "read_routes",
    "read_sysctl",
    "require_kernel",
    "run_ip",
    "sweep",
]
