"""Every command in README.md, docs/ and the chart's NOTES.txt, run as written on fresh local clusters, in
the order a reader meets them, including the failure-recovery commands.

The commands are read from the documents themselves (```sh blocks, `$ ` lines of ```console blocks, and the
indented commands NOTES.txt prints after `helm install`), never copied into this file; the files a reader
is told to create are written from the documents' own yaml blocks. Readers, each on a fresh cluster:
one installs with kustomize (README's example, the overlay, the ConfigMap clean-up, the overlay without
CRDs), one with Helm (NOTES.txt, the high-availability install and its recovery from a failed release,
Argo CD's health check patch, the upgrade, the uninstall). A third reader follows docs/autoscaling.md on a
cluster with metrics-server, Prometheus and KEDA. The last test checks that every command of every
document ran, except the few listed in EXCLUDED, each with the reason.

KWOK runs the operator's pods without running the operator, so whenever an install rolls the operator out,
the harness starts it here as the installed Deployment would run it (its ServiceAccount's token, its
ConfigMap, its flags).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from modeldeploy.localcluster import LocalCluster
from modeldeploy.localcluster.binaries import bin_dir, kubectl_path
from modeldeploy.localcluster.nodes import cpu_node
from modeldeploy.localcluster.operator_process import OperatorProcess
from modeldeploy.localcluster.tfserving.store import ModelStore
from tests.e2e import support
from tests.polling import wait_for

ROOT = support.ROOT
DOCUMENTS = (
    "README.md",
    "docs/install.md",
    "docs/models.md",
    "docs/observability.md",
    "docs/failure-model.md",
    "docs/autoscaling.md",
)
NOTES = "helm/modeldeploy/templates/NOTES.txt"
COPIED = ("manifests", "crds", "helm", "argocd", "Makefile")  # what the commands refer to, from the repo root
OPERATOR_NS = "modeldeploy-system"

# Commands no test here runs, and why. Keep this to what truly cannot run here.
EXCLUDED = {
    "make up": "starts its own cluster and runs until Ctrl-C; tests/e2e/test_up.py runs it",
    "make test": "this test suite itself",
}

# Commands after which the harness starts or stops the operator (KWOK runs no code in its pod).
HOOKS = re.compile(r"rollout status deployment/modeldeploy\b|^helm uninstall|^kubectl delete -k")
RAN: set[str] = set()  # every documented command that ran, normalised (see `normalise`)
NOTES_RAN: list[str] = []  # the commands NOTES.txt printed, as the Helm reader ran them


@dataclass(frozen=True)
class Block:
    document: str
    line: int
    language: str
    text: str


def blocks(document: str) -> list[Block]:
    found = []
    lines = (ROOT / document).read_text().splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if not fence:
            continue
        if start is None:
            start, language = number, fence.group(1)
        else:
            body = lines[start : number - 1]
            indent = min((len(ln) - len(ln.lstrip()) for ln in body if ln.strip()), default=0)
            found.append(Block(document, start, language, "\n".join(ln[indent:] for ln in body)))
            start = None
    return found


def commands(block: Block) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments and blank lines dropped."""
    if block.language == "console":
        return [line[2:] for line in block.text.splitlines() if line.startswith("$ ")]
    if block.language != "sh":
        return []
    joined = block.text.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        code = strip_comment(line).strip()
        if code:
            out.append(code)
    return out


def strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (outside quotes)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def notes_commands(rendered: str) -> list[str]:
    """The commands NOTES.txt prints (indented lines that start with kubectl or helm)."""
    return [
        strip_comment(line).strip()
        for line in rendered.splitlines()
        if re.match(r"^\s+(kubectl|helm) ", line)
    ]


def normalise(command: str) -> str:
    return " ".join(command.split())


def documented_commands() -> dict[str, str]:
    """Every command of every document: normalised command -> where it is."""
    found = {}
    for document in DOCUMENTS:
        for block in blocks(document):
            for command in commands(block):
                found.setdefault(normalise(command), f"{document}:{block.line}")
    return found


def yaml_file(document: str, name: str) -> str:
    """The yaml block of `document` whose first line is `# <name>` (the file the reader creates)."""
    for block in blocks(document):
        if block.language == "yaml" and block.text.splitlines()[0].startswith(f"# {name}"):
            return block.text + "\n"
    raise AssertionError(f"{document} has no yaml block starting with '# {name}'")


