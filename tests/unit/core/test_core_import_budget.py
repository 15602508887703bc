"""The per-call CNI path imports neither pyroute2 nor kubernetes unless the chain needs them.

Measured from inside the process running the real entry point: a ``-c`` wrapper runs
the installed ``.venv/bin/pymultus`` script as ``__main__`` (``runpy``) and, at exit,
writes ``sys.modules`` to a file. Nothing in production code is touched for the test.
(``-X importtime`` is not enough: it does not see modules loaded through
``importlib.import_module``, which is how plugins and hooks are loaded.) To add a
case, add a row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
PYMULTUS = REPO / ".venv" / "bin" / "pymultus"
FORBIDDEN = ("pyroute2", "kubernetes")


WRAPPER = """
import atexit, json, os, runpy, sys
out = os.environ.pop("PMX_MODULES_OUT")
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def imported_modules(out: Path) -> set[str]:
    mods: list[str] = json.loads(out.read_text())
    return set(mods)


@dataclass
class Case:
    id: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes = b""
    #: Exit status to expect (None: any; the budget holds on error paths too).
    rc: int | None = 0
    #: Modules that must show up (proves the measured path is the intended one).
    expect: tuple[str, ...] = ()


def _host_local_conflist(tmp: Path) -> Path:
    conf = {
        "cniVersion": "1.0.0",
        "name": "pmxbudget",
        "plugins": [
            {
                "type": "host-local",
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "203.0.113.0/24"}]],
                    "dataDir": str(tmp / "ipam"),
                },
            }
        ],
    }
    path = tmp / "budget.conflist"
    path.write_text(json.dumps(conf))
    return path


def _cases(tmp: Path) -> list[Case]:
    conf = str(_host_local_conflist(tmp))
    chain = [str(PYMULTUS), "chain"]
    common = [
        "--conf",
        conf,
        "--netns",
        "/run/netns/pmx-budget-unused",
        "--container-id",
        "pmxbudget1",
    ]
    common += ["--cache-dir", str(tmp / "cache")]
    return [
        Case(
            "cni-version-binary-type",
            [str(PYMULTUS)],
            {"CNI_COMMAND": "VERSION"},
            b'{"cniVersion":"1.1.0","type":"bridge"}',
            expect=("pymultus.cli.cnimode",),
        ),
        Case(
            "cni-version-meta-plugin",
            [str(PYMULTUS)],
            {"CNI_COMMAND": "VERSION"},
            b'{"cniVersion":"1.1.0"}',
            rc=None,
            expect=("pymultus.cli.cnimode",),
        ),
        Case(
            "cni-add-unknown-type",
            [str(PYMULTUS)],
            {
                "CNI_COMMAND": "ADD",
                "CNI_CONTAINERID": "c",
                "CNI_NETNS": "/x",
                "CNI_IFNAME": "eth0",
                "CNI_PATH": "/x",
            },
            b'{"cniVersion":"1.0.0","name":"n","type":"pmxnosuchtype"}',
            rc=1,
            expect=("pymultus.cli.cnimode",),
        ),
        Case(
            "chain-add-binaries-only",
            [*chain, "add", *common],
            expect=("pymultus.engine.chain", "pymultus_delegate_exec"),
        ),
        Case(
            "chain-check-binaries-only",
            [*chain, "check", *common],
            expect=("pymultus.engine.chain",),
        ),
        Case(
            "chain-del-binaries-only", [*chain, "del", *common], expect=("pymultus.engine.chain",)
        ),
    ]


def _run(case: Case, tmp: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CNI_PATH": "/usr/lib/cni",
        "PYMULTUS_INDEX_DIR": str(tmp / "index"),
        "PMX_MODULES_OUT": str(out),
        **case.env,
    }
    argv = [sys.executable, "-c", WRAPPER, *case.argv]
    return subprocess.run(
        argv, input=case.stdin, env=env, capture_output=True, check=False, timeout=60
    )


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/host-local"), reason="reference plugins not installed"
)
def test_cni_paths_stay_within_the_import_budget(tmp_path: Path) -> None:
    # One ordered run: check and del follow the add they belong to.
    for case in _cases(tmp_path):
        out = tmp_path / f"{case.id}.modules"
        proc = _run(case, tmp_path, out)
        if case.rc is not None:
            assert proc.returncode == case.rc, (case.id, proc.stdout, proc.stderr[-2000:])
        mods = imported_modules(out)
        for name in case.expect:
            assert name in mods, (case.id, name)
        heavy = sorted(m for m in mods if m.split(".")[0] in FORBIDDEN)
        assert heavy == [], case.id
    # The chain really ran: host-local leased an address and released it again.
    leases = [
        p.name for p in (tmp_path / "ipam" / "pmxbudget").iterdir() if p.name.startswith("203.")
    ]
    assert leases == []


def test_the_measurement_sees_heavy_imports(tmp_path: Path) -> None:
    """Control: the same wrapper reports pyroute2 when a script loads it, even
    through ``importlib.import_module``."""
    script = tmp_path / "heavy"
    script.write_text("import importlib\nimportlib.import_module('pyroute2')\n")
    out = tmp_path / "modules"
    env = {"PMX_MODULES_OUT": str(out), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", WRAPPER, str(script)], env=env, check=True, timeout=60)
    assert "pyroute2" in imported_modules(out)
