"""What the drift check must know about the children's fields, derived from the API server's OpenAPI.

Two facts decide whether a live child "holds" what the operator would apply, and neither is visible in
the object itself:

- quantity fields (``resource.Quantity``): the API server stores them in canonical form ("0.5" becomes
  "500m", "1e3" becomes "1k"), so they compare by value, wherever they sit: resources, an HPA target's
  ``averageValue``, an env ``resourceFieldRef.divisor``, an emptyDir ``sizeLimit``...;
- list-map fields (``x-kubernetes-list-type: map``) and their keys: items match by key, not position,
  and an item under a key the operator does not apply belongs to another writer, which server-side
  apply never removes.

Both are read from the OpenAPI v3 documents the API server publishes (``/openapi/v3/apis/apps/v1``...)
by ``derive``, and kept in ``data/child_schemas.json`` (regenerate it with
``python -m tests.child_schemas``; a cluster test fails when it differs from what the API server says).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from modeldeploy import api

ITEM = "[]"  # path segment: any item of a list
ANY_KEY = "*"  # path segment: any key of a map (additionalProperties)
QUANTITY_SCHEMA = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_REF_PREFIX = "#/components/schemas/"


@dataclass
class Node:
    """One position in an object's schema tree: what it is and what lies under it."""

    quantity: bool = False
    map_keys: tuple[str, ...] | None = None  # a list-map's keys
    is_set: bool = False  # x-kubernetes-list-type: set (items are their own keys)
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, segment: str) -> Node:
        found = self.children.get(segment)
        if found is None and segment != ITEM:
            found = self.children.get(ANY_KEY)
        return found if found is not None else EMPTY


EMPTY = Node()


def split(path: str) -> list[str]:
    return path.split(".") if path else []


def tree(table: Mapping[str, Any]) -> Node:
    """The Node tree of one kind from its table entry: {"quantities", "listMaps", "sets"}."""
    root = Node()

    def at(path: str) -> Node:
        node = root
        for segment in split(path):
            node = node.children.setdefault(segment, Node())
        return node

    for path in table.get("quantities", ()):
        at(path).quantity = True
    for path, keys in (table.get("listMaps") or {}).items():
        at(path).map_keys = tuple(keys)
    for path in table.get("sets", ()):
        at(path).is_set = True
    return root


@cache
def _table() -> dict[str, Any]:
    text = resources.files("modeldeploy").joinpath("data", "child_schemas.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def schema_of(api_version: str, kind: str) -> Node:
    """The schema tree of a child kind (EMPTY for a kind the table does not know: compared literally)."""
    entry = _table().get(f"{api_version}/{kind}")
    return tree(entry) if entry else EMPTY


# --- derivation from the API server's OpenAPI v3 (used by the generator and the cluster test) -------


def derive(schemas: Mapping[str, Any], root: str) -> dict[str, Any]:
    """The table entry of the object schema ``root`` (e.g. "io.k8s.api.apps.v1.Deployment") from an
    OpenAPI v3 document's ``components.schemas``: every quantity path, list-map (with keys) and set."""
    quantities: list[str] = []
    list_maps: dict[str, list[str]] = {}
    sets: list[str] = []
    for path, schema in _walk(schemas, {"$ref": _REF_PREFIX + root}, [], ()):
        dotted = ".".join(path)
        if schema.get("quantity"):
            quantities.append(dotted)
        if schema.get("x-kubernetes-list-type") == "map":
            list_maps[dotted] = list(schema.get("x-kubernetes-list-map-keys") or ())
        elif schema.get("x-kubernetes-list-type") == "set":
            sets.append(dotted)
    return {
        "quantities": sorted(quantities),
        "listMaps": dict(sorted(list_maps.items())),
        "sets": sorted(sets),
    }


def _resolve(schemas: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow $ref and single-entry allOf wrappers; keep the outer schema's own extensions."""
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
    name = None
    for part in [schema, *(schema.get("allOf") or ())]:
        ref = part.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            name = ref[len(_REF_PREFIX) :]
            target, _ = _resolve(schemas, schemas.get(name) or {})
            merged = {**target, **merged}
    if name == QUANTITY_SCHEMA or merged.get("format") == "quantity":
        merged["quantity"] = True
    return merged, name


def _walk(
    schemas: Mapping[str, Any], schema: Mapping[str, Any], path: list[str], seen: tuple[str, ...]
) -> Iterator[tuple[list[str], dict[str, Any]]]:
    resolved, name = _resolve(schemas, schema)
    if name is not None and name in seen:
        return  # recursive schemas (none in the children today) end at their second visit
    seen = (*seen, name) if name else seen
    if path == ["status"]:
        return  # the operator never writes its children's status
    yield path, resolved
    for key, sub in (resolved.get("properties") or {}).items():
        yield from _walk(schemas, sub, [*path, key], seen)
    extra = resolved.get("additionalProperties")
    if isinstance(extra, Mapping):
        yield from _walk(schemas, extra, [*path, ANY_KEY], seen)
    items = resolved.get("items")
    if isinstance(items, Mapping):
        yield from _walk(schemas, items, [*path, ITEM], seen)


# The kinds the operator writes -> their schema in the API server's OpenAPI v3 document.
CHILD_KINDS: dict[tuple[str, str], str] = {kind.key: kind.schema for kind in api.CHILD_KINDS if kind.schema}


def openapi_path(api_version: str) -> str:
    """Where the API server publishes the OpenAPI v3 document of a group-version."""
    return "/openapi/v3/api/v1" if api_version == "v1" else f"/openapi/v3/apis/{api_version}"
