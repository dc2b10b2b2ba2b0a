"""kubectl against a test cluster, returning parsed JSON: the tests' API calls where one process per call is
cheap enough (tests/support/kubeapi.py sends them directly where it is not)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modeldeploy.localcluster import LocalCluster


class Kube:
    """kubectl against the test cluster, returning parsed JSON."""

    def __init__(self, cluster: LocalCluster) -> None:
        self.cluster = cluster

    def run(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return self.cluster.kubectl(*args, input=input, check=check)

    def json(self, *args: str, kubeconfig: Path | None = None) -> Any:
        """kubectl's ``-o json`` output of ``args``, parsed (as another identity with ``kubeconfig``)."""
        return json.loads(self.cluster.kubectl(*args, "-o", "json", kubeconfig=kubeconfig).stdout)

    def get(
        self, kind: str, name: str, namespace: str | None = None, managed_fields: bool = False
    ) -> dict[str, Any] | None:
        ns = ["-n", namespace] if namespace else []
        extra = ["--show-managed-fields"] if managed_fields else []
        result = self.cluster.kubectl("get", kind, name, *ns, *extra, "-o", "json", check=False)
        if result.returncode != 0:
            if "NotFound" in result.stderr or "not found" in result.stderr:
                return None
            raise RuntimeError(result.stderr)
        obj: dict[str, Any] = json.loads(result.stdout)
        return obj

    def status(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object's status; {} while there is none or the object is gone."""
        return dict((self.get(kind, name, namespace) or {}).get("status") or {})

    def replicas_managers(self, name: str, namespace: str) -> set[str]:
        """The field managers owning Deployment ``name``'s spec.replicas (its managedFields)."""
        deployment = self.get("deployment", name, namespace, managed_fields=True) or {}
        return {
            entry["manager"]
            for entry in deployment["metadata"].get("managedFields") or ()
            if "f:replicas" in (entry.get("fieldsV1", {}).get("f:spec") or {})
        }

    def list(self, kind: str, namespace: str, selector: str | None = None) -> list[dict[str, Any]]:
        sel = ["-l", selector] if selector else []
        out = self.cluster.kubectl("get", kind, "-n", namespace, *sel, "-o", "json").stdout
        items: list[dict[str, Any]] = json.loads(out)["items"]
        return items

    def apply(self, obj: dict[str, Any] | str, check: bool = True) -> Any:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        return self.cluster.kubectl("apply", "-f", "-", input=text, check=check)

    def create(self, obj: dict[str, Any] | str, check: bool = True) -> Any:
        text = obj if isinstance(obj, str) else json.dumps(obj)
        return self.cluster.kubectl("create", "-f", "-", input=text, check=check)
