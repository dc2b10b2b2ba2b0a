"""Vocabulary of ModelDeployment status: condition types, CamelCase reasons and phases.

One small file, as in kubebuilder projects, so that the status code, events, tests and docs spell them the
same way. Plain ``str`` constants (not enums) because they go straight into JSON/YAML patches and events.
Reasons are module-level (``reasons.INVALID_SPEC``); types and phases are grouped because both have a
"Ready", "Progressing" and "Degraded".
"""

from __future__ import annotations

from typing import Final


class ConditionType:
    """The ``type`` of each condition in ``status.conditions``."""

    READY: Final = "Ready"  # summary: every wanted replica serves the applied spec
    AVAILABLE: Final = "Available"  # all wanted replicas answer requests
    PROGRESSING: Final = "Progressing"  # a rollout moves, has completed, or is stuck (status False)
    DEGRADED: Final = "Degraded"  # something needs a human fix; the message says what
    MODEL_LOADED: Final = "ModelLoaded"  # TF Serving reports the wanted versions AVAILABLE (asked live)
    # kstatus' abnormal-true pair (sigs.k8s.io/cli-utils pkg/kstatus), read by Flux and kpt.
    RECONCILING: Final = "Reconciling"  # working towards the latest generation, and can get there
    STALLED: Final = "Stalled"  # cannot get there without a fix; same reason as Degraded
    AUTOSCALING: Final = "Autoscaling"  # the autoscaler can read its metrics and scale (spec.autoscaling)

    ALL: Final = (READY, AVAILABLE, PROGRESSING, DEGRADED, RECONCILING, STALLED, MODEL_LOADED, AUTOSCALING)


class Phase:
    """``status.phase``: a one-word convenience for ``kubectl get``; the conditions are the truth."""

    PENDING: Final = "Pending"
    PROGRESSING: Final = "Progressing"
    READY: Final = "Ready"
    DEGRADED: Final = "Degraded"
    FAILED: Final = "Failed"

    ALL: Final = (PENDING, PROGRESSING, READY, DEGRADED, FAILED)


# Reasons. Names follow the Deployment controller's where the meaning is the same.

# Healthy.
MINIMUM_REPLICAS_AVAILABLE: Final = "MinimumReplicasAvailable"
NEW_REPLICA_SET_AVAILABLE: Final = "NewReplicaSetAvailable"
SCALED_TO_ZERO: Final = "ScaledToZero"
MODEL_AVAILABLE: Final = "ModelAvailable"
AS_EXPECTED: Final = "AsExpected"

# Moving towards the desired state.
RECONCILING: Final = "Reconciling"
REPLICA_SET_UPDATING: Final = "ReplicaSetUpdating"
ROLLOUT_IN_PROGRESS: Final = "RolloutInProgress"
REPLICAS_UNAVAILABLE: Final = "ReplicasUnavailable"
SCALING_DOWN: Final = "ScalingDown"  # more pods than wanted remain
MODEL_LOADING: Final = "ModelLoading"
LABEL_WAITING: Final = "LabelWaiting"  # a version label waits for its version to become AVAILABLE
MODEL_STATUS_UNKNOWN: Final = "ModelStatusUnknown"  # TF Serving could not be asked

# Needs attention.
INVALID_SPEC: Final = "InvalidSpec"
APPLY_FAILED: Final = "ApplyFailed"
# An object the operator would create exists and another owner (or nobody) controls it: left untouched.
OWNERSHIP_CONFLICT: Final = "OwnershipConflict"
PROGRESS_DEADLINE_EXCEEDED: Final = "ProgressDeadlineExceeded"
FAILED_CREATE: Final = "FailedCreate"  # the ReplicaSet cannot create pods (quota, admission)
UNSCHEDULABLE: Final = "Unschedulable"
INSUFFICIENT_GPU: Final = "InsufficientGPU"
NO_MATCHING_GPU_NODE: Final = "NoMatchingGPUNode"
IMAGE_PULL_FAILED: Final = "ImagePullFailed"
CONTAINER_CONFIG_ERROR: Final = "ContainerConfigError"  # e.g. a Secret referenced by spec.env is missing
MODEL_DOWNLOAD_FAILED: Final = "ModelDownloadFailed"  # the storage init container fails
CRASH_LOOP_BACK_OFF: Final = "CrashLoopBackOff"  # TF Serving keeps exiting
MODEL_LOAD_FAILED: Final = "ModelLoadFailed"

# The Autoscaling condition (autoscaling_status.py); the HPA's own reason is quoted in the message.
SCALING_ACTIVE: Final = "ScalingActive"  # the autoscaler computes replica counts from its metrics
SCALING_LIMITED: Final = "ScalingLimited"  # it wants more replicas than spec.autoscaling.maxReplicas
SCALING_INACTIVE: Final = "ScalingInactive"  # it cannot compute a count (metrics missing)
UNABLE_TO_SCALE: Final = "UnableToScale"  # it cannot read or change the scale (or KEDA is not ready)
AUTOSCALER_PENDING: Final = "AutoscalerPending"  # no autoscaler, or no count computed, yet

ALL_REASONS: Final = (
    MINIMUM_REPLICAS_AVAILABLE,
    NEW_REPLICA_SET_AVAILABLE,
    SCALED_TO_ZERO,
    MODEL_AVAILABLE,
    AS_EXPECTED,
    RECONCILING,
    REPLICA_SET_UPDATING,
    ROLLOUT_IN_PROGRESS,
    REPLICAS_UNAVAILABLE,
    SCALING_DOWN,
    MODEL_LOADING,
    LABEL_WAITING,
    MODEL_STATUS_UNKNOWN,
    INVALID_SPEC,
    APPLY_FAILED,
    OWNERSHIP_CONFLICT,
    PROGRESS_DEADLINE_EXCEEDED,
    FAILED_CREATE,
    UNSCHEDULABLE,
    INSUFFICIENT_GPU,
    NO_MATCHING_GPU_NODE,
    IMAGE_PULL_FAILED,
    CONTAINER_CONFIG_ERROR,
    MODEL_DOWNLOAD_FAILED,
    CRASH_LOOP_BACK_OFF,
    MODEL_LOAD_FAILED,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    SCALING_INACTIVE,
    UNABLE_TO_SCALE,
    AUTOSCALER_PENDING,
)
