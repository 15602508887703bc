"""The ``pymultus`` command.

Run with no arguments and ``CNI_COMMAND`` in the environment, it is a CNI plugin binary
(runtimes exec plugins without arguments; that path imports as little as possible, since
the runtime starts it for every pod). Otherwise it is the command-line tool for people
(``pymultus --help``), so ``pymultus run-plugin`` works under a CNI environment too.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    if argv is None and "CNI_COMMAND" in os.environ and len(sys.argv) <= 1:
        from pymultus.cli.cnimode import run_cni

        code = run_cni(os.environ, sys.stdin.buffer, sys.stdout, sys.argv[0])
    else:
        from pymultus.cli.human import run_human

        code = run_human(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
