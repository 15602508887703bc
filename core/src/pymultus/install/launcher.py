"""The executable that goes into the CNI bin dir.

Thin mode installs ``pymultus`` in one of three forms (``--launcher``):

``fast`` (default)
    A Python script whose shebang is this environment's interpreter with ``-IS``
    (isolated, no ``site``): ``site`` costs a few ms per start (it reads every ``.pth``
    file and imports ``sitecustomize``), and the runtime starts the binary for every
    pod. The script sets ``sys.path`` itself to exactly what ``site`` would have added
    for this environment (site-packages, then the directories its ``.pth`` files name,
    such as the editable source trees), computed at install time, and sets
    ``sys.prefix`` to the virtual environment as ``site`` would. If the set of ``.pth``
    files changes later (an editable install added), it lets ``site`` process the
    directory again: slower until the next ``pymultus install``, never wrong.
``script``
    The ordinary console-script wrapper: the interpreter with ``site`` as usual (``-P``
    so the bin dir itself is not put on ``sys.path``).
``symlink``
    A symlink to this environment's ``pymultus`` console script.

Thick mode installs the shim as ``pymultus-shim``: the compiled forwarder (default) or
the Python one (``--python-shim``), which imports only ``_socket``. The Python shim is
installed precompiled: ``pymultus-shim`` is a stub (``-IS`` shebang, then "put
``pymultus-shim.d`` first on the path, import ``pymultus_shim``, run it") and
``pymultus-shim.d/`` holds the shim's source with its bytecode in ``__pycache__``
(hash-checked against the source, so a stale ``.pyc`` is never run). A script run as the
program is compiled on every start; an imported module is not (~4 ms per call here).
An interpreter of another version finds no bytecode for itself and compiles the source:
slower, still right.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pymultus.install import InstallError
from pymultus.install.files import replace_file
from pymultus.install.files import replace_symlink
from pymultus.install.files import same_file_content

BINARY_NAME = "pymultus"
SHIM_NAME = "pymultus-shim"
#: The Python shim's private directory, next to the stub, and its module name there.
PYTHON_SHIM_DIR = SHIM_NAME + ".d"
PYTHON_SHIM_MODULE = "pymultus_shim"
LAUNCHER_KINDS = ("fast", "script", "symlink")
EXEC_MODE = 0o755
#: Linux reads at most 255 bytes of a ``#!`` line (BINPRM_BUF_SIZE, since 5.1).
MAX_SHEBANG = 255
#: Environment variable naming a compiled shim, checked after ``--shim-binary``.
SHIM_ENV = "PYMULTUS_SHIM_BINARY"

#: The repository checkout this module runs from (core/src/pymultus/install/..).
_REPO = Path(__file__).resolve().parents[4]
#: Where ``scripts/build-shim.sh`` leaves the compiled shim (its default output).
SHIM_BUILD_CANDIDATES = (_REPO / ".cache" / "shim" / SHIM_NAME,)
#: The Python shim (a single stdlib-only file, runnable with ``python3 -I -S``).
PYTHON_SHIM_SOURCE = Path(__file__).resolve().parent.parent / "daemon" / "shim.py"

_PROBE = (
    "import json, sys\n"
    "site = sys.modules.get('site')\n"
    "dirs = [d for d in site.getsitepackages() if d in sys.path] if site else []\n"
    "print(json.dumps({'prefix': sys.prefix, 'path': sys.path, 'sitedirs': dirs}))"
)


@dataclass(frozen=True)
class Environment:
    """What ``site`` makes of an interpreter, learnt by asking it."""

    python: str
    #: ``sys.prefix`` after ``site`` (the venv directory in a venv).
    prefix: str
    #: ``sys.prefix`` without ``site`` (the base installation in a venv).
    base_prefix: str
    #: Entries ``site`` appends to ``sys.path``, in order.
    site_paths: tuple[str, ...]
    #: ``import`` lines of the site dirs' ``.pth`` files, which ``site`` executes.
    pth_imports: tuple[str, ...]
    #: The site dirs (site-packages) with the names of their ``.pth`` files: the
    #: launcher compares them at start-up and lets ``site`` redo its work when they
    #: changed (an editable install added or removed since ``pymultus install``).
    pth_files: tuple[tuple[str, tuple[str, ...]], ...] = ()


def _probe(python: str, *flags: str) -> dict[str, object]:
    try:
        out = subprocess.run(
            [python, *flags, "-c", _PROBE],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise InstallError(f"cannot run {python} to learn its import path: {exc}") from None
    result: dict[str, object] = json.loads(out)
    return result


def _pth_names(directory: str) -> tuple[str, ...]:
    """The ``.pth`` files ``site`` processes in ``directory``, in its order."""
    try:
        names = os.listdir(directory)
    except OSError:
        return ()
    return tuple(sorted(n for n in names if n.endswith(".pth") and not n.startswith(".")))


def _pth_imports(directories: list[str]) -> list[str]:
    """``import`` lines of the ``.pth`` files ``site`` would process in ``directories``."""
    lines: list[str] = []
    for directory in directories:
        for name in _pth_names(directory):
            try:
                text = (Path(directory) / name).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for line in text.splitlines():
                if line.startswith(("import ", "import\t")):
                    lines.append(line.rstrip())
    return lines


def environment(python: str | None = None) -> Environment:
    """Ask ``python`` (default: this interpreter) what ``site`` adds to its import path."""
    python = python or sys.executable
    if not python:
        raise InstallError("cannot tell which Python interpreter runs pymultus")
    with_site = _probe(python, "-I")
    without_site = _probe(python, "-I", "-S")
    base_path = without_site["path"]
    full_path = with_site["path"]
    if not isinstance(base_path, list) or not isinstance(full_path, list):
        raise InstallError(f"{python} reported no import path")
    added = [p for p in full_path if p not in base_path]
    site_dirs = with_site.get("sitedirs")
    if not isinstance(site_dirs, list):
        site_dirs = []
    return Environment(
        python=python,
        prefix=str(with_site["prefix"]),
        base_prefix=str(without_site["prefix"]),
        site_paths=tuple(added),
        pth_imports=tuple(_pth_imports(site_dirs)),
        pth_files=tuple((d, _pth_names(d)) for d in site_dirs),
    )


def _check_shebang(python: str) -> None:
    if any(c.isspace() for c in python):
        raise InstallError(
            f"interpreter path {python!r} contains whitespace, which a #! line cannot carry; "
            "use --launcher=symlink"
        )
    if len(f"#!{python} -IS".encode()) > MAX_SHEBANG:
        raise InstallError(
            f"interpreter path {python!r} is too long for a #! line ({MAX_SHEBANG} bytes); "
            "use --launcher=symlink"
        )


def render_fast_launcher(env: Environment) -> bytes:
    """The ``-IS`` launcher for ``env``; deterministic, so reinstalling is a no-op."""
    _check_shebang(env.python)
    out = [
        f"#!{env.python} -IS",
        "# pymultus CNI launcher, written by `pymultus install`; do not edit.",
        "# -I -S: no site module, no user site, no PYTHON* variables. The import path is",
        "# what `site` makes of this environment, computed when this file was written.",
        "import sys",
    ]
    if env.prefix != env.base_prefix:
        out.append(f"sys.prefix = sys.exec_prefix = {env.prefix!r}")
    out.append("sys.path.extend([")
    out.extend(f"    {p!r}," for p in env.site_paths)
    out.append("])")
    out.extend(f"exec({line!r})" for line in env.pth_imports)
    if env.pth_files:
        out += [
            "# A .pth file added or removed since then (an editable install): let site",
            "# process the directory again (slower, still right); `pymultus install` again",
            "# brings back the fast path.",
            "import os",
            "for _dir, _pth in (",
        ]
        out.extend(f"    ({d!r}, {list(names)!r})," for d, names in env.pth_files)
        out += [
            "):",
            "    if sorted(n for n in os.listdir(_dir) if n[-4:] == '.pth' and n[0] != '.') != _pth:",
            "        import site",
            "        site.addsitedir(_dir)",
        ]
    out += ["from pymultus.cli import main", "sys.exit(main())", ""]
    return "\n".join(out).encode()


def render_plain_script(python: str) -> bytes:
    _check_shebang(python)
    return (
        f"#!{python} -P\n"
        "# pymultus CNI launcher, written by `pymultus install`; do not edit.\n"
        "import sys\n"
        "from pymultus.cli import main\n"
        "sys.exit(main())\n"
    ).encode()


def console_script(python: str | None = None) -> Path:
    """This environment's ``pymultus`` console script (next to its interpreter)."""
    path = Path(python or sys.executable).parent / BINARY_NAME
    if not os.access(path, os.X_OK):
        raise InstallError(
            f"no pymultus console script at {path} to link to; use --launcher=fast or script"
        )
    return path


