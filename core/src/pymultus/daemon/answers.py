"""Turning the outcome of a CNI call into the daemon's HTTP answer.

Our shims get thin mode's stdout bytes and ``X-CNI-Exit-Code``; other clients (Multus's
shim, hot-plug controllers) get Multus's shape. See :mod:`pymultus.daemon.protocol`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import dumps_indent
from pymultus.daemon import protocol
from pymultus.daemon.pool import Job
from pymultus.daemon.protocol import CniCall
from pymultus.daemon.protocol import HttpRequest

log = logging.getLogger("pymultus.daemon")


@dataclass
class Answer:
    """The outcome of one CNI call, before rendering."""

    command: str
    out: dict[str, Any] | None = None
    error: CniError | None = None
    #: HTTP status and metrics result for the rendering.
    status: int = 200
    result: str = "success"
    #: When the job started and ended in its worker (monotonic), for the timing log.
    ran: tuple[float, float] | None = None


def cni_response(req: HttpRequest, answer: Answer) -> bytes:
    """The HTTP answer to a ``/cni`` or ``/delegate`` request."""
    ours = req.headers.get(protocol.PROTOCOL_HEADER.lower()) == protocol.PROTOCOL_STDOUT
    if answer.error is not None:
        body = dumps_indent(answer.error.to_json()).encode("utf-8", "surrogateescape")
        status = answer.status if answer.status != 200 else 400
        return protocol.encode_response(
            status,
            body,
            content_type="application/json",
            headers={protocol.EXIT_CODE_HEADER: "1"},
        )
    if ours:
        from pymultus.cli.cnimode import render

        text = render(answer.command, answer.out)
    else:
        text = multus_body(answer)
    return protocol.encode_response(
        200,
        text.encode("utf-8", "surrogateescape"),
        content_type="application/json" if text else "text/plain; charset=utf-8",
        headers={protocol.EXIT_CODE_HEADER: "0"},
    )


def answer_from(command: str, job: Job) -> Answer:
    ran = None if job.started is None or job.ended is None else (job.started, job.ended)
    if job.error is None:
        return Answer(command, out=job.result, ran=ran)
    exc = job.error
    if isinstance(exc, CniError):
        return Answer(command, error=exc, status=400, result="error", ran=ran)
    log.error("request failed unexpectedly", exc_info=exc)
    text = str(exc) or type(exc).__name__
    return Answer(command, error=CniError(INTERNAL, text), status=400, result="error", ran=ran)


def multus_body(answer: Answer) -> str:
    """Multus's answer shape: ``{"Result": <1.0.0 result>}`` for ADD, else empty."""
    if answer.out is None:
        return ""
    if answer.command == "VERSION":
        return dumps_compact(answer.out)
    result: Any = answer.out
    try:
        from pymultus.cni.result import Result

        result = Result.from_json(answer.out).to_json("1.0.0")
    except (CniError, ValueError, TypeError, KeyError):
        pass
    return dumps_compact({"Result": result})


def describe(call: CniCall) -> str:
    env = call.env
    parts = [
        f"ContainerID:{env.get('CNI_CONTAINERID', '')}",
        f"Netns:{env.get('CNI_NETNS', '')}",
        f"IfName:{env.get('CNI_IFNAME', '')}",
    ]
    return " ".join(parts)


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> bytes:
    """A non-CNI failure (bad request, 404, 405), still with a CNI error body so a
    shim has something meaningful to print."""
    err = CniError(INTERNAL, f"pymultus daemon: {message}")
    all_headers = {protocol.EXIT_CODE_HEADER: "1", **(headers or {})}
    return protocol.encode_response(
        status,
        dumps_indent(err.to_json()).encode(),
        content_type="application/json",
        headers=all_headers,
    )
