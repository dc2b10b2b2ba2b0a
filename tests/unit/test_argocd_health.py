"""The Argo CD health check (argocd/health.lua), run by a Lua 5.1 interpreter as Argo CD's gopher-lua does.

Each fixture in tests/fixtures/argocd/ is a ModelDeployment as the API server returns it; the table below
says what Argo CD must show for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from lupa import lua51

ROOT = Path(__file__).resolve().parents[2]
HEALTH_LUA = ROOT / "argocd" / "health.lua"
CM_PATCH = ROOT / "argocd" / "argocd-cm-patch.yaml"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
HEALTH_KEY = "resource.customizations.health.serving.modeldeploy.io_ModelDeployment"

# fixture name -> (Argo CD health status, message)
EXPECTED: dict[str, tuple[str, str]] = {
    "created-no-status": ("Progressing", "Waiting for the operator to observe generation 1"),
    "generation-not-observed": ("Progressing", "Waiting for the operator to observe generation 3"),
    "observed-no-conditions": ("Progressing", "Waiting for the Ready condition"),
    "rolling-out": ("Progressing", "1 of 2 replicas ready"),
    "ready": ("Healthy", "2 of 2 replicas ready"),
    "degraded-unschedulable": (
        "Degraded",
        "pod resnet-gpu-7d9f8-abcde cannot be scheduled: no node has nvidia.com/gpu.product=Tesla-T4",
    ),
    "degraded-no-message": ("Degraded", "ProgressDeadlineExceeded"),
}


def argocd_health(obj: dict[str, Any]) -> tuple[str, str]:
    """Run health.lua the way Argo CD does: the live object in the global `obj`, a table returned."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=False)
    runtime.globals()["obj"] = runtime.table_from(obj, recursive=True)
    result = runtime.execute(HEALTH_LUA.read_text())
    assert lua51.lua_type(result) == "table", f"health.lua returned {result!r}, not a table"
    hs = dict(cast(Any, result).items())
    return str(hs["status"]), str(hs["message"])


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_health_of_fixture(fixture: str) -> None:
    obj = yaml.safe_load((FIXTURES / f"{fixture}.yaml").read_text())
    assert argocd_health(obj) == EXPECTED[fixture]


def test_status_from_an_older_generation_is_not_trusted_even_when_degraded() -> None:
    obj = yaml.safe_load((FIXTURES / "degraded-unschedulable.yaml").read_text())
    obj["metadata"]["generation"] = 2
    assert argocd_health(obj) == ("Progressing", "Waiting for the operator to observe generation 2")


def test_argocd_cm_patch_embeds_health_lua_verbatim() -> None:
    patch = yaml.safe_load(CM_PATCH.read_text())
    assert patch["kind"] == "ConfigMap"
    assert patch["metadata"] == {
        "name": "argocd-cm",
        "namespace": "argocd",
        "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
    }
    assert patch["data"][HEALTH_KEY] == HEALTH_LUA.read_text()
