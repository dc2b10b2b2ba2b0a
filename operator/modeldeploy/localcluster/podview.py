"""What a kubelet would hand TF Serving in one pod: its argv, its mounted files, its model paths, its probe.

Pure functions over the Pod object (and its ConfigMaps), used by the pod farm to start an emulated
tensorflow_model_server exactly as the container runtime would start the real one.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Obj = Mapping[str, Any]
TFSERVING_COMMAND = "tensorflow_model_server"


@dataclass(frozen=True)
class Probe:
    path: str
    port: int
    period_seconds: float = 10
    failure_threshold: int = 3


@dataclass(frozen=True)
class PodView:
    namespace: str
    name: str
    uid: str
    ip: str
    container: Obj
    volumes: Mapping[str, Obj]
    # pod-local path prefix -> model URI it holds (what an init container copied, or a mounted claim)
    aliases: Mapping[str, str] = field(default_factory=dict)

    @property
    def argv(self) -> list[str]:
        """command + args, as the container runtime runs them (the image's entrypoint is bypassed)."""
        return [*(self.container.get("command") or []), *(self.container.get("args") or [])]

    @property
    def readiness(self) -> Probe | None:
        probe = self.container.get("readinessProbe") or {}
        get = probe.get("httpGet")
        if not isinstance(get, Mapping):
            return None
        return Probe(
            path=str(get.get("path") or "/"),
            port=container_port(self.container, get.get("port")),
            period_seconds=float(probe.get("periodSeconds") or 10),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )

    def read_file(self, configmaps: Callable[[str], Obj | None], path: str) -> str:
        """The text at ``path`` inside the container, from the ConfigMap volume mounted over it.

        Raises FileNotFoundError like the real file system when nothing mounted there holds the file.
        """
        path = posixpath.normpath(path)
        mounts = sorted(
            self.container.get("volumeMounts") or [], key=lambda m: len(str(m.get("mountPath"))), reverse=True
        )
        for mount in mounts:
            root = posixpath.normpath(str(mount.get("mountPath") or ""))
            if path != root and not path.startswith(root.rstrip("/") + "/"):
                continue
            relative = posixpath.relpath(path, root)
            if mount.get("subPath"):
                relative = (
                    posixpath.join(str(mount["subPath"]), relative) if relative != "." else mount["subPath"]
                )
            source = (self.volumes.get(str(mount.get("name"))) or {}).get("configMap")
            if not isinstance(source, Mapping):
                break
            configmap = configmaps(str(source.get("name")))
            key = _configmap_key(source, relative)
            data = (configmap or {}).get("data") or {}
            if key is not None and key in data:
                return str(data[key])
            break
        raise FileNotFoundError(f"{path}: No such file or directory")


def _configmap_key(source: Obj, relative: str) -> str | None:
    items = source.get("items")
    if not items:
        return relative
    for item in items:
        if posixpath.normpath(str(item.get("path"))) == relative:
            return str(item.get("key"))
    return None


def container_port(container: Obj, port: object) -> int:
    if isinstance(port, int):
        return port
    for entry in container.get("ports") or ():
        if entry.get("name") == port:
            return int(entry["containerPort"])
    raise ValueError(f"container {container.get('name')} has no port named {port!r}")


def model_aliases(spec: Obj, container: Obj) -> dict[str, str]:
    """Pod-local model directories and the URI each holds: the rclone copy an init container made
    (desired/storage.py renders ``rclone copy <source> <target>``) and read-only claim mounts."""
    aliases: dict[str, str] = {}
    for init in spec.get("initContainers") or ():
        args: Sequence[str] = [str(a) for a in (init.get("args") or [])]
        if (init.get("command") or [None])[0] != "rclone" or not args or args[0] != "copy":
            continue
        positional = [a for a in args[1:] if not a.startswith("-")]
        if len(positional) < 2:
            continue
        source, target = positional[0], positional[1]
        url = next((a.split("=", 1)[1] for a in args if a.startswith("--http-url=")), None)
        if source.startswith(":s3:"):
            aliases[target] = "s3://" + source[len(":s3:") :]
        elif source == ":http:" and url:
            aliases[target] = url
    claims = {
        v["name"]: v["persistentVolumeClaim"].get("claimName")
        for v in spec.get("volumes") or ()
        if isinstance(v.get("persistentVolumeClaim"), Mapping)
    }
    for mount in container.get("volumeMounts") or ():
        claim = claims.get(mount.get("name"))
        if claim:
            aliases[str(mount["mountPath"])] = f"pvc://{claim}"
    return aliases


def pod_view(pod: Obj) -> PodView | None:
    """The TF Serving container of a running pod, or None (not running, no IP, terminating, no server)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    spec = pod.get("spec") or {}
    if meta.get("deletionTimestamp") or not status.get("podIP") or status.get("phase") != "Running":
        return None
    container = next(
        (c for c in spec.get("containers") or () if (c.get("command") or [None])[0] == TFSERVING_COMMAND),
        None,
    )
    if container is None:
        return None
    return PodView(
        namespace=str(meta.get("namespace")),
        name=str(meta.get("name")),
        uid=str(meta.get("uid")),
        ip=str(status["podIP"]),
        container=container,
        volumes={str(v.get("name")): v for v in spec.get("volumes") or ()},
        aliases=model_aliases(spec, container),
    )
