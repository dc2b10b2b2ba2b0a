"""Which ModelDeployment field a refused child field came from.

The API server names the child's field ("spec.template.spec.tolerations[1].effect"); the user can only
change the ModelDeployment, so the error must name its field ("spec.placement.tolerations[0].effect").
The mapping follows the builders in desired/: what they copy from the spec, at which index.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from modeldeploy.config import OperatorConfig
from modeldeploy.desired.deployment import server_args
from modeldeploy.spec import ModelDeploymentSpec

_POD = "spec.template.spec."
_INDEX = re.compile(r"^\[(\d+)\](.*)$")


def _shift(rest: str, offset: int, target: str, fallback: str) -> str:
    """``rest`` is "[i]..." of a list whose first ``offset`` items the operator adds itself."""
    match = _INDEX.match(rest)
    if match is None:
        return target + rest
    index = int(match.group(1)) - offset
    return f"{target}[{index}]{match.group(2)}" if index >= 0 else fallback


def spec_field(kind: str, field: str, md: ModelDeploymentSpec, config: OperatorConfig) -> str:
    """The ModelDeployment field behind ``field`` of the child ``kind``; "spec" when none is."""
    if field.startswith("metadata."):
        return "metadata.name"
    if kind == "HorizontalPodAutoscaler":
        if field.startswith("spec.metrics"):
            # The operator's CPU target is metrics[0]; spec.autoscaling.metrics follow it.
            return _shift(field[len("spec.metrics") :], 1, "spec.autoscaling.metrics", "spec.autoscaling")
        return "spec.autoscaling"
    if kind != "Deployment" or not field.startswith(_POD):
        return "spec"
    pod = field[len(_POD) :]
    gpu_tolerations = len(config.gpu_tolerations) if md.resources.gpu is not None else 0
    simple = {
        "affinity": "spec.placement.affinity",
        "nodeSelector": "spec.placement.nodeSelector",
        "serviceAccountName": "spec.serviceAccountName",
    }
    for prefix, target in simple.items():
        if pod.startswith(prefix):
            return target + pod[len(prefix) :]
    if pod.startswith("tolerations"):
        return _shift(
            pod[len("tolerations") :], gpu_tolerations, "spec.placement.tolerations", "spec.resources.gpu"
        )
    container = re.match(r"^(containers|initContainers)\[\d+\]\.(.*)$", pod)
    if container is None:
        return "spec.model.uri" if pod.startswith("volumes") else "spec"
    inner = container.group(2)
    if inner.startswith("env"):
        # The init container's variables after spec.env are the operator's aliases of them.
        match = _INDEX.match(inner[len("env") :])
        return (
            f"spec.env[{match.group(1)}]{match.group(2)}"
            if match and int(match.group(1)) < len(md.env)
            else "spec.env"
        )
    if inner.startswith("resources"):
        return "spec.resources"
    if inner.startswith("image"):
        return "spec.runtime.image"
    if inner.startswith("args") and container.group(1) == "containers":
        managed = len(server_args(md)) - len(md.runtime.args)  # the user's flags come last
        return _shift(inner[len("args") :], managed, "spec.runtime.args", "spec.runtime")
    return "spec"


# Server-side apply names a field it cannot type like `.spec.template.spec.containers[name="tfserving"]
# .env[name="S"].valueFrom.x: field not declared in schema`: list items by their keys.
_TYPED_PATH = re.compile(r"^((?:\.[A-Za-z0-9_$-]+|\[[^\]]*\])+): (.*)$", re.DOTALL)
_KEYED = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def typed_path_error(message: str, obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(field path with indexes, what is wrong) from a typed-patch error about ``obj``, if it is one."""
    text = message.split("): ", 1)[-1]
    match = _TYPED_PATH.match(text)
    if match is None:
        return None
    field = ""
    node: Any = obj
    for name, keys in re.findall(r"\.([A-Za-z0-9_$-]+)|\[([^\]]*)\]", match.group(1)):
        if name:
            field += f".{name}" if field else name
            node = node.get(name) if isinstance(node, Mapping) else None
            continue
        wanted = dict(_KEYED.findall(keys))
        items = node if isinstance(node, list) else []
        index = next(
            (i for i, item in enumerate(items) if isinstance(item, Mapping)
             and all(str(item.get(k)) == v for k, v in wanted.items())),
            None,
        )  # fmt: skip
        node = items[index] if index is not None else None
        field += f"[{index if index is not None else keys}]"
    return field, match.group(2)
