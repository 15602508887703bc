"""The executable written into the CNI bin dir: fast launcher, script, symlink, shim."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pymultus
import pytest
from pymultus.install import InstallError
from pymultus.install import launcher

from tests.importtime import imported_modules

PROBE_TAIL = "import json\nprint(json.dumps({'path': sys.path, 'prefix': sys.prefix}))\n"


def _site_state() -> dict[str, object]:
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            "import json, sys; print(json.dumps({'path': sys.path, 'prefix': sys.prefix}))",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout
    result: dict[str, object] = json.loads(out)
    return result


def test_environment_finds_site_packages_and_editable_sources() -> None:
    env = launcher.environment()
    core_src = str(Path(pymultus.__file__).resolve().parents[1])
    assert core_src in env.site_paths
    assert any(p.endswith("site-packages") for p in env.site_paths)
    assert not any(p.endswith(("python3.11", "lib-dynload", ".zip")) for p in env.site_paths)
    assert env.python == sys.executable
    # site-packages is the site dir, and its .pth files (the editable installs) are known
    site_dirs = dict(env.pth_files)
    assert [d for d in env.site_paths if d in site_dirs] == list(site_dirs)
    assert any("pymultus" in name for names in site_dirs.values() for name in names)


def test_fast_launcher_reproduces_what_site_does(tmp_path: Path) -> None:
    """Run the launcher's own preamble with -IS and compare sys.path and sys.prefix
    with a normal (site-enabled) start of the same interpreter."""
    text = launcher.render_fast_launcher(launcher.environment()).decode()
    first_line, _, _ = text.partition("\n")
    assert first_line == f"#!{sys.executable} -IS"
    assert text.endswith("from pymultus.cli import main\nsys.exit(main())\n")
    probe = tmp_path / "probe"
    probe.write_text(text.replace("from pymultus.cli import main\nsys.exit(main())\n", PROBE_TAIL))
    probe.chmod(0o755)
    got = json.loads(
        subprocess.run([str(probe)], check=True, capture_output=True, text=True).stdout
    )
    want = _site_state()
    assert got == want
    # and it did skip site: -S leaves the site module unimported
    probe.write_text(
        text.replace(
            "from pymultus.cli import main\nsys.exit(main())\n",
            "print('site' in sys.modules, sys.flags.isolated, sys.flags.no_site)\n",
        )
    )
    flags = subprocess.run([str(probe)], check=True, capture_output=True, text=True).stdout
    assert flags.split() == ["False", "1", "1"]


def test_fast_launcher_is_deterministic() -> None:
    env = launcher.environment()
    assert launcher.render_fast_launcher(env) == launcher.render_fast_launcher(
        launcher.environment()
    )


def test_pth_import_lines_are_collected_as_site_would(tmp_path: Path) -> None:
    (tmp_path / "b.pth").write_text("import\tsys\n/some/dir\n")
    (tmp_path / "a.pth").write_text("# comment\nimport os\n/other/dir\nimportant/not/an/import\n")
    (tmp_path / ".hidden.pth").write_text("import json\n")
    (tmp_path / "c.txt").write_text("import json\n")
    assert launcher._pth_imports([str(tmp_path)]) == ["import os", "import\tsys"]
    env = launcher.Environment(
        python=sys.executable,
        prefix="/p",
        base_prefix="/usr",
        site_paths=(str(tmp_path),),
        pth_imports=("import os",),
    )
    text = launcher.render_fast_launcher(env).decode()
    assert "exec('import os')\n" in text
    assert "sys.prefix = sys.exec_prefix = '/p'\n" in text


def test_fast_launcher_falls_back_to_site_when_a_pth_file_appears(tmp_path: Path) -> None:
    site_dir, src1, src2 = tmp_path / "site-packages", tmp_path / "src1", tmp_path / "src2"
    for d in (site_dir, src1, src2):
        d.mkdir()
    (site_dir / "a.pth").write_text(f"{src1}\n")
    env = launcher.Environment(
        python=sys.executable,
        prefix=sys.base_prefix,
        base_prefix=sys.base_prefix,
        site_paths=(str(site_dir), str(src1)),
        pth_imports=(),
        pth_files=((str(site_dir), ("a.pth",)),),
    )
    text = launcher.render_fast_launcher(env).decode()
    probe = tmp_path / "probe"
    probe.write_text(
        text.replace(
            "from pymultus.cli import main\nsys.exit(main())\n",
            "import json\nprint(json.dumps([sys.path, 'site' in sys.modules]))\n",
        )
    )
    probe.chmod(0o755)

    def run() -> tuple[list[str], bool]:
        out = subprocess.run([str(probe)], check=True, capture_output=True, text=True).stdout
        path, site_loaded = json.loads(out)
        return path, site_loaded

    path, site_loaded = run()
    assert site_loaded is False
    assert str(src1) in path and str(src2) not in path
    (site_dir / ".hidden.pth").write_text(f"{src2}\n")  # site ignores these: so do we
    assert run()[1] is False
    (site_dir / "b.pth").write_text(f"{src2}\n")
    path, site_loaded = run()
    assert site_loaded is True
    assert path.index(str(src1)) < path.index(str(src2))
    assert path.count(str(src1)) == 1


@pytest.mark.parametrize(
    ("python", "message"),
    [("/opt/my python/bin/python", "whitespace"), ("/" + "x" * 300, "too long")],
)
def test_bad_interpreter_paths(python: str, message: str) -> None:
    env = launcher.Environment(python, "/p", "/p", (), ())
    with pytest.raises(InstallError, match=message):
        launcher.render_fast_launcher(env)
    with pytest.raises(InstallError, match=message):
        launcher.render_plain_script(python)


@pytest.mark.parametrize("kind", ["fast", "script", "symlink"])
def test_install_launcher_kinds(tmp_path: Path, kind: str) -> None:
    bin_dir = tmp_path / "bin"
    dry = launcher.install_launcher(bin_dir, kind, dry_run=True)
    assert dry.changed is True
    assert not bin_dir.exists()
    action = launcher.install_launcher(bin_dir, kind)
    path = bin_dir / "pymultus"
    assert action.path == path and action.changed is True
    assert os.access(path, os.X_OK)
    if kind == "symlink":
        assert os.readlink(path) == str(Path(sys.executable).parent / "pymultus")
    else:
        assert not path.is_symlink()
        assert path.stat().st_mode & 0o777 == 0o755
        head = path.read_text().split("\n", 1)[0]
        assert head == f"#!{sys.executable} {'-IS' if kind == 'fast' else '-P'}"
    assert launcher.install_launcher(bin_dir, kind).changed is False
    assert launcher.install_launcher(bin_dir, kind, dry_run=True).changed is False
    assert sorted(os.listdir(bin_dir)) == ["pymultus"]


def test_switching_kinds_replaces_the_entry(tmp_path: Path) -> None:
    launcher.install_launcher(tmp_path, "symlink")
    assert (tmp_path / "pymultus").is_symlink()
    assert launcher.install_launcher(tmp_path, "fast").changed is True
    assert not (tmp_path / "pymultus").is_symlink()
    assert launcher.install_launcher(tmp_path, "symlink").changed is True
    assert (tmp_path / "pymultus").is_symlink()


def test_unknown_kind(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="expected one of fast, script, symlink"):
        launcher.install_launcher(tmp_path, "hardlink")


def test_find_compiled_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shim = tmp_path / "pymultus-shim"
    with pytest.raises(InstallError) as err:
        launcher.find_compiled_shim(str(shim))
    assert str(shim) in str(err.value)
    assert "--python-shim" in str(err.value)
    assert "scripts/build-shim.sh" in str(err.value)
    shim.write_bytes(b"\x7fELF not really")
    shim.chmod(0o644)
    with pytest.raises(InstallError):
        launcher.find_compiled_shim(str(shim))  # not executable
    shim.chmod(0o755)
    assert launcher.find_compiled_shim(str(shim)) == shim
    monkeypatch.setenv(launcher.SHIM_ENV, str(shim))
    assert launcher.find_compiled_shim() == shim
    monkeypatch.setenv(launcher.SHIM_ENV, str(tmp_path / "elsewhere"))
    with pytest.raises(InstallError, match="elsewhere"):
        launcher.find_compiled_shim()


def test_find_compiled_shim_lists_build_dirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(launcher.SHIM_ENV, raising=False)
    candidates = (tmp_path / "a" / "pymultus-shim", tmp_path / "b" / "pymultus-shim")
    monkeypatch.setattr(launcher, "SHIM_BUILD_CANDIDATES", candidates)
    with pytest.raises(InstallError) as err:
        launcher.find_compiled_shim()
    assert all(str(c) in str(err.value) for c in candidates)
    candidates[1].parent.mkdir()
    candidates[1].write_bytes(b"x")
    candidates[1].chmod(0o755)
    assert launcher.find_compiled_shim() == candidates[1]


def test_install_compiled_shim_copies_bytes(tmp_path: Path) -> None:
    src = tmp_path / "built-shim"
    src.write_bytes(bytes(range(256)) * 10)
    src.chmod(0o755)
    bin_dir = tmp_path / "bin"
    action = launcher.install_shim(bin_dir, shim_binary=str(src))
    assert action.changed is True
    dest = bin_dir / "pymultus-shim"
    assert dest.read_bytes() == src.read_bytes()
    assert dest.stat().st_mode & 0o777 == 0o755
    assert launcher.install_shim(bin_dir, shim_binary=str(src)).changed is False


def test_python_shim_gets_our_shebang(tmp_path: Path) -> None:
    src = tmp_path / "shim.py"
    src.write_text("#!/usr/bin/env python3\nimport sys\nsys.stdout.write('shim ran')\n")
    data = launcher.render_python_shim(src).decode()
    assert data.startswith(f"#!{sys.executable} -IS\nimport sys\n")
    assert data.count("#!") == 1
    exe = tmp_path / "pymultus-shim"
    exe.write_text(data)
    exe.chmod(0o755)
    assert (
        subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout == "shim ran"
    )
    with pytest.raises(InstallError, match="missing"):
        launcher.render_python_shim(tmp_path / "nope.py")


# -- the Python shim, installed precompiled ------------------------------------------------


def test_python_shim_is_installed_as_a_stub_and_a_precompiled_module(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    action = launcher.install_shim(bin_dir, python_shim=True)
    assert action.changed is True and action.path == bin_dir / "pymultus-shim"
    stub = bin_dir / "pymultus-shim"
    private = bin_dir / "pymultus-shim.d"
    module = private / "pymultus_shim.py"
    pyc = private / "__pycache__" / f"pymultus_shim.{sys.implementation.cache_tag}.pyc"
    assert stub.stat().st_mode & 0o777 == 0o755
    assert module.stat().st_mode & 0o777 == 0o644 and pyc.stat().st_mode & 0o777 == 0o644
    text = stub.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n")
    assert b"pymultus-shim" in stub.read_bytes()[:1024]  # delegate_exec's self-marker
    assert module.read_bytes()[2:] == launcher.PYTHON_SHIM_SOURCE.read_bytes()[2:]
    # Deterministic: installing again changes nothing, and a dry run says so.
    assert launcher.install_shim(bin_dir, python_shim=True).changed is False
    assert launcher.install_shim(bin_dir, python_shim=True, dry_run=True).changed is False

    # It runs, from the bytecode (not compiled again).
    proc = subprocess.run(
        [sys.executable, "-I", "-S", "-v", str(stub)],
        env={},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "forwards CNI calls to the pymultus daemon" in proc.stderr
    assert f"# {pyc} matches {module}" in proc.stderr

    # Nothing beyond _socket and the shim's own module is imported.
    env = {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": "/nonexistent/s"}
    env["PYMULTUS_SHIM_CONNECT_TIMEOUT"] = "0.05"
    base = imported_modules(["-c", "pass"], {})
    assert imported_modules([str(stub)], env) - base == {"_socket", "pymultus_shim"}


def test_python_shim_bytecode_is_checked_against_its_source(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    launcher.install_shim(bin_dir, python_shim=True)
    module = bin_dir / "pymultus-shim.d" / "pymultus_shim.py"
    module.write_text("import sys\ndef main():\n    sys.stdout.write('edited')\n    return 0\n")
    out = subprocess.run(
        [str(bin_dir / "pymultus-shim")], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out == "edited"  # the stale .pyc was not run
    assert launcher.install_shim(bin_dir, python_shim=True, dry_run=True).changed is True
    assert launcher.install_shim(bin_dir, python_shim=True).changed is True
    out = subprocess.run(
        [str(bin_dir / "pymultus-shim")],
        env={"CNI_COMMAND": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stderr
    assert "forwards CNI calls to the pymultus daemon" in out


def test_python_shim_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="missing"):
        launcher.python_shim_files(tmp_path, tmp_path / "nope.py")
