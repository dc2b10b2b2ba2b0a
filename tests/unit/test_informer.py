"""The informer's pure parts (Store, event handling, LIST pagination, re-list on 410) without a cluster."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import pytest

from modeldeploy.api import CHILD_KINDS, MD_API_VERSION
from modeldeploy.controller import Caches
from modeldeploy.informer import CHILDREN, PODS, SCALED_OBJECTS, Gone, Informer, Informers, Resource
from modeldeploy.kube import ApiError, KubeClient
from modeldeploy.store import Store, compact, pod_owner, slim, slim_pod

DEPLOYMENTS = Resource("apps/v1", "deployments", "Deployment")


def obj(name: str, owner: str | None, ns: str = "team", rv: str = "1", **extra: Any) -> dict[str, Any]:
    """A child controlled by ModelDeployment ``owner`` (None: labelled like one, controlled by none)."""
    labels = {"app.kubernetes.io/managed-by": "modeldeploy"}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels, "resourceVersion": rv}
    meta["managedFields"] = [{}]
    if owner is not None:
        labels["serving.modeldeploy.io/model-deployment"] = owner
        meta["ownerReferences"] = [controller(owner)]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, **extra}


def controller(owner: str, uid: str = "uid-1") -> dict[str, Any]:
    return {"apiVersion": MD_API_VERSION, "kind": "ModelDeployment", "name": owner, "uid": uid,
            "controller": True}  # fmt: skip


def pod(name: str, owner: str, replica_set: str, template_hash: str = "abc") -> dict[str, Any]:
    labels = {"serving.modeldeploy.io/model-deployment": owner, "pod-template-hash": template_hash}
    ref = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": replica_set,
        "uid": "rs",
        "controller": True,
    }
    return {"metadata": {"name": name, "namespace": "team", "labels": labels, "ownerReferences": [ref]}}


def test_a_look_alike_with_the_child_labels_is_not_a_child() -> None:
    # A renamed copy of the Deployment keeps the labels; only the controller reference says whose it is.
    store = Store()
    look_alike = obj("resnet-debug", None)
    look_alike["metadata"]["labels"]["serving.modeldeploy.io/model-deployment"] = "resnet"
    look_alike["metadata"]["ownerReferences"] = [{**controller("resnet"), "controller": False}]
    assert store.apply("ADDED", look_alike) == set() and len(store) == 0
    assert store.apply("ADDED", obj("resnet", "resnet")) == {("team", "resnet")}
    assert [o["metadata"]["name"] for o in store.get(("team", "resnet"))] == ["resnet"]


def test_pods_belong_to_the_model_only_through_its_deployments_replica_set() -> None:
    store = Store(slim_pod, pod_owner)
    assert store.apply("ADDED", pod("resnet-abc-1", "resnet", "resnet-abc")) == {("team", "resnet")}
    assert store.apply("ADDED", pod("copy-abc-1", "resnet", "resnet-copy-abc")) == set()
    bare = pod("bare", "resnet", "resnet-abc")
    bare["metadata"].pop("ownerReferences")
    assert store.apply("ADDED", bare) == set()
    assert [p["metadata"]["name"] for p in store.get(("team", "resnet"))] == ["resnet-abc-1"]


def test_store_keeps_slimmed_objects_by_owner() -> None:
    store = Store()
    assert store.apply("ADDED", obj("a", "m1")) == {("team", "m1")}
    [kept] = store.get(("team", "m1"))
    assert kept["metadata"]["name"] == "a" and "managedFields" not in kept["metadata"]
    assert store.get(("team", "other")) == []
    assert store.apply("MODIFIED", obj("a", "m1", rv="2", spec={"replicas": 2})) == {("team", "m1")}
    assert [o["spec"] for o in store.get(("team", "m1"))] == [{"replicas": 2}]
    assert store.apply("DELETED", obj("a", "m1")) == {("team", "m1")}
    assert ("team", "m1") not in store and len(store) == 0


def test_store_follows_a_relabelled_object_and_ignores_unowned_ones() -> None:
    store = Store()
    store.apply("ADDED", obj("a", "m1"))
    assert store.apply("MODIFIED", obj("a", "m2", rv="2")) == {("team", "m1"), ("team", "m2")}
    assert store.get(("team", "m1")) == [] and len(store.get(("team", "m2"))) == 1
    assert store.apply("MODIFIED", obj("a", None, rv="3")) == {("team", "m2")}
    assert store.apply("ADDED", obj("b", None)) == set() and len(store) == 0
    assert store.apply("DELETED", obj("never-seen", "m1")) == set()
    assert store.apply("BOOKMARK", {"metadata": {"resourceVersion": "9"}}) == set()


def test_store_replace_reports_only_what_changed_within_its_namespace() -> None:
    store = Store()
    store.replace([obj("a", "m1"), obj("b", "m2"), obj("c", "m3"), obj("x", "m9", ns="other")])
    changed = store.replace([obj("a", "m1"), obj("b", "m2", rv="5"), obj("d", "m4")], namespace="team")
    # m1 unchanged, m2 modified, m3 gone, m4 new; the other namespace's objects are not this LIST's.
    assert changed == {("team", "m2"), ("team", "m3"), ("team", "m4")}
    assert store.get(("team", "m3")) == [] and len(store.get(("other", "m9"))) == 1
    assert store.replace([]) == {("team", "m1"), ("team", "m2"), ("team", "m4"), ("other", "m9")}
    assert len(store) == 0


def test_pods_keep_only_what_status_and_the_poller_read() -> None:
    pod = obj("p", "m1", spec={"nodeName": "n1", "containers": [{"image": "x"}]}, status={"phase": "Running"})
    pod["metadata"]["annotations"] = {"big": "x" * 1000}
    slimmed = slim_pod(pod)
    assert slimmed["spec"] == {"nodeName": "n1"} and slimmed["status"] == {"phase": "Running"}
    assert set(slimmed["metadata"]) == {"name", "namespace", "labels", "ownerReferences", "resourceVersion"}


def test_paths_are_cluster_wide_or_namespaced() -> None:
    assert PODS.path(None) == "/api/v1/pods"
    assert PODS.path("team") == "/api/v1/namespaces/team/pods"
    assert DEPLOYMENTS.path(None) == "/apis/apps/v1/deployments"
    assert DEPLOYMENTS.path("team") == "/apis/apps/v1/namespaces/team/deployments"
    # Every child kind of the registry is watched, but ScaledObjects only with KEDA (handlers.startup).
    assert {r.plural for r in CHILDREN} == {k.plural for k in CHILD_KINDS} - {"scaledobjects"}
    assert SCALED_OBJECTS.path("team") == "/apis/keda.sh/v1alpha1/namespaces/team/scaledobjects"


class FakeClient:
    """Answers LISTs page by page and WATCHes with scripted events; records every call."""

    def __init__(self, lists: list[list[dict[str, Any]]], watches: list[list[dict[str, Any]]]) -> None:
        self.lists = lists
        self.watches = watches
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.blocked = asyncio.Event()

    async def request(
        self, verb: str, method: str, path: str, resource: str, *, params: Mapping[str, str]
    ) -> dict[str, Any]:
        self.calls.append((verb, path, dict(params)))
        return self.lists[0].pop(0) if len(self.lists[0]) > 1 else self.lists.pop(0)[0]

    async def watch(
        self, path: str, resource: str, params: Mapping[str, str], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append(("watch", path, dict(params)))
        if not self.watches:
            self.blocked.set()
            await asyncio.Event().wait()  # a quiet watch, until the test cancels it
        for event in self.watches.pop(0):
            yield event


def page(items: list[dict[str, Any]], rv: str, cont: str | None = None) -> dict[str, Any]:
    meta = {"resourceVersion": rv, **({"continue": cont} if cont else {})}
    return {
        "items": [{k: v for k, v in i.items() if k not in ("apiVersion", "kind")} for i in items],
        "metadata": meta,
    }


def informer(client: FakeClient, changed: list[tuple[str, str]], ns: str | None = None) -> Informer:
    return Informer(cast(KubeClient, client), DEPLOYMENTS, Store(), changed.append, namespace=ns)


def test_list_pages_through_continue_and_fills_the_store() -> None:
    client = FakeClient([[page([obj("a", "m1")], "7", cont="tok"), page([obj("b", "m2")], "8")]], [])
    changed: list[tuple[str, str]] = []
    inf = informer(client, changed, ns="team")
    asyncio.run(inf.list())
    assert inf.synced.is_set() and inf.resource_version == "8"
    assert sorted(changed) == [("team", "m1"), ("team", "m2")]
    # LIST items come without apiVersion/kind; the store has them, as from a watch.
    assert inf.store.get(("team", "m1"))[0]["kind"] == "Deployment"
    [(_, path, first), (_, _, second)] = client.calls
    assert path == "/apis/apps/v1/namespaces/team/deployments"
    assert first["labelSelector"] == "app.kubernetes.io/managed-by=modeldeploy" and "continue" not in first
    assert second["continue"] == "tok"


def test_watch_events_update_the_store_and_the_resource_version() -> None:
    changed: list[tuple[str, str]] = []
    inf = informer(FakeClient([], []), changed)
    inf.handle({"type": "ADDED", "object": obj("a", "m1", rv="11")})
    inf.handle({"type": "BOOKMARK", "object": {"kind": "Deployment", "metadata": {"resourceVersion": "15"}}})
    assert inf.resource_version == "15" and changed == [("team", "m1")]
    inf.handle({"type": "DELETED", "object": obj("a", "m1", rv="16")})
    assert changed == [("team", "m1"), ("team", "m1")] and inf.store.get(("team", "m1")) == []
    with pytest.raises(Gone):
        inf.handle({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}})
    with pytest.raises(RuntimeError, match="boom"):
        inf.handle({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "boom"}})


def test_run_relists_after_410_gone_and_watches_from_the_new_version() -> None:
    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410}}
    client = FakeClient(
        [[page([obj("a", "m1"), obj("b", "m2")], "10")], [page([obj("a", "m1", rv="12")], "20")]],
        [[gone], [{"type": "ADDED", "object": obj("c", "m3", rv="21")}]],
    )
    changed: list[tuple[str, str]] = []
    inf = informer(client, changed)

    async def go() -> None:
        task = asyncio.create_task(inf.run())
        await asyncio.wait_for(client.blocked.wait(), 5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())
    watches = [params for verb, _, params in client.calls if verb == "watch"]
    assert [w["resourceVersion"] for w in watches] == ["10", "20", "21"]
    assert all(w["allowWatchBookmarks"] == "true" and w["labelSelector"] for w in watches)
    # The re-list dropped b (deleted while we were gone) and saw a's change.
    assert (
        inf.store.get(("team", "m2")) == []
        and inf.store.get(("team", "m1"))[0]["metadata"]["resourceVersion"] == "12"
    )
    assert changed.count(("team", "m2")) == 2 and ("team", "m3") in changed


def test_a_kind_the_server_does_not_serve_counts_as_synced_and_empty() -> None:
    """KEDA's CRD missing while the operator is configured for KEDA: every other model must still be
    reconciled, so the ScaledObject cache is complete (there are none) and the informer keeps asking."""

    class NotServed(FakeClient):
        async def request(
            self, verb: str, method: str, path: str, resource: str, *, params: Mapping[str, str]
        ) -> dict[str, Any]:
            self.calls.append((verb, path, dict(params)))
            if len([c for c in self.calls if c[0] == "list"]) >= 2:
                self.blocked.set()
            raise ApiError(404, verb, path, "404 page not found")

    async def go() -> None:
        client = NotServed([], [])
        inf = Informer(cast(KubeClient, client), SCALED_OBJECTS, Store(), lambda key: None)
        task = asyncio.create_task(inf.run())
        await asyncio.wait_for(inf.synced.wait(), 5)
        assert inf.store.get(("team", "m1")) == []
        await asyncio.wait_for(client.blocked.wait(), 10)  # it lists again after its back-off
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_informers_sync_only_after_every_list_and_feed_the_controller_caches() -> None:
    def listing(resource: str, path: str) -> dict[str, Any]:
        namespace = path.split("/namespaces/")[1].split("/")[0]
        return page([obj("m1", "m1", ns=namespace)] if resource == "deployments" else [], "1")

    class PerResource(FakeClient):
        async def request(
            self, verb: str, method: str, path: str, resource: str, *, params: Mapping[str, str]
        ) -> dict[str, Any]:
            self.calls.append((verb, path, dict(params)))
            if resource == "pods":
                await release.wait()  # the pods LIST is slow
            return listing(resource, path)

    release = asyncio.Event()
    changed: list[tuple[str, str]] = []

    async def go() -> None:
        client = PerResource([], [])
        informers = Informers(cast(KubeClient, client), changed.append, namespaces=("a", "b"))
        informers.start()
        others = [i.synced.wait() for i in informers._informers if i.resource.plural != "pods"]
        await asyncio.wait_for(asyncio.gather(*others), 5)
        assert not informers.synced.is_set()
        release.set()
        await asyncio.wait_for(informers.synced.wait(), 5)
        lists = {path for verb, path, _ in client.calls if verb == "list"}
        # Every watched child kind and the pods, in each of the 2 namespaces.
        assert len(lists) == 2 * (len(CHILDREN) + 1) and "/api/v1/namespaces/b/pods" in lists
        caches = Caches(children=informers.children, pods=informers.pods)
        assert caches.children_of(("a", "m1")).objects[("apps/v1", "Deployment")]["metadata"]["name"] == "m1"
        assert sorted(changed) == [("a", "m1"), ("b", "m1")]
        await informers.stop()

    asyncio.run(go())


def test_cached_objects_share_their_keys_and_short_strings() -> None:
    text = json.dumps(
        {"metadata": {"name": "m", "managedFields": [{"manager": "x"}]}, "spec": {"protocol": "TCP"}}
    )
    first, second = slim(json.loads(text)), slim(json.loads(text))
    assert first == {"metadata": {"name": "m"}, "spec": {"protocol": "TCP"}}  # same values, no managedFields
    assert first["spec"]["protocol"] is second["spec"]["protocol"]
    (key_1,), (key_2,) = first["spec"].keys(), second["spec"].keys()
    assert key_1 is key_2
    long = "x" * 1000
    assert compact({"a": [long]}) == {"a": [long]}
