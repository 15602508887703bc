"""``pymultus plugins``: which types are installed as Python packages, which as binaries."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser(
        "plugins",
        help="list installed Python plugin types and binaries on the path",
        description="List CNI types: Python plugin packages (with distribution and version) "
        "and executables found in --bin-dir / CNI_PATH.",
        epilog="Example: pymultus plugins --bin-dir /usr/lib/cni -o json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--bin-dir", action="append", default=[], help="directory with CNI binaries (repeatable)"
    )
    p.add_argument(
        "--check", action="store_true", help="import every Python plugin to prove it loads"
    )
    p.add_argument("-o", "--output", choices=("text", "json"), default="text")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pymultus.cli.settings import DEFAULT_CNI_PATH
    from pymultus.cli.settings import Settings
    from pymultus.cli.settings import split_path
    from pymultus.cni.errors import CniError

    settings = Settings.from_environ(os.environ)
    registry = settings.registry()
    path = list(args.bin_dir) + split_path(os.environ.get("CNI_PATH", ""))
    if not path:
        path = split_path(DEFAULT_CNI_PATH)
    python: list[dict[str, Any]] = []
    failed = False
    for ref in registry.python_types():
        row: dict[str, Any] = {
            "type": ref.name,
            "distribution": ref.dist,
            "version": ref.version,
            "object": ref.value,
        }
        if args.check:
            try:
                registry.load_python_type(ref.name)
                row["loads"] = True
            except CniError as exc:
                row["loads"] = False
                row["error"] = exc.msg
                failed = True
        python.append(row)
    binaries: list[dict[str, str]] = []
    seen: set[str] = set()
    for directory in path:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            full = os.path.join(directory, name)
            if name in seen or not os.path.isfile(full) or not os.access(full, os.X_OK):
                continue
            seen.add(name)
            binaries.append({"type": name, "path": full})
    if args.output == "json":
        print(json.dumps({"python": python, "binaries": binaries, "path": path}, indent=2))
    else:
        print("Python plugin types (entry points in pymultus.plugins):")
        for row in python:
            status = (
                ""
                if "loads" not in row
                else ("  ok" if row["loads"] else f"  BROKEN: {row['error']}")
            )
            print(
                f"  {row['type']:<16} {row['distribution']} {row['version']}  ({row['object']}){status}"
            )
        print(f"Binaries on {':'.join(path)}:")
        for b in binaries:
            shadow = (
                "  (a Python plugin takes precedence)"
                if any(r["type"] == b["type"] for r in python)
                else ""
            )
            print(f"  {b['type']:<16} {b['path']}{shadow}")
    return 1 if failed else 0
