"""What a Python process imports, read from ``-X importtime`` (for import-budget tests).

Shims and launchers are started once per pod, so their tests compare the modules a
run imports with those of a bare interpreter started the same way.
"""

from __future__ import annotations

import subprocess
import sys


def imported_modules(argv: list[str], env: dict[str, str], timeout: float = 60) -> set[str]:
    """Modules ``python -I -S -X importtime <argv>`` imports, with ``{}`` on stdin."""
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-X", "importtime", *argv],
        env=env,
        input=b"{}",
        capture_output=True,
        check=False,
        timeout=timeout,
    )
    names = set()
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.add(name)
    return names
