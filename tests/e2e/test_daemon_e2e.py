"""Thick mode end to end: ``pymultus daemon`` as a subprocess, both shims as the runtime
would run them, compared byte for byte with thin ``pymultus`` on the same calls.

The calls use ``pmtest``, a tests-only plugin type (tests/unit/daemon/pmtest_plugin.py)
installed as a throwaway distribution on PYTHONPATH: the daemon serves any Python type
exactly as thin mode does, so the meta-plugin will go through the same path.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from pymultus.daemon import protocol
from pymultus.testing.kernel import unprivileged_argv

ROOT = Path(__file__).resolve().parents[2]
HELPERS = ROOT / "tests" / "unit" / "daemon"
PYMULTUS = str(Path(sys.executable).parent / "pymultus")
SHIM_PY = str(ROOT / "core" / "src" / "pymultus" / "daemon" / "shim.py")
WAIT = 30.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the daemon refuses to run as non-root")


def _helper():
    spec = importlib.util.spec_from_file_location("pmtest_plugin", HELPERS / "pmtest_plugin.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def c_shim(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("cshim") / "pymultus-shim"
    subprocess.run([str(ROOT / "scripts" / "build-shim.sh"), str(out)], check=True)
    return str(out)


@pytest.fixture(scope="module")
def base_env(tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("pme")
    dist = _helper().install_dist(work / "dist")
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": f"{HELPERS}:{dist}",
        "PYMULTUS_INDEX_DIR": str(work / "index"),
        "PYMULTUS_STATE_ROOT": str(work / "state"),
        "PYMULTUS_CACHE_DIR": str(work / "cache"),
    }


def short_dir() -> str:
    return tempfile.mkdtemp(prefix="pme-", dir="/tmp")  # AF_UNIX paths: 108 bytes at most


class DaemonProc:
    def __init__(self, sockdir: str, env: dict[str, str], *args: str) -> None:
        self.socket = f"{sockdir}/pymultus.sock"
        self.log = Path(sockdir) / "daemon.log"
        self.proc = subprocess.Popen(
            [PYMULTUS, "daemon", "--socket", self.socket, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def wait_ready(self) -> DaemonProc:
        for _ in range(int(WAIT / 0.02)):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited {self.proc.returncode}: {self.log.read_text()}"
                )
            try:
                if protocol.request(self.socket, "GET", "/healthz", timeout=2)[0] == 200:
                    return self
            except OSError:
                pass
            threading.Event().wait(0.02)
        raise AssertionError(f"daemon did not come up: {self.log.read_text()}")

    def get(self, path: str) -> tuple[int, bytes]:
        status, _, body = protocol.request(self.socket, "GET", path, timeout=WAIT)
        return status, body

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.get("/metrics")[1].decode()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(WAIT)
        return self.proc.returncode


@pytest.fixture
def daemons(base_env):
    started: list[tuple[DaemonProc, str]] = []

    def start(*args: str, sockdir: str | None = None) -> DaemonProc:
        d = sockdir or short_dir()
        proc = DaemonProc(d, base_env, *args)
        started.append((proc, d))
        return proc.wait_ready()

    yield start
    for proc, d in started:
        proc.stop()
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_daemon(base_env):
    d = short_dir()
    proc = DaemonProc(d, base_env, "--workers", "4", "--queue", "8").wait_ready()
    yield proc
    assert proc.stop() == 0
    shutil.rmtree(d, ignore_errors=True)


def runner(kind: str, c_shim: str) -> list[str]:
    return {"thin": [PYMULTUS], "c": [c_shim], "py": [sys.executable, "-I", "-S", SHIM_PY]}[kind]


def call(cmd: list[str], env: dict[str, str], stdin: bytes) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, env=env, input=stdin, capture_output=True, timeout=WAIT * 2, check=False
    )


def spawn(cmd: list[str], env: dict[str, str], stdin: bytes) -> subprocess.Popen:
    """Like :func:`call`, not waited for: stdin written and closed."""
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdin.write(stdin)
    proc.stdin.close()
    return proc


def cni_env(
    base: dict[str, str], command: str, cid: str = "e2e-ctr", **extra: str
) -> dict[str, str]:
    env = dict(base)
    env.update(
        CNI_COMMAND=command,
        CNI_CONTAINERID=cid,
        CNI_NETNS="/var/run/netns/pme-not-used",
        CNI_IFNAME="net1",
        CNI_PATH="/usr/lib/cni",
        CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=pod-a",
    )
    env.update(extra)
    return env


def conf(**keys) -> bytes:
    doc = {"cniVersion": "1.0.0", "name": "pmtest-net", "type": "pmtest"}
    doc.update(keys)
    return json.dumps(doc).encode()


CASES = {
    "version": ("VERSION", {}, conf()),
    "version-no-stdin": ("VERSION", {}, b""),
    "add": ("ADD", {}, conf(ip="198.51.100.20/24")),
    "add-0.4.0": ("ADD", {}, conf(cniVersion="0.4.0")),
    "add-1.1.0": ("ADD", {}, conf(cniVersion="1.1.0")),
    "check": ("CHECK", {}, conf()),
    "del": ("DEL", {}, conf()),
    "add-error": (
        "ADD",
        {},
        conf(fail={"code": 7, "msg": "bad <value> & more", "details": 'in "ip"'}),
    ),
    "del-error": ("DEL", {}, conf(delFail={"code": 5, "msg": "cannot restore state"})),
    "plugin-crash": ("ADD", {}, conf(crash=True)),
    "stdin-not-json": ("ADD", {}, b'{"cniVersion": "1.0.0", "name": '),
    "missing-env": ("ADD", {"CNI_CONTAINERID": ""}, conf()),
    "bad-ifname": ("ADD", {"CNI_IFNAME": "a/b"}, conf()),
    "unsupported-version": ("ADD", {}, conf(cniVersion="0.2.0")),
    "unknown-type": ("ADD", {}, conf(type="pmtest-nosuch")),
    "unicode-env": ("ADD", {"K8S_EXTRA": 'grüße\t"q"'}, conf()),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_shims_print_exactly_what_thin_mode_prints(case, shared_daemon, base_env, c_shim):
    command, overrides, stdin = CASES[case]
    env = cni_env(base_env, command, **overrides)
    env["PYMULTUS_SOCKET"] = shared_daemon.socket
    got = {kind: call(runner(kind, c_shim), env, stdin) for kind in ("thin", "c", "py")}
    thin = got["thin"]
    if command in ("ADD", "VERSION") or thin.returncode:
        assert thin.stdout, thin.stderr  # a result, a version or an error
    else:
        assert (thin.stdout, thin.returncode) == (b"", 0), thin.stderr
    for kind in ("c", "py"):
        assert (got[kind].stdout, got[kind].returncode) == (thin.stdout, thin.returncode), kind
    if case in ("add", "add-0.4.0", "add-1.1.0"):
        assert thin.returncode == 0 and json.loads(thin.stdout)["ips"]
    if case.endswith("error") or case in ("plugin-crash", "missing-env", "unknown-type"):
        assert thin.returncode == 1 and "code" in json.loads(thin.stdout)


def test_socket_dir_from_the_netconf(shared_daemon, base_env, c_shim):
    sockdir = os.path.dirname(shared_daemon.socket)
    stdin = conf(daemonSocketDir=sockdir, ip="203.0.113.5/24")
    env = cni_env(base_env, "ADD")
    for kind in ("c", "py"):
        proc = call(runner(kind, c_shim), env, stdin)
        assert proc.returncode == 0, proc.stdout
        assert json.loads(proc.stdout)["ips"][0]["address"] == "203.0.113.5/24"


@pytest.mark.parametrize("kind", ["c", "py"])
def test_no_daemon_is_a_clear_error(kind, base_env, c_shim):
    sockdir = short_dir()
    try:
        env = cni_env(base_env, "ADD", PYMULTUS_SHIM_CONNECT_TIMEOUT="0.5")
        env["PYMULTUS_SOCKET"] = f"{sockdir}/pymultus.sock"
        proc = call(runner(kind, c_shim), env, conf())
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert err["code"] == 11
    assert f"cannot reach the pymultus daemon at {sockdir}/pymultus.sock" in err["msg"]


def test_burst_past_the_queue_gets_code_11_for_exactly_the_excess(
    daemons, base_env, c_shim, tmp_path
):
    d = daemons("--workers", "2", "--queue", "3")
    gate = tmp_path / "gate"
    capacity, excess = 5, 4
    procs = []
    for i in range(capacity + excess):
        env = cni_env(base_env, "ADD", cid=f"burst-{i}")
        env["PYMULTUS_SOCKET"] = d.socket
        kind = "c" if i % 2 == 0 else "py"
        procs.append(
            spawn(runner(kind, c_shim), env, conf(gate=str(gate), ip=f"192.0.2.{10 + i}/24"))
        )
    try:
        for _ in range(int(WAIT / 0.05)):
            if (
                d.metric("pymultus_requests_total", handler="cni", verb="ADD", result="rejected")
                == excess
            ):
                break
            threading.Event().wait(0.05)
        assert d.metric("pymultus_requests_in_flight") == 2
        assert d.metric("pymultus_queue_depth") == 3
    finally:
        gate.write_text("")
    outcomes = []
    for p in procs:
        p.wait(WAIT)
        outcomes.append((p.returncode, json.loads(p.stdout.read())))
    refused = [out for rc, out in outcomes if rc == 1]
    assert len(refused) == excess
    assert all(out["code"] == 11 and "busy" in out["msg"] for out in refused)
    served = [out for rc, out in outcomes if rc == 0]
    assert len(served) == capacity and all(out["ips"] for out in served)
    assert (
        d.metric("pymultus_requests_total", handler="cni", verb="ADD", result="success") == capacity
    )


def test_sigterm_turns_unready_refuses_new_calls_and_drains(daemons, base_env, c_shim, tmp_path):
    d = daemons()
    gate = tmp_path / "gate"
    env = cni_env(base_env, "ADD", cid="draining")
    env["PYMULTUS_SOCKET"] = d.socket
    inflight = spawn(runner("c", c_shim), env, conf(gate=str(gate)))
    try:
        for _ in range(int(WAIT / 0.02)):
            if d.metric("pymultus_requests_in_flight") == 1:
                break
            threading.Event().wait(0.02)
        assert d.get("/readyz")[0] == 200
        d.proc.send_signal(signal.SIGTERM)
        for _ in range(int(WAIT / 0.02)):
            if d.get("/readyz")[0] == 500:
                break
            threading.Event().wait(0.02)
        status, body = d.get("/readyz")
        assert status == 500 and b"[-]shutdown" in body
        late_env = cni_env(base_env, "ADD", cid="too-late")
        late_env["PYMULTUS_SOCKET"] = d.socket
        late = call(runner("py", c_shim), late_env, conf())
        assert late.returncode == 1
        assert json.loads(late.stdout)["code"] == 11 and "shutting down" in late.stdout.decode()
        assert d.proc.poll() is None  # still draining
    finally:
        gate.write_text("")
    inflight.wait(WAIT)
    assert inflight.returncode == 0
    assert json.loads(inflight.stdout.read())["ips"][0]["address"] == "192.0.2.10/24"
    assert d.proc.wait(WAIT) == 0
    assert not os.path.exists(d.socket)


def test_daemon_killed_then_restarted(daemons, base_env, c_shim):
    sockdir = short_dir()
    first = daemons(sockdir=sockdir)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(WAIT)
    assert os.path.exists(first.socket)  # a stale socket stays behind
    env = cni_env(base_env, "ADD", cid="restart", PYMULTUS_SHIM_CONNECT_TIMEOUT="0.3")
    env["PYMULTUS_SOCKET"] = first.socket
    down = call(runner("c", c_shim), env, conf())
    assert down.returncode == 1 and "Connection refused" in json.loads(down.stdout)["msg"]
    # A shim that starts while the daemon is down waits for it (within its timeout).
    env["PYMULTUS_SHIM_CONNECT_TIMEOUT"] = str(WAIT)
    waiting = spawn(runner("py", c_shim), env, conf(ip="192.0.2.77/24"))
    second = daemons(sockdir=sockdir)  # replaces the stale socket
    waiting.wait(WAIT)
    assert waiting.returncode == 0
    assert json.loads(waiting.stdout.read())["ips"][0]["address"] == "192.0.2.77/24"
    after = call(runner("c", c_shim), env, conf())
    assert after.returncode == 0, after.stdout
    assert second.proc.poll() is None


def test_a_second_daemon_on_a_live_socket_is_refused(daemons, base_env):
    first = daemons()
    proc = subprocess.run(
        [PYMULTUS, "daemon", "--socket", first.socket],
        env=base_env,
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    assert proc.returncode == 1
    assert b"another pymultus daemon" in proc.stderr
    assert first.get("/healthz")[0] == 200


def test_refuses_to_run_as_non_root(base_env):
    sockdir = short_dir()
    try:
        proc = subprocess.run(
            unprivileged_argv([PYMULTUS, "daemon", "--socket", f"{sockdir}/pymultus.sock"]),
            env=base_env,
            capture_output=True,
            timeout=WAIT,
            check=False,
        )
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
    assert proc.returncode == 1, proc.stderr
    assert b"must run as root" in proc.stderr


def test_socket_and_directory_are_private(shared_daemon):
    st_dir = os.stat(os.path.dirname(shared_daemon.socket))
    st_sock = os.stat(shared_daemon.socket)
    assert st_dir.st_mode & 0o777 == 0o700
    assert st_sock.st_mode & 0o777 == 0o600


@pytest.mark.kernel
def test_real_namespace_work_through_both_shims_matches_thin(base_env, shared_daemon, c_shim):
    tag = "pme" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", tag], check=True)
    try:
        netns = f"/var/run/netns/{tag}"
        stdin = conf(link=True, peer=f"{tag}b", mac="02:00:5e:10:00:42", ip="192.0.2.42/24")

        def run(kind: str, command: str) -> subprocess.CompletedProcess:
            env = cni_env(
                base_env, command, cid=f"{tag}-ctr", CNI_NETNS=netns, CNI_IFNAME=f"{tag}a"
            )
            env["PYMULTUS_SOCKET"] = shared_daemon.socket
            return call(runner(kind, c_shim), env, stdin)

        def links() -> set[str]:
            out = subprocess.run(
                ["ip", "-n", tag, "-j", "link", "show"], check=True, capture_output=True
            ).stdout
            return {link["ifname"] for link in json.loads(out)}

        thin_add = run("thin", "ADD")
        assert thin_add.returncode == 0, thin_add.stdout
        assert {f"{tag}a", f"{tag}b"} <= links()
        assert run("thin", "DEL").returncode == 0
        assert f"{tag}a" not in links()

        shim_add = run("c", "ADD")
        assert (shim_add.stdout, shim_add.returncode) == (thin_add.stdout, 0)
        assert {f"{tag}a", f"{tag}b"} <= links()
        result = json.loads(shim_add.stdout)
        assert result["interfaces"][0] == {
            "name": f"{tag}a",
            "mac": "02:00:5e:10:00:42",
            "sandbox": netns,
        }
        shim_del = run("py", "DEL")
        assert (shim_del.stdout, shim_del.returncode) == (b"", 0)
        assert f"{tag}a" not in links() and f"{tag}b" not in links()
    finally:
        subprocess.run(["ip", "netns", "del", tag], check=False)


@pytest.mark.kernel
def test_the_meta_plugin_runs_through_the_daemon_unchanged(
    base_env, shared_daemon, c_shim, tmp_path
):
    """The node's netconf names type ``pymultus-shim``; the daemon runs the meta-plugin
    for it, and the answer is thin ``pymultus``'s for the same netconf of type
    ``pymultus``. Static delegates only (no kubeconfig), the delegate is ``pmtest``."""
    tag = "pme" + secrets.token_hex(3)
    subprocess.run(["ip", "netns", "add", tag], check=True)
    try:
        netns = f"/var/run/netns/{tag}"

        def netconf(type_name: str) -> bytes:
            doc = {
                "cniVersion": "1.0.0",
                "name": "pymultus-cni-network",
                "type": type_name,
                "cniDir": str(tmp_path / type_name),
                "delegates": [
                    {
                        "cniVersion": "1.0.0",
                        "name": "primary",
                        "type": "pmtest",
                        "ip": "192.0.2.61/24",
                    }
                ],
            }
            return json.dumps(doc).encode()

        def run(kind: str, command: str, type_name: str) -> subprocess.CompletedProcess:
            env = cni_env(base_env, command, cid=f"{tag}-meta", CNI_NETNS=netns, CNI_IFNAME="eth0")
            env["PYMULTUS_SOCKET"] = shared_daemon.socket
            return call(runner(kind, c_shim), env, netconf(type_name))

        thin_add = run("thin", "ADD", "pymultus")
        assert thin_add.returncode == 0, thin_add.stdout + thin_add.stderr
        assert json.loads(thin_add.stdout)["ips"][0]["address"] == "192.0.2.61/24"
        assert run("thin", "DEL", "pymultus").returncode == 0
        for kind in ("c", "py"):
            shim_add = run(kind, "ADD", "pymultus-shim")
            assert (shim_add.stdout, shim_add.returncode) == (thin_add.stdout, 0), kind
            shim_del = run(kind, "DEL", "pymultus-shim")
            assert (shim_del.stdout, shim_del.returncode) == (b"", 0), kind
    finally:
        subprocess.run(["ip", "netns", "del", tag], check=False)


def test_socket_appears_only_once_serving_and_sigterm_while_starting(base_env, c_shim, tmp_path):
    sockdir = short_dir()
    socket_path = f"{sockdir}/pymultus.sock"
    procs: list[DaemonProc] = []

    def start(tag: str) -> tuple[DaemonProc, Path, Path]:
        mark, gate = tmp_path / f"{tag}.mark", tmp_path / f"{tag}.gate"
        env = {**base_env, "PMTEST_SETUP_MARK": str(mark), "PMTEST_SETUP_GATE": str(gate)}
        proc = DaemonProc(sockdir, env, "--setup", "pmtest_plugin:slow_setup")
        procs.append(proc)
        for _ in range(int(WAIT / 0.02)):
            if mark.exists() or proc.proc.poll() is not None:
                break
            threading.Event().wait(0.02)
        assert mark.exists(), proc.log.read_text()
        return proc, mark, gate

    try:
        # A signal while starting: a clean stop, nothing left behind.
        first, _, _ = start("first")
        assert not os.path.exists(socket_path)
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(WAIT) == 0, first.log.read_text()
        assert not os.path.exists(socket_path)

        # A shim arriving while the daemon starts waits for the socket, then is served.
        second, _, gate = start("second")
        assert not os.path.exists(socket_path)
        env = cni_env(base_env, "ADD", cid="early-bird", PYMULTUS_SHIM_CONNECT_TIMEOUT=str(WAIT))
        env["PYMULTUS_SOCKET"] = socket_path
        shim = spawn(runner("c", c_shim), env, conf(ip="192.0.2.88/24"))
        threading.Event().wait(0.2)
        assert shim.poll() is None  # still waiting for the daemon
        gate.write_text("")
        shim.wait(WAIT)
        assert shim.returncode == 0
        assert json.loads(shim.stdout.read())["ips"][0]["address"] == "192.0.2.88/24"
        assert second.stop() == 0
        assert not os.path.exists(socket_path)
    finally:
        for proc in procs:
            proc.stop()
        shutil.rmtree(sockdir, ignore_errors=True)
