"""Prometheus counters the tests read: the operator's own (its /metrics endpoint), to see what it did and
whether its writes stop, and the API server's (apiserver_request_total), to count requests by verb."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from modeldeploy.bench.apiserver import Requests, parse_request_totals
from modeldeploy.informer import CHILDREN
from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.kubectl import Kube

# {sample name: [(labels, value)]}
Samples = dict[str, list[tuple[dict[str, str], float]]]

CHILD_RESOURCES = frozenset(r.plural for r in CHILDREN)
WRITE_VERBS = frozenset({"apply", "patch", "delete"})  # dry runs are counted apart ("dry-run")


def scrape(operator: OperatorProcess) -> Samples:
    """Every sample the operator exposes now."""
    samples: Samples = {}
    for family in text_string_to_metric_families(operator.metrics_text()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == x for k, x in labels.items()))


def metric_sum(operator: OperatorProcess, name: str, **labels: str) -> float:
    """The same, scraped now."""
    return total(scrape(operator), name, **labels)


def api_writes(operator: OperatorProcess, resources: frozenset[str] = CHILD_RESOURCES) -> float:
    """Successful writes to children.

    Status writes and refused requests are left out: other tests' models may still be settling, and
    their namespaces being deleted refuse the operator's attempts to recreate children (HTTP 403).
    """
    return sum(
        value
        for labels, value in scrape(operator).get("modeldeploy_api_requests_total", [])
        if labels.get("verb") in WRITE_VERBS
        and labels.get("resource") in resources
        and labels.get("code", "").startswith("2")
    )


def apiserver_requests(kube: Kube) -> Requests:
    """The API server's request counts by (verb, resource, subresource), from its /metrics."""
    return parse_request_totals(kube.run("get", "--raw", "/metrics").stdout)


def deployment_applies(kube: Kube) -> int:
    """Server-side applies of Deployments the API server has counted."""
    return apiserver_requests(kube)[("APPLY", "deployments", "")]
