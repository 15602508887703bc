"""Kubernetes `Status` error objects with the API server's reasons and message texts.

Each constructor mirrors one of apimachinery's `errors.New*` helpers: the same HTTP code,
`reason`, `message` wording and `details` layout ({name, group, kind} where kind is the
plural resource name, empty fields omitted as Go's `omitempty` does).
"""

from __future__ import annotations

from typing import Any

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Gone",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
OPTIMISTIC_LOCK = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


class ApiError(Exception):
    """An error answered as a `Status` body with HTTP code `code`."""

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
        }
        if reason:
            self.status["reason"] = reason
        if details is not None:
            self.status["details"] = {k: v for k, v in details.items() if v not in ("", None)}
        self.status["code"] = code


def _details(res: Any, name: str) -> dict[str, Any]:
    return {"name": name, "group": res.group, "kind": res.plural}


def not_found(res: Any, name: str) -> ApiError:
    return ApiError(404, f'{res.qualified} "{name}" not found', "NotFound", _details(res, name))


def already_exists(res: Any, name: str) -> ApiError:
    return ApiError(
        409, f'{res.qualified} "{name}" already exists', "AlreadyExists", _details(res, name)
    )


def conflict(res: Any, name: str, why: str = OPTIMISTIC_LOCK) -> ApiError:
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
        "Conflict",
        _details(res, name),
    )


def invalid(qualified_kind: str, group: str, kind: str, name: str, causes: list[dict]) -> ApiError:
    """`errors.NewInvalid`; each cause is {reason, message, field}; message as ToAggregate()."""
    texts = [f"{c['field']}: {c['message']}" for c in causes]
    joined = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return ApiError(
        422,
        f'{qualified_kind} "{name}" is invalid: {joined}',
        "Invalid",
        {"name": name, "group": group, "kind": kind, "causes": causes},
    )


def forbidden(res: Any, name: str, why: str) -> ApiError:
    subject = f'{res.qualified} "{name}"' if name else res.qualified
    return ApiError(403, f"{subject} is forbidden: {why}", "Forbidden", _details(res, name))


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "BadRequest")


def no_such_path() -> ApiError:
    return ApiError(404, "the server could not find the requested resource", "NotFound", {})


def method_not_allowed() -> ApiError:
    msg = "the server does not allow this method on the requested resource"
    return ApiError(405, msg, "MethodNotAllowed", {})


def unsupported_media_type(accepted: list[str]) -> ApiError:
    msg = "the body of the request was in an unknown format - accepted media types include: "
    return ApiError(415, msg + ", ".join(accepted), "UnsupportedMediaType")


def expired(message: str) -> ApiError:
    """`errors.NewResourceExpired`: 410 with reason Expired (too old resourceVersion)."""
    return ApiError(410, message, "Expired")


def internal(message: str) -> ApiError:
    return ApiError(
        500,
        f"Internal error occurred: {message}",
        "InternalError",
        {"causes": [{"message": message}]},
    )


def generic(code: int, message: str | None = None) -> ApiError:
    """Any code with its canonical reason; used by injected faults."""
    reason = REASONS.get(code, "")
    return ApiError(code, message or f"fake-kube injected {code} {reason}".strip(), reason, {})
