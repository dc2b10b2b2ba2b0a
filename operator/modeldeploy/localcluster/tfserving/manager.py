"""Loading and unloading versions: the aspired-versions manager, its policy and the loader harness.

Follows tensorflow_serving/core/aspired_versions_manager.cc (aspired sets per model, FlushServables),
core/availability_preserving_policy.cc (the next load/unload), core/loader_harness.cc with
util/retrier.cc (load retries) and core/basic_manager.cc (the states published, handle lookups).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from modeldeploy.localcluster.tfserving.monitor import (
    AVAILABLE,
    END,
    LOADING,
    START,
    UNLOADING,
    ServerLog,
    StateMonitor,
    servable_id,
)
from modeldeploy.localcluster.tfserving.status import OK, Status
from modeldeploy.localcluster.tfserving.store import VersionSpec
from modeldeploy.localcluster.tfserving.timers import TIMERS, Timer

# LoaderHarness::State, as far as the emulation needs it.
NEW, HARNESS_LOADING, READY, ERROR, DISABLED = "new", "loading", "ready", "error", "disabled"


@dataclass
class Harness:
    name: str
    version: int
    spec: VersionSpec
    aspired: bool = True
    state: str = NEW
    tries: int = 0
    timer: Timer | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LoadSettings:
    max_num_load_retries: int = 5
    load_retry_interval_micros: int = 60_000_000
    num_load_threads: int = 0
    initial_load_threads: int = 8
    time_scale: float = 1.0
    # Set when every load must fail the same way (a batching config the batching session rejects).
    load_error: Status | None = None


class Manager:
    def __init__(self, monitor: StateMonitor, log: ServerLog, settings: LoadSettings) -> None:
        self._monitor = monitor
        self._log = log
        self._settings = settings
        self._lock = threading.RLock()
        self._harnesses: dict[str, dict[int, Harness]] = {}
        self._loading = 0
        self.initial_load = True  # server_core.cc loads the first config with num_initial_load_threads
        self._stopped = False

    # ---- what the source says -------------------------------------------------------------------
    def set_aspired(self, name: str, versions: dict[int, VersionSpec]) -> None:
        """AspiredVersionsManager::ProcessAspiredVersionsRequest: the full aspired set of one model."""
        with self._lock:
            if self._stopped:
                return
            harnesses = self._harnesses.setdefault(name, {})
            for harness in harnesses.values():
                harness.aspired = harness.version in versions
            self._flush(name)
            for version, spec in versions.items():
                if version not in harnesses:
                    harnesses[version] = Harness(name, version, spec)
                    # basic_manager.cc ManageServable publishes kStart for a newly managed version.
                    self._monitor.publish(name, version, START)
            self._manage()

    def _flush(self, name: str) -> None:
        # aspired_versions_manager.cc FlushServables: forget versions no longer aspired that are new,
        # unloaded or failed (their last state stays in the monitor), so re-aspiring one loads it afresh.
        harnesses = self._harnesses.get(name, {})
        for version in [
            v for v, h in harnesses.items() if not h.aspired and h.state in (NEW, DISABLED, ERROR)
        ]:
            del harnesses[version]

    # ---- the policy ------------------------------------------------------------------------------
    def _manage(self) -> None:
        for name in list(self._harnesses):
            while self._next_action(name):
                pass
            self._flush(name)

    def _next_action(self, name: str) -> bool:
        """availability_preserving_policy.cc GetNextAction, then run the action; False when idle."""
        harnesses = self._harnesses.get(name, {})
        has_aspired = any(h.aspired for h in harnesses.values())
        has_aspired_serving = any(h.aspired and h.state == READY for h in harnesses.values())
        unaspired_serving = [h for h in harnesses.values() if not h.aspired and h.state == READY]
        if (not has_aspired or has_aspired_serving or len(unaspired_serving) > 1) and unaspired_serving:
            self._unload(min(unaspired_serving, key=lambda h: h.version))
            return True
        new = [h for h in harnesses.values() if h.aspired and h.state == NEW]
        if new and self._loading < self._load_slots():
            self._start_load(max(new, key=lambda h: h.version))
            return True
        return False

    def _load_slots(self) -> int:
        if self.initial_load:
            return self._settings.initial_load_threads
        # num_load_threads == 0 loads inline in the manager's loop: one at a time.
        return max(1, self._settings.num_load_threads)

    # ---- loader harness --------------------------------------------------------------------------
    def _start_load(self, harness: Harness) -> None:
        harness.state = HARNESS_LOADING
        self._loading += 1
        self._log.info(f"Loading servable version {servable_id(harness.name, harness.version)}")
        self._monitor.publish(harness.name, harness.version, LOADING)
        self._schedule_attempt(harness, harness.spec.load_seconds)

    def _schedule_attempt(self, harness: Harness, seconds: float) -> None:
        harness.timer = TIMERS.call_later(
            seconds * self._settings.time_scale, lambda: self._attempt_done(harness)
        )

    def _attempt_done(self, harness: Harness) -> None:
        with self._lock:
            if self._stopped or harness.state != HARNESS_LOADING:
                return
            harness.tries += 1
            error = self._load_error(harness)
            if error is None:
                harness.state = READY
                self._loading -= 1
                self._log.info(
                    f"Successfully loaded servable version {servable_id(harness.name, harness.version)}"
                )
                self._monitor.publish(harness.name, harness.version, AVAILABLE)
                self._manage()
                return
            self._log.error(f"Loading servable: {servable_id(harness.name, harness.version)} failed: {error}")
            # retrier.cc: up to max_num_load_retries more tries, load_retry_interval_micros apart, while
            # the manager still wants the version (aspired_versions_manager.cc CancelLoadServableRetry).
            if harness.tries < self._settings.max_num_load_retries + 1 and harness.aspired:
                interval = max(0, self._settings.load_retry_interval_micros) / 1e6
                self._schedule_attempt(harness, interval + harness.spec.load_seconds)
                return
            harness.state = ERROR
            self._loading -= 1
            # loader_harness.cc ErrorInternal -> basic_manager.cc publishes kEnd with the load's error.
            self._monitor.publish(harness.name, harness.version, END, error)
            self._manage()

    def _load_error(self, harness: Harness) -> Status | None:
        if self._settings.load_error is not None:
            return self._settings.load_error
        if harness.spec.error is not None:
            return Status(harness.spec.error_code, harness.spec.error)
        return None

    def _unload(self, harness: Harness) -> None:
        # loader_harness.cc: ready -> quiescing -> unloading -> disabled; basic_manager.cc publishes
        # kUnloading, then kEnd with an OK status.
        self._log.info(f"Unloading servable version {servable_id(harness.name, harness.version)}")
        self._monitor.publish(harness.name, harness.version, UNLOADING)
        harness.state = DISABLED
        self._monitor.publish(harness.name, harness.version, END, OK)

    # ---- requests --------------------------------------------------------------------------------
    def ready_version(self, name: str, version: int | None) -> int | None:
        """basic_manager.cc handle lookup: a specific ready version, or the highest ready one (Latest)."""
        with self._lock:
            ready = [v for v, h in self._harnesses.get(name, {}).items() if h.state == READY]
        if version is None:
            return max(ready) if ready else None
        return version if version in ready else None

    def finish_initial_load(self) -> None:
        with self._lock:
            self.initial_load = False

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            for harnesses in self._harnesses.values():
                for harness in harnesses.values():
                    if harness.timer is not None:
                        harness.timer.cancel()
