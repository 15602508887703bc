"""The differential table: configs run through /usr/lib/cni/<type> and through pymultus.

Every step's stdout, exit code, kernel state and tuning backup files must be equal,
except the aspects listed in ``differs`` — each with its reason. The installed reference
is Debian's 1.1.1; where the current upstream (HEAD) fixed or added something and we
follow HEAD, the difference is listed as such. MACs the kernel picks are masked.
"""

from __future__ import annotations

from typing import Any

from .harness import DATADIR
from .harness import MASTER
from .harness import NETNS
from .harness import Case
from .harness import Run
from .harness import Step
from .harness import WorldSpec

# -- building blocks -------------------------------------------------------------------------


def prev(version: str, *, ipv6: bool = False, ifname: str = "eth1") -> dict[str, Any]:
    """A prevResult as macvlan+static would print it, in ``version``."""
    if ipv6:
        ip: dict[str, Any] = {"address": "2001:db8::5/64", "gateway": "2001:db8::1"}
        route = {"dst": "::/0"}
    else:
        ip = {"address": "10.1.1.5/24", "gateway": "10.1.1.1"}
        route = {"dst": "0.0.0.0/0"}
    if version in ("0.3.1", "0.4.0"):
        ip = {"version": "6" if ipv6 else "4", "interface": 0, **ip}
    else:
        ip = {"interface": 0, **ip}
    return {
        "cniVersion": version,
        "interfaces": [{"name": ifname, "mac": "0a:58:0a:01:01:05", "sandbox": NETNS}],
        "ips": [ip],
        "routes": [route],
        "dns": {"nameservers": ["10.1.1.1"], "search": ["example.test"]},
    }


def tuning(version: str = "0.4.0", *, with_prev: bool = True, **keys: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": version,
        "name": "pmdiff",
        "type": "tuning",
        "dataDir": DATADIR,
        **keys,
    }
    if with_prev and "prevResult" not in conf:
        conf["prevResult"] = prev(version)
    return conf


def add_check_del(conf: dict[str, Any], **step: Any) -> list[Step]:
    """ADD, then CHECK and DEL with the ADD's result as prevResult (what libcni does)."""
    return [
        Step("ADD", conf, **step),
        Step("CHECK", prev="last", **step),
        Step("DEL", prev="last", **step),
    ]


def macvlan(
    version: str = "0.4.0", ipam: dict[str, Any] | None = None, **keys: Any
) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": version,
        "name": "pmdiff",
        "type": "macvlan",
        "master": MASTER,
        **keys,
    }
    if ipam is not None:
        conf["ipam"] = ipam
    return conf


def static(
    addresses: list[dict[str, str]] | None = None,
    routes: list[dict[str, Any]] | None = None,
    **keys: Any,
) -> dict[str, Any]:
    ipam: dict[str, Any] = {"type": "static", **keys}
    if addresses is not None:
        ipam["addresses"] = addresses
    if routes is not None:
        ipam["routes"] = routes
    return ipam


V4 = [{"address": "10.1.1.5/24", "gateway": "10.1.1.1"}]
V6 = [{"address": "2001:db8::5/64", "gateway": "2001:db8::1"}]
DEFAULT4 = [{"dst": "0.0.0.0/0"}]
DEFAULT6 = [{"dst": "::/0"}]
DNS = {"nameservers": ["10.1.1.1"], "domain": "example.test", "search": ["example.test"]}


def static_conf(version: str, ipam: dict[str, Any], **keys: Any) -> dict[str, Any]:
    return {"cniVersion": version, "name": "pmdiff", "type": "static", "ipam": ipam, **keys}


# -- checks of our side for the documented differences ------------------------------------


def _ours_restored_sysctls(run: Run) -> None:
    """ADD saved the sysctls' values as they were, and after DEL they are back."""
    before = run.initial["ctr"]["sysctls"]
    (saved,) = run.steps[0].saved_sysctls.values()
    assert saved and set(saved) <= set(before)
    assert all(before[path] == value for path, value in saved.items())
    assert run.steps[-1].rc == 0
    assert run.steps[-1].state["ctr"]["sysctls"] == before


