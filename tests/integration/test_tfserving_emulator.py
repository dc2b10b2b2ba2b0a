"""Contract tests of the emulated tensorflow_model_server: one per behaviour taken from TF Serving's source.

Each test names the upstream file (tensorflow/serving, tag 2.19.0) whose behaviour it pins down. The
servers run in-process but bind real ports and answer HTTP on loopback, which is why these are not unit tests.
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    request,
    states,
    two_models_config,
    wait_log,
    wait_states,
)
from tests.support.waits import wait_for


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[Emulator]:
    emulator = Emulator(tmp_path)
    yield emulator
    emulator.stop_all()


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


# ---- server_core.cc: config validation and labels -------------------------------------------------


def test_relative_base_path_is_rejected(emu: Emulator) -> None:
    emu.files.data[CONFIG] = models_config(base_path="models/resnet")
    exc = emu.exit_of()
    assert (
        "Expected model resnet to have an absolute path or URI; got base_path()=models/resnet" in exc.message
    )


def test_model_listed_twice_is_rejected(emu: Emulator) -> None:
    one = models_config()
    emu.files.data[CONFIG] = one.replace(
        "  }\n}\n", "  }\n" + one.split("{\n", 1)[1].split("}\n}\n")[0] + "}\n}\n"
    )
    assert "Illegal to list model resnet multiple times in config list" in emu.exit_of().message


def test_unsupported_platform_is_rejected(emu: Emulator) -> None:
    emu.files.data[CONFIG] = models_config(platform="pytorch")
    assert "Model resnet requests unsupported platform pytorch" in emu.exit_of().message


def test_label_at_start_fails_without_the_allow_flag(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[CONFIG] = models_config(labels={"stable": 1})
    exc = emu.exit_of()
    assert (exc.code, exc.message) == (
        255,
        "Failed to start server. Error: FAILED_PRECONDITION: Request to assign label to version 1 of model "
        "resnet, which is not currently available for inference",
    )


def test_label_at_start_works_with_the_allow_flag(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[CONFIG] = models_config(labels={"stable": 1})
    server = emu.start(argv("--allow_version_labels_for_unavailable_models"))
    code, text, _ = request(server, "POST", "/v1/models/resnet/labels/stable:predict", {"instances": [7]})
    assert (code, json.loads(text)) == (200, {"predictions": [7]})


def test_moving_a_label_to_an_unavailable_version_is_rejected_and_the_old_label_kept(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.store.add_version(BASE, 2)
    emu.files.data[CONFIG] = models_config(
        policy="specific { versions: 1 versions: 2 }", labels={"stable": 1}
    )
    server = emu.start(argv("--allow_version_labels_for_unavailable_models"))
    # Version 3 is not loaded: the reload is refused (logged), the server keeps running with stable -> 1.
    emu.files.data[CONFIG] = models_config(
        policy="specific { versions: 1 versions: 2 }", labels={"stable": 3}
    )
    wait_log(
        server, "PollFilesystemAndReloadConfig failed to ReloadConfig: Request to assign label to version 3"
    )
    assert server.core is not None and server.core.labels() == {"resnet": {"stable": 1}}
    assert server.exit is None
    # Moving it to a version that is AVAILABLE is accepted at the next poll.
    emu.files.data[CONFIG] = models_config(
        policy="specific { versions: 1 versions: 2 }", labels={"stable": 2}
    )
    wait_for(
        lambda: server.core is not None and server.core.labels() == {"resnet": {"stable": 2}}, timeout=20
    )


def test_label_and_policy_change_together_never_apply(emu: Emulator) -> None:
    # ReloadConfig checks labels before it hands the new policy to the source, so a label on a version the
    # same edit adds is refused at every poll and the version is never loaded.
    emu.store.add_version(BASE, 1)
    emu.store.add_version(BASE, 2)
    emu.files.data[CONFIG] = models_config(policy="specific { versions: 1 }", labels={"stable": 1})
    server = emu.start(argv("--allow_version_labels_for_unavailable_models"))
    emu.files.data[CONFIG] = models_config(
        policy="specific { versions: 1 versions: 2 }", labels={"stable": 2}
    )
    wait_for(
        lambda: sum("Request to assign label to version 2" in line for line in server.log_lines) >= 3,
        timeout=20,
    )
    assert states(server) == [(1, "AVAILABLE", "OK")]


# ---- file_system_storage_path_source.cc: version policies -----------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("latest { num_versions: 2 }", [3, 2]),
        ("latest { num_versions: 0 }", [3]),  # at least one
        ("specific { versions: 1 versions: 3 }", [3, 1]),
        ("all { }", [3, 2, 1]),
    ],
)
def test_version_policy_picks_from_the_versions_present(
    emu: Emulator, policy: str, expected: list[int]
) -> None:
    for version in (1, 2, 3):
        emu.store.add_version(BASE, version)
    emu.files.data[CONFIG] = models_config(policy=policy)
    server = emu.start()
    # The start waits for each model's Latest only (server_core.cc WaitUntilModelsAvailable), so older
    # versions may still be loading when the ports open.
    wanted = [(v, "AVAILABLE", "OK") for v in expected]
    wait_for(lambda: states(server) == wanted, timeout=20)


def test_specific_version_absent_is_warned_and_the_others_load(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[CONFIG] = models_config(policy="specific { versions: 1 versions: 4 }")
    server = emu.start()
    assert states(server) == [(1, "AVAILABLE", "OK")]
    assert any(
        "Version 4 of servable resnet" in line and "was not found" in line for line in server.log_lines
    )


@pytest.mark.parametrize(
    ("base_path", "policy", "log"),
    [
        (BASE, "latest { num_versions: 1 }", "No versions of servable resnet found under base path"),
        (BASE, "specific { versions: 9 }", "Version 9 of servable resnet"),
        ("gs://acme/absent", "latest { num_versions: 1 }", "Could not find base path gs://acme/absent"),
        ("s3://acme/resnet", "latest { num_versions: 1 }", "File system scheme 's3' not implemented"),
    ],
)
def test_nothing_to_load_keeps_the_server_starting_forever(
    emu: Emulator, base_path: str, policy: str, log: str
) -> None:
    # load_servables_fast.cc waits with no timeout; the source logs at every poll.
    emu.store.make_base_path(BASE)
    emu.store.make_base_path("s3://acme/resnet")
    emu.files.data[CONFIG] = models_config(base_path=base_path, policy=policy)
    with emu.starting() as (server, outcome):
        wait_for(lambda: sum(log in line for line in server.log_lines) >= 2, timeout=20, interval=0.02)
        assert outcome == [] and server.rest_port is None


def test_a_version_added_later_starts_a_stuck_server(emu: Emulator) -> None:
    emu.store.make_base_path(BASE)
    with emu.starting() as (server, outcome):
        wait_log(server, "No versions of servable resnet")
        emu.store.add_version(BASE, 1)
        wait_for(lambda: outcome == ["serving"], timeout=20, interval=0.02)
        assert get_json(server, "/v1/models/resnet")[0] == 200


# ---- load_servables_fast.cc, loader_harness.cc, retrier.cc ----------------------------------------


def test_failed_initial_load_ends_the_process(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1, error="Could not find SavedModel .pb")
    exc = emu.exit_of(argv("--max_num_load_retries=0"))
    assert (exc.code, exc.message) == (
        255,
        "Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: "
        "{{{name: resnet version: 1} due to error: UNKNOWN: Could not find SavedModel .pb}, }",
    )


def test_failed_load_is_retried_max_num_load_retries_times(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1, error="bad")
    emu.exit_of(argv("--max_num_load_retries=2", "--load_retry_interval_micros=1000"))
    server = emu.servers[-1]
    assert sum("Loading servable: {name: resnet version: 1} failed" in line for line in server.log_lines) == 3


def test_failure_waits_out_the_retries_before_end(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1, error="bad")
    with emu.starting(argv("--load_retry_interval_micros=1000000000")) as (server, outcome):
        wait_log(server, "failed: UNKNOWN: bad")
        assert states(server) == [(1, "LOADING", "OK")] and outcome == []


# ---- availability_preserving_policy.cc, servable_state_monitor.cc ---------------------------------


def test_new_version_loads_then_the_old_one_unloads_to_end_ok(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start()
    emu.store.add_version(BASE, 2)
    wait_states(server, [(2, "AVAILABLE", "OK"), (1, "END", "OK")])
    assert any("Unloading servable version {name: resnet version: 1}" in line for line in server.log_lines)


def test_failed_version_keeps_the_old_one_and_its_error_stays(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start(argv("--max_num_load_retries=0"))
    emu.store.add_version(BASE, 2, error="corrupt variables")
    wait_states(server, [(2, "END", "UNKNOWN"), (1, "AVAILABLE", "OK")])
    emu.store.add_version(BASE, 3)
    wait_states(server, [(3, "AVAILABLE", "OK"), (2, "END", "UNKNOWN"), (1, "END", "OK")])
    assert server.status("resnet")[1]["error_message"] == "corrupt variables"


def test_policy_change_applies_at_the_next_file_system_poll(emu: Emulator) -> None:
    for version in (1, 2):
        emu.store.add_version(BASE, version)
    server = emu.start()
    emu.files.data[CONFIG] = models_config(policy="specific { versions: 1 }")
    wait_states(server, [(2, "END", "OK"), (1, "AVAILABLE", "OK")])


def test_specific_policy_naming_only_absent_versions_unloads_everything_yet_status_is_200(
    emu: Emulator,
) -> None:
    # file_system_storage_path_source.cc aspires an empty list (with a warning), so the serving version
    # unloads; get_model_status_impl.cc still answers 200 with the END state, so a readiness probe on
    # GET /v1/models/<m> keeps passing while nothing serves.
    emu.store.add_version(BASE, 1)
    server = emu.start()
    emu.files.data[CONFIG] = models_config(policy="specific { versions: 9 }")
    wait_states(server, [(1, "END", "OK")])
    assert get_json(server, "/v1/models/resnet")[0] == 200
    code, _, _ = request(server, "POST", "/v1/models/resnet:predict", {"instances": [1]})
    assert code == 404


def test_versions_deleted_from_storage_unload_but_a_vanished_base_path_changes_nothing(emu: Emulator) -> None:
    # file_system_storage_path_source.cc: an empty base path aspires nothing; a missing one fails the poll.
    emu.store.add_version(BASE, 1)
    emu.store.add_version("gs://acme/bert", 5)
    emu.files.data[CONFIG] = two_models_config()
    server = emu.start()
    emu.store.remove_version("gs://acme/bert", 5)
    wait_states(server, [(5, "END", "OK")], model="bert")
    assert emu.store.directory(BASE) is not None
    emu.store.add_version("gs://acme/bert", 6)
    wait_states(server, [(6, "AVAILABLE", "OK"), (5, "END", "OK")], model="bert")
    shutil.rmtree(emu.store.directory(BASE))  # type: ignore[arg-type]
    emu.store.add_version("gs://acme/bert", 7)
    wait_log(server, "Could not find base path gs://acme/resnet")
    # The failed poll updates no model at all, bert's version 7 included.
    assert states(server) == [(1, "AVAILABLE", "OK")]
    assert states(server, "bert") == [(6, "AVAILABLE", "OK"), (5, "END", "OK")]


def test_model_removed_from_the_config_is_unloaded(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.store.add_version("gs://acme/bert", 5)
    emu.files.data[CONFIG] = two_models_config()
    server = emu.start()
    assert states(server, "bert") == [(5, "AVAILABLE", "OK")]
    emu.files.data[CONFIG] = models_config()
    wait_states(server, [(5, "END", "OK")], model="bert")


def test_unreadable_config_on_reload_is_logged_and_serving_goes_on(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    server = emu.start()
    emu.files.data[CONFIG] = "not a config"
    wait_log(server, f"Failed to read ModelServerConfig file: Invalid protobuf file: '{CONFIG}'")
    assert get_json(server, "/v1/models/resnet")[0] == 200 and server.exit is None


def test_without_poll_flag_the_config_is_read_once(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.store.add_version(BASE, 2)
    server = emu.start(argv(poll=None))
    emu.files.data[CONFIG] = "garbage"
    emu.store.add_version(BASE, 3)  # the file-system poll still runs: the change below proves time passed
    wait_states(server, [(3, "AVAILABLE", "OK"), (2, "END", "OK")])
    assert not any("Failed to read ModelServerConfig" in line for line in server.log_lines)


# ---- http_rest_api_handler.cc, get_model_status_impl.cc, json_tensor.cc, evhttp_server.cc ---------


@pytest.fixture
def serving(emu: Emulator) -> Emulator:
    for version in (1, 2):
        emu.store.add_version(BASE, version)
    emu.files.data[CONFIG] = models_config(policy="all { }", labels={"stable": 1})
    emu.start(argv("--allow_version_labels_for_unavailable_models"))
    return emu


def test_status_lists_every_version_highest_first(serving: Emulator) -> None:
    code, text, headers = request(serving.servers[0], "GET", "/v1/models/resnet")
    assert code == 200 and headers["Content-Type"] == "application/json"
    ok = '"status": {\n    "error_code": "OK",\n    "error_message": ""\n   }'
    assert text == (
        '{\n "model_version_status": [\n  {\n   "version": "2",\n   "state": "AVAILABLE",\n   '
        + ok
        + '\n  },\n  {\n   "version": "1",\n   "state": "AVAILABLE",\n   '
        + ok
        + "\n  }\n ]\n}"
    )


def test_label_status_url_ignores_the_label(serving: Emulator) -> None:
    server = serving.servers[0]
    everything = get_json(server, "/v1/models/resnet")
    assert get_json(server, "/v1/models/resnet/labels/stable") == everything
    assert get_json(server, "/v1/models/resnet/labels/no-such-label") == everything


def test_version_status_url_gives_one_version(serving: Emulator) -> None:
    code, body = get_json(serving.servers[0], "/v1/models/resnet/versions/1")
    assert code == 200 and [v["version"] for v in body["model_version_status"]] == ["1"]


@pytest.mark.parametrize(
    ("method", "path", "code", "error"),
    [
        ("GET", "/v1/models/bert", 404, "Could not find any versions of model bert"),
        ("GET", "/v1/models/resnet/versions/9", 404, "Could not find version 9 of model resnet"),
        ("GET", "/v1/models", 400, "Missing model name in request."),
        ("GET", "/v1/models/resnet/foo", 400, "Malformed request: GET /v1/models/resnet/foo"),
        # rapidjson writes UTF-8 unescaped.
        ("GET", "/v1/models/r%C3%A9snet", 404, "Could not find any versions of model r\u00e9snet"),
        ("DELETE", "/v1/models/resnet", 400, "Malformed request: DELETE /v1/models/resnet"),
        ("POST", "/v1/models/resnet:PREDICT", 400, "Malformed request: POST /v1/models/resnet:PREDICT"),
        (
            "GET",
            "/v1/models/resnet/versions/99999999999999999999",
            400,
            "Failed to convert version: 99999999999999999999 to numeric.",
        ),
    ],
)
def test_error_replies(serving: Emulator, method: str, path: str, code: int, error: str) -> None:
    got_code, text, _ = request(serving.servers[0], method, path)
    assert (got_code, text) == (code, "{\n    " + f'"error": {json.dumps(error, ensure_ascii=False)}' + "\n}")


def test_paths_outside_v1_get_libevents_404_page(serving: Emulator) -> None:
    code, text, _ = request(serving.servers[0], "GET", "/healthz")
    assert code == 404 and "<TITLE>404 Not Found</TITLE>" in text


def test_v1_paths_are_case_insensitive(serving: Emulator) -> None:
    assert get_json(serving.servers[0], "/V1/MODELS/resnet")[0] == 200


def test_predict_resolves_the_label_and_the_version(serving: Emulator) -> None:
    server = serving.servers[0]
    for path in (
        "/v1/models/resnet:predict",
        "/v1/models/resnet/versions/1:predict",
        "/v1/models/resnet/labels/stable:predict",
    ):
        code, text, _ = request(server, "POST", path, {"instances": [[1.0, 2.0]]})
        assert (code, json.loads(text)) == (200, {"predictions": [[1.0, 2.0]]})
    code, text, _ = request(server, "POST", "/v1/models/resnet/labels/canary:predict", {"instances": [1]})
    assert (code, json.loads(text)["error"]) == (400, "Unrecognized servable version label: canary")
    code, text, _ = request(server, "POST", "/v1/models/resnet/versions/7:predict", {"instances": [1]})
    assert (code, json.loads(text)["error"]) == (404, "Servable not found for request: Specific(resnet, 7)")


def test_predict_label_on_a_version_not_loaded_is_not_found(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[CONFIG] = models_config(labels={"canary": 2})
    server = emu.start(argv("--allow_version_labels_for_unavailable_models"))
    code, text, _ = request(server, "POST", "/v1/models/resnet/labels/canary:predict", {"instances": [1]})
    assert (code, json.loads(text)["error"]) == (404, "Servable not found for request: Specific(resnet, 2)")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "JSON Parse error: The document is empty"),
        (b"[1]", "JSON Value: [1] Is not object"),
        (b"{}", "Missing 'inputs' or 'instances' key"),
        (b'{"instances": []}', "JSON Value: {\"instances\":[]} No values in 'instances' array"),
    ],
)
def test_predict_body_errors(serving: Emulator, body: bytes, error: str) -> None:
    code, text, _ = request(serving.servers[0], "POST", "/v1/models/resnet:predict", body)
    assert (code, json.loads(text)["error"]) == (400, error)


# ---- http_server.cc + prometheus_exporter.cc ------------------------------------------------------


def test_request_counter_on_the_monitoring_path(serving: Emulator) -> None:
    server = serving.servers[0]
    get_json(server, "/v1/models/resnet")
    get_json(server, "/v1/models/bert")
    code, text, headers = request(server, "GET", "/monitoring/prometheus/metrics")
    assert code == 200 and headers["Content-Type"] == "text/plain"
    lines = text.splitlines()
    assert lines[0] == "# TYPE :tensorflow:serving:request_count counter"
    assert ':tensorflow:serving:request_count{model_name="resnet",status="OK"} 1' in lines
    assert ':tensorflow:serving:request_count{model_name="bert",status="NOT_FOUND"} 1' in lines


def test_monitoring_path_comes_from_the_config_and_is_off_without_it(emu: Emulator) -> None:
    emu.store.add_version(BASE, 1)
    emu.files.data[MONITORING] = 'prometheus_config { enable: true path: "/metrics" }'
    assert request(emu.start(), "GET", "/metrics")[0] == 200
    args = [a for a in argv() if not a.startswith("--monitoring_config_file")]
    assert request(emu.start(args), "GET", "/monitoring/prometheus/metrics")[0] == 404
