"""The bad-input corpus (tests/bad_inputs/) against the real API server and the session operator: every
case is rejected naming its field, or accepted and marked Degraded/InvalidSpec naming its field (or, for a
few hostile-but-harmless inputs, passed on literally); a healthy model beside them keeps serving and the
operator keeps running. Counts are printed and written to <tmp>/bad-input-counts.json."""

from __future__ import annotations

import collections
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.operator_process import OperatorProcess
from tests.support.conditions import condition, status_of
from tests.support.kubectl import Kube
from tests.support.manifests import model_deployment
from tests.support.waits import wait_for

CORPUS = Path(__file__).resolve().parents[1] / "bad_inputs"
MD_LABEL = "serving.modeldeploy.io/model-deployment"


def _expand(value: Any) -> Any:
    if isinstance(value, dict):
        return {_expand(k): _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, str):
        args = re.fullmatch(r"<<ARGS:(\d+)>>", value)
        if args:
            return [f"--flag{i}=1" for i in range(int(args.group(1)))]
        return re.sub(r"<<REPEAT:(.):(\d+)>>", lambda m: m.group(1) * int(m.group(2)), value)
    return value


def load_cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        loaded = yaml.safe_load(path.read_text())
        cases.extend(loaded if isinstance(loaded, list) else [loaded])
    return [_expand(c) for c in cases]


def manifest(case: dict[str, Any], index: int, namespace: str) -> dict[str, Any]:
    spec = copy.deepcopy(case["spec"])
    model = spec.setdefault("model", {})
    if isinstance(model, dict) and "uri" not in model and case["case"] != "uri-missing":
        model["uri"] = "gs://bucket/models/m"
    obj = model_deployment(case.get("name", f"bad-{index:02d}"), namespace)
    obj["spec"] = spec
    if "labels" in case:
        obj["metadata"]["labels"] = case["labels"]
    return obj


def invalid_condition(md: dict[str, Any] | None) -> dict[str, Any] | None:
    degraded = condition(status_of(md), "Degraded")
    return degraded if degraded.get("reason") == "InvalidSpec" else None


def test_corpus_is_big_and_well_formed() -> None:
    cases = load_cases()
    assert len(cases) >= 40
    assert len({c["case"] for c in cases}) == len(cases), "case names must be unique"
    for case in cases:
        assert case["expect"] in {"rejected", "degraded", "inert"}, case
        assert case.get("field") or case["expect"] == "inert", case


def test_every_bad_input_is_rejected_or_degraded_and_the_healthy_model_keeps_serving(
    kube: Kube, operator: OperatorProcess, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cases = load_cases()
    # A healthy model first: it must keep serving through everything below.
    kube.apply(model_deployment("healthy", namespace, uri="gs://bucket/models/healthy", replicas=2))

    def healthy_ready() -> dict[str, Any] | None:
        md = kube.get("md", "healthy", namespace) or {}
        status = md.get("status") or {}
        return md if status.get("phase") == "Ready" and status.get("readyReplicas") == 2 else None

    wait_for(healthy_ready, 120, what="the healthy model Ready")
    pods_before = {p["metadata"]["uid"] for p in kube.list("pods", namespace, f"{MD_LABEL}=healthy")}
    deployment_before = kube.get("deployment", "healthy", namespace)
    assert deployment_before is not None and len(pods_before) == 2

    outcomes: dict[str, str] = {}
    failures: list[str] = []
    accepted: list[tuple[dict[str, Any], str]] = []
    for index, case in enumerate(cases):
        obj = manifest(case, index, namespace)
        result = kube.run("apply", "-f", "-", input=json.dumps(obj), check=False)
        if result.returncode != 0:
            outcomes[case["case"]] = "rejected"
            if case["expect"] != "rejected":
                failures.append(f"{case['case']}: rejected, expected {case['expect']}: {result.stderr}")
            elif case["field"] not in result.stderr:
                failures.append(f"{case['case']}: message does not name {case['field']}: {result.stderr}")
            continue
        accepted.append((case, obj["metadata"]["name"]))
        if case["expect"] == "rejected":
            outcomes[case["case"]] = "accepted"
            failures.append(
                f"{case['case']}: accepted by the API server, expected a rejection naming {case['field']}"
            )

    for case, name in accepted:
        if case["expect"] == "rejected":
            continue

        def settled(name: str = name) -> dict[str, Any] | None:
            md = kube.get("md", name, namespace) or {}
            status = md.get("status") or {}
            done = status.get("observedGeneration") == md.get("metadata", {}).get("generation")
            return md if done and status.get("phase") else None

        md = wait_for(settled, 120, what=f"a status for {case['case']}")
        invalid = invalid_condition(md)
        if case["expect"] == "degraded":
            outcomes[case["case"]] = "degraded" if invalid else f"phase {md['status']['phase']}"
            if invalid is None:
                failures.append(f"{case['case']}: not Degraded/InvalidSpec: {md['status']}")
            elif case["field"] not in invalid["message"]:
                failures.append(f"{case['case']}: condition does not name {case['field']}: {invalid}")
            elif md["status"]["phase"] not in {"Degraded", "Failed"}:
                failures.append(f"{case['case']}: phase {md['status']['phase']}, expected Degraded/Failed")
            # An invalid spec deploys nothing.
            if kube.get("deployment", name, namespace) is not None:
                failures.append(f"{case['case']}: a Deployment was created for an invalid spec")
        else:
            outcomes[case["case"]] = "inert" if invalid is None else "degraded"
            failures.extend(check_inert(kube, case, name, namespace))

    counts = collections.Counter(outcomes.values())
    report = {"total": len(cases), "counts": dict(counts), "cases": outcomes}
    print(f"\n[bad-input] {len(cases)} cases: {dict(counts)}")
    (tmp_path_factory.mktemp("bad-input") / "bad-input-counts.json").write_text(json.dumps(report, indent=2))

    # The healthy model never stopped: same pods, still Ready, its Deployment untouched.
    md = healthy_ready()
    assert md is not None, kube.get("md", "healthy", namespace)
    assert {p["metadata"]["uid"] for p in kube.list("pods", namespace, f"{MD_LABEL}=healthy")} == pods_before
    deployment_after = kube.get("deployment", "healthy", namespace)
    assert deployment_after is not None
    assert deployment_after["metadata"]["generation"] == deployment_before["metadata"]["generation"]
    assert operator.component.running, operator.log_tail()
    assert operator.healthy()
    assert not failures, "\n".join(failures)


def check_inert(kube: Kube, case: dict[str, Any], name: str, namespace: str) -> list[str]:
    """Hostile-but-harmless input: deployed, and the hostile text reaches its target literally only."""
    problems: list[str] = []
    deployment = wait_for(lambda: kube.get("deployment", name, namespace), 60, what=f"deployment {name}")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if case["check"] == "no-shell":
        # Arguments go to TF Serving's own argv: no shell ever sees them.
        command = container.get("command") or []
        if any(c.endswith("sh") or c == "-c" for c in command):
            problems.append(f"{case['case']}: container runs a shell: {command}")
        if case["spec"]["runtime"]["args"][0] not in (container.get("args") or []):
            problems.append(f"{case['case']}: the arg was not passed literally: {container.get('args')}")
    elif case["check"] == "one-model-config":
        config = kube.get("configmap", f"{name}-tfserving", namespace) or {}
        text = (config.get("data") or {}).get("models.config", "")
        if text.count("config {") != 1 or 'name: "evil"' in text:
            problems.append(f"{case['case']}: models.config was broken open:\n{text}")
    else:
        problems.append(f"{case['case']}: unknown check {case['check']}")
    return problems
