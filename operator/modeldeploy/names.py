"""The names the operator derives from a ModelDeployment's name, and the rule Kubernetes applies to each.

A leaf module (no imports from the package) so that both `spec` (which checks them) and `desired` (which
uses them) read one definition. The rules are the API server's validators for each field:
Service names are DNS-1035 labels (ValidateServiceName), ConfigMap, Deployment, HPA, PDB and Event names
DNS-1123 subdomains, label values at most 63 characters of [A-Za-z0-9_.-] starting and ending
alphanumeric, and namespace names DNS-1123 labels.
"""

from __future__ import annotations

import re
from typing import Final

DNS1035_LABEL: Final = "DNS-1035 label"
DNS1123_LABEL: Final = "DNS-1123 label"
DNS1123_SUBDOMAIN: Final = "DNS-1123 subdomain"
LABEL_VALUE: Final = "label value"

_RULES: Final = {
    DNS1035_LABEL: (re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"), 63, "lower case letters, digits and '-', "
                    "starting with a letter and ending with a letter or digit"),
    DNS1123_LABEL: (re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), 63, "lower case letters, digits and "
                    "'-', starting and ending with a letter or digit"),
    DNS1123_SUBDOMAIN: (
        re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        253,
        "dot-separated DNS-1123 labels",
    ),
    LABEL_VALUE: (re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"), 63, "letters, digits, "
                  "'-', '_' and '.', starting and ending with a letter or digit"),
}  # fmt: skip

# Event names are "<name>.<12 hex digits>" (kube.create_event).
EVENT_SUFFIX_LENGTH: Final = 13


def configmap_name(name: str) -> str:
    return f"{name}-tfserving"


def child_name(kind: str, name: str) -> str:
    """The name of the ModelDeployment ``name``'s child of ``kind``."""
    return configmap_name(name) if kind == "ConfigMap" else name


def derived_names(name: str) -> list[tuple[str, str, str]]:
    """(what, derived value, the rule Kubernetes checks it against) for every name built from ``name``."""
    return [
        ("the Service name", name, DNS1035_LABEL),
        ("the Deployment name", name, DNS1123_SUBDOMAIN),
        ("the ConfigMap name", configmap_name(name), DNS1123_SUBDOMAIN),
        ("the HorizontalPodAutoscaler name", name, DNS1123_SUBDOMAIN),
        ("the PodDisruptionBudget name", name, DNS1123_SUBDOMAIN),
        ("the NetworkPolicy name", name, DNS1123_SUBDOMAIN),
        ("the Event names", name + "." + "0" * (EVENT_SUFFIX_LENGTH - 1), DNS1123_SUBDOMAIN),
        ("the children's label values", name, LABEL_VALUE),
    ]


def violation(value: str, rule: str) -> str | None:
    """Why ``value`` breaks ``rule`` (None when it does not)."""
    pattern, longest, shape = _RULES[rule]
    if len(value) > longest:
        return f"is longer than {longest} characters"
    if not pattern.match(value):
        return f"is not a valid {rule} ({shape})"
    return None
