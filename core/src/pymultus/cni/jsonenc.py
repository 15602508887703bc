"""JSON the way the Go reference prints it.

The reference plugins print results with ``json.MarshalIndent(v, "", "    ")`` and escape
``<``, ``>``, ``&``, U+2028 and U+2029. Matching that byte for byte lets a runtime (or a
diff) not care which implementation answered. Control characters follow the Go release
the installed reference was built with (go1.19): ``\b`` and ``\f`` come out as
``\u0008`` and ``\u000c`` (Go 1.22 switched to the short forms Python uses).
"""

from __future__ import annotations

import json
import re
from typing import Any
from typing import Final

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


#: One escape sequence of Python's encoder output, read left to right so that an
#: escaped backslash followed by ``b`` is never taken for ``\b``.
_ESCAPE_TOKEN = re.compile(r"\\(u[0-9a-fA-F]{4}|.)")
_GO_SHORT = {"b": "u0008", "f": "u000c"}


def _go_short_escapes(match: re.Match[str]) -> str:
    token = match.group(1)
    return "\\" + _GO_SHORT.get(token, token)


def _go_escape(text: str) -> str:
    if "\\b" in text or "\\f" in text:
        text = _ESCAPE_TOKEN.sub(_go_short_escapes, text)
    if not any(ch in text for ch in _GO_ESCAPES):
        return text
    for raw, esc in _GO_ESCAPES.items():
        text = text.replace(raw, esc)
    return text


def sorted_deep(obj: Any) -> Any:
    """``obj`` as if it went through a Go ``map[string]interface{}``: every object's keys
    sorted, at every level (libcni re-marshals configs and cached results that way)."""
    if isinstance(obj, dict):
        return {k: sorted_deep(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [sorted_deep(v) for v in obj]
    return obj


def dumps_indent(obj: Any) -> str:
    """``MarshalIndent`` style: 4 spaces, ``": "``, no trailing newline, raw UTF-8."""
    return _go_escape(json.dumps(obj, indent=4, ensure_ascii=False))


def dumps_compact(obj: Any, *, sort_keys: bool = False) -> str:
    """``Marshal`` style: no spaces at all."""
    return _go_escape(
        json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    )


def go_json_error(exc: json.JSONDecodeError, doc: str) -> str:
    """Describe a decode error in the words of Go's ``encoding/json``.

    Runtimes and tests match these texts (``unexpected end of JSON input`` above all), so
    the common cases are translated; anything rarer keeps a Go-like shape.
    """
    stripped = doc.rstrip()
    if exc.pos >= len(stripped):
        return "unexpected end of JSON input"
    ch = doc[exc.pos]
    if exc.msg.startswith("Extra data"):
        return f"invalid character {_quote_char(ch)} after top-level value"
    if exc.msg.startswith("Expecting value"):
        return f"invalid character {_quote_char(ch)} looking for beginning of value"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {_quote_char(ch)} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {_quote_char(ch)} after object key"
    if exc.msg.startswith("Expecting ','"):
        after = "object key:value pair" if _inside_object(doc, exc.pos) else "array element"
        return f"invalid character {_quote_char(ch)} after {after}"
    if exc.msg.startswith("Invalid control character"):
        return f"invalid character {_quote_char(ch)} in string literal"
    return f"invalid character {_quote_char(ch)} ({exc.msg})"


def _quote_char(ch: str) -> str:
    if ch == "'":
        return "'\\''"
    if ch == "\n":
        return "'\\n'"
    if ch == "\t":
        return "'\\t'"
    return f"'{ch}'"


def _inside_object(doc: str, pos: int) -> bool:
    stack: list[str] = []
    in_str = esc = False
    for ch in doc[:pos]:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append(ch)
        elif ch in "}]" and stack:
            stack.pop()
    return bool(stack) and stack[-1] == "{"


def loads_object(data: bytes | str, what: str) -> dict[str, Any]:
    """Decode a JSON object or raise ``ValueError`` with a Go-style message.

    ``what`` is not used in the text (callers add their own prefix); it documents the call.
    """
    del what
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(go_json_error(exc, text)) from None
    if not isinstance(obj, dict):
        raise ValueError(
            f"json: cannot unmarshal {go_json_kind(obj)} into Go value of type "
            "map[string]interface {}"
        )
    return obj


# -- the type of a decoded value, in words ----------------------------------------------


def go_json_kind(value: Any) -> str:
    """The JSON kind ``encoding/json`` names in ``json: cannot unmarshal <kind> into ...``:
    ``string``, ``number``, ``bool``, ``array``, ``object`` (``null`` for ``None``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_GO_VALUE_TYPES: Final = {
    "null": "<nil>",
    "bool": "bool",
    "number": "float64",
    "string": "string",
    "array": "[]interface {}",
    "object": "map[string]interface {}",
}


def go_value_type(value: Any) -> str:
    """Go's ``%T`` of the value as decoded into an ``interface{}`` (``float64``,
    ``[]interface {}``, ``map[string]interface {}``...), as libcni prints it."""
    return _GO_VALUE_TYPES[go_json_kind(value)]


_PLAIN_NAMES: Final = {"bool": "boolean", "array": "list"}
_OPENAPI_NAMES: Final = {"bool": "boolean"}


def json_type_name(value: Any, *, article: bool = False, openapi: bool = False) -> str:
    """The type of a decoded value for our own (not Go's) messages: ``null``,
    ``boolean``, ``number``, ``string``, ``list``, ``object``. ``openapi`` uses the
    schema words instead (``array``, and ``integer`` for a whole number); ``article``
    puts ``a``/``an`` before every name but ``null``."""
    kind = go_json_kind(value)
    if openapi:
        integer = kind == "number" and not isinstance(value, float)
        name = "integer" if integer else _OPENAPI_NAMES.get(kind, kind)
    else:
        name = _PLAIN_NAMES.get(kind, kind)
    if not article or name == "null":
        return name
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"
