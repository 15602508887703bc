"""The CNI_* environment and CNI_ARGS, validated as the reference skeleton validates them.

Messages and codes are the Go skeleton's, because runtimes and people grep for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Final

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
from pymultus.cni.errors import UNKNOWN_CONTAINER
from pymultus.cni.errors import CniError

COMMANDS: Final = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")

#: Which variables each command needs (skel, CNI 1.1).
_REQUIRED: Final = {
    "CNI_CONTAINERID": ("ADD", "CHECK", "DEL"),
    "CNI_NETNS": ("ADD", "CHECK"),
    "CNI_IFNAME": ("ADD", "CHECK", "DEL"),
    "CNI_PATH": ("ADD", "CHECK", "DEL", "GC", "STATUS"),
}
_ORDER: Final = (
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
)

#: Container ids and network names (libcni ``utils.cniReg``). ``\Z``, not ``$``: Go's
#: ``$`` does not match before a trailing newline, Python's does.
NAME_RE: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*\Z")

#: Go's ``unicode.IsSpace`` (the Unicode White_Space property). Python's
#: ``str.isspace`` also counts U+001C..U+001F, which Go accepts in interface names.
_GO_SPACE: Final = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def validate_ifname(ifname: str) -> None:
    """Interface-name rules of ``utils.ValidateInterfaceName``."""
    if ifname == "":
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, "interface name is empty")
    if len(ifname.encode()) > 15:
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES,
            "interface name is too long",
            "interface name should be less than 16 characters",
        )
    if ifname in (".", ".."):
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, "interface name is . or ..")
    if any(ch in "/:" or ch in _GO_SPACE for ch in ifname):
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES, "interface name contains / or : or whitespace characters"
        )


def validate_container_id(cid: str) -> None:
    if cid == "":
        raise CniError(UNKNOWN_CONTAINER, "missing containerID")
    if not NAME_RE.match(cid):
        raise CniError(INVALID_ENVIRONMENT_VARIABLES, "invalid characters in containerID", cid)


@dataclass(frozen=True)
class CniEnv:
    """One plugin call's environment, as the skeleton sees it."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: str = ""
    path: tuple[str, ...] = ()
    netns_override: bool = False
    #: Everything else the caller had in its environment (passed on to exec delegates).
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> CniEnv:
        """Validate in the skeleton's order: invalid present values fail at once, then
        all missing required names are reported together."""
        command = environ.get("CNI_COMMAND", "")
        missing: list[str] = []
        if command == "":
            missing.append("CNI_COMMAND")
        for name in _ORDER[1:]:
            value = environ.get(name, "")
            required = command in _REQUIRED.get(name, ())
            if value == "":
                if required:
                    missing.append(name)
                continue
            if not required:
                continue
            if name == "CNI_CONTAINERID":
                validate_container_id(value)
            elif name == "CNI_IFNAME":
                validate_ifname(value)
        if missing:
            raise CniError(
                INVALID_ENVIRONMENT_VARIABLES,
                f"required env variables [{','.join(missing)}] missing",
            )
        path = tuple(p for p in environ.get("CNI_PATH", "").split(":") if p)
        override = environ.get("CNI_NETNS_OVERRIDE", "").lower() in ("1", "true")
        extra = {k: v for k, v in environ.items() if not k.startswith("CNI_")}
        return cls(
            command=command,
            container_id=environ.get("CNI_CONTAINERID", ""),
            netns=environ.get("CNI_NETNS", ""),
            ifname=environ.get("CNI_IFNAME", ""),
            args=environ.get("CNI_ARGS", ""),
            path=path,
            netns_override=override,
            extra=extra,
        )

    def to_environ(self, command: str | None = None) -> dict[str, str]:
        """The environment a delegate gets: ours, with ``CNI_COMMAND`` possibly changed."""
        env = dict(self.extra)
        env.update(
            CNI_COMMAND=self.command if command is None else command,
            CNI_CONTAINERID=self.container_id,
            CNI_NETNS=self.netns,
            CNI_IFNAME=self.ifname,
            CNI_ARGS=self.args,
            CNI_PATH=":".join(self.path),
        )
        return env


# -- CNI_ARGS -------------------------------------------------------------------------


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``) for the texts that appear in
    CNI_ARGS messages: backslash escapes, ``\\x`` for other control characters."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch in _GO_QUOTE_SHORT:
            out.append(_GO_QUOTE_SHORT[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif not ch.isprintable():
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_GO_QUOTE_SHORT: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _split_pair(item: str) -> tuple[str, str]:
    parts = item.split("=")
    if len(parts) != 2:
        raise CniError(INTERNAL, f"ARGS: invalid pair {go_quote(item)}")
    return parts[0], parts[1]


def split_cni_args(text: str) -> list[tuple[str, str]]:
    """``K1=V1;K2=V2`` into pairs; a pair must split into exactly two parts."""
    if text == "":
        return []
    return [_split_pair(item) for item in text.split(";")]


def join_cni_args(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in pairs)


def parse_bool_arg(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "true"):
        return True
    if low in ("0", "false"):
        return False
    raise CniError(
        INTERNAL,
        f"ARGS: error parsing value of pair {go_quote(f'{key}={value}')}: "
        f"boolean unmarshal error: invalid input {value}",
    )


def load_cni_args(text: str, known: tuple[str, ...]) -> dict[str, str]:
    """The reference plugins' ``types.LoadArgs``: known keys (exact case) are kept,
    unknown ones fail unless ``IgnoreUnknown`` is true.

    Pairs are taken one at a time, as Go does, so the first bad pair decides the
    error; unknown keys are judged after all pairs were read (the last
    ``IgnoreUnknown`` wins).
    """
    if text == "":
        return {}
    ignore_unknown = False
    out: dict[str, str] = {}
    unknown: list[str] = []
    for item in text.split(";"):
        key, value = _split_pair(item)
        if key == "IgnoreUnknown":
            ignore_unknown = parse_bool_arg(key, value)
        elif key in known:
            out[key] = value
        else:
            unknown.append(item)
    if unknown and not ignore_unknown:
        quoted = " ".join(go_quote(u) for u in unknown)
        raise CniError(INTERNAL, f"ARGS: unknown args [{quoted}]")
    return out