def _ours_back_to_initial(run: Run) -> None:
    """After the last DEL the container looks as before the first ADD, no backup left."""
    assert run.steps[-1].rc == 0
    assert run.steps[-1].state == run.initial
    assert run.steps[-1].backup == {}


def _ours_nothing_changed(run: Run) -> None:
    """The failing ADD left the kernel and the data dir as they were."""
    assert run.steps[0].rc == 1
    assert run.steps[0].state == run.initial
    assert run.steps[0].backup == {}


def _ours_cni_error_for_args_sysctl(run: Run) -> None:
    out = run.steps[0].json
    assert run.steps[0].rc == 1
    assert out["code"] == 7
    assert "args.cni.sysctl" in out["msg"]
    assert run.steps[0].state == run.initial


def _ours_dotted_ifname(run: Run) -> None:
    assert run.steps[0].rc == 0
    assert run.steps[0].state["ctr"]["sysctls"]["net/ipv4/conf/eth1.5/arp_notify"] == "1"
    _ours_restored_sysctls(run)


def _ours_check_prints_values(run: Run) -> None:
    out = run.steps[1].json
    assert out["msg"] == (
        "Error: Tuning configured all-multicast mode of eth1 is true, current value is false"
    )


def _ours_txqlen(run: Run) -> None:
    assert run.steps[0].state["ctr"]["links"]["eth1"]["txqlen"] == 500
    _ours_back_to_initial(run)


def _ours_netns_gone(run: Run) -> None:
    assert run.steps[-1].rc == 0
    assert run.steps[-1].backup == {}


def _ours_no_leak(run: Run) -> None:
    """The failed macvlan ADD left no link behind."""
    assert run.steps[0].rc == 1
    assert run.steps[0].state == run.initial


# -- the table -------------------------------------------------------------------------------

HEAD = "we follow the current reference (HEAD); the installed 1.1.1 predates it"
RESTORES_SYSCTL = "ours restores sysctls on DEL; the reference never does"
VALIDATE_FIRST = (
    "ours validates all input before touching anything and rolls back a failing ADD; "
    "the reference leaves what it changed before the error"
)
BACKUP_ROLLBACK = "ours removes the backup of a failed ADD; the reference leaves it behind"
NDISC = "macvlan sets ndisc_notify as HEAD does (1.1.1 leaves it 0)"
LEAK = "the reference leaks the DOWN macvlan when IPAM fails; ours removes it"


def ndisc(ifname: str = "eth1") -> dict[str, str]:
    return {f"*.state:/ctr/sysctls/net/ipv6/conf/{ifname}/ndisc_notify": NDISC}


