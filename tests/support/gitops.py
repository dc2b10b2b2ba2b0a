"""What a GitOps tool (Argo CD syncing server-side) sees after the operator reconciled the samples: no
drift in any field the user wrote."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from modeldeploy.localcluster import LocalCluster
from tests.support.install import sample_models
from tests.support.kubectl import Kube
from tests.support.paths import SAMPLES


def user_fields(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {
        "spec": obj.get("spec"),
        "labels": meta.get("labels") or {},
        "annotations": meta.get("annotations") or {},
    }


def is_subset(want: Any, have: Any) -> bool:
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and is_subset(v, have[k]) for k, v in want.items())
    return bool(want == have)


def assert_no_drift(cluster: LocalCluster, field_manager: str = "argocd-controller") -> int:
    """What a GitOps tool sees after the operator reconciled the samples: a server-side dry-run apply of
    the original manifests changes no spec, label or annotation, and every value the user set is live
    as written. Returns how many models were compared."""
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        f"--field-manager={field_manager}",
        "-f",
        str(SAMPLES),
        "-o",
        "json",
    )
    dry = json.loads(result.stdout)
    predicted = {
        (i["metadata"]["namespace"], i["metadata"]["name"]): i
        for i in dry.get("items", [dry])
        if i["kind"] == "ModelDeployment"
    }
    compared = 0
    for _, manifest in sample_models():
        key = (manifest["metadata"]["namespace"], manifest["metadata"]["name"])
        live = Kube(cluster).get("modeldeployment", key[1], key[0])
        assert live is not None, key
        assert (live.get("status") or {}).get("phase") == "Ready", (
            f"{key} not reconciled: {live.get('status')}"
        )
        assert user_fields(predicted[key]) == user_fields(live), f"{key}: a sync would change the live object"
        assert predicted[key]["metadata"]["generation"] == live["metadata"]["generation"], key
        assert is_subset(user_fields(manifest), user_fields(live)), f"{key}: live differs from Git"
        compared += 1
    return compared


def field_managers_of_user_fields(obj: Mapping[str, Any]) -> set[str]:
    """Managers that own anything under spec, labels or annotations."""
    owners = set()
    for entry in obj["metadata"].get("managedFields") or []:
        fields = entry.get("fieldsV1") or {}
        meta = fields.get("f:metadata") or {}
        if "f:spec" in fields or "f:labels" in meta or "f:annotations" in meta:
            owners.add(entry["manager"])
    return owners
