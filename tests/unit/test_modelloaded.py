"""ModelLoaded: what TF Serving itself reports (issue 5), and what it does to Ready and Degraded."""

from __future__ import annotations

import yaml

from modeldeploy import reasons
from modeldeploy.reasons import Phase
from modeldeploy.status import Observed, compute_status
from tests.support.conditions import condition
from tests.support.crd_schema import CRD_PATH
from tests.support.status_scenarios import (
    NOW,
    assert_fits_schema,
    make_md,
    run,
)

# --- ModelLoaded: what TF Serving itself reports (issue 5) ------------------------------------------------


def test_model_loaded_is_absent_until_tf_serving_was_asked() -> None:
    assert all(c["type"] != "ModelLoaded" for c in run()["conditions"])


def test_model_loaded_true_when_the_versions_are_available() -> None:
    versions = [{"version": 3, "state": "AVAILABLE", "labels": ["stable"]}]
    labels = [{"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3}]
    status = run(model_versions=versions, model_labels=labels, expected_versions=(3,))
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("True", reasons.MODEL_AVAILABLE)
    assert "version(s) 3" in loaded["message"] and "stable->3" in loaded["message"]
    assert status["model"]["labels"] == labels
    assert status["phase"] == Phase.READY


def test_model_loaded_false_while_a_version_loads() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}, {"version": 4, "state": "LOADING"}]
    loaded = condition(run(model_versions=versions), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "version 4 (LOADING)" in loaded["message"]


def test_no_available_version_is_model_loading() -> None:
    loaded = condition(run(model_versions=[]), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)


def test_specific_version_not_reported_yet_is_model_loading() -> None:
    versions = [{"version": 3, "state": "AVAILABLE"}]
    loaded = condition(run(model_versions=versions, expected_versions=(3, 4)), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOADING)
    assert "4 (not loaded yet)" in loaded["message"]


def test_label_waiting_for_its_version_names_label_and_versions() -> None:
    versions = [
        {"version": 3, "state": "AVAILABLE", "labels": ["canary", "stable"]},
        {"version": 4, "state": "END"},
    ]
    labels = [
        {"name": "canary", "version": 4, "state": "END", "appliedVersion": 3},
        {"name": "stable", "version": 3, "state": "AVAILABLE", "appliedVersion": 3},
    ]
    loaded = condition(run(model_versions=versions, model_labels=labels), "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.LABEL_WAITING)
    assert "label canary waits for version 4 (END)" in loaded["message"]
    assert "keeps pointing at version 3" in loaded["message"]


def test_failed_load_is_model_load_failed_in_model_loaded_and_degraded() -> None:
    error = "NOT_FOUND: Could not find SavedModel .pb or .pbtxt at supplied export directory path"
    versions = [{"version": 5, "state": "END", "error": error}]
    status = run(model_versions=versions)
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("False", reasons.MODEL_LOAD_FAILED)
    assert error in loaded["message"]
    degraded = condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", reasons.MODEL_LOAD_FAILED)
    assert error in degraded["message"]
    assert status["phase"] == Phase.DEGRADED


def test_tf_serving_answer_that_is_not_a_status_is_model_loaded_unknown() -> None:
    status = run(
        model_status_error="TF Serving at http://resnet.vision.svc:8501/v1/models/resnet answered HTTP 503"
    )
    loaded = condition(status, "ModelLoaded")
    assert (loaded["status"], loaded["reason"]) == ("Unknown", reasons.MODEL_STATUS_UNKNOWN)
    assert "answered HTTP 503" in loaded["message"]
    assert "versions" not in status["model"]
    assert status["phase"] == Phase.READY  # the pods' readiness probes still tell the truth about serving


def test_model_labels_fit_the_crd() -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    labels = [{"name": "canary", "version": 4, "state": "LOADING", "appliedVersion": 3}]
    versions = [{"version": 3, "state": "AVAILABLE", "labels": ["canary"]}]
    assert_fits_schema(run(model_versions=versions, model_labels=labels), schema, "status")


def test_a_huge_apply_error_still_fits_the_condition_message_limit() -> None:
    # The CRD caps condition messages at 32768 characters; one over the cap would make the status
    # patch itself fail and leave the status empty.
    error = "spec.template.spec.containers[0].env[0].value: Too long: " + "x" * 200_000
    status = compute_status(make_md(), Observed(deployment=None, apply_error=error), NOW)
    for each in status["conditions"]:
        assert len(each["message"]) <= 32768
    degraded = condition(status, "Degraded")
    assert "spec.template.spec.containers[0].env[0].value: Too long" in degraded["message"]
