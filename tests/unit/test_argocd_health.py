"""The Argo CD health check (argocd/health.lua), run by a Lua 5.1 interpreter as Argo CD's gopher-lua does.

The fixtures in tests/fixtures/argocd/ are ModelDeployments captured from the local cluster by
tests/e2e/test_helm.py (which also judges the live objects, and fails when a fixture no longer matches
what the operator writes; MODELDEPLOY_CAPTURE_FIXTURES=1 rewrites them). The table below says what Argo CD
must show for each; the edge cases the operator does not produce are derived from them.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.support.argocd import CM_PATCH, FIXTURES, HEALTH_KEY, HEALTH_LUA, argocd_health
from tests.support.conditions import condition

READY_MESSAGE = "2/2 replicas serve model half_plus_two and run generation 1."
UNSCHEDULABLE = (
    "Pod too-many-gpus-6fb85dfbdd-cxm8q cannot be scheduled (no node has 8 free GPU(s) of type "
    "nvidia-tesla-t4: free GPUs, lower spec.resources.gpu.count or add GPU nodes). Scheduler: 0/4 nodes "
    "are available: 1 Insufficient nvidia.com/gpu, 3 node(s) didn't match Pod's node affinity/selector. "
    "no new claims to deallocate, preemption: 0/4 nodes are available: 4 Preemption is not helpful for "
    "scheduling."
)
INVALID = (
    "Invalid spec: spec.resources.gpu.type: unknown GPU type 'nvidia-v100'; known types: nvidia-a100, "
    "nvidia-h100, nvidia-l4, nvidia-tesla-t4 (use a known type, or add it to the operator's gpuTypes "
    "config). Nothing is deployed until the spec is fixed."
)

# fixture name -> (Argo CD health status, message)
EXPECTED: dict[str, tuple[str, str]] = {
    "created-no-status": ("Progressing", "Waiting for the operator to observe generation 1"),
    "generation-not-observed": ("Progressing", "Waiting for the operator to observe generation 2"),
    "progressing-insufficient-gpu": ("Progressing", UNSCHEDULABLE),
    "ready": ("Healthy", READY_MESSAGE),
    "degraded-invalid-spec": ("Degraded", INVALID),
}


def fixture(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    return obj


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_health_of_fixture(name: str) -> None:
    assert argocd_health(fixture(name)) == EXPECTED[name]


def test_status_from_an_older_generation_is_not_trusted_even_when_degraded() -> None:
    obj = fixture("degraded-invalid-spec")
    obj["metadata"]["generation"] = 2
    assert argocd_health(obj) == ("Progressing", "Waiting for the operator to observe generation 2")


def test_observed_generation_without_conditions_waits_for_ready() -> None:
    obj = fixture("ready")
    del obj["status"]["conditions"]
    assert argocd_health(obj) == ("Progressing", "Waiting for the Ready condition")


def test_a_condition_without_message_is_described_by_its_reason() -> None:
    obj = fixture("degraded-invalid-spec")
    condition(obj["status"], "Stalled")["message"] = ""
    condition(obj["status"], "Degraded")["message"] = ""
    assert argocd_health(obj) == ("Degraded", "InvalidSpec")
    obj = fixture("ready")
    del condition(obj["status"], "Ready")["message"]
    assert argocd_health(obj) == ("Healthy", "MinimumReplicasAvailable")


def test_degraded_wins_over_ready() -> None:
    obj = fixture("ready")
    condition(obj["status"], "Degraded").update(
        status="True", reason="CrashLoopBackOff", message="pod keeps exiting"
    )
    available = condition(obj["status"], "Available")["message"]
    # Degraded says whether the model still serves (Available).
    assert argocd_health(obj) == ("Degraded", f"pod keeps exiting Still serving: {available}")
    condition(obj["status"], "Available").update(status="False")
    assert argocd_health(obj) == ("Degraded", "pod keeps exiting")


def test_stalled_is_degraded_and_reconciling_is_progressing() -> None:
    # kstatus' pair decides as it does for Flux: Stalled -> Failed, Reconciling -> InProgress.
    obj = fixture("ready")
    condition(obj["status"], "Available").update(status="False")
    condition(obj["status"], "Stalled").update(
        status="True", reason="ProgressDeadlineExceeded", message="stuck"
    )
    assert argocd_health(obj) == ("Degraded", "stuck")
    obj = fixture("ready")
    condition(obj["status"], "Reconciling").update(
        status="True", reason="RolloutInProgress", message="rolling"
    )
    assert argocd_health(obj) == ("Progressing", "rolling")


def test_argocd_cm_patch_embeds_health_lua_verbatim() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    assert patch["data"][HEALTH_KEY] == HEALTH_LUA.read_text()
