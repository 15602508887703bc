"""pymultus.net.gotypes: Go's net parsing/printing and encoding/json rules, pure."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from pymultus.net import gotypes as go


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.5/24", ("192.0.2.5", 24)),
        ("192.0.2.5/024", ("192.0.2.5", 24)),  # Go's dtoi takes leading zeros
        ("2001:db8::0:1/64", ("2001:db8::1", 64)),
        ("::ffff:192.0.2.5/120", ("192.0.2.5", 24)),
        ("::ffff:192.0.2.5/64", ("192.0.2.5", 0)),
        ("192.0.2.5", None),
        ("192.0.2.05/24", None),
        ("192.0.2.5/33", None),
        ("192.0.2.5/", None),
        ("192.0.2.5/+8", None),
        ("fe80::1%eth0/64", None),
        ("", None),
    ],
)
def test_parse_cidr_is_go_parse_cidr(text: str, expected: tuple[str, int] | None) -> None:
    got = go.parse_cidr(text)
    assert (None if got is None else (str(got[0]), got[1])) == expected


def test_parse_ip() -> None:
    assert go.parse_ip("::ffff:192.0.2.1") == ipaddress.ip_address("192.0.2.1")
    assert go.parse_ip("192.0.2.01") is None
    assert go.parse_ip("fe80::1%lo") is None
    assert go.parse_ip("192.0.2.1/24") is None


@pytest.mark.parametrize(
    ("text", "raw"),
    [
        ("0a:58:00:00:00:01", "0a5800000001"),
        ("0A-58-00-00-00-01", "0a5800000001"),
        ("0a58.0000.0001", "0a5800000001"),
        ("02:00:00:00:00:00:00:01", "0200000000000001"),
    ],
)
def test_parse_mac_accepts_go_forms(text: str, raw: str) -> None:
    assert go.parse_mac(text).hex() == raw


@pytest.mark.parametrize(
    "text", ["zz", "0a:58:00:00:00", "0a:58-00:00:00:01", "0a:58:00:00:00:0g", "0a5800000001"]
)
def test_parse_mac_rejects_with_go_text(text: str) -> None:
    with pytest.raises(ValueError, match=f"^address {text}: invalid MAC address$"):
        go.parse_mac(text)


def test_printers() -> None:
    v4 = ipaddress.ip_address("10.99.0.0")
    assert go.ipnet_struct(v4, 16) == "{IP:10.99.0.0 Mask:ffff0000}"
    assert go.mask_hex(ipaddress.ip_address("::"), 0) == "0" * 32
    assert go.ip_or_nil(None) == "<nil>"
    assert go.errno_text(17) == "file exists"


SCHEMA = go.struct(
    "NetConf",
    "main.NetConf",
    {
        "mtu": go.INT,
        "queue": go.UINT32,
        "on": go.BOOL,
        "names": go.STRINGS,
        "caps": go.map_of(go.BOOL, "map[string]bool"),
        "gw": go.NET_IP,
        "routes": go.list_of(go.ROUTE, "[]*types.Route"),
        "inner": go.struct("Inner", "main.Inner", {"x": go.STRING}),
    },
)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"mtu": "1"},
            "json: cannot unmarshal string into Go struct field NetConf.mtu of type int",
        ),
        (
            {"mtu": 1.5},
            "json: cannot unmarshal number 1.5 into Go struct field NetConf.mtu of type int",
        ),
        (
            {"mtu": 2**63},
            f"json: cannot unmarshal number {2**63} into Go struct field NetConf.mtu of type int",
        ),
        (
            {"queue": -1},
            "json: cannot unmarshal number -1 into Go struct field NetConf.queue of type uint32",
        ),
        ({"on": 1}, "json: cannot unmarshal number into Go struct field NetConf.on of type bool"),
        (
            {"names": [1]},
            "json: cannot unmarshal number into Go struct field NetConf.names of type string",
        ),
        (
            {"caps": {"a": "y"}},
            "json: cannot unmarshal string into Go struct field NetConf.caps of type bool",
        ),
        ({"gw": 5}, "json: cannot unmarshal number into Go struct field NetConf.gw of type net.IP"),
        ({"gw": "x"}, "invalid IP address: x"),
        (
            {"inner": {"x": []}},
            "json: cannot unmarshal array into Go struct field Inner.inner.x of type string",
        ),
        (
            {"inner": []},
            "json: cannot unmarshal array into Go struct field NetConf.inner of type main.Inner",
        ),
        # a type with its own UnmarshalJSON: the error stops decoding, labelled outside
        (
            {"mtu": "x", "routes": [{"dst": 1}]},
            "json: cannot unmarshal number into Go struct field NetConf.routes of type string",
        ),
        ({"routes": [{"dst": "nope"}]}, "invalid CIDR address: nope"),
    ],
)
def test_decode_errors_are_go_texts(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(go.GoJSONError) as err:
        go.decode(doc, SCHEMA)
    assert str(err.value) == message


def test_decode_keeps_known_fields_folds_case_and_drops_nulls() -> None:
    out = go.decode({"MTU": 5, "mtu": 6, "gw": "", "other": 1, "on": None}, SCHEMA)
    assert out == {"mtu": 6}
    out = go.decode({"routes": [{"dst": "192.0.2.0/24", "gw": "192.0.2.1"}]}, SCHEMA)
    assert out["routes"] == [
        {"dst": (ipaddress.ip_address("192.0.2.0"), 24), "gw": ipaddress.ip_address("192.0.2.1")}
    ]


def test_literal_numbers_keep_how_a_number_was_written() -> None:
    doc = go.literal_numbers(b'{"mtu": 1e3}', {"mtu": 1000.0})
    with pytest.raises(go.GoJSONError, match="number 1e3 into"):
        go.decode(doc, SCHEMA)
