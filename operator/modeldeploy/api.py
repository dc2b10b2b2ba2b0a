"""The API facts, each written once: the ModelDeployment's group, version and kind, the kinds of its
children (with what every layer needs to know about them), TF Serving's ports and the selector label.
(The status vocabulary, condition types, reasons and phases, is reasons.py.)

A leaf module (it imports nothing from the package) so that `kube`, `informer`, `desired`, `status`,
`reconcile`, `render`, the benchmark and the tests all read the same definitions. Adding a child kind is
one `ChildKind` entry in CHILD_KINDS plus its builder in `desired/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

GROUP: Final = "serving.modeldeploy.io"
VERSION: Final = "v1alpha1"
MD_API_VERSION: Final = f"{GROUP}/{VERSION}"
MD_KIND: Final = "ModelDeployment"
MD_PLURAL: Final = "modeldeployments"

# The pod selector of every child: one label only, so that changing any other label never orphans pods
# (a Deployment's selector is immutable). status.selector (the scale subresource) names it too.
SELECTOR_LABEL: Final = f"{GROUP}/model-deployment"
# Every child and pod carries it; the informers list and watch by it (the RBAC grants list+watch).
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "modeldeploy"
MANAGED_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"

# TF Serving's ports (--port and --rest_api_port): the container, the Service, the NetworkPolicy and the
# status endpoints all use these.
GRPC_PORT: Final = 8500
HTTP_PORT: Final = 8501


KindKey = tuple[str, str]  # (apiVersion, kind)


@dataclass(frozen=True)
class ApiKind:
    """A kind the operator reads or writes; its REST path is derived from these, never discovered."""

    api_version: str  # "v1", "apps/v1", ...
    kind: str
    plural: str

    @property
    def key(self) -> KindKey:
        return (self.api_version, self.kind)

    @property
    def group(self) -> str:
        """The API group ("" for the core group), as RBAC rules and `kubectl auth can-i` name it."""
        return self.api_version.rpartition("/")[0]

    @property
    def resource(self) -> str:
        """plural.group, e.g. deployments.apps (just the plural for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


@dataclass(frozen=True)
class ChildKind(ApiKind):
    """A kind of child object a ModelDeployment owns, and how each layer treats it.

    - ``optional``: only some specs want it; when the spec stops wanting it, reconcile deletes it.
    - ``apply_round``: converge writes round 0 before round 1 (pods mount the ConfigMap, the NetworkPolicy
      guards them); None: after every round.
    - ``depends_on``: kinds that must be written first; a conflict on one blocks this kind too.
    - ``dry_run``: it may carry the user's free-form fields, which only the API server fully validates,
      so it is dry-run before anything is written.
    - ``schema``: its definition in the API server's OpenAPI v3 document (None: not checked offline).
    - ``watch``: "always", or "keda" when only the request-rate provider keda renders it (without KEDA's
      CRD a watch would fail for ever).
    - ``cache_owner``: how the informer files an object under its ModelDeployment: by its controller
      reference, or for the HPA also the ScaledObject KEDA made it from. Every child is cached without
      managedFields (informer.slim).
    """

    optional: bool = False
    apply_round: int | None = None
    depends_on: tuple[str, ...] = ()
    dry_run: bool = False
    schema: str | None = None
    watch: Literal["always", "keda"] = "always"
    cache_owner: Literal["controller", "autoscaler"] = "controller"


CONFIGMAP: Final = ChildKind(
    "v1", "ConfigMap", "configmaps", apply_round=0, schema="io.k8s.api.core.v1.ConfigMap"
)
SERVICE: Final = ChildKind("v1", "Service", "services", apply_round=0, schema="io.k8s.api.core.v1.Service")
NETWORK_POLICY: Final = ChildKind(
    "networking.k8s.io/v1",
    "NetworkPolicy",
    "networkpolicies",
    optional=True,  # when the operator configuration turns it off
    apply_round=0,
    schema="io.k8s.api.networking.v1.NetworkPolicy",
)
DEPLOYMENT: Final = ChildKind(
    "apps/v1",
    "Deployment",
    "deployments",
    apply_round=1,
    # Its pods mount the ConfigMap; and TF Serving has no authentication, so while its NetworkPolicy
    # (when wanted) cannot be ours, no pods are started unguarded.
    depends_on=("ConfigMap", "NetworkPolicy"),
    dry_run=True,
    schema="io.k8s.api.apps.v1.Deployment",
)
HORIZONTAL_POD_AUTOSCALER: Final = ChildKind(
    "autoscaling/v2",
    "HorizontalPodAutoscaler",
    "horizontalpodautoscalers",
    optional=True,
    apply_round=1,
    depends_on=("Deployment",),  # it would scale whatever Deployment has the name
    dry_run=True,
    schema="io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler",
    cache_owner="autoscaler",
)
POD_DISRUPTION_BUDGET: Final = ChildKind(
    "policy/v1",
    "PodDisruptionBudget",
    "poddisruptionbudgets",
    optional=True,
    apply_round=1,
    depends_on=("Deployment",),
    schema="io.k8s.api.policy.v1.PodDisruptionBudget",
)
SCALED_OBJECT: Final = ChildKind(
    "keda.sh/v1alpha1", "ScaledObject", "scaledobjects", optional=True, watch="keda"
)

# Every child kind, in the order the informers start and the kube layer lists them.
CHILD_KINDS: Final[tuple[ChildKind, ...]] = (
    CONFIGMAP,
    SERVICE,
    DEPLOYMENT,
    HORIZONTAL_POD_AUTOSCALER,
    POD_DISRUPTION_BUDGET,
    NETWORK_POLICY,
    SCALED_OBJECT,
)

MODEL_DEPLOYMENT: Final = ApiKind(MD_API_VERSION, MD_KIND, MD_PLURAL)
POD: Final = ApiKind("v1", "Pod", "pods")
EVENT: Final = ApiKind("v1", "Event", "events")

# Every kind the operator reaches through the kube layer.
API_KINDS: Final[tuple[ApiKind, ...]] = (*CHILD_KINDS, POD, EVENT, MODEL_DEPLOYMENT)


def child_kind(kind: str) -> ChildKind:
    """The registry entry of a child kind by its name (KeyError for a kind that is not a child)."""
    for entry in CHILD_KINDS:
        if entry.kind == kind:
            return entry
    raise KeyError(kind)
