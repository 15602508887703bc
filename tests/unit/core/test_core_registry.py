"""Type resolution: hooks, Python entry points, the exec fallback, the entry-point index."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pymultus_delegate_exec
import pytest
from pymultus.cni.errors import CniError
from pymultus.engine import index as index_mod
from pymultus.engine.index import EntryPointIndex
from pymultus.engine.index import EntryPointRef
from pymultus.engine.registry import PythonPluginRunner
from pymultus.engine.registry import Registry
from pymultus.engine.registry import check_type_name
from pymultus.plugin import PluginContext

VENV_PYMULTUS = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "pymultus"


def test_installed_hooks_all_match_specs() -> None:
    registry = Registry()
    registry.pm.check_pending()
    names = {name for name, _ in registry.pm.list_name_plugin()}
    assert "pymultus.core" in names
    assert "delegate_exec" in names


def test_check_pending_catches_an_unknown_hook() -> None:
    """The check is real: an implementation with no spec is reported."""

    class Typo:
        from pymultus import hookimpl

        @hookimpl
        def pymultus_resolve_typo(self) -> None: ...

    registry = Registry(load_hooks=False, hooks=[Typo()])
    with pytest.raises(Exception, match="pymultus_resolve_typo"):
        registry.pm.check_pending()


@pytest.mark.parametrize(
    ("name", "msg"),
    [
        ("", "no plugin name provided"),
        ("a/b", "invalid plugin name: a/b"),
        ("/usr/bin/true", "invalid plugin name: /usr/bin/true"),
        (".", "invalid plugin name: ."),
        ("..", "invalid plugin name: .."),
        ("a\x00b", "invalid plugin name: a\x00b"),
    ],
)
def test_type_name_rules(name: str, msg: str) -> None:
    with pytest.raises(CniError) as err:
        check_type_name(name)
    assert err.value.msg == msg
    with pytest.raises(CniError):
        Registry(load_hooks=False, index=StaticIndex([])).resolve(name, ["/usr/lib/cni"])


class StaticIndex:
    """An index holding exactly the given refs (``fresh`` False: loads by import)."""

    fresh = False

    def __init__(self, refs: list[EntryPointRef]) -> None:
        self.refs = refs
        self.refreshed = 0

    def lookup(self, group: str, name: str) -> EntryPointRef | None:
        return next((r for r in self.refs if r.group == group and r.name == name), None)

    def entries(self, group: str) -> list[EntryPointRef]:
        return [r for r in self.refs if r.group == group]

    def refresh(self) -> list[EntryPointRef]:
        self.refreshed += 1
        return self.refs


@pytest.fixture
def pkgs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two importable modules: a good plugin class and one whose import raises."""
    root = tmp_path / "pkgs"
    root.mkdir()
    (root / "pmx_reg_good.py").write_text(
        "from pymultus.cni.result import Result\n"
        "class Good:\n"
        "    cni_versions = ('1.0.0',)\n"
        "    def add(self, req):\n"
        "        return Result(cni_version=req.cni_version)\n"
        "    def delete(self, req): pass\n"
        "    def check(self, req): pass\n"
    )
    (root / "pmx_reg_broken.py").write_text("raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(root))
    return root


def _ref(name: str, value: str, dist: str = "pmx-test-dist") -> EntryPointRef:
    return EntryPointRef("pymultus.plugins", name, value, dist, "1.2.3")


def _exec_registry(*refs: EntryPointRef, **kw: Any) -> Registry:
    """No installed hooks but the exec fallback; an index holding exactly ``refs``."""
    return Registry(
        load_hooks=False,
        hooks=[pymultus_delegate_exec],
        index=StaticIndex(list(refs)),  # type: ignore[arg-type]
        **kw,
    )


def test_python_plugin_wins_over_a_binary(pkgs: Path) -> None:
    del pkgs
    registry = _exec_registry(_ref("bridge", "pmx_reg_good:Good"))
    runner = registry.resolve("bridge", ["/usr/lib/cni"])
    assert isinstance(runner, PythonPluginRunner)
    assert runner.description == "pmx-test-dist 1.2.3 (pmx_reg_good:Good)"
    assert registry.resolve("bridge", ["/usr/lib/cni"]) is runner  # loaded once


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/bridge"), reason="reference plugins not installed"
)
def test_binary_fallback_and_not_found() -> None:
    registry = _exec_registry()
    runner = registry.resolve("bridge", ["/nonexistent", "/usr/lib/cni"])
    assert (runner.origin, runner.description) == ("exec", "/usr/lib/cni/bridge")
    with pytest.raises(CniError) as err:
        registry.resolve("pmxnosuch", ["/nonexistent", "/usr/lib/cni"])
    assert (err.value.code, err.value.msg) == (
        999,
        'failed to find plugin "pmxnosuch" in path [/nonexistent /usr/lib/cni]',
    )


