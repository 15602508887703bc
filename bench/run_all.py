"""Run every benchmark in ``bench/`` once, one after the other (``make bench``).

Each script compares against the Go reference binaries in the same run and prints its
own table of medians and ratios; this only sequences them and stops at the first one
that fails. Needs root (the benchmarks build private network namespaces).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: (script, arguments) in the order the README's performance table lists them.
BENCHES = (
    ("chain_bench.py", ["-n", "30"]),
    ("plugins_bench.py", ["--runs", "50"]),
    ("multus_bench.py", ["-n", "20"]),
    ("daemon_bench.py", []),
)


def main() -> int:
    if os.geteuid() != 0:
        print("bench: needs root (private network namespaces)", file=sys.stderr)
        return 2
    env = dict(os.environ)
    # Compiled modules must be cached, or every cold process recompiles (setup.sh
    # precompiles; this keeps a stray PYTHONDONTWRITEBYTECODE from skewing the numbers).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for script, args in BENCHES:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / script), *args], env=env, check=False)
        if proc.returncode != 0:
            print(f"bench: {script} failed with exit status {proc.returncode}", file=sys.stderr)
            return proc.returncode
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
