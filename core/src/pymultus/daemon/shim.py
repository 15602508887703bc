#!/usr/bin/python3 -IS
"""pymultus-shim, the Python build: forwards one CNI call to the pymultus daemon.

Run as ``python3 -I -S shim.py``. ``pymultus install --thick --python-shim`` puts this
module, precompiled, in ``pymultus-shim.d/`` next to the CNI binaries, behind a stub
``pymultus-shim`` that imports it: a script run as the program is compiled on every
start (~4 ms for this one), an imported module is read from its ``.pyc``. The runtime
starts it once per pod, so it imports nothing but ``_socket``: ``posix`` and ``sys`` are
loaded by the interpreter before any code runs, and ``os`` (what ``os`` adds over
``posix``, ~2 ms here) is not needed. ``json`` and ``socket`` alone make a shim ~40 %
slower (measured): the request JSON is built by hand and the answer is read without
parsing JSON.

Protocol (see ``pymultus.daemon.protocol``): ``POST /cni`` with
``{"env": {<this process's environment>}, "config": "<base64 of stdin>"}`` and the header
``X-CNI-Protocol: stdout``; the daemon answers with ``X-CNI-Exit-Code`` and, as the body,
the exact stdout of thin ``pymultus``. The shim writes the body and exits with the code:
a DEL error is returned to the runtime, never swallowed.

Settings (environment first, then the netconf on stdin, then the default):
- socket: ``PYMULTUS_SOCKET`` (a path), netconf ``daemonSocketDir`` (a directory holding
  ``pymultus.sock``), default ``/run/pymultus/pymultus.sock``;
- ``PYMULTUS_SHIM_CONNECT_TIMEOUT`` / netconf ``shimConnectTimeout`` (seconds, default
  10): how long to keep retrying while the daemon is not there (restarting);
- ``PYMULTUS_SHIM_RESPONSE_TIMEOUT`` / netconf ``shimResponseTimeout`` (seconds, default
  130, longer than the daemon's own 100 s request timeout so its error arrives first).

When the daemon cannot be reached or does not answer in time, the shim prints a CNI
error (code 11, "try again later") naming the socket, and exits 1.
"""

import _socket
import posix
import sys

DEFAULT_SOCKET = "/run/pymultus/pymultus.sock"
SOCKET_NAME = "pymultus.sock"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_RESPONSE_TIMEOUT = 130.0
RETRY_INTERVAL = 0.05
TRY_AGAIN_LATER = 11

#: JSON string escapes (RFC 8259: quote, backslash, control characters). Lone
#: surrogates (undecodable bytes in the environment) are escaped by the encoder.
_ESCAPES: dict[int, str] = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update(
    {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
)
#: Go's encoder also escapes these in strings; the daemon's own errors look the same.
_GO_ESCAPES = dict(_ESCAPES)
_GO_ESCAPES.update(
    {0x3C: "\\u003c", 0x3E: "\\u003e", 0x26: "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}
)
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_KEYS = (b'"daemonSocketDir"', b'"shimConnectTimeout"', b'"shimResponseTimeout"')


class ShimError(Exception):
    """The daemon could not be asked or did not answer."""


def json_string(text: str) -> str:
    """``text`` as a JSON string literal (without the encoding to bytes)."""
    return '"' + text.translate(_ESCAPES) + '"'


def to_bytes(text: str) -> bytes:
    """UTF-8; a lone surrogate (from an undecodable environment byte) becomes its
    ``\\udcXX`` escape, which decodes back to the same string on the other side."""
    return text.encode("utf-8", "backslashreplace")


def b64encode(data: bytes) -> bytes:
    out = bytearray()
    tbl = _B64
    n = len(data) - len(data) % 3
    for i in range(0, n, 3):
        v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2]
        out.append(tbl[v >> 18])
        out.append(tbl[(v >> 12) & 63])
        out.append(tbl[(v >> 6) & 63])
        out.append(tbl[v & 63])
    rest = len(data) - n
    if rest == 1:
        v = data[n] << 16
        out += bytes((tbl[v >> 18], tbl[(v >> 12) & 63])) + b"=="
    elif rest == 2:
        v = (data[n] << 16) | (data[n + 1] << 8)
        out += bytes((tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63])) + b"="
    return bytes(out)


def build_body(environ: dict[str, str], stdin: bytes) -> bytes:
    parts = [json_string(k) + ":" + json_string(v) for k, v in environ.items()]
    return b'{"env":{' + to_bytes(",".join(parts)) + b'},"config":"' + b64encode(stdin) + b'"}'