def block_with(document: str, command: str) -> Block:
    """The shell block of `document` holding `command` (matched on its start)."""
    for block in blocks(document):
        if any(normalise(c).startswith(normalise(command)) for c in commands(block)):
            return block
    raise AssertionError(f"{document}: no shell block runs {command!r}")


@dataclass
class Reader:
    """A reader at a shell: a copy of the repository as the working directory, a fresh cluster."""

    cluster: LocalCluster
    home: Path
    pod_log: Path  # what KWOK serves as the operator pod's log
    operator: OperatorProcess | None = None
    outputs: list[tuple[str, subprocess.CompletedProcess[str]]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        tools = os.pathsep.join([str(bin_dir()), str(Path(kubectl_path()).parent), "/usr/bin", "/bin"])
        return {
            "PATH": tools,
            "HOME": str(self.home),
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.home / "helm-config"),
            "HELM_DATA_HOME": str(self.home / "helm-data"),
        }

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        self.outputs.append((command, result))
        if check:
            assert result.returncode == 0, f"$ {command}\n{result.stdout}\n{result.stderr}"
        return result

    def run(self, command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One documented command, then what the reader's cluster would do on its own (the operator)."""
        if " logs " in f" {command} ":
            self.write_pod_log()
        result = self.sh(command, check)
        RAN.add(normalise(command))
        if check and re.search(r"rollout status deployment/modeldeploy\b", command):
            self.restart_operator()
        if re.match(r"(helm uninstall|kubectl delete -k)", command):
            self.stop_operator()
        return result

    def run_block(self, block: Block) -> list[subprocess.CompletedProcess[str]]:
        """A block as a reader pastes it. One shell runs it (variables carry from line to line), unless
        the operator must start between its commands; then they run one by one."""
        lines = commands(block)
        if any(HOOKS.search(command) for command in lines):
            return [self.run(command) for command in lines]
        result = self.sh("set -e\n" + "\n".join(lines))
        RAN.update(normalise(command) for command in lines)
        return [result]

    def restart_operator(self) -> None:
        """Run the operator as the installed Deployment now says (after an install or upgrade)."""
        self.stop_operator()
        installed = support.installed_from_deployment(self.cluster, OPERATOR_NS, "modeldeploy")
        self.operator = installed.operator(self.cluster, f"operator-{len(self.outputs)}")

    def write_pod_log(self) -> None:
        """The operator's output as a kubelet stores a container's log (CRI format), for KWOK to serve."""
        lines = Path(self.operator.component.log_path).read_text().splitlines() if self.operator else []
        stamp = "2026-01-01T00:00:00.000000000Z"
        self.pod_log.write_text("".join(f"{stamp} stderr F {line}\n" for line in lines))

    def stop_operator(self) -> None:
        if self.operator is not None:
            self.operator.stop()
            self.operator = None

    def write(self, relative: str, text: str) -> None:
        path = self.home / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    home = tmp_path / "repo"
    home.mkdir()
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, home / name)
        else:
            shutil.copy2(source, home / name)
    (home / ".venv").symlink_to(ROOT / ".venv")
    # `kubectl logs deployment/modeldeploy` (NOTES.txt): KWOK serves the operator container's logs from a
    # file, which points at the log of the operator process standing in for the pod.
    kwok_config = tmp_path / "kwok-logs.yaml"
    kwok_config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "ClusterLogs",
                "metadata": {"name": "operator"},
                "spec": {
                    "selector": {"matchNamespaces": [OPERATOR_NS]},
                    "logs": [{"containers": ["operator"], "logsFile": str(tmp_path / "operator-pod.log")}],
                },
            }
        )
    )
    with LocalCluster(workdir=tmp_path / "cluster", kwok_stages=kwok_config) as cluster:
        person = Reader(cluster, home, pod_log=tmp_path / "operator-pod.log")
        try:
            yield person
        finally:
            person.stop_operator()


def md_names(reader: Reader, namespace: str) -> set[str]:
    out = reader.sh(f"kubectl get md -n {namespace} -o name").stdout.split()
    return {name.rsplit("/", 1)[1] for name in out}


