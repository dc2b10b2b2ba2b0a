"""The emulated tensorflow_model_server's command line and start-up, one contract test per behaviour of
TF Serving 2.19.0 (each names its upstream file: main.cc, command_line_flags.cc, server.cc).

The servers run in-process but bind real ports on loopback (tests/integration/conftest.py's ``emu``); the
models and the REST API: test_tfserving_models.py, test_tfserving_rest.py.
"""

from __future__ import annotations

import socket

from modeldeploy.config import default_config
from modeldeploy.desired.configmap import batching_config_text
from modeldeploy.desired.deployment import build_deployment
from modeldeploy.localcluster.tfserving import ServerExit
from modeldeploy.spec import parse_spec
from tests.support.tfserving import (
    BASE,
    BATCHING,
    CONFIG,
    MONITORING,
    Emulator,
    argv,
    get_json,
    models_config,
    states,
    wait_states,
)

# ---- main.cc / command_line_flags.cc --------------------------------------------------------------


def test_unparsable_int_flag_exits_255_with_tensorflows_message(emu: Emulator) -> None:
    exc = emu.exit_of(["tensorflow_model_server", "--port=85x0"])
    assert exc.code == 255
    assert exc.message.startswith("Couldn't interpret value 85x0 for flag port.")
    assert "usage: tensorflow_model_server" in exc.message


def test_bool_flag_takes_only_true_or_false(emu: Emulator) -> None:
    exc = emu.exit_of(argv("--enable_batching=1"))
    assert (exc.code, exc.message.splitlines()[0]) == (
        255,
        "Couldn't interpret value =1 for flag enable_batching.",
    )


def test_bool_flag_claims_every_argument_starting_with_its_name(emu: Emulator) -> None:
    # "--versions=3" is not a flag, but the bool flag "version" claims it and cannot parse "s=3".
    exc = emu.exit_of(argv("--versions=3"))
    assert (exc.code, exc.message.splitlines()[0]) == (255, "Couldn't interpret value s=3 for flag version.")


def test_unknown_flag_is_printed_and_the_server_starts_anyway(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start(argv("--no_such_flag=1", "--another"))
    assert "unknown argument: --no_such_flag=1" in server.log_lines
    assert get_json(server, "/v1/models/resnet")[0] == 200


def test_help_prints_usage_and_exits_255(emu: Emulator) -> None:
    exc = emu.exit_of(["tensorflow_model_server", "--help"])
    assert exc.code == 255 and exc.message.startswith("usage: tensorflow_model_server\nFlags:\n")


def test_version_flag_exits_0(emu: Emulator) -> None:
    exc = emu.exit_of(["tensorflow_model_server", "--version"])
    assert (exc.code, exc.message.splitlines()[0]) == (0, "TensorFlow ModelServer: 2.19.0")


def test_every_flag_the_operator_renders_is_accepted(emu: Emulator) -> None:
    spec = {
        "model": {"uri": BASE, "versionLabels": {"stable": 1}},
        "runtime": {"batching": {"maxBatchSize": 32, "batchTimeoutMicros": 2000}},
    }
    md = parse_spec("resnet", "vision", spec, default_config())
    container = build_deployment(md, default_config())["spec"]["template"]["spec"]["containers"][0]
    emu.store.add_version(BASE, 1)
    emu.files.data[CONFIG] = models_config()
    emu.files.data[BATCHING] = batching_config_text(md.runtime.batching)  # type: ignore[arg-type]
    server = emu.start([*container["command"], *container["args"]])
    assert not [line for line in server.log_lines if "unknown argument" in line or "Couldn't" in line]
    assert states(server) == [(1, "AVAILABLE", "OK")]


def test_image_entrypoint_adds_its_own_flags(emu: Emulator) -> None:
    # tools/docker/Dockerfile: tf_serving_entrypoint.sh runs the server for ${MODEL_BASE_PATH}/${MODEL_NAME}.
    emu.store.add_version("/models/mnist", 3)
    server = emu.start(["/usr/bin/tf_serving_entrypoint.sh"], env={"MODEL_NAME": "mnist"})
    assert states(server, "mnist") == [(3, "AVAILABLE", "OK")]


def test_a_command_that_is_not_the_server_cannot_start(emu: Emulator) -> None:
    assert emu.exit_of(["python3", "-m", "http.server"]).code == 127


# ---- server.cc BuildAndStart ----------------------------------------------------------------------


def test_missing_config_file_fails_the_start(emu: Emulator) -> None:
    del emu.files.data[CONFIG]
    exc = emu.exit_of()
    assert (exc.code, exc.message) == (
        255,
        f"Failed to start server. Error: NOT_FOUND: {CONFIG}; No such file or directory",
    )


def test_text_format_error_fails_the_start(emu: Emulator) -> None:
    emu.files.data[CONFIG] = "model_config_list { config { nme: 'x' } }"
    exc = emu.exit_of()
    assert (
        exc.message == f"Failed to start server. Error: INVALID_ARGUMENT: Invalid protobuf file: '{CONFIG}'"
    )


def test_start_needs_a_grpc_port_and_a_model(emu: Emulator) -> None:
    assert "At least one of server_options.grpc_port" in emu.exit_of(argv("--port=0")).message
    exc = emu.exit_of(["tensorflow_model_server", "--rest_api_port=8501"])
    assert (
        "Both server_options.model_base_path and server_options.model_config_file are empty!" in exc.message
    )


def test_batching_file_without_enable_batching_fails(emu: Emulator) -> None:
    emu.files.data[BATCHING] = "max_batch_size { value: 8 }\n"
    exc = emu.exit_of(argv(f"--batching_parameters_file={BATCHING}"))
    assert "batching_parameters_file is set without setting server_options.enable_batching" in exc.message


def test_batching_last_allowed_size_must_match_max_batch_size(emu: Emulator) -> None:
    # servables/tensorflow/bundle_factory_util.cc: checked when each model loads, so the start fails.
    emu.store.add_version(BASE, 1)
    emu.files.data[BATCHING] = (
        "max_batch_size { value: 32 }\nallowed_batch_sizes: 8\nallowed_batch_sizes: 16\n"
    )
    exc = emu.exit_of(
        argv("--enable_batching", f"--batching_parameters_file={BATCHING}", "--max_num_load_retries=0")
    )
    assert (
        "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 16; expected 32"
        in exc.message
    )


def test_rest_and_grpc_ports_open_only_after_the_initial_load(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1, load_seconds=1e6)  # never finishes within the test
    with emu.starting() as (server, outcome):
        wait_states(server, [(1, "LOADING", "OK")])
        assert server.rest_port is None and server.grpc_port is None and not server.serving.is_set()
    assert isinstance(outcome[0], ServerExit) and outcome[0].code == 143


def test_grpc_port_is_bound_once_serving(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start()
    assert server.grpc_port is not None
    socket.create_connection((server.host, server.grpc_port), timeout=5).close()


def test_same_rest_and_grpc_port_skips_rest(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start(argv("--rest_api_port=8500"))
    assert server.rest_port is None
    assert any("http_port cannot be same as grpc_port" in line for line in server.log_lines)


def test_monitoring_config_error_ends_the_process_after_the_load(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[MONITORING] = "prometheus_config { enable: maybe }"
    exc = emu.exit_of()
    assert (
        exc.message
        == f"Failed to start server. Error: INVALID_ARGUMENT: Invalid protobuf file: '{MONITORING}'"
    )
