"""``pymultus install --watch``: keep our config in step with the node.

A poll loop (default once a second), deliberately simple:

* the primary is looked up again every tick (a new first file, or the named one) and
  its bytes hashed: a different path or hash regenerates our config. The content hash,
  not the mtime, decides, so a touch does nothing and a same-second rewrite is seen;
* our file is compared with what it should be; if it is gone (another CNI deleted it,
  or renamed it: Cilium's ``cni.exclusive`` turns it into ``*.cilium_bak``, Multus
  #972) or was changed, it is written back and that is logged as a warning, naming any
  renamed copy;
* a primary that cannot be read or parsed (e.g. half-written by its own installer)
  never empties our config: the last good one stays (and is restored if removed), and
  the error is logged once until it changes;
* the installed binary is put back if it disappears.

``stop`` (set by the SIGTERM/SIGINT handler) ends the loop between ticks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pymultus.install import InstallError
from pymultus.install import autoconf
from pymultus.install.files import same_file_content

log = logging.getLogger("pymultus.install")


@dataclass(frozen=True)
class _SourceKey:
    path: Path
    sha256: str


class Watcher:
    def __init__(
        self,
        conf_dir: Path,
        opts: autoconf.Options,
        primary_file: str | None = None,
        *,
        say: Callable[[str], None],
        binary: Path | None = None,
        install_binary: Callable[[], object] | None = None,
        initial: autoconf.Generated | None = None,
    ) -> None:
        self.conf_dir = conf_dir
        self.opts = opts
        self.primary_file = primary_file
        self.say = say
        self.binary = binary
        self.install_binary = install_binary
        #: The config we last put in place (``initial``: what the one-shot install wrote).
        self.desired: autoconf.Generated | None = initial
        self._key: _SourceKey | None = None
        if initial is not None:
            self._key = _SourceKey(
                initial.primary.path, hashlib.sha256(initial.primary.data).hexdigest()
            )
        self._last_error = ""

    def _current(self) -> autoconf.Generated:
        """What our config should be now (re-rendered only if the primary changed)."""
        path = autoconf.find_primary(self.conf_dir, self.primary_file)
        data = autoconf.read_primary(path)
        key = _SourceKey(path, hashlib.sha256(data).hexdigest())
        if key == self._key and self.desired is not None:
            return self.desired
        gen = autoconf.render(autoconf.parse_primary(path, data), self.opts, self.conf_dir)
        if self._key is not None:
            what = "content" if key.path == self._key.path else "file"
            self.say(
                f"primary CNI config {what} changed ({path}, sha256 {key.sha256[:12]}): "
                f"regenerating {gen.path.name}"
            )
        self._key = key
        for warning in autoconf.shadow_warnings(gen):
            log.warning("%s", warning)
        return gen

    def tick(self) -> None:
        self._check_binary()
        try:
            gen = self._current()
        except InstallError as exc:
            msg = str(exc)
            if msg != self._last_error:
                keep = (
                    f"keeping {self.desired.path.name} as it is"
                    if self.desired is not None
                    else "nothing written yet"
                )
                log.error("%s (%s; retrying)", msg, keep)
                self._last_error = msg
            if self.desired is not None:
                self._ensure(self.desired)
            return
        if self._last_error:
            self.say("primary CNI config is usable again")
            self._last_error = ""
        self._ensure(gen)
        self.desired = gen

    def _ensure(self, gen: autoconf.Generated) -> None:
        in_place = same_file_content(gen.path, gen.data, autoconf.CONF_MODE)
        stale = os.path.lexists(gen.stale)
        if in_place and not stale:
            return
        known = self.desired is not None and self.desired.data == gen.data
        exists = os.path.lexists(gen.path)
        autoconf.write(gen)
        if not known:
            self.say(f"wrote {gen.path} (clusterNetwork {gen.primary.path})")
            return
        if not exists:
            renamed = self._renamed_copies(gen.path)
            hint = (
                f"; it was renamed to {', '.join(renamed)} (Cilium with cni.exclusive=true "
                "does this to other CNIs' configs: set cni.exclusive=false)"
                if renamed
                else ""
            )
            log.warning(
                "%s was removed by something else%s: restored it. Without it the runtime "
                "would use the primary CNI alone and pods would lose their extra networks.",
                gen.path,
                hint,
            )
        elif not in_place:
            log.warning("%s was modified by something else: restored it", gen.path)
        if stale:
            log.warning("removed %s, which would shadow %s", gen.stale, gen.path.name)

    def _renamed_copies(self, path: Path) -> list[str]:
        try:
            names = os.listdir(path.parent)
        except OSError:
            return []
        return sorted(n for n in names if n.startswith(path.name + "."))

    def _check_binary(self) -> None:
        if self.binary is None or self.install_binary is None:
            return
        if os.path.lexists(self.binary):
            return
        log.warning("%s was removed by something else: reinstalling it", self.binary)
        try:
            self.install_binary()
        except (InstallError, OSError) as exc:
            log.error("cannot reinstall %s: %s", self.binary, exc)

    def run(self, stop: threading.Event, interval: float = 1.0) -> int:
        """Tick until ``stop`` is set; the first tick happens at once."""
        self.say(f"watching {self.conf_dir} every {interval:g}s (SIGTERM or Ctrl-C to stop)")
        while not stop.is_set():
            try:
                self.tick()
            except OSError as exc:
                log.error("watch: %s (retrying)", exc)
            stop.wait(interval)
        self.say("stopped")
        return 0