def test_a_directory_is_not_a_plugin(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    registry = _exec_registry()
    with pytest.raises(CniError, match="failed to find plugin"):
        registry.resolve("adir", [str(tmp_path)])


def test_broken_plugin_import_names_type_and_distribution(pkgs: Path) -> None:
    del pkgs
    registry = _exec_registry(_ref("bridge", "pmx_reg_broken:Plugin", "pmx-broken-dist"))
    with pytest.raises(CniError) as err:
        registry.resolve("bridge", ["/usr/lib/cni"])
    assert err.value.code == 101
    assert err.value.msg == (
        'failed to load plugin type "bridge" from distribution pmx-broken-dist 1.2.3: '
        "ImportError: needs libfoo"
    )


def test_missing_attribute_is_a_load_error(pkgs: Path) -> None:
    del pkgs
    registry = Registry(load_hooks=False, index=StaticIndex([_ref("x", "pmx_reg_good:Nope")]))  # type: ignore[arg-type]
    with pytest.raises(CniError) as err:
        registry.resolve("x", [])
    assert err.value.msg.startswith(
        'failed to load plugin type "x" from distribution pmx-test-dist 1.2.3: AttributeError'
    )


@pytest.mark.parametrize("kind", ["symlink", "launcher"])
def test_never_execs_pymultus_itself(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "selfish"
    if kind == "symlink":
        target.symlink_to(VENV_PYMULTUS)
        registry = _exec_registry(self_paths=[str(VENV_PYMULTUS)])
    else:
        target.write_text("#!/usr/bin/python3\nfrom pymultus.cli import main\nmain()\n")
        target.chmod(0o755)
        registry = _exec_registry()
    with pytest.raises(CniError) as err:
        registry.resolve("selfish", [str(tmp_path)])
    assert err.value.code == 100
    assert "is pymultus itself; refusing to exec it" in err.value.msg


def test_never_execs_the_compiled_shim_under_another_name(tmp_path: Path) -> None:
    """The compiled shim (an ELF file, no ``#!`` line) installed as another type would
    forward the call back to the daemon serving it: it is recognized by the marker
    compiled into it. A small ELF binary without it is exec'd as usual."""
    import shutil
    import subprocess

    root = VENV_PYMULTUS.parents[2]
    subprocess.run([str(root / "scripts" / "build-shim.sh"), str(tmp_path / "selfish")], check=True)
    registry = _exec_registry()
    with pytest.raises(CniError) as err:
        registry.resolve("selfish", [str(tmp_path)])
    assert err.value.code == 100
    assert f"{tmp_path}/selfish is pymultus itself; refusing to exec it" in err.value.msg
    true = shutil.which("true")
    assert true is not None and Path(true).stat().st_size <= pymultus_delegate_exec.SHIM_SCAN_LIMIT
    shutil.copy(true, tmp_path / "plain")
    runner = registry.resolve("plain", [str(tmp_path)])
    assert runner.origin == "exec"


# -- the exec fallback ----------------------------------------------------------------


def _script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def execs(tmp_path: Path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    registry = _exec_registry()

    def run(name: str, body: str, *, timeout: float = 30.0, stdin: bytes = b"{}") -> Any:
        _script(bindir, name, body)
        runner = registry.resolve(name, [str(bindir)])
        ctx = PluginContext(registry=registry, exec_timeout=timeout)
        env = {"CNI_COMMAND": "ADD", "CNI_ARGS": "A=1", "PMX_EXTRA": "kept"}
        return runner.invoke(env, stdin, ctx)

    run.bindir = bindir  # type: ignore[attr-defined]
    return run


def test_exec_gets_env_and_stdin_and_returns_stdout(execs, tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    out = execs(
        "okplug",
        f'cat > {seen}.stdin; env > {seen}.env; printf \'{{"cniVersion":"1.0.0","ips":[]}}\'\n',
        stdin=b'{"name":"n"}',
    )
    assert out == {"cniVersion": "1.0.0", "ips": []}
    assert (tmp_path / "seen.stdin").read_bytes() == b'{"name":"n"}'
    env = (tmp_path / "seen.env").read_text().splitlines()
    assert "CNI_COMMAND=ADD" in env and "CNI_ARGS=A=1" in env and "PMX_EXTRA=kept" in env


def test_exec_empty_stdout_is_none(execs) -> None:
    assert execs("quiet", "exit 0\n") is None


def test_exec_error_object_passes_through(execs) -> None:
    with pytest.raises(CniError) as err:
        execs("errplug", 'printf \'{"code":7,"msg":"bad conf","details":"why"}\'; exit 1\n')
    assert (err.value.code, err.value.msg, err.value.details) == (7, "bad conf", "why")


@pytest.mark.parametrize(
    ("body", "code", "msg_part", "details_part"),
    [
        ("echo not json\n", 102, "exited 0 but printed something that is not JSON", "not json"),
        ("echo '[1]'\n", 102, "exited 0 but printed a JSON list, not an object", ""),
        (
            "echo 'panic: boom' >&2; exit 2\n",
            102,
            "failed with exit status 2 and no error message",
            "panic: boom",
        ),
        (
            "echo garbage; echo oops >&2; exit 1\n",
            102,
            "an unparsable error message: garbage",
            "oops",
        ),
        ("kill -9 $$\n", 102, "was killed by SIGKILL", ""),
    ],
)
def test_exec_failures_name_the_binary(
    execs, body: str, code: int, msg_part: str, details_part: str
) -> None:
    with pytest.raises(CniError) as err:
        execs("badplug", body)
    assert err.value.code == code
    assert str(execs.bindir / "badplug") in err.value.msg
    assert msg_part in err.value.msg
    assert details_part in err.value.details


def test_exec_timeout_is_try_again_later(execs) -> None:
    with pytest.raises(CniError) as err:
        execs("slowplug", "echo started >&2; exec sleep 30\n", timeout=0.5)
    assert err.value.code == 11
    assert "did not answer within 0.5 s and was killed" in err.value.msg


# -- the entry-point index -------------------------------------------------------------


def test_index_cache_written_then_reused(tmp_path: Path) -> None:
    cache = tmp_path / "idx" / "entry-points.json"
    first = EntryPointIndex(cache)
    refs = first.entries("pymultus.hooks")
    assert first.fresh
    assert any(r.name == "delegate_exec" for r in refs)
    doc = json.loads(cache.read_text())
    # Tamper with the cached entries (the fingerprint stays valid): a reader that
    # really uses the cache sees the tampered entry.
    doc["entries"].append(["pymultus.plugins", "pmxcached", "mod:Obj", "pmx-dist", "9"])
    cache.write_text(json.dumps(doc))
    second = EntryPointIndex(cache)
    assert second.lookup("pymultus.plugins", "pmxcached") == EntryPointRef(
        "pymultus.plugins", "pmxcached", "mod:Obj", "pmx-dist", "9"
    )
    assert not second.fresh


def test_index_miss_does_not_rescan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "entry-points.json"
    EntryPointIndex(cache).entries("pymultus.hooks")

    def boom(*_a: Any, **_k: Any) -> None:
        raise AssertionError("metadata scanned")

    monkeypatch.setattr(index_mod, "scan_metadata", boom)
    registry = Registry(load_hooks=False, index=EntryPointIndex(cache))
    assert registry.load_python_type("pmx-not-a-python-type") is None


def _dist(directory: Path, name: str, eps: str) -> Path:
    info = directory / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(eps)
    return info


def test_index_notices_installs_even_with_kept_directory_times(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    cache = tmp_path / "entry-points.json"

    def keep_dir_time(fn) -> None:
        st = site.stat()
        fn()
        os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns))

    def scanned() -> bool:
        """Whether a new index over ``site`` had to scan (not reuse the cache)."""
        idx = EntryPointIndex(cache, search_path=[str(site)])
        idx.entries("pymultus.plugins")
        return idx.fresh

    assert scanned()
    assert not scanned()

    # A new distribution appears, the directory's mtime is put back: still noticed.
    keep_dir_time(lambda: _dist(site, "pmxnew", "[pymultus.plugins]\npmxnew = m:C\n"))
    assert scanned()

    # entry_points.txt rewritten in place (a newer mtime): noticed.
    assert not scanned()
    eps = site / "pmxnew-1.0.dist-info" / "entry_points.txt"
    later = time.time_ns() + 5_000_000_000
    os.utime(eps, ns=(later, later))
    assert scanned()


# -- running a binary (posix_spawn and one poll loop) --------------------------------------


def test_run_binary_big_stdin_and_stdout_do_not_deadlock(tmp_path: Path) -> None:
    echo = _script(tmp_path, "echo", "cat\necho done >&2\n")
    data = bytes(range(256)) * 4096  # 1 MiB: far more than a pipe holds
    out = pymultus_delegate_exec.run_binary(str(echo), {}, data, 30.0)
    assert (out.returncode, out.stdout, out.stderr) == (0, data, b"done\n")


def test_run_binary_child_that_ignores_its_stdin(tmp_path: Path) -> None:
    quick = _script(tmp_path, "quick", "printf hi; exit 3\n")
    out = pymultus_delegate_exec.run_binary(str(quick), {"A": "1"}, b"x" * (1 << 20), 30.0)
    assert (out.returncode, out.stdout) == (3, b"hi")


def test_run_binary_gets_exactly_its_environment(tmp_path: Path) -> None:
    env = _script(tmp_path, "env", "env\n")
    out = pymultus_delegate_exec.run_binary(str(env), {"ONLY": "this"}, b"", 30.0)
    lines = set(out.stdout.decode().splitlines()) - {
        "PWD=" + os.getcwd(),
        "SHLVL=1",
        "_=/usr/bin/env",
    }
    assert lines == {"ONLY=this"}


def test_run_binary_child_starts_with_no_blocked_and_default_signals(tmp_path: Path) -> None:
    """A daemon worker may block signals; the plugin it runs must not inherit that."""
    # Not through /bin/sh (dash clears its own mask): env execs grep in the same process.
    status = tmp_path / "status"
    status.write_text("#!/usr/bin/env -S grep -h -E ^Sig(Blk|Ign): /proc/self/status\n")
    status.chmod(0o755)
    box: dict[str, Any] = {}

    def in_a_thread_blocking_sigterm() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGUSR1})
        box["out"] = pymultus_delegate_exec.run_binary(str(status), {}, b"", 30.0)

    worker = threading.Thread(target=in_a_thread_blocking_sigterm)
    worker.start()
    worker.join(60)
    fields = dict(line.split(":\t") for line in box["out"].stdout.decode().splitlines())
    assert int(fields["SigBlk"], 16) == 0
    assert not int(fields["SigIgn"], 16) & (1 << (signal.SIGPIPE - 1))  # Python ignores it


def test_run_binary_without_pidfd_still_waits_and_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    ok = _script(tmp_path, "ok", "cat >/dev/null; printf '{}'\n")
    assert pymultus_delegate_exec.run_binary(str(ok), {}, b"{}", 30.0).stdout == b"{}"
    # Closes its output and keeps running: the wait, not the reads, hits the timeout.
    hang = _script(tmp_path, "hang", "exec >/dev/null 2>&1; exec sleep 30\n")
    fds = len(os.listdir("/proc/self/fd"))
    with pytest.raises(pymultus_delegate_exec.Timeout):
        pymultus_delegate_exec.run_binary(str(hang), {}, b"", 0.3)
    assert len(os.listdir("/proc/self/fd")) == fds  # every pipe and the pidfd closed


def test_run_binary_cannot_start(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not executable\n")
    with pytest.raises(PermissionError):
        pymultus_delegate_exec.run_binary(str(plain), {}, b"", 30.0)
    with pytest.raises(FileNotFoundError):
        pymultus_delegate_exec.run_binary(str(tmp_path / "absent"), {}, b"", 30.0)