TUNING_CASES = [
    Case(
        "tuning-mac-0.3.1",
        [
            Step("ADD", tuning("0.3.1", mac="c2:b0:57:49:47:f1")),
            Step("CHECK", prev="last"),  # CHECK needs a config >= 0.4.0
            Step("DEL", prev="last"),
        ],
    ),
    Case(
        "tuning-mac-mtu-promisc-allmulti-0.4.0",
        add_check_del(
            tuning("0.4.0", mac="c2:b0:57:49:47:f1", mtu=1400, promisc=True, allmulti=True)
        ),
    ),
    Case(
        "tuning-mac-dashed-upper-case-1.0.0",
        # The result carries the MAC as written; CHECK compares strings, so it fails.
        add_check_del(tuning("1.0.0", mac="C2-B0-57-49-47-F1")),
    ),
    Case(
        "tuning-mac-precedence-runtimeConfig-cniargs-config",
        add_check_del(
            tuning(
                "0.4.0",
                mac="c2:b0:57:49:47:01",
                runtimeConfig={"mac": "c2:b0:57:49:47:02"},
                capabilities={"mac": True},
            ),
            args="IgnoreUnknown=1;MAC=c2:b0:57:49:47:03;K8S_POD_NAME=pod",
        ),
    ),
    Case(
        "tuning-mac-cniargs-over-config",
        add_check_del(
            tuning("0.4.0", mac="c2:b0:57:49:47:01"),
            args="IgnoreUnknown=true;MAC=c2:b0:57:49:47:03",
        ),
    ),
    Case(
        "tuning-args-cni-overrides",
        add_check_del(
            tuning(
                "0.4.0",
                mac="c2:b0:57:49:47:01",
                mtu=1300,
                promisc=False,
                sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"},
                args={
                    "cni": {
                        "mac": "c2:b0:57:49:47:09",
                        "mtu": 1280,
                        "promisc": True,
                        "allmulti": False,
                        "sysctl": {
                            "net.ipv4.conf.IFNAME.arp_notify": "0",
                            "net.ipv4.conf.IFNAME.arp_ignore": "2",
                        },
                    }
                },
            )
        ),
        sysctls=("net/ipv4/conf/{t}/arp_ignore",),
        # 1.1.1's CHECK does not substitute IFNAME: it reads .../conf/IFNAME/arp_notify.
        differs={"1.rc": HEAD, "1.stdout": HEAD, "2.state:/ctr/sysctls": RESTORES_SYSCTL},
        ours=_ours_back_to_initial,
    ),
    Case(
        "tuning-allmulti-false-turns-it-off",
        add_check_del(tuning("0.4.0", allmulti=False)),
        world=WorldSpec(container_setup=(("link", "set", "{t}", "allmulticast", "on"),)),
    ),
    Case(
        "tuning-sysctl-ipv4-dots-and-IFNAME",
        add_check_del(
            tuning(
                "0.4.0",
                sysctl={
                    "net.ipv4.conf.eth1.arp_notify": "1",
                    "net.ipv4.conf.IFNAME.arp_ignore": "1",
                },
            )
        ),
        sysctls=("net/ipv4/conf/{t}/arp_ignore",),
        # 1.1.1's CHECK does not substitute IFNAME: it reads .../conf/IFNAME/arp_ignore.
        differs={"1.rc": HEAD, "1.stdout": HEAD, "2.state:/ctr/sysctls": RESTORES_SYSCTL},
        ours=_ours_restored_sysctls,
    ),
    Case(
        "tuning-sysctl-ipv6-slashes-1.0.0",
        add_check_del(
            tuning(
                "1.0.0",
                sysctl={"net/ipv6/conf/eth1/accept_ra": "0", "net.ipv6.conf.eth1.autoconf": "0"},
                prevResult=prev("1.0.0", ipv6=True),
            )
        ),
        sysctls=("net/ipv6/conf/{t}/accept_ra", "net/ipv6/conf/{t}/autoconf"),
        differs={"2.state:/ctr/sysctls": RESTORES_SYSCTL},
        ours=_ours_restored_sysctls,
    ),
    Case(
        "tuning-sysctl-dotted-ifname",
        [
            Step(
                "ADD",
                tuning(
                    "0.4.0",
                    sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"},
                    prevResult=prev("0.4.0", ifname="eth1.5"),
                ),
            ),
            Step("DEL", prev="last"),
        ],
        world=WorldSpec(target="eth1.5"),
        # 1.1.1 substitutes IFNAME before turning dots into slashes: .../eth1/5/arp_notify.
        differs={"0.rc": HEAD, "0.stdout": HEAD, "0.state:/ctr/sysctls": HEAD},
        ours=_ours_dotted_ifname,
    ),
    Case(
        "tuning-sysctl-not-net",
        [Step("ADD", tuning("0.4.0", sysctl={"kernel.hostname": "pwned"}))],
        # Same refusal; HEAD's message shows the key after dots became slashes.
        differs={"0.stdout": HEAD},
    ),
    Case(
        "tuning-sysctl-dot-dot-stays-under-net",
        [Step("ADD", tuning("0.4.0", sysctl={"net/../kernel/hostname": "pwned"}))],
    ),
    Case(
        "tuning-sysctl-missing-file",
        [Step("ADD", tuning("0.4.0", sysctl={"net.ipv4.conf.IFNAME.nosuch": "1"}))],
    ),
    Case(
        "tuning-sysctl-bad-value",
        [Step("ADD", tuning("0.4.0", sysctl={"net.ipv4.conf.IFNAME.arp_notify": "x"}))],
    ),
    Case(
        "tuning-sysctl-duplicate-keys",
        [
            Step(
                "ADD",
                {
                    "__raw__": '{"cniVersion":"0.4.0","name":"pmdiff","type":"tuning",'
                    '"dataDir":"@DATADIR@","sysctl":{"net.ipv4.conf.eth1.arp_notify":"1",'
                    '"net.ipv4.conf.eth1.arp_notify":"0"},'
                    '"prevResult":{"cniVersion":"0.4.0"}}'
                },
            )
        ],
        differs={"0.rc": HEAD, "0.stdout": HEAD},
    ),
    Case(
        "tuning-prevresult-missing",
        [Step("ADD", tuning("0.4.0", with_prev=False, mtu=1400))],
    ),
    Case(
        "tuning-prevresult-wrong-family",
        [Step("ADD", tuning("0.4.0", mtu=1400, prevResult=prev("1.0.0")))],
    ),
    Case(
        "tuning-bad-mac-after-sysctl",
        [Step("ADD", tuning("0.4.0", mac="zz", sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"}))],
        # The reference wrote the sysctl and the backup before it parsed the MAC.
        differs={"0.state:/ctr/sysctls": VALIDATE_FIRST, "0.backup": BACKUP_ROLLBACK},
        ours=_ours_nothing_changed,
    ),
    Case(
        "tuning-multicast-mac-refused-by-kernel",
        [Step("ADD", tuning("0.4.0", mac="01:00:5e:00:00:01"))],
        differs={"0.backup": BACKUP_ROLLBACK},
        ours=_ours_nothing_changed,
    ),
    Case(
        "tuning-mtu-too-big",
        [Step("ADD", tuning("0.4.0", mtu=70000, mac="c2:b0:57:49:47:f1"))],
        # The reference changed the MAC before failing on the MTU, and keeps it.
        differs={"0.state:/ctr/links/eth1/mac": VALIDATE_FIRST, "0.backup": BACKUP_ROLLBACK},
        ours=_ours_nothing_changed,
    ),
    Case("tuning-type-error-mtu", [Step("ADD", tuning("0.4.0", mtu="1400"))]),
    Case("tuning-type-error-mtu-fraction", [Step("ADD", tuning("0.4.0", mtu=1400.5))]),
    Case(
        "tuning-type-error-args-cni",
        [Step("ADD", tuning("0.4.0", args={"cni": {"promisc": "yes"}}))],
    ),
    Case(
        "tuning-type-error-sysctl-value",
        [Step("ADD", tuning("0.4.0", sysctl={"net.ipv4.conf.eth1.arp_notify": 1}))],
    ),
    Case(
        "tuning-args-cni-sysctl-without-sysctl-map",
        [
            Step(
                "ADD",
                tuning("0.4.0", args={"cni": {"sysctl": {"net.ipv4.conf.IFNAME.arp_notify": "1"}}}),
            )
        ],
        # The reference panics (exit 2, Go stack trace, empty stdout).
        differs={
            "0.rc": "a CNI error instead of a crash",
            "0.stdout": "a CNI error instead of a crash",
        },
        ours=_ours_cni_error_for_args_sysctl,
    ),
    Case(
        "tuning-second-add-keeps-originals",
        [
            Step("ADD", tuning("0.4.0", mac="c2:b0:57:49:47:f1", mtu=1400, promisc=True)),
            Step("ADD"),
            Step("DEL", prev="last"),
        ],
        differs={
            "1.backup": "ours keeps the first ADD's originals; the reference saves tuned values",
            "2.state:/ctr/links/eth1": "so ours restores the originals on DEL; the reference cannot",
        },
        ours=_ours_back_to_initial,
    ),
    Case(
        "tuning-del-twice",
        [
            Step("ADD", tuning("0.4.0", mtu=1400, allmulti=True)),
            Step("DEL", prev="last"),
            Step("DEL", prev="last"),
        ],
    ),
    Case(
        "tuning-del-after-netns-gone",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("DEL", prev="last", before="rm-netns"),
        ],
        differs={
            "1.backup": "ours drops the backup of a namespace that is gone; the reference keeps it forever"
        },
        ours=_ours_netns_gone,
    ),
    Case(
        "tuning-del-without-netns",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("DEL", prev="last", env={"CNI_NETNS": None}),
        ],
        differs={
            "1.backup": "ours drops the backup when DEL names no namespace; the reference keeps it"
        },
        ours=_ours_netns_gone,
    ),
    Case(
        "tuning-del-unknown-cni-args",
        [Step("DEL", tuning("0.4.0"), args="FOO=bar")],
    ),
    Case(
        "tuning-missing-link",
        [Step("ADD", tuning("0.4.0", mtu=1400))],
        world=WorldSpec(target=None),
    ),
    Case(
        "tuning-missing-netns",
        [Step("ADD", tuning("0.4.0", mtu=1400), before="rm-netns")],
    ),
    Case(
        "tuning-txqlen",
        add_check_del(tuning("0.4.0", txQLen=500)),
        # 1.1.1 ignores txQLen (ADD and CHECK); DEL brings both back to the same state.
        differs={
            **{f"{i}.state:/ctr/links/eth1/txqlen": HEAD + " (txQLen)" for i in (0, 1)},
            **{f"{i}.backup": HEAD + " (txQLen)" for i in (0, 1)},
        },
        ours=_ours_txqlen,
    ),
    Case(
        "tuning-0.2.0-result",
        [
            Step(
                "ADD",
                tuning(
                    "0.2.0",
                    mac="c2:b0:57:49:47:f1",
                    prevResult={
                        "cniVersion": "0.2.0",
                        "ip4": {
                            "ip": "10.1.1.5/24",
                            "gateway": "10.1.1.1",
                            "routes": [{"dst": "0.0.0.0/0"}],
                        },
                        "dns": {},
                    },
                ),
            )
        ],
    ),
    Case(
        "tuning-1.0.0-ipv6-several-interfaces",
        add_check_del(
            tuning(
                "1.0.0",
                mac="c2:b0:57:49:47:f1",
                prevResult={
                    **prev("1.0.0", ipv6=True),
                    "interfaces": [
                        {"name": "eth1", "mac": "0a:58:0a:01:01:05", "sandbox": "/elsewhere"},
                        {"name": "other", "mac": "0a:58:0a:01:01:07"},
                        {"name": "eth1"},
                    ],
                    "extra": "dropped",
                },
            )
        ),
    ),
    Case(
        "tuning-8-byte-mac",
        add_check_del(tuning("0.4.0", mac="0a:11:22:33:44:55:66:77")),
    ),
    Case(
        "tuning-check-allmulti-mismatch",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("CHECK", tuning("0.4.0", mtu=1400, allmulti=True), prev="last"),
        ],
        # The reference prints a Go pointer (0xc0000a4bdc) for the configured value.
        differs={"1.stdout": "the reference prints a pointer; ours prints the value"},
        ours=_ours_check_prints_values,
    ),
    Case(
        "tuning-check-promisc-set-elsewhere",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("CHECK", prev="last", before=("link", "set", "{t}", "promisc", "on")),
        ],
    ),
    Case(
        "tuning-check-mtu-changed",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("CHECK", prev="last", before=("link", "set", "{t}", "mtu", "1300")),
        ],
    ),
    Case(
        "tuning-check-link-gone",
        [
            Step("ADD", tuning("0.4.0", mtu=1400)),
            Step("CHECK", prev="last", before="rm-target"),
        ],
    ),
    Case(
        "tuning-version",
        [Step("VERSION", tuning("0.4.0"))],
        differs={"0.stdout": HEAD + " (VERSION says 1.1.0 and lists it)"},
    ),
]


