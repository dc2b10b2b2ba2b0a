"""TF Serving's REST model-status API as the operator uses it: where each pod is asked, what one pod
answers (``GET /v1/models/<model>``), and the answers of one ModelDeployment's pods together.

The poller that asks on a schedule is ``modelstate``; this module holds no schedule and no state.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from modeldeploy.config import ModelStatusConfig

AVAILABLE = "AVAILABLE"


@dataclass(frozen=True)
class VersionState:
    """One model version as one TF Serving process reports it; ``error`` is empty when error_code is OK."""

    version: int
    state: str
    error: str = ""


@dataclass(frozen=True)
class PodAnswer:
    """One ready pod's answer. ``versions`` is None when the pod could not be asked or gave no usable
    answer; ``error`` then says why in words that stay the same from one failed poll to the next (so the
    status does not churn). ``reachable`` is False when nothing answered (refused, DNS, timeout)."""

    pod: str
    versions: tuple[VersionState, ...] | None
    error: str | None = None
    reachable: bool = True

    def state_of(self, version: int) -> VersionState | None:
        return next((v for v in self.versions or () if v.version == version), None)


@dataclass(frozen=True)
class VersionSummary:
    """One version across the ready pods: how many of the ``polled`` pods serve it (AVAILABLE)."""

    version: int
    state: str
    available_on: int
    polled: int
    errors: tuple[str, ...] = ()  # "<pod>: <error>" for each pod that reports a failed load


@dataclass(frozen=True)
class ModelState:
    """TF Serving's answers for one ModelDeployment, one per ready pod, sorted by pod name."""

    model: str
    pods: tuple[PodAnswer, ...]

    @property
    def answered(self) -> tuple[PodAnswer, ...]:
        return tuple(p for p in self.pods if p.versions is not None)

    @property
    def versions(self) -> tuple[VersionSummary, ...] | None:
        """Every version any pod reports, aggregated; None when no pod gave a usable answer."""
        answered = self.answered
        if not answered:
            return None
        numbers = sorted({v.version for p in answered for v in p.versions or ()})
        return tuple(self._summary(n) for n in numbers)

    @property
    def error(self) -> str | None:
        """Why no pod gave a usable answer (None when one did)."""
        if self.answered or not self.pods:
            return None
        first = self.pods[0].error or "no answer"
        more = f" (and {len(self.pods) - 1} more ready pods)" if len(self.pods) > 1 else ""
        return f"pod {self.pods[0].pod}: {first}{more}"

    @property
    def reachable(self) -> bool:
        return any(p.reachable for p in self.pods)

    def _summary(self, number: int) -> VersionSummary:
        states = [p.state_of(number) for p in self.pods]
        on = sum(1 for s in states if s is not None and s.state == AVAILABLE)
        errors = tuple(f"{p.pod}: {s.error}" for p, s in zip(self.pods, states, strict=True) if s and s.error)
        if on == len(self.pods):
            state = AVAILABLE
        else:
            # The state of the pods that lag behind: what still has to happen on them.
            lagging = [
                s.state if s is not None else "NOT_LOADED"
                for s in states
                if s is None or s.state != AVAILABLE
            ]
            state = max(set(lagging), key=lambda x: (lagging.count(x), x))
        return VersionSummary(number, state, on, len(self.pods), errors)

    def state_of(self, version: int) -> str | None:
        summary = next((v for v in self.versions or () if v.version == version), None)
        return summary.state if summary else None

    def available(self, version: int) -> bool:
        """AVAILABLE on every ready pod (a pod that did not answer does not count as serving it)."""
        return bool(self.pods) and all(
            (s := p.state_of(version)) is not None and s.state == AVAILABLE for p in self.pods
        )


class ModelStatusError(ValueError):
    """TF Serving's answer is not a model status."""


def parse_model_status(body: object) -> tuple[VersionState, ...]:
    """The versions in a ``GET /v1/models/<model>`` answer, sorted by version.

    The REST JSON mirrors GetModelStatusResponse: ``{"model_version_status": [{"version": "1", "state":
    "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}``. Versions are int64, which the
    JSON mapping writes as strings; ``status`` is omitted by some versions when everything is OK.
    """
    if not isinstance(body, Mapping) or not isinstance(body.get("model_version_status"), list):
        raise ModelStatusError("no model_version_status list in the answer")
    versions = []
    for item in body["model_version_status"]:
        if not isinstance(item, Mapping):
            raise ModelStatusError("model_version_status holds a non-object")
        try:
            version = int(item.get("version", ""))
        except (TypeError, ValueError) as error:
            raise ModelStatusError(f"version {item.get('version')!r} is not an integer") from error
        state = str(item.get("state") or "UNKNOWN")
        raw_status = item.get("status")
        status: Mapping[str, Any] = raw_status if isinstance(raw_status, Mapping) else {}
        code = str(status.get("error_code") or "OK")
        message = str(status.get("error_message") or "")
        failure = "" if code == "OK" else f"{code}: {message}" if message else code
        versions.append(VersionState(version=version, state=state, error=failure))
    return tuple(sorted(versions, key=lambda v: v.version))


def translate_address(config: ModelStatusConfig, ip: str) -> str:
    """The pod IP after ``modelStatus.addressMap``: the first prefix that holds it is swapped."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    for source, target in config.address_map:
        if address.version == source.version and address in source:
            offset = int(address) - int(source.network_address)
            return str(target.network_address + offset)
    return ip


def endpoint_for(
    config: ModelStatusConfig, pod: Mapping[str, Any], name: str, namespace: str, model: str
) -> str:
    """The base URL (scheme, host, port) of TF Serving's REST API in one pod."""
    ip = translate_address(config, str((pod.get("status") or {}).get("podIP") or ""))
    host = f"[{ip}]" if ":" in ip else ip
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    url = config.endpoint.format(podIP=host, podName=pod_name, name=name, namespace=namespace, model=model)
    return url.rstrip("/")


def status_url(
    config: ModelStatusConfig, pod: Mapping[str, Any], name: str, namespace: str, model: str
) -> str:
    return f"{endpoint_for(config, pod, name, namespace, model)}/v1/models/{model}"


async def fetch_model_state(session: aiohttp.ClientSession, url: str, pod: str, timeout: float) -> PodAnswer:
    """One poll of one pod. Never raises for network or protocol trouble: the failure becomes ``error``."""
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            text = await response.text()
            if response.status == 404:
                # TF Serving answers 404 with {"error": "Servable not found ..."} until the model is known.
                return PodAnswer(pod, versions=(), error=None)
            if response.status != 200:
                detail = _error_text(text)
                return PodAnswer(pod, None, f"TF Serving at {url} answered HTTP {response.status}{detail}")
            return PodAnswer(pod, parse_model_status(json.loads(text)))
    except TimeoutError:
        return PodAnswer(pod, None, f"TF Serving at {url} did not answer within {timeout:g}s", False)
    except aiohttp.ClientError:
        return PodAnswer(pod, None, f"cannot connect to TF Serving at {url}", False)
    except (ValueError, ModelStatusError) as error:
        return PodAnswer(pod, None, f"TF Serving at {url} gave an answer that is not a model status: {error}")


def _error_text(text: str) -> str:
    try:
        body = json.loads(text)
    except ValueError:
        return ""
    message = body.get("error") if isinstance(body, Mapping) else None
    return f": {message}" if message else ""
