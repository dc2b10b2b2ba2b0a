"""What users install, read as files: the CRD copies, the samples, the kustomize base's resource list, the
chart's values schema, the configuration reference in the docs and the Dockerfile.

What `kubectl kustomize` and `helm template` render from them is tested in tests/e2e/test_rendered_install.py
(those tests run binaries).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.install import load_all
from tests.support.paths import CHART, CRDS, MANIFESTS, ROOT, SAMPLES

CRD_COPIES = [CHART / "crds", MANIFESTS / "crd"]

Doc = dict[str, Any]


# --- CRD copies ---------------------------------------------------------------------------------------


def test_crd_sources_exist() -> None:
    names = sorted(p.name for p in CRDS.glob("*.yaml"))
    assert "serving.modeldeploy.io_modeldeployments.yaml" in names
    assert "kopf-peering.yaml" in names


@pytest.mark.parametrize("copies", CRD_COPIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_crd_copies_are_byte_identical(copies: Path) -> None:
    sources = {p.name: p.read_bytes() for p in CRDS.glob("*.yaml")}
    copied = {p.name: p.read_bytes() for p in copies.glob("*.yaml")}
    stale = sorted(name for name in sources.keys() | copied.keys() if sources.get(name) != copied.get(name))
    assert not stale, (
        f"{copies.relative_to(ROOT)} differs from crds/ in {stale}; refresh it with `make sync-crds`"
    )


# --- samples ------------------------------------------------------------------------------------------


def sample_docs() -> Iterator[tuple[str, Doc]]:
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in load_all(path.read_text()):
            yield path.name, doc


def test_samples_are_plain_manifests() -> None:
    """`kubectl apply -f manifests/samples/` applies every file: no kustomization, Namespace first."""
    files = sorted(p.name for p in SAMPLES.iterdir())
    assert all(f.endswith(".yaml") for f in files), files
    kinds = [doc["kind"] for _, doc in sample_docs()]
    assert kinds[0] == "Namespace" and "Kustomization" not in kinds
    namespace = next(doc for _, doc in sample_docs() if doc["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, doc in sample_docs():
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == namespace["metadata"]["name"], name


@pytest.mark.parametrize("filename", ["cpu-model.yaml", "gpu-model.yaml", "canary-model.yaml"])
def test_sample_is_a_valid_model_deployment(filename: str) -> None:
    from modeldeploy.config import config_from_mapping
    from modeldeploy.spec import parse_spec

    config = config_from_mapping(yaml.safe_load((MANIFESTS / "operator" / "config.yaml").read_text()))
    (doc,) = load_all((SAMPLES / filename).read_text())
    assert doc["apiVersion"] == "serving.modeldeploy.io/v1alpha1" and doc["kind"] == "ModelDeployment"
    meta = doc["metadata"]
    spec = parse_spec(meta["name"], meta["namespace"], doc["spec"], config)
    if filename == "cpu-model.yaml":
        assert spec.resources.gpu is None and spec.replicas == 2 and spec.autoscaling is None
    elif filename == "gpu-model.yaml":
        assert spec.resources.gpu is not None
        assert (spec.resources.gpu.type, spec.resources.gpu.count) == ("nvidia-tesla-t4", 1)
        assert spec.autoscaling is not None
        assert (spec.autoscaling.min_replicas, spec.autoscaling.max_replicas) == (1, 3)
    else:
        assert dict(spec.model.version_labels) == {"stable": 1, "canary": 2}


def test_every_sample_model_is_tested() -> None:
    models = {name for name, doc in sample_docs() if doc["kind"] == "ModelDeployment"}
    assert models == {"cpu-model.yaml", "gpu-model.yaml", "canary-model.yaml"}


# --- kustomize base -----------------------------------------------------------------------------------


def test_kustomize_base_excludes_samples() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert not any("samples" in r for r in kustomization["resources"])


# --- Helm chart ---------------------------------------------------------------------------------------


def test_helm_schema_allows_every_operator_config_key() -> None:
    from modeldeploy import config

    schema = json.loads((CHART / "values.schema.json").read_text())
    chart_keys = set(schema["properties"]["config"]["properties"])
    # watchNamespaces is a top-level value: RBAC depends on it too.
    assert chart_keys | {"watchNamespaces"} == set(config._FIELDS)


def test_install_docs_describe_every_operator_config_key() -> None:
    from modeldeploy import config

    docs = (ROOT / "docs" / "install.md").read_text()
    reference = docs[docs.index("## Operator configuration reference") :]
    reference = reference[: reference.index("\n## ", 1)]
    nested = ["modelStatus.pollSeconds", "modelStatus.inFlightPollSeconds", "modelStatus.timeoutSeconds"]
    nested += ["modelStatus.endpoint", "modelStatus.addressMap", "pricing.currency", "pricing.cpuHourly"]
    nested += ["pricing.memoryGiBHourly", "pricing.gpuHourly"]
    nested += ["networkPolicy.enabled", "networkPolicy.operatorPeers", "networkPolicy.scraperPeers"]
    nested += [f"modelPods.{key}" for key in config._MODEL_PODS_KEYS]
    undocumented = [key for key in [*config._FIELDS, *nested] if f"`{key}" not in reference]
    assert not undocumented, f"docs/install.md's configuration reference misses {undocumented}"


# --- Dockerfile ---------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_installs_with_the_tested_recipe() -> None:
    instructions = dockerfile_instructions()
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    assert runs == ["tools/install-operator.sh /opt/venv /src"]
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder")
    copies = [rest for keyword, rest in instructions if keyword == "COPY"]
    assert "--from=builder /opt/venv /opt/venv" in copies
    copied = " ".join(copies)
    for needed in ["requirements.txt", "requirements-tfserving.txt", "pyproject.toml", "operator/"]:
        assert needed in copied
    assert "tools/install-operator.sh" in copied


def test_dockerfile_runtime_stage() -> None:
    instructions = dockerfile_instructions()
    runtime = instructions[max(i for i, (k, _) in enumerate(instructions) if k == "FROM") :]
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]), "USER must be a numeric non-root id"
    assert ("ENTRYPOINT", '["modeldeploy", "run"]') in runtime
    assert not any(keyword == "RUN" for keyword, _ in runtime), "the runtime stage installs nothing"


def test_install_recipe_keeps_tensorflow_out() -> None:
    script = (ROOT / "tools" / "install-operator.sh").read_text()
    assert '--no-deps --requirement "$src/requirements-tfserving.txt"' in script
    assert not re.search(r"^tensorflow[=<>~ ]", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert re.search(r"^tensorflow-serving-api==", (ROOT / "requirements-tfserving.txt").read_text(), re.M)


def test_dockerignore_lets_the_recipe_inputs_through() -> None:
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()]
    allowed = {ln[1:] for ln in lines if ln.startswith("!")}
    assert "*" in lines  # an allow-list: everything else stays out of the build context
    assert {"requirements.txt", "requirements-tfserving.txt", "pyproject.toml", "README.md"} <= allowed
    assert {"tools/install-operator.sh", "operator/"} <= allowed
