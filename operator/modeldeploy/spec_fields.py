# Over 300 lines: one small, independent validator per field shape (names, quantities, env, ...).
"""Field-level validators for ModelDeployment specs: each takes a raw JSON value and its field path and
returns the checked (and copied) value or raises SpecError. `spec.py` composes them per section.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from modeldeploy import names


class SpecError(Exception):
    """An invalid ModelDeployment spec: which field, what is wrong, how to fix it."""

    def __init__(self, field: str, message: str, fix: str) -> None:
        super().__init__(f"{field}: {message} ({fix})")
        self.field = field
        self.message = message
        self.fix = fix

    def message_with_fix(self) -> str:
        """The error without its field path (for a condition whose field is reported separately)."""
        return f"{self.message} ({self.fix})"


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_VERSION_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_IMAGE = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?"  # optional registry host[:port]
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,123}$")  # 128 minus room for the "-gpu" suffix
# Kubernetes resource.Quantity, unsigned: a decimal number and an optional binary/decimal/exponent suffix.
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_ENV_NAME = re.compile(r"^[!-<>-~]+$")  # printable ASCII without '=' or spaces
_URI = re.compile(r"^([a-z][a-z0-9+.-]*)://(.*)$")
_SCHEMES = ("gs", "s3", "pvc", "http", "https")

# Flags the operator sets itself -> where the user controls the same thing instead.
MANAGED_FLAGS = {
    "port": "the operator serves gRPC on port 8500",
    "grpc_port": "the operator serves gRPC on port 8500",
    "rest_api_port": "the operator serves REST on port 8501",
    "model_config_file": "configure models through spec.model",
    "model_config_file_poll_wait_seconds": "set spec.runtime.modelConfigPollSeconds",
    "monitoring_config_file": "the operator always enables Prometheus metrics",
    "enable_batching": "set spec.runtime.batching",
    "batching_parameters_file": "set spec.runtime.batching",
    "model_name": "set spec.model.name",
    "model_base_path": "set spec.model.uri",
    "allow_version_labels_for_unavailable_models": (
        "the operator always sets it so that spec.model.versionLabels can name versions still loading"
    ),
}


def obj(value: object, f: str, *, required: bool = False) -> Mapping[str, Any]:
    if value is None and required:
        raise SpecError(f, "is required", f"set {f}")
    if not isinstance(value, Mapping):
        raise SpecError(f, f"must be an object, got {_kind(value)}", "see the ModelDeployment reference")
    for key in value:
        if not isinstance(key, str):
            raise SpecError(f, f"has a non-string key {key!r}", "quote the key")
    return value


def known_keys(m: Mapping[str, Any], f: str, allowed: set[str]) -> None:
    for key in m:
        if key not in allowed:
            raise SpecError(f"{f}.{key}", "unknown field", f"known fields: {', '.join(sorted(allowed))}")


def array(value: object, f: str, min_items: int = 0, max_items: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise SpecError(f, f"must be a list, got {_kind(value)}", "write it as a YAML list")
    if len(value) < min_items or (max_items is not None and len(value) > max_items):
        upper = "" if max_items is None else f" and at most {max_items}"
        raise SpecError(f, f"has {len(value)} items", f"give at least {min_items}{upper}")
    return value


def integer(value: object, f: str, lo: int, hi: int) -> int:
    # bool is a subclass of int in Python, but `true` is not a number in the API.
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f, f"must be an integer, got {_kind(value)}", f"use a whole number from {lo} to {hi}")
    if not lo <= value <= hi:
        raise SpecError(f, f"{value} is out of range", f"use a whole number from {lo} to {hi}")
    return value


def string(value: object, f: str) -> str:
    if value is None:
        raise SpecError(f, "is required", f"set {f}")
    if not isinstance(value, str) or not value:
        raise SpecError(f, f"must be a non-empty string, got {_kind(value)}", "quote the value")
    return value


def _pattern(value: object, f: str, pattern: re.Pattern[str], what: str) -> str:
    s = string(value, f)
    if not pattern.match(s):
        raise SpecError(f, f"{s!r} is not a valid {what}", f"it must match {pattern.pattern}")
    return s


def dns1123_label(value: object, f: str) -> str:
    s = string(value, f)
    problem = names.violation(s, names.DNS1123_LABEL)
    if problem is not None:
        raise SpecError(f, f"{s!r} {problem}", "Kubernetes namespace names are DNS-1123 labels")
    return s


def child_name(value: object, f: str) -> str:
    """The ModelDeployment's name, checked as every child name and label value derived from it."""
    s = string(value, f)
    for what, derived, rule in names.derived_names(s):
        problem = names.violation(derived, rule)
        if problem is not None:
            raise SpecError(
                f,
                f"{s!r} cannot be used: {what} {derived!r} {problem}",
                "use at most 63 lower case letters, digits and '-', starting with a letter",
            )
    return s


