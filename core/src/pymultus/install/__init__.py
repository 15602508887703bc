"""``pymultus install``: put pymultus on a node.

Two things land on the node, both replaced atomically (a temporary file in the same
directory, fsync, rename), so a runtime that execs the binary or reads the config at
the same instant sees the old version or the new one, never a torn one:

* the binary in the CNI bin dir (:mod:`.launcher`): a fast Python launcher, a plain
  script or a symlink (thin), or the ``pymultus-shim`` forwarder (thick);
* ``00-pymultus.conf``/``.conflist`` in the CNI conf dir (:mod:`.autoconf`), generated
  from the first primary CNI config, which it names as ``clusterNetwork``.

:mod:`.watch` keeps the config in step with the primary and puts it back when another
CNI removes it.
"""

from __future__ import annotations


class InstallError(Exception):
    """A problem the person running ``pymultus install`` must fix; the message says how."""
