"""This surface's reading of errors: bad input is 422 here, where the PRSM Task API says 400
(the task-list document's convention). Same code, same one body."""

from __future__ import annotations

from prsm_tasks.errors import (
    InvalidParametersError,
    InvalidTaskDataError,
    PrsmError,
    QueueNotAvailableError,
    TaskTypeInactiveError,
    UnprocessableError,
    ValidationError,
)


def as_api_error(exc: ValidationError) -> PrsmError:
    """A 400 of the shared checks as this surface answers it: 422 (same code). An inactive
    type and an unavailable queue stay 400; a too large body stays 413."""
    if exc.status != 400 or isinstance(exc, TaskTypeInactiveError | QueueNotAvailableError):
        return exc
    details = {key: value for key, value in exc.details.items() if key != "field"}
    error_class = InvalidParametersError if isinstance(exc, InvalidTaskDataError) else None
    if error_class is not None:
        converted: ValidationError = error_class(exc.message, field=exc.field, **details)
    else:
        converted = UnprocessableError(exc.message, field=exc.field, **details)
        converted.code = exc.code  # type: ignore[misc]  # keep validation_error, payload..., etc.
    converted.task_id = exc.task_id
    return converted


def map_error(exc: PrsmError) -> PrsmError:
    return as_api_error(exc) if isinstance(exc, ValidationError) else exc
