"""The REST API and the Prometheus page, answered as tensorflow_model_server answers them.

Follows tensorflow_serving/model_servers/http_server.cc (dispatch, HTTP codes, the request counter),
http_rest_api_handler.cc and http_rest_api_util.cc (URL patterns, ModelSpec filling, error bodies),
get_model_status_impl.cc (status replies), util/json_tensor.cc (error JSON, predict body checks),
util/prometheus_exporter.cc (the exposition format) and util/net_http/server/internal/evhttp_server.cc
(paths nothing handles).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

from modeldeploy.localcluster.tfserving.core import ServerCore
from modeldeploy.localcluster.tfserving.status import HTTP_CODES, OK, Status, StatusError, fail

DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"  # PrometheusExporter::kPrometheusPath
# RE2's \d and \s are ASCII-only, hence re.ASCII throughout.
_DISPATCH = re.compile(r"/v1/.*", re.IGNORECASE | re.DOTALL | re.ASCII)  # kHTTPRestApiHandlerPathRegex
_PREDICT = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE | re.ASCII,
)
_STATUS = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:\/(metadata))?",
    re.IGNORECASE | re.ASCII,
)
_INT64_MAX = 2**63 - 1
# libevent's evhttp_send_error page for 404 with no reason given.
NOT_FOUND_PAGE = (
    "<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n</BODY></HTML>\n"
)


@dataclass
class RequestCounter:
    """/tensorflow/serving/request_count{model_name, status} (servables/tensorflow/util.cc)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, model_name: str, status: Status) -> None:
        with self.lock:
            key = (model_name, status.code)
            self.counts[key] = self.counts.get(key, 0) + 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self.lock:
            return dict(self.counts)


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def prometheus_page(counter: RequestCounter) -> str:
    """PrometheusExporter::GeneratePage for the counter the emulator keeps: a TYPE line, then one line per
    label set; metric names turn every character outside [a-zA-Z0-9_] into ':'."""
    lines = ["# TYPE :tensorflow:serving:request_count counter"]
    for (model, code), count in sorted(counter.snapshot().items()):
        lines.append(
            f':tensorflow:serving:request_count{{model_name="{_escape_label_value(model)}",'
            f'status="{_escape_label_value(code)}"}} {count}'
        )
    return "\n".join(lines) + "\n"


def error_json(status: Status) -> str:
    """json_tensor.cc MakeJsonFromStatus: a rapidjson PrettyWriter object with one "error" key."""
    return "{\n" + f'    "error": {json.dumps(status.message, ensure_ascii=False)}' + "\n}"


@dataclass(frozen=True)
class RestSettings:
    prometheus_path: str | None  # None: the monitoring config does not enable the exporter
    enable_cors: bool = False


