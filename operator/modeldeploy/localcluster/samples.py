"""The model files the samples need: every ModelDeployment in a directory gets the versions it asks for.

`modeldeploy up` and the tests seed the emulated model store with these, so that the samples become
Ready only because emulated TF Serving found and loaded their versions (tfserving/store.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from modeldeploy.localcluster.tfserving.store import ModelStore


def wanted_versions(manifests: Iterable[Mapping[str, Any]]) -> dict[str, set[int]]:
    """Base path URI -> versions the ModelDeployments' policies load (latest N: 1..N; all: 1)."""
    out: dict[str, set[int]] = {}
    for doc in manifests:
        if not isinstance(doc, Mapping) or doc.get("kind") != "ModelDeployment":
            continue
        model = (doc.get("spec") or {}).get("model") or {}
        policy = model.get("versionPolicy") or {"latest": 1}
        if "specific" in policy:
            versions = {int(v) for v in policy["specific"]}
        elif "latest" in policy:
            versions = set(range(1, int(policy["latest"] or 1) + 1))
        else:
            versions = {1}
        out.setdefault(str(model["uri"]), set()).update(versions)
    return out


def seed_model_store(root: Path, samples: Path) -> dict[str, set[int]]:
    """Add every version the manifests under ``samples`` (a file or a directory) ask for."""
    files = sorted(samples.glob("*.yaml")) if samples.is_dir() else [samples]
    docs = [doc for path in files for doc in yaml.safe_load_all(path.read_text())]
    wanted = wanted_versions(docs)
    store = ModelStore(root)
    for uri, versions in wanted.items():
        for number in sorted(versions):
            if number not in store.versions(uri):
                store.add_version(uri, number)
    return wanted
