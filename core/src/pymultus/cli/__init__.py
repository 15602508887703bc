"""The ``pymultus`` command.

With ``CNI_COMMAND`` in the environment it is a CNI plugin binary (that path imports as
little as possible: the runtime starts it for every pod). Without it, it is the
command-line tool for people (``pymultus --help``).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    if "CNI_COMMAND" in os.environ and argv is None:
        from pymultus.cli.cnimode import run_cni

        code = run_cni(os.environ, sys.stdin.buffer, sys.stdout, sys.argv[0])
    else:
        from pymultus.cli.human import run_human

        code = run_human(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    raise SystemExit(main())
