"""``pymultus run-plugin TYPE``: one Python plugin type as a CNI binary.

The CNI environment and stdin are read exactly as the runtime would give them; the type
comes from the argument instead of stdin's ``type`` key.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run-plugin",
        help="run one Python plugin type as a CNI binary (CNI_* env + stdin)",
        description="Run a Python plugin type exactly as a runtime runs a CNI binary.",
        epilog="Example: CNI_COMMAND=VERSION pymultus run-plugin macvlan </dev/null",
    )
    p.add_argument("type", help="the CNI type, e.g. macvlan")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pymultus.cli.cnimode import _dispatch
    from pymultus.cli.cnimode import _fail
    from pymultus.cli.cnimode import render
    from pymultus.cli.settings import Settings
    from pymultus.cni.errors import CniError

    settings = Settings.from_environ(os.environ)
    command = os.environ.get("CNI_COMMAND", "")
    data = sys.stdin.buffer.read() if command not in ("", "VERSION") else b""
    try:
        out = _dispatch(settings, os.environ, data, args.type)
    except CniError as exc:
        return _fail(sys.stdout, exc)
    sys.stdout.write(render(command, out))
    return 0
