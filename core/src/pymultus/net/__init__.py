"""Netlink and namespace helpers shared by plugins.

Nothing here forks or switches the namespace of the whole process: a namespace is
entered by the calling thread only (``setns`` is per-thread on Linux) and left again
before returning.

- :mod:`~pymultus.net.ns`: open a netns path (the reference's checks and texts), enter
  it from one thread; a netlink socket (ours, or pyroute2's ``IPRoute``) bound to a netns.
- :mod:`~pymultus.net.netlink`: a synchronous rtnetlink socket on the standard library
  (pyroute2's request layer costs ~0.5 ms a request; this one ~0.02 ms).
- :mod:`~pymultus.net.sysctl`: ``/proc/sys/net`` values of the thread's namespace
  (tuning's key rules, Go's texts).
- :mod:`~pymultus.net.link`: temporary names, link lookup/create/rename/delete/attributes.
- :mod:`~pymultus.net.route`: default-route interface, route listing, ECMP-style add.
- :mod:`~pymultus.net.iface`: the reference's ``ConfigureIface`` and CHECK validators.
- :mod:`~pymultus.net.gotypes`: Go's ``net`` parsing/printing and ``encoding/json``
  struct-decoding rules, for byte-compatible messages.
"""
