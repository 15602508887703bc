"""The CNI_* environment and CNI_ARGS, validated as the reference skeleton validates them.

Messages and codes are the Go skeleton's, because runtimes and people grep for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Final

from pymultus.cni.errors import INVALID_ENVIRONMENT_VARIABLES
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

#: Container ids and network names (libcni ``utils.cniReg``).
NAME_RE: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")


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
    if any(ch in "/:" or ch.isspace() for ch in ifname):
        raise CniError(
            INVALID_ENVIRONMENT_VARIABLES, "interface name contains / or : or whitespace characters"
        )


def validate_container_id(cid: str) -> None:
    if cid == "":
        raise CniError(3, "missing containerID")
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


def split_cni_args(text: str) -> list[tuple[str, str]]:
    """``K1=V1;K2=V2`` into pairs; a pair must split into exactly two parts."""
    if text == "":
        return []
    pairs: list[tuple[str, str]] = []
    for item in text.split(";"):
        parts = item.split("=")
        if len(parts) != 2:
            raise CniError(999, f'ARGS: invalid pair "{item}"')
        pairs.append((parts[0], parts[1]))
    return pairs


def join_cni_args(pairs: list[tuple[str, str]]) -> str:
    return ";".join(f"{k}={v}" for k, v in pairs)


def parse_bool_arg(key: str, value: str) -> bool:
    low = value.lower()
    if low in ("1", "true"):
        return True
    if low in ("0", "false"):
        return False
    raise CniError(
        999,
        f'ARGS: error parsing value of pair "{key}={value}": '
        f"boolean unmarshal error: invalid input {value}",
    )


def load_cni_args(text: str, known: tuple[str, ...]) -> dict[str, str]:
    """The reference plugins' ``types.LoadArgs``: known keys (exact case) are kept,
    unknown ones fail unless ``IgnoreUnknown`` is true."""
    pairs = split_cni_args(text)
    ignore_unknown = False
    for key, value in pairs:
        if key == "IgnoreUnknown":
            ignore_unknown = parse_bool_arg(key, value)
    out: dict[str, str] = {}
    unknown: list[str] = []
    for key, value in pairs:
        if key == "IgnoreUnknown":
            continue
        if key in known:
            out[key] = value
        else:
            unknown.append(f"{key}={value}")
    if unknown and not ignore_unknown:
        quoted = " ".join(f'"{u}"' for u in unknown)
        raise CniError(999, f"ARGS: unknown args [{quoted}]")
    return out
