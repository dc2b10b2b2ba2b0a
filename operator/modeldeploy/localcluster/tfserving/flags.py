"""tensorflow_model_server's command line: its flag list and TensorFlow's flag parser, rule for rule.

Follows tensorflow_serving/model_servers/main.cc (the flag list, in its order) with the types and defaults
of tensorflow_serving/model_servers/server.h (Server::Options), parsed as
tensorflow/core/util/command_line_flags.cc (Flags::Parse) does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

FlagType = Literal["int32", "int64", "bool", "string", "float"]

ENTRYPOINT = "/usr/bin/tf_serving_entrypoint.sh"
BINARY = "tensorflow_model_server"
NUM_CPUS = os.cpu_count() or 1

# main.cc: (name, type, default). Defaults from server.h Server::Options (and main.cc's own locals); the
# order matters because Flags::Parse takes the first flag that claims an argument.
FLAG_LIST: tuple[tuple[str, FlagType, object], ...] = (
    ("port", "int32", 8500),
    ("grpc_socket_path", "string", ""),
    ("rest_api_port", "int32", 0),
    ("rest_api_num_threads", "int32", 4 * NUM_CPUS),
    ("rest_api_timeout_in_ms", "int32", 30000),
    ("rest_api_enable_cors_support", "bool", False),
    ("enable_batching", "bool", False),
    ("allow_version_labels_for_unavailable_models", "bool", False),
    ("batching_parameters_file", "string", ""),
    ("enable_per_model_batching_parameters", "bool", False),
    ("model_config_file", "string", ""),
    ("model_config_file_poll_wait_seconds", "int32", 0),
    ("model_name", "string", "default"),
    ("model_base_path", "string", ""),
    ("num_load_threads", "int32", 0),
    ("num_unload_threads", "int32", 0),
    ("max_num_load_retries", "int32", 5),
    ("load_retry_interval_micros", "int64", 60_000_000),
    ("file_system_poll_wait_seconds", "int32", 1),
    ("flush_filesystem_caches", "bool", True),
    ("tensorflow_session_parallelism", "int64", 0),
    ("tensorflow_session_config_file", "string", ""),
    ("tensorflow_intra_op_parallelism", "int64", 0),
    ("tensorflow_inter_op_parallelism", "int64", 0),
    ("use_alts_credentials", "bool", False),
    ("ssl_config_file", "string", ""),
    ("platform_config_file", "string", ""),
    ("per_process_gpu_memory_fraction", "float", 0.0),
    ("saved_model_tags", "string", "serve"),
    ("grpc_channel_arguments", "string", ""),
    ("grpc_max_threads", "int32", 4 * NUM_CPUS),
    ("enable_model_warmup", "bool", True),
    ("num_request_iterations_for_warmup", "int32", 0),
    ("version", "bool", False),
    ("monitoring_config_file", "string", ""),
    ("remove_unused_fields_from_bundle_metagraph", "bool", True),
    ("prefer_tflite_model", "bool", False),
    ("num_tflite_pools", "int32", NUM_CPUS),
    ("num_tflite_interpreters_per_pool", "int32", 1),
    ("enable_signature_method_name_check", "bool", False),
    ("xla_cpu_compilation_enabled", "bool", False),
    ("xla_gpu_compilation_enabled", "bool", False),
    ("enable_profiler", "bool", True),
    ("thread_pool_factory_config_file", "string", ""),
    ("mixed_precision", "string", ""),
    ("skip_initialize_tpu", "bool", False),
    ("enable_grpc_healthcheck_service", "bool", False),
    ("enable_serialization_as_tensor_content", "bool", False),
)

# sscanf("%d%c") / ("%lld%c") / ("%f%c") accept leading white space and nothing after the number.
_INTEGER = re.compile(r"\s*[+-]?\d+", re.ASCII)
_FLOAT = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII
)


@dataclass
class ParsedFlags:
    values: dict[str, object]
    unknown: list[str] = field(default_factory=list)  # what Flags::Parse passed through, in order
    errors: list[str] = field(default_factory=list)  # LOG(ERROR) lines of unparsable values
    ok: bool = True

    def get_int(self, name: str) -> int:
        value = self.values[name]
        assert isinstance(value, int)
        return value

    def get_str(self, name: str) -> str:
        value = self.values[name]
        assert isinstance(value, str)
        return value

    def get_bool(self, name: str) -> bool:
        value = self.values[name]
        assert isinstance(value, bool)
        return value


def _wrap(value: int, bits: int) -> int:
    # glibc's %d goes through strtol (saturating at the long range) and stores the low 32 bits.
    value = max(-(2**63), min(2**63 - 1, value))
    if bits == 64:
        return value
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _parse_one(arg: str, name: str, kind: FlagType) -> tuple[bool, bool, object]:
    """command_line_flags.cc Parse<Type>Flag: (claimed the argument, value parsed, value)."""
    prefix = f"--{name}"
    if not arg.startswith(prefix):
        return False, True, None
    rest = arg[len(prefix) :]
    if kind == "bool":
        # A bool flag claims every argument that starts with its name; only "", "=true", "=false" parse.
        if rest in ("", "=true"):
            return True, True, True
        if rest == "=false":
            return True, True, False
        return True, False, rest
    if not rest.startswith("="):
        return False, True, None
    value = rest[1:]
    if kind == "string":
        return True, True, value
    if kind in ("int32", "int64"):
        if not _INTEGER.fullmatch(value):
            return True, False, value
        return True, True, _wrap(int(value), 32 if kind == "int32" else 64)
    if not _FLOAT.fullmatch(value):
        return True, False, value
    return True, True, float(value)


def parse_flags(args: Sequence[str]) -> ParsedFlags:
    """Flags::Parse over argv[1:]: known flags set values, the rest pass through; "--" ends parsing."""
    parsed = ParsedFlags(values={name: default for name, _, default in FLAG_LIST})
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            parsed.unknown.extend(args[index:])
            break
        for name, kind, _ in FLAG_LIST:
            claimed, value_ok, value = _parse_one(arg, name, kind)
            if not value_ok:
                parsed.ok = False
                parsed.errors.append(f"Couldn't interpret value {value} for flag {name}.")
            if claimed:
                if value_ok:
                    parsed.values[name] = value
                break
        else:
            parsed.unknown.append(arg)
        index += 1
    # Flags::Parse also fails when the first argument it passes through is --help.
    if parsed.unknown and parsed.unknown[0] == "--help":
        parsed.ok = False
    return parsed


def usage(argv0: str) -> str:
    """Flags::Usage's layout (help texts left out: they are TF Serving's prose)."""
    lines = [f"usage: {argv0}", "Flags:"]
    for name, kind, default in FLAG_LIST:
        if kind == "bool":
            shown = f"--{name}={'true' if default else 'false'}"
        elif kind == "string":
            shown = f'--{name}="{default}"'
        elif kind == "float":
            shown = f"--{name}={float(str(default)):f}"
        else:
            shown = f"--{name}={default}"
        lines.append(f"\t{shown:<33}\t{kind}\t")
    return "\n".join(lines) + "\n"


def expand_entrypoint(argv: Sequence[str], env: Mapping[str, str]) -> list[str] | None:
    """The command line the container really runs, or None when argv names neither program.

    tensorflow_serving/tools/docker/Dockerfile: the image's entrypoint script runs tensorflow_model_server
    with --port=8500 --rest_api_port=8501 --model_name=${MODEL_NAME}
    --model_base_path=${MODEL_BASE_PATH}/${MODEL_NAME} before the container's own arguments (image ENV:
    MODEL_NAME=model, MODEL_BASE_PATH=/models).
    """
    if not argv:
        return None
    program = argv[0]
    if program == ENTRYPOINT or (program == os.path.basename(ENTRYPOINT)):
        model_name = env.get("MODEL_NAME", "model")
        base = env.get("MODEL_BASE_PATH", "/models")
        return [
            BINARY,
            "--port=8500",
            "--rest_api_port=8501",
            f"--model_name={model_name}",
            f"--model_base_path={base}/{model_name}",
            *argv[1:],
        ]
    if os.path.basename(program) == BINARY and program in (BINARY, f"/usr/bin/{BINARY}"):
        return list(argv)
    return None
