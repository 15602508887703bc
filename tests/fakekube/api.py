"""REST semantics: routing, verbs, create/update/patch/delete strategies, lists.

Everything here works on decoded values; HTTP framing lives in server.py. The strategies
follow the real registry: uid/creationTimestamp/generation are server-owned, PUT checks
resourceVersion (409), pods/status keeps spec and ownerReferences but takes the rest of
metadata (so annotations written through UpdateStatus stick, as Multus relies on), a
pod's main resource keeps status and refuses most spec changes.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import yaml

from . import patch as patches
from . import status
from .resources import EVENTS
from .resources import NAMESPACES
from .resources import POD_SPEC_UPDATE
from .resources import PODS
from .resources import Resource
from .resources import lookup
from .resources import new_namespace_object
from .resources import pod_spec_change_forbidden
from .resources import prepare_pod_create
from .resources import validate_pod_create
from .selectors import combined
from .store import Store
from .store import clone

BODY_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


@dataclass(frozen=True)
class Target:
    res: Resource
    ns: str  # "" for cluster-scoped resources and for lists across all namespaces
    name: str
    sub: str


def route(path: str) -> Target | None:
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        group, version, rest = "", "v1", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3 or "" in rest:
        return None
    res = lookup(group, version, rest[0])
    name, sub = [*rest, "", ""][1:3]
    if res is None or (sub and sub not in res.subresources):
        return None
    if (res.namespaced and ns is None and name) or (not res.namespaced and ns is not None):
        return None
    return Target(res, ns or "", name, sub)


def is_true(value: str | None) -> bool:
    """Query booleans as the API server converts them: anything but false/0 is true."""
    return value is not None and value.lower() not in ("false", "0")


def verb_of(method: str, t: Target, query: dict[str, str]) -> str:
    if method == "GET":
        if is_true(query.get("watch")):
            return "watch"
        return "get" if t.name else "list"
    if method == "DELETE" and not t.name:
        return "deletecollection"
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")


def allowed(verb: str, t: Target) -> bool:
    if t.sub:
        return verb in ("get", "update", "patch")
    if verb == "create" and (t.name or (t.res.namespaced and not t.ns)):
        return False
    return verb in t.res.verbs


def decode_body(ctype: str, raw: bytes) -> Any:
    media = ctype.split(";", 1)[0].strip().lower() or "application/json"
    if media not in ("application/json", "application/yaml"):
        raise status.unsupported_media_type(BODY_TYPES)
    try:
        if media == "application/yaml":
            return yaml.safe_load(raw.decode())
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise status.bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _meta_cause(field: str, value: Any, detail: str) -> dict[str, str]:
    shown = json.dumps(value) if isinstance(value, str) else value
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {shown}: {detail}",
        "field": field,
    }


class Api:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- body checks shared by create and update -------------------------------------
    def _typed(self, t: Target, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise status.bad_request("the body of the request was not a JSON object")
        res = t.res
        if obj.get("apiVersion", res.api_version) != res.api_version:
            msg = f"the API version in the data ({obj['apiVersion']}) does not match the expected API version ({res.api_version})"
            raise status.bad_request(msg)
        if obj.get("kind", res.kind) != res.kind:
            raise status.bad_request(
                f'{obj["kind"]} in version "{res.version}" cannot be handled as a {res.kind}'
            )
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise status.bad_request("metadata must be an object")
        if res.namespaced:
            if meta.get("namespace") not in (None, "", t.ns):
                raise status.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = t.ns
        else:
            meta.pop("namespace", None)
        return obj

    # -- verbs ------------------------------------------------------------------------
    def create(self, t: Target, obj: Any, keep_uid: bool = False) -> dict[str, Any]:
        obj = self._typed(t, obj)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices("bcdfghjklmnpqrstvwxz2456789", k=5))
            meta["name"] = meta["generateName"] + suffix
        name = meta.get("name", "")
        if not name:
            cause = {
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            }
            raise t.res.invalid("", [cause])
        if not _SUBDOMAIN.match(name) or len(name) > 253:
            raise t.res.invalid(name, [_meta_cause("metadata.name", name, _SUBDOMAIN_MSG)])
        if meta.get("resourceVersion"):
            raise status.ApiError(500, "resourceVersion should not be set on objects to be created")
        for key in (
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "creationTimestamp",
        ):
            meta.pop(key, None)
        if not keep_uid:
            meta.pop("uid", None)
        if t.res is PODS:
            prepare_pod_create(obj)
            causes = validate_pod_create(obj)
            if causes:
                raise t.res.invalid(name, causes)
        if t.res is NAMESPACES:
            obj = {
                **new_namespace_object(name),
                "metadata": {
                    **meta,
                    "labels": {**(meta.get("labels") or {}), "kubernetes.io/metadata.name": name},
                },
            }
        return self.store.create(t.res, obj)

    def replace(self, t: Target, obj: Any) -> dict[str, Any]:
        obj = self._typed(t, obj)
        meta = obj["metadata"]
        if meta.get("name", "") != t.name:
            raise status.bad_request(
                f"the name of the object ({meta.get('name', '')}) does not match the name on the URL ({t.name})"
            )
        sent_rv = str(meta.get("resourceVersion") or "")

        def mutate(cur: dict[str, Any]) -> dict[str, Any]:
            if not sent_rv and t.res.crd:
                cause = _meta_cause(
                    "metadata.resourceVersion", 0, "must be specified for an update"
                )
                raise status.invalid(t.res.qualified, t.res.group, t.res.plural, t.name, [cause])
            if sent_rv and sent_rv != cur["metadata"]["resourceVersion"]:
                raise status.conflict(t.res, t.name)
            return self._prepare_update(t, clone(obj), cur)

        if t.res is EVENTS and not sent_rv:  # eventStrategy.AllowCreateOnUpdate
            try:
                self.store.get(t.res, t.ns, t.name)
            except status.ApiError:
                return self.create(t, obj)
        return self.store.update(t.res, t.ns, t.name, mutate)

    def patch(self, t: Target, ctype: str, raw: bytes) -> dict[str, Any]:
        media = ctype.split(";", 1)[0].strip().lower()
        accepted = t.res.patch_types
        if media == "application/apply-patch+yaml":  # server-side apply is not emulated
            raise status.unsupported_media_type([a for a in accepted if "apply" not in a])
        if media not in accepted:
            raise status.unsupported_media_type(accepted)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise status.bad_request(f"error decoding patch: {exc}") from None

        def mutate(cur: dict[str, Any]) -> dict[str, Any]:
            if media == "application/json-patch+json":
                new = patches.json_patch(cur, body)
            elif media == "application/merge-patch+json":
                new = patches.merge_patch(cur, body)
            else:
                keys = patches.POD_MERGE_KEYS if t.res is PODS else patches.META_MERGE_KEYS
                new = patches.strategic_merge_patch(cur, body, keys)
            if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
                raise patches.rejected()
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise status.conflict(t.res, t.name)
            return self._prepare_update(t, new, cur)

        return self.store.update(t.res, t.ns, t.name, mutate)

    def _prepare_update(
        self, t: Target, new: dict[str, Any], old: dict[str, Any]
    ) -> dict[str, Any]:
        nm, om = new.setdefault("metadata", {}), old["metadata"]
        causes = []
        for key in ("name", "namespace", "uid"):
            if nm.get(key) and nm.get(key) != om.get(key):
                causes.append(_meta_cause(f"metadata.{key}", nm[key], "field is immutable"))
        for key in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            if key in om:
                nm[key] = om[key]
            else:
                nm.pop(key, None)
        new["apiVersion"], new["kind"] = t.res.api_version, t.res.kind
        if t.res is PODS and t.sub == "status":  # podStatusStrategy.PrepareForUpdate
            new["spec"] = old.get("spec")
            if "ownerReferences" in om:
                nm["ownerReferences"] = om["ownerReferences"]
            else:
                nm.pop("ownerReferences", None)
            st = new.setdefault("status", {})
            if not st.get("qosClass") and old.get("status", {}).get("qosClass"):
                st["qosClass"] = old["status"]["qosClass"]
        elif t.res is PODS:  # podStrategy.PrepareForUpdate + ValidatePodUpdate
            new["status"] = old.get("status", {})
            if pod_spec_change_forbidden(new, old):
                causes.append(
                    {
                        "reason": "FieldValueForbidden",
                        "message": f"Forbidden: {POD_SPEC_UPDATE}",
                        "field": "spec",
                    }
                )
        if causes:
            raise t.res.invalid(t.name, causes)
        return new

    def delete(self, t: Target, query: dict[str, str], body: Any) -> dict[str, Any]:
        opts = body if isinstance(body, dict) else {}
        pre = opts.get("preconditions") or {}
        grace_q = query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        cur = self.store.get(t.res, t.ns, t.name)
        for key, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            if pre.get(key) and pre[key] != cur["metadata"].get(key):
                why = f"Precondition failed: {label} in precondition: {pre[key]}, {label} in object meta: {cur['metadata'].get(key)}"
                raise status.conflict(t.res, t.name, why)
        if t.res is PODS:
            spec = cur.get("spec") or {}
            grace = (
                int(grace_q)
                if grace_q is not None
                else int(spec.get("terminationGracePeriodSeconds", 30))
            )
            done = cur.get("status", {}).get("phase") in ("Succeeded", "Failed")
            if spec.get("nodeName") and grace > 0 and not done:  # graceful: the kubelet finishes it
                return self.store.update(t.res, t.ns, t.name, lambda o: _mark_deleting(o, grace))
            return self.store.delete(t.res, t.ns, t.name)
        gone = self.store.delete(t.res, t.ns, t.name)
        details = {
            "name": t.name,
            "group": t.res.group,
            "kind": t.res.plural,
            "uid": gone["metadata"]["uid"],
        }
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {k: v for k, v in details.items() if v},
        }

    def list(self, t: Target, query: dict[str, str]) -> dict[str, Any]:
        items, rv = self.store.list(t.res, t.ns or None, matcher(t, query))
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if query.get("continue"):
            try:
                start = json.loads(base64.urlsafe_b64decode(query["continue"]))["start"]
            except (ValueError, KeyError, TypeError):
                raise status.bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"
                ) from None
            items = [o for o in items if _key(o) > tuple(start)]
        limit = int(query.get("limit") or 0)
        if limit and len(items) > limit:
            token = json.dumps(
                {"v": "meta.k8s.io/v1", "rv": rv, "start": list(_key(items[limit - 1]))}
            )
            meta["continue"] = base64.urlsafe_b64encode(token.encode()).decode()
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        if not t.res.crd:  # typed lists carry no per-item kind/apiVersion
            for o in items:
                o.pop("kind", None)
                o.pop("apiVersion", None)
        return {
            "kind": f"{t.res.kind}List",
            "apiVersion": t.res.api_version,
            "metadata": meta,
            "items": items,
        }


def matcher(t: Target, query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    """labelSelector + fieldSelector (+ the name, for a watch on one object)."""
    match = combined(query, t.res)
    if not t.name:
        return match
    return lambda o: o["metadata"]["name"] == t.name and match(o)


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return (obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def _mark_deleting(obj: dict[str, Any], grace: int) -> dict[str, Any]:
    meta = obj["metadata"]
    if "deletionTimestamp" not in meta:
        when = datetime.now(UTC) + timedelta(seconds=grace)
        meta["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        meta["deletionGracePeriodSeconds"] = grace
        meta["generation"] = meta.get("generation", 0) + 1
    return obj
