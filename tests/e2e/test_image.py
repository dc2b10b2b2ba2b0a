"""The operator image, built from the project's Dockerfile by tools/image.sh (buildah, no Docker engine),
checked for what a cluster enforces, then run against a local cluster of its own exactly as the chart
deploys it: the chart rendered by helm, its configuration and a token of its ServiceAccount mounted where
the kubelet mounts them, and the in-cluster API address in the environment. The samples become Ready.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.cluster import free_port
from modeldeploy.localcluster.process import Component
from tests.support.buildah import Build, Container, build_image, container, image_config
from tests.support.clusters import private_cluster
from tests.support.install import (
    DEADLINE,
    Helm,
    assert_nothing_forbidden,
    children_of,
    sample_models,
    wait_until_samples_ready,
    with_cluster_settings,
)
from tests.support.paths import CHART, MD_CRD, SAMPLES

RELEASE = "modeldeploy"
NAMESPACE = "modeldeploy-system"
# Where the kubelet mounts a pod's token: /var/run/secrets/kubernetes.io/serviceaccount, and /var/run is a
# symlink to /run in Debian images. buildah mounts through no symlink, so the resolved path is given.
TOKEN_DIR = "/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(scope="module")
def image() -> Build:
    built = build_image()
    print(built.log)
    return built


def test_image_runs_as_a_numeric_non_root_user(image: Build) -> None:
    # runAsNonRoot can only be verified by the kubelet when the user is numeric.
    user = str(image_config(image.name)["User"])
    assert re.fullmatch(r"[1-9][0-9]*:[0-9]+", user), user
    with container(image.name, "modeldeploy-image-user") as c:
        result = c.run("id", "-u")
        assert result.stdout.strip() == user.split(":")[0], result


def test_entrypoint_is_the_operator_and_answers_help(image: Build) -> None:
    entrypoint = image_config(image.name)["Entrypoint"]
    assert entrypoint == ["modeldeploy", "run"]
    with container(image.name, "modeldeploy-image-help") as c:
        result = c.run(*entrypoint, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: modeldeploy run") and "--config" in result.stdout


def test_no_tensorflow_in_the_image(image: Build) -> None:
    with container(image.name, "modeldeploy-image-tf") as c:
        probe = (
            "import importlib.util as u; print(u.find_spec('tensorflow'), u.find_spec('tensorflow_serving'))"
        )
        result = c.run("python", "-c", probe)
        assert result.returncode == 0, result.stderr
        # The protos are there (the operator writes models.config with them); TensorFlow is not.
        tensorflow, protos = result.stdout.split(maxsplit=1)
        assert tensorflow == "None" and protos != "None", result.stdout
        assert c.run("sh", "-c", "ls -d /opt/venv/lib/python3*/site-packages/tensorflow").returncode != 0


def test_the_user_cannot_write_outside_tmp_and_the_check_would_see_it(image: Build) -> None:
    with container(image.name, "modeldeploy-image-write") as c:
        c.run("true")  # buildah's own mount points (/etc/hosts, /run/...) appear in the layer at first run
        before = c.written()
        assert c.run("touch", "/opt/venv/probe").returncode != 0
        assert c.run("touch", "/tmp/probe").returncode == 0
        assert c.written() == before
        # The detector works: root can write, and that shows in the container's layer.
        assert c.run("touch", "/var/probe", user="0:0").returncode == 0
        assert "/var/probe" in c.written()


# --- the operator from the image against a cluster ------------------------------------------------------


@pytest.fixture(scope="module")
def image_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with private_cluster(tmp_path_factory.mktemp("image-cluster")) as cluster:
        yield cluster


def rendered_chart(cluster: LocalCluster) -> list[dict[str, Any]]:
    """`helm template` of the chart with its default values, as a user would render it for GitOps."""
    result = Helm(cluster)("template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    (operator,) = [c for c in containers if c["name"] == "operator"]
    return operator


class ImageOperator:
    """The operator process inside the image, as the chart's pod would run it."""

    def __init__(
        self, cluster: LocalCluster, c: Container, objects: list[dict[str, Any]], entrypoint: list[str]
    ) -> None:
        work = cluster.workdir / "image-operator"
        config_dir, token_dir = work / "config", work / "token"
        config_dir.mkdir(parents=True)
        token_dir.mkdir()
        (configmap,) = [o for o in objects if o["kind"] == "ConfigMap"]
        config = with_cluster_settings(cluster, configmap["data"]["config.yaml"])
        (config_dir / "config.yaml").write_text(config)
        (account,) = [o for o in objects if o["kind"] == "ServiceAccount"]
        name = account["metadata"]["name"]
        token = cluster.kubectl("create", "token", name, "-n", NAMESPACE, "--duration=1h").stdout.strip()
        (token_dir / "token").write_text(token)
        assert cluster.pki is not None
        (token_dir / "ca.crt").write_text(cluster.pki.ca_cert.read_text())
        (token_dir / "namespace").write_text(NAMESPACE)
        for path in (*config_dir.iterdir(), *token_dir.iterdir()):
            path.chmod(0o644)  # readable by the image's non-root user, as the kubelet's volumes are
        for path in (work, config_dir, token_dir):
            path.chmod(0o755)

        spec = operator_container(objects)
        self.liveness_port, self.metrics_port = free_port(), free_port()
        ports = {"--metrics-port": self.metrics_port, "--liveness-port": self.liveness_port}
        args = [a for a in spec["args"] if a.split("=", 1)[0] not in ports]
        args += [f"{flag}={port}" for flag, port in ports.items()]
        self.mounts = [f"{config_dir}:/etc/modeldeploy:ro", f"{token_dir}:{TOKEN_DIR}:ro"]
        argv = c.run_argv(
            [*entrypoint, *args],
            mounts=self.mounts,
            env={
                # What the kubelet sets in every pod; the API server listens on loopback here.
                "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(cluster.ports.apiserver),
                "POD_ID": "modeldeploy-image-test",
            },
        )
        self.component = Component("operator-from-image", argv, work / "operator.log")

    def start(self) -> None:
        def healthy() -> bool:
            url = f"http://127.0.0.1:{self.liveness_port}/healthz"
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)

        self.component.start()
        try:
            self.component.wait_until(healthy, DEADLINE, "healthy")
        except BaseException:
            self.stop()  # an operator that never got healthy must not outlive the test
            raise

    def stop(self) -> None:
        # buildah passes SIGTERM on to the operator; whatever is left of its session goes with it.
        self.component.stop(timeout=20)
        process = self.component.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def log(self) -> str:
        return self.component.log_path.read_text(errors="replace")


