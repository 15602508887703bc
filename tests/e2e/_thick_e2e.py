"""Thick mode for the end-to-end tests: ``pymultus daemon`` run inside a test's private
"host" namespace (``ip netns exec``), as a node would run it, and the two shims.

The daemon gets its own credentials (``PYMULTUS_KUBECONFIG``: the fake API server's
kubeconfig) and a node name, so it keeps the NAD cache and this node's pod cache; its
stderr (its own log and the meta-plugin's ``logToStderr`` lines) goes to a file. It
posts pod events in the background: :meth:`ThickDaemon.wait_events` waits for them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from pymultus.daemon import protocol
from pymultus.testing import pymultus_executable

ROOT = Path(__file__).resolve().parents[2]
SHIM_PY = ROOT / "core" / "src" / "pymultus" / "daemon" / "shim.py"
#: thin: the pymultus executable; c / py: the shim of that build + the daemon.
MODES = ("thin", "c", "py")
NODE_NAME = "pmx-node"
WAIT = 30.0
_CACHE_RE = re.compile(
    r"^\[([+-])\]cache:(\S+) (synced|initial list not done), \d+ objects, "
    r"resourceVersion ([^,\s]+)",
    re.M,
)

_shim_lock = threading.Lock()


def c_shim() -> str:
    """The compiled shim, built by the project's script (rebuilt only when stale)."""
    out = ROOT / ".cache" / "shim" / "pymultus-shim"
    with _shim_lock:
        subprocess.run([str(ROOT / "scripts" / "build-shim.sh"), str(out)], check=True)
    return str(out)


def shim_argv(mode: str) -> list[str]:
    if mode == "c":
        return [c_shim()]
    if mode == "py":
        return [sys.executable, "-I", "-S", str(SHIM_PY)]
    raise ValueError(f"no shim for mode {mode!r}")


@dataclass
class ThickDaemon:
    """A ``pymultus daemon`` in the namespace ``netns`` (a name under /run/netns)."""

    netns: str
    kubeconfig: str = ""
    node_name: str = NODE_NAME
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    sockdir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="pmx-", dir="/tmp"))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> str:
        return f"{self.sockdir}/pymultus.sock"

    @property
    def log(self) -> Path:
        return Path(self.sockdir) / "daemon.log"

    def environ(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CNI_", "PYMULTUS_", "KUBERNETES_"))
        }
        env["PYMULTUS_NODE_NAME"] = self.node_name
        env["PYMULTUS_WATCH_RETRY_MAX"] = "0.5"
        if self.kubeconfig:
            env["PYMULTUS_KUBECONFIG"] = self.kubeconfig
        env.update(self.env)
        return env

    def start(self, *, wait_ready: bool = True) -> ThickDaemon:
        argv = [
            "ip",
            "netns",
            "exec",
            self.netns,
            pymultus_executable(),
            "daemon",
            "--socket",
            self.socket,
            *self.args,
        ]
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                argv, env=self.environ(), stdin=subprocess.DEVNULL, stdout=fh, stderr=fh
            )
        self.wait(ready=wait_ready)
        return self

    def wait(self, *, ready: bool = True, timeout: float = WAIT) -> None:
        """Until the socket answers (``/readyz`` 200 when ``ready``: caches synced)."""
        deadline = time.monotonic() + timeout
        path = "/readyz" if ready else "/healthz"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                if protocol.request(self.socket, "GET", path, timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"daemon not {path} within {timeout}s:\n{self.log_text()}")

    def get(self, path: str) -> tuple[int, str]:
        status, _, body = protocol.request(self.socket, "GET", path, timeout=WAIT)
        return status, body.decode()

    def cache_versions(self) -> dict[str, int | None]:
        """resourceVersion of each cache from /readyz (``None``: not synced yet)."""
        _, text = self.get("/readyz")
        out: dict[str, int | None] = {}
        for m in _CACHE_RE.finditer(text):
            synced = m.group(1) == "+" and m.group(3) == "synced"
            out[m.group(2)] = int(m.group(4)) if synced and m.group(4) != "-" else None
        return out

    def sync_caches(self, resource_version: int, timeout: float = 10.0) -> None:
        """Wait until every cache has seen ``resource_version`` (the fake server's
        current one): what the API had before a CNI call is in the caches, as on a node
        where the kubelet calls CNI well after the pod was written."""
        deadline = time.monotonic() + timeout
        while True:
            versions = self.cache_versions()
            if versions and all(v is not None and v >= resource_version for v in versions.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"caches at {versions}, not at {resource_version}:\n{self.log_text()}"
                )
            time.sleep(0.02)

    def wait_events(self, timeout: float = 10.0) -> None:
        """Until the daemon has posted (or given up on) every event it queued: events
        go out in the background, after the CNI answer."""
        deadline = time.monotonic() + timeout
        while self.metric("pymultus_events_pending") > 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"events still pending after {timeout}s")
            time.sleep(0.01)

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        for family in text_string_to_metric_families(self.get("/metrics")[1]):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def log_since(self, offset: int) -> str:
        try:
            with self.log.open("rb") as fh:
                fh.seek(offset)
                return fh.read().decode(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL (a crash): the socket file stays behind."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(WAIT)

    def stop(self) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(WAIT)
        return proc.returncode

    def rss_bytes(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def peak_rss_bytes(self) -> int:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.sockdir, ignore_errors=True)
