"""The wire format: request bodies (Multus-compatible), HTTP framing, answers."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import pytest
from pymultus.cni.errors import CniError
from pymultus.daemon import protocol
from pymultus.daemon.protocol import HttpError


def test_config_as_base64_is_decoded_to_the_exact_bytes():
    stdin = b'{"cniVersion":"1.0.0",  "name":"n"}\n\xff'
    body = json.dumps(
        {"env": {"CNI_COMMAND": "ADD"}, "config": base64.b64encode(stdin).decode()}
    ).encode()
    call = protocol.decode_call(body)
    assert call.config == stdin
    assert call.env == {"CNI_COMMAND": "ADD"}
    assert call.command == "ADD" and call.container_id == ""
    assert call.attributes is None


def test_config_as_object_is_accepted():
    body = b'{"env": {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c"}, "config": {"name": "n"}}'
    call = protocol.decode_call(body)
    assert json.loads(call.config) == {"name": "n"}
    assert call.container_id == "c"


def test_delegate_body_carries_interface_attributes():
    body = json.dumps(
        {
            "env": {"CNI_COMMAND": "ADD"},
            "config": base64.b64encode(b"{}").decode(),
            "interfaceAttributes": {"ips": ["192.0.2.5/24"], "mac": "02:00:00:00:00:01"},
        }
    ).encode()
    call = protocol.decode_call(body, delegate=True)
    assert call.attributes == {"ips": ["192.0.2.5/24"], "mac": "02:00:00:00:00:01"}
    assert protocol.decode_call(b'{"env": {}}', delegate=True).attributes == {}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"env": {"A": 1}}', "map strings to strings"),
        (b'{"env": "A=1"}', "map strings to strings"),
        (b'{"config": "***"}', "not valid base64"),
        (b'{"config": 12}', "base64 string or a JSON object"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_malformed_bodies_are_decoding_errors(body, fragment):
    with pytest.raises(CniError) as err:
        protocol.decode_call(body)
    assert err.value.code == 6
    assert fragment in err.value.msg


def test_bad_interface_attributes():
    with pytest.raises(CniError) as err:
        protocol.decode_call(b'{"interfaceAttributes": [1]}', delegate=True)
    assert err.value.code == 6


def test_encode_call_round_trips_any_bytes_and_environment_text():
    env = {
        "CNI_COMMAND": "ADD",
        "WEIRD": 'quote " back \\ ctl \x01\x1f tab\t nl\n',
        "UNDECODABLE": os.fsdecode(b"\xff\xfe-raw"),
        "UNICODE": "ü€😀\u2028",
    }
    stdin = bytes(range(256))
    call = protocol.decode_call(protocol.encode_call(env, stdin, {"mac": "x"}), delegate=True)
    assert call.env == env
    assert call.config == stdin
    assert call.attributes == {"mac": "x"}


def test_parse_head():
    req = protocol.parse_head(
        b"POST /cni?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-CNI-Protocol:  stdout \r\n\r\n"
    )
    assert (req.method, req.target, req.path, req.version) == (
        "POST",
        "/cni?x=1",
        "/cni",
        "HTTP/1.1",
    )
    assert req.headers == {"host": "a", "content-length": "5", "x-cni-protocol": "stdout"}


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET cni HTTP/1.1\r\n\r\n", 400),
        (b"GET /cni HTTP/2.0\r\n\r\n", 505),
        (b"GET /cni HTTP/1.1\r\nno colon here\r\n\r\n", 400),
        (b"GET /cni HTTP/1.1\r\n Folded: x\r\n\r\n", 400),
    ],
)
def test_parse_head_rejects(head, status):
    with pytest.raises(HttpError) as err:
        protocol.parse_head(head)
    assert err.value.status == status


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"transfer-encoding": "chunked"}, 501),
        ({}, 411),
        ({"content-length": "-1"}, 400),
        ({"content-length": "abc"}, 400),
        ({"content-length": str(protocol.MAX_BODY_BYTES + 1)}, 413),
    ],
)
def test_body_length_rules(headers, status):
    req = protocol.HttpRequest("POST", "/cni", "HTTP/1.1", headers)
    with pytest.raises(HttpError) as err:
        protocol.body_length(req, protocol.MAX_BODY_BYTES)
    assert err.value.status == status


def test_get_needs_no_length():
    req = protocol.HttpRequest("GET", "/healthz", "HTTP/1.1", {})
    assert protocol.body_length(req, 10) == 0


class _Writer:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    async def drain(self) -> None:
        return None


def _read(raw: bytes, with_writer: bool = True):
    async def go():
        reader = asyncio.StreamReader(limit=protocol.MAX_HEADER_BYTES)
        reader.feed_data(raw)
        reader.feed_eof()
        writer = _Writer()
        req = await protocol.read_request(reader, writer if with_writer else None)  # type: ignore[arg-type]
        return req, writer.data

    return asyncio.run(go())


def test_read_request_reads_exactly_the_body_and_answers_expect_continue():
    body = b'{"env":{}}'
    raw = (
        b"POST /cni HTTP/1.1\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body)
        + body
    )
    req, written = _read(raw)
    assert req.body == body
    assert written == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_read_request_client_gone_midway():
    with pytest.raises(asyncio.IncompleteReadError):
        _read(b"POST /cni HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")


def test_read_request_head_too_large():
    with pytest.raises(HttpError) as err:
        _read(b"GET / HTTP/1.1\r\nX: " + b"a" * (protocol.MAX_HEADER_BYTES + 10) + b"\r\n\r\n")
    assert err.value.status == 431


def test_response_round_trip():
    raw = protocol.encode_response(
        400, b'{"code": 7}', content_type="application/json", headers={"X-CNI-Exit-Code": "1"}
    )
    assert raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    status, headers, body = protocol.parse_response(raw)
    assert status == 400
    assert headers["x-cni-exit-code"] == "1"
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"
    assert body == b'{"code": 7}'


def test_parse_response_rejects_truncation():
    raw = protocol.encode_response(200, b"0123456789")
    with pytest.raises(ValueError, match="truncated"):
        protocol.parse_response(raw[:-3])
    with pytest.raises(ValueError, match="incomplete"):
        protocol.parse_response(b"HTTP/1.1 200 OK\r\n")


def test_socket_path_for():
    assert protocol.socket_path_for("/run/pymultus") == "/run/pymultus/pymultus.sock"
    assert protocol.socket_path_for("/run/pymultus/") == "/run/pymultus/pymultus.sock"
