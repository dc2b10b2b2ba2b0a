"""ModelDeployment status, computed from what the operator observed.

Pure: no API calls and no clock reads (``now`` is an argument), so the same inputs always give the same
status. Conditions keep their ``lastTransitionTime`` while their status is unchanged, which makes a
recomputation with nothing new equal to the stored status: the operator then skips the patch.
This module assembles the status; the parts are conditions.py (the conditions and the phase),
modelloaded.py, autoscaling_status.py, poddiagnosis.py (why pods are not ready), rollout.py, and
statuspatch.py (whether a new status is worth a write).

Who says what (docs: README.md "Status"):
- Ready: the latest generation is in effect: the spec is valid and applied, every wanted replica is ready
  and runs it, and TF Serving (when asked) serves what it names. False, with the reason, whenever not:
  an invalid spec, a rollout, unschedulable pods. The previous spec may well still serve: see Available.
- Available: at least the minimum replicas serve requests, whatever spec they run.
- Progressing: the Deployment convention: True while the rollout moves and after it completed
  (NewReplicaSetAvailable); False when it cannot move (invalid spec, apply failure, deadline).
- Degraded: something needs a human fix; the message names the field and the fix.
- Reconciling / Stalled: kstatus' "abnormal-true" pair (sigs.k8s.io/cli-utils pkg/kstatus/status, read
  by Flux and kpt). Reconciling is True while the operator works towards the latest generation and can
  still get there; Stalled is True, with Degraded's reason, when it cannot without a fix. With
  observedGeneration and Ready, kstatus then reads Current, InProgress or Failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from modeldeploy.api import GRPC_PORT, HTTP_PORT, SELECTOR_LABEL
from modeldeploy.autoscaling_status import scaling_state
from modeldeploy.conditions import (
    Condition,
    Facts,
    available_condition,
    degraded_condition,
    kstatus_pair,
    phase_of,
    progressing_condition,
    ready_condition,
    stamp,
)
from modeldeploy.modelloaded import model_loaded_condition
from modeldeploy.objects import integer, mapping, plain
from modeldeploy.observed import Observed
from modeldeploy.poddiagnosis import pod_problem
from modeldeploy.reasons import ConditionType, Phase
from modeldeploy.rollout import current_ready, rollout_of

__all__ = ["Observed", "compute_status"]


def compute_status(md: Mapping[str, Any], observed: Observed, now: datetime) -> dict[str, Any]:
    """The full ``status`` of ``md`` from the observed children; ``now`` stamps changed conditions only."""
    meta = mapping(md.get("metadata"))
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace", "default"))
    generation = integer(meta.get("generation"))
    model = observed.model_name or name
    rollout = rollout_of(observed.deployment)
    wanted = _wanted_replicas(md, observed)
    spec = mapping(md.get("spec"))
    problem = pod_problem(observed.pods, spec)
    current = min(current_ready(rollout, observed.pods), wanted)
    model_loaded = model_loaded_condition(
        observed, model, str(mapping(spec.get("model")).get("uri") or "spec.model.uri")
    )
    degraded = degraded_condition(observed, rollout, problem, model, spec, namespace)
    facts = Facts(observed, rollout, wanted, current, problem, model, generation, spec)
    ready = ready_condition(facts, model_loaded, degraded)
    conditions = [
        ready,
        available_condition(facts),
        progressing_condition(observed, rollout, wanted, problem, name),
        degraded,
        *kstatus_pair(ready, degraded),
    ]
    if model_loaded is not None:
        conditions.append(model_loaded)
    scaling = None
    if observed.autoscaled:
        scaling = scaling_state(name, observed.autoscaler, observed.scaled_object, observed.keda)
        conditions.append(
            Condition(ConditionType.AUTOSCALING, scaling.status, scaling.reason, scaling.message)
        )
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "phase": phase_of(observed, rollout, conditions),
        "replicas": rollout.replicas,
        "readyReplicas": rollout.ready,
        "updatedReplicas": rollout.updated,
        "ready": f"{current}/{wanted}",
        "selector": f"{SELECTOR_LABEL}={name}",
    }
    if observed.gpu_summary:
        status["gpu"] = observed.gpu_summary
    if status["phase"] != Phase.FAILED:
        host = f"{name}.{namespace}.svc"
        status["endpoints"] = {
            "grpc": f"{host}:{GRPC_PORT}",
            "rest": f"http://{host}:{HTTP_PORT}/v1/models/{model}",
        }
    status["model"] = {"name": model}
    if observed.model_versions is not None:
        status["model"]["versions"] = [plain(v) for v in observed.model_versions]
    if observed.model_labels is not None:
        status["model"]["labels"] = [plain(v) for v in observed.model_labels]
    if observed.cost is not None:
        status["cost"] = dict(observed.cost)
    if scaling is not None and scaling.summary is not None:
        status["autoscaler"] = scaling.summary
    old_conditions = mapping(md.get("status")).get("conditions")
    status["conditions"] = stamp(conditions, old_conditions, generation, now)
    return status


def _wanted_replicas(md: Mapping[str, Any], o: Observed) -> int:
    live = mapping(mapping(o.deployment).get("spec")).get("replicas") if o.deployment is not None else None
    autoscaled = isinstance(mapping(md.get("spec")).get("autoscaling"), Mapping)
    if live is not None and (autoscaled or o.spec_error is not None):
        return integer(live)
    return o.wants_replicas
