"""The ModelDeployment CRD's schema as tests read it: nodes by dotted path, every node, its CEL rules."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tests.support.paths import ROOT

CRD_PATH = ROOT / "crds" / "serving.modeldeploy.io_modeldeployments.yaml"
PEERING_PATH = ROOT / "crds" / "kopf-peering.yaml"

Schema = Mapping[str, Any]


def at(root: Schema, path: str) -> Schema:
    """The schema at a dotted path; `[]` steps into array items, e.g. spec.env[].name."""
    node = root
    for part in path.split("."):
        is_items = part.endswith("[]")
        node = node["properties"][part.removesuffix("[]")]
        if is_items:
            node = node["items"]
    return node


def walk(schema: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node below `schema` with its path (properties, array items, map values)."""
    for name, child in schema.get("properties", {}).items():
        child_path = f"{path}.{name}" if path else name
        yield child_path, child
        yield from walk(child, child_path)
    if "items" in schema:
        yield f"{path}[]", schema["items"]
        yield from walk(schema["items"], f"{path}[]")
    additional = schema.get("additionalProperties")
    if isinstance(additional, Mapping):
        yield f"{path}{{}}", additional
        yield from walk(additional, f"{path}{{}}")


def rules(schema: Schema) -> list[dict[str, str]]:
    return [dict(r) for r in schema.get("x-kubernetes-validations", [])]


def all_rules(root: Schema) -> Iterator[tuple[str, dict[str, str]]]:
    for rule in rules(root):
        yield "<root>", rule
    for path, node in walk(root):
        for rule in rules(node):
            yield path, rule
