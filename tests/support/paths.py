"""Where the repository's files are, for tests that read or install them."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
CHART = ROOT / "helm" / "modeldeploy"
MANIFESTS = ROOT / "manifests"
SAMPLES = MANIFESTS / "samples"
MD_CRD = "modeldeployments.serving.modeldeploy.io"  # the ModelDeployment CRD's name