def test_operator_from_the_image_makes_the_samples_ready(image: Build, image_cluster: LocalCluster) -> None:
    cluster = image_cluster
    objects = rendered_chart(cluster)
    cluster.kubectl("create", "namespace", NAMESPACE)
    cluster.kubectl("label", "namespace", NAMESPACE, "pod-security.kubernetes.io/enforce=restricted")
    manifest = cluster.workdir / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    cluster.kubectl("apply", "--server-side", "-f", str(manifest))
    cluster.kubectl("wait", "--for=condition=Established", "crd", MD_CRD, "--timeout=60s")
    # What a cluster would enforce on the chart's pod, checked against the image.
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert operator_container(objects)["securityContext"]["readOnlyRootFilesystem"] is True
    assert str(pod["securityContext"]["runAsUser"]) == str(image_config(image.name)["User"]).split(":")[0]

    entrypoint = image_config(image.name)["Entrypoint"]
    assert isinstance(entrypoint, list)
    with container(image.name, "modeldeploy-image-operator") as c:
        # No kubeconfig exists in the image and the host's environment does not reach the container, so
        # the mounted token is the operator's only credential: it runs with the chart's RBAC alone.
        operator = ImageOperator(cluster, c, objects, [str(x) for x in entrypoint])
        c.run("true", mounts=operator.mounts)  # buildah's mount points, made before the baseline
        before = c.written()
        started = time.monotonic()
        operator.start()
        try:
            cluster.kubectl("apply", "--server-side", "-f", str(SAMPLES))
            seconds = wait_until_samples_ready(cluster, started)
            print(f"operator from the image: samples Ready {seconds:.1f}s after start")
        finally:
            operator.stop()
        log = operator.log()
        assert_nothing_forbidden(log)
        # readOnlyRootFilesystem: the whole run wrote nothing outside /tmp.
        assert c.written() == before, sorted(set(c.written().items()) - set(before.items()))
    for _, sample in sample_models():
        children = children_of(cluster, "modeldeploy-samples", sample["metadata"]["name"])
        assert "NetworkPolicy" in children and "Deployment" in children, children


def test_the_image_build_is_cached(image: Build) -> None:
    # A second build with unchanged inputs reuses the image instead of rebuilding it.
    again = build_image()
    assert again.name == image.name
    assert "cached" in again.log, again.log
