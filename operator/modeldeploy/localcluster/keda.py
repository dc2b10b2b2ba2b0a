"""KEDA's operator and metrics adapter as host processes of the local cluster.

What a KEDA install sets up, taken from KEDA v2.21.0's own sources (github.com/kedacore/keda/v2):
- cmd/operator/main.go: flags for the metrics, health and gRPC metrics-service addresses, `--cert-dir`
  (ca.crt, tls.crt, tls.key), `--enable-cert-rotation` (off: we hand it certificates); env WATCH_NAMESPACE
  (must be set; empty watches every namespace, pkg/util/watch.go), KEDA_CLUSTER_OBJECT_NAMESPACE (else
  read from the pod's ServiceAccount mount, which a host process has not) and POD_NAMESPACE
  (pkg/util/env_resolver.go).
- cmd/adapter/main.go: the external metrics API server (sigs.k8s.io/custom-metrics-apiserver's
  AdapterBase flags), a gRPC client to the operator at `--metrics-service-address`, authenticated with
  the certificates of its own `--cert-dir` (pkg/metricsservice/client.go, utils/tls.go: mutual TLS, so
  one certificate serves as server and client).
- The adapter is registered as v1beta1.external.metrics.k8s.io through the aggregation layer, like
  metrics-server for metrics.k8s.io (resourcemetrics.py); KEDA's HPAs read External metrics there.

Pure argument lists and objects; cluster.py starts the processes. The CRDs come from the same pinned
module (tools/build.sh keda copies config/crd/bases).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from modeldeploy.localcluster.pki import Pki, mutual_tls_cert
from modeldeploy.localcluster.resourcemetrics import aggregated_api_objects

NAMESPACE = "keda"
ADAPTER_SERVICE = "keda-metrics-apiserver"
OPERATOR_SERVICE = "keda-operator"
EXTERNAL_METRICS_GROUP = "external.metrics.k8s.io"
EXTERNAL_METRICS_PATH = f"/apis/{EXTERNAL_METRICS_GROUP}/v1beta1"


def environment(kubeconfig: Path) -> dict[str, str]:
    return {
        "KUBECONFIG": str(kubeconfig),
        "WATCH_NAMESPACE": "",
        "KEDA_CLUSTER_OBJECT_NAMESPACE": NAMESPACE,
        "POD_NAMESPACE": NAMESPACE,
    }


def cert_dir(pki: Pki, directory: Path) -> Path:
    """The directory both processes read: the cluster CA and one mutual-TLS pair (KEDA's file names)."""
    cert, key = mutual_tls_cert(
        pki, "keda", (f"{ADAPTER_SERVICE}.{NAMESPACE}.svc", f"{OPERATOR_SERVICE}.{NAMESPACE}.svc")
    )
    directory.mkdir(parents=True, exist_ok=True)
    for source, name in ((pki.ca_cert, "ca.crt"), (cert, "tls.crt"), (key, "tls.key")):
        shutil.copyfile(source, directory / name)
    return directory


def operator_args(
    binary: Path, certs: Path, grpc_port: int, metrics_port: int, health_port: int
) -> list[str]:
    return [
        str(binary),
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        f"--health-probe-bind-address=127.0.0.1:{health_port}",
        f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
        f"--cert-dir={certs}",
        f"--ca-dir={certs}",
        "--enable-cert-rotation=false",
        "--enable-webhook-patching=false",
        "--enable-apiservice-patching=false",
        "--leader-elect=false",
        "--zap-log-level=info",
    ]


def adapter_args(
    binary: Path, kubeconfig: Path, certs: Path, secure_port: int, grpc_port: int, metrics_port: int
) -> list[str]:
    return [
        str(binary),
        "--bind-address=127.0.0.1",
        f"--secure-port={secure_port}",
        f"--cert-dir={certs}",
        f"--tls-cert-file={certs / 'tls.crt'}",
        f"--tls-private-key-file={certs / 'tls.key'}",
        f"--lister-kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        f"--metrics-service-address=127.0.0.1:{grpc_port}",
        f"--port={metrics_port}",
        "--zap-log-level=info",
    ]


def api_objects(secure_port: int, ca_bundle_pem: bytes) -> list[dict[str, Any]]:
    """KEDA's namespace, and the APIService (with its Service) that makes the adapter external.metrics."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return [
        namespace,
        *aggregated_api_objects(
            EXTERNAL_METRICS_GROUP, "v1beta1", ADAPTER_SERVICE, NAMESPACE, secure_port, ca_bundle_pem
        ),
    ]
