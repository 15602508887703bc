"""The strings a dry-run shows where a value is unknown or only stood in for.

A plan is made before anything runs, so some of its values cannot be known (addresses a
dynamic IPAM hands out, the container ID) and the built-in netconf has no real cluster
network. Every part of the ``PodPlan`` (interfaces, network-status, the netconf choice)
and the text rendering of :mod:`pymultus.cli.cmd_dryrun` must show the same marker for
the same gap, and tests compare against them: they live here, apart from the code that
writes them, so each part can import them without importing the others.
"""

from __future__ import annotations

from typing import Final

#: A value only a run can know (addresses, MAC, MTU, DNS, container ID, a missing UID).
RUNTIME: Final = "(assigned at run time)"
#: A later plugin's ``prevResult``: the previous plugin's result, not known before it runs.
FROM_PREVIOUS: Final = "(from the previous plugin at run time)"
#: Network name of the built-in netconf's cluster network (never resolved).
PLACEHOLDER_NAME: Final = "(cluster network placeholder)"
#: Plugin type of that placeholder: a delegate of this type is shown, not resolved.
PLACEHOLDER_TYPE: Final = "(placeholder)"
#: Where the netconf came from when neither ``--conf`` nor the files gave one.
BUILTIN_NETCONF: Final = "(built-in default netconf)"
