"""The status patch: recomputing with nothing new changes nothing, transition times move only on a change,
keys the operator does not own are left alone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modeldeploy.statuspatch import status_changed, status_patch
from tests.support.conditions import condition
from tests.support.status_scenarios import (
    LATER,
    LATER_TEXT,
    NOW_TEXT,
    make_deployment,
    make_md,
    make_pod,
    run,
)

# --- idempotence and transition times --------------------------------------------------------------------


def test_recomputing_with_nothing_new_changes_nothing() -> None:
    first = run()
    second = run(make_md(status=first), now=LATER)
    assert second == first
    assert not status_changed(first, second)
    assert status_patch(first, second) == {}


def test_last_transition_time_kept_while_status_unchanged_even_if_reason_changes() -> None:
    loading = run(deployment=make_deployment(ready=0, available=0), pods=[make_pod(ready=False)])
    rolling = run(make_md(status=loading), now=LATER, deployment=make_deployment(ready=1, available=1))
    ready = condition(rolling, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] != condition(loading, "Ready")["reason"]
    assert ready["lastTransitionTime"] == NOW_TEXT


def test_last_transition_time_moves_when_status_flips() -> None:
    pending = run(deployment=None)
    ready = run(make_md(status=pending), now=LATER)
    assert condition(ready, "Ready")["lastTransitionTime"] == LATER_TEXT
    assert condition(ready, "Degraded")["lastTransitionTime"] == NOW_TEXT  # False before and after
    assert status_changed(pending, ready)


def test_new_generation_is_a_change() -> None:
    first = run()
    second = run(make_md(generation=2, status=first), now=LATER)
    assert status_changed(first, second)
    assert status_patch(first, second)["observedGeneration"] == 2


def test_keys_the_operator_does_not_own_are_ignored() -> None:
    first = run()
    stored = {**first, "kopf": {"progress": {}}}
    assert not status_changed(stored, run(make_md(status=stored), now=LATER))


def test_removed_fields_are_deleted_by_the_patch() -> None:
    with_gpu = run(gpu_summary="1x nvidia-l4", model_versions=[{"version": 1, "state": "AVAILABLE"}])
    without = run(make_md(status=with_gpu), now=LATER)
    assert status_changed(with_gpu, without)
    patch = status_patch(with_gpu, without)
    assert patch["gpu"] is None
    assert patch["model"] == {"versions": None}
    # Without TF Serving's answer the ModelLoaded condition goes too; the others stay as they were.
    kept = ["Ready", "Available", "Progressing", "Degraded", "Reconciling", "Stalled"]
    assert [c["type"] for c in patch["conditions"]] == kept
    assert patch["conditions"] == with_gpu["conditions"][:6]


def test_status_changed_against_an_empty_status() -> None:
    assert status_changed(None, run())
    assert status_changed({}, run())


def test_naive_now_is_taken_as_utc() -> None:
    status = run(now=datetime(2025, 1, 1, 12, 0, 0))
    assert condition(status, "Ready")["lastTransitionTime"] == NOW_TEXT


def test_other_time_zones_are_converted_to_utc() -> None:
    status = run(now=datetime(2025, 1, 1, 13, 0, 0, tzinfo=timezone(timedelta(hours=1))))
    assert condition(status, "Ready")["lastTransitionTime"] == NOW_TEXT
