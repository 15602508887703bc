"""``pymultus daemon``: thick mode's node daemon (see :mod:`pymultus.daemon.server`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def register(sub: Any) -> None:
    p = sub.add_parser(
        "daemon",
        help="serve CNI calls from pymultus-shim over a unix socket (thick mode)",
        description="Run the node daemon of thick mode. It answers POST /cni (and /delegate "
        "for hot-plug) with exactly what thin pymultus would print, with bounded "
        "concurrency: past --workers running and --queue waiting, a call gets CNI error 11 "
        "(try again later) at once. GET /healthz, /readyz, /metrics. SIGTERM drains.",
        epilog="Example: pymultus daemon --socket /run/pymultus/pymultus.sock --workers 8 "
        "--queue 64 --readiness-file /run/flannel/subnet.env",
    )
    p.add_argument(
        "--socket",
        default=os.environ.get("PYMULTUS_SOCKET", "/run/pymultus/pymultus.sock"),
        help="unix socket path (default $PYMULTUS_SOCKET or /run/pymultus/pymultus.sock)",
    )
    p.add_argument("--workers", type=_positive_int, default=8, help="worker threads (default 8)")
    p.add_argument(
        "--queue",
        type=_non_negative_int,
        default=64,
        help="requests accepted beyond the busy workers (default 64)",
    )
    p.add_argument(
        "--request-timeout",
        type=_seconds,
        default=100.0,
        metavar="S",
        help="per request, from arrival: not started by then = error 11, "
        "not finished = error 104 (default 100)",
    )
    p.add_argument(
        "--readiness-file",
        default=None,
        metavar="F",
        help="/readyz fails until this file exists (e.g. the cluster network's)",
    )
    p.add_argument(
        "--max-connections",
        type=_positive_int,
        default=512,
        help="open connections at once; more get error 11 (default 512)",
    )
    p.add_argument(
        "--drain-timeout",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="after SIGTERM, how long taken requests may still run (default 60)",
    )
    p.add_argument(
        "--setup",
        action="append",
        default=[],
        metavar="MODULE:FUNC",
        help="extra setup hook called with the daemon services at start (repeatable)",
    )
    p.add_argument(
        "--no-preload",
        action="store_true",
        help="do not import the kubernetes client and the plugin types at start",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import logging

    from pymultus.daemon.listen import DaemonError
    from pymultus.daemon.listen import check_root
    from pymultus.daemon.server import Daemon
    from pymultus.daemon.server import DaemonConfig
    from pymultus.daemon.services import DEFAULT_SETUP_HOOKS

    if not args.verbose and not args.quiet and "PYMULTUS_LOG_LEVEL" not in os.environ:
        # A daemon says what it does: start, stop, one line per request.
        logging.getLogger("pymultus.daemon").setLevel(logging.INFO)
    try:
        check_root()
        config = DaemonConfig(
            socket_path=os.path.abspath(args.socket),
            workers=args.workers,
            queue=args.queue,
            request_timeout=args.request_timeout,
            readiness_file=args.readiness_file,
            max_connections=args.max_connections,
            drain_timeout=args.drain_timeout,
            setup_hooks=(*DEFAULT_SETUP_HOOKS, *args.setup),
            preload=not args.no_preload,
            environ=dict(os.environ),
        )
        return Daemon(config).run()
    except DaemonError as exc:
        print(f"pymultus daemon: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"pymultus daemon: error: cannot serve {args.socket}: {exc}", file=sys.stderr)
        return 1