def build_request(environ: dict[str, str], stdin: bytes, path: str = "/cni") -> bytes:
    body = build_body(environ, stdin)
    head = (
        f"POST {path} HTTP/1.1\r\n"
        "Host: pymultus\r\n"
        "Content-Type: application/json\r\n"
        "X-CNI-Protocol: stdout\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


# -- the netconf's few keys, read without a JSON library ----------------------------------

_WS = " \t\r\n"
_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _skip_ws(s: str, i: int) -> int:
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    return i


def _string(s: str, i: int) -> tuple[str, int]:
    """Decode the JSON string starting at ``s[i] == '"'``; returns (text, next index)."""
    if s[i] != '"':
        raise ValueError("string expected")
    i += 1
    out: list[str] = []
    while True:
        j = s.find('"', i)
        k = s.find("\\", i, j if j >= 0 else len(s))
        if j < 0:
            raise ValueError("unterminated string")
        if k < 0:
            out.append(s[i:j])
            return "".join(out), j + 1
        out.append(s[i:k])
        esc = s[k + 1 : k + 2]
        if esc in _SIMPLE:
            out.append(_SIMPLE[esc])
            i = k + 2
        elif esc == "u":
            code = int(s[k + 2 : k + 6], 16)
            i = k + 6
            if 0xD800 <= code < 0xDC00 and s[i : i + 2] == "\\u":
                low = int(s[i + 2 : i + 6], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
            out.append(chr(code))
        else:
            raise ValueError("bad escape")


def _skip_value(s: str, i: int) -> int:
    """Index just past the JSON value at ``s[i]`` (objects and arrays skipped whole)."""
    c = s[i]
    if c == '"':
        return _string(s, i)[1]
    if c in "{[":
        depth = 0
        n = len(s)
        while i < n:
            c = s[i]
            if c == '"':
                i = _string(s, i)[1]
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        raise ValueError("unterminated value")
    j = i
    n = len(s)
    while j < n and s[j] not in ",}]" and s[j] not in _WS:
        j += 1
    if j == i:
        raise ValueError("value expected")
    return j


def netconf_settings(stdin: bytes) -> dict[str, str]:
    """The top-level ``daemonSocketDir`` / ``shimConnectTimeout`` /
    ``shimResponseTimeout`` of the netconf (the last one wins, as in a JSON decoder).
    Anything unreadable gives ``{}``: the daemon reports a bad netconf exactly as thin
    mode would."""
    if not any(key in stdin for key in _KEYS):
        return {}
    try:
        s = stdin.decode("utf-8")
        found: dict[str, str] = {}
        i = _skip_ws(s, 0)
        if s[i] != "{":
            return {}
        i = _skip_ws(s, i + 1)
        if s[i] == "}":
            return {}
        while True:
            key, i = _string(s, i)
            i = _skip_ws(s, i)
            if s[i] != ":":
                return {}
            i = _skip_ws(s, i + 1)
            end = _skip_value(s, i)
            if key in ("daemonSocketDir", "shimConnectTimeout", "shimResponseTimeout"):
                raw = s[i:end]
                found[key] = _string(s, i)[0] if raw[:1] == '"' else raw
            i = _skip_ws(s, end)
            if s[i] == "}":
                return found
            if s[i] != ",":
                return {}
            i = _skip_ws(s, i + 1)
    except (ValueError, IndexError, UnicodeDecodeError):
        return {}


def _seconds(value: str | None, default: float) -> float:
    if not value:
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if 0 < number < 1e6 else default


def settings(environ: dict[str, str], stdin: bytes) -> tuple[str, float, float]:
    """(socket path, connect timeout, response timeout)."""
    conf = netconf_settings(stdin)
    path = environ.get("PYMULTUS_SOCKET", "")
    if not path:
        directory = conf.get("daemonSocketDir", "")
        path = directory.rstrip("/") + "/" + SOCKET_NAME if directory else DEFAULT_SOCKET
    connect = _seconds(
        environ.get("PYMULTUS_SHIM_CONNECT_TIMEOUT") or conf.get("shimConnectTimeout"),
        DEFAULT_CONNECT_TIMEOUT,
    )
    response = _seconds(
        environ.get("PYMULTUS_SHIM_RESPONSE_TIMEOUT") or conf.get("shimResponseTimeout"),
        DEFAULT_RESPONSE_TIMEOUT,
    )
    return path, connect, response


# -- talking to the daemon ----------------------------------------------------------------


def _now() -> float:
    return posix.times().elapsed


def _sleep(seconds: float) -> None:
    """A pause with nothing but ``_socket``: wait for data that never comes."""
    a, b = _socket.socketpair()
    try:
        a.settimeout(seconds)
        try:  # noqa: SIM105 - contextlib is one import too many here
            a.recv(1)
        except OSError:
            pass
    finally:
        a.close()
        b.close()


def _connect(path: str, timeout: float) -> _socket.socket:
    """Connect, retrying while the daemon is absent or restarting, until ``timeout``."""
    deadline = _now() + timeout
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(max(0.01, deadline - _now()))
        try:
            sock.connect(path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError, BlockingIOError) as exc:
            # Absent, restarting, or (EAGAIN) its backlog is full for a moment: retry.
            sock.close()
            if _now() + RETRY_INTERVAL >= deadline:
                raise ShimError(
                    f"cannot reach the pymultus daemon at {path}: "
                    f"{exc.strerror or exc} (retried for {timeout:g}s)"
                ) from None
            _sleep(RETRY_INTERVAL)
        except TimeoutError:
            sock.close()
            raise ShimError(
                f"cannot reach the pymultus daemon at {path}: connect timed out after {timeout:g}s"
            ) from None
        except OSError as exc:
            sock.close()
            raise ShimError(
                f"cannot reach the pymultus daemon at {path}: {exc.strerror or exc}"
            ) from None


def exchange(path: str, request: bytes, connect_timeout: float, response_timeout: float) -> bytes:
    """Send ``request``, return the whole answer (the daemon closes after it)."""
    sock = _connect(path, connect_timeout)
    try:
        deadline = _now() + response_timeout
        sock.settimeout(response_timeout)
        try:  # noqa: SIM105 - contextlib is one import too many here
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the daemon may have answered (and closed) already: read it
        chunks: list[bytes] = []
        while True:
            left = deadline - _now()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except TimeoutError:
        raise ShimError(
            f"no answer from the pymultus daemon at {path} within {response_timeout:g}s"
        ) from None
    except OSError as exc:
        raise ShimError(
            f"lost the connection to the pymultus daemon at {path}: {exc.strerror or exc}"
        ) from None
    finally:
        sock.close()


def parse_answer(data: bytes, path: str) -> tuple[int, bytes]:
    """(exit code, stdout bytes) from the daemon's answer."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ShimError(f"incomplete answer from the pymultus daemon at {path}")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0]
    code: str | None = None
    length: str | None = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "x-cni-exit-code":
            code = value.strip()
        elif name == "content-length":
            length = value.strip()
    if code is None or not code.isdigit():
        raise ShimError(
            f"the pymultus daemon at {path} answered {status!r} without a CNI exit code"
        )
    if length is not None and (not length.isdigit() or int(length) != len(body)):
        raise ShimError(f"truncated answer from the pymultus daemon at {path}")
    return int(code), body


def error_json(code: int, msg: str) -> str:
    """A CNI error as the reference skeleton prints it (indented, Go escapes)."""
    return '{\n    "code": ' + str(code) + ',\n    "msg": "' + msg.translate(_GO_ESCAPES) + '"\n}'


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = posix.write(fd, view)
        view = view[n:]


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = posix.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def environment() -> dict[str, str]:
    """This process's environment, decoded as ``os.environ`` decodes it (file system
    encoding, undecodable bytes as lone surrogates), without importing ``os``."""
    enc = sys.getfilesystemencoding()
    errors = sys.getfilesystemencodeerrors()
    return {k.decode(enc, errors): v.decode(enc, errors) for k, v in posix.environ.items()}


def main(environ: dict[str, str] | None = None, stdin_fd: int = 0, stdout_fd: int = 1) -> int:
    environ = environment() if environ is None else environ
    command = environ.get("CNI_COMMAND", "")
    if command == "":
        sys.stderr.write("CNI pymultus-shim plugin: forwards CNI calls to the pymultus daemon\n")
        return 0
    try:
        stdin = _read_all(stdin_fd)
    except OSError as exc:
        _write_all(stdout_fd, to_bytes(error_json(5, f"error reading from stdin: {exc}")))
        return 1
    path, connect_timeout, response_timeout = settings(environ, stdin)
    try:
        data = exchange(path, build_request(environ, stdin), connect_timeout, response_timeout)
        code, body = parse_answer(data, path)
    except ShimError as exc:
        _write_all(stdout_fd, to_bytes(error_json(TRY_AGAIN_LATER, f"pymultus-shim: {exc}")))
        return 1
    _write_all(stdout_fd, body)
    return code


if __name__ == "__main__":
    sys.exit(main())