MACVLAN_CASES = [
    Case(
        f"macvlan-static-ipv4-{v}",
        add_check_del(macvlan(v, static(V4, DEFAULT4, dns=DNS), mode="bridge")),
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs=ndisc(),
    )
    for v in ("0.3.1", "0.4.0", "1.0.0")
] + [
    Case(
        "macvlan-private-mtu-mac-dns",
        add_check_del(
            macvlan(
                "0.4.0",
                static(V4),
                mode="private",
                mtu=1400,
                mac="c2:b0:57:49:47:f1",
                dns={"nameservers": ["10.1.1.1"]},
            )
        ),
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs=ndisc(),
    ),
    Case(
        "macvlan-vepa-ipv6-1.0.0",
        add_check_del(macvlan("1.0.0", static(V6, DEFAULT6), mode="vepa")),
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs=ndisc(),
    ),
    Case(
        "macvlan-passthru-l2-only",
        add_check_del(macvlan("0.4.0", mode="passthru")),
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-default-master",
        add_check_del({**macvlan("0.4.0", static(V4)), "master": ""}),
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs=ndisc(),
    ),
    Case(
        "macvlan-mac-precedence",
        add_check_del(
            macvlan("0.4.0", mac="c2:b0:57:49:47:01", runtimeConfig={"mac": "c2:b0:57:49:47:02"}),
            args="IgnoreUnknown=1;MAC=c2:b0:57:49:47:03",
        ),
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-linkInContainer",
        [
            Step("ADD", macvlan("0.4.0", master="eth1", linkInContainer=True), ifname="net1"),
            Step("DEL", prev="last", ifname="net1"),
        ],
        world=WorldSpec(target="eth1"),
        needs=("macvlan",),
        # 1.1.1 ignores the key and looks for the master on the node: "Link not found".
        differs={
            "0.rc": HEAD + " (linkInContainer)",
            "0.stdout": HEAD + " (linkInContainer)",
            "0.state:/ctr/links/net1": HEAD + " (linkInContainer)",
            "0.state:/ctr/sysctls": HEAD + " (linkInContainer)",
            # 1.1.1's DEL loads the whole config and fails when it cannot find the master.
            "1.rc": HEAD + " (macvlan DEL parses the JSON only)",
            "1.stdout": HEAD + " (macvlan DEL parses the JSON only)",
        },
    ),
    Case(
        "macvlan-bcqueuelen",
        add_check_del(macvlan("1.0.0", bcqueuelen=100)),
        world=WorldSpec(target=None),
        needs=("macvlan",),
        differs={f"{i}.state:/ctr/links/eth1/bcqueuelen": HEAD + " (bcqueuelen)" for i in (0, 1)},
    ),
    Case(
        "macvlan-static-routes-with-gateway-and-priority",
        add_check_del(
            macvlan(
                "0.4.0",
                static(
                    [{"address": "10.1.1.5/24", "gateway": "10.1.1.1"}, *V6],
                    [
                        {"dst": "198.51.100.0/24", "gw": "10.1.1.254"},
                        {"dst": "203.0.113.0/24"},
                        {"dst": "2001:db8:1::/48"},
                        {"dst": "192.0.2.0/24", "priority": 50},
                    ],
                ),
            )
        ),
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs=ndisc(),
    ),
    Case(
        "macvlan-del-twice",
        [
            Step("ADD", macvlan("0.4.0", mode="bridge")),
            Step("DEL", prev="last"),
            Step("DEL", prev="last"),
        ],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-del-after-netns-gone",
        [Step("ADD", macvlan("1.0.0")), Step("DEL", prev="last", before="rm-netns")],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-del-after-master-gone",
        [Step("ADD", macvlan("1.0.0")), Step("DEL", prev="last", before="rm-master")],
        world=WorldSpec(target=None),
        needs=("macvlan",),
        # 1.1.1's DEL loads the whole config and fails without its master.
        differs={"1.rc": HEAD + " (macvlan DEL)", "1.stdout": HEAD + " (macvlan DEL)"},
    ),
    Case(
        "macvlan-bad-mode",
        [Step("ADD", macvlan("0.4.0", mode="bogus"))],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-mtu-above-master",
        [Step("ADD", macvlan("0.4.0", mtu=9000))],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-unknown-master",
        [Step("ADD", {**macvlan("1.0.0"), "master": "pmnomaster"})],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-ifname-taken",
        [Step("ADD", macvlan("0.4.0", mode="bridge"))],
        world=WorldSpec(target="eth1"),
        needs=("macvlan",),
    ),
    Case(
        "macvlan-ipam-failure-leaves-nothing",
        [Step("ADD", macvlan("0.4.0", static([{"address": "10.1.1.5"}])))],
        world=WorldSpec(target=None),
        needs=("macvlan", "static"),
        differs={
            "0.state:/ctr/links/eth1": LEAK,
            "0.state:/ctr/sysctls": LEAK,
        },
        ours=_ours_no_leak,
    ),
    Case(
        "macvlan-check-mode-mismatch",
        [
            Step("ADD", macvlan("0.4.0", mode="bridge")),
            Step("CHECK", macvlan("0.4.0", mode="vepa"), prev="last"),
        ],
        world=WorldSpec(target=None),
        needs=("macvlan",),
    ),
]


