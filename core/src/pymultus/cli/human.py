"""``pymultus`` for people: subcommands, readable errors on stderr, exit codes.

Each subcommand lives in its own module exposing ``register(subparsers)`` (builds its
parser, with an example in the help) and ``run(args) -> int``. Heavy imports happen
inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from pymultus.cni.errors import CniError

#: (command, module) in the order ``--help`` lists them.
COMMANDS = (
    ("dry-run", "pymultus.cli.cmd_dryrun"),
    ("try", "pymultus.cli.cmd_try"),
    ("validate", "pymultus.cli.cmd_validate"),
    ("plugins", "pymultus.cli.cmd_plugins"),
    ("chain", "pymultus.cli.cmd_chain"),
    ("run-plugin", "pymultus.cli.cmd_runplugin"),
    ("install", "pymultus.cli.cmd_install"),
    ("daemon", "pymultus.cli.cmd_daemon"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pymultus",
        description=(
            "A Multus-style CNI meta-plugin. Run by a container runtime (CNI_COMMAND set) it "
            "is a CNI plugin; run by a person it plans, tries and inspects networks."
        ),
        epilog="Example: pymultus dry-run -f examples/seed/network-attachment.yaml -f examples/seed/pod.yaml",
    )
    parser.add_argument("--version", action="version", version=f"pymultus {_version()}")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for _name, module_name in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # a subcommand not built yet
            raise
        module.register(sub)
    return parser


def _version() -> str:
    from pymultus import __version__

    return __version__


def run_human(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _setup_logging(args)
    try:
        code: int = args.run(args)
        return code
    except CniError as exc:
        print(f"pymultus {args.command}: error: {exc} (CNI code {exc.code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pymultus {args.command}: interrupted", file=sys.stderr)
        return 130


def _setup_logging(args: argparse.Namespace) -> None:
    import logging

    if args.verbose >= 2:
        level = logging.DEBUG
    elif args.verbose == 1:
        level = logging.INFO
    elif args.quiet:
        level = logging.ERROR
    else:
        level = getattr(
            logging, os.environ.get("PYMULTUS_LOG_LEVEL", "WARNING").upper(), logging.WARNING
        )
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s"
    )