@dataclass(frozen=True)
class Action:
    """What an install step did (or, with ``--dry-run``, would do)."""

    path: Path
    what: str
    changed: bool


def install_launcher(bin_dir: Path, kind: str = "fast", *, dry_run: bool = False) -> Action:
    """Put the thin ``pymultus`` executable into ``bin_dir`` atomically."""
    path = bin_dir / BINARY_NAME
    if kind == "symlink":
        target = str(console_script())
        what = f"symlink to {target}"
        if dry_run:
            return Action(path, what, _readlink(path) != target)
        _ensure_dir(bin_dir)
        return Action(path, what, replace_symlink(path, target))
    if kind == "fast":
        data = render_fast_launcher(environment())
        what = f"fast launcher ({sys.executable} -IS)"
    elif kind == "script":
        data = render_plain_script(sys.executable)
        what = f"script launcher ({sys.executable})"
    else:
        raise InstallError(f"--launcher {kind!r}: expected one of {', '.join(LAUNCHER_KINDS)}")
    return _install_bytes(path, data, what, dry_run)


def find_compiled_shim(explicit: str | None = None) -> Path:
    """The compiled ``pymultus-shim``: ``explicit``, ``$PYMULTUS_SHIM_BINARY``, or the
    build dir of this checkout; a clear error naming every place looked at otherwise."""
    if explicit:
        candidates: tuple[Path, ...] = (Path(explicit),)
    elif os.environ.get(SHIM_ENV):
        candidates = (Path(os.environ[SHIM_ENV]),)
    else:
        candidates = SHIM_BUILD_CANDIDATES
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise InstallError(
        f"no compiled pymultus-shim found (looked at: {looked}); build it with "
        "scripts/build-shim.sh, name it with --shim-binary, or install the Python shim "
        "with --python-shim"
    )


