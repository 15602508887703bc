"""The reference bugs we fix, one test each: the reference shows the bug, ours does not.

Each test runs a case of the table (cases.py) through both implementations and states
both sides explicitly, so a newer reference that fixed the bug shows up here too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pymultus.testing import Names

from .cases import CASES
from .harness import Case
from .harness import Run
from .harness import World
from .harness import run_case
from .test_differential import needs_kernel_and_reference

pytestmark = pytest.mark.kernel


def run_both(case_id: str, names: Names, tmp_path: Path) -> tuple[Case, Run, Run]:
    case = next(c for c in CASES if c.id == case_id)
    needs_kernel_and_reference(case)
    world = World(names.prefix, tmp_path)
    return case, run_case(case, "ref", world), run_case(case, "ours", world)


def test_macvlan_ipam_failure_leaves_no_link(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("macvlan-ipam-failure-leaves-nothing", cni_names, tmp_path)
    assert ref.steps[0].rc == ours.steps[0].rc == 1
    assert ref.steps[0].stdout == ours.steps[0].stdout  # the same IPAM error
    leaked = ref.steps[0].state["ctr"]["links"].get("eth1")
    assert leaked is not None and leaked["kind"] == "macvlan" and "UP" not in leaked["flags"]
    assert "eth1" not in ours.steps[0].state["ctr"]["links"]
    assert ours.steps[0].state == ours.initial


def test_tuning_second_add_keeps_the_real_originals(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("tuning-second-add-keeps-originals", cni_names, tmp_path)
    original = ref.initial["ctr"]["links"]["eth1"]
    tuned = ref.steps[0].state["ctr"]["links"]["eth1"]
    assert (tuned["mac"], tuned["mtu"]) == ("c2:b0:57:49:47:f1", 1400)
    # The reference's second ADD saved the tuned values, so its DEL "restores" them.
    ref_saved = json.loads(ref.steps[1].backup["pmdiff-ctr1_eth1.json"])
    assert (ref_saved["mac"], ref_saved["mtu"], ref_saved["promisc"]) == (
        "c2:b0:57:49:47:f1",
        1400,
        True,
    )
    assert ref.steps[2].state["ctr"]["links"]["eth1"] == tuned
    # Ours kept the first ADD's originals and puts them back.
    ours_saved = json.loads(ours.steps[1].backup["pmdiff-ctr1_eth1.json"])
    assert (ours_saved["mac"], ours_saved["mtu"], ours_saved["promisc"]) == (
        original["mac"],
        original["mtu"],
        False,
    )
    assert ours.steps[2].state["ctr"]["links"]["eth1"] == original
    assert ours.steps[2].backup == {}


def test_tuning_restores_sysctls(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("tuning-sysctl-ipv6-slashes-1.0.0", cni_names, tmp_path)
    key = "net/ipv6/conf/eth1/accept_ra"
    before = ref.initial["ctr"]["sysctls"][key]
    assert before != "0"
    for run in (ref, ours):
        assert run.steps[0].state["ctr"]["sysctls"][key] == "0"
    assert ref.steps[2].state["ctr"]["sysctls"][key] == "0"  # never restored
    assert ours.steps[2].state["ctr"]["sysctls"][key] == before
    assert ours.steps[2].state == ours.initial


def test_tuning_args_cni_sysctl_without_map_is_a_cni_error(
    cni_names: Names, tmp_path: Path
) -> None:
    _, ref, ours = run_both("tuning-args-cni-sysctl-without-sysctl-map", cni_names, tmp_path)
    assert ref.steps[0].rc == 2  # a Go panic
    assert ref.steps[0].stdout == ""
    assert "assignment to entry in nil map" in ref.steps[0].stderr
    assert ours.steps[0].rc == 1
    err = json.loads(ours.steps[0].stdout)
    assert err["code"] == 7
    assert err["msg"] == 'args.cni.sysctl needs a "sysctl" map in the configuration to merge into'
    assert ours.steps[0].state == ours.initial


def test_tuning_failed_add_leaves_nothing_behind(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("tuning-mtu-too-big", cni_names, tmp_path)
    for run in (ref, ours):
        assert run.steps[0].rc == 1
        assert json.loads(run.steps[0].stdout) == {"code": 999, "msg": "invalid argument"}
    # The reference changed the MAC and wrote the backup before the MTU failed.
    assert ref.steps[0].state["ctr"]["links"]["eth1"]["mac"] == "c2:b0:57:49:47:f1"
    assert list(ref.steps[0].backup) == ["pmdiff-ctr1_eth1.json"]
    assert ours.steps[0].state == ours.initial
    assert ours.steps[0].backup == {}


def test_tuning_bad_mac_is_refused_before_any_change(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("tuning-bad-mac-after-sysctl", cni_names, tmp_path)
    assert ref.steps[0].stdout == ours.steps[0].stdout
    key = "net/ipv4/conf/eth1/arp_notify"
    assert ref.steps[0].state["ctr"]["sysctls"][key] == "1"  # written, then failed
    assert ours.steps[0].state == ours.initial
    assert ours.steps[0].backup == {}


def test_tuning_del_without_namespace_drops_the_backup(cni_names: Names, tmp_path: Path) -> None:
    _, ref, ours = run_both("tuning-del-after-netns-gone", cni_names, tmp_path)
    assert ref.steps[1].rc == ours.steps[1].rc == 0
    assert list(ref.steps[1].backup) == ["pmdiff-ctr1_eth1.json"]  # kept forever
    assert ours.steps[1].backup == {}
