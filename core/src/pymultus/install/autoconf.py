"""Generate ``00-pymultus.conf`` / ``00-pymultus.conflist`` from the primary CNI config.

The behaviour follows Multus's auto-configuration (thick config manager, and the thin
entrypoint's file naming):

* the primary is the first ``*.conf``/``*.conflist``/``*.json`` file of the conf dir in
  filename order, skipping our own ``00-pymultus.*`` (or the file given explicitly);
* the generated network is named ``pymultus-cni-network`` and has type ``pymultus``
  (thin) or ``pymultus-shim`` (thick), the primary's ``cniVersion``, the primary's
  *enabled* capabilities (so the runtime passes the same runtimeConfig), and
  ``clusterNetwork`` set to the primary's path;
* cniVersion < 1.0.0 gives a single-plugin ``00-pymultus.conf``, >= 1.0.0 a
  ``00-pymultus.conflist`` with the meta-plugin as its only plugin.

Nothing is written unless the generated document parses back as a valid network
configuration, so a missing, empty or half-written primary never produces an empty or
partial ``00-pymultus.conf`` (Multus #1155).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymultus.cni import version as cniversion
from pymultus.cni.errors import CniError
from pymultus.cni.netconf import NetworkConfigList
from pymultus.install import InstallError
from pymultus.install.files import remove_if_exists
from pymultus.install.files import replace_file

NETWORK_NAME = "pymultus-cni-network"
OWN_PREFIX = "00-pymultus."
CONF_NAME = "00-pymultus.conf"
CONFLIST_NAME = "00-pymultus.conflist"
#: What libcni's ``ConfFiles`` looks at.
CONF_EXTENSIONS = (".conf", ".conflist", ".json")
THIN_TYPE = "pymultus"
THICK_TYPE = "pymultus-shim"
#: The levels the meta-plugin's ``logLevel`` understands (Multus's set, lower case).
LOG_LEVELS = ("debug", "verbose", "error", "panic")
#: Written 0644: nothing in it is secret (``kubeconfig`` is a path), and tools that
#: inspect a node's CNI config need not be root to read it.
CONF_MODE = 0o644


@dataclass(frozen=True)
class Options:
    """What goes into the generated config besides what the primary dictates."""

    thick: bool = False
    #: Required cniVersion; must equal the primary's (None: take the primary's).
    cni_version: str | None = None
    kubeconfig: str | None = None
    namespace_isolation: bool = False
    global_namespaces: tuple[str, ...] = ()
    log_file: str | None = None
    log_level: str | None = None
    readiness_indicator_file: str | None = None
    #: Thick only: where the shim finds the daemon's socket (``daemonSocketDir``).
    socket_dir: str | None = None

    def check(self) -> None:
        """Reject option values the meta-plugin would not accept."""
        if self.cni_version is not None and self.cni_version not in cniversion.ALL_VERSIONS:
            raise InstallError(
                f"--cni-version {self.cni_version!r} is not a CNI spec version "
                f"(known: {', '.join(cniversion.ALL_VERSIONS)})"
            )
        if self.log_level is not None and self.log_level.lower() not in LOG_LEVELS:
            raise InstallError(
                f"--log-level {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )
        if self.socket_dir is not None and not self.thick:
            raise InstallError("--socket-dir is for the thick shim; add --thick or drop it")
        for ns in self.global_namespaces:
            if not ns or "," in ns or ns != ns.strip():
                raise InstallError(f"--global-namespaces: {ns!r} is not a namespace name")


@dataclass(frozen=True)
class Primary:
    """The primary CNI config, as read (``data`` is hashed by the watcher)."""

    path: Path
    data: bytes
    cni_version: str
    #: Enabled capabilities only, in the order they first appear.
    capabilities: dict[str, bool]


@dataclass(frozen=True)
class Generated:
    path: Path
    data: bytes
    primary: Primary
    #: Our file under the other name (``.conf`` vs ``.conflist``): removed after writing.
    stale: Path


def is_own_file(name: str) -> bool:
    return name.startswith(OWN_PREFIX)


def candidate_files(conf_dir: Path) -> list[Path]:
    """Config files of ``conf_dir`` in the order libcni considers them, ours left out."""
    try:
        names = sorted(os.listdir(conf_dir))
    except FileNotFoundError:
        raise InstallError(f"conf dir {conf_dir} does not exist") from None
    except NotADirectoryError:
        raise InstallError(f"conf dir {conf_dir} is not a directory") from None
    found: list[Path] = []
    for name in names:
        if is_own_file(name) or not name.endswith(CONF_EXTENSIONS):
            continue
        path = conf_dir / name
        if path.is_file():
            found.append(path)
    return found


def shadowing_files(conf_dir: Path, our_name: str) -> list[Path]:
    """Config files a runtime would pick before ours (it uses the first by name)."""
    try:
        files = candidate_files(conf_dir)
    except InstallError:
        return []
    return [f for f in files if f.name < our_name]


def shadow_warnings(gen: Generated) -> list[str]:
    """Warnings for configs that sort before ours, so the runtime would never use ours."""
    return [
        f"{f} sorts before {gen.path.name}: the runtime uses the first config by name, so "
        f"it would run {f.name} and never pymultus; rename it to sort after {gen.path.name}"
        for f in shadowing_files(gen.path.parent, gen.path.name)
    ]


def find_primary(conf_dir: Path, primary_file: str | None = None) -> Path:
    """The primary's path: ``primary_file`` if given (a bare name is in ``conf_dir``),
    else the first candidate of ``conf_dir``."""
    if primary_file:
        path = Path(primary_file)
        if "/" not in primary_file:
            path = conf_dir / primary_file
        if is_own_file(path.name):
            raise InstallError(f"--primary {primary_file}: that is pymultus's own config file")
        if not path.is_file():
            raise InstallError(f"--primary {primary_file}: no such file ({path})")
        return path.absolute()
    files = candidate_files(conf_dir)
    if not files:
        raise InstallError(
            f"no primary CNI config in {conf_dir}: expected a *.conf, *.conflist or *.json "
            f"file (other than {OWN_PREFIX}*); install the cluster network's CNI first, "
            "name its file with --primary, or run with --watch to wait for it"
        )
    return files[0].absolute()


def enabled_capabilities(obj: dict[str, Any]) -> dict[str, bool]:
    """Capabilities set to ``true``, from the top level and from each plugin (case 46)."""
    sources: list[Any] = [obj.get("capabilities")]
    plugins = obj.get("plugins")
    if isinstance(plugins, list):
        sources.extend(p.get("capabilities") for p in plugins if isinstance(p, dict))
    caps: dict[str, bool] = {}
    for source in sources:
        if not isinstance(source, dict):
            continue
        for key, value in source.items():
            if value is True:
                caps[key] = True
    return caps


def read_primary(path: Path) -> bytes:
    """The primary's bytes; an unreadable file is an :class:`InstallError`."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InstallError(
            f"cannot read primary CNI config {path}: {exc.strerror or exc}"
        ) from None