def dns_subdomain(value: object, f: str) -> str:
    s = _pattern(value, f, _DNS_SUBDOMAIN, "DNS subdomain name")
    if len(s) > 253:
        raise SpecError(f, "is longer than 253 characters", "use a shorter name")
    return s


def model_name(value: object, f: str) -> str:
    return _pattern(value, f, _MODEL_NAME, "TF Serving model name")


def version_label(value: object, f: str) -> str:
    return _pattern(value, f, _VERSION_LABEL, "version label name")


def image(value: object, f: str) -> tuple[str, str | None]:
    """A repository, optionally pinned by digest: (repository, "sha256:<hex>" or None)."""
    s = string(value, f)
    repository, at, digest = s.partition("@")
    if at and not _DIGEST.match(digest):
        raise SpecError(
            f,
            f"{digest!r} is not an image digest",
            "write <repository>@sha256:<64 lowercase hex characters>, e.g. the digest `crane digest` prints",
        )
    if ":" in repository.rsplit("/", 1)[-1]:
        raise SpecError(
            f,
            f"{s!r} includes a tag",
            "give the repository (optionally @sha256:...) and set spec.runtime.version",
        )
    return _pattern(repository, f, _IMAGE, "image repository"), digest or None


def image_tag(value: object, f: str) -> str:
    return _pattern(value, f, _TAG, "image tag")


