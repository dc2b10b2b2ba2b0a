"""Kopf registration only: watches feed the controller's caches and queue; no logic lives here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from modeldeploy.config import OperatorConfig
from modeldeploy.controller import MANAGED_BY_LABEL, MD_LABEL, Controller
from modeldeploy.kube import FIELD_MANAGER, KubeClient, credentials_from_kopf

GROUP = "serving.modeldeploy.io"
VERSION = "v1alpha1"
MANAGED = {MANAGED_BY_LABEL: FIELD_MANAGER}

# Children by (group, version, plural) -> the (apiVersion, kind) the reconciler knows them by.
CHILD_RESOURCES: dict[tuple[str, str, str], tuple[str, str]] = {
    ("", "v1", "configmaps"): ("v1", "ConfigMap"),
    ("", "v1", "services"): ("v1", "Service"),
    ("apps", "v1", "deployments"): ("apps/v1", "Deployment"),
    ("autoscaling", "v2", "horizontalpodautoscalers"): ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "poddisruptionbudgets"): ("policy/v1", "PodDisruptionBudget"),
}


class Runtime:
    """What the handlers share: set by `configure` before Kopf starts."""

    config: OperatorConfig | None = None
    workers: int = 8
    controller: Controller | None = None
    credentials: Any = None


def configure(config: OperatorConfig, workers: int) -> None:
    Runtime.config = config
    Runtime.workers = workers


def _controller() -> Controller:
    assert Runtime.controller is not None, "the operator's start-up handler has not run"
    return Runtime.controller


def _slim(body: Mapping[str, Any]) -> dict[str, Any]:
    # managedFields are most of an object's size and the reconciler never reads them.
    obj = dict(body)
    obj["metadata"] = {k: v for k, v in body["metadata"].items() if k != "managedFields"}
    return obj


@kopf.on.login()
def login(**kwargs: Any) -> Any:
    # Kopf and our client use the same identity; start-up (which runs first) already logged in.
    if Runtime.credentials is None:
        Runtime.credentials = kopf.login_via_client(**kwargs)
    return Runtime.credentials


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    assert Runtime.config is not None
    # Our own Events describe what changed; Kopf's per-handler events would be noise and extra writes.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    selector = f"{MANAGED_BY_LABEL}={FIELD_MANAGER}"
    for _group, _version, plural in [*CHILD_RESOURCES, ("", "v1", "pods")]:
        settings.watching.label_selectors[plural] = selector
    if Runtime.credentials is None:
        Runtime.credentials = kopf.login_via_client(settings=settings, **kwargs)
    client = KubeClient(credentials_from_kopf(Runtime.credentials), pool_size=max(8, Runtime.workers * 2))
    Runtime.controller = Controller(config=Runtime.config, client=client, workers=Runtime.workers)
    Runtime.controller.start()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if Runtime.controller is not None:
        await Runtime.controller.stop()


@kopf.on.probe(id="workqueue")
def queue_depth(**_: Any) -> int:
    return len(_controller().queue) if Runtime.controller else 0


def _owner_key(namespace: str | None, labels: Mapping[str, str]) -> tuple[str, str] | None:
    owner = labels.get(MD_LABEL)
    return (namespace, owner) if namespace and owner else None


def _register_child(group: str, version: str, plural: str, kind_key: tuple[str, str]) -> None:
    index_id = f"children_{plural}"

    def index(namespace: str | None, labels: Mapping[str, str], body: Any, **_: Any) -> Any:
        key = _owner_key(namespace, labels)
        return {key: _slim(body)} if key else None

    def changed(namespace: str | None, labels: Mapping[str, str], **kwargs: Any) -> None:
        controller = _controller()
        controller.caches.children.setdefault(kind_key, kwargs[index_id])
        key = _owner_key(namespace, labels)
        if key is not None:
            controller.child_changed(key)

    index.__name__ = index_id
    kopf.index(group, version, plural, labels=MANAGED, id=index_id)(index)
    kopf.on.event(group, version, plural, labels=MANAGED, id=f"changed_{plural}")(changed)


for (_group, _version, _plural), _kind in CHILD_RESOURCES.items():
    _register_child(_group, _version, _plural, _kind)


@kopf.index("", "v1", "pods", labels=MANAGED)
def model_pods(namespace: str | None, labels: Mapping[str, str], body: Any, **_: Any) -> Any:
    key = _owner_key(namespace, labels)
    return {key: _slim(body)} if key else None


@kopf.on.event("", "v1", "pods", labels=MANAGED)
def pod_changed(**kwargs: Any) -> None:
    controller = _controller()
    controller.caches.pods = kwargs["model_pods"]
    key = _owner_key(kwargs["namespace"], kwargs["labels"])
    if key is not None:
        controller.child_changed(key)


@kopf.on.event(GROUP, VERSION, "modeldeployments")
def model_changed(**kwargs: Any) -> None:
    controller = _controller()
    # Kopf passes its indexes to every handler; the controller keeps live references to them.
    controller.caches.pods = kwargs["model_pods"]
    for (_g, _v, plural), kind_key in CHILD_RESOURCES.items():
        controller.caches.children.setdefault(kind_key, kwargs[f"children_{plural}"])
    key = (kwargs["namespace"], kwargs["name"])
    controller.model_changed(key, None if kwargs["type"] == "DELETED" else _slim(kwargs["body"]))
