"""The operator's own counters, read from its /metrics endpoint, to see whether its writes stop."""

from __future__ import annotations

import re

from modeldeploy.informer import CHILDREN
from modeldeploy.localcluster.operator_process import OperatorProcess

CHILD_RESOURCES = frozenset(r.plural for r in CHILDREN)
WRITE_VERBS = frozenset({"apply", "patch", "delete"})  # dry runs are counted apart ("dry-run")


def metric_samples(operator: OperatorProcess, name: str) -> list[tuple[dict[str, str], float]]:
    """The samples of one Prometheus metric as (labels, value)."""
    samples = []
    for line in operator.metrics_text().splitlines():
        match = re.match(rf"{name}(?:\{{([^}}]*)\}})? ([0-9.e+]+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            samples.append((labels, float(match.group(2))))
    return samples


def metric_sum(operator: OperatorProcess, name: str, **labels: str) -> float:
    """Sum of a metric's samples whose labels include `labels`."""
    return sum(
        value
        for sample_labels, value in metric_samples(operator, name)
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )


def api_writes(operator: OperatorProcess, resources: frozenset[str] = CHILD_RESOURCES) -> float:
    """Successful writes to children.

    Status writes and refused requests are left out: other tests' models may still be settling, and
    their namespaces being deleted refuse the operator's attempts to recreate children (HTTP 403).
    """
    return sum(
        value
        for labels, value in metric_samples(operator, "modeldeploy_api_requests_total")
        if labels.get("verb") in WRITE_VERBS
        and labels.get("resource") in resources
        and labels.get("code", "").startswith("2")
    )
