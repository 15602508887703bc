"""An in-process daemon on a private socket, serving the tests-only ``pmtest`` type
(the ``start_daemon`` fixture, exported by this directory's conftest)."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from pmtest_plugin import install_dist
from pymultus.daemon import protocol
from pymultus.daemon.listen import bind_socket
from pymultus.daemon.listen import prepare_socket_dir
from pymultus.daemon.server import Daemon
from pymultus.daemon.server import DaemonConfig

WAIT = 20.0


@dataclass
class InprocDaemon:
    daemon: Daemon
    socket: str
    thread: threading.Thread
    exit_code: list[int] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        return protocol.request(self.socket, method, path, body, headers=headers, timeout=WAIT)

    def cni(
        self,
        env: dict[str, str],
        conf: dict[str, Any] | bytes,
        *,
        ours: bool = True,
        path: str = "/cni",
        attributes: dict[str, Any] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        stdin = conf if isinstance(conf, bytes) else json.dumps(conf).encode()
        headers = {"X-CNI-Protocol": "stdout"} if ours else {}
        return self.request("POST", path, protocol.encode_call(env, stdin, attributes), headers)

    def metric(self, name: str, **labels: str) -> float:
        """The value of one sample of /metrics (0 when absent, as for a fresh counter)."""
        from prometheus_client.parser import text_string_to_metric_families

        _, _, body = self.request("GET", "/metrics")
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                if sample.name == name and sample.labels == labels:
                    return float(sample.value)
        return 0.0

    def stop(self) -> None:
        loop = self.daemon._loop
        if self.thread.is_alive() and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.daemon.request_shutdown)
        self.thread.join(WAIT)


def env_for(cid: str = "ctr1", command: str = "ADD", **extra: str) -> dict[str, str]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": cid,
        "CNI_NETNS": "/var/run/netns/pm-unused",
        "CNI_IFNAME": "net1",
        "CNI_PATH": "/usr/lib/cni",
    }
    env.update(extra)
    return env


def conf_for(**keys: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {"cniVersion": "1.0.0", "name": "pmtest-net", "type": "pmtest"}
    conf.update(keys)
    return conf


@pytest.fixture
def start_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    dist = install_dist(tmp_path / "dist")
    monkeypatch.syspath_prepend(str(dist))
    started: list[InprocDaemon] = []
    dirs: list[str] = []

    def start(**kw: Any) -> InprocDaemon:
        sockdir = tempfile.mkdtemp(prefix="pmd-", dir="/tmp")
        dirs.append(sockdir)
        environ = {
            "PYMULTUS_INDEX_DIR": "",
            "PYMULTUS_LOAD_HOOKS": "0",
            "PYMULTUS_STATE_ROOT": str(tmp_path / "state"),
        }
        config = DaemonConfig(
            socket_path=f"{sockdir}/s/pymultus.sock",
            preload=False,
            setup_hooks=kw.pop("setup_hooks", ()),
            environ=environ,
            **kw,
        )
        daemon = Daemon(config)
        daemon.run_setup_hooks()
        prepare_socket_dir(f"{sockdir}/s")
        sock = bind_socket(config.socket_path)
        result: list[int] = []

        def serve() -> None:
            try:
                result.append(asyncio.run(daemon.serve(sock, handle_signals=False)))
            finally:
                sock.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        inproc = InprocDaemon(daemon, config.socket_path, thread, result)
        started.append(inproc)
        for _ in range(int(WAIT / 0.01)):
            if daemon._loop is not None:
                try:
                    if inproc.request("GET", "/healthz")[0] == 200:
                        return inproc
                except OSError:
                    pass
            threading.Event().wait(0.01)
        raise AssertionError("in-process daemon did not come up")

    yield start
    for d in started:
        d.stop()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
