"""The operator image as tools/image.sh builds it, and containers of it run with buildah (chroot isolation,
the host's network), which is all this machine has in place of a container engine."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT

IMAGE_SCRIPT = ROOT / "tools" / "image.sh"
BUILD_TIMEOUT = 1800  # a cold build makes the Debian base and pip-installs from PyPI


@dataclass(frozen=True)
class Build:
    name: str
    log: str  # what tools/image.sh said on stderr (cached or built, time, size)


def build_image() -> Build:
    result = subprocess.run(
        [str(IMAGE_SCRIPT), "build"], capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    assert result.returncode == 0, f"tools/image.sh build failed:\n{result.stderr}"
    return Build(result.stdout.strip().splitlines()[-1], result.stderr)


def storage_args() -> list[str]:
    return subprocess.run(
        [str(IMAGE_SCRIPT), "storage"], capture_output=True, text=True, check=True
    ).stdout.split()


def buildah(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["buildah", *storage_args(), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check:
        assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
    return result


def image_config(image: str) -> dict[str, object]:
    """The OCI image configuration (User, Entrypoint, Env, ...)."""
    config: dict[str, object] = json.loads(buildah("inspect", "--type", "image", image).stdout)["OCIv1"][
        "config"
    ]
    return config


@dataclass(frozen=True)
class Container:
    """A working container of the image: run commands in it as the image's user, and see what they wrote."""

    name: str
    layer_dir: Path  # overlay upper directory: every file written to the root file system lands here

    def run_argv(
        self, argv: Sequence[str], mounts: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> list[str]:
        # /tmp is a tmpfs as the chart's emptyDir is; nothing else in the root file system is meant to change.
        options = ["--isolation", "chroot", "--network", "host", "--mount", "type=tmpfs,destination=/tmp"]
        for mount in mounts:
            options += ["-v", mount]
        for key, value in (env or {}).items():
            options += ["-e", f"{key}={value}"]
        return ["buildah", *storage_args(), "run", *options, self.name, "--", *argv]

    def run(
        self, *argv: str, mounts: Sequence[str] = (), user: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = self.run_argv(argv, mounts)
        if user is not None:
            command[command.index("run") + 1 : command.index("run") + 1] = ["--user", user]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    def written(self) -> dict[str, tuple[int, int]]:
        """Every path in the container's own layer (written since it was made): path -> (size, mtime) of
        files; directories count by presence only (buildah touches /run's mtime on every run)."""
        found = {}
        for directory, dirs, files in os.walk(self.layer_dir):
            for name in dirs:
                found["/" + str((Path(directory) / name).relative_to(self.layer_dir))] = (0, 0)
            for name in files:
                path = Path(directory) / name
                stat = path.lstat()
                found["/" + str(path.relative_to(self.layer_dir))] = (stat.st_size, stat.st_mtime_ns)
        return found


def _layer_dir(container_id: str) -> Path:
    args = storage_args()
    root = Path(args[args.index("--root") + 1])
    containers = json.loads((root / "overlay-containers" / "containers.json").read_text())
    (layer,) = [str(c["layer"]) for c in containers if c["id"] == container_id]
    return root / "overlay" / layer / "diff"


@contextmanager
def container(image: str, name: str) -> Iterator[Container]:
    buildah("rm", name, check=False)  # a leftover of an interrupted run
    buildah("from", "--name", name, image)
    try:
        container_id = buildah(
            "inspect", "--type", "container", "--format", "{{.ContainerID}}", name
        ).stdout.strip()
        yield Container(name, _layer_dir(container_id))
    finally:
        buildah("rm", name, check=False)
