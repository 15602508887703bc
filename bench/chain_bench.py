"""Benchmark: ``pymultus chain add`` + ``pymultus chain del`` vs a minimal shell driver.

Both sides run the same 3-binary chain of the installed reference plugins, in their own
namespace pairs: ``bridge`` (with ``host-local`` IPAM) then ``tuning`` (MAC + one sysctl).

* A: ``sh -c 'pymultus chain add ... && pymultus chain del ...'``
* B: ``sh driver.sh``: the binaries exec'd directly, ``printf``/``jq`` building each
  stdin (``prevResult`` on ADD, the final result on DEL in reverse), as libcni would.

Both run under one ``ip netns exec <host ns>`` per round, so that overhead is on both
sides. Paired, interleaved rounds; prints medians, p10/p90 and the ratio A/B.

Run as root: ``.venv/bin/python bench/chain_bench.py [-n 30]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ip
from _common import machine_note
from _common import md_header
from _common import md_row
from _common import paired
from _common import ratio
from _common import summarize
from _common import time_command

REPO = Path(__file__).resolve().parents[1]
PYMULTUS = REPO / ".venv" / "bin" / "pymultus"
REF = Path("/usr/lib/cni")
VERSION = "1.0.0"

DRIVER = r"""#!/bin/sh
# Minimal libcni-style driver: ADD in order with prevResult, DEL in reverse with the
# final result. P1/P2 are the plugin objects with name and cniVersion already in.
set -e
export CNI_CONTAINERID CNI_NETNS CNI_IFNAME CNI_PATH CNI_ARGS
r1=$(printf '%s' "$P1" | CNI_COMMAND=ADD "$BIN1")
c2=$(printf '%s' "$P2" | jq -c --argjson prev "$r1" '. + {prevResult: $prev}')
r2=$(printf '%s' "$c2" | CNI_COMMAND=ADD "$BIN2")
d2=$(printf '%s' "$P2" | jq -c --argjson prev "$r2" '. + {prevResult: $prev}')
printf '%s' "$d2" | CNI_COMMAND=DEL "$BIN2"
d1=$(printf '%s' "$P1" | jq -c --argjson prev "$r2" '. + {prevResult: $prev}')
printf '%s' "$d1" | CNI_COMMAND=DEL "$BIN1"
"""


def plugins(tok: str, data: Path) -> list[dict[str, object]]:
    return [
        {
            "type": "bridge",
            "bridge": f"pmx{tok}br",
            "isGateway": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "192.0.2.0/24"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
                "dataDir": str(data / "ipam"),
            },
        },
        {
            "type": "reftuning",
            "mac": "c2:b0:57:49:47:f1",
            "sysctl": {"net.ipv4.conf.eth0.arp_ignore": "1"},
            "dataDir": str(data / "tuning"),
        },
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=30, help="paired rounds (default 30, minimum 20)")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if args.n < 20:
        parser.error("-n must be at least 20")
    for need in ("ip", "jq", "sh"):
        if shutil.which(need) is None:
            parser.error(f"{need} is required")

    tok = secrets.token_hex(3)
    names = {k: f"pmxb{tok}{k}" for k in ("hA", "cA", "hB", "cB")}
    tmp = Path(tempfile.mkdtemp(prefix="pmx-chain-bench-"))
    made: list[str] = []
    try:
        for name in names.values():
            ip("netns", "add", name)
            made.append(name)
        bindir = tmp / "bin"
        bindir.mkdir()
        (bindir / "reftuning").symlink_to(REF / "tuning")
        net = f"pmxb{tok}net"

        # A: pymultus
        data_a = tmp / "A"
        conf = tmp / "net.conflist"
        conf.write_text(
            json.dumps({"cniVersion": VERSION, "name": net, "plugins": plugins(tok, data_a)})
        )
        chain = [str(PYMULTUS), "chain"]
        common = ["--conf", str(conf), "--netns", f"/run/netns/{names['cA']}", "--ifname", "eth0"]
        common += [
            "--container-id",
            f"pmxb{tok}ctrA",
            "--bin-dir",
            str(bindir),
            "--cache-dir",
            str(tmp / "cache"),
        ]
        add_cmd = " ".join(map(_q, [*chain, "add", *common]))
        del_cmd = " ".join(map(_q, [*chain, "del", *common]))
        env_a = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_PATH": str(REF),
            "PYMULTUS_INDEX_DIR": str(tmp / "index"),
        }
        argv_a = [
            "ip",
            "netns",
            "exec",
            names["hA"],
            "sh",
            "-c",
            f"{add_cmd} >/dev/null && {del_cmd}",
        ]

        # B: the shell driver
        driver = tmp / "driver.sh"
        driver.write_text(DRIVER)
        p_b = [{**p, "name": net, "cniVersion": VERSION} for p in plugins(tok, tmp / "B")]
        env_b = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "CNI_CONTAINERID": f"pmxb{tok}ctrB",
            "CNI_NETNS": f"/run/netns/{names['cB']}",
            "CNI_IFNAME": "eth0",
            "CNI_PATH": str(REF),
            "CNI_ARGS": "",
            "P1": json.dumps(p_b[0]),
            "P2": json.dumps(p_b[1]),
            "BIN1": str(REF / "bridge"),
            "BIN2": str(REF / "tuning"),
        }
        argv_b = ["ip", "netns", "exec", names["hB"], "sh", str(driver)]

        def run_a() -> float:
            return time_command(argv_a, env=env_a)

        def run_b() -> float:
            return time_command(argv_b, env=env_b)

        a, b = paired(run_a, run_b, args.n, warmup=args.warmup)
        _verify_clean(names, tmp, net)

        sa, sb, r = summarize(a), summarize(b), ratio(a, b)
        print(f"chain: bridge(+host-local) -> tuning, cniVersion {VERSION}; {machine_note()}")
        print(
            f"A = pymultus chain add + chain del;  B = sh + printf/jq driver; {args.n} paired rounds"
        )
        print()
        print(md_header(["ADD+DEL wall ms", "median", "p10", "p90", "min", "max"]))
        print(md_row(["A pymultus", sa.median, sa.p10, sa.p90, sa.min, sa.max]))
        print(md_row(["B shell driver", sb.median, sb.p10, sb.p90, sb.min, sb.max]))
        print()
        print(f"ratio A/B: {r}")
        return 0
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _verify_clean(names: dict[str, str], tmp: Path, net: str) -> None:
    """Every round's DEL really undid the ADD on both sides (else the numbers lie)."""
    for side in ("A", "B"):
        left = [link["ifname"] for link in json.loads(ip("-n", names[f"c{side}"], "-j", "link"))]
        if left != ["lo"]:
            raise RuntimeError(f"side {side}: links left in the container namespace: {left}")
        lease_dir = tmp / side / "ipam" / net
        leases = (
            [p.name for p in lease_dir.iterdir() if p.name[0].isdigit()]
            if lease_dir.is_dir()
            else []
        )
        if leases:
            raise RuntimeError(f"side {side}: host-local leases left: {leases}")


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    sys.exit(main())
