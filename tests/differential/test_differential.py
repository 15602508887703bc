"""Each case of the table through /usr/lib/cni/<type> and through pymultus (see cases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymultus.testing import Names

from .cases import CASES
from .harness import REFERENCE_DIR
from .harness import Case
from .harness import World
from .harness import compare
from .harness import plugin_available
from .harness import run_case

pytestmark = pytest.mark.kernel


def needs_kernel_and_reference(case: Case) -> None:
    from pymultus.testing import require_kernel

    require_kernel()
    for type_name in {str(s.conf.get("type", "")) for s in case.steps if s.conf}:
        if type_name and not (REFERENCE_DIR / type_name).is_file():
            pytest.skip(f"reference plugin {REFERENCE_DIR / type_name} is not installed")
    for type_name in case.needs:
        if not plugin_available(type_name):
            pytest.skip(f"waits for the Python {type_name!r} plugin")


def test_table_covers_the_brief() -> None:
    """At least 30 configs, each plugin type, each cniVersion, errors and chains."""
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    ids = " ".join(c.id for c in CASES)
    for word in ("tuning", "macvlan", "static", "chain", "0.3.1", "0.4.0", "1.0.0", "ipv6"):
        assert word in ids
    for case in CASES:
        for key in case.differs:
            step, _, aspect = key.partition(":")[0].partition(".")
            assert step == "*" or int(step) < len(case.steps), (case.id, key)
            assert aspect in ("rc", "stdout", "state", "backup"), (case.id, key)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_reference_and_ours_agree(case: Case, cni_names: Names, tmp_path: Path) -> None:
    needs_kernel_and_reference(case)
    world = World(cni_names.prefix, tmp_path)
    ref = run_case(case, "ref", world)
    ours = run_case(case, "ours", world)
    problems = compare(case, ref, ours)
    assert not problems, f"{case.id}:\n  " + "\n  ".join(problems)
    if case.ours is not None:
        case.ours(ours)
