"""The text-format config files tensorflow_model_server reads, parsed with TF Serving's own messages.

models.config uses ``ModelServerConfig`` from the tensorflow-serving-api wheel. The wheel ships neither
``MonitoringConfig`` nor ``BatchingParameters`` (and the latter's file imports TensorFlow's protos), so those
two messages are declared here with the field names, numbers and types of
tensorflow_serving/config/monitoring_config.proto and the ``BatchingParameters`` message of
tensorflow_serving/servables/tensorflow/session_bundle_config.proto (tag 2.19.0), and parsed by the same
protobuf text-format parser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format, wrappers_pb2
from google.protobuf.message import Message
from tensorflow_serving.config import model_server_config_pb2

from modeldeploy.localcluster.tfserving.status import Status, StatusError

_F = descriptor_pb2.FieldDescriptorProto
_EMULATOR_FILE = "modeldeploy/tfserving_emulator_configs.proto"


def _build_messages() -> tuple[type[Message], type[Message]]:
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(
        name=_EMULATOR_FILE, package="tensorflow.serving", syntax="proto3", dependency=[wrappers.name]
    )

    def add(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, **kw: Any) -> None:
        message.field.add(name=name, number=number, type=kind, label=kw.pop("label", _F.LABEL_OPTIONAL), **kw)

    prometheus = file.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, _F.TYPE_BOOL)
    add(prometheus, "path", 2, _F.TYPE_STRING)
    monitoring = file.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, _F.TYPE_MESSAGE, type_name=".tensorflow.serving.PrometheusConfig")

    batching = file.message_type.add(name="BatchingParameters")
    int64_value = ".google.protobuf.Int64Value"
    for name, number, type_name in (
        ("max_batch_size", 1, int64_value),
        ("batch_timeout_micros", 2, int64_value),
        ("max_enqueued_batches", 3, int64_value),
        ("num_batch_threads", 4, int64_value),
        ("thread_pool_name", 5, ".google.protobuf.StringValue"),
        ("enable_large_batch_splitting", 8, ".google.protobuf.BoolValue"),
        ("max_execution_batch_size", 9, int64_value),
    ):
        add(batching, name, number, _F.TYPE_MESSAGE, type_name=type_name)
    add(batching, "allowed_batch_sizes", 6, _F.TYPE_INT64, label=_F.LABEL_REPEATED)
    add(batching, "pad_variable_length_inputs", 7, _F.TYPE_BOOL)

    pool.Add(file)
    classes = message_factory.GetMessages([file], pool=pool)
    return classes["tensorflow.serving.MonitoringConfig"], classes["tensorflow.serving.BatchingParameters"]


MonitoringConfig, BatchingParameters = _build_messages()
ModelServerConfig = model_server_config_pb2.ModelServerConfig

M = TypeVar("M", bound=Message)


def parse_proto_text_file(read_file: Callable[[str], str], path: str, message_type: type[M]) -> M:
    """tensorflow_serving/util/proto_util.h ParseProtoTextFile: read the file, parse it as text format.

    A missing file is the NOT_FOUND of TF's posix file system ("<path>; No such file or directory"); a text
    that does not parse is INVALID_ARGUMENT "Invalid protobuf file: '<path>'".
    """
    try:
        text = read_file(path)
    except FileNotFoundError as exc:
        raise StatusError(Status("NOT_FOUND", f"{path}; No such file or directory")) from exc
    except IsADirectoryError as exc:
        raise StatusError(Status("FAILED_PRECONDITION", f"{path}; Is a directory")) from exc
    except PermissionError as exc:
        raise StatusError(Status("PERMISSION_DENIED", f"{path}; Permission denied")) from exc
    message = message_type()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise StatusError(Status("INVALID_ARGUMENT", f"Invalid protobuf file: '{path}'")) from exc
    return message