def test_kustomize_reader(reader: Reader) -> None:
    install = "docs/install.md"
    # Install, samples Ready (the operator starts after `rollout status`).
    reader.run_block(block_with(install, "kubectl apply --server-side -k manifests/"))
    # README's example, on that cluster: its namespace, the model, Ready, and the commands of "Status".
    reader.write(
        "resnet.yaml", next(b.text for b in blocks("README.md") if "kind: ModelDeployment" in b.text)
    )
    for block in blocks("README.md"):
        if block.language == "console" or any(
            c.startswith((".venv/bin/modeldeploy render", "kubectl wait")) for c in commands(block)
        ):
            reader.run_block(block)
    status = reader.sh("kubectl get md resnet -n vision -o jsonpath={.status.phase}").stdout
    assert status == "Ready"

    # The overlay, as laid out on the page: a new image and configuration roll the operator.
    reader.write("my-cluster/kustomization.yaml", yaml_file(install, "my-cluster/kustomization.yaml"))
    reader.write("my-cluster/config.yaml", yaml_file(install, "my-cluster/config.yaml"))
    before = configmaps(reader)
    reader.run_block(block_with(install, "kubectl apply --server-side --force-conflicts -k my-cluster/"))
    after = configmaps(reader)
    assert len(after) == 2 and before < after, (before, after)
    wait_for(lambda: samples_run(reader, "2.18.0"), support.DEADLINE, what="samples on the overlay's version")

    # The old ConfigMap stays until the documented clean-up deletes it, and only it.
    mounted = reader.sh(
        "kubectl -n modeldeploy-system get deployment modeldeploy "
        "-o jsonpath='{.spec.template.spec.volumes[?(@.name==\"config\")].configMap.name}'"
    ).stdout
    reader.run_block(block_with(install, "current=$(kubectl -n modeldeploy-system get deployment"))
    assert configmaps(reader) == {mounted}

    # Removing only the operator keeps the CRDs and every model.
    reader.write("operator-only/kustomization.yaml", yaml_file(install, "operator-only/kustomization.yaml"))
    reader.run_block(block_with(install, "kubectl delete -k operator-only/ --ignore-not-found"))
    assert reader.sh("kubectl get crd modeldeployments.serving.modeldeploy.io", check=False).returncode == 0
    assert md_names(reader, "vision") == {"resnet"}
    assert "modeldeploy-samples" in reader.sh("kubectl get namespaces -o name").stdout
    gone = reader.sh("kubectl get namespace modeldeploy-system -o jsonpath={.status.phase}", check=False)
    assert gone.returncode != 0 or gone.stdout == "Terminating"
    # Contributors' command, in the copy: it leaves the copies as they are (they are in sync).
    reader.run_block(block_with(install, "make sync-crds"))


def configmaps(reader: Reader) -> set[str]:
    out = reader.sh("kubectl -n modeldeploy-system get configmap -o name").stdout.split()
    return {n.split("/", 1)[1] for n in out if n.startswith("configmap/modeldeploy-config-")}


def samples_run(reader: Reader, version: str) -> bool:
    jsonpath = "{.items[*].spec.template.spec.containers[0].image}"
    images = reader.sh(
        f"kubectl -n modeldeploy-samples get deployments -o jsonpath='{jsonpath}'"
    ).stdout.split()
    return bool(images) and all(image.split(":")[1].startswith(version) for image in images)


def test_helm_reader(reader: Reader) -> None:
    install = "docs/install.md"
    results = reader.run_block(block_with(install, "kubectl create namespace modeldeploy-system"))
    # NOTES.txt, as `helm install` printed it, command by command.
    notes = notes_commands(results[-1].stdout)
    assert any("--force-conflicts" in c for c in notes), notes
    for command in notes:
        reader.run(command)
    NOTES_RAN.extend(notes)
    support.wait_until_samples_ready(reader.cluster, 0)

    # Argo CD's health check goes into argocd-cm (a stand-in for an installed Argo CD's ConfigMap).
    reader.sh("kubectl create namespace argocd")
    reader.sh("kubectl -n argocd create configmap argocd-cm")
    reader.run_block(block_with(install, "kubectl -n argocd patch configmap argocd-cm"))
    health = reader.sh("kubectl -n argocd get configmap argocd-cm -o yaml").stdout
    assert "resource.customizations.health.serving.modeldeploy.io_ModelDeployment" in health

    # Upgrading: CRDs first (server-side, taking them over from Helm), then the release.
    reader.run_block(block_with(install, "kubectl apply --server-side --force-conflicts -f crds/"))
    reader.sh("kubectl -n modeldeploy-system rollout status deployment/modeldeploy --timeout=120s")
    reader.restart_operator()

    # High availability watching two namespaces, as written (upgrading the release in place).
    reader.run_block(block_with(install, "kubectl create namespace team-a"))
    reader.sh("kubectl -n modeldeploy-system rollout status deployment/modeldeploy --timeout=120s")
    reader.restart_operator()
    assert "--peering" in " ".join(reader.operator.component.argv if reader.operator else [])

    # The failure the page warns about: the same install on a cluster without the namespaces leaves a
    # failed release; the documented recovery completes it.
    reader.sh("helm uninstall modeldeploy -n modeldeploy-system")
    reader.stop_operator()
    reader.sh("kubectl delete namespace team-a team-b --wait=true --timeout=120s")
    ha_install = next(
        c for c in commands(block_with(install, "kubectl create namespace team-a")) if c.startswith("helm ")
    )
    failed = reader.sh(ha_install, check=False)
    assert failed.returncode != 0 and "team-a" in failed.stderr, failed.stderr
    recovery = block_with(install, "helm status modeldeploy -n modeldeploy-system")
    results = reader.run_block(recovery)
    assert "STATUS: failed" in results[0].stdout, results[0].stdout
    assert "STATUS: deployed" in reader.sh("helm status modeldeploy -n modeldeploy-system").stdout
    reader.sh("kubectl -n modeldeploy-system rollout status deployment/modeldeploy --timeout=120s")
    reader.restart_operator()

    # Uninstalling: the operator and its namespace; then the CRDs and the namespaces made for models.
    reader.run_block(block_with(install, "helm uninstall modeldeploy -n modeldeploy-system"))
    assert reader.sh("helm status modeldeploy -n modeldeploy-system", check=False).returncode != 0
    reader.run_block(block_with(install, "kubectl delete -f crds/"))
    assert reader.sh("kubectl get crd -o name").stdout.strip() == ""
    left = reader.sh("kubectl get namespaces -o name").stdout.split()
    assert not {f"namespace/{n}" for n in ("team-a", "team-b", "modeldeploy-samples")} & set(left)


