"""The daemon's wire format: HTTP/1.1 over a unix socket, one request per connection.

Request (Multus-compatible body)::

    POST /cni HTTP/1.1
    Content-Length: N
    X-CNI-Protocol: stdout            (sent by our shims; see "answers" below)

    {"env": {"CNI_COMMAND": "ADD", ...}, "config": "<base64 of stdin>"}

``config`` is what the runtime gave the shim on stdin: a base64 string (Go's ``[]byte``
encoding, what Multus sends) or, for hand-written clients, a JSON object.
``POST /delegate`` adds ``"interfaceAttributes": {...}`` (Multus's hot-plug API).

Answers to ``/cni`` and ``/delegate`` always carry ``X-CNI-Exit-Code`` and, as the body,
the exact bytes the thin ``pymultus`` binary would print on stdout for the same call, so
a shim writes the body to stdout and exits with that code: no JSON parsing in the shim.
The HTTP status says what happened (200 answered, 400 CNI error or bad request, 503 not
taken: busy, shutting down, or not started in time (CNI code 11), 504 ran too long).

A client that does not send ``X-CNI-Protocol: stdout`` (Multus's own shim, a hot-plug
controller) gets Multus's answer shape instead: 200 with ``{"Result": <1.0.0 result>}``
for ADD and an empty body otherwise; errors as a CNI error object with status 400 (or
503/504 as above).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni.errors import DECODING_FAILURE
from pymultus.cni.errors import CniError

#: Header with the exit status the shim must exit with.
EXIT_CODE_HEADER = "X-CNI-Exit-Code"
#: Request header by which a client asks for the stdout-bytes answer.
PROTOCOL_HEADER = "X-CNI-Protocol"
PROTOCOL_STDOUT = "stdout"

DEFAULT_SOCKET = "/run/pymultus/pymultus.sock"
SOCKET_NAME = "pymultus.sock"

#: Limits on what a client may send (a netconf with a prevResult is a few KiB).
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024

REASONS = {
    100: "Continue",
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class HttpError(Exception):
    """A request the server cannot take; answered with ``status`` and closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class HttpRequest:
    method: str
    target: str
    version: str
    #: Header names lower-cased; a repeated header keeps its last value.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass
class CniCall:
    """A decoded ``/cni`` or ``/delegate`` body."""

    env: dict[str, str]
    config: bytes
    #: ``interfaceAttributes`` of a ``/delegate`` call (``None`` for ``/cni``).
    attributes: dict[str, Any] | None = None

    @property
    def command(self) -> str:
        return self.env.get("CNI_COMMAND", "")

    @property
    def container_id(self) -> str:
        return self.env.get("CNI_CONTAINERID", "")


# -- request bodies --------------------------------------------------------------------


def decode_call(body: bytes, *, delegate: bool = False) -> CniCall:
    """Decode a request body; a malformed one is a :class:`CniError` (code 6)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CniError(DECODING_FAILURE, f"daemon request body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise CniError(DECODING_FAILURE, "daemon request body must be a JSON object")
    env = doc.get("env")
    if env is None:
        env = {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise CniError(DECODING_FAILURE, 'daemon request "env" must map strings to strings')
    config = doc.get("config")
    if config is None:
        data = b""
    elif isinstance(config, str):
        try:
            data = base64.b64decode(config.encode("ascii"), validate=True)
        except (ValueError, binascii.Error, UnicodeEncodeError) as exc:
            raise CniError(
                DECODING_FAILURE, f'daemon request "config" is not valid base64: {exc}'
            ) from None
    elif isinstance(config, dict):
        data = json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
    else:
        raise CniError(
            DECODING_FAILURE, 'daemon request "config" must be a base64 string or a JSON object'
        )
    attributes: dict[str, Any] | None = None
    if delegate:
        raw = doc.get("interfaceAttributes")
        if raw is not None and not isinstance(raw, dict):
            raise CniError(
                DECODING_FAILURE, 'daemon request "interfaceAttributes" must be an object'
            )
        attributes = raw or {}
    return CniCall(env=env, config=data, attributes=attributes)


def encode_call(
    env: Mapping[str, str], config: bytes, attributes: Mapping[str, Any] | None = None
) -> bytes:
    """The request body for ``env`` and stdin ``config`` (config as base64)."""
    doc: dict[str, Any] = {"env": dict(env), "config": base64.b64encode(config).decode("ascii")}
    if attributes is not None:
        doc["interfaceAttributes"] = dict(attributes)
    # ASCII: undecodable environment bytes travel as \udcXX escapes, as the shims send them.
    return json.dumps(doc).encode("ascii")


# -- HTTP framing ------------------------------------------------------------------------


def parse_head(head: bytes) -> HttpRequest:
    """Request line and headers (``head`` ends with the blank line)."""
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
        raise HttpError(400, "undecodable request head") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[1].startswith("/"):
        raise HttpError(400, f"malformed request line {lines[0][:80]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise HttpError(505, f"unsupported protocol version {version[:20]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(400, f"malformed header line {line[:80]!r}")
        headers[name.lower()] = value.strip()
    return HttpRequest(method=method, target=target, version=version, headers=headers)


def body_length(req: HttpRequest, max_body: int) -> int:
    if "transfer-encoding" in req.headers:
        raise HttpError(501, "chunked request bodies are not supported; send Content-Length")
    raw = req.headers.get("content-length")
    if raw is None:
        if req.method == "POST":
            raise HttpError(411, "POST needs a Content-Length")
        return 0
    if not raw.isdigit():
        raise HttpError(400, f"bad Content-Length {raw[:20]!r}")
    length = int(raw)
    if length > max_body:
        raise HttpError(413, f"request body of {length} bytes exceeds the limit of {max_body}")
    return length


async def read_request(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter | None = None,
    max_body: int = MAX_BODY_BYTES,
) -> HttpRequest:
    """Read one request. Raises :class:`HttpError` for a bad one and
    ``asyncio.IncompleteReadError`` when the client goes away."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    req = parse_head(head)
    length = body_length(req, max_body)
    if length and req.headers.get("expect", "").lower() == "100-continue" and writer is not None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    req.body = await reader.readexactly(length) if length else b""
    return req


def encode_response(
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: Mapping[str, str] | None = None,
) -> bytes:
    lines = [
        f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Split a complete response into (status, lower-cased headers, body)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("incomplete HTTP response")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"malformed status line {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = headers.get("content-length")
    if length is not None and length.isdigit() and len(body) < int(length):
        raise ValueError("truncated HTTP response body")
    return int(parts[1]), headers, body


# -- a small blocking client (tests, the live-daemon check, tools) --------------------------


def request(
    socket_path: str,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request to the daemon at ``socket_path``; raises ``OSError`` when it is not
    there or does not answer within ``timeout``."""
    lines = [f"{method} {path} HTTP/1.1", "Host: pymultus"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: close")
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(raw)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    try:
        return parse_response(b"".join(chunks))
    except ValueError as exc:
        raise OSError(f"bad answer from {socket_path}: {exc}") from None


def socket_path_for(directory: str) -> str:
    """The socket inside ``daemonSocketDir`` (the shims compute the same)."""
    return directory.rstrip("/") + "/" + SOCKET_NAME
