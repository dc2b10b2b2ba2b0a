"""How the emulated tensorflow_model_server handles models: config validation and labels, version policies,
loading and retries, availability (server_core.cc, file_system_storage_path_source.cc, loader_harness.cc,
availability_preserving_policy.cc, ...; each test names its file)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.support.tfserving import (
    BASE,
    CONFIG,
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
