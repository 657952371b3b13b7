"""The one error tree of prsm_tasks.

Each class carries a stable ``code`` and an HTTP ``status`` so every surface (Python client,
HTTP edge, CLI) renders errors the same way. Imports nothing from the package.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PrsmError(Exception):
    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500
    # what an HTTP caller is told instead of ``message`` when that names internals (NATS
    # subjects, streams, buckets); the message then goes to the edge's log only
    public_message: ClassVar[str | None] = None

    def __init__(self, message: str = "", *, task_id: str | None = None, **details: Any) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        self.task_id = task_id
        self.details = details


class ValidationError(PrsmError):
    """Bad input from a caller: nothing was written."""

    code = "validation_error"
    status = 400

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, field=field, **details)
        self.field = field


class InvalidTaskDataError(ValidationError):
    code = "invalid_task_data"


class PayloadTooLargeError(ValidationError):
    code = "payload_too_large"
    status = 413


class QueueNotAvailableError(ValidationError):
    code = "queue_not_available"


class UnauthorizedError(PrsmError):
    code = "unauthorized"
    status = 401


class ForbiddenError(PrsmError):
    code = "forbidden"
    status = 403


class NotFoundError(PrsmError):
    code = "not_found"
    status = 404


class TaskNotFoundError(NotFoundError):
    code = "task_not_found"


class MethodNotAllowedError(PrsmError):
    code = "method_not_allowed"
    status = 405


class ConflictError(PrsmError):
    code = "conflict"
    status = 409


class TaskNotCompletedError(ConflictError):
    code = "task_not_completed"


class TaskAlreadyFinishedError(ConflictError):
    code = "task_already_finished"


class TaskNotFinalError(ConflictError):
    """Running again a task that has not stopped (retry, resume)."""

    code = "task_not_final"


class CheckpointRefusedError(ConflictError):
    """A checkpoint written by an attempt that no longer owns its task (its lease lapsed and
    another attempt took over, or the task was cancelled): the newer owner's state stands."""

    code = "checkpoint_refused"


class NoCheckpointError(ConflictError):
    """Resuming a task that has no checkpoint (never saved, or expired with its retention)."""

    code = "no_checkpoint"


class TaskNotResumableError(ConflictError):
    """Resuming a job that completed: only a failed, timed-out or cancelled one resumes."""

    code = "task_not_resumable"


class TaskStillRunningError(ConflictError):
    """Removing a task that has not reached a final state."""

    code = "task_not_finished"


class IdempotencyKeyTaskDeletedError(ConflictError):
    """The task this idempotency key created was deleted; the key stays bound to it for its
    TTL, so a retry cannot quietly create the task again: use a new key."""

    code = "idempotency_key_task_deleted"


class IllegalTransitionError(ConflictError):
    """The state machine refuses this change (for example, leaving a final state)."""

    code = "illegal_transition"


class TransitionConflictError(ConflictError):
    """A compare-and-set lost its race: the record changed since it was read."""

    code = "transition_conflict"


class RateLimitedError(PrsmError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: int, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s


class QuotaExceededError(PrsmError):
    """A tenant reached one of its quotas (or the deployment one of its fixed sizes): nothing
    was written. ``limit`` names the setting, ``maximum`` its value."""

    code = "quota_exceeded"
    status = 429

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        maximum: int | None = None,
        field: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message, limit=limit, maximum=maximum, **details)
        self.limit = limit
        self.maximum = maximum
        self.field = field


class TaskTypeLimitError(QuotaExceededError):
    code = "task_type_limit"


class QueueLimitError(QuotaExceededError):
    code = "queue_limit"


class UnfinishedTaskLimitError(QuotaExceededError):
    code = "unfinished_task_limit"


class PriorityMoveLimitError(QuotaExceededError):
    code = "priority_move_limit"


class WorkStreamFullError(QuotaExceededError):
    """The work stream (PRSM_WORK) holds as many messages or bytes as it may: shared by every
    tenant, so it answers 507 (the deployment's storage), not 429."""

    code = "work_stream_full"
    status = 507


class ServiceUnavailableError(PrsmError):
    """NATS (or another dependency) cannot be reached right now."""

    code = "service_unavailable"
    status = 503
    public_message = "the task store is unavailable right now; try again shortly"


class EnqueueIncompleteError(ServiceUnavailableError):
    """An enqueue wrote the task's record (``status``: what it is; "unknown" when the create's
    answer was lost) but not its work message. Look the task up by ``task_id`` (a 404 means
    nothing was written), or send the request again with the same idempotency key; a
    recorded task is queued by the peer nodes' repair (docs/operations.md) within
    ``PRSM_REPAIR_AFTER_SECONDS``. A bulk names its ``batch_id`` and ``task_ids``."""

    code = "enqueue_incomplete"
    public_message = (
        "the task was recorded but could not be queued yet: look it up by its task_id "
        "before enqueueing it again; a recorded task is queued by the repair"
    )


