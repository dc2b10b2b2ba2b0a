"""Applied children are written through to the cache, never over something newer from the watch."""

from __future__ import annotations

from typing import Any

from modeldeploy.api import MD_API_VERSION
from modeldeploy.controller import Caches
from modeldeploy.informer import Store

KIND = ("apps/v1", "Deployment")
OWNER = ("ns", "resnet")


def deployment(resource_version: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "resnet",
            "namespace": "ns",
            "resourceVersion": resource_version,
            "labels": {"serving.modeldeploy.io/model-deployment": "resnet"},
            "ownerReferences": [
                {
                    "apiVersion": MD_API_VERSION,
                    "kind": "ModelDeployment",
                    "name": "resnet",
                    "uid": "u1",
                    "controller": True,
                }
            ],
        },
        "spec": {"replicas": replicas},
    }


def cached(caches: Caches) -> dict[str, Any]:
    (obj,) = caches.children_of(OWNER).objects.values()
    return dict(obj)


def test_an_applied_child_is_cached_before_its_watch_event() -> None:
    caches = Caches(children={KIND: Store()})
    caches.remember([deployment("10", 2)])
    assert cached(caches)["spec"]["replicas"] == 2


def test_a_newer_object_from_the_watch_is_kept() -> None:
    caches = Caches(children={KIND: Store()})
    caches.children[KIND].upsert(deployment("12", 3))
    caches.remember([deployment("10", 2)])
    assert cached(caches)["metadata"]["resourceVersion"] == "12"


def test_an_older_cached_object_is_replaced() -> None:
    caches = Caches(children={KIND: Store()})
    caches.children[KIND].upsert(deployment("8", 1))
    caches.remember([deployment("10", 2)])
    assert cached(caches)["spec"]["replicas"] == 2


def test_unknown_kinds_and_uncontrolled_objects_are_ignored() -> None:
    caches = Caches(children={KIND: Store()})
    uncontrolled = deployment("10", 2)
    uncontrolled["metadata"]["ownerReferences"] = []
    caches.remember([uncontrolled, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}])
    assert caches.children_of(OWNER).objects == {}


def test_children_of_an_older_model_with_the_same_name_are_not_this_ones() -> None:
    caches = Caches(children={KIND: Store()})
    caches.children[KIND].upsert(deployment("10", 2))
    assert caches.children_of(OWNER, uid="u1").objects
    assert caches.children_of(OWNER, uid="u2").objects == {}


def test_a_renamed_copy_that_kept_the_owner_reference_is_not_the_child() -> None:
    caches = Caches(children={KIND: Store()})
    copy = deployment("11", 5)
    copy["metadata"]["name"] = "resnet-copy"
    caches.children[KIND].upsert(deployment("10", 2))
    caches.children[KIND].upsert(copy)
    assert cached(caches)["metadata"]["name"] == "resnet"
    caches.children[KIND].upsert(deployment("12", 3))  # the child changes and moves in the store's order
    assert cached(caches)["spec"]["replicas"] == 3


def model(resource_version: str, phase: str) -> dict[str, Any]:
    meta = {"name": "resnet", "namespace": "ns", "resourceVersion": resource_version}
    return {"metadata": meta, "status": {"phase": phase}}


def test_our_status_write_is_kept_over_an_older_watch_event() -> None:
    caches = Caches()
    caches.update_model(OWNER, model("10", "Pending"))
    caches.update_model(OWNER, model("12", "Ready"))  # the answer to our status write
    caches.update_model(OWNER, model("11", "Progressing"))  # an event still in flight
    assert caches.models[OWNER]["status"]["phase"] == "Ready"
    caches.update_model(OWNER, model("13", "Degraded"))
    assert caches.models[OWNER]["status"]["phase"] == "Degraded"
