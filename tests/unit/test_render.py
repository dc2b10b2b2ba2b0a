"""`modeldeploy render`: YAML stream in, children out; on error one message on stderr, nothing on stdout."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from modeldeploy.config import default_config
from modeldeploy.render import RenderError, render_documents, render_main

MD = """\
apiVersion: serving.modeldeploy.io/v1alpha1
kind: ModelDeployment
metadata: {name: resnet, namespace: vision}
spec:
  model: {uri: gs://acme-models/resnet, versionLabels: {stable: 1}}
  replicas: 2
"""
OTHER = """\
apiVersion: serving.modeldeploy.io/v1alpha1
kind: ModelDeployment
metadata: {name: bert}
spec:
  model: {uri: gs://acme-models/bert}
  resources: {gpu: {type: nvidia-l4}}
"""


def render(text: str) -> list[dict[str, object]]:
    return list(yaml.safe_load_all(render_documents(text, default_config())))


def test_renders_every_model_deployment_in_apply_order() -> None:
    objects = render(f"{MD}---\n{OTHER}---\n")
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [  # type: ignore[index]
        ("ConfigMap", "resnet-tfserving"),
        ("NetworkPolicy", "resnet"),
        ("Deployment", "resnet"),
        ("Service", "resnet"),
        ("PodDisruptionBudget", "resnet"),
        ("ConfigMap", "bert-tfserving"),
        ("NetworkPolicy", "bert"),
        ("Deployment", "bert"),
        ("Service", "bert"),
    ]
    assert objects[5]["metadata"]["namespace"] == "default"  # type: ignore[index]


def test_multiline_configs_render_as_readable_blocks() -> None:
    text = render_documents(MD, default_config())
    assert "models.config: |" in text
    assert "&id" not in text and "*id" not in text  # no YAML aliases


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{MD}---\n" + OTHER.replace("nvidia-l4", "a100x"),
            "document 2 (ModelDeployment default/bert): spec.resources.gpu.type: unknown GPU type 'a100x'",
        ),
        ("a: [b\n", "invalid YAML: line 2, column 1"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
            "document 1 (ConfigMap default/x): not a ModelDeployment",
        ),
        (MD.replace("v1alpha1", "v1"), "not a ModelDeployment"),
        (
            MD.replace("metadata: {name: resnet, namespace: vision}", "metadata: {namespace: vision}"),
            "document 1 (ModelDeployment): metadata.name is required",
        ),
        (MD.replace("metadata: {name: resnet, namespace: vision}\n", ""), "metadata.name is required"),
        ("- a\n- b\n", "document 1: expected a ModelDeployment object, got list"),
        ("", "no ModelDeployment found"),
        (
            f"{MD}---\n{MD}",
            "document 2 (ModelDeployment vision/resnet): same namespace and name as document 1",
        ),
        (
            MD.replace("spec:\n", "spec: 3\nx:\n"),
            "document 1 (ModelDeployment vision/resnet): spec: must be an object",
        ),
        (
            "apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: a}\n",
            "spec: is required",
        ),
    ],
)
def test_invalid_input_names_the_document(text: str, message: str) -> None:
    with pytest.raises(RenderError) as info:
        render_documents(text, default_config())
    assert message in str(info.value)


def test_self_referencing_yaml_is_a_render_error() -> None:
    text = "apiVersion: serving.modeldeploy.io/v1alpha1\nkind: ModelDeployment\nmetadata: {name: a}\n"
    text += "spec: &s {model: {uri: gs://b/m}, placement: {affinity: {nodeAffinity: {x: *s}}}}\n"
    with pytest.raises(RenderError):
        render_documents(text, default_config())


def test_render_main_writes_yaml_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "md.yaml"
    path.write_text(MD)
    assert render_main(str(path), None, environ={}) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert [o["kind"] for o in yaml.safe_load_all(out)][:3] == ["ConfigMap", "NetworkPolicy", "Deployment"]


def test_render_main_reads_stdin_and_uses_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("defaultImage: mirror.example.com/serving\n")
    out, err = io.StringIO(), io.StringIO()
    assert render_main("-", str(config), environ={}, stdin=io.StringIO(MD), stdout=out, stderr=err) == 0
    assert "image: mirror.example.com/serving:2.19.0" in out.getvalue()


def test_render_main_invalid_spec_exits_1_with_nothing_on_stdout() -> None:
    bad = MD.replace("replicas: 2", "replicas: 2\n  runtime: {args: ['--port=9000']}")
    out, err = io.StringIO(), io.StringIO()
    assert render_main("-", None, environ={}, stdin=io.StringIO(bad), stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    expected = "error: document 1 (ModelDeployment vision/resnet): spec.runtime.args[0]: --port is managed"
    assert err.getvalue().startswith(expected)


@pytest.mark.parametrize("problem", ["missing-file", "bad-config"])
def test_render_main_unreadable_inputs(tmp_path: Path, problem: str) -> None:
    path, config = tmp_path / "md.yaml", tmp_path / "config.yaml"
    path.write_text(MD)
    config.write_text("colour: blue\n")
    args = (str(tmp_path / "absent.yaml"), None) if problem == "missing-file" else (str(path), str(config))
    out, err = io.StringIO(), io.StringIO()
    assert render_main(*args, environ={}, stdout=out, stderr=err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().startswith("error: ")
    assert ("cannot read" if problem == "missing-file" else "colour: unknown key") in err.getvalue()
