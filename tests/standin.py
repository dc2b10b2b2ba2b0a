"""A TF Serving stand-in for tests: the REST model status API, told what to report.

No TF Serving binary can run here, so tests point the operator (configuration `modelStatus.endpointOverride`)
at this server. It answers like tensorflow_model_server's REST API:

- ``GET /v1/models/<model>``: every version's GetModelStatusResponse, as JSON
  ``{"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK",
  "error_message": ""}}]}``; 404 ``{"error": "Servable not found for request: Latest(<model>)"}`` for an
  unknown model.
- ``GET /v1/models/<model>/versions/<n>`` and ``GET /v1/models/<model>/labels/<label>``: one version.
- ``POST /v1/models/<model>[/versions/<n>|/labels/<label>]:predict``: ``{"predictions": <instances>}``
  (an identity model), so that documented client calls can be exercised.

gRPC is not offered: tensorflow_serving.apis.get_model_status_pb2 imports tensorflow's error_codes_pb2, and
tensorflow cannot be installed here.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/v1/models/(?P<model>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?$")


@dataclass
class _Version:
    state: str
    error_code: str = "OK"
    error_message: str = ""

    def json(self, number: int) -> dict[str, Any]:
        return {
            "version": str(number),
            "state": self.state,
            "status": {"error_code": self.error_code, "error_message": self.error_message},
        }


class TFServingStandIn:
    """Start with ``start()``; ``url`` is the base URL (``http://127.0.0.1:<port>``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, dict[int, _Version]] = {}
        self._labels: dict[str, dict[str, int]] = {}
        self.requests: Counter[str] = Counter()  # request path -> count
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="tfserving-standin"
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TFServingStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- control ---------------------------------------------------------------------------------------

    def set_version(
        self, model: str, version: int, state: str, error_code: str = "OK", error_message: str = ""
    ) -> None:
        """Report ``version`` of ``model`` in ``state`` (START, LOADING, AVAILABLE, UNLOADING, END)."""
        with self._lock:
            self._models.setdefault(model, {})[version] = _Version(state, error_code, error_message)

    def set_labels(self, model: str, labels: dict[str, int]) -> None:
        with self._lock:
            self._labels[model] = dict(labels)

    def remove_model(self, model: str) -> None:
        with self._lock:
            self._models.pop(model, None)
            self._labels.pop(model, None)

    def polls(self, model: str) -> int:
        """How many status requests ``GET /v1/models/<model>`` were answered."""
        return self.requests[f"/v1/models/{model}"]

    # -- HTTP ------------------------------------------------------------------------------------------

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        predict = path.endswith(":predict")
        match = _PATH.match(path.removesuffix(":predict"))
        if match is None or (method == "POST") != predict:
            return 404, {"error": f"Malformed request: {method} {path}"}
        model = match["model"]
        with self._lock:
            self.requests[path] += 1
            versions = dict(self._models.get(model, {}))
            labels = dict(self._labels.get(model, {}))
        available = sorted(n for n, v in versions.items() if v.state == "AVAILABLE")
        if match["label"] is not None:
            if match["label"] not in labels:
                return 404, {"error": f"Unrecognized servable version label: {match['label']}"}
            chosen: int | None = labels[match["label"]]
        elif match["version"] is not None:
            chosen = int(match["version"])
        else:
            chosen = None
        if not versions or (chosen is not None and chosen not in versions):
            wanted = f"Specific({model}, {chosen})" if chosen is not None else f"Latest({model})"
            return 404, {"error": f"Servable not found for request: {wanted}"}
        if predict:
            number = chosen if chosen is not None else (available[-1] if available else None)
            if number is None or versions[number].state != "AVAILABLE":
                return 404, {"error": f"Servable not found for request: Latest({model})"}
            instances = json.loads(body or b"{}").get("instances", [])
            return 200, {"predictions": instances}
        shown = sorted(versions) if chosen is None else [chosen]
        return 200, {"model_version_status": [versions[n].json(n) for n in shown]}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                code, payload = standin._answer(method, self.path, self.rfile.read(length) if length else b"")
                data = json.dumps(payload, indent=1).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._reply("GET")

            def do_POST(self) -> None:
                self._reply("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: tests read the request counters instead

        return Handler
