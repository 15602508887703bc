"""``pymultus try``: a pod's networks added for real in a throwaway world, then removed.

- :mod:`.world`: the throwaway namespaces, veth masters and work directory, and their
  removal (signal-safe).
- :mod:`.source`: the Kubernetes source handed to the meta-plugin: the manifests, with
  NAD masters and host-local data directories adapted to the throwaway world.
- :mod:`.runner`: the run itself (plan, ADD, read-back, DEL, cleanup).
- :mod:`.ipstate`: kernel state through ``ip -j``, rendered as ``ip`` prints it.
- :mod:`.report`: text sections or one JSON/YAML document.
"""
