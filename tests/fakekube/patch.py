"""The three PATCH formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
Kubernetes strategic merge patch (the subset pods use: merge keys, `$patch`,
`$retainKeys`, `$deleteFromPrimitiveList`; `$setElementOrder` is accepted and ignored)."""

from __future__ import annotations

import copy
from typing import Any

from . import status

# patchMergeKey per list field of Pod/ObjectMeta ("" = merge a list of primitives).
POD_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "ports": "containerPort",
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "conditions": "type",
    "podIPs": "ip",
    "hostIPs": "ip",
    "ownerReferences": "uid",
    "finalizers": "",
}
META_MERGE_KEYS = {"ownerReferences": "uid", "finalizers": ""}


def rejected() -> status.ApiError:
    """What a failed JSON patch gets (apply errors are not passed on to the client)."""
    msg = "the server rejected our request due to an error in our request"
    return status.ApiError(422, msg, "Invalid", {})


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(orig: dict[str, Any], patch: Any, keys: dict[str, str]) -> dict[str, Any]:
    if not isinstance(patch, dict):
        raise status.bad_request(
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        )
    return _smp_map(copy.deepcopy(orig), patch, keys)


def _smp_map(orig: dict[str, Any], patch: dict[str, Any], keys: dict[str, str]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive is not None and directive != "merge":
        raise status.bad_request(f"Unknown patch type: {directive}")
    if "$retainKeys" in patch:
        keep = set(patch["$retainKeys"] or [])
        orig = {k: v for k, v in orig.items() if k in keep}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            orig[field] = [x for x in orig.get(field) or [] if x not in value]
        elif value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            orig.pop(key, None)
        elif isinstance(value, dict) and isinstance(orig.get(key), dict):
            orig[key] = _smp_map(orig[key], value, keys)
        elif isinstance(value, list) and key in keys and isinstance(orig.get(key), list):
            orig[key] = _smp_list(orig[key], value, keys[key], keys)
        else:
            orig[key] = _strip(value)
    return orig


def _smp_list(orig: list[Any], patch: list[Any], mkey: str, keys: dict[str, str]) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [_strip(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if not mkey:  # list of primitives with patchStrategy=merge: union
        return orig + [p for p in patch if p not in orig]
    result = list(orig)
    for item in patch:
        if not isinstance(item, dict) or mkey not in item:
            raise status.bad_request(f"map: {item} does not contain declared merge key: {mkey}")
        idx = next(
            (i for i, o in enumerate(result) if isinstance(o, dict) and o.get(mkey) == item[mkey]),
            None,
        )
        if item.get("$patch") == "delete":
            result = [o for o in result if not (isinstance(o, dict) and o.get(mkey) == item[mkey])]
        elif idx is None:
            result.append(_strip(item))
        else:
            result[idx] = _smp_map(result[idx], item, keys)
    return result


def _strip(value: Any) -> Any:
    """Drop directives and null members from a value that is set rather than merged."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return copy.deepcopy(value)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise rejected()
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> Any:
    cur = doc
    for p in parts[:-1]:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise rejected()
    return cur


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return parent[int(last)]
    raise rejected()


def _remove(doc: Any, parts: list[str]) -> Any:
    value = _get(doc, parts)
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, dict):
        del parent[last]
    else:
        del parent[int(last)]
    return value


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts), parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list) and last == "-":
        parent.append(value)
    elif isinstance(parent, list) and last.isdigit() and int(last) <= len(parent):
        parent.insert(int(last), value)
    else:
        raise rejected()
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    if not isinstance(ops, list):
        raise status.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(doc)
    for op in ops:
        kind = op.get("op") if isinstance(op, dict) else None
        if kind not in ("add", "remove", "replace", "move", "copy", "test"):
            raise rejected()
        parts = _pointer(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, parts)
        elif kind == "replace":
            _get(doc, parts)
            if not parts:
                doc = copy.deepcopy(op.get("value"))
            else:
                _remove(doc, parts)
                doc = _add(doc, parts, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = _remove(doc, src) if kind == "move" else copy.deepcopy(_get(doc, src))
            doc = _add(doc, parts, value)
        elif _get(doc, parts) != op.get("value"):
            raise rejected()
    return doc
