"""Wait for a ModelDeployment to settle and check that the operator's writes for it then stop."""

from __future__ import annotations

from typing import Any

from modeldeploy.config import default_config
from modeldeploy.drift import holds_object
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.plan import plan_for
from tests.support.kubectl import Kube
from tests.support.metrics import api_writes, metric_sum
from tests.support.waits import wait_for

CONFIG = default_config()


def versions(kube: Kube, name: str, namespace: str) -> dict[str, object]:
    """What a write to the ModelDeployment or a child's spec or metadata changes, by anyone. Writes to a
    child's status subresource are left out: the Deployment, HPA and PDB controllers write those whenever
    pods or metrics move, and they say nothing about the operator."""
    out: dict[str, object] = {}
    for kind, child in [("md", name), ("configmap", f"{name}-tfserving"), ("deployment", name),
                        ("service", name), ("hpa", name), ("pdb", name)]:  # fmt: skip
        obj = kube.get(kind, child, namespace)
        if obj is None:
            continue
        meta = obj["metadata"]
        if kind == "md":
            out[kind] = meta["resourceVersion"]
            continue
        # A spec or metadata write bumps the generation or the writer's managedFields entry (its time);
        # a status write touches only the entry whose subresource is "status".
        writers = sorted(
            (m.get("manager", ""), m.get("operation", ""), m.get("time", ""))
            for m in meta.get("managedFields", [])
            if m.get("subresource") != "status"
        )
        out[kind] = (meta.get("generation"), writers, meta.get("labels"), meta.get("annotations"))
    return out


def warnings(kube: Kube, name: str, namespace: str) -> int:
    events = kube.list("events", namespace)
    return sum(
        int(e.get("count") or 1)
        for e in events
        if e["involvedObject"].get("name") == name and e["involvedObject"].get("kind") == "ModelDeployment"
    )


def assert_quiet(
    kube: Kube,
    operator: OperatorProcess,
    name: str,
    namespace: str,
    pokes: int = 3,
    result: str = "unchanged",
) -> None:
    """Trigger reconciles of md/name and check that none of them writes anything (``result``: the
    outcome each of them should count under)."""
    before = (versions(kube, name, namespace), warnings(kube, name, namespace), api_writes(operator))
    for poke in range(pokes):
        unchanged = metric_sum(operator, "modeldeploy_reconciles_total", result=result)
        # The annotation changes the ModelDeployment, so snapshot its version after poking.
        kube.run("annotate", "--overwrite", "md", name, "-n", namespace, f"example.com/poke={poke}")
        wait_for(
            lambda u=unchanged: metric_sum(operator, "modeldeploy_reconciles_total", result=result) > u,
            90,
            what=f"a reconcile counted as {result}",
        )
    after = (versions(kube, name, namespace), warnings(kube, name, namespace), api_writes(operator))
    before[0].pop("md"), after[0].pop("md")
    assert after == before, f"writes after the model settled: {before} -> {after}"


def assert_children_hold(kube: Kube, md: dict[str, Any]) -> None:
    planned = plan_for(md, CONFIG)
    assert planned.spec_error is None
    for obj in planned.apply:
        live = kube.get(obj["kind"].lower(), obj["metadata"]["name"], obj["metadata"]["namespace"])
        assert live is not None and holds_object(obj, live), f"{obj['kind']} does not hold the desired state"
