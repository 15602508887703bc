"""tuning against the real kernel: what ADD changes, what DEL puts back, and when.

The tuned interface is one end of a veth pair made inside the test's container
namespace (both ends there), so nothing outside the test's namespaces is touched.
Each test runs in-process and through the ``pymultus`` CLI (``cni_driver``) where the
driver matters; backups go to a directory of the test (``dataDir``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymultus.testing import CniCallError
from pymultus.testing import CniDriver
from pymultus.testing import CniHarness
from pymultus.testing import Names
from pymultus.testing import Netns
from pymultus.testing import run_ip
from pymultus_tuning import Tuning

pytestmark = pytest.mark.kernel

REFERENCE = Path("/usr/lib/cni/tuning")
ORIGINAL_MAC = "0a:58:c6:33:64:05"
IFNAME_SYSCTLS = {
    "net.ipv4.conf.IFNAME.arp_notify": "1",
    "net.ipv6.conf.IFNAME.accept_ra": "0",
}


@dataclass
class Target:
    netns: Netns
    ifname: str
    data_dir: Path

    def attrs(self) -> dict[str, Any]:
        link = self.netns.link(self.ifname)
        assert link is not None, f"{self.ifname} is gone"
        raw = link.raw
        return {
            "mac": link.mac,
            "mtu": link.mtu,
            "promisc": raw.get("promiscuity"),
            "allmulti": raw.get("allmulti"),
            "txqlen": raw.get("txqlen"),
        }

    def sysctls(self) -> dict[str, str]:
        return {
            "arp_notify": self.netns.sysctl(f"/proc/sys/net/ipv4/conf/{self.ifname}/arp_notify"),
            "accept_ra": self.netns.sysctl(f"/proc/sys/net/ipv6/conf/{self.ifname}/accept_ra"),
        }

    def backups(self) -> list[str]:
        return sorted(p.name for p in self.data_dir.iterdir()) if self.data_dir.exists() else []

    def backup(self) -> dict[str, Any]:
        (name,) = self.backups()
        data: dict[str, Any] = json.loads((self.data_dir / name).read_text())
        return data


@pytest.fixture
def target(container_netns: Netns, cni_names: Names, cni: CniHarness) -> Target:
    """A veth end in the container (its peer there too) with known attributes."""
    name, peer = cni_names("if"), cni_names("pe")
    container_netns.ip(
        "link", "add", name, "address", ORIGINAL_MAC, "type", "veth", "peer", "name", peer
    )
    return Target(container_netns, name, cni.workdir / "tuning")


def conf(target: Target, version: str = "0.4.0", **keys: Any) -> dict[str, Any]:
    prev = {
        "cniVersion": version,
        "interfaces": [{"name": target.ifname, "mac": ORIGINAL_MAC, "sandbox": target.netns.path}],
        "ips": [{"version": "4", "interface": 0, "address": "198.51.100.5/24"}],
        "dns": {},
    }
    return {
        "cniVersion": version,
        "name": "pmtun",
        "type": "tuning",
        "dataDir": str(target.data_dir),
        "prevResult": prev,
        **keys,
    }


EVERYTHING = {
    "mac": "c2:b0:57:49:47:f1",
    "mtu": 1400,
    "promisc": True,
    "allmulti": True,
    "txQLen": 500,
    "sysctl": IFNAME_SYSCTLS,
}


def test_del_restores_every_original(cni_driver: CniDriver, target: Target) -> None:
    before_attrs, before_sysctls = target.attrs(), target.sysctls()
    assert before_sysctls == {"arp_notify": "0", "accept_ra": "1"}
    c = conf(target, **EVERYTHING)
    out = cni_driver.add(c, target.netns, target.ifname)
    assert out.data is not None
    assert out.data["interfaces"][0]["mac"] == "c2:b0:57:49:47:f1"
    assert target.attrs() == {
        "mac": "c2:b0:57:49:47:f1",
        "mtu": 1400,
        "promisc": 1,
        "allmulti": 1,
        "txqlen": 500,
    }
    assert target.sysctls() == {"arp_notify": "1", "accept_ra": "0"}
    cni_driver.check({**c, "prevResult": out.data}, target.netns, target.ifname)

    cni_driver.delete({**c, "prevResult": out.data}, target.netns, target.ifname)
    assert target.attrs() == before_attrs
    assert target.sysctls() == before_sysctls
    assert target.backups() == []


def test_del_twice_is_fine(cni_driver: CniDriver, target: Target) -> None:
    before = target.attrs()
    c = conf(target, mtu=1400, allmulti=True)
    cni_driver.add(c, target.netns, target.ifname)
    cni_driver.delete(c, target.netns, target.ifname)
    cni_driver.delete(c, target.netns, target.ifname)
    assert target.attrs() == before
    assert target.backups() == []


def test_del_after_the_netns_is_gone(cni_driver: CniDriver, target: Target) -> None:
    c = conf(target, mtu=1400, sysctl=IFNAME_SYSCTLS)
    cni_driver.add(c, target.netns, target.ifname)
    assert len(target.backups()) == 1
    target.netns.ip("link", "delete", target.ifname)
    run_ip("netns", "delete", target.netns.name)
    cni_driver.delete(c, target.netns.path, target.ifname)
    assert target.backups() == []  # nothing is left to restore
    cni_driver.delete(c, target.netns.path, target.ifname)


def test_del_when_the_link_is_gone_restores_the_rest(cni_driver: CniDriver, target: Target) -> None:
    forward = "/proc/sys/net/ipv4/conf/all/forwarding"
    before = target.netns.sysctl(forward)
    c = conf(target, mtu=1400, sysctl={"net.ipv4.conf.all.forwarding": "1", **IFNAME_SYSCTLS})
    cni_driver.add(c, target.netns, target.ifname)
    assert target.netns.sysctl(forward) == "1"
    target.netns.ip("link", "delete", target.ifname)
    cni_driver.delete(c, target.netns, target.ifname)
    assert target.netns.sysctl(forward) == before
    assert target.backups() == []


def test_second_add_keeps_the_first_originals(cni_driver: CniDriver, target: Target) -> None:
    before_attrs, before_sysctls = target.attrs(), target.sysctls()
    first = conf(target, mac="c2:b0:57:49:47:01", mtu=1400, sysctl=IFNAME_SYSCTLS)
    cni_driver.add(first, target.netns, target.ifname)
    saved = target.backup()
    second = conf(
        target,
        mac="c2:b0:57:49:47:02",
        mtu=1300,
        promisc=True,
        sysctl={"net.ipv4.conf.IFNAME.arp_notify": "2"},
    )
    cni_driver.add(second, target.netns, target.ifname)
    assert target.attrs()["mac"] == "c2:b0:57:49:47:02"
    after = target.backup()
    assert {k: after[k] for k in saved} == saved  # the first originals are kept
    assert after["promisc"] is False  # and the new attribute's original is added
    cni_driver.delete(second, target.netns, target.ifname)
    assert target.attrs() == before_attrs
    assert target.sysctls() == before_sysctls


def test_allmulti_false_is_set_and_restored(cni_driver: CniDriver, target: Target) -> None:
    target.netns.ip("link", "set", target.ifname, "allmulticast", "on")
    c = conf(target, allmulti=False)
    cni_driver.add(c, target.netns, target.ifname)
    assert target.attrs()["allmulti"] == 0
    assert target.backup() == {"allmulti": True}
    cni_driver.check(c, target.netns, target.ifname)
    cni_driver.delete(c, target.netns, target.ifname)
    assert target.attrs()["allmulti"] == 1


def test_failed_add_rolls_back_everything(cni_driver: CniDriver, target: Target) -> None:
    before_attrs, before_sysctls = target.attrs(), target.sysctls()
    c = conf(target, mac="c2:b0:57:49:47:f1", promisc=True, mtu=70000, sysctl=IFNAME_SYSCTLS)
    with pytest.raises(CniCallError) as err:
        cni_driver.add(c, target.netns, target.ifname)
    assert (err.value.code, err.value.msg) == (999, "invalid argument")
    assert target.attrs() == before_attrs
    assert target.sysctls() == before_sysctls
    assert target.backups() == []


def test_failed_second_add_keeps_the_first_backup(cni_driver: CniDriver, target: Target) -> None:
    c = conf(target, mtu=1400)
    cni_driver.add(c, target.netns, target.ifname)
    saved = target.backup()
    again = conf(target, mac="01:00:5e:00:00:01", sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"})
    with pytest.raises(CniCallError) as err:
        cni_driver.add(again, target.netns, target.ifname)
    assert err.value.msg == "cannot assign requested address"  # a multicast MAC
    assert target.sysctls()["arp_notify"] == "0"  # written, then rolled back
    assert target.attrs()["mtu"] == 1400  # what the first ADD made stays
    assert target.backup() == saved
    cni_driver.delete(c, target.netns, target.ifname)
    assert target.attrs()["mtu"] == 1500


def test_check_reports_what_changed(cni_driver: CniDriver, target: Target) -> None:
    c = conf(target, mtu=1400, allmulti=True, txQLen=500, sysctl=IFNAME_SYSCTLS)
    cni_driver.add(c, target.netns, target.ifname)
    cni_driver.check(c, target.netns, target.ifname)
    name = target.ifname
    cases = [
        (
            ("link", "set", name, "txqueuelen", "600"),
            f"Error: Tuning configured Transmit Queue Length of {name} is 500, current value is 600",
        ),
        (
            ("link", "set", name, "allmulticast", "off"),
            f"Error: Tuning configured all-multicast mode of {name} is true, current value is false",
        ),
        (
            ("link", "set", name, "mtu", "1300"),
            f"Error: Tuning configured MTU of {name} is 1400, current value is 1300",
        ),
        (
            ("link", "set", name, "promisc", "on"),
            f"Error: Tuning link {name} configured promisc is false, current value is 1",
        ),
    ]
    for cmd, msg in cases:
        target.netns.ip(*cmd)
        with pytest.raises(CniCallError) as err:
            cni_driver.check(c, target.netns, name)
        assert err.value.msg == msg
    target.netns.ip("link", "set", name, "promisc", "off", "mtu", "1400", "allmulticast", "on")
    path = f"/proc/sys/net/ipv4/conf/{name}/arp_notify"
    target.netns.exec("sh", "-c", f"echo 0 > {path}")
    with pytest.raises(CniCallError) as err:
        cni_driver.check(c, target.netns, name)
    assert err.value.msg == f"Error: Tuning configured value of {path} is 1, current value is 0"


def test_backup_defaults_to_the_state_root(cni: CniHarness, target: Target) -> None:
    c = conf(target, mtu=1400)
    del c["dataDir"]
    cni.inproc.add(c, target.netns, target.ifname)
    assert [p.name for p in (cni.state_root / "tuning").iterdir()] == [
        f"{cni.container_id}_{target.ifname}.json"
    ]
    cni.inproc.delete(c, target.netns, target.ifname)
    assert list((cni.state_root / "tuning").iterdir()) == []


def test_allowlist_is_enforced_before_anything_changes(
    cni: CniHarness, target: Target, tmp_path: Path
) -> None:
    allow = tmp_path / "allowlist.conf"
    allow.write_text("^net\\.ipv4\\.conf\\.IFNAME\\.arp_notify$\n")
    cni.register("tuning", Tuning(allowlist=str(allow)))
    before = target.sysctls()
    with pytest.raises(CniCallError) as err:
        cni.inproc.add(conf(target, sysctl=IFNAME_SYSCTLS), target.netns, target.ifname)
    assert err.value.msg == (
        "Sysctl net.ipv6.conf.IFNAME.accept_ra is not allowed. Only the following sysctls "
        "are allowed: [^net\\.ipv4\\.conf\\.IFNAME\\.arp_notify$]"
    )
    assert target.sysctls() == before
    c = conf(target, sysctl={"net.ipv4.conf.IFNAME.arp_notify": "1"})
    cni.inproc.add(c, target.netns, target.ifname)
    assert target.sysctls()["arp_notify"] == "1"


# -- switching implementations between ADD and DEL: the backup file is shared ---------------


def run_reference(cni: CniHarness, command: str, c: dict[str, Any], target: Target) -> None:
    proc = cni.run_reference(command, c, target.netns, target.ifname)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture
def reference() -> Path:
    if not os.access(REFERENCE, os.X_OK):
        pytest.skip(f"{REFERENCE} is not installed")
    return REFERENCE


def test_reference_add_then_our_del(
    cni: CniHarness, cni_driver: CniDriver, target: Target, reference: Path
) -> None:
    before = target.attrs()
    c = conf(target, mac="c2:b0:57:49:47:f1", mtu=1400, promisc=True, allmulti=True)
    run_reference(cni, "ADD", c, target)
    assert target.attrs()["mtu"] == 1400
    cni_driver.delete(c, target.netns, target.ifname)
    assert target.attrs() == before
    assert target.backups() == []


def test_our_add_then_reference_del(
    cni: CniHarness, cni_driver: CniDriver, target: Target, reference: Path
) -> None:
    before = target.attrs()
    c = conf(target, mac="c2:b0:57:49:47:f1", mtu=1400, promisc=True, sysctl=IFNAME_SYSCTLS)
    cni_driver.add(c, target.netns, target.ifname)
    run_reference(cni, "DEL", c, target)
    assert target.attrs() == before  # the reference reads our file (and ignores our key)
    assert target.backups() == []


def test_del_never_fails_on_a_restore_error(cni_driver: CniDriver, target: Target) -> None:
    """A restore the kernel refuses is logged; DEL succeeds and keeps the backup."""
    target.data_dir.mkdir(parents=True)
    cid = "pymultus-tuning-del"
    backup = target.data_dir / f"{cid}_{target.ifname}.json"
    backup.write_text('{\n "mtu": 70000,\n "allmulti": true\n}')
    c = conf(target)
    cni_driver.delete(c, target.netns, target.ifname, container_id=cid)
    assert backup.exists()
    assert target.attrs()["allmulti"] == 1  # what could be restored was
