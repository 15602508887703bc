"""HTTP/1.1 plumbing: a ThreadingHTTPServer on 127.0.0.1 (optionally TLS), keep-alive
safe (the body is always read; every non-streaming answer has a Content-Length),
bearer-token authentication, faults, the request log, and dispatch to the API."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import TYPE_CHECKING
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from . import status
from . import watch
from .api import Api
from .api import allowed
from .api import decode_body
from .api import route
from .api import verb_of
from .faults import Request
from .faults import authorize
from .resources import discovery

if TYPE_CHECKING:
    from . import FakeKube


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, fake: FakeKube, ssl_ctx: ssl.SSLContext | None) -> None:
        self.fake = fake
        self.ssl_ctx = ssl_ctx
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_ctx is None:
            super().finish_request(request, client_address)
            return
        try:
            request = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(request, client_address)
        finally:
            request.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that went away is no news
            super().handle_error(request, client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self.conns_lock:
            (self.conns.add if add else self.conns.discard)(conn)

    def drop_all(self) -> None:
        with self.conns_lock:
            conns = list(self.conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakekube"
    sys_version = ""
    # Like kube-apiserver (Go sets TCP_NODELAY): without it every small response waits
    # ~40 ms for the client's delayed ACK, which would distort any timing through us.
    disable_nagle_algorithm = True
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # quiet; see FakeKube.requests
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        fake = self.server.fake
        raw = self._read_body()
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        rec = Request(self.command, url.path, query, dict(self.headers.items()), parsed, raw)
        rec.peer = self.client_address[:2]
        fake._log(rec)
        fault = fake.faults.take(self.command, url.path, url.query)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                self.close_connection = True
                return
            if fault.status:
                err = fault.error()
                self._answer(rec, err.code, err.status)
                return
        try:
            code, body = dispatch(fake, rec)
        except status.ApiError as err:
            code, body = err.code, err.status
        except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer like the server's panic filter
            traceback.print_exc(file=sys.stderr)
            code, body = 500, status.internal(repr(exc)).status
        if isinstance(body, watch.WatchHandle):
            self._stream(rec, body)
        else:
            self._answer(rec, code, body)

    def _headers(self, code: int) -> None:
        self.send_response(code)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Type", "application/json")

    def _answer(self, rec: Request, code: int, body: Any) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        rec.status = code  # before the client can see the answer
        self._headers(code)
        if code == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _stream(self, rec: Request, h: watch.WatchHandle) -> None:
        fake = self.server.fake
        try:
            watch.start_cursor(fake.store, h.query)
        except status.ApiError as err:
            self._answer(rec, err.code, err.status)
            return
        rec.status = 200
        self._headers(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def send(event: dict[str, Any]) -> None:
            data = watch.encode(event)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

        h.conn = self.connection
        try:
            watch.run(
                fake.store, h, send, fake._watch_opened, fake.watch_timeout, fake.bookmark_interval
            )
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # cut by the test, or the client went away: no terminating chunk
            self.close_connection = True
        finally:
            fake._watch_closed(h)


def _authenticate(fake: FakeKube, rec: Request) -> str:
    parts = (rec.header("Authorization") or "").strip().split(" ")
    if len(parts) >= 2 and parts[0].lower() == "bearer" and parts[-1] in fake.tokens:
        return fake.tokens[parts[-1]]
    raise status.unauthorized()


def dispatch(fake: FakeKube, rec: Request) -> tuple[int, Any]:
    rec.user = _authenticate(fake, rec)
    method, q = rec.method, rec.query
    if method == "GET":
        doc = discovery(rec.path.rstrip("/"), f"127.0.0.1:{fake.port}")
        if doc is not None:
            return 200, doc
    t = route(rec.path)
    if t is None:
        raise status.no_such_path()
    verb = verb_of(method, t, q)
    authorize(fake.deny_rules, rec.user, verb, t.res, t.sub, t.ns, t.name)
    if not allowed(verb, t):
        raise status.method_not_allowed()
    api: Api = fake.api
    ctype = rec.header("Content-Type") or ""
    if verb == "get":
        return 200, fake.store.get(t.res, t.ns, t.name)
    if verb == "list":
        return 200, api.list(t, q)
    if verb == "watch":
        return 200, watch.WatchHandle(t, q)
    if verb == "create":
        return 201, api.create(t, decode_body(ctype, rec.raw_body))
    if verb == "update":
        return 200, api.replace(t, decode_body(ctype, rec.raw_body))
    if verb == "patch":
        return 200, api.patch(t, ctype, rec.raw_body)
    body = decode_body(ctype, rec.raw_body) if rec.raw_body else None
    return 200, api.delete(t, q, body)