STATIC_CASES = [
    Case(
        f"static-dual-stack-{v}",
        [Step("ADD", static_conf(v, static(V4 + V6, DEFAULT4 + DEFAULT6, dns=DNS)))],
        world=WorldSpec(target=None),
        needs=("static",),
    )
    for v in ("0.3.1", "0.4.0", "1.0.0")
] + [
    Case(
        "static-0.2.0-one-per-family",
        [Step("ADD", static_conf("0.2.0", static(V4 + V6, DEFAULT4, dns=DNS)))],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-0.2.0-two-ipv4",
        [Step("ADD", static_conf("0.2.0", static([*V4, {"address": "10.1.1.6/24"}])))],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-0.2.0-no-address",
        [Step("ADD", static_conf("0.2.0", static([])))],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-cniargs-ip-gateway",
        [
            Step(
                "ADD",
                static_conf("0.4.0", static(V4)),
                args="IgnoreUnknown=1;IP=10.1.1.7/24, 2001:db8::7/64;GATEWAY=10.1.1.254",
            )
        ],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-runtimeconfig-over-args",
        [
            Step(
                "ADD",
                static_conf(
                    "1.0.0",
                    static(V4),
                    args={"cni": {"ips": ["10.1.1.8/24"]}},
                    runtimeConfig={"ips": ["10.1.1.9/24"]},
                ),
            )
        ],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-route-extras-1.0.0",
        [
            Step(
                "ADD",
                static_conf(
                    "1.0.0",
                    static(
                        V4,
                        [
                            {
                                "dst": "192.0.2.0/24",
                                "gw": "10.1.1.1",
                                "priority": 50,
                                "table": 100,
                                "mtu": 1400,
                            }
                        ],
                    ),
                ),
            )
        ],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-bad-address",
        [Step("ADD", static_conf("0.4.0", static([{"address": "10.1.1.5"}])))],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-bad-gateway",
        [Step("ADD", static_conf("0.4.0", static([{"address": "10.1.1.5/24", "gateway": "x"}])))],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-no-ipam",
        [Step("ADD", {"cniVersion": "0.4.0", "name": "pmdiff", "type": "static"})],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
    Case(
        "static-check",
        [
            Step("ADD", static_conf("0.4.0", static(V4, DEFAULT4))),
            Step("CHECK", prev="last"),
            Step(
                "CHECK",
                static_conf("0.4.0", static([{"address": "10.1.1.5/24", "gateway": "10.1.1.9"}])),
                prev="last",
            ),
        ],
        world=WorldSpec(target=None),
        needs=("static",),
    ),
]


def _seed_chain(version: str, ipv6: bool) -> list[Step]:
    """macvlan+static, then tuning on its result, then DEL in reverse (the seed NAD)."""
    addr = (
        [{"address": "2001:db8::101/64", "gateway": "2001:db8::1"}]
        if ipv6
        else [{"address": "10.1.1.101/24", "gateway": "10.1.1.1"}]
    )
    mac = macvlan(version, static(addr, DEFAULT6 if ipv6 else DEFAULT4), mode="bridge")
    tun = tuning(
        version,
        with_prev=False,
        mac="c2:b0:57:49:47:f1",
        sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"},
    )
    return [
        Step("ADD", mac, ifname="net1"),
        Step("ADD", tun, prev="last", ifname="net1"),
        Step("CHECK", tun, prev="last", ifname="net1"),
        Step("CHECK", mac, prev="last", ifname="net1"),
        Step("DEL", tun, prev="last", ifname="net1"),
        Step("DEL", mac, prev="last", ifname="net1"),
    ]


CHAIN_CASES = [
    Case(
        f"chain-macvlan-static-tuning-{'ipv6' if ipv6 else 'ipv4'}-{v}",
        _seed_chain(v, ipv6),
        world=WorldSpec(target=None),
        needs=("macvlan", "static", "tuning"),
        # 1.1.1's CHECK does not substitute IFNAME in the tuning sysctl key.
        differs={**ndisc("net1"), "2.rc": HEAD, "2.stdout": HEAD},
    )
    for v, ipv6 in (("0.4.0", False), ("1.0.0", True))
]

CASES = TUNING_CASES + MACVLAN_CASES + STATIC_CASES + CHAIN_CASES
