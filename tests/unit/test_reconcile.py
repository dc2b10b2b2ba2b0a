"""The reconcile steps (plan -> apply and prune -> status -> events) against an in-memory kube layer.

FakeKube stands in for kube.KubeClient only, the operator's one API client: it keeps objects by kind and
name, gives each a uid on creation and keeps it on update, refuses an update naming another uid (as the
API server does), and records every write. The real API server's side is covered by
tests/integration/test_reconcile.py and test_ownership.py; this file pins the step logic.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Mapping
from typing import Any

from modeldeploy import reasons
from modeldeploy.api import HORIZONTAL_POD_AUTOSCALER, MD_API_VERSION, MD_KIND
from modeldeploy.config import default_config
from modeldeploy.kube import ApiError
from modeldeploy.plan import Children, plan_for
from modeldeploy.reconcile import Applied, Outcome, reconcile, status_input

CONFIG = default_config()
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
Key = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


class FakeKube:
    """The calls reconcile and converge make on kube.KubeClient, kept in memory."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes: list[tuple[str, str, str]] = []  # (verb, kind, name)
        self.events: list[tuple[str, str, str]] = []  # (type, reason, message)
        self.statuses: list[dict[str, Any]] = []
        self.fail_with: ApiError | None = None  # raised by the next apply
        self._uids = 0

    @staticmethod
    def key(obj: Mapping[str, Any]) -> Key:
        meta = obj["metadata"]
        return (obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])

    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """An object someone else created (not a write of the operator's)."""
        self._uids += 1
        stored = json.loads(json.dumps(obj))
        stored["metadata"].setdefault("uid", f"uid-{self._uids}")
        self.objects[self.key(stored)] = stored
        return stored

    async def get(
        self, api_version: str, kind: str, namespace: str, name: str, *, cached: bool = False
    ) -> dict[str, Any] | None:
        return self.objects.get((api_version, kind, namespace, name))

    async def apply(
        self, obj: Mapping[str, Any], *, dry_run: bool = False, create_only: bool = False
    ) -> dict[str, Any]:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        live = self.objects.get(self.key(obj))
        if create_only and live is not None:
            # A resourceVersion precondition no object meets: the API server's optimistic-lock refusal
            # (apiserver registry/generic/registry/store.go, OptimisticLockErrorMsg).
            message = (
                f'Operation cannot be fulfilled on {obj["kind"].lower()}s "{obj["metadata"]["name"]}": the '
                "object has been modified; please apply your changes to the latest version and try again"
            )
            raise ApiError(409, "apply", "/fake", json.dumps({"message": message}))
        wanted_uid = obj["metadata"].get("uid")
        if live is not None and wanted_uid is not None and wanted_uid != live["metadata"]["uid"]:
            raise ApiError(409, "apply", "/fake", json.dumps({"message": "Precondition failed: UID"}))
        result = json.loads(json.dumps(obj))
        if live is not None:
            result["metadata"]["uid"] = live["metadata"]["uid"]
        if dry_run:
            return result
        if live is None:
            self._uids += 1
            result["metadata"]["uid"] = f"uid-{self._uids}"
        self.objects[self.key(result)] = result
        self.writes.append(("apply", obj["kind"], obj["metadata"]["name"]))
        return result

    async def merge_patch(self, obj: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        raise AssertionError("no test here has another writer's list items")

    async def delete(self, api_version: str, kind: str, namespace: str, name: str, uid: str) -> None:
        live = self.objects.get((api_version, kind, namespace, name))
        if live is not None and live["metadata"]["uid"] == uid:
            del self.objects[(api_version, kind, namespace, name)]
            self.writes.append(("delete", kind, name))

    async def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        self.statuses.append(dict(status))
        self.writes.append(("status", MD_KIND, name))
        return {"apiVersion": MD_API_VERSION, "kind": MD_KIND, "status": dict(status)}

    async def create_event(self, md: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((event_type, reason, message))

    def children(self, md: Mapping[str, Any]) -> Children:
        """What the operator's cache would hold: the objects this ModelDeployment controls."""
        uid = md["metadata"]["uid"]
        objects = {
            (obj["apiVersion"], obj["kind"]): obj
            for obj in self.objects.values()
            if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or ())
        }
        return Children(objects=objects)


def model(spec: dict[str, Any] | None = None, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": MD_API_VERSION,
        "kind": MD_KIND,
        "metadata": {"name": "resnet", "namespace": "vision", "uid": "md-uid", "generation": 1},
        "spec": spec or {"model": {"uri": "gs://acme/resnet"}},
        **({"status": status} if status is not None else {}),
    }


def run(md: Mapping[str, Any], kube: FakeKube, children: Children | None = None) -> Outcome:
    found = kube.children(md) if children is None else children
    return asyncio.run(reconcile(md, found, CONFIG, kube, now=NOW))  # type: ignore[arg-type]


def test_the_first_reconcile_creates_every_child_and_defers_the_status() -> None:
    kube = FakeKube()
    outcome = run(model(), kube)
    planned = [obj["kind"] for obj in plan_for(model(), CONFIG).apply]
    assert outcome.result == "applied"
    assert sorted(kind for verb, kind, _ in kube.writes if verb == "apply") == sorted(planned)
    assert outcome.changed[0] == "Created ConfigMap resnet-tfserving"
    # The cache does not hold the new children yet: the status waits for their watch events.
    assert outcome.status_deferred and not outcome.status_written and kube.statuses == []
    assert kube.events == [("Normal", "Created", "; ".join(outcome.changed))]


def test_a_second_reconcile_with_the_children_cached_writes_only_the_status_once() -> None:
    kube = FakeKube()
    run(model(), kube)
    kube.writes.clear()
    second = run(model(), kube)
    assert second.result == "unchanged" and second.changed == []
    assert kube.writes == [("status", MD_KIND, "resnet")] and second.status_written
    third = run(model(status=kube.statuses[-1]), kube)
    assert third.result == "unchanged" and not third.status_written
    assert kube.writes == [("status", MD_KIND, "resnet")]


def test_an_invalid_spec_writes_no_child_and_warns_once() -> None:
    kube = FakeKube()
    bad = model({"model": {"uri": "gs://acme/resnet", "name": "Resnet!"}})
    outcome = run(bad, kube)
    assert outcome.result == "invalid" and outcome.phase == "Failed"
    assert kube.writes == [("status", MD_KIND, "resnet")]
    degraded = next(c for c in kube.statuses[0]["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reasons.INVALID_SPEC)
    assert "spec.model.name" in degraded["message"]
    assert [(t, r) for t, r, _ in kube.events] == [("Warning", reasons.INVALID_SPEC)]
    run(model(bad["spec"], status=kube.statuses[0]), kube)
    assert len(kube.events) == 1, "the same problem again is no new Warning"


def test_a_child_name_taken_by_another_object_is_a_conflict_and_nothing_depending_on_it_is_written() -> None:
    kube = FakeKube()
    kube.put({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "resnet-tfserving", "namespace":
              "vision"}, "data": {"mine": "yes"}})  # fmt: skip
    outcome = run(model(), kube)
    assert outcome.result == "conflict"
    assert outcome.error is not None and "ConfigMap resnet-tfserving already exists" in outcome.error
    written = {kind for verb, kind, _ in kube.writes if verb == "apply"}
    assert "ConfigMap" not in written and "Deployment" not in written
    assert kube.objects[("v1", "ConfigMap", "vision", "resnet-tfserving")]["data"] == {"mine": "yes"}
    warning = [(t, r) for t, r, _ in kube.events if t == "Warning"]
    assert warning == [("Warning", reasons.OWNERSHIP_CONFLICT)]


def test_a_namespace_being_deleted_ends_the_reconcile_without_status_or_events() -> None:
    kube = FakeKube()
    kube.fail_with = ApiError(403, "apply", "/x", json.dumps({"message": "because it is being terminated"}))
    outcome = run(model(), kube)
    assert outcome.result == "terminating"
    assert kube.statuses == [] and kube.events == []


def test_a_failed_write_is_an_error_in_the_status_and_a_warning() -> None:
    kube = FakeKube()
    kube.fail_with = ApiError(500, "apply", "/x", json.dumps({"message": "etcd is away"}))
    outcome = run(model(), kube)
    assert outcome.result == "error" and outcome.error is not None and "etcd is away" in outcome.error
    degraded = next(c for c in kube.statuses[0]["conditions"] if c["type"] == "Degraded")
    assert degraded["reason"] == reasons.APPLY_FAILED
    assert ("Warning", reasons.APPLY_FAILED) in [(t, r) for t, r, _ in kube.events]


def test_an_optional_child_the_spec_dropped_is_deleted() -> None:
    kube = FakeKube()
    scaled = {"model": {"uri": "gs://acme/resnet"}, "autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
    run(model(scaled), kube)
    hpa_key = (*HORIZONTAL_POD_AUTOSCALER.key, "vision", "resnet")
    assert hpa_key in kube.objects
    outcome = run(model(), kube)
    assert "Deleted HorizontalPodAutoscaler resnet" in outcome.changed
    assert hpa_key not in kube.objects


def test_status_input_takes_the_spec_facts_from_the_plan_and_errors_from_applying() -> None:
    planned = plan_for(model({"model": {"uri": "gs://acme/resnet", "name": "rn"}, "replicas": 3}), CONFIG)
    applied = Applied(result="conflict", apply_error="taken", apply_error_reason=reasons.OWNERSHIP_CONFLICT)
    observed = status_input(planned, Children(), applied, CONFIG)
    assert (observed.model_name, observed.wants_replicas, observed.deployment) == ("rn", 3, None)
    assert (observed.apply_error, observed.apply_error_reason) == ("taken", reasons.OWNERSHIP_CONFLICT)
    assert observed.spec_error is None
