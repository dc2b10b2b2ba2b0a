"""The API server's own request counters (`apiserver_request_total`), read from its /metrics endpoint."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

from modeldeploy.api import CHILD_KINDS, EVENT, MD_PLURAL

# (verb, resource, subresource) -> requests, as the API server counts them (verbs are upper case: GET,
# LIST, WATCH, POST, PUT, PATCH, APPLY for server-side apply, DELETE, ...).
RequestKey = tuple[str, str, str]
Requests = Counter[RequestKey]

WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "APPLY", "DELETE", "DELETECOLLECTION"})
# Everything the operator reads or writes; pods are the controllers' and KWOK's, leases the nodes'.
OPERATOR_RESOURCES = frozenset({MD_PLURAL, EVENT.plural, *(kind.plural for kind in CHILD_KINDS)})
# Never counted as the operator's idle writes: node heartbeats and Kopf's peering records.
COORDINATION_RESOURCES = frozenset({"leases", "kopfpeerings", "clusterkopfpeerings"})

_SAMPLE = re.compile(r"^(?P<name>\w+)\{(?P<labels>[^}]*)\}\s+(?P<value>\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse_request_totals(text: str, metric: str = "apiserver_request_total") -> Requests:
    """Sum apiserver_request_total over codes, groups, versions and scopes. With
    ``metric="apiserver_request_terminations_total"``: the requests the API server turned away before
    handling them (429 from priority and fairness or max-in-flight, 504 from its timeout filter:
    apiserver endpoints/metrics RecordRequestTermination), which apiserver_request_total never counts."""
    totals: Requests = Counter()
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or match.group("name") != metric:
            continue
        labels = dict(_LABEL.findall(match.group("labels")))
        if labels.get("dry_run"):
            continue
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        totals[key] += int(float(match.group("value")))
    return totals


def diff(after: Requests, before: Requests) -> Requests:
    result: Requests = Counter()
    for key, value in after.items():
        delta = value - before.get(key, 0)
        if delta > 0:
            result[key] = delta
    return result


def subtract(requests: Requests, own: Mapping[RequestKey, int]) -> Requests:
    """Remove the requests the benchmark itself sent (its applies and its polling lists)."""
    result = Counter(requests)
    for key, value in own.items():
        result[key] = max(0, result.get(key, 0) - value)
    return +result


def only(requests: Requests, resources: Iterable[str]) -> Requests:
    wanted = frozenset(resources)
    return Counter({key: value for key, value in requests.items() if key[1] in wanted})


def by_verb(requests: Requests) -> dict[str, int]:
    verbs: Counter[str] = Counter()
    for (verb, _resource, _sub), value in requests.items():
        verbs[verb] += value
    return dict(sorted(verbs.items()))


def by_resource(requests: Requests) -> dict[str, dict[str, int]]:
    """{"deployments": {"APPLY": 3, ...}, "modeldeployments/status": {...}}"""
    table: dict[str, dict[str, int]] = {}
    for (verb, resource, sub), value in sorted(requests.items()):
        name = f"{resource}/{sub}" if sub else resource
        row = table.setdefault(name, {})
        row[verb] = row.get(verb, 0) + value
    return table


def writes(requests: Requests) -> Requests:
    return Counter({key: value for key, value in requests.items() if key[0] in WRITE_VERBS})
