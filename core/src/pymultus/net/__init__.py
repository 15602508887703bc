"""Netlink and namespace helpers shared by plugins (pyroute2 underneath, lazily).

Nothing here forks or switches the namespace of the whole process: a namespace is
entered by the calling thread only (``setns`` is per-thread on Linux) and left again
before returning.
"""
