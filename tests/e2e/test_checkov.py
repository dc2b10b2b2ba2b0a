"""checkov, the ecosystem's Kubernetes checker, on everything users install or the operator creates: the
kustomize base, the chart rendered with its default values and with each ci/*-values.yaml, and every
sample's children as `modeldeploy render` prints them. A finding that is neither fixed nor skipped with a
reason fails the test.

Findings that do not apply are skipped inline: `checkov.io/skipN: CHECK=reason` annotations on the
operator's Deployment in the chart and the kustomize base. The operator's children carry no checkov
annotations (they are the user's objects); the two checks that a user decides by pinning a digest in
spec.runtime.image are skipped below, with their reasons, for samples that pin none, and every sample is
scanned pinned by digest too, where nothing may be skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster.binaries import bin_dir, kubectl_path
from tests.support.paths import CHART, MANIFESTS, ROOT, SAMPLES

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"  # its own virtualenv: see requirements-checkov.txt
DIGEST = "sha256:" + "0" * 64  # never pulled: checkov reads the manifests only
# The user decides these for their models through spec.runtime.image (a digest satisfies both).
RENDERED_SKIPS = {
    "CKV_K8S_15": "tag-pinned sample: IfNotPresent keeps pod starts off the registry; a digest pins it",
    "CKV_K8S_43": "the sample names a tag for readability; spec.runtime.image accepts repository@sha256:...",
}
# Every skip in the installable manifests, by check: adding one is a reviewed change to this list.
INSTALL_SKIPS = {"CKV_K8S_11", "CKV_K8S_15", "CKV_K8S_38", "CKV_K8S_43"}


def run(*argv: str) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr}"
    return result.stdout


def helm_template(*values: Path) -> str:
    options = [arg for v in values for arg in ("-f", str(v))]
    return run(
        str(bin_dir() / "helm"), "template", "modeldeploy", str(CHART), "-n", "modeldeploy-system", *options
    )


def render(model: dict[str, Any], tmp_path: Path, name: str) -> list[dict[str, Any]]:
    source = tmp_path / f"{name}.source.yaml"
    source.write_text(yaml.safe_dump(model))
    text = run(sys.executable, "-m", "modeldeploy.cli", "render", "-f", str(source))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def with_skips(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for child in children:
        if child["kind"] == "Deployment":
            image = child["spec"]["template"]["spec"]["containers"][0]["image"]
            if "@sha256:" not in image:
                notes = child["metadata"].setdefault("annotations", {})
                for i, (check, reason) in enumerate(RENDERED_SKIPS.items(), start=1):
                    notes[f"checkov.io/skip{i}"] = f"{check}={reason}"
    return children


def sample_models() -> list[dict[str, Any]]:
    docs = [d for p in sorted(SAMPLES.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    return [d for d in docs if d["kind"] == "ModelDeployment"]


def pinned(model: dict[str, Any]) -> dict[str, Any]:
    copy = json.loads(json.dumps(model))
    runtime = copy["spec"].setdefault("runtime", {})
    runtime["image"] = f"{runtime.get('image', 'tensorflow/serving')}@{DIGEST}"
    return copy


def checkov(directory: Path) -> dict[str, Any]:
    out = run(
        str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--compact",
        "--skip-download", "--soft-fail", "--output", "json",
    )  # fmt: skip
    report = json.loads(out)
    # One framework gives one report object; an empty directory gives a bare summary.
    assert isinstance(report, dict) and "results" in report, out[:2000]
    return report


def findings(report: dict[str, Any]) -> list[str]:
    return [
        f"{c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}"
        for c in report["results"].get("failed_checks", [])
    ]


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    assert os.access(CHECKOV, os.X_OK), f"{CHECKOV} missing: run make venv"
    out = tmp_path_factory.mktemp("checkov")
    (out / "kustomize.yaml").write_text(run(str(kubectl_path()), "kustomize", str(MANIFESTS)))
    (out / "helm-default.yaml").write_text(helm_template())
    for values in sorted((CHART / "ci").glob("*-values.yaml")):
        (out / f"helm-{values.stem}.yaml").write_text(helm_template(values))
    for model in sample_models():
        name = model["metadata"]["name"]
        (out / f"render-{name}.yaml").write_text(yaml.safe_dump_all(with_skips(render(model, out, name))))
        pinned_children = render(pinned(model), out, f"{name}-pinned")
        (out / f"render-{name}-pinned.yaml").write_text(yaml.safe_dump_all(pinned_children))
    for source in out.glob("*.source.yaml"):
        source.unlink()
    return checkov(out)


def test_no_finding_is_left_unexplained(scanned: dict[str, Any]) -> None:
    assert findings(scanned) == []


def test_every_skip_is_listed_and_has_a_reason(scanned: dict[str, Any]) -> None:
    skipped = scanned["results"].get("skipped_checks", [])
    for check in skipped:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.split()) >= 5, f"{check['check_id']} in {check['file_path']} has no reason"
        if check["file_path"].startswith("/render-"):
            assert "-pinned" not in check["file_path"], "a digest-pinned model needs no skip"
            assert check["check_id"] in RENDERED_SKIPS
        else:
            assert check["check_id"] in INSTALL_SKIPS, check["check_id"]


def test_everything_was_scanned(scanned: dict[str, Any]) -> None:
    # kustomize, 4 chart renderings and 6 sample renderings, each with a Deployment and a NetworkPolicy.
    files = {c["file_path"] for c in scanned["results"].get("passed_checks", [])}
    assert len(files) == 1 + 1 + len(list((CHART / "ci").glob("*-values.yaml"))) + 2 * len(sample_models())
    assert scanned["summary"]["parsing_errors"] == 0


def test_the_checker_finds_what_it_should(tmp_path: Path) -> None:
    # The control: a privileged, root, tokenful pod is reported, so an empty list above means something.
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bad", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(pod))
    ids = {f.split()[0] for f in findings(checkov(tmp_path))}
    assert {"CKV_K8S_16", "CKV_K8S_38", "CKV2_K8S_6"} <= ids, ids