def load_primary(path: Path) -> Primary:
    return parse_primary(path, read_primary(path))


def parse_primary(path: Path, data: bytes) -> Primary:
    """Check the primary's bytes and take what the generated config needs from them."""
    if not data.strip():
        raise InstallError(f"primary CNI config {path} is empty")
    try:
        net = NetworkConfigList.from_bytes(data, source=str(path))
    except CniError as exc:
        raise InstallError(f"primary CNI config {path} is not a valid CNI config: {exc}") from None
    obj = json.loads(data)
    for plugin in net.plugins:
        if plugin.get("type") in (THIN_TYPE, THICK_TYPE):
            raise InstallError(
                f"primary CNI config {path} is itself a pymultus config (type "
                f"{plugin['type']!r}); pymultus would call itself: remove that file or name "
                "the real primary with --primary"
            )
    version = net.cni_version
    if not version:
        raise InstallError(f"primary CNI config {path} has no cniVersion")
    if version not in cniversion.ALL_VERSIONS:
        raise InstallError(
            f"primary CNI config {path} has cniVersion {version!r}, which pymultus does not "
            f"speak (known: {', '.join(cniversion.ALL_VERSIONS)})"
        )
    return Primary(path, data, version, enabled_capabilities(obj))


def render(primary: Primary, opts: Options, conf_dir: Path) -> Generated:
    """The generated config for ``primary`` (pure: nothing is read or written)."""
    version = primary.cni_version
    if opts.cni_version is not None and opts.cni_version != version:
        # The shape of Multus's config-manager error (case 45).
        raise InstallError(
            f"delegate cni version is {version} while top level cni version is "
            f"{opts.cni_version} (primary {primary.path}); drop --cni-version to use the "
            "primary's version"
        )
    plugin: dict[str, Any] = {
        "type": THICK_TYPE if opts.thick else THIN_TYPE,
        "clusterNetwork": str(primary.path),
    }
    if primary.capabilities:
        plugin["capabilities"] = dict(primary.capabilities)
    if opts.kubeconfig:
        plugin["kubeconfig"] = opts.kubeconfig
    if opts.namespace_isolation:
        plugin["namespaceIsolation"] = True
    if opts.global_namespaces:
        plugin["globalNamespaces"] = ",".join(opts.global_namespaces)
    if opts.log_file:
        plugin["logFile"] = opts.log_file
    if opts.log_level:
        plugin["logLevel"] = opts.log_level.lower()
    if opts.readiness_indicator_file:
        plugin["readinessindicatorfile"] = opts.readiness_indicator_file
    if opts.thick and opts.socket_dir:
        plugin["daemonSocketDir"] = opts.socket_dir

    doc: dict[str, Any] = {"cniVersion": version, "name": NETWORK_NAME}
    if cniversion.greater_or_equal(version, "1.0.0"):
        doc["plugins"] = [plugin]
        path, stale = conf_dir / CONFLIST_NAME, conf_dir / CONF_NAME
    else:
        doc.update(plugin)
        path, stale = conf_dir / CONF_NAME, conf_dir / CONFLIST_NAME
    data = (json.dumps(doc, indent=2) + "\n").encode()
    _validate(data, doc)
    return Generated(path, data, primary, stale)


def _validate(data: bytes, doc: dict[str, Any]) -> None:
    """The bytes about to be written parse back to the document, as a valid network."""
    try:
        net = NetworkConfigList.from_bytes(data)
    except CniError as exc:  # pragma: no cover - would be a bug in render()
        raise InstallError(f"generated config is invalid: {exc}") from None
    if json.loads(data) != doc or net.name != NETWORK_NAME or len(net.plugins) != 1:
        raise InstallError("generated config did not round-trip")  # pragma: no cover


def generate(conf_dir: Path, opts: Options, primary_file: str | None = None) -> Generated:
    """Find and load the primary, and render our config for it."""
    return render(load_primary(find_primary(conf_dir, primary_file)), opts, conf_dir)


def write(gen: Generated) -> bool:
    """Put ``gen`` in place atomically; True if anything on disk changed."""
    changed = replace_file(gen.path, gen.data, CONF_MODE)
    # After the new file is in place, so a pymultus config exists at every instant.
    if remove_if_exists(gen.stale):
        changed = True
    return changed
