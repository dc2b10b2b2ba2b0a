"""Certificates and keys for a loopback control plane, made with the openssl CLI.

The admin identity is a client certificate in the system:masters group, as kubeadm does, so that
RBAC stays on for everyone else (the operator's ServiceAccount included).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_public_key: Path
    sa_private_key: Path
    # The API aggregation layer: kube-apiserver proxies to extension API servers (metrics-server) as
    # front-proxy-client, whose certificate only the separate front-proxy CA signs, so that no ordinary
    # client certificate can pass itself off as the proxy and set X-Remote-User.
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path
    # Serving certificate for loopback servers other than kube-apiserver: KWOK's kubelet endpoint and the
    # aggregated API servers (metrics-server, KEDA's adapter), all verified against ca_cert.
    loopback_serving_cert: Path
    loopback_serving_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _signed_cert(directory: Path, name: str, subject: str, extensions: str, ca: str = "ca") -> None:
    ext_file = directory / f"{name}.ext"
    ext_file.write_text(extensions)
    _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=directory)
    _openssl("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr", cwd=directory)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", "365", "-sha256", "-extfile", ext_file.name, "-out", f"{name}.crt", cwd=directory,
    )  # fmt: skip


def _ca(directory: Path, name: str, subject: str) -> None:
    _openssl("genrsa", "-out", f"{name}.key", "2048", cwd=directory)
    _openssl(
        "req", "-x509", "-new", "-key", f"{name}.key", "-subj", subject, "-days", "365",
        "-sha256", "-out", f"{name}.crt", cwd=directory,
    )  # fmt: skip


_CLIENT_EXTENSIONS = (
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
)
FRONT_PROXY_CLIENT_NAME = "front-proxy-client"
# Services through which kube-apiserver reaches aggregated API servers running as host processes.
AGGREGATED_SERVICES = ("metrics-server.kube-system.svc", "keda-metrics-apiserver.keda.svc")


def create_pki(directory: Path, service_ip: str) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    _ca(directory, "ca", "/CN=modeldeploy-local-ca")
    _signed_cert(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=IP:127.0.0.1,IP:{service_ip},DNS:localhost,DNS:kubernetes,"
        "DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\n",
    )
    _signed_cert(directory, "admin", "/O=system:masters/CN=modeldeploy-admin", _CLIENT_EXTENSIONS)
    _ca(directory, "front-proxy-ca", "/CN=modeldeploy-front-proxy-ca")
    _signed_cert(
        directory,
        "front-proxy-client",
        f"/CN={FRONT_PROXY_CLIENT_NAME}",
        _CLIENT_EXTENSIONS,
        ca="front-proxy-ca",
    )
    _signed_cert(
        directory,
        "loopback",
        "/CN=modeldeploy-loopback",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        # The aggregator checks an extension server's certificate against <service>.<namespace>.svc
        # of its APIService, so the Services that register host processes are listed too.
        f"subjectAltName=IP:127.0.0.1,DNS:localhost,{','.join('DNS:' + s for s in AGGREGATED_SERVICES)}\n",
    )
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=directory)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    return Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "apiserver.crt",
        serving_key=directory / "apiserver.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        sa_public_key=directory / "sa.pub",
        sa_private_key=directory / "sa.key",
        front_proxy_ca_cert=directory / "front-proxy-ca.crt",
        front_proxy_client_cert=directory / "front-proxy-client.crt",
        front_proxy_client_key=directory / "front-proxy-client.key",
        loopback_serving_cert=directory / "loopback.crt",
        loopback_serving_key=directory / "loopback.key",
    )


def mutual_tls_cert(pki: Pki, name: str, dns_names: tuple[str, ...]) -> tuple[Path, Path]:
    """A certificate (and key) for a loopback process that is both a TLS server and a TLS client with the
    same identity, signed by the cluster CA: KEDA's operator and adapter use one pair for their mutual-TLS
    gRPC link. Returns (certificate, key) in the PKI directory."""
    directory = pki.ca_cert.parent
    sans = ",".join(["IP:127.0.0.1", "DNS:localhost", *(f"DNS:{d}" for d in dns_names)])
    _signed_cert(
        directory,
        name,
        f"/CN={name}",
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName={sans}\n",
    )
    return directory / f"{name}.crt", directory / f"{name}.key"