def test_autoscaling_reader(tmp_path: Path) -> None:
    """docs/autoscaling.md on a cluster with metrics-server, Prometheus and KEDA, where its three
    manifests go to emulated TF Serving pods and the operator uses the KEDA provider."""
    doc = "docs/autoscaling.md"
    home = tmp_path / "repo"
    home.mkdir()
    cluster = LocalCluster(
        workdir=tmp_path / "cluster",
        nodes=[cpu_node("kwok-cpu-0"), cpu_node("kwok-cpu-1")],
        resource_metrics=True,
        prometheus=True,
        keda=True,
        emulate_tfserving=True,
    )
    with cluster:
        cluster.install_crds(ROOT / "crds")
        ModelStore(cluster.model_store_root).add_version("gs://acme-models/resnet", 1)
        config = tmp_path / "operator.yaml"
        settings = cluster.operator_config()
        settings["autoscaling"]["requestRate"]["pollingIntervalSeconds"] = 2  # a short wait for the reader
        config.write_text(yaml.safe_dump(settings))
        person = Reader(cluster, home, pod_log=tmp_path / "pod.log")
        person.operator = OperatorProcess(cluster.kubeconfig, tmp_path / "operator.log", config_path=config)
        person.operator.start()
        try:
            for name in ("resnet-cpu.yaml", "resnet-rate.yaml", "sleepy.yaml"):
                person.write(name, yaml_file(doc, name))
            person.run_block(block_with(doc, "kubectl create namespace vision"))
            # metrics-server has a first sample of the new pod some seconds after it runs.
            top = "kubectl top pods -n vision -l serving.modeldeploy.io/model-deployment=resnet"
            wait_for(lambda: person.sh(top, check=False).returncode == 0, 90, interval=2, what="kubectl top")
            person.run_block(block_with(doc, top))
            person.run_block(block_with(doc, "kubectl apply -f resnet-rate.yaml"))
            assert person.sh("kubectl get hpa resnet -n vision", check=False).returncode != 0  # replaced
            person.run_block(block_with(doc, "kubectl apply -f sleepy.yaml"))
            results = person.run_block(block_with(doc, "kubectl get md -n vision -o wide"))
            assert "0/0" in results[0].stdout, results[0].stdout
        finally:
            person.stop_operator()


def test_every_documented_command_ran() -> None:
    documented = documented_commands()
    missing = {
        command: where
        for command, where in documented.items()
        if command not in RAN and command not in EXCLUDED
    }
    assert not missing, "documented commands no test ran: " + "; ".join(
        f"{w}: {c}" for c, w in missing.items()
    )
    assert set(EXCLUDED) <= set(documented), "an exclusion no document needs any more"
    # NOTES.txt: as many commands ran as the template holds.
    template = notes_commands((ROOT / NOTES).read_text())
    assert len(NOTES_RAN) == len(template) >= 4, (NOTES_RAN, template)
