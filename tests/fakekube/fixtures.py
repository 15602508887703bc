"""pytest fixtures; import the ones you use into a test module or conftest:

    from tests.fakekube.fixtures import fake_kube, kubeconfig  # noqa: F401

or list "tests.fakekube.fixtures" in the root conftest's `pytest_plugins`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .kube import FakeKube


@pytest.fixture
def fake_kube() -> Iterator[FakeKube]:
    """A running plain-HTTP fake API server (default, kube-system, kube-public exist)."""
    with FakeKube() as kube:
        yield kube


@pytest.fixture
def fake_kube_tls() -> Iterator[FakeKube]:
    """The same over HTTPS with a throwaway CA (`.ca_path`)."""
    with FakeKube(tls=True) as kube:
        yield kube


@pytest.fixture
def kubeconfig(fake_kube: FakeKube, tmp_path: Path) -> Path:
    """A kubeconfig file for `fake_kube` with its valid token."""
    return fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