def render_python_shim(source: Path = PYTHON_SHIM_SOURCE, python: str | None = None) -> bytes:
    """The Python shim as an executable: its source behind a ``-IS`` shebang."""
    python = python or sys.executable
    _check_shebang(python)
    text = _shim_source(source).decode("utf-8")
    if text.startswith("#!"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
    return f"#!{python} -IS\n{text}".encode()


def _shim_source(source: Path) -> bytes:
    try:
        return source.read_bytes()
    except OSError as exc:
        raise InstallError(
            f"the Python shim {source} is missing ({exc.strerror or exc}); "
            "is the thick-mode daemon package installed?"
        ) from None


def compile_pyc(source: bytes, filename: str) -> bytes:
    """``source`` as a hash-checked ``.pyc`` for this interpreter (PEP 552): the import
    system runs it only while the source next to it has the same hash. Deterministic."""
    import importlib.util
    import marshal

    code = compile(source, filename, "exec", dont_inherit=True)
    flags = 0b11  # hash-based, check_source
    return (
        importlib.util.MAGIC_NUMBER
        + flags.to_bytes(4, "little")
        + importlib.util.source_hash(source)
        + marshal.dumps(code)
    )


def python_shim_files(
    bin_dir: Path, source: Path = PYTHON_SHIM_SOURCE, python: str | None = None
) -> list[tuple[Path, bytes, int]]:
    """The installed Python shim: (path, content, mode) of the module's source, its
    bytecode and the stub, in the order they must be written (the stub last, so it
    never names a module that is not there yet)."""
    python = python or sys.executable
    _check_shebang(python)
    cache_tag = sys.implementation.cache_tag
    if not cache_tag:  # pragma: no cover - an interpreter that does not cache bytecode
        raise InstallError(f"{python} does not cache bytecode; install the compiled shim")
    text = _shim_source(source)
    if text.startswith(b"#!"):
        text = b"# " + text[2:]  # an imported module: keep the line numbers, drop the #!
    private = bin_dir / PYTHON_SHIM_DIR
    module = private / f"{PYTHON_SHIM_MODULE}.py"
    pyc = private / "__pycache__" / f"{PYTHON_SHIM_MODULE}.{cache_tag}.pyc"
    stub = (
        f"#!{python} -IS\n"
        "# pymultus-shim (Python build), written by `pymultus install`; do not edit. Its code\n"
        f"# is {PYTHON_SHIM_DIR}/{PYTHON_SHIM_MODULE}.py, precompiled there.\n"
        f"import sys\nsys.path.insert(0, {str(private)!r})\n"
        f"from {PYTHON_SHIM_MODULE} import main\nsys.exit(main())\n"
    ).encode()
    return [
        (module, text, 0o644),
        (pyc, compile_pyc(text, str(module)), 0o644),
        (bin_dir / SHIM_NAME, stub, EXEC_MODE),
    ]


def install_shim(
    bin_dir: Path,
    *,
    python_shim: bool = False,
    shim_binary: str | None = None,
    dry_run: bool = False,
) -> Action:
    """Put ``pymultus-shim`` into ``bin_dir`` atomically (the Python one with its
    precompiled module in ``pymultus-shim.d/``)."""
    path = bin_dir / SHIM_NAME
    if python_shim:
        what = f"Python shim ({PYTHON_SHIM_SOURCE}), precompiled in {bin_dir / PYTHON_SHIM_DIR}"
        return _install_files(path, python_shim_files(bin_dir), what, dry_run)
    source = find_compiled_shim(shim_binary)
    return _install_bytes(path, source.read_bytes(), f"compiled shim ({source})", dry_run)


def _install_bytes(path: Path, data: bytes, what: str, dry_run: bool) -> Action:
    return _install_files(path, [(path, data, EXEC_MODE)], what, dry_run)


def _install_files(
    path: Path, files: list[tuple[Path, bytes, int]], what: str, dry_run: bool
) -> Action:
    """Write ``files`` ((path, content, mode), in order) atomically, each only if it
    differs; one :class:`Action` for ``path``, changed if any file did (would)."""
    if dry_run:
        return Action(path, what, any(not same_file_content(p, d, m) for p, d, m in files))
    changed = False
    for file_path, data, mode in files:
        _ensure_dir(file_path.parent)
        changed = replace_file(file_path, data, mode) or changed
    return Action(path, what, changed)


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InstallError(f"cannot create {directory}: {exc.strerror or exc}") from None


def _readlink(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
