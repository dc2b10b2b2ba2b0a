"""The operator as a child process against a local cluster (tests, `modeldeploy up`, benchmarks)."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from modeldeploy.localcluster.cluster import free_port
from modeldeploy.localcluster.process import Component


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        args: Sequence[str] = (),
        config_path: Path | None = None,
        name: str = "modeldeploy-operator",
    ) -> None:
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        argv = [
            sys.executable,
            "-m",
            "modeldeploy.cli",
            "run",
            f"--metrics-port={self.metrics_port}",
            f"--liveness-port={self.liveness_port}",
            *(["--config", str(config_path)] if config_path else []),
            *args,
        ]
        self.component = Component(
            name=name,
            argv=argv,
            log_path=log_path,
            env={"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"},
        )

    def start(self, timeout: float = 60) -> None:
        self.component.start()
        try:
            self.component.wait_until(self.healthy, timeout, "healthy")
        except BaseException:
            # An operator that never became healthy must not outlive the test or demo that started it.
            self.component.stop()
            raise

    def healthy(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as response:
            return bool(response.status == 200)

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            text: str = response.read().decode()
            return text

    def stop(self) -> None:
        self.component.stop()

    def kill(self) -> None:
        self.component.kill()

    @property
    def pid(self) -> int | None:
        return self.component.process.pid if self.component.process else None

    def log_tail(self, lines: int = 40) -> str:
        return self.component.log_tail(lines)
