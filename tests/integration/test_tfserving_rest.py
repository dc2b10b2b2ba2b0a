"""The emulated tensorflow_model_server's REST API and Prometheus endpoint as TF Serving 2.19.0 serves them
(http_rest_api_handler.cc, get_model_status_impl.cc, http_server.cc, prometheus_exporter.cc)."""

from __future__ import annotations

import json

import pytest

from tests.support.tfserving import BASE, CONFIG, MONITORING, Emulator, argv, get_json, models_config, request

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