class WorkerUnavailableError(ServiceUnavailableError):
    code = "worker_unavailable"
    public_message = None  # it names the caller's own queue, nothing internal


class TopologyMismatchError(PrsmError):
    """This process's settings disagree with what the deployment recorded (its partitions):
    it refuses to start rather than read and write where no other process looks."""

    code = "topology_mismatch"
    public_message = "this process is configured for another topology than the deployment's"


class TaskTimeoutError(PrsmError):
    """Waiting for a task took longer than the caller allowed (the task itself goes on)."""

    code = "wait_timeout"
    status = 504


class HandlerError(PrsmError):
    """A handler result or declaration the node cannot accept."""

    code = "handler_error"


class LocalSetupError(PrsmError):
    """`prsm-tasks up` cannot start as asked: its data directory is not safe to use."""

    code = "local_setup_error"


class PortInUseError(LocalSetupError):
    """A port `prsm-tasks up` was asked to listen on is taken."""

    code = "port_in_use"


# --- the task-type registry and the task list API (/api/…) -----------------------------------
# The /api/… routes follow their own convention for bad input: 422 (FastAPI's), except an
# inactive task type, which is 400. The codes stay the same as on the PRSM routes.


class UnprocessableError(ValidationError):
    """Bad input on an /api/… route: nothing was written."""

    status = 422


class InvalidParametersError(InvalidTaskDataError):
    """``invalid_task_data`` on an /api/… route."""

    status = 422


class InvalidSchemaError(ValidationError):
    """A ``parameters_schema`` that is not a valid JSON Schema (Draft 2020-12)."""

    code = "invalid_schema"
    status = 422


class TaskTypeTooLargeError(UnprocessableError):
    """A type's ``parameters_schema`` or ``metadata`` is larger than PRSM_MAX_TASK_TYPE_BYTES."""

    code = "task_type_too_large"


class TaskTypeInactiveError(ValidationError):
    code = "task_type_inactive"


class TaskTypeNotFoundError(NotFoundError):
    code = "task_type_not_found"


class TaskTypeConflictError(ConflictError):
    """The tenant (or the system scope) already has a task type of that name."""

    code = "task_type_exists"

    def __init__(self, message: str, *, field: str | None = "name", **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class ClaimLostError(ConflictError):
    """The task is no longer held by this external worker (its lease lapsed, or another
    worker or a peer node runs it now)."""

    code = "claim_lost"


# --- schedules (the scheduler API, /api/v1/…) ------------------------------------------------


class ScheduleLimitError(QuotaExceededError):
    """A tenant has as many schedules as PRSM_MAX_SCHEDULES_PER_TENANT allows."""

    code = "schedule_limit"


class DependencyCycleError(ConflictError):
    """A dependency between schedules that would make a cycle: nothing was written."""

    code = "dependency_cycle"


class DependencyExistsError(ConflictError):
    code = "dependency_exists"


class DependencyNotFoundError(NotFoundError):
    code = "dependency_not_found"


# --- the tasks hub (seed 003, /tasks/…/) ------------------------------------------------------


class BrandRequiredError(ValidationError):
    """A hub request without a usable ``X-Brand-ID`` header."""

    code = "brand_required"


class BrandForbiddenError(ForbiddenError):
    """A brand the caller's token does not list (its ``brands`` claim)."""

    code = "brand_forbidden"


class TaskAlreadyCompletedError(ConflictError):
    """A retry of a task that completed: only a failed, timed-out or cancelled task is retried."""

    code = "task_already_completed"


# --- monitoring: alert rules and alerts (services/alerts/) ------------------------------------


class AlertRuleNotFoundError(NotFoundError):
    """No alert rule of this id in the caller's scope (another scope's rule included)."""

    code = "alert_rule_not_found"


class AlertNotFoundError(NotFoundError):
    code = "alert_not_found"


class AlertResolvedError(ConflictError):
    """An alert that resolved can no longer be acknowledged."""

    code = "alert_resolved"


class AlertRuleLimitError(QuotaExceededError):
    """A scope has as many alert rules as PRSM_MAX_ALERT_RULES_PER_TENANT allows."""

    code = "alert_rule_limit"


# --- dependencies between one-off tasks (store/graph.py) -------------------------------------


class ParentTaskNotFoundError(NotFoundError):
    """A ``depends_on`` names a task that does not exist for this tenant: nothing was written."""

    code = "parent_task_not_found"

    def __init__(self, message: str, *, field: str | None = "depends_on", **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class TooManyDependentsError(ConflictError):
    """A parent task already has as many dependents as a task may have."""

    code = "too_many_dependents"

    def __init__(self, message: str, *, field: str | None = "depends_on", **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field
