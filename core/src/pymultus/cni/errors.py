"""CNI error object and the spec's error codes.

Only the CLI edge prints an error; everything below raises :class:`CniError`. Keeping
the code, message and details apart (as the Go ``types.Error`` does) lets an error from
a delegate pass through unchanged, which the spec requires for IPAM and chained plugins.
"""

from __future__ import annotations

from typing import Any
from typing import Final

# Spec codes (SPEC.md "Error codes"); 8 and 999 are what the Go library emits.
INCOMPATIBLE_CNI_VERSION: Final = 1
UNSUPPORTED_FIELD: Final = 2
UNKNOWN_CONTAINER: Final = 3
INVALID_ENVIRONMENT_VARIABLES: Final = 4
IO_FAILURE: Final = 5
DECODING_FAILURE: Final = 6
INVALID_NETWORK_CONFIG: Final = 7
INVALID_NETNS: Final = 8
TRY_AGAIN_LATER: Final = 11
NOT_AVAILABLE: Final = 50
LIMITED_CONNECTIVITY: Final = 51
#: Plain plugin failures. The Go skeleton turns every non-CNI error into 999, and
#: byte-compatibility with the reference plugins matters more than a prettier number.
INTERNAL: Final = 999
#: Our own codes (the spec reserves 100+ for plugins).
PLUGIN_NOT_FOUND: Final = 100
PLUGIN_LOAD_FAILED: Final = 101
PLUGIN_EXEC_FAILED: Final = 102
CACHE_CORRUPT: Final = 103
#: The daemon answered no later than its per-request timeout; the work may go on.
REQUEST_TIMED_OUT: Final = 104
KUBERNETES_ERROR: Final = 110


class CniError(Exception):
    """A CNI error: ``{"code": N, "msg": "...", "details": "..."}`` on stdout, exit 1."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def __str__(self) -> str:
        return f"{self.msg}: {self.details}" if self.details else self.msg

    def __repr__(self) -> str:
        return f"CniError({self.code!r}, {self.msg!r}, {self.details!r})"

    def to_json(self) -> dict[str, Any]:
        """The wire object in the Go field order; ``details`` only when set."""
        obj: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.details:
            obj["details"] = self.details
        return obj

    def with_prefix(self, prefix: str) -> CniError:
        """Same code and details, message prefixed (how runtimes wrap delegate errors)."""
        return CniError(self.code, f"{prefix}{self.msg}", self.details)

    @classmethod
    def from_json(cls, obj: Any) -> CniError | None:
        """Parse an error object printed by a plugin; ``None`` if it is not one."""
        if not isinstance(obj, dict) or not isinstance(obj.get("code"), int):
            return None
        if isinstance(obj["code"], bool):
            return None
        msg = obj.get("msg", "")
        details = obj.get("details", "")
        return cls(
            obj["code"],
            msg if isinstance(msg, str) else str(msg),
            details if isinstance(details, str) else str(details),
        )


def internal(msg: str) -> CniError:
    """A plain plugin failure, as the Go skeleton reports any non-CNI error."""
    return CniError(INTERNAL, msg)
