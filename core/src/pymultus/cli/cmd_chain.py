"""``pymultus chain add|del|check|status|gc``: run a conflist, cnitool-style.

The chain is executed by the same engine the meta-plugin uses; types resolve to Python
plugin packages first, else to binaries in ``--bin-dir`` and ``CNI_PATH``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Any

VERBS = ("add", "del", "check", "status", "gc")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "chain",
        help="run a conflist (ADD/DEL/CHECK/STATUS/GC) against a network namespace",
        description="Run a CNI network configuration list as a runtime would (cnitool-style). "
        "ADD prints the final result; a failed ADD is rolled back.",
        epilog="Example: pymultus chain add --conf net.conflist --netns /run/netns/demo --ifname net1 "
        '--capability-args \'{"mac": "c2:b0:57:49:47:f1"}\'',
    )
    p.add_argument("verb", choices=VERBS)
    p.add_argument(
        "--conf", required=True, help="conflist or single-plugin conf file ('-' for stdin)"
    )
    p.add_argument("--netns", default="", help="network namespace path (required for add/check)")
    p.add_argument(
        "--ifname", default="eth0", help="interface name in the namespace (default eth0)"
    )
    p.add_argument(
        "--container-id", default="", help="container id (default: derived from --netns)"
    )
    p.add_argument("--args", default="", help="CNI_ARGS, e.g. 'IgnoreUnknown=1;IP=10.1.1.5/24'")
    p.add_argument(
        "--capability-args", default="", help="JSON object of capability args (runtimeConfig)"
    )
    p.add_argument("--cache-dir", default="", help="result cache dir (default /var/lib/cni)")
    p.add_argument(
        "--bin-dir",
        action="append",
        default=[],
        help="directory searched before CNI_PATH (repeatable)",
    )
    p.add_argument(
        "--valid",
        action="append",
        default=[],
        metavar="CID/IFNAME",
        help="gc: an attachment to keep (repeatable); none given = delete every cached one",
    )
    p.add_argument(
        "--no-rollback", action="store_true", help="add: leave earlier plugins in place on failure"
    )
    p.set_defaults(run=run)


def container_id_for(netns: str) -> str:
    """Like cnitool: stable per namespace path."""
    return "pymultus-" + hashlib.sha512(netns.encode()).hexdigest()[:20]


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pymultus.cli.settings import DEFAULT_CACHE_DIR
    from pymultus.cli.settings import Settings
    from pymultus.cli.settings import default_cni_path
    from pymultus.cni.env import split_cni_args
    from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
    from pymultus.cni.errors import CniError
    from pymultus.cni.netconf import NetworkConfigList
    from pymultus.engine import chain
    from pymultus.engine.cache import ResultCache

    settings = Settings.from_environ(os.environ)
    registry = settings.registry()
    if args.conf == "-":
        net = NetworkConfigList.from_bytes(sys.stdin.buffer.read(), source="<stdin>")
    else:
        net = NetworkConfigList.from_file(args.conf)
    path = (*args.bin_dir, *default_cni_path())
    try:
        caps = json.loads(args.capability_args) if args.capability_args else {}
    except ValueError as exc:
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES, f"--capability-args is not JSON: {exc}"
        ) from None
    if not isinstance(caps, dict):
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, "--capability-args must be a JSON object")
    engine = chain.Engine(
        registry=registry,
        cache=ResultCache(
            Path(args.cache_dir or os.environ.get("PYMULTUS_CACHE_DIR", DEFAULT_CACHE_DIR))
        ),
        path=path,
        environ={k: v for k, v in os.environ.items() if not k.startswith("CNI_")},
        ctx=settings.plugin_context(registry),
        rollback=not args.no_rollback,
    )
    if args.verb in ("add", "check") and not args.netns:
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, f"chain {args.verb} needs --netns")
    rt = chain.RuntimeConf(
        container_id=args.container_id or container_id_for(args.netns),
        netns=args.netns,
        ifname=args.ifname,
        args=tuple(split_cni_args(args.args)),
        capability_args=caps,
    )
    if args.verb == "add":
        from pymultus.cni.jsonenc import dumps_indent

        result = chain.add_network_list(engine, net, rt)
        print(dumps_indent(result))
    elif args.verb == "del":
        chain.del_network_list(engine, net, rt)
    elif args.verb == "check":
        chain.check_network_list(engine, net, rt)
    elif args.verb == "status":
        chain.status_network_list(engine, net)
    else:
        valid = None
        if args.valid:
            valid = []
            for item in args.valid:
                cid, _, ifname = item.partition("/")
                valid.append((cid, ifname))
        chain.gc_network_list(engine, net, valid)
    return 0
