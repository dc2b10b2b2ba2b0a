"""`modeldeploy render`: ModelDeployment manifests in, the child objects the operator would apply out.

Offline (no cluster, no CRD validation), through the same parse_spec and builders as the live operator.
On any invalid input it prints one clear error to stderr and nothing to stdout, so that
`modeldeploy render -f md.yaml | kubectl apply -f -` never applies half a rendering.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import IO, Any

import yaml

from modeldeploy.api import DEPLOYMENT, MD_API_VERSION, MD_KIND
from modeldeploy.config import ConfigError, OperatorConfig, load_config
from modeldeploy.plan import plan_for


class RenderError(Exception):
    """The input cannot be rendered; the message names the document and the field."""


class _BlockStyleDumper(yaml.SafeDumper):
    """Writes multi-line strings (models.config, ...) as readable `|` blocks instead of escaped lines,
    and never emits YAML anchors/aliases, which kubectl users do not expect in rendered manifests."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockStyleDumper.add_representer(str, _represent_str)


def _yaml_problem(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return problem


def _describe(index: int, doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name, namespace = meta.get("name"), meta.get("namespace") or "default"
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) else "object"
    return f"document {index} ({kind} {namespace}/{name})" if name else f"document {index} ({kind})"


def _children_of(index: int, doc: object, config: OperatorConfig) -> list[dict[str, Any]]:
    if not isinstance(doc, Mapping):
        raise RenderError(f"document {index}: expected a {MD_KIND} object, got {type(doc).__name__}")
    where = _describe(index, doc)
    if doc.get("kind") != MD_KIND or doc.get("apiVersion") != MD_API_VERSION:
        raise RenderError(
            f"{where}: not a {MD_KIND} (expected apiVersion {MD_API_VERSION}, kind {MD_KIND}; "
            f"got apiVersion {doc.get('apiVersion')!r}, kind {doc.get('kind')!r})"
        )
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping) or meta.get("name") is None:
        raise RenderError(f"{where}: metadata.name is required (give the ModelDeployment a name)")
    namespace = "default" if meta.get("namespace") is None else meta["namespace"]
    try:
        # The operator's own plan; without a uid (none offline) the children carry no owner reference.
        planned = plan_for({**doc, "metadata": {**meta, "namespace": namespace}}, config)
    except RecursionError as error:  # YAML anchors can build self-referencing structures
        raise RenderError(f"{where}: the document refers to itself (YAML anchor cycle)") from error
    if planned.spec_error is not None:
        raise RenderError(f"{where}: {planned.spec_error}") from planned.spec_error
    return list(planned.apply)


def render_documents(text: str, config: OperatorConfig) -> str:
    """Render every ModelDeployment in a YAML stream into one YAML stream of children, in apply order."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        raise RenderError(f"invalid YAML: {_yaml_problem(error)}") from error
    objects: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, doc in enumerate(docs, start=1):
        if doc is None:  # empty documents, e.g. after a trailing '---'
            continue
        children = _children_of(index, doc, config)
        deployment = next(c for c in children if c["kind"] == DEPLOYMENT.kind)["metadata"]
        key = (deployment["namespace"], deployment["name"])
        if key in seen:
            raise RenderError(f"{_describe(index, doc)}: same namespace and name as document {seen[key]}")
        seen[key] = index
        objects += children
    if not objects:
        raise RenderError(f"no {MD_KIND} found in the input")
    return yaml.dump_all(objects, Dumper=_BlockStyleDumper, sort_keys=False, explicit_start=True)


def render_main(
    path: str,
    config_path: str | None,
    *,
    environ: Mapping[str, str] | None = None,
    stdin: IO[str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
) -> int:
    """The CLI's `render -f PATH [--config FILE]`: 0 and the YAML on stdout, or 1 and an error on stderr."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        config = load_config(config_path, os.environ if environ is None else environ)
        if path == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        rendered = render_documents(text, config)
    except (ConfigError, RenderError) as error:
        print(f"error: {error}", file=err)
        return 1
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror or error}", file=err)
        return 1
    except UnicodeDecodeError:
        print(f"error: {path} is not UTF-8 text", file=err)
        return 1
    out.write(rendered)
    return 0
