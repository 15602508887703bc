"""How ``try`` shows itself: text sections as they happen, or one JSON/YAML document.

Text goes to stdout section by section (a bold heading, indented lines), so a person
watching sees each step when it is done, and a run cut short still shows what it did.
The machine formats collect the sections' data under their keys and print one
document at the end (:meth:`MachineReport.finish`), failed runs included (``ok``,
``error``). Keys (schema version 1; sorted in the output)::

    kind: Try, schemaVersion: 1, ok: bool, error: str (when not ok)
    world: {prefix, pod_netns, host_netns|null, masters [{name, replaces}], netconf,
            cluster_network {name, bridge, subnet}|null, workdir,
            changes [{network, plugin, key, from, to}], notes [str]}
    plan: {pod, interfaces [{ifname, network, origin, plugins [type]}], routes [str]}
    add: the ADD's result (the cluster network's, in the netconf's cniVersion)
    pod: {netns, interfaces [{ifname, kind, state, mac, mtu, addresses [str]}],
          routes [{dst, gateway?, dev?, protocol?, scope?, prefsrc?, metric?}]}
    network_status: the annotation's entries as written
    kept: {inspect [command], cleanup [command]}         (--keep)
    cleanup: {del: bool|null, removed [str], problems [str], leftovers [str]}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymultus.cli.render import Console
from pymultus.cli.render import dump

SCHEMA_VERSION = 1


class TextReport:
    def __init__(self, console: Console) -> None:
        self.console = console

    def section(self, key: str, title: str, lines: Sequence[str], data: Any) -> None:
        c = self.console
        if c.quiet and key not in ("pod", "network_status", "kept"):
            return
        c.print(c.style(title, "bold"))
        for line in lines:
            c.print(f"  {line}".rstrip())
        c.print()
        c.out.flush()

    def finish(self, *, ok: bool, error: str = "") -> None:
        del ok, error  # the text was printed as it came; errors go to stderr


class MachineReport:
    def __init__(self, console: Console, fmt: str) -> None:
        self.console = console
        self.fmt = fmt
        self.doc: dict[str, Any] = {}

    def section(self, key: str, title: str, lines: Sequence[str], data: Any) -> None:
        del title, lines
        self.doc[key] = data

    def finish(self, *, ok: bool, error: str = "") -> None:
        doc = {"kind": "Try", "schemaVersion": SCHEMA_VERSION, "ok": ok, **self.doc}
        if error:
            doc["error"] = error
        self.console.write(dump(doc, self.fmt))
        self.console.out.flush()
