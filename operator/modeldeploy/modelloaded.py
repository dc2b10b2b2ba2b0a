"""The ModelLoaded condition: what TF Serving itself says about the model (see modelstate)."""

from __future__ import annotations

from modeldeploy import reasons
from modeldeploy.conditions import Condition
from modeldeploy.objects import integer
from modeldeploy.observed import Observed
from modeldeploy.poddiagnosis import live_pods, loading_pods, pod_condition
from modeldeploy.reasons import ConditionType

_LOADING_STATES = frozenset({"START", "LOADING"})


def model_loaded_condition(o: Observed, model: str, uri: str) -> Condition | None:
    """What TF Serving itself says about the model; None when no pod runs it yet."""
    t = ConditionType.MODEL_LOADED
    if o.model_versions is None:
        if o.model_status_error is None:
            return _initial_load(o, model, uri)
        message = f"Cannot read the state of model {model} from TF Serving: {o.model_status_error}."
        return Condition(t, None, reasons.MODEL_STATUS_UNKNOWN, message)
    versions = {integer(v.get("version")): str(v.get("state") or "") for v in o.model_versions}
    failed = [v for v in o.model_versions if v.get("error")]
    if failed:
        v = failed[0]
        message = f"TF Serving failed to load model {model} version {v.get('version')}: {v.get('error')}"
        return Condition(t, False, reasons.MODEL_LOAD_FAILED, message)
    # A waiting label names what the user changed; it comes before the version loading behind it.
    waiting = [label for label in o.model_labels or () if label.get("state") != "AVAILABLE"]
    if waiting:
        parts = []
        for label in waiting:
            applied = label.get("appliedVersion")
            keep = (
                f"it keeps pointing at version {applied}"
                if applied is not None
                else "it is left out of the model config"
            )
            state = label.get("state") or "NOT_LOADED"
            hint = (
                f" (TF Serving has not loaded it: check that spec.model.versionPolicy loads version "
                f"{label.get('version')} and that {uri}/{label.get('version')} exists)"
                if state == "NOT_LOADED"
                else ""
            )
            parts.append(
                f"label {label.get('name')} waits for version {label.get('version')} ({state}){hint}; {keep} "
                "until that version is AVAILABLE"
            )
        return Condition(t, False, reasons.LABEL_WAITING, f"Model {model}: " + "; ".join(parts) + ".")
    loading = sorted(n for n, state in versions.items() if state in _LOADING_STATES)
    if loading:
        listed = ", ".join(f"{n} ({versions[n]})" for n in loading)
        return Condition(
            t, False, reasons.MODEL_LOADING, f"TF Serving is loading model {model} version {listed}."
        )
    missing = [n for n in o.expected_versions if versions.get(n) != "AVAILABLE"]
    if missing:
        listed = ", ".join(f"{n} ({versions.get(n) or 'not loaded yet'})" for n in missing)
        message = (
            f"Model {model}: version(s) listed in spec.model.versionPolicy.specific not AVAILABLE: {listed}. "
            f"TF Serving loads a listed version once its directory exists (e.g. {uri}/{missing[0]})."
        )
        return Condition(t, False, reasons.MODEL_LOADING, message)
    available = sorted(n for n, state in versions.items() if state == "AVAILABLE")
    if not available:
        message = f"TF Serving has no AVAILABLE version of model {model} yet."
        return Condition(t, False, reasons.MODEL_LOADING, message)
    labels = ", ".join(f"{label.get('name')}->{label.get('version')}" for label in o.model_labels or ())
    message = f"TF Serving serves model {model} version(s) {', '.join(map(str, available))}" + (
        f"; labels {labels}." if labels else "."
    )
    return Condition(t, True, reasons.MODEL_AVAILABLE, message)


def _initial_load(o: Observed, model: str, uri: str) -> Condition | None:
    """No pod is ready, but TF Serving runs in some: it opens its ports only after the initial load
    (server_core.cc waits until every version the policy names is loaded or has failed), and a base path
    holding none of those versions keeps it waiting for good."""
    loading = loading_pods(o.pods)
    if not loading or any(pod_condition(p, "Ready") for p in live_pods(o.pods)):
        return None
    message = (
        f"TF Serving in {loading} pod(s) has not finished loading model {model}: it serves only once every "
        f"version spec.model.versionPolicy names is loaded or failed, and waits as long as {uri} holds none "
        f"of them. A large model takes a while; if this lasts, check that {uri} holds numeric version "
        f"directories (1/, 2/, ...) with the versions the policy names."
    )
    return Condition(ConditionType.MODEL_LOADED, False, reasons.MODEL_LOADING, message)
