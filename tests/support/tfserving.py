"""Starting emulated TF Serving processes in tests: files as the container sees them, ports, HTTP."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.localcluster.tfserving import EmulatedModelServer, ModelStore, ServerExit
from tests.support.waits import wait_for

CONFIG = "/etc/tfserving/models.config"
MONITORING = "/etc/tfserving/monitoring.config"
BATCHING = "/etc/tfserving/batching.config"
MONITORING_TEXT = 'prometheus_config {\n  enable: true\n  path: "/monitoring/prometheus/metrics"\n}\n'
BASE = "gs://acme/resnet"
# Load times are store seconds times TIME_SCALE; poll intervals (1 s by default) times POLL_SCALE.
TIME_SCALE = 0.01
POLL_SCALE = 0.05


def models_config(
    name: str = "resnet",
    base_path: str = BASE,
    policy: str = "latest { num_versions: 1 }",
    labels: dict[str, int] | None = None,
    platform: str = "tensorflow",
) -> str:
    label_text = "".join(
        f'    version_labels {{ key: "{k}" value: {v} }}\n' for k, v in (labels or {}).items()
    )
    return (
        "model_config_list {\n  config {\n"
        f'    name: "{name}"\n    base_path: "{base_path}"\n    model_platform: "{platform}"\n'
        f"    model_version_policy {{ {policy} }}\n{label_text}  }}\n}}\n"
    )


def two_models_config() -> str:
    """resnet at BASE and bert at gs://acme/bert, both latest 1."""
    two = models_config() + models_config(name="bert", base_path="gs://acme/bert")
    return two.replace("}\n}\nmodel_config_list {\n", "}\n")


@dataclass
class Files:
    """The container's files: a dict, so a test edits a mounted ConfigMap by assigning."""

    data: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> str:
        if path not in self.data:
            raise FileNotFoundError(path)
        return self.data[path]


def argv(*extra: str, poll: int | None = 1) -> list[str]:
    args = ["tensorflow_model_server", "--port=8500", "--rest_api_port=8501", f"--model_config_file={CONFIG}"]
    if poll is not None:
        args.append(f"--model_config_file_poll_wait_seconds={poll}")
    return [*args, f"--monitoring_config_file={MONITORING}", *extra]


class Emulator:
    def __init__(self, tmp_path: Path) -> None:
        self.store = ModelStore(tmp_path / "store")
        self.files = Files({CONFIG: models_config(), MONITORING: MONITORING_TEXT})
        self.servers: list[EmulatedModelServer] = []

    def server(self, args: Sequence[str] | None = None, **kw: Any) -> EmulatedModelServer:
        kw.setdefault("time_scale", TIME_SCALE)
        kw.setdefault("poll_scale", POLL_SCALE)
        server = EmulatedModelServer(
            list(args) if args is not None else argv(),
            self.files.read,
            self.store,
            port_map={8500: 0, 8501: 0},
            **kw,
        )
        self.servers.append(server)
        return server

    def start(self, args: Sequence[str] | None = None, **kw: Any) -> EmulatedModelServer:
        server = self.server(args, **kw)
        server.run()
        return server

    def exit_of(self, args: Sequence[str] | None = None, **kw: Any) -> ServerExit:
        server = self.server(args, **kw)
        try:
            server.run()
        except ServerExit as exc:
            return exc
        raise AssertionError("the emulated server started; expected it to exit")

    @contextmanager
    def starting(
        self, args: Sequence[str] | None = None, **kw: Any
    ) -> Iterator[tuple[EmulatedModelServer, list[Any]]]:
        """run() on a thread: yields the server and a list that receives run()'s outcome."""
        server = self.server(args, **kw)
        outcome: list[Any] = []

        def target() -> None:
            try:
                server.run()
                outcome.append("serving")
            except ServerExit as exc:
                outcome.append(exc)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        try:
            yield server, outcome
        finally:
            server.stop()
            thread.join(10)

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def request(
    server: EmulatedModelServer, method: str, path: str, body: Any = None
) -> tuple[int, str, dict[str, str]]:
    assert server.rest_port is not None, "REST is not serving"
    conn = http.client.HTTPConnection(server.host, server.rest_port, timeout=10)
    try:
        payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=payload)
        response = conn.getresponse()
        return response.status, response.read().decode(), dict(response.getheaders())
    finally:
        conn.close()


def get_json(server: EmulatedModelServer, path: str) -> tuple[int, Any]:
    code, text, _ = request(server, "GET", path)
    return code, json.loads(text)


def states(server: EmulatedModelServer, model: str = "resnet") -> list[tuple[int, str, str]]:
    return [(s["version"], s["state"], s["error_code"]) for s in server.status(model)]


def wait_states(
    server: EmulatedModelServer, expected: list[tuple[int, str, str]], model: str = "resnet"
) -> None:
    wait_for(lambda: states(server, model) == expected, timeout=20, interval=0.02, what=f"states {expected}")


def wait_log(server: EmulatedModelServer, text: str) -> str:
    return wait_for(
        lambda: next((line for line in server.log_lines if text in line), None),
        timeout=20,
        interval=0.02,
        what=f"a log line containing {text!r}",
    )
