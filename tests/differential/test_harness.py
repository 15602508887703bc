"""The comparison itself (no kernel): a difference is caught unless documented, and a
documented difference that is not there is an error too."""

from __future__ import annotations

from typing import Any

from .harness import Case
from .harness import Run
from .harness import Step
from .harness import StepOut
from .harness import compare
from .harness import mask_stdout


def run(state: dict[str, Any], stdout: str = "", rc: int = 0) -> Run:
    return Run("x", {"ctr": {"a": 1}}, [StepOut(rc, stdout, "", state, {})])


def case(**differs: str) -> Case:
    return Case("c", [Step("ADD", {"mac": "c2:b0:57:49:47:f1"})], differs=dict(differs))


def test_equal_runs_pass() -> None:
    assert compare(case(), run({"ctr": {"a": 1}}), run({"ctr": {"a": 1}})) == []


def test_an_undocumented_difference_is_reported_with_its_path() -> None:
    (problem,) = compare(case(), run({"ctr": {"a": 1, "b": 2}}), run({"ctr": {"a": 1, "b": 3}}))
    assert problem.startswith("0.state: ")
    assert "/ctr/b: reference 2 != ours 3" in problem


def test_a_documented_path_may_differ_but_nothing_else() -> None:
    c = case(**{"0.state:/ctr/b": "why"})
    assert compare(c, run({"ctr": {"a": 1, "b": 2}}), run({"ctr": {"a": 1, "b": 3}})) == []
    (problem,) = compare(c, run({"ctr": {"a": 1, "b": 2}}), run({"ctr": {"a": 2, "b": 3}}))
    assert "/ctr/a" in problem and "/ctr/b" not in problem


def test_a_documented_difference_must_exist() -> None:
    for key in ("0.state:/ctr/b", "0.rc", "*.state:/ctr/b"):
        (problem,) = compare(case(**{key: "why"}), run({"ctr": {"b": 2}}), run({"ctr": {"b": 2}}))
        assert problem.startswith(key) and "but" in problem


def test_random_macs_are_masked_configured_ones_are_not() -> None:
    c = case()
    assert mask_stdout('"mac": "ce:06:f5:7b:a0:97"', c) == '"mac": "<MAC>"'
    assert mask_stdout('"mac": "c2:b0:57:49:47:f1"', c) == '"mac": "c2:b0:57:49:47:f1"'
    ref, ours = run({}, '"mac": "c2:b0:57:49:47:f1"'), run({}, '"mac": "ce:06:f5:7b:a0:97"')
    (problem,) = compare(c, ref, ours)
    assert problem.startswith("0.stdout")
