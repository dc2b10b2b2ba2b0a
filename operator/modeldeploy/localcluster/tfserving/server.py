# Over 300 lines: one emulated model server, main.cc and server.cc step by step.
"""One emulated tensorflow_model_server process: main() and Server::BuildAndStart in their order.

Follows tensorflow_serving/model_servers/main.cc (flags, the exit codes and what is printed) and
model_servers/server.cc (BuildAndStart: checks, config files, ServerCore first, then the model config
poll, the gRPC port, the monitoring config and the REST port; PollFilesystemAndReloadConfig).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from modeldeploy.localcluster.tfserving import flags as tf_flags
from modeldeploy.localcluster.tfserving.core import Crash, ServerCore
from modeldeploy.localcluster.tfserving.manager import LoadSettings
from modeldeploy.localcluster.tfserving.monitor import ServerLog
from modeldeploy.localcluster.tfserving.protos import (
    BatchingParameters,
    ModelServerConfig,
    MonitoringConfig,
    parse_proto_text_file,
)
from modeldeploy.localcluster.tfserving.rest import (
    DEFAULT_PROMETHEUS_PATH,
    RequestCounter,
    RestApi,
    RestSettings,
    make_http_server,
)
from modeldeploy.localcluster.tfserving.status import Status, StatusError
from modeldeploy.localcluster.tfserving.store import ModelStore
from modeldeploy.localcluster.tfserving.timers import LISTENERS, TIMERS, Timer, accept_and_close

TF_SERVING_VERSION = "2.19.0"
EXIT_FAILURE = 255  # main() returns -1
EXIT_ABORT = 134  # LOG(FATAL) aborts: 128 + SIGABRT
EXIT_TERMINATED = 143  # SIGTERM, which the server does not handle: 128 + SIGTERM
EXIT_NOT_FOUND = 127  # the container's command is not in the image
# Batcher::QueueOptions().input_batch_size_limit: the max_batch_size when batching.config leaves it out.
DEFAULT_MAX_BATCH_SIZE = 1000


class ServerExit(Exception):
    """The emulated process ended: its exit code and the last line it printed."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"exit {code}: {message}")
        self.code = code
        self.message = message


