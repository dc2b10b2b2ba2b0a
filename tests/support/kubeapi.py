"""Direct API calls for tests through the kubernetes client: no kubectl process per request, which
matters where a test sends hundreds (property tests, write counting) and where kubectl has no verb
(reading the OpenAPI v3 documents, the API server's /metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


class RawApi:
    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)
        self.api = client.ApiClient(configuration)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, str]:
        """(HTTP status, response text); never raises for an HTTP error status."""
        _, url, headers, _, _ = self.api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json, */*"},
            auth_settings=["BearerToken"],
        )
        data = json.dumps(body) if body is not None else None
        try:
            response = self.api.call_api(method, url, header_params=headers, body=data)
            response.read()
            return response.status, (response.data or b"").decode()
        except ApiException as error:
            return int(error.status or 0), str(error.body or "")

    def get_json(self, path: str) -> dict[str, Any]:
        status, text = self.call("GET", path)
        assert status == 200, f"GET {path}: {status} {text[:500]}"
        loaded: dict[str, Any] = json.loads(text)
        return loaded

    def get_text(self, path: str) -> str:
        status, text = self.call("GET", path)
        assert status == 200, f"GET {path}: {status} {text[:500]}"
        return text

    def apply(self, path: str, obj: dict[str, Any], dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        """Server-side apply as the operator does it (field manager modeldeploy, force)."""
        query = {"fieldManager": "modeldeploy", "force": "true"}
        if dry_run:
            query["dryRun"] = "All"
        status, text = self.call("PATCH", path, obj, query, "application/apply-patch+yaml")
        return status, json.loads(text) if text else {}
