"""KWOK Stages for a cluster whose TF Serving pods run the emulator: the pod farm says, KWOK shows.

KWOK (v0.7.0) plays the kubelet: Stage objects select pods with jq expressions and patch their status
with Go templates (kustomize/stage/pod/fast in sigs.k8s.io/kwok). A `--config` file with any Pod stage
replaces KWOK's defaults, so this file carries them too, for pods that are not ModelDeployment pods.

For ModelDeployment pods (label serving.modeldeploy.io/model-deployment) the pod farm
(localcluster/podfarm.py) runs an emulated tensorflow_model_server per pod and writes what a kubelet
would see into annotations; one stage per container state copies it into the pod status:

- no pod IP yet: Running, container started but not ready (the pod farm needs the IP to bind);
- ``serving/<restarts>``: Ready, the readiness probe answers;
- ``starting/<restarts>``: running, not ready (loading, or the probe fails);
- ``crashloop/<restarts>``: waiting in CrashLoopBackOff with the last termination's exit code and message.

A stage matches only while the status differs from the annotation (the signature below), so each
applies once per change, and the stages exclude each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from modeldeploy.api import SELECTOR_LABEL

STATE_ANNOTATION = "sim.modeldeploy.io/tfserving"
RESTARTS_ANNOTATION = "sim.modeldeploy.io/restarts"
EXIT_CODE_ANNOTATION = "sim.modeldeploy.io/exit-code"
EXIT_MESSAGE_ANNOTATION = "sim.modeldeploy.io/exit-message"
SERVING, STARTING, CRASHLOOP = "serving", "starting", "crashloop"

_MD_POD = {"key": f'.metadata.labels["{SELECTOR_LABEL}"]', "operator": "Exists"}
_NOT_MD_POD = {"key": f'.metadata.labels["{SELECTOR_LABEL}"]', "operator": "DoesNotExist"}
_NOT_DELETING = {"key": ".metadata.deletionTimestamp", "operator": "DoesNotExist"}
_NO_IP = {"key": ".status.podIP", "operator": "DoesNotExist"}

# What the status shows now, in the annotation's words: "<state>/<restartCount>" of the first container.
_SIGNATURE = (
    '((.status.containerStatuses // [])[0] // {}) as $c | (if $c.state.waiting then "crashloop" '
    'elif $c.ready then "serving" else "starting" end) + "/" + (($c.restartCount // 0) | tostring)'
)

_POD_IP = (
    '{{ PodIPWith .spec.nodeName ( or .spec.hostNetwork false ) ( or .metadata.uid "" ) '
    '( or .metadata.name "" ) ( or .metadata.namespace "" ) | Quote }}'
)

_INIT_DONE = """
initContainerStatuses:
{{ range .spec.initContainers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    terminated:
      exitCode: 0
      finishedAt: {{ $now | Quote }}
      reason: Completed
      startedAt: {{ $now | Quote }}
{{ end }}
"""


def _conditions(ready: bool) -> str:
    value = '"True"' if ready else '"False"'
    return f"""
conditions:
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: "True"
  type: Initialized
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: {value}
  type: Ready
- lastTransitionTime: {{{{ $now | Quote }}}}
  status: {value}
  type: ContainersReady
"""


_NAMES = ".name $pod.metadata.name $pod.metadata.namespace"


def _container(state: str) -> str:
    restarts = f'{{{{ or ( index $a "{RESTARTS_ANNOTATION}" ) "0" }}}}'
    if state == CRASHLOOP:
        body = f"""  ready: false
  started: false
  state:
    waiting:
      reason: CrashLoopBackOff
      message: {{{{ printf "back-off restarting failed container %s in pod %s_%s" {_NAMES} | Quote }}}}
  lastState:
    terminated:
      exitCode: {{{{ or ( index $a "{EXIT_CODE_ANNOTATION}" ) "1" }}}}
      reason: Error
      message: {{{{ or ( index $a "{EXIT_MESSAGE_ANNOTATION}" ) "" | Quote }}}}
      finishedAt: {{{{ $now | Quote }}}}
      startedAt: {{{{ $now | Quote }}}}"""
    else:
        ready = "true" if state == SERVING else "false"
        body = f"""  ready: {ready}
  started: true
  state:
    running:
      startedAt: {{{{ $now | Quote }}}}"""
    return f"""
containerStatuses:
{{{{ range .spec.containers }}}}
- image: {{{{ .image | Quote }}}}
  name: {{{{ .name | Quote }}}}
  restartCount: {restarts}
{body}
{{{{ end }}}}
"""


def pod_stage(name: str, expressions: list[dict[str, Any]], next_step: dict[str, Any]) -> dict[str, Any]:
    """A Stage for the pods `expressions` match (KWOK selector syntax), moved on as `next_step` says."""
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": name},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": expressions},
            "next": next_step,
        },
    }


def _stage(name: str, selector: list[dict[str, Any]], template: str) -> dict[str, Any]:
    return pod_stage(name, selector, {"statusTemplate": template})


def _header() -> str:
    return "{{ $now := Now }}\n{{ $pod := . }}\n{{ $a := or .metadata.annotations dict }}\n"


def _state_stage(state: str) -> dict[str, Any]:
    wanted = {
        "key": f'(.metadata.annotations["{STATE_ANNOTATION}"] // "") as $a | '
        f'($a | startswith("{state}/")) and ($a != ({_SIGNATURE}))',
        "operator": "In",
        "values": ["true"],
    }
    template = _header() + _conditions(state == SERVING) + _container(state)
    return _stage(f"modeldeploy-pod-{state}", [_MD_POD, _NOT_DELETING, wanted], template)


_IMAGE = ".spec.containers.[].image"

_IMAGE_PULL_BACKOFF = """{{ $now := Now }}
conditions:
- {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
- {lastTransitionTime: {{ $now | Quote }}, status: "False", type: Ready, reason: ContainersNotReady}
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: false
  restartCount: 0
  state:
    waiting:
      reason: ImagePullBackOff
      message: {{ printf "Back-off pulling image %q" .image | Quote }}
{{ end }}
hostIP: {{ NodeIPWith .spec.nodeName | Quote }}
phase: Pending
"""


def pod_stages(emulate_tfserving: bool = True, unpullable_images: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every Pod stage of the cluster (KWOK's defaults for other pods included). Pods of an image in
    ``unpullable_images`` stay Pending in ImagePullBackOff, as a kubelet reports an image it cannot pull."""
    pullable = (
        [{"key": _IMAGE, "operator": "NotIn", "values": list(unpullable_images)}] if unpullable_images else []
    )
    start = (
        _header()
        + _conditions(False)
        + _container(STARTING)
        + _INIT_DONE
        + f"hostIP: {{{{ NodeIPWith .spec.nodeName | Quote }}}}\npodIP: {_POD_IP}\n"
        + "phase: Running\nstartTime: {{ $now | Quote }}\n"
    )
    # KWOK's own pod-ready (kustomize/stage/pod/fast/pod-ready.yaml), for every other pod: Ready at once.
    ready = (
        "{{ $now := Now }}\n"
        + _conditions(True)
        + """
containerStatuses:
{{ range .spec.containers }}
- image: {{ .image | Quote }}
  name: {{ .name | Quote }}
  ready: true
  restartCount: 0
  state:
    running:
      startedAt: {{ $now | Quote }}
{{ end }}
"""
        + _INIT_DONE
        + f"hostIP: {{{{ NodeIPWith .spec.nodeName | Quote }}}}\npodIP: {_POD_IP}\n"
        + "phase: Running\nstartTime: {{ $now | Quote }}\n"
    )
    delete = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "pod-delete"},
        "spec": {
            "resourceRef": {"apiGroup": "v1", "kind": "Pod"},
            "selector": {"matchExpressions": [{"key": ".metadata.deletionTimestamp", "operator": "Exists"}]},
            "next": {"finalizers": {"empty": True}, "delete": True},
        },
    }
    others = [_NOT_MD_POD] if emulate_tfserving else []
    out = [_stage("pod-ready", [*others, _NOT_DELETING, _NO_IP, *pullable], ready)]
    if unpullable_images:
        waiting = {"key": ".status.containerStatuses", "operator": "DoesNotExist"}
        unpullable = {"key": _IMAGE, "operator": "In", "values": list(unpullable_images)}
        out.append(
            _stage(
                "pod-image-pull-backoff", [_NOT_DELETING, _NO_IP, waiting, unpullable], _IMAGE_PULL_BACKOFF
            )
        )
    if emulate_tfserving:
        out.append(_stage("modeldeploy-pod-start", [_MD_POD, _NOT_DELETING, _NO_IP, *pullable], start))
        out += [_state_stage(SERVING), _state_stage(STARTING), _state_stage(CRASHLOOP)]
    return [*out, delete]


def stages_yaml(emulate_tfserving: bool = True, unpullable_images: Sequence[str] = ()) -> str:
    return yaml.safe_dump_all(pod_stages(emulate_tfserving, unpullable_images), sort_keys=False)
