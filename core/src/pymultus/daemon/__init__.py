"""Thick mode: ``pymultus daemon`` and the ``pymultus-shim`` forwarders.

- :mod:`~pymultus.daemon.protocol`: the wire format (HTTP/1.1 over a unix socket).
- :mod:`~pymultus.daemon.server`: the daemon (asyncio I/O, thin mode's dispatch in workers).
- :mod:`~pymultus.daemon.pool`: bounded worker pool, per-container ordering, deadlines.
- :mod:`~pymultus.daemon.services`: readiness conditions and caches offered to plugins.
- :mod:`~pymultus.daemon.listen`, :mod:`~pymultus.daemon.answers`, :mod:`~pymultus.daemon.metrics`.
- ``shim.py``: the Python shim, a standalone script (``python3 -I -S shim.py``), which
  ``pymultus install --thick --python-shim`` installs precompiled behind a stub; the C
  one is ``core/shim/pymultus-shim.c``.
"""
