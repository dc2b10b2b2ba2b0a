"""ServerCore: accepting a ModelServerConfig, version labels, and what a request resolves to.

Follows tensorflow_serving/model_servers/server_core.cc (ReloadConfig, UpdateModelVersionLabelMap,
AddModelsViaModelConfigList, WaitUntilModelsAvailable, ServableRequestFromModelSpec) and
core/load_servables_fast.cc (the initial load's wait and its error).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable

from modeldeploy.localcluster.tfserving.manager import LoadSettings, Manager
from modeldeploy.localcluster.tfserving.monitor import AVAILABLE, ServerLog, StateMonitor, servable_id
from modeldeploy.localcluster.tfserving.protos import ModelServerConfig
from modeldeploy.localcluster.tfserving.source import Servable, StoragePathSource
from modeldeploy.localcluster.tfserving.status import OK, Status, StatusError, fail
from modeldeploy.localcluster.tfserving.store import ModelStore

TENSORFLOW_PLATFORM = "tensorflow"
_MODEL_TYPE_TENSORFLOW = 1  # ModelType.TENSORFLOW in model_server_config.proto
_URI = re.compile(r"^[A-Za-z][0-9A-Za-z.]*://")

Done = Callable[[Status], None]


class Crash(Exception):
    """A LOG(FATAL) in the real server: the process aborts."""


def _platform(model: object) -> str:
    """server_core.cc GetPlatform."""
    name = getattr(model, "name", "")
    model_type = getattr(model, "model_type", 0)
    platform = str(getattr(model, "model_platform", ""))
    if model_type != 0:
        if platform:
            raise fail(
                "INVALID_ARGUMENT",
                "Illegal setting both ModelServerConfig::model_type (deprecated) and "
                f"ModelServerConfig::model_platform, model name is {name}",
            )
        if model_type != _MODEL_TYPE_TENSORFLOW:
            raise fail(
                "INVALID_ARGUMENT", f"ModelServerConfig::model_type choice {model_type} not supported."
            )
        platform = TENSORFLOW_PLATFORM
    if not platform:
        raise fail(
            "INVALID_ARGUMENT",
            "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
            f"ModelServerConfig::model_platform, model name is {name}",
        )
    return platform


def _is_relative(path: str) -> bool:
    # server_core.cc UriIsRelativePath: no scheme, no host, and not an absolute path.
    return not _URI.match(path) and not path.startswith("/")


class ServerCore:
    def __init__(
        self,
        store: ModelStore,
        log: ServerLog,
        settings: LoadSettings,
        allow_version_labels_for_unavailable_models: bool,
        file_system_poll_wait_seconds: int,
        poll_scale: float,
    ) -> None:
        self._store = store
        self._log = log
        self.monitor = StateMonitor()
        self.manager = Manager(self.monitor, log, settings)
        self._allow_unavailable_labels = allow_version_labels_for_unavailable_models
        self._fs_poll_seconds = file_system_poll_wait_seconds
        self._poll_scale = poll_scale
        self._lock = threading.Lock()
        self._config: ModelServerConfig | None = None  # None: CONFIG_NOT_SET
        self._labels: dict[str, dict[str, int]] | None = None
        self.source: StoragePathSource | None = None

    @property
    def config(self) -> ModelServerConfig | None:
        return self._config

    # ---- ReloadConfig ----------------------------------------------------------------------------
    def reload_config(self, new: ModelServerConfig, done: Done) -> None:
        """ReloadConfig. ``done`` gets the final status, once the models it waits for have settled."""
        try:
            waiting = self._reload(new, done)
        except StatusError as exc:
            done(exc.status)
            return
        if not waiting:
            done(OK)

    def _reload(self, new: ModelServerConfig, done: Done) -> bool:
        with self._lock:
            old = self._config
            new_case = new.WhichOneof("config")
            old_case = None if old is None else old.WhichOneof("config")
            if not (old is None or (old_case == "model_config_list" and new_case == old_case)):
                raise fail(
                    "FAILED_PRECONDITION",
                    "Cannot transition to requested config. It is only legal to transition from one "
                    "ModelConfigList to another.",
                )
            if new_case is None:
                self._log.info("Taking no action for empty config.")
                return False
            if new_case == "model_config_list":
                self._validate_list(new)
                if old is not None:
                    self._validate_platforms_unchanged(old, new)
            # server_core.cc stores the new config before the label check: a rejected label leaves the
            # new config recorded but never applied, and the next poll tries it again.
            self._config = new
            self._update_labels(new)
            self._log.info("Adding/updating models.")
            if new_case == "custom_model_config":
                # server.cc LoadCustomModelConfig is a LOG(FATAL).
                raise Crash("ModelServer does not yet support custom model config.")
            return self._add_models(new, done)

    def _validate_list(self, config: ModelServerConfig) -> None:
        """ValidateModelConfigList: unique names, absolute base paths."""
        names: set[str] = set()
        for model in config.model_config_list.config:
            if model.name in names:
                raise fail(
                    "INVALID_ARGUMENT", f"Illegal to list model {model.name} multiple times in config list"
                )
            names.add(model.name)
        for model in config.model_config_list.config:
            if _is_relative(model.base_path):
                raise fail(
                    "INVALID_ARGUMENT",
                    f"Expected model {model.name} to have an absolute path or URI; got "
                    f"base_path()={model.base_path}",
                )

    def _validate_platforms_unchanged(self, old: ModelServerConfig, new: ModelServerConfig) -> None:
        """ValidateNoModelsChangePlatforms."""
        old_platforms = {m.name: _platform(m) for m in old.model_config_list.config}
        for model in new.model_config_list.config:
            if model.name not in old_platforms:
                continue
            platform = _platform(model)
            if platform != old_platforms[model.name]:
                raise fail(
                    "INVALID_ARGUMENT",
                    f"Illegal to change a model's platform. For model {model.name} platform was "
                    f"{old_platforms[model.name]} and new platform requested is {platform}",
                )

    def _update_labels(self, config: ModelServerConfig) -> None:
        """UpdateModelVersionLabelMap: a label may name only a version AVAILABLE right now, unless
        --allow_version_labels_for_unavailable_models is set and the label is new or keeps its version."""
        new_map: dict[str, dict[str, int]] = {}
        for model in config.model_config_list.config:
            for label, version in model.version_labels.items():
                allow = False
                if self._allow_unavailable_labels:
                    existing = (self._labels or {}).get(model.name, {}).get(label)
                    allow = existing is None or existing == version
                state = self.monitor.get(model.name, version)
                if not allow and (state is None or state.state != AVAILABLE):
                    raise fail(
                        "FAILED_PRECONDITION",
                        f"Request to assign label to version {version} of model {model.name}, which is not "
                        "currently available for inference",
                    )
                new_map.setdefault(model.name, {})[label] = version
        self._labels = new_map

    def _add_models(self, config: ModelServerConfig, done: Done) -> bool:
        """AddModelsViaModelConfigList; True when ``done`` will be called once the wait ends."""
        servables = [
            Servable(m.name, m.base_path, m.model_version_policy) for m in config.model_config_list.config
        ]
        for model in config.model_config_list.config:  # CreateStoragePathRoutes
            platform = _platform(model)
            if platform != TENSORFLOW_PLATFORM:
                raise fail("INVALID_ARGUMENT", f"Model {model.name} requests unsupported platform {platform}")
        for servable in servables:
            self._log.info(f" (Re-)adding model: {servable.name}")
        if self.source is None:
            self.source = StoragePathSource(
                self._store, self._log, self.manager.set_aspired, self._fs_poll_seconds, self._poll_scale
            )
            self.source.update_config(servables)
            # ConnectSourcesWithFastInitialLoad: wait until every model's Latest is AVAILABLE or END.
            self.monitor.wait_for_latest(
                [s.name for s in servables],
                lambda ok, reached: done(self._wait_status(ok, reached, "servable")),
            )
            self.source.start()
            return True
        old_names = {s.name for s in self.source.servables}
        new_models = [s.name for s in servables if s.name not in old_names]
        self.source.update_config(servables)
        if not new_models:
            return False
        # WaitUntilModelsAvailable, over a fresh monitor that only sees events from now on.
        self.monitor.wait_for_latest(
            new_models, lambda ok, reached: done(self._wait_status(ok, reached, "model")), fresh=True
        )
        return True

    def _wait_status(self, ok: bool, reached: dict[tuple[str, int], str], noun: str) -> Status:
        if ok:
            return OK
        failed = [(key, state) for key, state in sorted(reached.items()) if state != AVAILABLE]
        parts = []
        for (name, version), _ in failed:
            state = self.monitor.get(name, version)
            error = f" due to error: {state.health}" if state is not None and not state.health.ok else ""
            parts.append(f"{{{servable_id(name, version)}{error}}}, ")
        return Status("UNKNOWN", f"{len(failed)} {noun}(s) did not become available: {{{''.join(parts)}}}")

    # ---- requests --------------------------------------------------------------------------------
    def version_for_label(self, name: str, label: str) -> int:
        """GetModelVersionForLabel."""
        with self._lock:
            labels = self._labels
        if labels is None:
            raise fail("UNAVAILABLE", f"Model labels does not init yet.{label}")
        version = labels.get(name, {}).get(label)
        if version is None:
            raise fail("INVALID_ARGUMENT", f"Unrecognized servable version label: {label}")
        return version

    def servable_version(self, name: str, version: int | None, label: str | None) -> int:
        """GetServableHandle: ServableRequestFromModelSpec, then the manager's ready versions."""
        if not name:
            raise fail("INVALID_ARGUMENT", "ModelSpec has no name specified.")
        if label is not None:
            version = self.version_for_label(name, label)
        found = self.manager.ready_version(name, version)
        if found is None:
            request = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise fail("NOT_FOUND", f"Servable not found for request: {request}")
        return found

    def labels(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {name: dict(labels) for name, labels in (self._labels or {}).items()}

    def stop(self) -> None:
        if self.source is not None:
            self.source.stop()
        self.manager.stop()
