"""The installed ``pymultus`` executable: CNI mode and human mode, end to end.

Python plugin types come from test-only distributions (``tests/fixtures/dists``),
installed with pip into a temporary directory that only these subprocesses see
(``PYTHONPATH``), with the entry-point index in a temporary ``PYMULTUS_INDEX_DIR``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYMULTUS = REPO / ".venv" / "bin" / "pymultus"
DISTS = REPO / "tests" / "fixtures" / "dists"
ALL = '["0.1.0","0.2.0","0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]'
GOOD_VERSIONS = '["0.3.1","0.4.0","1.0.0","1.1.0"]'
CNI_ENV = {
    "CNI_CONTAINERID": "ctr1",
    "CNI_NETNS": "/run/netns/pmx-e2e-unused",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/nonexistent/pmx-e2e-bin",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test distributions, installed (not into the workspace environment)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-index",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(DISTS / "pmxtest-good"),
            str(DISTS / "pmxtest-broken"),
        ],
        check=True,
        timeout=300,
    )
    assert (target / "pmxtest_good-0.3.0.dist-info").is_dir()
    return target


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    return tmp_path / "index"


def base_env(site: Path | None, index_dir: Path, extra: Mapping[str, str] = ()) -> dict[str, str]:  # type: ignore[assignment]
    env = {"PATH": "/usr/bin:/bin", "PYMULTUS_INDEX_DIR": str(index_dir)}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    env.update(extra)
    return env


def run(
    argv: list[str], env: Mapping[str, str], stdin: bytes = b"", exe: Path = PYMULTUS
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(exe), *argv], input=stdin, env=dict(env), capture_output=True, check=False, timeout=60
    )


def cni(
    command: str,
    stdin: bytes,
    site: Path | None,
    index_dir: Path,
    exe: Path = PYMULTUS,
    **override: str,
) -> subprocess.CompletedProcess[bytes]:
    env = base_env(site, index_dir, {"CNI_COMMAND": command, **CNI_ENV, **override})
    return run([], env, stdin, exe)


def good_conf(version: str = "1.0.0", **extra: object) -> bytes:
    return json.dumps(
        {"cniVersion": version, "name": "net", "type": "pmxgood", "address": "10.1.1.5/24", **extra}
    ).encode()


# -- CNI mode ----------------------------------------------------------------------------


def test_version_bytes_for_a_python_type(site: Path, index_dir: Path) -> None:
    proc = cni("VERSION", b'{"cniVersion":"1.1.0","type":"pmxgood"}', site, index_dir)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert proc.stdout == f'{{"cniVersion":"1.1.0","supportedVersions":{GOOD_VERSIONS}}}\n'.encode()


def test_version_bytes_for_a_type_with_no_python_plugin(site: Path, index_dir: Path) -> None:
    proc = cni("VERSION", b'{"cniVersion":"1.1.0","type":"bridge"}', site, index_dir)
    assert proc.returncode == 0
    assert proc.stdout == f'{{"cniVersion":"1.1.0","supportedVersions":{ALL}}}\n'.encode()


def test_symlink_named_after_a_type_ignores_garbage_stdin_for_version(
    site: Path, index_dir: Path, tmp_path: Path
) -> None:
    link = tmp_path / "pmxgood"
    link.symlink_to(PYMULTUS)
    proc = cni("VERSION", b"not json at all", site, index_dir, exe=link)
    assert proc.returncode == 0
    assert proc.stdout == f'{{"cniVersion":"1.1.0","supportedVersions":{GOOD_VERSIONS}}}\n'.encode()


def test_about_text_on_empty_command(site: Path, index_dir: Path, tmp_path: Path) -> None:
    link = tmp_path / "pmxgood"
    link.symlink_to(PYMULTUS)
    proc = cni("", good_conf(), site, index_dir, exe=link)
    assert (proc.returncode, proc.stdout) == (0, b"")
    lines = proc.stderr.decode().splitlines()
    assert lines[0].startswith("CNI pmxgood plugin")
    assert (
        lines[1]
        == "CNI protocol versions supported: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"
    )


def test_add_prints_result_without_trailing_newline(site: Path, index_dir: Path) -> None:
    proc = cni("ADD", good_conf(), site, index_dir)
    assert (proc.returncode, proc.stderr) == (0, b""), proc
    assert proc.stdout.decode() == (
        "{\n"
        '    "cniVersion": "1.0.0",\n'
        '    "interfaces": [\n'
        "        {\n"
        '            "name": "good0",\n'
        '            "sandbox": "/run/netns/pmx-e2e-unused"\n'
        "        }\n"
        "    ],\n"
        '    "ips": [\n'
        "        {\n"
        '            "interface": 0,\n'
        '            "address": "10.1.1.5/24"\n'
        "        }\n"
        "    ],\n"
        '    "dns": {}\n'
        "}"
    )


def test_del_and_check_print_nothing(site: Path, index_dir: Path) -> None:
    for command in ("DEL", "CHECK"):
        prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.1.1.5/24"}]}
        proc = cni(command, good_conf(prevResult=prev), site, index_dir)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b""), (command, proc)


ERRORS = [
    # (id, command, env override, stdin, expected stdout)
    (
        "missing-ifname",
        "ADD",
        {"CNI_IFNAME": ""},
        good_conf(),
        '{\n    "code": 4,\n    "msg": "required env variables [CNI_IFNAME] missing"\n}',
    ),
    (
        "bad-json",
        "ADD",
        {},
        b'{"cniVersion":"1.0.0","name":"net","type":"pmxgood",',
        '{\n    "code": 6,\n    "msg": "error unmarshall network config: unexpected end of JSON input"\n}',
    ),
    (
        "plugin-error",
        "ADD",
        {},
        b'{"cniVersion":"1.0.0","name":"net","type":"pmxgood"}',
        '{\n    "code": 7,\n    "msg": "pmxgood: \'address\' is required"\n}',
    ),
    (
        "incompatible",
        "ADD",
        {},
        good_conf("0.2.0"),
        '{\n    "code": 1,\n    "msg": "incompatible CNI versions",\n'
        '    "details": "config is \\"0.2.0\\", plugin supports [\\"0.3.1\\" \\"0.4.0\\" \\"1.0.0\\" \\"1.1.0\\"]"\n}',
    ),
    (
        "unknown-command",
        "FOO",
        {},
        good_conf(),
        '{\n    "code": 4,\n    "msg": "unknown CNI_COMMAND: FOO"\n}',
    ),
    (
        "unknown-type",
        "ADD",
        {},
        b'{"cniVersion":"1.0.0","name":"net","type":"pmxnosuch"}',
        None,  # checked below: names the type
    ),
]


@pytest.mark.parametrize(
    ("case", "command", "override", "stdin", "expected"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_errors_are_json_on_stdout_with_exit_1(
    site: Path,
    index_dir: Path,
    case: str,
    command: str,
    override: dict[str, str],
    stdin: bytes,
    expected: str | None,
) -> None:
    proc = cni(command, stdin, site, index_dir, **override)
    assert proc.returncode == 1, proc
    assert not proc.stdout.endswith(b"\n")
    if expected is not None:
        assert proc.stdout.decode() == expected
        return
    err = json.loads(proc.stdout)
    assert err["code"] == 100
    assert err["msg"] == 'no installed Python plugin provides type "pmxnosuch"'
    assert "pmxgood" in err["details"]


def test_broken_distribution_is_a_cni_error_naming_type_and_distribution(
    site: Path, index_dir: Path
) -> None:
    proc = cni("ADD", b'{"cniVersion":"1.0.0","name":"net","type":"pmxbroken"}', site, index_dir)
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == {
        "code": 101,
        "msg": 'failed to load plugin type "pmxbroken" from distribution pmxtest-broken 0.0.1: '
        "ImportError: pmxtest_broken needs libpmx, which is not installed",
    }


def test_entry_point_index_is_written_and_reused(site: Path, index_dir: Path) -> None:
    assert cni("ADD", good_conf(), site, index_dir).returncode == 0
    written = sorted(index_dir.glob("entry-points*.json"))  # one file per import path
    assert len(written) == 1
    cache = written[0]
    doc = json.loads(cache.read_text())
    rows = {tuple(r[:2]): r for r in doc["entries"]}
    assert rows[("pymultus.plugins", "pmxgood")] == [
        "pymultus.plugins",
        "pmxgood",
        "pmxtest_good:Good",
        "pmxtest-good",
        "0.3.0",
    ]
    assert ("pymultus.plugins", "pmxbroken") in rows
    # Point the cached entry at another class, fingerprint untouched: the next call
    # must answer from the cache, not from a fresh scan.
    rows[("pymultus.plugins", "pmxgood")][2] = "pmxtest_good:GoodAlt"
    cache.write_text(json.dumps(doc))
    mtime = cache.stat().st_mtime_ns
    out = json.loads(cni("ADD", good_conf(), site, index_dir).stdout)
    assert out["interfaces"][0]["name"] == "alt0"
    assert cache.stat().st_mtime_ns == mtime  # a hit does not rewrite
    # A new distribution in a directory already on the path changes the fingerprint
    # (same import path, same cache file): rescanned, the tampered entry is gone.
    (site / "pmxunrelated-1.0.dist-info").mkdir()
    try:
        out = json.loads(cni("ADD", good_conf(), site, index_dir).stdout)
    finally:
        (site / "pmxunrelated-1.0.dist-info").rmdir()
    assert out["interfaces"][0]["name"] == "good0"
    assert sorted(index_dir.glob("entry-points*.json")) == [cache]


def test_run_plugin_forces_the_type(site: Path, index_dir: Path) -> None:
    """With arguments the command is the human CLI even under a CNI environment."""
    env = base_env(site, index_dir, {"CNI_COMMAND": "VERSION"})
    proc = run(["run-plugin", "pmxgood"], env, b'{"type":"bridge"}')
    assert proc.stdout == f'{{"cniVersion":"1.1.0","supportedVersions":{GOOD_VERSIONS}}}\n'.encode()
    env = base_env(site, index_dir, {"CNI_COMMAND": "ADD", **CNI_ENV})
    proc = run(["run-plugin", "pmxgood"], env, good_conf(type="bridge"))
    assert proc.returncode == 0, proc
    assert json.loads(proc.stdout)["interfaces"][0]["name"] == "good0"


# -- chain and plugins subcommands with a Python type ----------------------------------------


def test_chain_with_a_python_type(site: Path, index_dir: Path, tmp_path: Path) -> None:
    conf = tmp_path / "net.conflist"
    conf.write_text(
        json.dumps(
            {
                "cniVersion": "1.1.0",
                "name": "pmxe2e",
                "plugins": [
                    {"type": "pmxgood", "address": "10.1.1.5/24"},
                    {"type": "pmxgood", "address": "10.1.1.6/24"},
                ],
            }
        )
    )
    env = base_env(site, index_dir)
    common = [
        "--conf",
        str(conf),
        "--netns",
        "/run/netns/pmx-e2e-unused",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    add = run(["chain", "add", *common], env)
    assert add.returncode == 0, add
    result = json.loads(add.stdout)
    assert [i["name"] for i in result["interfaces"]] == ["good0", "good0"]
    assert [ip["address"] for ip in result["ips"]] == ["10.1.1.5/24", "10.1.1.6/24"]
    assert len(list((tmp_path / "cache" / "results").iterdir())) == 1
    assert run(["chain", "check", *common], env).returncode == 0
    assert run(["chain", "status", *common], env).returncode == 0
    assert run(["chain", "del", *common], env).returncode == 0
    assert list((tmp_path / "cache" / "results").iterdir()) == []
    # CHECK without a cached result: the plugin gets no prevResult and says so.
    check = run(["chain", "check", *common], env)
    assert check.returncode == 1
    assert (
        check.stderr.decode()
        == "pymultus chain: error: pmxgood: prevResult missing (CNI code 999)\n"
    )


def test_plugins_check_lists_good_and_broken(site: Path, index_dir: Path) -> None:
    proc = run(["plugins", "--check", "-o", "json"], base_env(site, index_dir))
    assert proc.returncode == 1  # a broken plugin is installed
    rows = {r["type"]: r for r in json.loads(proc.stdout)["python"]}
    assert rows["pmxgood"]["loads"] is True
    assert rows["pmxgood"]["distribution"] == "pmxtest-good"
    assert rows["pmxbroken"]["loads"] is False
    assert "pmxtest-broken" in rows["pmxbroken"]["error"]


# -- human mode errors -------------------------------------------------------------------


def _one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    assert proc.returncode != 0
    assert proc.stdout == b""
    lines = proc.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_human_errors_are_one_readable_line(site: Path, index_dir: Path, tmp_path: Path) -> None:
    env = base_env(site, index_dir)
    missing = tmp_path / "missing.conflist"
    line = _one_line(run(["chain", "add", "--conf", str(missing), "--netns", "/x"], env))
    assert line.startswith("pymultus chain: error: error reading ")
    assert str(missing) in line and line.endswith("(CNI code 7)")

    bad = tmp_path / "bad.conflist"
    bad.write_text('{"name":"n","plugins":[]}')
    line = _one_line(run(["chain", "add", "--conf", str(bad), "--netns", "/x"], env))
    assert (
        line
        == "pymultus chain: error: error parsing configuration list: no plugins in list (CNI code 7)"
    )

    good = tmp_path / "good.conflist"
    good.write_text('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"pmxbroken"}]}')
    line = _one_line(
        run(
            ["chain", "add", "--conf", str(good), "--netns", "/x", "--cache-dir", str(tmp_path)],
            env,
        )
    )
    assert line.startswith(
        'pymultus chain: error: plugin type="pmxbroken" failed (add): failed to load plugin type "pmxbroken" from distribution pmxtest-broken 0.0.1'
    )

    line = _one_line(
        run(["chain", "add", "--conf", str(good), "--netns", "/x", "--capability-args", "{x"], env)
    )
    assert line.startswith("pymultus chain: error: --capability-args is not JSON")

    line = _one_line(run(["chain", "check", "--conf", str(good)], env))
    assert line == "pymultus chain: error: chain check needs --netns (CNI code 4)"


def test_usage_errors_exit_non_zero(index_dir: Path) -> None:
    env = base_env(None, index_dir)
    proc = run(["no-such-command"], env)
    assert proc.returncode == 2
    assert b"invalid choice" in proc.stderr
    proc = run([], env)
    assert proc.returncode == 2
    assert b"usage: pymultus" in proc.stdout
    assert run(["--version"], env).stdout.startswith(b"pymultus ")
