"""Multus's auxiliary chain (``auxiliaryCNIChainName``): plugins every pod runs last.

An operator drops plugin confs (a ``tuning`` with sysctls, say) into
``<directory of clusterNetwork>/<chain name>/``; each pod ADD then runs them as one more
delegate, behind ``passthru`` (:mod:`pymultus.multus.passthru`), which gives them an
empty ``prevResult``. It is a non-master delegate, so it runs on ``net<index>`` like any
unnamed secondary network; its empty result adds no network-status entry. Multus runs it
on ADD and DEL (from the saved delegates) only: not CHECK, not a DEL that re-derives
the delegates without a cache (there the libcni result cache still knows it).

Multus logs and skips a chain it cannot load (a bad name, an unparsable conf); a pod that
silently misses its sysctls is worse than a clear error, so those are errors here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from pymultus.cni.errors import INVALID_NETWORK_CONFIG
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.multus.delegates import Delegate
from pymultus.multus.delegates import subdirectory_plugins
from pymultus.multus.netconf import MultusConf
from pymultus.multus.netconf import conf_error
from pymultus.multus.netconf import parse_network_config

ORIGIN: Final = "auxiliary"
#: libcni's rule for a network name that is also a directory name.
_CHAIN_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def auxiliary_chain(chain: str, cluster_network: str, cni_version: str) -> NetworkConfigList | None:
    """``passthru`` followed by the plugin confs in ``<dirname(cluster_network)>/<chain>/``;
    ``None`` when that directory holds none (the node has no auxiliary plugins)."""
    if "/" not in cluster_network:
        raise CniError(
            INVALID_NETWORK_CONFIG,
            "auxiliary chain used but ClusterNetwork must be a path, and it is not a path: "
            f"{cluster_network}",
        )
    if not _CHAIN_NAME.fullmatch(chain):
        raise conf_error(f"auxiliaryCNIChainName: invalid network config name: {chain}")
    directory = Path(os.path.dirname(cluster_network))
    extra = subdirectory_plugins(directory, chain)
    if not extra:
        return None
    obj = {
        "cniVersion": cni_version,
        "name": chain,
        "plugins": [{"type": "passthru", "name": "passthru-cni"}, *extra],
    }
    return parse_network_config(
        obj, f"auxiliaryCNIChainName {chain}", source=str(directory / chain)
    )


def auxiliary_delegate(conf: MultusConf) -> Delegate | None:
    """The netconf's auxiliary chain as the pod's last delegate (index and ifname are
    given with the others'), or ``None``."""
    chain = conf.auxiliary_cni_chain_name
    net = auxiliary_chain(chain, conf.cluster_network, conf.cni_version)
    if net is None:
        return None
    return Delegate(
        index=0,
        ifname="",
        network=chain,
        origin=ORIGIN,
        source=f"auxiliaryCNIChainName {chain}: {net.source}/",
        conf=net,
    )
