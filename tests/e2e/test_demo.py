"""The README's main command, ``make demo``, run as a newcomer would (from the repository
root), and its output checked: the dry-run of the seed example, then the real try with
net1 = 10.1.1.101/24, MAC c2:b0:57:49:47:f1 and the default route via 10.1.1.1, and
nothing left behind. Without root the demo shows the dry-run and says why ``try`` was
skipped (run here as the ``nobody`` user through ``setpriv`` when the tests are root).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pymultus.testing.kernel import unprivileged_argv

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def readme_demo_command() -> list[str]:
    """The demo command as the README gives it (the line marked as running the demo)."""
    for line in README.read_text().splitlines():
        if "demo" in line and line.strip().startswith("make "):
            return line.split("#", 1)[0].split()
    raise AssertionError("README.md names no `make ... demo` command")


def try_names() -> set[str]:
    """Namespaces and work directories a ``try`` with a random prefix leaves when it
    fails to clean up."""
    netns = (
        {f"netns {n}" for n in os.listdir("/run/netns")} if os.path.isdir("/run/netns") else set()
    )
    dirs = {f"dir {p.name}" for p in Path("/tmp").glob("pymultus-try-pmt*")}
    return {n for n in netns if n.startswith("netns pmt")} | dirs


def plain(text: str) -> str:
    return ANSI.sub("", text)


@pytest.mark.kernel
def test_make_demo() -> None:
    command = readme_demo_command()
    assert command == ["make", "demo"]
    before = try_names()
    proc = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, check=False, timeout=600
    )
    out = plain(proc.stdout)
    assert proc.returncode == 0, out + proc.stderr

    # first the plan, then the run, under their headings
    dry = out.index("== 1/2  dry-run: the plan for pod samplepod")
    real = out.index("== 2/2  try: the same plan, for real")
    assert dry < real
    plan = out[dry:real]
    assert "Pod default/samplepod" in plan and "net1  default/macvlan-conf" in plan
    assert "no problems" in plan
    run = out[real:]

    # the three facts, as read back from the kernel and printed
    net1 = [ln.split() for ln in run.splitlines() if ln.split()[:2] == ["net1", "macvlan"]]
    assert len(net1) == 1
    assert net1[0][3] == "c2:b0:57:49:47:f1" and net1[0][4] == "10.1.1.101/24"
    routes = [ln.strip() for ln in run.splitlines() if ln.strip().startswith("default ")]
    assert routes == ["default via 10.1.1.1 dev net1"]
    assert '"interface": "net1", "ips": ["10.1.1.101"], "mac": "c2:b0:57:49:47:f1"' in run
    assert "nothing left behind" in run

    assert try_names() - before == set()


def test_demo_without_root_shows_dry_run_and_why_try_was_skipped() -> None:
    """The demo part of ``make demo`` (``scripts/demo.sh``; the setup step before it
    writes ``.venv/`` and is root's here) as an unprivileged user."""
    argv = [str(REPO / "scripts" / "demo.sh")]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("needs setpriv (util-linux) to drop root")
        argv = unprivileged_argv(argv)
    before = try_names()
    proc = subprocess.run(
        argv,
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "HOME": "/nonexistent"},
    )
    out = plain(proc.stdout)
    assert proc.returncode == 0, out + proc.stderr
    assert "== 1/2  dry-run: the plan for pod samplepod" in out
    assert "Pod default/samplepod" in out and "net1  default/macvlan-conf" in out
    assert "== 2/2  try: skipped" in out
    assert "pymultus try creates network namespaces and links, which needs root" in out
    assert "As root, run: make demo" in out
    assert "Throwaway world" not in out  # try did not run
    assert try_names() - before == set()