def model_uri(value: object, f: str) -> str:
    s = string(value, f)
    # Before the scheme check: a newline or space would otherwise read as "no supported scheme".
    bad = next((c for c in s if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise SpecError(
            f,
            f"contains {_describe_char(bad)} at position {s.index(bad)}",
            "remove it, or percent-encode it (a space is %20)",
        )
    match = _URI.match(s)
    if match is None or match.group(1) not in _SCHEMES:
        raise SpecError(
            f, f"{s!r} has no supported scheme", "use gs://, s3://, http(s):// or pvc://<claim>/<path>"
        )
    scheme, rest = match.groups()
    location = rest.split("/", 1)[0]
    if not location:
        what = {"pvc": "claim name", "http": "host", "https": "host"}.get(scheme, "bucket")
        raise SpecError(f, f"{s!r} has no {what}", f"write {scheme}://<{what.replace(' name', '')}>/<path>")
    if scheme == "pvc":
        if not _DNS_SUBDOMAIN.match(location) or len(location) > 253:
            raise SpecError(
                f, f"{location!r} is not a valid PersistentVolumeClaim name", "write pvc://<claim>/<path>"
            )
        path = rest.split("/", 1)[1].strip("/") if "/" in rest else ""
        if path and any(seg in ("", ".", "..") for seg in path.split("/")):
            raise SpecError(
                f, "the path inside the claim has empty, '.' or '..' segments", "write pvc://<claim>/<path>"
            )
    return s


def _describe_char(c: str) -> str:
    names = {"\n": "a newline", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
    return names.get(c, f"the character U+{ord(c):04X}")


def server_arg(value: object, f: str) -> str:
    """One extra TF Serving flag. TF Serving's parser only understands --flag=value (and a bare boolean
    --flag); a managed flag is reported as such in every form a user may try: --port=1, -port=1,
    "--port 1" and ["--port", "1"]. Other malformed flags get the --flag=value fix."""
    s = string(value, f)
    if not s.startswith("-"):
        raise SpecError(f, f"{s!r} is not a flag", "TF Serving needs --flag=value in one list item")
    name_part = s.lstrip("-").split("=", 1)[0]
    name = name_part.split(None, 1)[0] if name_part.strip() else ""
    base = name[2:] if name.startswith("no") and name[2:] in MANAGED_FLAGS else name
    if base in MANAGED_FLAGS:
        raise SpecError(f, f"--{base} is managed by the operator", f"remove it; {MANAGED_FLAGS[base]}")
    if not name or name != name_part or not s.startswith("--"):
        raise SpecError(
            f, f"{s!r} is not of the form --flag=value", "write the flag and value in one item joined by '='"
        )
    return s


def quantity(value: object, f: str, *, memory: bool) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # int-or-string: 2 means "2"
    if not isinstance(value, str):
        raise SpecError(f, f"must be a quantity, got {_kind(value)}", 'quote it, e.g. "500m" or "4Gi"')
    match = _QUANTITY.match(value)
    if match is None:
        raise SpecError(f, f"{value!r} is not a Kubernetes quantity", 'e.g. "500m", "2", "4Gi"')
    if Decimal(match.group(1) if match.group(1) != "." else "0") == 0:
        raise SpecError(f, f"{value!r} must be greater than zero", "request a positive amount")
    if memory and match.group(2) == "m":
        raise SpecError(f, f"{value!r} means milli-bytes", f"did you mean {match.group(1)}Mi?")
    return value


def label_selector(value: object, f: str) -> dict[str, Any]:
    """A metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    s = obj(value, f)
    known_keys(s, f, {"matchLabels", "matchExpressions"})
    out: dict[str, Any] = {}
    # Empty lists and maps are left out, as the API server leaves them out of what it stores.
    labels = node_selector(s["matchLabels"], f"{f}.matchLabels") if s.get("matchLabels") is not None else {}
    if labels:
        out["matchLabels"] = labels
    if s.get("matchExpressions") is not None:
        exprs = []
        for i, raw in enumerate(array(s["matchExpressions"], f"{f}.matchExpressions")):
            ef = f"{f}.matchExpressions[{i}]"
            e = obj(raw, ef)
            known_keys(e, ef, {"key", "operator", "values"})
            key = string(e.get("key"), f"{ef}.key")
            label_key(key, f"{ef}.key")
            op = e.get("operator")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise SpecError(
                    f"{ef}.operator",
                    f"{op!r} is not a selector operator",
                    "use In, NotIn, Exists or DoesNotExist",
                )
            values = array(e.get("values") or [], f"{ef}.values")
            if (op in ("In", "NotIn")) != bool(values):
                raise SpecError(
                    f"{ef}.values",
                    f"{op} needs values" if values == [] else f"{op} takes no values",
                    "In and NotIn need values; Exists and DoesNotExist take none",
                )
            for j, v in enumerate(values):
                if not isinstance(v, str) or not _LABEL_VALUE.match(v):
                    raise SpecError(
                        f"{ef}.values[{j}]", f"{v!r} is not a valid label value", "quote it; <= 63 characters"
                    )
            exprs.append({"key": key, "operator": op, **({"values": list(values)} if values else {})})
        if exprs:
            out["matchExpressions"] = exprs
    return out


def network_peer(value: object, f: str) -> dict[str, Any]:
    """A NetworkPolicyPeer without ipBlock: a namespaceSelector, a podSelector (alone: pods of the model's
    namespace), or both (those pods in those namespaces). An empty selector matches everything."""
    p = obj(value, f)
    known_keys(p, f, {"namespaceSelector", "podSelector"})
    if not p:
        raise SpecError(f, "names no selector", "set namespaceSelector, podSelector or both")
    return {k: label_selector(p[k], f"{f}.{k}") for k in ("namespaceSelector", "podSelector") if k in p}


def node_selector(value: object, f: str) -> dict[str, str]:
    out = {}
    for key, v in obj(value, f).items():
        label_key(key, f"{f}.{key}")
        if not isinstance(v, str) or not _LABEL_VALUE.match(v):
            raise SpecError(f"{f}.{key}", f"{v!r} is not a valid label value", "quote it; <= 63 characters")
        out[key] = v
    return out


def label_key(key: str, f: str) -> None:
    prefix, _, name = key.rpartition("/")
    if not _LABEL_NAME.match(name) or (prefix and (not _DNS_SUBDOMAIN.match(prefix) or len(prefix) > 253)):
        raise SpecError(f, f"{key!r} is not a valid label key", "use [prefix/]name, name <= 63 characters")


def toleration(value: object, f: str) -> dict[str, Any]:
    t = obj(value, f)
    known_keys(t, f, {"key", "operator", "value", "effect", "tolerationSeconds"})
    for key in ("key", "value"):
        if key in t and not isinstance(t[key], str):
            raise SpecError(f"{f}.{key}", f"must be a string, got {_kind(t[key])}", "quote it")
    if t.get("operator", "Equal") not in ("Equal", "Exists"):
        raise SpecError(f"{f}.operator", f"{t['operator']!r} is not Equal or Exists", "use Equal or Exists")
    if t.get("effect", "") not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
        raise SpecError(
            f"{f}.effect", f"{t['effect']!r} is not a taint effect", "use NoSchedule or NoExecute"
        )
    if "tolerationSeconds" in t:
        integer(t["tolerationSeconds"], f"{f}.tolerationSeconds", -(2**63), 2**63 - 1)
    return dict(t)


def affinity(value: object, f: str) -> dict[str, Any]:
    a = obj(value, f)
    known_keys(a, f, {"nodeAffinity", "podAffinity", "podAntiAffinity"})
    for key, v in a.items():
        plain_json(obj(v, f"{f}.{key}"), f"{f}.{key}")
    return copy.deepcopy(dict(a))


def metric(value: object, f: str) -> dict[str, Any]:
    m = obj(value, f)
    kinds = {"Resource": "resource", "Pods": "pods", "Object": "object", "External": "external"}
    kinds["ContainerResource"] = "containerResource"
    kind = m.get("type")
    if not isinstance(kind, str) or kind not in kinds:
        raise SpecError(f"{f}.type", f"{kind!r} is not a metric type", f"use one of {', '.join(kinds)}")
    obj(m.get(kinds[kind]), f"{f}.{kinds[kind]}", required=True)
    plain_json(m, f)
    return copy.deepcopy(dict(m))


def env_var(value: object, f: str) -> dict[str, Any]:
    e = obj(value, f)
    known_keys(e, f, {"name", "value", "valueFrom"})
    _pattern(e.get("name"), f"{f}.name", _ENV_NAME, "environment variable name")
    if "value" in e and "valueFrom" in e:
        raise SpecError(f, "sets both value and valueFrom", "keep one of them")
    if "value" in e and not isinstance(e["value"], str):
        raise SpecError(f"{f}.value", f"must be a string, got {_kind(e['value'])}", 'quote it, e.g. "1"')
    if "valueFrom" in e:
        plain_json(obj(e["valueFrom"], f"{f}.valueFrom"), f"{f}.valueFrom")
    # The API server drops an empty value (omitempty); keeping it would look like drift forever.
    return {k: v for k, v in e.items() if not (k == "value" and v == "")}


def plain_json(value: object, f: str) -> None:
    """Free-form Kubernetes objects pass through to children; they must be plain JSON (YAML dates,
    binary or non-string keys would break serialisation later, far from the field that caused it)."""
    if isinstance(value, Mapping):
        for key, v in obj(value, f).items():
            plain_json(v, f"{f}.{key}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            plain_json(v, f"{f}[{i}]")
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise SpecError(f, f"{_kind(value)} is not a JSON value", "quote it")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer"}
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "an object"
    return names.get(type(value), f"a {type(value).__name__}")
