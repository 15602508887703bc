"""A fake Kubernetes API server for tests (see kube.FakeKube).

from tests.fakekube import FakeKube

with FakeKube() as kube:
    kube.load_manifest("examples/seed/network-attachment.yaml")
    kube.add_pod("default", "samplepod", annotations={...}, node="node1")
    kubeconfig = kube.write_kubeconfig(tmp_path / "kubeconfig")
    ...  # run the code under test in a subprocess with that kubeconfig
    assert kube.calls("PUT", r"/pods/samplepod/status")
"""

from .faults import Deny
from .faults import Fault
from .faults import Request
from .kube import DEFAULT_USER
from .kube import FakeKube
from .status import ApiError

__all__ = ["DEFAULT_USER", "ApiError", "Deny", "FakeKube", "Fault", "Request"]
