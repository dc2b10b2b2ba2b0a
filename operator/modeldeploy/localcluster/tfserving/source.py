"""Which versions each model should have: the file-system storage path source, over a ModelStore.

Follows tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from modeldeploy.localcluster.tfserving.monitor import ServerLog
from modeldeploy.localcluster.tfserving.status import Status, StatusError
from modeldeploy.localcluster.tfserving.store import ModelStore, VersionSpec
from modeldeploy.localcluster.tfserving.timers import TIMERS, Timer

# tensorflow/core/platform/path.cc ParseURI: a scheme is [a-zA-Z][0-9a-zA-Z.]* followed by "://".
_SCHEME = re.compile(r"^([A-Za-z][0-9A-Za-z.]*)://")
# File systems linked into tensorflow_model_server (model_servers/BUILD: posix and gcs_file_system); S3
# left TensorFlow for tensorflow-io, and no HTTP file system exists.
SUPPORTED_SCHEMES = ("", "file", "gs")


@dataclass(frozen=True)
class Servable:
    """FileSystemStoragePathSourceConfig.ServableToMonitor."""

    name: str
    base_path: str
    policy: Any  # FileSystemStoragePathSourceConfig.ServableVersionPolicy (= ModelVersionPolicy)


def scheme_of(path: str) -> str:
    match = _SCHEME.match(path)
    return match.group(1) if match else ""


class StoragePathSource:
    def __init__(
        self,
        store: ModelStore,
        log: ServerLog,
        aspire: Callable[[str, dict[int, VersionSpec]], None],
        poll_seconds: float,
        poll_scale: float,
    ) -> None:
        self._store = store
        self._log = log
        self._aspire = aspire
        self._poll_seconds = poll_seconds
        self._poll_scale = poll_scale
        self._lock = threading.Lock()
        self._servables: list[Servable] = []
        self._timer: Timer | None = None
        self._stopped = False

    @property
    def servables(self) -> list[Servable]:
        with self._lock:
            return list(self._servables)

    def update_config(self, servables: list[Servable]) -> None:
        """UpdateConfig: models left out of the new config get an empty aspired set (unloaded); policy
        changes of the others wait for the next file-system poll."""
        with self._lock:
            new_names = {s.name for s in servables}
            deleted = [s.name for s in self._servables if s.name not in new_names]
            self._servables = list(servables)
        for name in deleted:
            self._aspire(name, {})

    def start(self) -> None:
        """SetAspiredVersionsCallback: poll now, then every file_system_poll_wait_seconds (> 0); 0 polls
        exactly once, a negative value never."""
        if self._poll_seconds >= 0:
            self._timer = TIMERS.call_later(0, self._poll_and_reschedule)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()

    def _poll_and_reschedule(self) -> None:
        with self._lock:
            if self._stopped:
                return
        try:
            self.poll()
        except StatusError as exc:
            self._log.error(
                f"FileSystemStoragePathSource encountered a filesystem access error: {exc.status.message}"
            )
        with self._lock:
            if not self._stopped and self._poll_seconds > 0:
                self._timer = TIMERS.call_later(
                    self._poll_seconds * self._poll_scale, self._poll_and_reschedule
                )

    def poll(self) -> None:
        """PollFileSystemForConfig then the callback per model; one missing base path fails the whole poll
        (no model gets an update), as TF_RETURN_IF_ERROR does there."""
        results = [(s.name, self._versions_for(s)) for s in self.servables]
        for name, versions in results:
            self._aspire(name, versions)

    def _file_exists(self, path: str) -> Status | None:
        scheme = scheme_of(path)
        if scheme not in SUPPORTED_SCHEMES:
            # tensorflow/core/platform/env.cc GetFileSystemForFile.
            return Status("UNIMPLEMENTED", f"File system scheme '{scheme}' not implemented (file: '{path}')")
        if not self._store.exists(path):
            if scheme == "gs":
                return Status("NOT_FOUND", f"The specified path {path} was not found.")
            return Status("NOT_FOUND", f"{path} not found")
        return None

    def _versions_for(self, servable: Servable) -> dict[int, VersionSpec]:
        """PollFileSystemForServable."""
        missing = self._file_exists(servable.base_path)
        if missing is not None:
            raise StatusError(
                Status(
                    "INVALID_ARGUMENT",
                    f"Could not find base path {servable.base_path} for servable {servable.name} "
                    f"with error {missing}",
                )
            )
        present = self._store.versions(servable.base_path)
        policy = servable.policy
        choice = policy.WhichOneof("policy_choice")
        if choice == "specific":
            wanted = list(policy.specific.versions)
            if not wanted:
                self._log.error(f"No specific versions requested for servable {servable.name}.")
                return {}
            chosen = {v: present[v] for v in wanted if v in present}
            for version in wanted:
                if version not in present:
                    self._log.error(
                        f"Version {version} of servable {servable.name}, which was requested to be served as "
                        "a 'specific' version in the servable's version policy, was not found in the file "
                        "system"
                    )
        elif choice == "all":
            chosen = dict(present)
        else:  # unset defaults to latest; num_versions is at least 1
            count = max(policy.latest.num_versions, 1) if choice == "latest" else 1
            chosen = {v: present[v] for v in sorted(present, reverse=True)[:count]}
        if not chosen:
            self._log.error(
                f"No versions of servable {servable.name} found under base path {servable.base_path}. "
                "Did you forget to name your leaf directory as a number (eg. '/1/')?"
            )
        return chosen
