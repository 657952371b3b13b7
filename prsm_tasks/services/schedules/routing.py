"""Which queue (and handler type) a schedule's runs go to.

The document names no handler, so a schedule may name ``queue_name`` and a handler type
(``handler_type``: the document uses ``task_type`` for cron/one_time). Without a queue, the
task type named ``handler_type`` (else one named like ``task_name``) decides the queue, as
``/api/tasks`` does; else the queue named after ``task_name``. A queue that no node serves is
accepted: workers may join later (``/api/v1/status`` lists such schedules).
"""

from __future__ import annotations

from dataclasses import dataclass

from prsm_tasks import wire
from prsm_tasks.errors import ValidationError
from prsm_tasks.schedules.record import ScheduleRecord
from prsm_tasks.services.mirrors import TypeView


@dataclass(frozen=True)
class Route:
    queue: str
    task_type: str | None


def route_of(
    types: TypeView,
    tenant: str,
    *,
    task_name: str,
    queue_name: str | None,
    handler_type: str | None,
) -> Route:
    """The queue and handler type of a schedule's runs; 400 when none can be found."""
    if queue_name is not None:
        return Route(queue=queue_name, task_type=handler_type)
    found = types.resolve(tenant, handler_type or task_name)
    if found is not None:
        return Route(queue=found[0].queue, task_type=found[0].name)
    if handler_type is not None:
        raise ValidationError(
            f"handler_type: no task type {handler_type!r}; name its queue_name as well",
            field="handler_type",
        )
    if not wire.QUEUE_NAME_RE.fullmatch(task_name):
        raise ValidationError(
            f"queue_name: {task_name!r} is not a queue name and no task type has that name; "
            "give queue_name (or handler_type)",
            field="queue_name",
        )
    return Route(queue=task_name, task_type=None)


def route_of_record(types: TypeView, record: ScheduleRecord) -> Route | None:
    """The route of a stored schedule now (types may have come or gone since)."""
    try:
        return route_of(
            types,
            record.tenant,
            task_name=record.task_name,
            queue_name=record.queue_name,
            handler_type=record.handler_type,
        )
    except ValidationError:
        return None
