"""Cost of hosting N emulated TF Serving servers in one process: start time, idle CPU, threads, memory.

.venv/bin/python tools/tfserving_emulator_bench.py 2000
"""

from __future__ import annotations

import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

from modeldeploy.localcluster.tfserving import EmulatedModelServer, ModelStore

MODEL = 'name: "resnet" base_path: "gs://acme/resnet" model_platform: "tensorflow"'
CONFIG = f"model_config_list {{ config {{ {MODEL} }} }}"
FILES = {
    "/etc/tfserving/models.config": CONFIG,
    "/etc/tfserving/monitoring.config": "prometheus_config { enable: true }",
}
ARGV = [
    "tensorflow_model_server",
    "--port=8500",
    "--rest_api_port=8501",
    "--model_config_file=/etc/tfserving/models.config",
    "--model_config_file_poll_wait_seconds=30",
    "--monitoring_config_file=/etc/tfserving/monitoring.config",
]


def main(count: int, idle_seconds: float = 10.0) -> None:
    store = ModelStore(Path(tempfile.mkdtemp()))
    store.add_version("gs://acme/resnet", 1)
    started, cpu = time.monotonic(), time.process_time()
    servers = []
    for i in range(count):
        server = EmulatedModelServer(
            ARGV, FILES.__getitem__, store, port_map={8500: 0, 8501: 0}, name=f"pod{i}"
        )
        server.run()
        servers.append(server)
    start_wall, start_cpu = time.monotonic() - started, time.process_time() - cpu
    cpu = time.process_time()
    time.sleep(idle_seconds)
    idle_cpu = time.process_time() - cpu
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"servers={count} start={start_wall:.2f}s (cpu {start_cpu:.2f}s) "
        f"idle_cpu={idle_cpu / idle_seconds:.1%} threads={threading.active_count()} max_rss={rss_mb:.0f}MB"
    )
    for server in servers:
        server.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
