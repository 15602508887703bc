"""Cheap look into a pod's network namespace: which interface names are taken.

No netlink library is imported: the calling thread enters the namespace (``setns``,
per-thread, ~0.2 ms measured), reads ``/proc/thread-self/net/dev`` (the list of the
*thread's* network namespace; ``/sys/class/net`` would show the namespace of the
mount namespace instead, i.e. the host's) and comes back.
"""

from __future__ import annotations

import errno

from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
from pymultus.cni.errors import CniError


def link_names(netns: str) -> set[str]:
    """Interface names in the namespace at ``netns``."""
    from pymultus.net.ns import NetnsNotFound
    from pymultus.net.ns import entered

    try:
        # Interface names are bytes to the kernel (any but "/", ":" and whitespace):
        # a non-ASCII or non-UTF-8 name must still be listed, not fail the call.
        with (
            entered(netns),
            open("/proc/thread-self/net/dev", encoding="utf-8", errors="surrogateescape") as fh,
        ):
            text = fh.read()
    except NetnsNotFound:
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, f"no net namespace {netns} found") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            raise CniError(
                INVALID_ENVIRONMENT_VARIABLES, f"{netns} is not a network namespace"
            ) from None
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES, f"cannot enter net namespace {netns}: {exc}"
        ) from None
    names: set[str] = set()
    for line in text.splitlines()[2:]:
        name, sep, _ = line.partition(":")
        if sep:
            names.add(name.strip())
    return names
