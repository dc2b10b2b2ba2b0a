"""The pure parts of the kube layer: REST paths from the kind registry, and the API server's errors."""

from __future__ import annotations

import json

import pytest

from modeldeploy.api import API_KINDS, CHILD_KINDS, MD_API_VERSION, MD_KIND
from modeldeploy.kube import RESOURCES, ApiError, Credentials, _ssl_context, object_path


def test_every_kind_in_the_registry_has_a_path() -> None:
    assert set(RESOURCES) == {kind.key for kind in API_KINDS}
    for kind in CHILD_KINDS:
        assert object_path(kind.api_version, kind.kind, "ns").endswith(f"/namespaces/ns/{kind.plural}")


def test_core_kinds_live_under_api_v1_and_the_others_under_apis() -> None:
    assert object_path("v1", "ConfigMap", "team", "a") == "/api/v1/namespaces/team/configmaps/a"
    assert object_path("apps/v1", "Deployment", "team") == "/apis/apps/v1/namespaces/team/deployments"
    assert (
        object_path(MD_API_VERSION, MD_KIND, "team", "m")
        == "/apis/serving.modeldeploy.io/v1alpha1/namespaces/team/modeldeployments/m"
    )


def test_a_kind_outside_the_registry_is_refused_rather_than_guessed() -> None:
    with pytest.raises(KeyError):
        object_path("v1", "Secret", "team", "token")


def status_body(message: str, **details: object) -> str:
    return json.dumps({"kind": "Status", "message": message, "details": details})


def test_an_api_error_carries_the_servers_message_and_field_causes() -> None:
    causes = [
        {"field": "spec.template.spec.tolerations[0].effect", "message": "Unsupported value", "reason": "x"}
    ]
    error = ApiError(422, "apply", "/apis/apps/v1/x", status_body("Deployment is invalid", causes=causes))
    assert error.reason == "Deployment is invalid"
    assert error.causes == causes
    assert str(error) == "apply /apis/apps/v1/x failed with HTTP 422: Deployment is invalid"
    assert not error.uid_mismatch and not error.namespace_terminating


def test_a_body_that_is_not_json_is_kept_short() -> None:
    error = ApiError(502, "get", "/x", "<html>" + "x" * 1000)
    assert error.reason.startswith("<html>") and len(error.reason) == 500
    assert error.causes == []


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (409, status_body("Operation cannot be fulfilled: Precondition failed: UID in precondition: a")),
        (422, status_body("invalid", causes=[{"field": "metadata.uid", "message": "field is immutable"}])),
    ],
)
def test_a_write_naming_another_objects_uid_is_recognised(status: int, body: str) -> None:
    assert ApiError(status, "apply", "/x", body).uid_mismatch


def test_a_namespace_under_deletion_is_recognised_only_on_its_403() -> None:
    message = (
        'configmaps "a" is forbidden: unable to create new content in namespace t because it is being '
        "terminated"
    )
    assert ApiError(403, "apply", "/x", status_body(message)).namespace_terminating
    assert not ApiError(403, "apply", "/x", status_body("forbidden: RBAC")).namespace_terminating
    assert not ApiError(409, "apply", "/x", status_body(message)).namespace_terminating


def test_insecure_credentials_turn_tls_verification_off() -> None:
    assert _ssl_context(Credentials(server="https://127.0.0.1:6443", insecure=True)) is False
