"""``pymultus install`` as a person (or a DaemonSet) runs it: the installed console script
as a subprocess, on temporary bin and conf dirs only."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest

PYMULTUS = str(Path(sys.executable).parent / "pymultus")
REPO = Path(__file__).resolve().parents[2]
PYTHON_SHIM = REPO / "core" / "src" / "pymultus" / "daemon" / "shim.py"

CALICO = {
    "name": "k8s-pod-network",
    "cniVersion": "0.3.1",
    "plugins": [
        {"type": "calico", "ipam": {"type": "calico-ipam"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "bandwidth", "capabilities": {"bandwidth": False}},
    ],
}


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir, conf_dir = tmp_path / "bin", tmp_path / "net.d"
    bin_dir.mkdir()
    conf_dir.mkdir()
    return bin_dir, conf_dir


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    env.update(extra)
    return env


def install(
    bin_dir: Path, conf_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYMULTUS, "install", "--bin-dir", str(bin_dir), "--conf-dir", str(conf_dir), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env or _env(),
    )


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_help_has_an_example() -> None:
    out = subprocess.run(
        [PYMULTUS, "install", "--help"], capture_output=True, text=True, check=True
    )
    assert "examples:" in out.stdout
    assert "pymultus install --bin-dir /opt/cni/bin --conf-dir /etc/cni/net.d" in out.stdout
    for flag in ("--thick", "--watch", "--primary", "--cni-version", "--launcher", "--dry-run"):
        assert flag in out.stdout


def test_install_thin_then_again_is_a_no_op(dirs: tuple[Path, Path]) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    first = install(bin_dir, conf_dir, "--kubeconfig", "/etc/k.conf")
    assert first.returncode == 0, first.stderr
    conf = conf_dir / "00-pymultus.conf"
    assert json.loads(conf.read_bytes()) == {
        "cniVersion": "0.3.1",
        "name": "pymultus-cni-network",
        "type": "pymultus",
        "clusterNetwork": str(conf_dir / "10-calico.conflist"),
        "capabilities": {"portMappings": True},
        "kubeconfig": "/etc/k.conf",
    }
    assert f"{bin_dir / 'pymultus'}: written" in first.stdout
    assert f"{conf}: written" in first.stdout
    old = 1_000_000_000 * 10**9
    for p in (conf, bin_dir / "pymultus"):
        os.utime(p, ns=(old, old))
    before = {p: p.stat() for p in (conf, bin_dir / "pymultus")}
    second = install(bin_dir, conf_dir, "--kubeconfig", "/etc/k.conf")
    assert second.returncode == 0, second.stderr
    assert second.stdout.count(": unchanged:") == 2
    for p, st in before.items():
        assert (p.stat().st_mtime_ns, p.stat().st_ino) == (st.st_mtime_ns, st.st_ino)
    assert sorted(os.listdir(bin_dir)) == ["pymultus"]
    assert sorted(os.listdir(conf_dir)) == ["00-pymultus.conf", "10-calico.conflist"]


@pytest.mark.parametrize(
    ("version", "name"),
    [
        ("0.3.1", "00-pymultus.conf"),
        ("0.4.0", "00-pymultus.conf"),
        ("1.0.0", "00-pymultus.conflist"),
        ("1.1.0", "00-pymultus.conflist"),
    ],
)
def test_install_each_primary_version(dirs: tuple[Path, Path], version: str, name: str) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(dict(CALICO, cniVersion=version)))
    result = install(bin_dir, conf_dir)
    assert result.returncode == 0, result.stderr
    doc = json.loads((conf_dir / name).read_bytes())
    assert doc["cniVersion"] == version
    plugin = doc["plugins"][0] if name.endswith("conflist") else doc
    assert plugin["type"] == "pymultus"
    assert plugin["capabilities"] == {"portMappings": True}


def _version_call(exe: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [exe],
        check=False,
        input=b"",
        capture_output=True,
        env=_env(CNI_COMMAND="VERSION"),
        timeout=60,
    )


@pytest.mark.parametrize("kind", ["fast", "script", "symlink"])
def test_installed_launcher_runs_like_the_console_script(
    dirs: tuple[Path, Path], kind: str
) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    result = install(bin_dir, conf_dir, "--launcher", kind)
    assert result.returncode == 0, result.stderr
    exe = str(bin_dir / "pymultus")
    ours, theirs = _version_call(exe), _version_call(PYMULTUS)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert ours.stdout.startswith(b"{")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("pymultus ")


def test_installed_launcher_prints_the_version_json(dirs: tuple[Path, Path]) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    assert install(bin_dir, conf_dir).returncode == 0
    out = _version_call(str(bin_dir / "pymultus"))
    assert out.returncode == 0, out.stdout
    doc = json.loads(out.stdout)
    assert "1.0.0" in doc["supportedVersions"] and doc["cniVersion"]


def _start_busy_binary(path: Path) -> subprocess.Popen[bytes]:
    """Run a copy of ``cat`` under ``path``: it blocks on stdin until we feed it."""
    shutil.copy(shutil.which("cat") or "/bin/cat", path)
    path.chmod(0o755)
    proc = subprocess.Popen([str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    wait_for(lambda: os.readlink(f"/proc/{proc.pid}/exe") == str(path), "the exec")
    # Sanity: writing over a running binary in place is refused, so the test can fail.
    with pytest.raises(OSError) as err:
        os.open(path, os.O_WRONLY)
    assert err.value.errno == errno.ETXTBSY
    return proc


def _check_still_working(proc: subprocess.Popen[bytes], path: Path) -> None:
    assert proc.poll() is None
    assert os.readlink(f"/proc/{proc.pid}/exe") == f"{path} (deleted)"
    out, _ = proc.communicate(b"still here\n", timeout=10)
    assert (proc.returncode, out) == (0, b"still here\n")


def _shim_says_try_again(shim: Path, tmp_path: Path) -> None:
    """The installed shim runs: with no daemon behind the socket it answers with CNI
    error 11 (try again later) naming the socket."""
    sock = tmp_path / "no-daemon.sock"
    out = subprocess.run(
        [str(shim)],
        input=b'{"cniVersion":"1.0.0","name":"pymultus-cni-network","type":"pymultus-shim"}',
        capture_output=True,
        check=False,
        timeout=60,
        env=_env(
            CNI_COMMAND="ADD",
            CNI_CONTAINERID="c1",
            CNI_NETNS="/run/netns/none",
            CNI_IFNAME="eth0",
            CNI_PATH=str(shim.parent),
            PYMULTUS_SOCKET=str(sock),
            PYMULTUS_SHIM_CONNECT_TIMEOUT="0.2",
        ),
    )
    assert out.returncode == 1
    err = json.loads(out.stdout)
    assert err["code"] == 11 and str(sock) in err["msg"]


def test_binary_replaced_while_the_old_one_runs(dirs: tuple[Path, Path]) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    path = bin_dir / "pymultus"
    proc = _start_busy_binary(path)
    try:
        result = install(bin_dir, conf_dir)
        assert result.returncode == 0, result.stderr
        assert "Text file busy" not in result.stderr
        assert path.read_bytes().startswith(b"#!")
        _check_still_working(proc, path)
    finally:
        proc.kill()
        proc.wait()
    assert sorted(os.listdir(bin_dir)) == ["pymultus"]


def test_thick_compiled_shim_replaced_while_the_old_one_runs(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(dict(CALICO, cniVersion="1.0.0")))
    built = tmp_path / "build" / "pymultus-shim"
    subprocess.run([str(REPO / "scripts" / "build-shim.sh"), str(built)], check=True, timeout=120)
    path = bin_dir / "pymultus-shim"
    proc = _start_busy_binary(path)
    try:
        result = install(
            bin_dir, conf_dir, "--thick", "--shim-binary", str(built), "--socket-dir", "/run/pm"
        )
        assert result.returncode == 0, result.stderr
        assert path.read_bytes() == built.read_bytes()
        assert path.stat().st_mode & 0o777 == 0o755
        _check_still_working(proc, path)
    finally:
        proc.kill()
        proc.wait()
    assert sorted(os.listdir(bin_dir)) == ["pymultus-shim"]
    _shim_says_try_again(path, tmp_path)
    doc = json.loads((conf_dir / "00-pymultus.conflist").read_bytes())
    assert doc["plugins"] == [
        {
            "type": "pymultus-shim",
            "clusterNetwork": str(conf_dir / "10-calico.conflist"),
            "capabilities": {"portMappings": True},
            "daemonSocketDir": "/run/pm",
        }
    ]


def test_thick_without_a_compiled_shim_says_what_to_do(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    missing = tmp_path / "no-such-shim"
    result = install(bin_dir, conf_dir, "--thick", env=_env(PYMULTUS_SHIM_BINARY=str(missing)))
    assert result.returncode == 1
    assert "no compiled pymultus-shim found" in result.stderr
    assert str(missing) in result.stderr and "--python-shim" in result.stderr
    assert os.listdir(bin_dir) == []
    assert sorted(os.listdir(conf_dir)) == ["10-calico.conflist"]


def test_thick_python_shim(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    result = install(bin_dir, conf_dir, "--thick", "--python-shim")
    assert result.returncode == 0, result.stderr
    shim = bin_dir / "pymultus-shim"
    text = shim.read_text()
    assert text.startswith(f"#!{sys.executable} -IS\n")
    # A stub importing the shim's module, installed with its bytecode next to it.
    private = bin_dir / "pymultus-shim.d"
    assert f"sys.path.insert(0, {str(private)!r})\nfrom pymultus_shim import main\n" in text
    module = private / "pymultus_shim.py"
    assert module.read_text().split("\n", 1)[1] == PYTHON_SHIM.read_text().split("\n", 1)[1]
    assert [p.name for p in (private / "__pycache__").iterdir()] == [
        f"pymultus_shim.{sys.implementation.cache_tag}.pyc"
    ]
    assert json.loads((conf_dir / "00-pymultus.conf").read_bytes())["type"] == "pymultus-shim"
    _shim_says_try_again(shim, tmp_path)


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, (), "no primary CNI config in"),
        ({"10-bad.conf": '{"cniVersion": "0.3.1",'}, (), "10-bad.conf is not a valid CNI config"),
        (
            {"10-calico.conflist": json.dumps(CALICO)},
            ("--cni-version", "0.4.0"),
            "delegate cni version is 0.3.1 while top level cni version is 0.4.0",
        ),
        ({"10-calico.conflist": json.dumps(CALICO)}, ("--log-level", "loud"), "--log-level 'loud'"),
        ({"10-calico.conflist": json.dumps(CALICO)}, ("--python-shim",), "need --thick"),
    ],
)
def test_errors_exit_non_zero_and_change_nothing(
    dirs: tuple[Path, Path], files: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    bin_dir, conf_dir = dirs
    for name, text in files.items():
        (conf_dir / name).write_text(text)
    result = install(bin_dir, conf_dir, *args)
    assert result.returncode == 1
    assert result.stderr.startswith("pymultus install: error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(bin_dir) == []
    assert sorted(os.listdir(conf_dir)) == sorted(files)


def test_dry_run_changes_nothing(dirs: tuple[Path, Path]) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    result = install(bin_dir, conf_dir, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert os.listdir(bin_dir) == []
    assert os.listdir(conf_dir) == ["10-calico.conflist"]
    assert f"{conf_dir / '00-pymultus.conf'}: would write" in result.stdout
    doc_text = result.stdout[result.stdout.index("{") :]
    assert json.loads(doc_text)["clusterNetwork"] == str(conf_dir / "10-calico.conflist")


@contextlib.contextmanager
def _watch(
    bin_dir: Path, conf_dir: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``pymultus install --watch``, its stdout and stderr files; killed on the way out
    if it still runs."""
    out, err = tmp_path / "watch.out", tmp_path / "watch.err"
    proc = subprocess.Popen(
        [
            PYMULTUS,
            "install",
            "--bin-dir",
            str(bin_dir),
            "--conf-dir",
            str(conf_dir),
            "--watch",
            "--interval",
            "0.05",
        ],
        stdout=out.open("wb"),
        stderr=err.open("wb"),
        env=_env(),
    )
    try:
        yield proc, out, err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_watch_restores_and_follows_then_stops_on_sigterm(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    bin_dir, conf_dir = dirs
    primary = conf_dir / "10-calico.conflist"
    primary.write_text(json.dumps(CALICO))
    conf, conflist = conf_dir / "00-pymultus.conf", conf_dir / "00-pymultus.conflist"
    with _watch(bin_dir, conf_dir, tmp_path) as (proc, out, err):
        wait_for(lambda: "watching" in out.read_text(), "the watch loop")
        good = conf.read_bytes()

        conf.unlink()
        wait_for(conf.exists, "the removed config to come back")
        assert conf.read_bytes() == good
        wait_for(lambda: "was removed by something else" in err.read_text(), "the warning")

        # Cilium's cni.exclusive
        conf.rename(conf_dir / "00-pymultus.conf.cilium_bak")
        wait_for(conf.exists, "the renamed config to come back")
        wait_for(lambda: "00-pymultus.conf.cilium_bak" in err.read_text(), "the rename warning")

        # the primary moves to CNI 1.0.0 and gains a capability
        changed = dict(CALICO, cniVersion="1.0.0")
        changed["plugins"] = [*CALICO["plugins"], {"type": "tuning", "capabilities": {"mac": True}}]
        tmp = conf_dir / ".10-calico.tmp"
        tmp.write_text(json.dumps(changed))
        tmp.rename(primary)
        wait_for(lambda: conflist.exists() and not conf.exists(), "the conflist")
        doc = json.loads(conflist.read_bytes())
        assert doc["cniVersion"] == "1.0.0"
        assert doc["plugins"][0]["capabilities"] == {"portMappings": True, "mac": True}

        (bin_dir / "pymultus").unlink()
        wait_for((bin_dir / "pymultus").exists, "the binary to come back")

        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    stdout = out.read_text()
    assert "SIGTERM received" in stdout and "stopped" in stdout
    assert "Traceback" not in err.read_text()
    # stopping leaves the config in place (a restart must not open a window without it)
    assert conflist.exists()


def test_watch_stops_on_sigint(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    with _watch(bin_dir, conf_dir, tmp_path) as (proc, out, err):
        wait_for(lambda: "watching" in out.read_text(), "the watch loop")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    assert "SIGINT received" in out.read_text()
    assert "Traceback" not in err.read_text()


def test_watch_waits_for_the_primary(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, conf_dir = dirs
    with _watch(bin_dir, conf_dir, tmp_path) as (proc, _out, err):
        wait_for(lambda: "no primary CNI config" in err.read_text(), "the waiting message")
        assert not (conf_dir / "00-pymultus.conf").exists()
        (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
        wait_for((conf_dir / "00-pymultus.conf").exists, "the config")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


def test_unwritable_bin_dir_is_a_clean_error(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    _bin_dir, conf_dir = dirs
    (conf_dir / "10-calico.conflist").write_text(json.dumps(CALICO))
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    result = install(not_a_dir / "bin", conf_dir)
    assert result.returncode == 1
    assert result.stderr.startswith("pymultus install: error: ")
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(conf_dir)) == ["10-calico.conflist"]