class EmulatedModelServer:
    def __init__(
        self,
        argv: Sequence[str],
        read_file: Callable[[str], str],
        store: ModelStore,
        host: str = "127.0.0.1",
        time_scale: float = 1.0,
        *,
        poll_scale: float = 1.0,
        env: Mapping[str, str] | None = None,
        port_map: Mapping[int, int] | None = None,
        name: str = "tensorflow_model_server",
    ) -> None:
        """``time_scale`` multiplies load times and load retry intervals; ``poll_scale`` multiplies the
        model config and file-system poll intervals (kept apart: many servers polling fast cost CPU).
        ``port_map`` maps a port from argv to the port bound on ``host`` (0 for an ephemeral one), for
        tests sharing one address."""
        self.argv = list(argv)
        self._read_file = read_file
        self._store = store
        self.host = host
        self.time_scale = time_scale
        self.poll_scale = poll_scale
        self._env = dict(env or {})
        self._port_map = dict(port_map or {})
        self.log = ServerLog(name)
        self.counter = RequestCounter()
        self.core: ServerCore | None = None
        self.exit: ServerExit | None = None
        self.serving = threading.Event()  # set once run() has opened the ports
        self._stopped = threading.Event()
        self._http: Any = None
        self._grpc_socket: socket.socket | None = None
        self._poll_timer: Timer | None = None
        self._lock = threading.Lock()

    # ---- public ----------------------------------------------------------------------------------
    @property
    def rest_port(self) -> int | None:
        return int(self._http.server_address[1]) if self._http is not None else None

    @property
    def grpc_port(self) -> int | None:
        return int(self._grpc_socket.getsockname()[1]) if self._grpc_socket is not None else None

    @property
    def log_lines(self) -> list[str]:
        return list(self.log.lines)

    def status(self, model: str) -> list[dict[str, Any]]:
        """Every version the state monitor knows, as the REST status reply lists them."""
        if self.core is None:
            return []
        return [
            {"version": v, "state": s.state, "error_code": s.health.code, "error_message": s.health.message}
            for v, s in self.core.monitor.version_states(model)
        ]

    def request_counts(self) -> dict[tuple[str, str], int]:
        return self.counter.snapshot()

    def run(self) -> None:
        """Start like the real binary: returns once serving, raises ServerExit where it would exit."""
        try:
            self._run()
        except ServerExit as exc:
            if exc.code != 0:
                self.log.error(exc.message)
            self._close()
            raise

    def stop(self) -> None:
        """SIGTERM: the process ends (the real server has no graceful shutdown of its own)."""
        self._stopped.set()
        self._close()

    # ---- main.cc ---------------------------------------------------------------------------------
    def _run(self) -> None:
        argv = tf_flags.expand_entrypoint(self.argv, self._env)
        if argv is None:
            program = self.argv[0] if self.argv else ""
            raise ServerExit(EXIT_NOT_FOUND, f'exec: "{program}": executable file not found in $PATH')
        parsed = tf_flags.parse_flags(argv[1:])
        for line in parsed.errors:
            self.log.error(line)
        if not parsed.ok:
            raise ServerExit(EXIT_FAILURE, "\n".join([*parsed.errors, tf_flags.usage(argv[0])]))
        if parsed.get_bool("version"):
            raise ServerExit(
                0, f"TensorFlow ModelServer: {TF_SERVING_VERSION}\nTensorFlow Library: {TF_SERVING_VERSION}"
            )
        if parsed.unknown:
            # main.cc prints the first argument nobody claimed, and the usage, then starts anyway:
            # nothing returns there, and tsl/platform/default/port.cc InitMain leaves argv alone.
            self.log.error(f"unknown argument: {parsed.unknown[0]}")
        try:
            self._build_and_start(parsed)
        except StatusError as exc:
            raise ServerExit(EXIT_FAILURE, f"Failed to start server. Error: {exc.status}") from exc
        except Crash as exc:
            raise ServerExit(EXIT_ABORT, str(exc)) from exc

    # ---- server.cc BuildAndStart -----------------------------------------------------------------
    def _build_and_start(self, f: tf_flags.ParsedFlags) -> None:
        def invalid(message: str) -> StatusError:
            return StatusError(Status("INVALID_ARGUMENT", message))

        grpc_port, http_port = f.get_int("port"), f.get_int("rest_api_port")
        if grpc_port == 0 and not f.get_str("grpc_socket_path"):
            raise invalid(
                "At least one of server_options.grpc_port or server_options.grpc_socket_path must be set."
            )
        if f.get_bool("use_alts_credentials") and f.get_str("ssl_config_file"):
            raise invalid("Either use_alts_credentials must be false or ssl_config_file must be empty.")
        config_file = f.get_str("model_config_file")
        if not f.get_str("model_base_path") and not config_file:
            raise invalid(
                "Both server_options.model_base_path and server_options.model_config_file are empty!"
            )
        if config_file:
            config = parse_proto_text_file(self._read_file, config_file, ModelServerConfig)
        else:
            config = ModelServerConfig()
            model = config.model_config_list.config.add()
            model.name, model.base_path, model.model_platform = (
                f.get_str("model_name"),
                f.get_str("model_base_path"),
                "tensorflow",
            )
        if f.get_str("platform_config_file"):
            raise invalid(
                "emulator: --platform_config_file is not emulated (its PlatformConfigMap needs TensorFlow)"
            )
        load_error = self._batching_load_error(f)
        if f.get_str("tensorflow_session_config_file"):
            # Read like the real server; its ConfigProto (a TensorFlow message) is not interpreted.
            parse_file_exists(self._read_file, f.get_str("tensorflow_session_config_file"))
        intra, inter = (
            f.get_int("tensorflow_intra_op_parallelism"),
            f.get_int("tensorflow_inter_op_parallelism"),
        )
        if intra > 0 and inter > 0 and f.get_int("tensorflow_session_parallelism") > 0:
            raise invalid(
                "Either configure server_options.tensorflow_session_parallelism or "
                "(server_options.tensorflow_intra_op_parallelism, "
                "server_options.tensorflow_inter_op_parallelism) separately. You cannot configure all."
            )
        settings = LoadSettings(
            max_num_load_retries=f.get_int("max_num_load_retries"),
            load_retry_interval_micros=f.get_int("load_retry_interval_micros"),
            num_load_threads=f.get_int("num_load_threads"),
            initial_load_threads=4 * tf_flags.NUM_CPUS,
            time_scale=self.time_scale,
            load_error=load_error,
        )
        self.core = ServerCore(
            self._store,
            self.log,
            settings,
            f.get_bool("allow_version_labels_for_unavailable_models"),
            f.get_int("file_system_poll_wait_seconds"),
            self.poll_scale,
        )
        self._initial_load(config)
        self.core.manager.finish_initial_load()
        poll_seconds = f.get_int("model_config_file_poll_wait_seconds")
        if poll_seconds > 0 and config_file:
            # Started after ServerCore::Create; PeriodicFunction runs at once, then every interval.
            self._schedule_config_poll(config_file, poll_seconds, 0.0)
        if grpc_port != 0:
            self._grpc_socket = self._bind_grpc(grpc_port)
            self.log.info(f"Running gRPC ModelServer at 0.0.0.0:{grpc_port} ...")
        if http_port != 0:
            if http_port != grpc_port:
                monitoring = MonitoringConfig()
                if f.get_str("monitoring_config_file"):
                    monitoring = parse_proto_text_file(
                        self._read_file, f.get_str("monitoring_config_file"), MonitoringConfig
                    )
                self._start_http(http_port, monitoring, f.get_bool("rest_api_enable_cors_support"))
            else:
                self.log.error(
                    "server_options.http_port cannot be same as grpc_port. Please use a different port for "
                    "HTTP/REST API. Skipped exporting HTTP/REST API."
                )
        if self._stopped.is_set():  # stop() raced the port opening: nothing may stay bound
            raise ServerExit(EXIT_TERMINATED, "terminated while starting")
        self.serving.set()

    def _batching_load_error(self, f: tf_flags.ParsedFlags) -> Status | None:
        path = f.get_str("batching_parameters_file")
        if not f.get_bool("enable_batching"):
            if path:
                raise StatusError(
                    Status(
                        "INVALID_ARGUMENT",
                        "server_options.batching_parameters_file is set without setting "
                        "server_options.enable_batching to true.",
                    )
                )
            return None
        if not path:
            return None
        params: Any = parse_proto_text_file(self._read_file, path, BatchingParameters)
        # servables/tensorflow/bundle_factory_util.cc WrapSessionForBatching: checked at every model load.
        sizes = list(params.allowed_batch_sizes)
        if sizes:
            max_size = (
                params.max_batch_size.value if params.HasField("max_batch_size") else DEFAULT_MAX_BATCH_SIZE
            )
            if sizes[-1] != max_size:
                return Status(
                    "INVALID_ARGUMENT",
                    "Last entry in allowed_batch_sizes must match max_batch_size; last entry was "
                    f"{sizes[-1]}; expected {max_size}",
                )
        return None

    def _initial_load(self, config: ModelServerConfig) -> None:
        """ServerCore::Create: the first ReloadConfig blocks until every model's latest version is
        AVAILABLE or has ended (no timeout: a base path with no versions keeps the server starting)."""
        assert self.core is not None
        done = threading.Event()
        result: list[Status] = []

        def finished(status: Status) -> None:
            result.append(status)
            done.set()

        self.core.reload_config(config, finished)
        while not done.wait(0.2):
            if self._stopped.is_set():
                raise ServerExit(EXIT_TERMINATED, "terminated while loading the initial models")
        if not result[0].ok:
            raise StatusError(result[0])
        if self._stopped.is_set():
            raise ServerExit(EXIT_TERMINATED, "terminated while loading the initial models")

    def _schedule_config_poll(self, path: str, interval: int, delay: float) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self._poll_timer = TIMERS.call_later(delay, lambda: self._poll_config(path, interval))

    def _poll_config(self, path: str, interval: int) -> None:
        """Server::PollFilesystemAndReloadConfig: errors are logged and the old models keep serving."""
        assert self.core is not None
        started = time.monotonic()

        def again() -> None:
            elapsed = time.monotonic() - started
            self._schedule_config_poll(path, interval, max(0.0, interval * self.poll_scale - elapsed))

        try:
            config = parse_proto_text_file(self._read_file, path, ModelServerConfig)
        except StatusError as exc:
            self.log.error(f"Failed to read ModelServerConfig file: {exc.status.message}")
            again()
            return

        def reloaded(status: Status) -> None:
            if not status.ok:
                self.log.error(f"PollFilesystemAndReloadConfig failed to ReloadConfig: {status.message}")
            again()

        try:
            self.core.reload_config(config, reloaded)
        except Crash as exc:
            self.exit = ServerExit(EXIT_ABORT, str(exc))
            self.log.error(str(exc))
            self.stop()

    def _bind_grpc(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._port_map.get(port, port)))
            sock.listen(64)
        except OSError as exc:
            sock.close()
            # server.cc: grpc::ServerBuilder::BuildAndStart returns null when it cannot listen.
            raise StatusError(Status("INVALID_ARGUMENT", "Failed to BuildAndStart gRPC server")) from exc
        LISTENERS.add(sock, accept_and_close(sock))
        return sock

    def _start_http(self, port: int, monitoring: Any, cors: bool) -> None:
        assert self.core is not None
        prometheus = monitoring.prometheus_config
        path = (prometheus.path or DEFAULT_PROMETHEUS_PATH) if prometheus.enable else None
        api = RestApi(self.core, self.counter, RestSettings(prometheus_path=path, enable_cors=cors))
        try:
            self._http = make_http_server(self.host, self._port_map.get(port, port), api)
        except OSError:
            # server.cc logs and goes on without REST when the HTTP server cannot start.
            self.log.error(f"Failed to start HTTP Server at localhost:{port}")
            return
        # The shared listener loop accepts; each connection gets a handler thread (ThreadingHTTPServer).
        LISTENERS.add(self._http.socket, self._http._handle_request_noblock)
        self.log.info(f"Exporting HTTP/REST API at:localhost:{port} ...")

    def _close(self) -> None:
        with self._lock:
            if self._poll_timer is not None:
                self._poll_timer.cancel()
            http, self._http = self._http, None
            grpc, self._grpc_socket = self._grpc_socket, None
        if self.core is not None:
            self.core.stop()
        if http is not None:
            LISTENERS.remove(http.socket)
            http.server_close()
        if grpc is not None:
            LISTENERS.remove(grpc)
            grpc.close()


def parse_file_exists(read_file: Callable[[str], str], path: str) -> None:
    try:
        read_file(path)
    except FileNotFoundError as exc:
        raise StatusError(Status("NOT_FOUND", f"{path}; No such file or directory")) from exc
