"""TF Serving pods in-process for unit tests: the operator's own children, run by the emulator.

A pod here is what the pod farm would run for it: the Deployment's pod template and the ConfigMap the
operator renders for a ModelDeployment, an emulated tensorflow_model_server started from that pod's
command and args, reading its mounted files, bound to its pod IP after the address map (pod network
10.244.0.0/16 onto a random /16 of loopback, as LocalCluster does).

What stands in for which real component, and the file each follows:
- TF Serving itself: ``modeldeploy.localcluster.tfserving`` (every behaviour there cites its
  tensorflow/serving 2.19.0 source file: model_servers/main.cc, server.cc, server_core.cc,
  http_rest_api_handler.cc, core/servable_state_monitor.cc, ...). Nothing of TF Serving is emulated here.
- The container's argv: command followed by args, as the kubelet builds it (k8s.io/kubernetes
  pkg/kubelet/container/helpers.go, ExpandContainerCommandAndArgs), via ``podview.pod_view``.
- The mounted ConfigMap: each key a file under the mount path, re-read after an update as the kubelet's
  ConfigMap volume refreshes it (pkg/volume/configmap/configmap.go, pkg/volume/util/atomic_writer.go).
"""

from __future__ import annotations

import ipaddress
import itertools
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modeldeploy.config import ModelStatusConfig, OperatorConfig
from modeldeploy.desired import build_children
from modeldeploy.localcluster.podfarm import PodModelStore, pod_overlay_root
from modeldeploy.localcluster.podview import PodView, pod_view
from modeldeploy.localcluster.tfserving.server import EmulatedModelServer
from modeldeploy.modelstatusapi import translate_address
from modeldeploy.spec import parse_spec

POD_NET = ipaddress.ip_network("10.244.0.0/16")
LOCAL_NET = ipaddress.ip_network(f"127.{random.randint(100, 250)}.0.0/16")
ADDRESS_MAP = ((POD_NET, LOCAL_NET),)
_addresses = itertools.count(random.randint(1, 30000))


def model_status_config(**settings: Any) -> ModelStatusConfig:
    return ModelStatusConfig(address_map=ADDRESS_MAP, **settings)


@dataclass
class EmulatedPod:
    pod: dict[str, Any]  # Running and Ready, as the API server shows it
    configmap: dict[str, Any]
    view: PodView
    server: EmulatedModelServer
    store_root: Path
    files_read: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        host = translate_address(model_status_config(), self.view.ip)
        return f"http://{host}:{self.server.rest_port}"

    @property
    def overlay(self) -> Path:
        return pod_overlay_root(self.store_root, self.view.namespace, self.view.name)

    def update_config(self, md: Mapping[str, Any], config: OperatorConfig | None = None) -> None:
        """What the kubelet does after the ConfigMap changed: the mounted files show the new data."""
        self.configmap = _children(md, config or OperatorConfig())["ConfigMap"]

    def stop(self) -> None:
        self.server.stop()


def _children(md: Mapping[str, Any], config: OperatorConfig) -> dict[str, dict[str, Any]]:
    meta = md["metadata"]
    spec = parse_spec(meta["name"], meta["namespace"], md["spec"], config)
    return {obj["kind"]: obj for obj in build_children(spec, config)}


def start_pod(
    md: Mapping[str, Any], store_root: Path, config: OperatorConfig | None = None, time_scale: float = 1.0
) -> EmulatedPod:
    """Start one pod of ``md`` and wait for its initial load (raises ServerExit as the binary exits)."""
    children = _children(md, config or OperatorConfig())
    template = children["Deployment"]["spec"]["template"]
    ip = str(POD_NET.network_address + next(_addresses) % POD_NET.num_addresses)
    meta = md["metadata"]
    pod = {
        "metadata": {
            "name": f"{meta['name']}-{uuid.uuid4().hex[:5]}",
            "namespace": meta["namespace"],
            "uid": str(uuid.uuid4()),
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    view = pod_view(pod)
    assert view is not None
    holder: dict[str, Any] = {}

    def read_file(path: str) -> str:
        holder["pod"].files_read.append(path)
        return view.read_file(lambda name: holder["pod"].configmap, path)

    store = PodModelStore(store_root, view.aliases, pod_overlay_root(store_root, view.namespace, view.name))
    host = translate_address(model_status_config(), ip)
    server = EmulatedModelServer(view.argv, read_file, store, host=host, time_scale=time_scale)
    emulated = EmulatedPod(pod, children["ConfigMap"], view, server, store_root)
    holder["pod"] = emulated
    server.run()
    return emulated
