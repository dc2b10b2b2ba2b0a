"""The emulator's pure parts: TensorFlow's flag parser, the model store, the config messages (the
``python -m`` process, with the real binary's exit codes: tests/integration/test_tfserving_module.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format

from modeldeploy.desired.configmap import MONITORING_CONFIG_TEXT
from modeldeploy.localcluster.tfserving import ModelStore, VersionSpec
from modeldeploy.localcluster.tfserving.flags import expand_entrypoint, parse_flags
from modeldeploy.localcluster.tfserving.protos import BatchingParameters, MonitoringConfig

# ---- tensorflow/core/util/command_line_flags.cc ---------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "name", "value"),
    [
        ("--port= 8600", "port", 8600),  # sscanf skips leading white space
        ("--port=+7", "port", 7),
        ("--port=4294967297", "port", 1),  # %d keeps the low 32 bits
        ("--load_retry_interval_micros=-1", "load_retry_interval_micros", -1),
        ("--per_process_gpu_memory_fraction=.5", "per_process_gpu_memory_fraction", 0.5),
        ("--enable_batching", "enable_batching", True),
        ("--flush_filesystem_caches=false", "flush_filesystem_caches", False),
        ("--model_name=", "model_name", ""),
    ],
)
def test_values_tensorflow_accepts(arg: str, name: str, value: object) -> None:
    parsed = parse_flags([arg])
    assert parsed.ok and parsed.values[name] == value and parsed.unknown == []


@pytest.mark.parametrize(
    # sscanf's %d reads ASCII digits only: "\u0663" is an Arabic-Indic three.
    "arg",
    [
        "--port=8500 ",
        "--port=",
        "--port=0x10",
        "--rest_api_port=1e3",
        "--enable_batching=True",
        "--port=\u0663",
    ],
)
def test_values_tensorflow_refuses(arg: str) -> None:
    assert not parse_flags([arg]).ok


def test_later_flag_wins_and_double_dash_ends_parsing() -> None:
    parsed = parse_flags(["--port=1", "--port=2", "--", "--port=3"])
    assert parsed.values["port"] == 2 and parsed.unknown == ["--", "--port=3"]


def test_int_flag_without_value_is_unknown_not_an_error() -> None:
    parsed = parse_flags(["--port", "8500"])
    assert parsed.ok and parsed.unknown == ["--port", "8500"]


def test_allow_version_labels_flag_exists() -> None:
    assert parse_flags(["--allow_version_labels_for_unavailable_models=true"]).values[
        "allow_version_labels_for_unavailable_models"
    ]


def test_entrypoint_expansion() -> None:
    assert expand_entrypoint(["/usr/bin/tf_serving_entrypoint.sh", "--x"], {}) == [
        "tensorflow_model_server",
        "--port=8500",
        "--rest_api_port=8501",
        "--model_name=model",
        "--model_base_path=/models/model",
        "--x",
    ]
    assert expand_entrypoint(["/bin/sh"], {}) is None


# ---- store ----------------------------------------------------------------------------------------


def test_store_maps_uris_and_aliases(tmp_path: Path) -> None:
    store = ModelStore(tmp_path, aliases={"/models/": "s3://bucket/resnet"})
    assert store.directory("gs://b/p") == tmp_path / "gs" / "b" / "p"
    assert store.directory("https://host/p") == tmp_path / "http" / "host" / "p"
    assert store.directory("pvc://claim/m") == tmp_path / "pvc" / "claim" / "m"
    assert store.directory("/x/y") == tmp_path / "file" / "x" / "y"
    assert store.directory("/models/1") == tmp_path / "s3" / "bucket" / "resnet" / "1"
    assert store.directory("/modelsX") == tmp_path / "file" / "modelsX"
    assert store.directory("gs://b/../../etc") is None
    assert store.directory("relative/path") is None


def test_store_versions_are_numeric_directories_with_optional_spec(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    store.add_version("gs://b/m", 2, load_seconds=1.5, error="boom")
    store.add_version("gs://b/m", 10)
    (tmp_path / "gs/b/m/tmp").mkdir()
    (tmp_path / "gs/b/m/7").write_text("a file, not a version")
    (tmp_path / "gs/b/m/\u0663").mkdir()  # absl::SimpleAtoi reads ASCII digits only
    assert store.versions("gs://b/m") == {2: VersionSpec(1.5, "boom"), 10: VersionSpec()}
    store.remove_version("gs://b/m", 2)
    assert list(store.versions("gs://b/m")) == [10]
    assert store.exists("gs://b/m") and not store.exists("gs://b/other")


def test_store_rejects_unknown_version_json_keys(tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    version = store.add_version("gs://b/m", 1)
    (version / "version.json").write_text(json.dumps({"load_time": 3}))
    with pytest.raises(ValueError, match="load_time"):
        store.versions("gs://b/m")


# ---- config messages ------------------------------------------------------------------------------


def test_operator_monitoring_text_parses_with_the_declared_message() -> None:
    config = MonitoringConfig()
    text_format.Parse(MONITORING_CONFIG_TEXT, config)
    assert config.prometheus_config.enable  # type: ignore[attr-defined]


def test_batching_message_refuses_fields_tf_serving_does_not_have() -> None:
    with pytest.raises(text_format.ParseError):
        text_format.Parse("max_batch_size: 3", BatchingParameters())  # a wrapper, not a scalar
    with pytest.raises(text_format.ParseError):
        text_format.Parse("batch_size { value: 3 }", BatchingParameters())
