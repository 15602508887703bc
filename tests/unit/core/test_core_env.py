"""CNI_* environment, CNI_ARGS and the skeleton's checks, as tables.

Expected texts are the reference skeleton's (cni-protocol.md §1.1-1.2, §1.12.3). A case
marked ``ref=True`` is one where the installed 1.1.1 skeleton and HEAD agree and the
binary fails before doing anything: it is also run through ``/usr/lib/cni/bridge`` and
both answers must be the same JSON. To add a case, add a row.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

import pytest
from _core_fakes import FakePlugin
from _core_fakes import Journal
from pymultus.cni import skel
from pymultus.cni.env import CniEnv
from pymultus.cni.env import load_cni_args
from pymultus.cni.env import split_cni_args
from pymultus.cni.errors import CniError
from pymultus.engine.registry import Registry
from pymultus.plugin import PluginContext

REF_BINARY = "/usr/lib/cni/bridge"
#: What the installed reference plugins support.
REF_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0")
ALL_VERSIONS = (*REF_VERSIONS, "1.1.0")
BASE = {
    "CNI_CONTAINERID": "c1",
    "CNI_NETNS": "/run/netns/pymultus-test-absent",
    "CNI_IFNAME": "eth0",
    "CNI_PATH": "/nonexistent/pymultus-test-bin",
}
REQUIRED = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": ("CNI_PATH",),
    "STATUS": ("CNI_PATH",),
    "VERSION": (),
}
GOOD_STDIN = b'{"cniVersion":"1.1.0","name":"net","type":"fake"}'
REF_STDIN = b'{"cniVersion":"1.0.0","name":"net","type":"fake"}'


@dataclass
class Case:
    id: str
    env: dict[str, str]
    stdin: bytes = GOOD_STDIN
    #: ``(code, msg, details)``, or None when the plugin must be called.
    error: tuple[int, str, str] | None = None
    versions: tuple[str, ...] = ALL_VERSIONS
    ref: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _env(command: str, drop: tuple[str, ...] = (), **override: str) -> dict[str, str]:
    env = {"CNI_COMMAND": command, **BASE}
    for name in drop:
        env.pop(name)
    env.update(override)
    return env


def _missing(names: list[str]) -> tuple[int, str, str]:
    return (4, f"required env variables [{','.join(names)}] missing", "")


def _matrix() -> list[Case]:
    cases: list[Case] = []
    for command, required in REQUIRED.items():
        ref = command in ("ADD", "CHECK", "DEL")
        stdin = REF_STDIN if ref else GOOD_STDIN
        versions = REF_VERSIONS if ref else ALL_VERSIONS
        for var in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"):
            err = _missing([var]) if var in required else None
            for how, env in (("no", _env(command, (var,))), ("empty", _env(command, **{var: ""}))):
                cases.append(
                    Case(
                        f"{command}-{how}-{var}", env, stdin, err, versions, ref and err is not None
                    )
                )
        if required:
            cases.append(
                Case(
                    f"{command}-none",
                    {"CNI_COMMAND": command},
                    stdin,
                    _missing(list(required)),
                    versions,
                    ref,
                )
            )
        bad_cid = (
            (4, "invalid characters in containerID", "-bad")
            if "CNI_CONTAINERID" in required
            else None
        )
        cases.append(
            Case(
                f"{command}-bad-cid",
                _env(command, CNI_CONTAINERID="-bad"),
                stdin,
                bad_cid,
                versions,
                ref,
            )
        )
        bad_if = (
            (4, "interface name contains / or : or whitespace characters", "")
            if "CNI_IFNAME" in required
            else None
        )
        cases.append(
            Case(
                f"{command}-bad-ifname",
                _env(command, CNI_IFNAME="a/b"),
                stdin,
                bad_if,
                versions,
                ref,
            )
        )
    return cases


IFNAMES = [
    ("x" * 15, None),
    (
        "x" * 16,
        (4, "interface name is too long", "interface name should be less than 16 characters"),
    ),
    (
        "é" * 8,
        (4, "interface name is too long", "interface name should be less than 16 characters"),
    ),
    ("é" * 7, None),
    (".", (4, "interface name is . or ..", "")),
    ("..", (4, "interface name is . or ..", "")),
    ("a.b", None),
    ("a:b", (4, "interface name contains / or : or whitespace characters", "")),
    ("a b", (4, "interface name contains / or : or whitespace characters", "")),
    ("a\tb", (4, "interface name contains / or : or whitespace characters", "")),
    ("a\u00a0b", (4, "interface name contains / or : or whitespace characters", "")),
    ("a\u3000b", (4, "interface name contains / or : or whitespace characters", "")),
    # Not White_Space in Go (Python's isspace says yes): accepted.
    ("a\x1cb", None),
    ("a\u200bb", None),
]
CONTAINER_IDS = [
    ("a", None),
    ("A9_.-x", None),
    ("_a", (4, "invalid characters in containerID", "_a")),
    (".a", (4, "invalid characters in containerID", ".a")),
    ("a b", (4, "invalid characters in containerID", "a b")),
    ("a\n", (4, "invalid characters in containerID", "a\n")),
    ("é", (4, "invalid characters in containerID", "é")),
]
STDINS = [
    (b"", (6, "error unmarshall network config: unexpected end of JSON input", "")),
    (
        b'{"cniVersion":"1.0.0","name":"net",',
        (6, "error unmarshall network config: unexpected end of JSON input", ""),
    ),
    (
        b"garbage",
        (
            6,
            "error unmarshall network config: invalid character 'g' looking for beginning of value",
            "",
        ),
    ),
    (
        b'{"name":"x"} x',
        (6, "error unmarshall network config: invalid character 'x' after top-level value", ""),
    ),
    (
        b'{"name":5}',
        (
            6,
            "error unmarshall network config: json: cannot unmarshal number into Go struct field .name of type string",
            "",
        ),
    ),
    (
        b"[]",
        (
            6,
            'error unmarshall network config: json: cannot unmarshal array into Go value of type struct { Name string "json:\\"name\\"" }',
            "",
        ),
    ),
    (b"null", (7, "missing network name", "")),
    (b"{}", (7, "missing network name", "")),
    (b'{"name":""}', (7, "missing network name", "")),
    (b'{"name":null}', (7, "missing network name", "")),
    (b'{"name":"a b"}', (7, "invalid characters found in network name", "a b")),
    (b'{"name":"-a"}', (7, "invalid characters found in network name", "-a")),
    (
        b'{"name":"x","cniVersion":5}',
        (
            6,
            "decoding version from network config: json: cannot unmarshal number into Go struct field .cniVersion of type string",
            "",
        ),
    ),
    (
        b'{"name":"x","cniVersion":"9.9.9"}',
        (
            1,
            "incompatible CNI versions",
            'config is "9.9.9", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0"]',
        ),
    ),
    (
        b'{"name":"x","cniVersion":"1.1.0"}',
        (
            1,
            "incompatible CNI versions",
            'config is "1.1.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0"]',
        ),
    ),
]


def _cases() -> list[Case]:
    cases = _matrix()
    for prefix, command, var, table in (
        ("ifname", "ADD", "CNI_IFNAME", IFNAMES),
        ("cid", "DEL", "CNI_CONTAINERID", CONTAINER_IDS),
    ):
        for value, err in table:
            cases.append(
                Case(
                    f"{prefix}-{value!r}",
                    _env(command, **{var: value}),
                    REF_STDIN,
                    err,
                    REF_VERSIONS,
                    err is not None,
                )
            )
    for stdin, err in STDINS:
        cases.append(Case(f"stdin-{stdin[:24]!r}", _env("DEL"), stdin, err, REF_VERSIONS, True))
    cases += [
        Case("no-command", {**BASE}, GOOD_STDIN, _missing(["CNI_COMMAND"])),
        Case("empty-command-nothing-else", {"CNI_COMMAND": ""}, b"", _missing(["CNI_COMMAND"])),
        Case(
            "unknown-command",
            {"CNI_COMMAND": "FOO"},
            GOOD_STDIN,
            (4, "unknown CNI_COMMAND: FOO", ""),
        ),
        Case("lower-case-command", _env("add"), GOOD_STDIN, (4, "unknown CNI_COMMAND: add", "")),
        Case(
            "unknown-command-bad-stdin",
            {"CNI_COMMAND": "FOO"},
            b"x",
            (
                6,
                "error unmarshall network config: invalid character 'x' looking for beginning of value",
                "",
            ),
        ),
        # HEAD order: a present invalid var fails at once, before later missing ones
        # (1.1.1 reports the missing CNI_PATH first; documented choice in env.py).
        Case(
            "head-order-invalid-before-missing",
            _env("ADD", ("CNI_PATH",), CNI_IFNAME="a/b"),
            GOOD_STDIN,
            (4, "interface name contains / or : or whitespace characters", ""),
        ),
        Case(
            "missing-collected-across-invalid-later",
            _env("ADD", ("CNI_CONTAINERID", "CNI_NETNS")),
            GOOD_STDIN,
            _missing(["CNI_CONTAINERID", "CNI_NETNS"]),
        ),
        Case("version-ignores-stdin", {"CNI_COMMAND": "VERSION"}, b"garbage", None, REF_VERSIONS),
        Case(
            "version-ignores-bad-vars",
            {"CNI_COMMAND": "VERSION", "CNI_IFNAME": "a/b", "CNI_CONTAINERID": "-x"},
            b"",
            None,
        ),
        Case("netns-override", _env("ADD", CNI_NETNS_OVERRIDE="TRUE"), GOOD_STDIN, None),
        # Version gating (CHECK >= 0.4.0, GC/STATUS >= 1.1.0; parse errors are code 6).
        Case(
            "check-abc",
            _env("CHECK"),
            b'{"name":"x","cniVersion":"abc"}',
            (
                6,
                'failed to convert major version part "abc": strconv.Atoi: parsing "abc": invalid syntax',
                "",
            ),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-1.x",
            _env("CHECK"),
            b'{"name":"x","cniVersion":"1.x"}',
            (
                6,
                'failed to convert minor version part "x": strconv.Atoi: parsing "x": invalid syntax',
                "",
            ),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-1.0.0.0",
            _env("CHECK"),
            b'{"name":"x","cniVersion":"1.0.0.0"}',
            (6, 'invalid version "1.0.0.0": too many parts', ""),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-0.3.1",
            _env("CHECK"),
            b'{"name":"x","cniVersion":"0.3.1"}',
            (1, "config version does not allow CHECK", ""),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-no-version",
            _env("CHECK"),
            b'{"name":"x"}',
            (1, "config version does not allow CHECK", ""),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-newer-than-plugin",
            _env("CHECK"),
            b'{"name":"x","cniVersion":"1.1.0"}',
            (1, "plugin version does not allow CHECK", ""),
            REF_VERSIONS,
            True,
        ),
        Case(
            "check-0.4.0", _env("CHECK"), b'{"name":"x","cniVersion":"0.4.0"}', None, REF_VERSIONS
        ),
        Case(
            "gc-1.0.0",
            _env("GC"),
            b'{"name":"x","cniVersion":"1.0.0"}',
            (1, "config version does not allow GC", ""),
        ),
        Case(
            "gc-plugin-too-old",
            _env("GC"),
            b'{"name":"x","cniVersion":"1.1.0"}',
            (1, "plugin version does not allow GC", ""),
            REF_VERSIONS,
        ),
        Case(
            "status-0.4.0",
            _env("STATUS"),
            b'{"name":"x","cniVersion":"0.4.0"}',
            (1, "config version does not allow STATUS", ""),
        ),
        Case(
            "status-plugin-too-old",
            _env("STATUS"),
            b'{"name":"x","cniVersion":"1.1.0"}',
            (1, "plugin version does not allow STATUS", ""),
            REF_VERSIONS,
        ),
        # "" is 0.1.0, and the details say so.
        Case(
            "empty-version-unsupported",
            _env("ADD"),
            b'{"name":"x","cniVersion":""}',
            (
                1,
                "incompatible CNI versions",
                'config is "0.1.0", plugin supports ["1.0.0" "1.1.0"]',
            ),
            ("1.0.0", "1.1.0"),
        ),
        Case(
            "null-version-is-empty",
            _env("DEL"),
            b'{"name":"x","cniVersion":null}',
            None,
            ("0.1.0",),
        ),
        Case(
            "exact-match-only",
            _env("ADD"),
            b'{"name":"x","cniVersion":"1.0"}',
            (
                1,
                "incompatible CNI versions",
                'config is "1.0", plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]',
            ),
        ),
    ]
    return cases


CASES = _cases()


def _dispatch(case: Case) -> tuple[FakePlugin, Any]:
    journal = Journal()
    plugin = FakePlugin("fake", journal)
    plugin.cni_versions = case.versions
    ctx = PluginContext(registry=Registry(load_hooks=False))
    return plugin, skel.dispatch(plugin, case.env, case.stdin, ctx)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_skeleton_checks(case: Case) -> None:
    if case.error is None:
        plugin, out = _dispatch(case)
        command = case.env["CNI_COMMAND"]
        if command == "VERSION":
            assert out == {"cniVersion": "1.1.0", "supportedVersions": list(case.versions)}
            assert plugin.journal.calls == []
        else:
            assert plugin.journal.seq() == [(command, "fake")]
        return
    with pytest.raises(CniError) as err:
        _dispatch(case)
    assert (err.value.code, err.value.msg, err.value.details) == case.error


REF_CASES = [c for c in CASES if c.ref]


@pytest.mark.skipif(not os.path.exists(REF_BINARY), reason="reference plugins not installed")
@pytest.mark.parametrize("case", REF_CASES, ids=[c.id for c in REF_CASES])
def test_reference_binary_agrees(case: Case) -> None:
    assert case.error is not None
    assert case.versions == REF_VERSIONS
    proc = subprocess.run(
        [REF_BINARY], input=case.stdin, env=case.env, capture_output=True, check=False, timeout=30
    )
    assert proc.returncode == 1, proc
    ours = CniError(*case.error).to_json()
    assert json.loads(proc.stdout) == ours


def test_matrix_is_not_empty_and_covers_every_command() -> None:
    commands = {c.env.get("CNI_COMMAND") for c in CASES}
    assert set(REQUIRED) <= commands
    assert len(REF_CASES) > 40


# -- CniEnv --------------------------------------------------------------------------


def test_env_fields_and_round_trip() -> None:
    environ = {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "net1",
        "CNI_ARGS": "A=1;B=2",
        "CNI_PATH": "/a::/b:",
        "CNI_NETNS_OVERRIDE": "1",
        "HOME": "/root",
    }
    env = CniEnv.from_environ(environ)
    assert env.path == ("/a", "/b")
    assert env.netns_override is True
    assert dict(env.extra) == {"HOME": "/root"}
    assert env.to_environ("DEL") == {
        "HOME": "/root",
        "CNI_COMMAND": "DEL",
        "CNI_CONTAINERID": "c1",
        "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "net1",
        "CNI_ARGS": "A=1;B=2",
        "CNI_PATH": "/a:/b",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("true", True), ("TrUe", True), ("0", False), ("yes", False), ("", False)],
)
def test_netns_override_values(value: str, expected: bool) -> None:
    env = CniEnv.from_environ({"CNI_COMMAND": "VERSION", "CNI_NETNS_OVERRIDE": value})
    assert env.netns_override is expected


# -- CNI_ARGS (types.LoadArgs) --------------------------------------------------------

KNOWN = ("IP", "MAC", "GATEWAY")
ARGS = [
    ("", {}),
    ("IP=10.1.1.5/24", {"IP": "10.1.1.5/24"}),
    ("IP=", {"IP": ""}),
    ("IP=1;IP=2", {"IP": "2"}),
    ("IP=1;MAC=m;GATEWAY=g", {"IP": "1", "MAC": "m", "GATEWAY": "g"}),
    ("a", 'ARGS: invalid pair "a"'),
    ("a=b=c", 'ARGS: invalid pair "a=b=c"'),
    ("IP=1;", 'ARGS: invalid pair ""'),
    (";IP=1", 'ARGS: invalid pair ""'),
    ('K="v"=1', 'ARGS: invalid pair "K=\\"v\\"=1"'),
    ("FOO=1", 'ARGS: unknown args ["FOO=1"]'),
    ("FOO=1;IP=2;BAR=", 'ARGS: unknown args ["FOO=1" "BAR="]'),
    ('FOO="x"', 'ARGS: unknown args ["FOO=\\"x\\""]'),
    ("FOO=a\tb", 'ARGS: unknown args ["FOO=a\\tb"]'),
    ("ip=1", 'ARGS: unknown args ["ip=1"]'),
    ("IgnoreUnknown=1;FOO=1;IP=3", {"IP": "3"}),
    ("FOO=1;IgnoreUnknown=true", {}),
    ("IgnoreUnknown=TRUE;K8S_POD_NAME=p;K8S_POD_NAMESPACE=ns", {}),
    ("IgnoreUnknown=0;FOO=1", 'ARGS: unknown args ["FOO=1"]'),
    ("IgnoreUnknown=false;FOO=1", 'ARGS: unknown args ["FOO=1"]'),
    ("IgnoreUnknown=1;IgnoreUnknown=0;FOO=1", 'ARGS: unknown args ["FOO=1"]'),
    (
        "IgnoreUnknown=yes",
        'ARGS: error parsing value of pair "IgnoreUnknown=yes": boolean unmarshal error: invalid input yes',
    ),
    (
        "IgnoreUnknown=",
        'ARGS: error parsing value of pair "IgnoreUnknown=": boolean unmarshal error: invalid input ',
    ),
    # Pairs are read in order: whichever bad pair comes first decides.
    (
        "IgnoreUnknown=x;bad",
        'ARGS: error parsing value of pair "IgnoreUnknown=x": boolean unmarshal error: invalid input x',
    ),
    ("bad;IgnoreUnknown=x", 'ARGS: invalid pair "bad"'),
    ("FOO=1;bad", 'ARGS: invalid pair "bad"'),
]


@pytest.mark.parametrize(("text", "expected"), ARGS, ids=[a[0] or "empty" for a in ARGS])
def test_cni_args(text: str, expected: dict[str, str] | str) -> None:
    if isinstance(expected, dict):
        assert load_cni_args(text, KNOWN) == expected
        return
    with pytest.raises(CniError) as err:
        load_cni_args(text, KNOWN)
    assert (err.value.code, err.value.msg, err.value.details) == (999, expected, "")


def test_split_cni_args() -> None:
    assert split_cni_args("") == []
    assert split_cni_args("A=1;B=") == [("A", "1"), ("B", "")]
    with pytest.raises(CniError, match='invalid pair "B"'):
        split_cni_args("A=1;B")


@pytest.mark.skipif(
    not os.path.exists("/usr/lib/cni/static"), reason="reference plugins not installed"
)
@pytest.mark.parametrize(
    "text", ["a", "FOO=1", "FOO=1;BAR=2", 'FOO="x"', "IgnoreUnknown=x;bad", "bad;IgnoreUnknown=x"]
)
def test_cni_args_messages_match_reference_static(text: str, tmp_path: Path) -> None:
    """static parses CNI_ARGS on ADD before touching anything (known: IP, GATEWAY)."""
    conf = b'{"cniVersion":"1.0.0","name":"net","type":"static","ipam":{"type":"static"}}'
    env = {**_env("ADD"), "CNI_ARGS": text}
    proc = subprocess.run(
        ["/usr/lib/cni/static"], input=conf, env=env, capture_output=True, check=False, timeout=30
    )
    with pytest.raises(CniError) as err:
        load_cni_args(text, ("IP", "GATEWAY"))
    assert proc.returncode == 1
    assert json.loads(proc.stdout) == err.value.to_json()
