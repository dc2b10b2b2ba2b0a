"""An emulator of ``tensorflow_model_server`` (TF Serving 2.19), held to TF Serving's source.

Test and demo infrastructure: the local cluster runs one per TF Serving pod, started from the pod's real
argv and its mounted ConfigMap. The operator's own modules never import it.

What is emulated, each with the upstream file it follows (tag 2.19.0 of tensorflow/serving unless noted):

- The command line (``flags.py``): main.cc's flag list with server.h's types and defaults, parsed by
  tensorflow/core/util/command_line_flags.cc. An unparsable value (``--port=x``, ``--enable_batching=1``)
  or a leading ``--help`` prints the usage and exits 255. An unknown flag does NOT end the process: main.cc
  prints ``unknown argument: <flag>`` and the usage, then starts anyway (tensorflow/serving#315). The
  image's ``/usr/bin/tf_serving_entrypoint.sh`` (tools/docker/Dockerfile) is expanded as the image does.
- Start-up (``server.py``): server.cc BuildAndStart's checks and order: models.config, batching.config,
  ServerCore (the initial load, blocking with no timeout), the config poll, the gRPC port, monitoring.config,
  the REST port. A failed start prints ``Failed to start server. Error: <status>`` and exits 255.
- Config files (``protos.py``): ModelServerConfig from the tensorflow-serving-api wheel; MonitoringConfig
  and BatchingParameters declared with the field lists of monitoring_config.proto and
  session_bundle_config.proto (the wheel lacks them); a text-format error is ``Invalid protobuf file``.
- ServerCore (``core.py``): server_core.cc ReloadConfig, version labels (UpdateModelVersionLabelMap with
  ``--allow_version_labels_for_unavailable_models``), the initial-load and new-model waits
  (load_servables_fast.cc), request resolution (labels, Latest, Specific).
- Versions (``source.py``, ``manager.py``): file_system_storage_path_source.cc (latest N / specific / all
  over the version directories present; missing base path; unsupported schemes such as ``s3://``),
  availability_preserving_policy.cc, aspired_versions_manager.cc, loader_harness.cc + util/retrier.cc
  (``--max_num_load_retries``, ``--load_retry_interval_micros``), batching's allowed_batch_sizes check
  (servables/tensorflow/bundle_factory_util.cc).
- States (``monitor.py``): servable_state_monitor.cc, END states kept with their error for the life of the
  process.
- REST (``rest.py``): http_server.cc, http_rest_api_handler.cc, http_rest_api_util.cc,
  get_model_status_impl.cc, util/json_tensor.cc, util/prometheus_exporter.cc.

What is not: the gRPC services (the port is bound and accepts connections, nothing more: the gRPC
status protos import TensorFlow's), real models (every version is an identity model: predict returns its
``instances`` as ``predictions``), classify/regress, metrics other than
``:tensorflow:serving:request_count``, ``--platform_config_file`` (refused), ``--grpc_socket_path`` (not
created), the contents of ``--tensorflow_session_config_file`` (only read), SSL.

Load times, load failures and which versions exist come from a ``ModelStore`` (``store.py``).
"""

from modeldeploy.localcluster.tfserving.server import EmulatedModelServer, ServerExit
from modeldeploy.localcluster.tfserving.store import ModelStore, VersionSpec

__all__ = ["EmulatedModelServer", "ModelStore", "ServerExit", "VersionSpec"]
