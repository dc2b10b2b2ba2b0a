"""The children's schema table (operator/modeldeploy/data/child_schemas.json) from a live API server.

Regenerate the stored table after a Kubernetes upgrade (tests/integration/test_drift.py says when):

    KUBECONFIG=<kubeconfig> .venv/bin/python -m tests.support.child_schemas > operator/modeldeploy/data/child_schemas.json
"""  # noqa: E501

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from modeldeploy.schemas import CHILD_KINDS, derive, openapi_path
from tests.support.kubeapi import RawApi


def live_table(api: RawApi) -> dict[str, Any]:
    documents: dict[str, dict[str, Any]] = {}
    table = {}
    for (api_version, kind), root in CHILD_KINDS.items():
        if api_version not in documents:
            documents[api_version] = api.get_json(openapi_path(api_version))["components"]["schemas"]
        table[f"{api_version}/{kind}"] = derive(documents[api_version], root)
    return table


def main() -> None:
    api = RawApi(Path(os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser())
    json.dump(live_table(api), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