class RestApi:
    """Request handling, kept apart from the socket server so tests and the harness can call it too."""

    def __init__(self, core: ServerCore, counter: RequestCounter, settings: RestSettings) -> None:
        self.core = core
        self.counter = counter
        self.settings = settings

    def handle(
        self, method: str, path: str, body: bytes, origin: str = ""
    ) -> tuple[int, list[tuple[str, str]], str]:
        """(HTTP code, headers, body) for one request; ``path`` is the URI path without its query."""
        if self.settings.prometheus_path is not None and path == self.settings.prometheus_path:
            return 200, [("Content-Type", "text/plain")], prometheus_page(self.counter)
        if not _DISPATCH.fullmatch(path):
            return (
                404,
                [("Content-Type", "text/html; charset=ISO-8859-1"), ("Connection", "close")],
                NOT_FOUND_PAGE,
            )
        headers = [("Content-Type", "application/json")]
        model_name = ""
        output = ""
        if method == "OPTIONS":
            # http_server.cc: a CORS preflight needs an http(s) Origin.
            status = (
                OK
                if re.search(r"https?://", origin)
                else Status("FAILED_PRECONDITION", "Origin header is missing in CORS preflight")
            )
            headers = []
        else:
            name_out: list[str] = []
            try:
                output = self._process(method, path, body, name_out)
                status = OK
            except StatusError as exc:
                status = exc.status
                output = error_json(status)
            # ParseModelInfo fills the model name before anything can fail, so failures count under it.
            model_name = name_out[0] if name_out else ""
        if self.settings.enable_cors:
            headers += [
                ("Access-Control-Allow-Origin", "*"),
                ("Access-Control-Allow-Methods", "POST, GET"),
                ("Access-Control-Allow-Headers", "Content-Type"),
            ]
        # http_server.cc RecordModelRequestCount: every /v1 request counts, status reads included.
        self.counter.record(model_name, status)
        return HTTP_CODES[status.code], headers, output

    def _process(self, method: str, path: str, body: bytes, name_out: list[str]) -> str:
        """HttpRestApiHandler::ProcessRequest; raises StatusError. Returns the JSON reply."""
        malformed = fail("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        pattern = _PREDICT if method == "POST" else _STATUS if method == "GET" else None
        match = pattern.fullmatch(path) if pattern is not None else None
        if match is None:
            raise malformed
        name = unquote(match.group(1) or "")
        name_out.append(name)
        version: int | None = None
        if match.group(2):
            version = int(match.group(2))
            if version > _INT64_MAX:  # absl::SimpleAtoi into int64
                raise fail("INVALID_ARGUMENT", f"Failed to convert version: {match.group(2)} to numeric.")
        label = unquote(match.group(3)) if match.group(3) else None
        if method == "POST":
            verb = match.group(4)
            if verb == "predict":
                return self._predict(name, version, label, body)
            if verb in ("classify", "regress"):
                # Not TF Serving's text: the emulated identity model only has a predict signature.
                self.core.servable_version(name, version, label)
                raise fail("INVALID_ARGUMENT", f"emulated identity model has no {verb} signature")
            raise malformed  # the verb matched case-insensitively but is compared exactly
        if not name:
            raise fail("INVALID_ARGUMENT", "Missing model name in request.")
        if match.group(4) == "metadata":
            return self._metadata(name, version, label)
        return self._status(name, version)

    def _status(self, name: str, version: int | None) -> str:
        """get_model_status_impl.cc: a version asked for by number, or every version the monitor knows.
        A label in the URL lands in ModelSpec.version_label, which GetModelStatus never reads."""
        if version is not None:
            state = self.core.monitor.get(name, version)
            if state is None:
                raise fail("NOT_FOUND", f"Could not find version {version} of model {name}")
            entries = [(version, state)]
        else:
            entries = self.core.monitor.version_states(name)
            if not entries:
                raise fail("NOT_FOUND", f"Could not find any versions of model {name}")
        statuses = [
            {
                "version": str(number),  # int64 in proto3 JSON is a string
                "state": state.state,
                "status": {"error_code": state.health.code, "error_message": state.health.message},
            }
            for number, state in entries
        ]
        # http_rest_api_util.cc ToJsonString: add_whitespace (one-space indent), defaults printed.
        return json.dumps({"model_version_status": statuses}, indent=1, ensure_ascii=False)

    def _metadata(self, name: str, version: int | None, label: str | None) -> str:
        """get_model_metadata_impl.cc needs a servable handle (so a label resolves); the identity model's
        signature stands in for a SavedModel's."""
        found = self.core.servable_version(name, version, label)
        tensor = {"dtype": "DT_FLOAT", "tensor_shape": {"dim": [], "unknown_rank": True}, "name": "x:0"}
        signature = {
            "serving_default": {
                "inputs": {"x": tensor},
                "outputs": {"y": {**tensor, "name": "Identity:0"}},
                "method_name": "tensorflow/serving/predict",
                "defaults": {},
            }
        }
        spec = {"name": name, "signature_name": "", "version": str(found)}
        return json.dumps(
            {"model_spec": spec, "metadata": {"signature_def": {"signature_def": signature}}}, indent=1
        )

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> str:
        """ProcessPredictRequest with an identity model: the label IS resolved here (through the handle)."""
        doc = _parse_json(body)
        if "signature_name" in doc and not isinstance(doc["signature_name"], str):
            raise fail(
                "INVALID_ARGUMENT",
                f"JSON Value: {_compact(doc)} not formatted correctly. "
                "'signature_name' key must be a string value.",
            )
        self.core.servable_version(name, version, label)
        has_instances, has_inputs = "instances" in doc, "inputs" in doc
        if has_instances and has_inputs:
            raise fail(
                "INVALID_ARGUMENT",
                f"JSON Value: {_compact(doc)} Not formatted correctly expecting only one of 'inputs' or "
                "'instances' keys to exist ",
            )
        if has_instances:
            instances = doc["instances"]
            if not isinstance(instances, list):
                raise fail(
                    "INVALID_ARGUMENT",
                    f"JSON Value: {_compact(doc)} Expecting 'instances' to be an list/array",
                )
            if not instances:
                raise fail("INVALID_ARGUMENT", f"JSON Value: {_compact(doc)} No values in 'instances' array")
            return json.dumps({"predictions": instances}, indent=4)
        if has_inputs:
            return json.dumps({"outputs": doc["inputs"]}, indent=4)
        raise fail("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _parse_json(body: bytes) -> dict[str, Any]:
    """json_tensor.cc ParseJson: empty, unparsable and non-object bodies are INVALID_ARGUMENT."""
    if not body:
        raise fail("INVALID_ARGUMENT", "JSON Parse error: The document is empty")
    try:
        # rapidjson's kParseStopWhenDoneFlag: whatever follows the first value is ignored.
        doc, _ = json.JSONDecoder().raw_decode(body.decode("utf-8").lstrip())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        offset = exc.pos if isinstance(exc, json.JSONDecodeError) else exc.start
        raise fail("INVALID_ARGUMENT", f"JSON Parse error: Invalid value. at offset: {offset}") from exc
    if not isinstance(doc, dict):
        raise fail("INVALID_ARGUMENT", f"JSON Value: {_compact(doc)} Is not object")
    return doc


def make_http_server(host: str, port: int, api: RestApi) -> ThreadingHTTPServer:
    """An HTTP/1.1 server on (host, port) answering through ``api``; raises OSError when it cannot bind."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def send_response(self, code: int, message: str | None = None) -> None:
            # evhttp sends no Server header; BaseHTTPRequestHandler would.
            self.send_response_only(code, message)
            self.send_header("Date", self.date_time_string())

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = self.path.split("?", 1)[0].split("#", 1)[0]
            code, headers, text = api.handle(self.command, path, body, self.headers.get("Origin", ""))
            payload = text.encode()
            self.send_response(code)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    return Server((host, port), Handler)
