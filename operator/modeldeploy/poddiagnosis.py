"""Pod diagnosis: why replicas are not ready, as one reason and a message naming the field to fix.

Pure: reads the cached pods and the spec as written (status messages quote what the user wrote).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from modeldeploy import reasons
from modeldeploy.objects import integer, mapping

_IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName"})
_CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError"})
# "Insufficient nvidia.com/gpu", also other vendors' resource names (amd.com/gpu, gpu.intel.com/i915 aside).
_INSUFFICIENT_GPU = re.compile(r"Insufficient [\w.-]*/?[\w.-]*gpu")
_NODE_SELECTOR_MISMATCH = "didn't match Pod's node affinity/selector"
# Most specific (and most needing a fix) first: the summary reports one cause, not a list.
_PROBLEM_PRIORITY = (
    reasons.CONTAINER_CONFIG_ERROR,
    reasons.IMAGE_PULL_FAILED,
    reasons.MODEL_DOWNLOAD_FAILED,
    reasons.CRASH_LOOP_BACK_OFF,
    reasons.NO_MATCHING_GPU_NODE,
    reasons.INSUFFICIENT_GPU,
    reasons.UNSCHEDULABLE,
)
# Scheduling may resolve itself (a cluster autoscaler adds a node); it degrades only after the deadline.
SELF_HEALING = frozenset({reasons.NO_MATCHING_GPU_NODE, reasons.INSUFFICIENT_GPU, reasons.UNSCHEDULABLE})


@dataclass(frozen=True)
class Problem:
    reason: str
    message: str


def pod_problem(pods: Sequence[Mapping[str, Any]], spec: Mapping[str, Any]) -> Problem | None:
    """The most pressing problem among the pods, with how many pods share it."""
    found = [(p, problem) for p in live_pods(pods) if (problem := _problem_of(p, spec)) is not None]
    if not found:
        return None
    reason = min((problem.reason for _, problem in found), key=_PROBLEM_PRIORITY.index)
    same = [problem for _, problem in found if problem.reason == reason]
    prefix = f"{len(same)} pod(s) affected; " if len(same) > 1 else ""
    return Problem(reason, prefix + same[0].message)


def _problem_of(pod: Mapping[str, Any], spec: Mapping[str, Any]) -> Problem | None:
    name = mapping(pod.get("metadata")).get("name", "?")
    status = mapping(pod.get("status"))
    uri = mapping(spec.get("model")).get("uri", "spec.model.uri")
    for init in status.get("initContainerStatuses") or ():
        waiting, terminated = _container_state(init)
        reason = str(waiting.get("reason", ""))
        if reason in _IMAGE_PULL_REASONS:
            return Problem(
                reasons.IMAGE_PULL_FAILED,
                f"Pod {name}: the model copier image {init.get('image')} cannot be pulled ({reason}); "
                f"check the operator's storageInitImage setting.",
            )
        if reason in _CONFIG_REASONS:
            return _config_problem(name, waiting)
        # Only a failure now counts: a copier that failed once and is running again may still succeed.
        failed_now = integer(mapping(mapping(init.get("state")).get("terminated")).get("exitCode")) != 0
        if reason == "CrashLoopBackOff" or failed_now:
            detail = str(terminated.get("message") or terminated.get("reason") or "no message").strip()
            code = integer(terminated.get("exitCode"))
            return Problem(
                reasons.MODEL_DOWNLOAD_FAILED,
                f"Pod {name}: copying the model from {uri} failed (exit code {code}: {detail}); check "
                f"spec.model.uri and the storage credentials (spec.serviceAccountName, spec.env).",
            )
    for container in status.get("containerStatuses") or ():
        waiting, terminated = _container_state(container)
        reason = str(waiting.get("reason", ""))
        if reason in _IMAGE_PULL_REASONS:
            return Problem(
                reasons.IMAGE_PULL_FAILED,
                f"Pod {name}: image {container.get('image')} cannot be pulled ({reason}: "
                f"{waiting.get('message', '')}); check spec.runtime.image and spec.runtime.version.",
            )
        if reason in _CONFIG_REASONS:
            return _config_problem(name, waiting)
        if reason == "CrashLoopBackOff":
            return _crash_problem(name, terminated, spec)
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return _scheduling_problem(name, str(condition.get("message") or "no message"), spec)
    return None


def _config_problem(pod: str, waiting: Mapping[str, Any]) -> Problem:
    message = (
        f"Pod {pod}: the container cannot be created: {waiting.get('message', waiting.get('reason'))}; "
        f"check that the Secrets and ConfigMaps referenced in spec.env exist."
    )
    return Problem(reasons.CONTAINER_CONFIG_ERROR, message)


# A line of the flag list main.cc prints when Flags::Parse fails: "\t--port=8500   \tint32\t".
_USAGE_LINE = re.compile(r"--\w+=.*\t(int32|int64|bool|string|float)\b")


def _crash_problem(pod: str, terminated: Mapping[str, Any], spec: Mapping[str, Any]) -> Problem:
    if terminated.get("reason") == "OOMKilled":
        memory = mapping(spec.get("resources")).get("memory", "the default")
        message = (
            f"Pod {pod}: TF Serving ran out of memory (OOMKilled); raise spec.resources.memory ({memory})"
        )
        return Problem(reasons.CRASH_LOOP_BACK_OFF, message)
    detail = str(terminated.get("message") or terminated.get("reason") or "no message").strip()
    if _USAGE_LINE.search(detail):
        # main.cc prints its flag list when Flags::Parse fails; the kubelet's 2 KiB log tail usually cuts
        # off the line naming the flag, so the user's own flags are named instead.
        interpret = [line for line in detail.splitlines() if line.startswith("Couldn't interpret value")]
        args = mapping(spec.get("runtime")).get("args") or []
        yours = f" (spec.runtime.args: {' '.join(map(str, args))})" if args else ""
        detail = (interpret[0] + " " if interpret else "") + (
            f"TF Serving rejected a flag value in its command line and printed its usage{yours}"
        )
    message = (
        f"Pod {pod}: TF Serving keeps exiting (exit code {integer(terminated.get('exitCode'))}: {detail}); "
        f"check spec.runtime.args and spec.runtime.version."
    )
    return Problem(reasons.CRASH_LOOP_BACK_OFF, message)


def _scheduling_problem(pod: str, scheduler: str, spec: Mapping[str, Any]) -> Problem:
    gpu = mapping(mapping(spec.get("resources")).get("gpu"))
    gpu_type = gpu.get("type", "?")
    if _INSUFFICIENT_GPU.search(scheduler):
        reason = reasons.INSUFFICIENT_GPU
        hint = (
            f"no node has {gpu.get('count', 1)} free GPU(s) of type {gpu_type}: free GPUs, lower "
            f"spec.resources.gpu.count or add GPU nodes"
        )
    elif gpu and _NODE_SELECTOR_MISMATCH in scheduler:
        reason = reasons.NO_MATCHING_GPU_NODE
        hint = (
            f"no node carries the labels of GPU type {gpu_type} from the operator's gpuTypes configuration: "
            f"check spec.resources.gpu.type, spec.placement and the GPU nodes' labels"
        )
    else:
        reason = reasons.UNSCHEDULABLE
        hint = "check spec.resources.cpu/memory, spec.placement and the nodes' free capacity and taints"
    return Problem(reason, f"Pod {pod} cannot be scheduled ({hint}). Scheduler: {scheduler}")


def _container_state(container: Mapping[str, Any]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    """(waiting, terminated) where terminated is the current or, while waiting to restart, the last one."""
    state = mapping(container.get("state"))
    terminated = mapping(state.get("terminated")) or mapping(
        mapping(container.get("lastState")).get("terminated")
    )
    return mapping(state.get("waiting")), terminated


def loading_pods(pods: Sequence[Mapping[str, Any]]) -> int:
    """Pods whose TF Serving runs but is not ready yet: it is loading (or failing to load) the model."""
    return sum(
        1
        for p in live_pods(pods)
        if mapping(p.get("status")).get("phase") == "Running" and not pod_condition(p, "Ready")
    )


def scheduled(pod: Mapping[str, Any]) -> bool:
    return bool(mapping(pod.get("spec")).get("nodeName")) or pod_condition(pod, "PodScheduled")


def pod_condition(pod: Mapping[str, Any], kind: str) -> bool:
    conditions = mapping(pod.get("status")).get("conditions") or ()
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def live_pods(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Pods not being deleted, by name, so that messages do not depend on list order."""
    alive = [p for p in pods if not mapping(p.get("metadata")).get("deletionTimestamp")]
    return sorted(alive, key=lambda p: str(mapping(p.get("metadata")).get("name", "")))
