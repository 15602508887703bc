"""``pymultus install``: the binary into the CNI bin dir, ``00-pymultus.conf`` into the
conf dir, both atomically; ``--watch`` keeps the config in place and up to date."""

from __future__ import annotations

import argparse
import sys
from typing import Any

EPILOG = """\
examples:
  # thin mode: the fast launcher and a config for the node's primary CNI
  pymultus install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d \\
      --kubeconfig /etc/cni/net.d/pymultus.d/pymultus.kubeconfig

  # thick mode, as a DaemonSet container: the compiled shim, then keep watching
  pymultus install --thick --bin-dir /host/opt/cni/bin --conf-dir /host/etc/cni/net.d --watch

  # show what would be written, touching nothing
  pymultus install --conf-dir /etc/cni/net.d --dry-run

The primary is the first *.conf/*.conflist/*.json of --conf-dir by name (00-pymultus.*
left out); the generated config names it as clusterNetwork and copies its cniVersion and
enabled capabilities. cniVersion < 1.0.0 gives 00-pymultus.conf, else 00-pymultus.conflist.
Unchanged files are not rewritten.
"""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "install",
        help="install the pymultus binary and generate 00-pymultus.conf (atomically)",
        description="Put pymultus on a node: the executable into the CNI bin dir (or the "
        "pymultus-shim with --thick) and 00-pymultus.conf/.conflist, generated from the "
        "primary CNI config, into the conf dir. Every file is replaced by rename, so a "
        "runtime never sees a partial file and a running binary is never 'text file busy'.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--bin-dir", default="/opt/cni/bin", help="CNI bin dir (default %(default)s)")
    p.add_argument(
        "--conf-dir", default="/etc/cni/net.d", help="CNI conf dir (default %(default)s)"
    )
    p.add_argument("--kubeconfig", help="kubeconfig path written into the config")
    p.add_argument(
        "--thick",
        action="store_true",
        help="thick mode: install pymultus-shim, config type pymultus-shim",
    )
    p.add_argument(
        "--python-shim",
        action="store_true",
        help="with --thick: the Python shim instead of the compiled one",
    )
    p.add_argument(
        "--shim-binary",
        metavar="FILE",
        help="with --thick: the compiled shim to install (default: the build dir of this "
        "checkout, or $PYMULTUS_SHIM_BINARY)",
    )
    p.add_argument(
        "--launcher",
        choices=("fast", "script", "symlink"),
        help="thin mode: 'fast' (default) is a -I -S Python script with the import path "
        "baked in; 'script' a plain console-script wrapper; 'symlink' a link to this "
        "environment's pymultus script",
    )
    p.add_argument(
        "--primary",
        metavar="FILE",
        help="the primary CNI config (a bare name is looked up in --conf-dir); default: "
        "the first config file of --conf-dir",
    )
    p.add_argument(
        "--cni-version",
        metavar="V",
        help="required cniVersion: an error unless the primary has exactly this version",
    )
    p.add_argument(
        "--namespace-isolation",
        action="store_true",
        help="pods may only use NADs of their own namespace (and the global ones)",
    )
    p.add_argument(
        "--global-namespaces",
        nargs="+",
        metavar="NS",
        default=[],
        help="namespaces any pod may use NADs from (space or comma separated)",
    )
    p.add_argument("--log-file", help="the meta-plugin's logFile")
    p.add_argument("--log-level", help="the meta-plugin's logLevel: debug, verbose, error, panic")
    p.add_argument(
        "--readiness-indicator-file",
        metavar="FILE",
        help="ADD waits for this file (the primary network's readiness)",
    )
    p.add_argument(
        "--socket-dir", help="with --thick: the daemon's socket dir (config daemonSocketDir)"
    )
    p.add_argument(
        "--watch",
        action="store_true",
        help="keep running: regenerate when the primary changes, restore our config if "
        "another CNI removes it; stops on SIGTERM/SIGINT",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="--watch poll interval (default %(default)s)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="print what would be written; change nothing"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pymultus.install import InstallError

    try:
        return _run(args)
    except (InstallError, OSError) as exc:
        print(f"pymultus install: error: {exc}", file=sys.stderr)
        return 1


def _say_fn(args: argparse.Namespace) -> Any:
    quiet = bool(getattr(args, "quiet", False))

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    return say


def _run(args: argparse.Namespace) -> int:
    import functools
    import logging
    from pathlib import Path

    from pymultus.install import InstallError
    from pymultus.install import autoconf
    from pymultus.install import launcher
    from pymultus.install.files import same_file_content

    if args.thick and args.launcher:
        raise InstallError(
            "--launcher is for the thin pymultus binary; with --thick use --python-shim"
        )
    if not args.thick and (args.python_shim or args.shim_binary):
        raise InstallError("--python-shim and --shim-binary need --thick")
    if args.python_shim and args.shim_binary:
        raise InstallError("--python-shim and --shim-binary exclude each other")
    if args.dry_run and args.watch:
        raise InstallError("--dry-run and --watch do not mix")
    if args.interval <= 0:
        raise InstallError("--interval must be positive")
    opts = autoconf.Options(
        thick=args.thick,
        cni_version=args.cni_version,
        kubeconfig=args.kubeconfig,
        namespace_isolation=args.namespace_isolation,
        global_namespaces=tuple(
            ns.strip() for item in args.global_namespaces for ns in item.split(",") if ns.strip()
        ),
        log_file=args.log_file,
        log_level=args.log_level,
        readiness_indicator_file=args.readiness_indicator_file,
        socket_dir=args.socket_dir,
    )
    opts.check()
    say = _say_fn(args)
    bin_dir = Path(args.bin_dir).absolute()
    conf_dir = Path(args.conf_dir).absolute()

    # The config is generated (and checked) first, so a bad primary changes nothing; the
    # binary goes in before the config, so the config never names a missing binary.
    gen: autoconf.Generated | None = None
    try:
        gen = autoconf.generate(conf_dir, opts, args.primary)
    except InstallError:
        if not args.watch:
            raise
        # --watch: its first tick logs the problem and it keeps retrying.

    if args.thick:
        install_binary = functools.partial(
            launcher.install_shim,
            bin_dir,
            python_shim=args.python_shim,
            shim_binary=args.shim_binary,
        )
        binary = bin_dir / launcher.SHIM_NAME
    else:
        install_binary = functools.partial(
            launcher.install_launcher, bin_dir, args.launcher or "fast"
        )
        binary = bin_dir / launcher.BINARY_NAME
    action = install_binary(dry_run=args.dry_run)
    say(_describe(action.path, action.what, action.changed, args.dry_run))

    if gen is not None:
        for warning in autoconf.shadow_warnings(gen):
            logging.getLogger("pymultus.install").warning("%s", warning)
        if args.dry_run:
            changed = not same_file_content(gen.path, gen.data, autoconf.CONF_MODE)
        else:
            changed = autoconf.write(gen)
        say(
            _describe(
                gen.path,
                f"from primary {gen.primary.path} (cniVersion {gen.primary.cni_version})",
                changed,
                args.dry_run,
            )
        )
        if args.dry_run:
            sys.stdout.write(gen.data.decode())
            sys.stdout.flush()

    if not args.watch:
        return 0
    return _watch(args, conf_dir, opts, gen, binary, install_binary, say)


def _describe(path: Any, what: str, changed: bool, dry_run: bool) -> str:
    if dry_run:
        return f"{path}: {'would write' if changed else 'unchanged'}: {what}"
    return f"{path}: {'written' if changed else 'unchanged'}: {what}"


def _watch(
    args: argparse.Namespace,
    conf_dir: Any,
    opts: Any,
    gen: Any,
    binary: Any,
    install_binary: Any,
    say: Any,
) -> int:
    import signal
    import threading

    from pymultus.install.watch import Watcher

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        # Nothing but bookkeeping here: printing from a handler can re-enter stdout.
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher = Watcher(
        conf_dir,
        opts,
        args.primary,
        say=say,
        binary=binary,
        install_binary=install_binary,
        initial=gen,
    )
    code = watcher.run(stop, args.interval)
    if received:
        say(f"{received[0]} received")
    return code
