"""Both shims (C and Python) against a scripted server: what they send, what they print.

The server here is a few lines of test code that records each request and answers
what the test says, so the shims' framing, escaping and error paths are checked
without a daemon. The daemon end to end is in tests/e2e/test_daemon_e2e.py.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from pymultus.daemon import protocol
from pymultus.daemon import shim as pyshim

from tests.importtime import imported_modules

ROOT = Path(__file__).resolve().parents[3]
SHIM_PY = ROOT / "core" / "src" / "pymultus" / "daemon" / "shim.py"
WAIT = 20.0


@pytest.fixture(scope="session")
def c_shim(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("shim") / "pymultus-shim"
    subprocess.run([str(ROOT / "scripts" / "build-shim.sh"), str(out)], check=True)
    return str(out)


@pytest.fixture(scope="session")
def installed_py_shim(tmp_path_factory) -> str:
    """The Python shim as ``pymultus install --thick --python-shim`` puts it on a node:
    a stub importing the precompiled module from ``pymultus-shim.d/``."""
    from pymultus.install import launcher

    return str(launcher.install_shim(tmp_path_factory.mktemp("pyshim"), python_shim=True).path)


@pytest.fixture(params=["c", "python", "python-installed"])
def shim_cmd(request, c_shim, installed_py_shim) -> list[str]:
    if request.param == "c":
        return [c_shim]
    if request.param == "python-installed":
        return [installed_py_shim]
    return [sys.executable, "-I", "-S", str(SHIM_PY)]


@pytest.fixture
def sockdir():
    # AF_UNIX paths are limited to 108 bytes: keep them short.
    d = tempfile.mkdtemp(prefix="pms-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


class ScriptedServer:
    """Answers each connection with the next scripted response (``None``: read the
    request and never answer)."""

    def __init__(self, path: str, answers: list[bytes | None]) -> None:
        self.path = path
        self.answers = list(answers)
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(8)
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(protocol.parse_head(head + b"\r\n\r\n").headers["content-length"])
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + body)
                if answer is None:
                    self.release.wait(WAIT)
                else:
                    conn.sendall(answer)

    def close(self) -> None:
        self.release.set()
        self.sock.close()
        self.thread.join(WAIT)


def cni_answer(body: bytes, code: int, status: int = 200) -> bytes:
    return protocol.encode_response(
        status, body, content_type="application/json", headers={"X-CNI-Exit-Code": str(code)}
    )


def run(cmd, env, stdin=b"", timeout=WAIT):
    return subprocess.run(
        cmd, env=env, input=stdin, capture_output=True, timeout=timeout, check=False
    )


def decoded(request: bytes) -> tuple[protocol.HttpRequest, protocol.CniCall]:
    head, _, body = request.partition(b"\r\n\r\n")
    req = protocol.parse_head(head + b"\r\n\r\n")
    return req, protocol.decode_call(body)


def test_request_carries_whole_environment_and_exact_stdin(shim_cmd, sockdir):
    path = os.path.join(sockdir, "d.sock")
    server = ScriptedServer(path, [cni_answer(b"", 0)])
    env = {
        b"CNI_COMMAND": b"ADD",
        b"CNI_CONTAINERID": b"ctr-1",
        b"CNI_ARGS": b"K8S_POD_NAMESPACE=default;K8S_POD_NAME=p",
        b"PYMULTUS_SOCKET": path.encode(),
        b"QUOTES": b'say "hi" \\ back\\slash',
        b"CONTROL": b"tab\tnl\ncr\rbell\x07esc\x1b del\x7f",
        b"UNICODE": "grüße €😀 \u2028".encode(),
        b"NOT_UTF8": b"a\xffb\xc3(c\xed\xa0\x80d\xf0\x9f\x98",
        b"EMPTY": b"",
        b"EQUALS": b"a=b=c",
    }
    stdin = bytes(range(256)) + b'{"cniVersion": "1.0.0"}'
    try:
        proc = run(shim_cmd, env, stdin)
    finally:
        server.close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == b""
    (request,) = server.requests
    req, call = decoded(request)
    assert (req.method, req.path) == ("POST", "/cni")
    assert req.headers["x-cni-protocol"] == "stdout"
    assert req.headers["content-type"] == "application/json"
    expected = {os.fsdecode(k): os.fsdecode(v) for k, v in env.items()}
    # The interpreter may add nothing; whatever it sees is forwarded, nothing else.
    assert {k: v for k, v in call.env.items() if k in expected} == expected
    assert set(call.env) - set(expected) <= {"LC_CTYPE"}
    assert call.config == stdin


@pytest.mark.parametrize("code", [0, 1, 3])
def test_answer_body_and_exit_code_are_passed_through(shim_cmd, sockdir, code):
    path = os.path.join(sockdir, "d.sock")
    body = b'{\n    "cniVersion": "1.0.0"\n}' + b"\xff\x00 raw bytes"
    server = ScriptedServer(path, [cni_answer(body, code)])
    try:
        proc = run(shim_cmd, {"CNI_COMMAND": "DEL", "PYMULTUS_SOCKET": path})
    finally:
        server.close()
    assert proc.returncode == code
    assert proc.stdout == body


def error_of(proc) -> dict:
    assert proc.returncode == 1
    err = json.loads(proc.stdout)
    assert set(err) == {"code", "msg"}
    assert err["code"] == 11
    return err


def test_answer_without_exit_code_is_an_error(shim_cmd, sockdir):
    path = os.path.join(sockdir, "d.sock")
    server = ScriptedServer(path, [protocol.encode_response(404, b"not here")])
    try:
        proc = run(shim_cmd, {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path})
    finally:
        server.close()
    msg = error_of(proc)["msg"]
    assert path in msg and "without a CNI exit code" in msg and "404" in msg


def test_truncated_answer_is_an_error(shim_cmd, sockdir):
    path = os.path.join(sockdir, "d.sock")
    whole = cni_answer(b"0123456789", 0)
    server = ScriptedServer(path, [whole[:-4]])
    try:
        proc = run(shim_cmd, {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path})
    finally:
        server.close()
    assert "truncated" in error_of(proc)["msg"]


def test_no_daemon_is_a_clear_error_naming_the_socket(shim_cmd, sockdir):
    path = os.path.join(sockdir, "absent.sock")
    env = {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path, "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.3"}
    proc = run(shim_cmd, env, b"{}")
    msg = error_of(proc)["msg"]
    assert msg.startswith("pymultus-shim: cannot reach the pymultus daemon at " + path)
    assert "No such file or directory" in msg and "0.3s" in msg


def test_stale_socket_refuses_then_reports(shim_cmd, sockdir):
    path = os.path.join(sockdir, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays, nobody listens: ECONNREFUSED
    env = {"CNI_COMMAND": "DEL", "PYMULTUS_SOCKET": path, "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.2"}
    msg = error_of(run(shim_cmd, env))["msg"]
    assert path in msg and "Connection refused" in msg


def test_shim_waits_for_a_daemon_that_comes_up(shim_cmd, sockdir):
    path = os.path.join(sockdir, "late.sock")
    env = {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path, "PYMULTUS_SHIM_CONNECT_TIMEOUT": "15"}
    proc = subprocess.Popen(
        shim_cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdin.write(b"{}")
    proc.stdin.close()
    threading.Event().wait(0.3)  # the shim is retrying now
    server = ScriptedServer(path, [cni_answer(b"late but fine", 0)])
    try:
        proc.wait(timeout=WAIT)
        out, err = proc.stdout.read(), proc.stderr.read()
    finally:
        server.close()
    assert proc.returncode == 0, out + err
    assert out == b"late but fine"


def test_silent_daemon_hits_the_response_timeout(shim_cmd, sockdir):
    path = os.path.join(sockdir, "silent.sock")
    server = ScriptedServer(path, [None])
    env = {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path, "PYMULTUS_SHIM_RESPONSE_TIMEOUT": "0.5"}
    try:
        proc = run(shim_cmd, env, b"{}")
    finally:
        server.close()
    msg = error_of(proc)["msg"]
    assert f"no answer from the pymultus daemon at {path} within 0.5" in msg


def test_socket_dir_and_timeouts_from_the_netconf(shim_cmd, sockdir):
    path = os.path.join(sockdir, "pymultus.sock")
    server = ScriptedServer(path, [cni_answer(b"via netconf", 0)])
    conf = {
        "cniVersion": "1.0.0",
        "name": "thick",
        "type": "pymultus-shim",
        "nested": {"daemonSocketDir": "/wrong/nested"},
        "note": '"daemonSocketDir": "/wrong/in/a/string"',
        "daemonSocketDir": sockdir + "/",
    }
    try:
        proc = run(shim_cmd, {"CNI_COMMAND": "ADD"}, json.dumps(conf).encode())
    finally:
        server.close()
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout == b"via netconf"
    # A missing daemon in that directory, with the netconf's connect timeout.
    os.unlink(path)
    conf["shimConnectTimeout"] = 0.2
    msg = error_of(run(shim_cmd, {"CNI_COMMAND": "ADD"}, json.dumps(conf).encode()))["msg"]
    assert path in msg and "0.2s" in msg


def test_environment_wins_over_the_netconf(shim_cmd, sockdir):
    path = os.path.join(sockdir, "env.sock")
    server = ScriptedServer(path, [cni_answer(b"env wins", 0)])
    conf = {"name": "n", "daemonSocketDir": "/nonexistent-dir", "shimConnectTimeout": 0.1}
    env = {"CNI_COMMAND": "CHECK", "PYMULTUS_SOCKET": path}
    try:
        proc = run(shim_cmd, env, json.dumps(conf).encode())
    finally:
        server.close()
    assert (proc.returncode, proc.stdout) == (0, b"env wins")


def test_error_text_is_valid_json_with_go_escapes(shim_cmd, sockdir):
    odd = os.path.join(sockdir, 'a<b>&"c\\d')
    os.mkdir(odd)
    env = {
        "CNI_COMMAND": "ADD",
        "PYMULTUS_SOCKET": os.path.join(odd, "x.sock"),
        "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.1",
    }
    proc = run(shim_cmd, env)
    assert b"\\u003c" in proc.stdout and b"\\u0026" in proc.stdout
    assert odd in error_of(proc)["msg"]


def test_empty_command_prints_about_and_contacts_nobody(shim_cmd, sockdir):
    path = os.path.join(sockdir, "never.sock")
    proc = run(shim_cmd, {"CNI_COMMAND": "", "PYMULTUS_SOCKET": path})
    assert proc.returncode == 0
    assert proc.stdout == b""
    assert b"pymultus-shim" in proc.stderr
    assert not os.path.exists(path)


# -- the Python shim's pieces ---------------------------------------------------------------


def test_base64_matches_the_standard_library():
    rnd = random.Random(7)
    for n in [*range(40), 255, 256, 1000, 4097]:
        data = bytes(rnd.randrange(256) for _ in range(n))
        assert pyshim.b64encode(data) == base64.b64encode(data)


def test_json_strings_decode_back_to_the_same_text():
    samples = [
        "",
        "plain",
        '"quoted" \\ slash / solidus',
        "".join(chr(i) for i in range(0x20)) + "\x7f",
        "ümlaut € 😀 \u2028 \u2029 <&>",
        os.fsdecode(b"bad\xff\xfe bytes"),
    ]
    env = {f"K{i}": s for i, s in enumerate(samples)}
    env[os.fsdecode(b"KEY\xff")] = "key with a bad byte"
    body = pyshim.build_body(env, b"\x00\x01stdin")
    call = protocol.decode_call(body)
    assert call.env == env
    assert call.config == b"\x00\x01stdin"
    req = pyshim.build_request(env, b"{}")
    status_line = req.split(b"\r\n", 1)[0]
    assert status_line == b"POST /cni HTTP/1.1"
    assert protocol.parse_head(req.partition(b"\r\n\r\n")[0] + b"\r\n\r\n").headers[
        "content-length"
    ] == str(len(req.partition(b"\r\n\r\n")[2]))


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        (b'{"daemonSocketDir": "/a"}', {"daemonSocketDir": "/a"}),
        (b'{"x": {"daemonSocketDir": "/nested"}}', {}),
        (b'{"x": ["daemonSocketDir", "/b"], "daemonSocketDir":"/c"}', {"daemonSocketDir": "/c"}),
        (b'{"daemonSocketDir": "/a", "daemonSocketDir": "/last"}', {"daemonSocketDir": "/last"}),
        (b'{"daemonSocketDir": "/e\\u0073c\\/aped\\\\"}', {"daemonSocketDir": "/esc/aped\\"}),
        (b'{"s": "\\"daemonSocketDir\\": \\"/in-string\\""}', {}),
        (
            b'{"shimConnectTimeout": 2.5, "shimResponseTimeout": "7"}',
            {"shimConnectTimeout": "2.5", "shimResponseTimeout": "7"},
        ),
        (b'["daemonSocketDir"]', {}),
        (b'{"daemonSocketDir": "/a"', {}),
        (b'{"daemonSocketDir" "/a"}', {}),
        (b"\xff daemonSocketDir", {}),
        (b'{"name": "n"}', {}),
    ],
)
def test_netconf_settings(conf, expected):
    assert pyshim.netconf_settings(conf) == expected


def test_settings_precedence_and_bad_values():
    conf = b'{"daemonSocketDir": "/d", "shimConnectTimeout": 3, "shimResponseTimeout": -1}'
    assert pyshim.settings({}, conf) == ("/d/pymultus.sock", 3.0, 130.0)
    env = {"PYMULTUS_SOCKET": "/e.sock", "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.5"}
    assert pyshim.settings(env, conf) == ("/e.sock", 0.5, 130.0)
    env = {"PYMULTUS_SHIM_CONNECT_TIMEOUT": "soon", "PYMULTUS_SHIM_RESPONSE_TIMEOUT": "inf"}
    assert pyshim.settings(env, b"{}") == ("/run/pymultus/pymultus.sock", 10.0, 130.0)


def test_parse_answer():
    assert pyshim.parse_answer(cni_answer(b"body", 1), "/s") == (1, b"body")
    with pytest.raises(pyshim.ShimError, match="incomplete"):
        pyshim.parse_answer(b"HTTP/1.1 200 OK\r\n", "/s")


def test_python_shim_imports_nothing_beyond_socket():
    """Run the shim under ``-X importtime`` and compare with a bare interpreter."""
    base = imported_modules(["-c", "pass"], {}, timeout=WAIT)
    env = {
        "CNI_COMMAND": "ADD",
        "PYMULTUS_SOCKET": "/nonexistent/s",
        "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.05",
    }
    assert imported_modules([str(SHIM_PY)], env, timeout=WAIT) - base == {"_socket"}


def test_a_full_backlog_is_retried_until_the_connect_timeout(shim_cmd, sockdir):
    path = os.path.join(sockdir, "busy.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)  # never accepts: one pending connection fills it
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect(path)
    env = {"CNI_COMMAND": "ADD", "PYMULTUS_SOCKET": path, "PYMULTUS_SHIM_CONNECT_TIMEOUT": "0.5"}
    try:
        proc = run(shim_cmd, env, b"{}")
    finally:
        filler.close()
        server.close()
    msg = error_of(proc)["msg"]
    assert f"cannot reach the pymultus daemon at {path}" in msg
    assert "0.5s" in msg or "timed out" in msg
