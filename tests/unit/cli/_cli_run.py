"""Running the ``pymultus`` command in the CLI tests: in-process (``run_cli``) and as the
installed executable (``run_exe``), both from the repository root, without ``CNI_PATH``
and with ``NO_COLOR`` set; and ``nad_object``, the NAD the tests write into their files."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymultus.cli.human import run_human

ROOT = Path(__file__).resolve().parents[3]
PYMULTUS = ROOT / ".venv" / "bin" / "pymultus"


def run_cli(
    argv: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: bytes | None = None,
) -> tuple[int, str, str]:
    """``(exit code, stdout, stderr)`` of ``pymultus <argv>`` run in this process."""
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("CNI_PATH", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = run_human(argv)
    out, err = capsys.readouterr()
    return code, out, err


def run_exe(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``pymultus <args>``, finished (whatever its exit status)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CNI_PATH", "CNI_COMMAND")}
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [str(PYMULTUS), *args],
        cwd=ROOT,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def nad_object(name: str, config: dict[str, Any], namespace: str = "default") -> dict[str, Any]:
    """A NetworkAttachmentDefinition ``namespace/name`` with ``config`` (as JSON) in its
    ``spec.config``."""
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"config": json.dumps(config)},
    }
