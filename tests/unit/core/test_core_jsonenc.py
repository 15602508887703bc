"""Go-style JSON: indentation, escaping and decode error texts (cni-protocol.md §1.9, §1.13)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from pymultus.cni.errors import CniError
from pymultus.cni.jsonenc import dumps_compact
from pymultus.cni.jsonenc import dumps_indent
from pymultus.cni.jsonenc import go_json_kind
from pymultus.cni.jsonenc import go_value_type
from pymultus.cni.jsonenc import json_type_name
from pymultus.cni.jsonenc import loads_object

REF = "/usr/lib/cni/bridge"


def test_indent_style() -> None:
    obj = {"b": [], "a": {}, "c": [1, {"x": None, "y": True}], "d": "s"}
    assert dumps_indent(obj) == (
        "{\n"
        '    "b": [],\n'
        '    "a": {},\n'
        '    "c": [\n'
        "        1,\n"
        "        {\n"
        '            "x": null,\n'
        '            "y": true\n'
        "        }\n"
        "    ],\n"
        '    "d": "s"\n'
        "}"
    )


ESCAPES = [
    ("<>&", "\\u003c\\u003e\\u0026"),
    ("\u2028\u2029", "\\u2028\\u2029"),
    ("\b\f", "\\u0008\\u000c"),  # go1.19 (the installed reference); Go 1.22 prints \b \f
    ("\\b\\f", "\\\\b\\\\f"),  # a backslash then b/f is not a control character
    ("\\\b", "\\\\\\u0008"),
    ("\n\r\t", "\\n\\r\\t"),
    ("\x01\x1f", "\\u0001\\u001f"),
    ("\x7f", "\x7f"),
    ('"\\', '\\"\\\\'),
    ("é漢", "é漢"),
    ("/", "/"),
]


@pytest.mark.parametrize(("raw", "encoded"), ESCAPES)
def test_escaping(raw: str, encoded: str) -> None:
    assert dumps_compact({"k": raw}) == '{"k":"' + encoded + '"}'
    assert dumps_compact({raw: 1}) == '{"' + encoded + '":1}'
    assert json.loads(dumps_compact({"k": raw}))["k"] == raw


def test_compact_sort_keys() -> None:
    assert (
        dumps_compact({"b": 1, "a": {"d": 1, "c": 2}}, sort_keys=True)
        == '{"a":{"c":2,"d":1},"b":1}'
    )


@pytest.mark.skipif(not os.path.exists(REF), reason="reference plugins not installed")
@pytest.mark.parametrize(
    "name",
    [
        "a<b>&c",
        'a\b\f\u2028\u2029é\u0001"\\ \u007f\t\n',
        "漢字 x",
        "x\u2028",
    ],
)
def test_error_bytes_equal_the_reference_binary(name: str) -> None:
    """The skeleton echoes a bad network name in ``details``: the Go encoder's bytes."""
    stdin = json.dumps({"cniVersion": "1.0.0", "name": name, "type": "bridge"}).encode()
    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
    proc = subprocess.run([REF], input=stdin, env=env, capture_output=True, check=False, timeout=30)
    ours = dumps_indent(CniError(7, "invalid characters found in network name", name).to_json())
    assert proc.returncode == 1
    assert proc.stdout == ours.encode()


DECODE_ERRORS = [
    ("", "unexpected end of JSON input"),
    ("   ", "unexpected end of JSON input"),
    ('{"a":1', "unexpected end of JSON input"),
    ('{"a":', "unexpected end of JSON input"),
    ("x", "invalid character 'x' looking for beginning of value"),
    ('{"a":}', "invalid character '}' looking for beginning of value"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ("{1:2}", "invalid character '1' looking for beginning of object key string"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ("[1 2]", "invalid character '2' after array element"),
    ('{"a":1}x', "invalid character 'x' after top-level value"),
    ("{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
    ("[]", "json: cannot unmarshal array into Go value of type map[string]interface {}"),
    ('"s"', "json: cannot unmarshal string into Go value of type map[string]interface {}"),
    ("3", "json: cannot unmarshal number into Go value of type map[string]interface {}"),
    ("true", "json: cannot unmarshal bool into Go value of type map[string]interface {}"),
]


@pytest.mark.parametrize(("doc", "msg"), DECODE_ERRORS)
def test_decode_error_texts(doc: str, msg: str) -> None:
    with pytest.raises(ValueError) as err:
        loads_object(doc.encode(), "test")
    assert str(err.value) == msg


@pytest.mark.skipif(not os.path.exists(REF), reason="reference plugins not installed")
@pytest.mark.parametrize(
    "doc",
    [
        d
        for d, _ in DECODE_ERRORS
        if not d.strip() or (d[0] != "[" and d[0] != '"' and d not in ("3", "true"))
    ],
)
def test_decode_error_texts_match_reference(doc: str) -> None:
    env = {"CNI_COMMAND": "DEL", "CNI_CONTAINERID": "c", "CNI_IFNAME": "eth0", "CNI_PATH": "/x"}
    proc = subprocess.run(
        [REF], input=doc.encode(), env=env, capture_output=True, check=False, timeout=30
    )
    with pytest.raises(ValueError) as err:
        loads_object(doc.encode(), "test")
    assert json.loads(proc.stdout)["msg"] == f"error unmarshall network config: {err.value}"


@pytest.mark.parametrize(
    ("value", "kind", "go_type", "plain", "openapi"),
    [
        (None, "null", "<nil>", "null", "null"),
        (True, "bool", "bool", "a boolean", "a boolean"),
        (3, "number", "float64", "a number", "an integer"),
        (1.5, "number", "float64", "a number", "a number"),
        ("s", "string", "string", "a string", "a string"),
        ([1], "array", "[]interface {}", "a list", "an array"),
        ({}, "object", "map[string]interface {}", "an object", "an object"),
    ],
)
def test_the_kind_of_a_decoded_value(
    value: object, kind: str, go_type: str, plain: str, openapi: str
) -> None:
    """One spelling per audience: Go's unmarshal kind, Go's %T, and our own words."""
    assert go_json_kind(value) == kind
    assert go_value_type(value) == go_type
    assert json_type_name(value, article=True) == plain
    assert json_type_name(value) == plain.rsplit(maxsplit=1)[-1]
    assert json_type_name(value, article=True, openapi=True) == openapi
    assert json_type_name(value, openapi=True) == openapi.rsplit(maxsplit=1)[-1]
