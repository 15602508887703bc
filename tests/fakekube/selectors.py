"""labelSelector and fieldSelector parsing and matching (the query-string grammar)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from . import status
from .resources import Resource
from .resources import field_value

Matcher = Callable[[dict[str, Any]], bool]
_LABEL_SET = re.compile(r"^\s*(\S+)\s+(in|notin)\s+\((.*)\)\s*$")
_KEY = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_./]*)?[A-Za-z0-9]$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def _equality(term: str) -> tuple[str, str, str] | None:
    for op in ("!=", "==", "="):
        if op in term:
            key, value = term.split(op, 1)
            return key.strip(), op, value.strip()
    return None


def label_selector(text: str) -> Matcher:
    reqs: list[Matcher] = []
    for term in _split(text):
        eq, setm = _equality(term), _LABEL_SET.match(term)
        if setm:
            key, op = setm.group(1), setm.group(2)
            values = {v.strip() for v in setm.group(3).split(",") if v.strip()}
            if op == "in":
                reqs.append(lambda lb, k=key, vs=values: k in lb and lb[k] in vs)
            else:
                reqs.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif eq:
            key, op, value = eq
            if not _KEY.match(key):
                raise status.bad_request(f"unable to parse requirement: invalid label key {key!r}")
            if op == "!=":
                reqs.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                reqs.append(lambda lb, k=key, v=value: k in lb and lb[k] == v)
        elif term.startswith("!") and _KEY.match(absent := term[1:].strip()):
            reqs.append(lambda lb, k=absent: k not in lb)
        elif _KEY.match(term):
            reqs.append(lambda lb, k=term: k in lb)
        else:
            raise status.bad_request(f"unable to parse requirement: {term!r}")

    def match(obj: dict[str, Any]) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def field_selector(text: str, res: Resource) -> Matcher:
    reqs: list[tuple[str, bool, str]] = []
    for term in _split(text):
        eq = _equality(term)
        if not eq:
            raise status.bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        key, op, value = eq
        if key not in res.field_labels:
            raise status.bad_request(f"field label not supported: {key}")
        reqs.append((key, op != "!=", value))

    def match(obj: dict[str, Any]) -> bool:
        return all((field_value(obj, k) == v) == want for k, want, v in reqs)

    return match


def combined(query: dict[str, str], res: Resource) -> Matcher:
    lab = label_selector(query.get("labelSelector", ""))
    fld = field_selector(query.get("fieldSelector", ""), res)
    return lambda obj: lab(obj) and fld(obj)
