"""Apply failures caused by an API the cluster does not serve, explained by what would serve it.

The API server answers a request for a resource type it does not serve (a CRD not installed) with 404 and
"the server could not find the requested resource", or a plain "404 page not found" when it knows nothing
of the whole API group, unlike a missing object ('<kind> "<name>" not found').
For a KEDA ScaledObject that means the operator is configured for KEDA on a cluster without it.
"""

from __future__ import annotations

UNKNOWN_RESOURCE = ("the server could not find the requested resource", "404 page not found")
KEDA_PATH = "/apis/keda.sh/"


def missing_api_message(status: int, path: str, reason: str) -> str | None:
    """A message naming the missing component and the fix, or None when the failure is something else."""
    if status != 404 or not any(text in reason for text in UNKNOWN_RESOURCE):
        return None
    if KEDA_PATH in path:
        return (
            "KEDA is not installed in this cluster: the API server does not serve keda.sh/v1alpha1 "
            "ScaledObjects, which the operator renders for spec.autoscaling.requestsPerSecond because its "
            "configuration says autoscaling.requestRate.provider: keda. Install KEDA (its CRDs, operator and "
            "metrics adapter), or set autoscaling.requestRate.provider to customMetrics or none; until then "
            "the existing autoscaler and pods are left as they were"
        )
    return None
