"""What the reference plugins' Go types accept and print, for byte-compatible messages.

Two halves, both pure (no netlink, no pyroute2):

- Go's ``net`` package: :func:`parse_ip`, :func:`parse_cidr`, :func:`parse_mac` and the
  matching printers. IPv4-mapped IPv6 values are folded to IPv4 on parse, as Go's
  ``To4()``-based code paths (and ``IPNet.String``) effectively do.
- ``encoding/json`` decoding into a Go struct: :func:`decode` checks a config dict
  against a :class:`GoType` schema and raises :class:`GoJSONError` with Go's text
  (``json: cannot unmarshal string into Go struct field NetConf.mtu of type int``).
  Like Go, keys match case-insensitively (an exact match wins), the first *type*
  error is kept while decoding goes on, and an error from a text unmarshaler
  (``invalid IP address: x``) stops at once.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pymultus.cni.errors import INTERNAL
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import go_json_kind
from pymultus.cni.result import DNS as ResultDNS

IP = ipaddress.IPv4Address | ipaddress.IPv6Address

# -- Go's net package --------------------------------------------------------------------


def errno_text(code: int) -> str:
    """Go's ``syscall.Errno`` text: glibc's message with a lower-case first letter."""
    text = os.strerror(code)
    return text[:1].lower() + text[1:]


def parse_ip(text: str) -> IP | None:
    """``net.ParseIP``: dotted IPv4 (no leading zeros) or IPv6 without a zone."""
    if "%" in text or "/" in text:
        return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_cidr(text: str) -> tuple[IP, int] | None:
    """``net.ParseCIDR`` (host bits kept): ``(ip, prefixlen)`` or ``None``.

    The prefix is plain decimal (leading zeros allowed, as Go's ``dtoi`` does). An
    IPv4-mapped address comes back as IPv4 with the prefix shortened by 96 bits, which
    is how Go prints such an ``IPNet`` once its IP went through ``To4``.
    """
    addr, slash, prefix = text.partition("/")
    if not slash or not prefix or not prefix.isascii() or not prefix.isdigit():
        return None
    if "%" in addr:
        return None
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return None
    plen = int(prefix)
    if plen > ip.max_prefixlen:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, max(plen - 96, 0)
    return ip, plen


def cidr_str(ip: IP, prefixlen: int) -> str:
    """``IPNet.String()`` with the host bits kept: ``10.1.1.5/24``."""
    return f"{ip}/{prefixlen}"


def mask_hex(ip: IP, prefixlen: int) -> str:
    """``IPMask.String()``: the mask as hex (``ffffff00``)."""
    bits = ip.max_prefixlen
    value = ((1 << prefixlen) - 1) << (bits - prefixlen) if prefixlen else 0
    return f"{value:0{bits // 4}x}"


def ipnet_struct(ip: IP, prefixlen: int) -> str:
    """``%+v`` of a ``net.IPNet``: ``{IP:10.1.1.0 Mask:ffffff00}``."""
    return f"{{IP:{ip} Mask:{mask_hex(ip, prefixlen)}}}"


def ip_or_nil(ip: IP | None) -> str:
    """``%v`` of a ``net.IP`` that may be nil."""
    return "<nil>" if ip is None else str(ip)


def parse_mac(text: str) -> bytes:
    """``net.ParseMAC``: 6, 8 or 20 bytes written ``aa:bb..``, ``aa-bb..`` or
    ``aabb.ccdd..``. ``ValueError`` carries Go's text."""
    bad = ValueError(f"address {text}: invalid MAC address")
    if len(text) < 14:
        raise bad
    if text[2] in ":-":
        if (len(text) + 1) % 3:
            raise bad
        groups = text.split(text[2])
        width = 2
    elif text[4] == ".":
        if (len(text) + 1) % 5:
            raise bad
        groups = text.split(".")
        width = 4
    else:
        raise bad
    if any(len(g) != width or not _is_hex(g) for g in groups):
        raise bad
    raw = bytes.fromhex("".join(groups))
    if len(raw) not in (6, 8, 20):
        raise bad
    return raw


def parse_mac_arg(text: str) -> bytes:
    """A configured MAC (``mac``, CNI_ARGS ``MAC``, ``runtimeConfig.mac``) as the
    reference plugins parse it: :func:`parse_mac`, failing with their plain error."""
    try:
        return parse_mac(text)
    except ValueError as exc:
        raise CniError(INTERNAL, f"invalid args {text} for MAC addr: {exc}") from None


def _is_hex(text: str) -> bool:
    return text.isascii() and all(c in "0123456789abcdefABCDEF" for c in text)


def mac_str(raw: bytes) -> str:
    """``HardwareAddr.String()``: lower-case, colon-separated."""
    return raw.hex(":")


# -- encoding/json into Go structs ---------------------------------------------------------


class GoJSONError(ValueError):
    """A decoding failure, worded as Go's ``encoding/json`` (or the type's unmarshaler)."""


@dataclass(frozen=True)
class GoType:
    """One Go type of a config schema.

    ``kind`` is ``string``, ``bool``, ``int`` (int64 range), ``uint32``, ``list``
    (``elem``), ``map`` (object of ``elem``), ``object`` (any JSON object: a
    ``map[string]interface {}``), ``struct`` (``fields``) or ``text`` (a string given to
    ``parse``, like ``net.IP``). ``go`` is the type as Go prints it in errors;
    ``struct`` the struct's own name (empty for an anonymous struct). ``opaque`` marks a
    type with its own ``UnmarshalJSON``: errors inside it stop decoding and name the
    enclosing field.
    """

    kind: str
    go: str
    elem: GoType | None = None
    fields: Mapping[str, GoType] = field(default_factory=dict)
    struct: str = ""
    parse: Callable[[str], Any] | None = None
    opaque: bool = False


STRING = GoType("string", "string")
BOOL = GoType("bool", "bool")
INT = GoType("int", "int")
UINT32 = GoType("uint32", "uint32")
OBJECT = GoType("object", "map[string]interface {}")
STRINGS = GoType("list", "[]string", elem=STRING)


def struct(name: str, go: str, fields: Mapping[str, GoType], *, opaque: bool = False) -> GoType:
    return GoType("struct", go, fields=fields, struct=name, opaque=opaque)


def list_of(elem: GoType, go: str) -> GoType:
    return GoType("list", go, elem=elem)


def map_of(elem: GoType, go: str) -> GoType:
    return GoType("map", go, elem=elem)


def text(go: str, parse: Callable[[str], Any]) -> GoType:
    return GoType("text", go, parse=parse)


def _parse_ip_text(value: str) -> IP | None:
    if value == "":
        return None  # net.IP: empty text is a nil IP
    ip = parse_ip(value)
    if ip is None:
        raise GoJSONError(f"invalid IP address: {value}")
    return ip


def _parse_cidr_text(value: str) -> tuple[IP, int]:
    parsed = parse_cidr(value)
    if parsed is None:
        raise GoJSONError(f"invalid CIDR address: {value}")
    return parsed


#: ``net.IP`` and the CNI ``types.IPNet`` (decoded to ``IP`` / ``(IP, prefixlen)``).
NET_IP = text("net.IP", _parse_ip_text)
TYPES_IPNET = text("string", _parse_cidr_text)

#: ``types.DNS``.
DNS = struct(
    "DNS",
    "types.DNS",
    {"nameservers": STRINGS, "domain": STRING, "search": STRINGS, "options": STRINGS},
)


def dns_from(decoded: Mapping[str, Any]) -> ResultDNS:
    """The result's DNS from a :data:`DNS` value as :func:`decode` returns it (absent
    fields empty, ``null`` list elements as ``""``, as Go decodes them)."""
    return ResultDNS(
        nameservers=[s or "" for s in decoded.get("nameservers", [])],
        domain=decoded.get("domain", ""),
        search=[s or "" for s in decoded.get("search", [])],
        options=[s or "" for s in decoded.get("options", [])],
    )


#: ``types.Route`` as the current library decodes it (its own ``UnmarshalJSON``).
ROUTE = struct(
    "route",
    "types.route",
    {
        "dst": TYPES_IPNET,
        "gw": NET_IP,
        "mtu": INT,
        "advmss": INT,
        "priority": INT,
        "table": INT,
        "scope": INT,
    },
    opaque=True,
)

#: ``types.NetConf``, the fields every reference plugin's config embeds.
NETCONF_FIELDS: Mapping[str, GoType] = {
    "cniVersion": STRING,
    "name": STRING,
    "type": STRING,
    "capabilities": map_of(BOOL, "map[string]bool"),
    "ipam": struct("IPAM", "types.IPAM", {"type": STRING}),
    "dns": DNS,
    "prevResult": OBJECT,
}
NETCONF = struct("NetConf", "types.NetConf", NETCONF_FIELDS)


def literal_numbers(stdin: bytes, fallback: dict[str, Any]) -> dict[str, Any]:
    """stdin decoded again with non-integer numbers kept as their literal text (Go
    quotes the literal: ``number 1e3``); ``fallback`` when stdin is not that config."""
    try:
        doc = json.loads(stdin, parse_float=_Literal)
    except ValueError:
        return fallback
    return doc if isinstance(doc, dict) and doc == fallback else fallback


class _Literal(float):
    """A JSON number that is not an integer, remembering how it was written."""

    text: str

    def __new__(cls, literal: str) -> _Literal:
        self = super().__new__(cls, literal)
        self.text = literal
        return self


def decode(value: Any, gotype: GoType) -> Any:
    """Decode ``value`` (parsed JSON) as Go would into ``gotype``.

    Returns the value with structs as dicts of their *known* fields (keys as in the
    schema, absent or ``null`` fields left out), text types parsed. Raises
    :class:`GoJSONError` with Go's text.
    """
    dec = _Decoder()
    out = dec.value(value, gotype, "", ())
    if dec.saved is not None:
        raise dec.saved
    return out


def _number_literal(value: Any) -> str:
    return str(getattr(value, "text", None) or value)


class _Decoder:
    def __init__(self) -> None:
        self.saved: GoJSONError | None = None

    def type_error(self, what: str, go: str, struct_name: str, path: tuple[str, ...]) -> None:
        if self.saved is not None:
            return
        where = f"Go struct field {struct_name}.{'.'.join(path)}" if path else "Go value"
        self.saved = GoJSONError(f"json: cannot unmarshal {what} into {where} of type {go}")

    def value(self, value: Any, t: GoType, struct_name: str, path: tuple[str, ...]) -> Any:
        if value is None:
            return None
        kind = go_json_kind(value)
        if t.kind in ("string", "bool"):
            if kind != t.kind:
                self.type_error(kind, t.go, struct_name, path)
                return None
            return value
        if t.kind in ("int", "uint32"):
            if kind != "number":
                self.type_error(kind, t.go, struct_name, path)
                return None
            lo, hi = (-(2**63), 2**63) if t.kind == "int" else (0, 2**32)
            if isinstance(value, float) or not lo <= value < hi:
                self.type_error(f"number {_number_literal(value)}", t.go, struct_name, path)
                return None
            return value
        if t.kind == "text":
            if kind != "string":
                self.type_error(kind, t.go, struct_name, path)
                return None
            assert t.parse is not None
            return t.parse(value)
        if t.kind == "list":
            if kind != "array":
                self.type_error(kind, t.go, struct_name, path)
                return None
            assert t.elem is not None
            return [self.value(v, t.elem, struct_name, path) for v in value]
        if kind != "object":
            self.type_error(kind, t.go, struct_name, path)
            if t.opaque:  # its own UnmarshalJSON failed: decoding stops here
                raise self._relabelled(kind, t.go, struct_name, path)
            return None
        if t.kind == "object":
            return value
        if t.kind == "map":
            assert t.elem is not None
            return {k: self.value(v, t.elem, struct_name, path) for k, v in value.items()}
        if t.opaque:
            return self._opaque(value, t, struct_name, path)
        return self._struct(value, t, path)

    def _struct(self, obj: dict[str, Any], t: GoType, path: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        folded = {name.lower(): name for name in reversed(list(t.fields))}
        for key, raw in obj.items():
            name = key if key in t.fields else folded.get(key.lower())
            if name is None:
                continue
            decoded = self.value(raw, t.fields[name], t.struct, (*path, name))
            if decoded is None:
                out.pop(name, None)
            else:
                out[name] = decoded
        return out

    def _opaque(
        self, obj: dict[str, Any], t: GoType, struct_name: str, path: tuple[str, ...]
    ) -> dict[str, Any]:
        inner = _Decoder()
        out = inner._struct(obj, t, ())
        if inner.saved is not None:
            # Go: the type's own Unmarshal returned the error, so decoding stops (an
            # earlier saved type error is dropped) and the outer decoder re-labels it
            # with its own position.
            msg = str(inner.saved)
            go_type = msg.rsplit(" of type ", 1)[1]
            what = msg.removeprefix("json: cannot unmarshal ").split(" into ", 1)[0]
            raise self._relabelled(what, go_type, struct_name, path)
        return out

    @staticmethod
    def _relabelled(what: str, go: str, struct_name: str, path: tuple[str, ...]) -> GoJSONError:
        fresh = _Decoder()
        fresh.type_error(what, go, struct_name, path)
        assert fresh.saved is not None
        return fresh.saved
