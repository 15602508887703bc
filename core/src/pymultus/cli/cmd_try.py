"""``pymultus try``: the pod's networks added for real in throwaway namespaces, then removed.

The plan ``dry-run`` shows, executed by the meta-plugin's own ADD (in this process,
with the manifests as its Kubernetes source) in a throwaway pod namespace; the plugins
run in a throwaway "host" namespace holding veth masters for the NADs and a stand-in
cluster network. The pod namespace is read back with ``ip -j`` and shown, with the
network-status the ADD wrote; then DEL, and everything is removed (also on Ctrl-C,
SIGTERM or a failure). See :mod:`pymultus.tryrun`.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

EXAMPLE = """\
Example:
  pymultus try -f examples/seed/network-attachment.yaml -f examples/seed/pod.yaml
  pymultus try -f examples/seed/ --keep          # leave the namespaces for a look around

Without --master, each macvlan/ipvlan-style "master" of the NADs is replaced by a
throwaway veth in the throwaway host namespace (the output says which). Without --conf,
a bridge + host-local network on 198.51.100.0/24 stands in for the cluster network.
Needs root (it creates network namespaces)."""


def register(sub: Any) -> None:
    from pymultus.cli.cmd_dryrun import add_plan_options
    from pymultus.cli.render import add_console_options
    from pymultus.cli.render import add_output_option

    p = sub.add_parser(
        "try",
        help="run a pod's networks for real in throwaway namespaces, show them, remove them",
        description=(
            "Execute the plan dry-run shows: the meta-plugin's ADD in a throwaway network "
            "namespace, then the interfaces, addresses and routes as ip shows them and the "
            "network-status, then DEL and cleanup (also on Ctrl-C or failure)."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_plan_options(p)  # -f, --conf, --pod, -n, --cni-path, --bin-dir, --ifname, --cni-args
    _set_help(p, "--pod", "the pod to run (NAME or NS/NAME); needed when the files hold several")
    p.add_argument(
        "--master",
        default="",
        metavar="IF",
        help="use the existing interface IF of this network namespace as every NAD's master "
        "instead of a throwaway veth; the plugins then run in this namespace",
    )
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the namespaces after the ADD and print how to inspect and remove them",
    )
    p.add_argument(
        "--prefix",
        default="",
        help="name prefix of every namespace and link made (default: pmt + 5 random characters)",
    )
    add_output_option(p)
    add_console_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pymultus.cli.render import Console
    from pymultus.cni.errors import CniError
    from pymultus.tryrun.report import MachineReport
    from pymultus.tryrun.report import TextReport
    from pymultus.tryrun.runner import Terminated
    from pymultus.tryrun.runner import TryOptions
    from pymultus.tryrun.runner import TryRun

    console = Console.from_args(args)
    report: TextReport | MachineReport = (
        TextReport(console) if args.output == "text" else MachineReport(console, args.output)
    )
    if os.geteuid() != 0:
        console.error(
            "pymultus try needs root: it creates network namespaces and links. "
            "Run it as root, or use `pymultus dry-run` to see the plan without touching anything."
        )
        return 1
    opts = TryOptions(
        files=list(args.filename),
        conf=args.conf or "",
        pod=args.pod,
        namespace=args.namespace,
        cni_path=args.cni_path,
        bin_dir=args.bin_dir or "",
        ifname=args.ifname,
        cni_args=args.cni_args,
        master=args.master,
        keep=args.keep,
        prefix=args.prefix,
        verbose=int(getattr(args, "verbose", 0) or 0),
    )
    previous = _trap_termination(Terminated)
    try:
        outcome = TryRun(opts, report).execute()
    except CniError as exc:
        report.finish(ok=False, error=str(exc))
        raise  # pymultus: error: ... (CNI code N), exit 1
    except KeyboardInterrupt:
        report.finish(ok=False, error="interrupted")
        raise  # exit 130
    except Terminated as exc:
        report.finish(ok=False, error=f"terminated by signal {exc.signum}")
        console.error(f"terminated by signal {exc.signum}")
        return 128 + exc.signum
    except (OSError, RuntimeError, ValueError) as exc:
        report.finish(ok=False, error=str(exc))
        console.error(str(exc))
        return 1
    finally:
        _restore(previous)
    if outcome.cleanup_problems:
        report.finish(ok=False, error="; ".join(outcome.cleanup_problems))
        console.error("could not remove everything this run made (see above)")
        return 1
    report.finish(ok=True)
    return 0


def _set_help(parser: argparse.ArgumentParser, option: str, text: str) -> None:
    """Reword the help of a shared option for this command."""
    for action in parser._actions:  # argparse has no public accessor
        if option in action.option_strings:
            action.help = text


def _trap_termination(exc_type: type[BaseException]) -> dict[int, Any]:
    """SIGTERM and SIGHUP raise ``exc_type(signum)`` in the main thread (like Ctrl-C
    raises KeyboardInterrupt), so the run's ``finally`` cleans up."""

    def handler(signum: int, frame: object) -> None:
        del frame
        raise exc_type(signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)
