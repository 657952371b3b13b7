"""Creating and changing schedules: each change a pure function of the record, written by
compare-and-set (``store/schedules.py``), then the timer told (``schedules/timer.py``).

``fields`` are the document's names (``task_type`` is the kind, ``schedule_expression`` the
rule, ``next_execution_time`` an ISO-8601 string), already typed by the surface's body.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from prsm_tasks import wire
from prsm_tasks.errors import ScheduleLimitError, ValidationError
from prsm_tasks.schedules.record import ScheduleRecord, as_datetime, as_epoch
from prsm_tasks.schedules.rules import MAX_AHEAD, TimeRule, parse_instant, parse_rule
from prsm_tasks.services.access import Principal
from prsm_tasks.services.schedules import dependencies
from prsm_tasks.services.schedules.core import (
    ScheduleService,
    check_schedule_access,
    check_schedule_id,
    now_utc,
)
from prsm_tasks.services.schedules.routing import route_of

MAX_PAYLOAD_BYTES = 256 * 1024
RULE_FIELDS = ("task_type", "schedule_expression", "timezone", "next_execution_time")
ROUTE_FIELDS = ("task_name", "queue_name", "handler_type")
# the document's field -> the record's
RECORD_FIELD = {"task_type": "kind", "schedule_expression": "expression"}
PLAIN_FIELDS = (
    "task_name",
    "payload",
    "timeout_seconds",
    "max_retries",
    "priority",
    "tags",
    "queue_name",
    "handler_type",
    "misfire_policy",
    "backfill_limit",
)


def build_rule(
    kind: str, expression: str | None, timezone: str, next_time: str | None, now: datetime
) -> tuple[TimeRule, float | None]:
    """The rule and its stored ``at`` (one_time's time, an interval's first due time)."""
    at = parse_instant(next_time, timezone) if next_time is not None else None
    if at is not None and at <= now:
        raise ValidationError(
            f"next_execution_time: {next_time} is not in the future", field="next_execution_time"
        )
    if at is not None and at - now > MAX_AHEAD:
        raise ValidationError(
            f"next_execution_time: at most {MAX_AHEAD.days} days ahead", field="next_execution_time"
        )
    rule = parse_rule(kind, expression, timezone, at=at, now=now)
    return rule, as_epoch(rule.anchor)


def check_payload(payload: dict[str, Any]) -> None:
    wire.check_depth(payload, field="payload")
    wire.pack_checked(payload, what="payload", field="payload", max_bytes=MAX_PAYLOAD_BYTES)


def check_route(schedules: ScheduleService, record: ScheduleRecord) -> None:
    route = route_of(
        schedules.services.types,
        record.tenant,
        task_name=record.task_name,
        queue_name=record.queue_name,
        handler_type=record.handler_type,
    )
    schedules.services.check_enabled(route.queue)


def check_quota(schedules: ScheduleService, tenant: str, adding: int = 1) -> None:
    current = schedules.index.count(tenant)
    if current + adding > schedules.max_schedules:
        raise ScheduleLimitError(
            f"the tenant has {current} schedules; at most {schedules.max_schedules}",
            limit="PRSM_MAX_SCHEDULES_PER_TENANT",
            maximum=schedules.max_schedules,
        )


def new_record(
    schedules: ScheduleService, principal: Principal, fields: dict[str, Any]
) -> ScheduleRecord:
    """A checked record of a create (nothing written): 400 naming the field at fault."""
    now = now_utc()
    rule, at = build_rule(
        fields["task_type"],
        fields.get("schedule_expression"),
        fields.get("timezone") or "UTC",
        fields.get("next_execution_time"),
        now,
    )
    check_payload(fields.get("payload") or {})
    paused = fields.get("enabled") is False
    next_due = rule.next_after(now)
    record = ScheduleRecord(
        schedule_id=str(uuid.uuid4()),
        tenant=principal.tenant,
        user=principal.user,
        kind=rule.kind,
        expression=rule.expression,
        timezone=fields.get("timezone") or "UTC",
        at=at,
        status="paused" if paused else "scheduled",
        next_due_at=as_epoch(next_due),
        created_at=now.timestamp(),
        updated_at=now.timestamp(),
        paused_at=now.timestamp() if paused else None,
        armed_due_at=None if paused else as_epoch(next_due),
        **{name: fields[name] for name in PLAIN_FIELDS if fields.get(name) is not None},
    )
    check_route(schedules, record)
    return record


async def tell_timer(schedules: ScheduleService, record: ScheduleRecord) -> None:
    """Arm the record's next due time, or disarm when it has none (paused, done)."""
    if record.armed_due_at is not None:
        due = as_datetime(record.armed_due_at)
        assert due is not None
        await schedules.timer.arm(record.schedule_id, due)
    else:
        await schedules.timer.disarm(record.schedule_id)


async def create(
    schedules: ScheduleService, principal: Principal, fields: dict[str, Any]
) -> ScheduleRecord:
    check_quota(schedules, principal.tenant)
    record = new_record(schedules, principal, fields)
    rev = await schedules.store.create(record)
    schedules.index.apply(record, rev)
    await tell_timer(schedules, record)
    return record


def api_value(record: ScheduleRecord, name: str) -> Any:
    """A record's value under the document's field name (for PATCH's comparison)."""
    if name == "next_execution_time":
        return record.at
    if name == "enabled":
        return record.enabled
    return getattr(record, RECORD_FIELD.get(name, name))


def with_status(record: ScheduleRecord, *, paused: bool, now: datetime) -> dict[str, Any]:
    """The fields of a pause or a resume (a resume's next time is from now)."""
    if paused:
        if record.status == "paused":
            return {}
        return {"status": "paused", "paused_at": now.timestamp(), "armed_due_at": None}
    if record.status != "paused":
        return {}
    next_due = next_on_resume(record, now)
    return {
        "status": "scheduled" if next_due is not None else "completed",
        "paused_at": None,
        "next_due_at": next_due,
        "armed_due_at": next_due,
    }


def next_on_resume(record: ScheduleRecord, now: datetime) -> float | None:
    """Due times that passed while paused are not run (a pause is meant), except a
    one_time whose time passed: it runs at once unless its misfire policy is ``skip``."""
    rule = record.rule()
    upcoming = rule.next_after(now)
    never_ran = record.last_due_at is None
    if upcoming is None and record.kind == "one_time" and never_ran:
        return now.timestamp() if record.misfire_policy != "skip" else None
    return as_epoch(upcoming)


def patched(
    schedules: ScheduleService, record: ScheduleRecord, fields: dict[str, Any], now: datetime
) -> tuple[ScheduleRecord, list[str]]:
    """The record with ``fields`` applied, checked, and the names of those that changed."""
    changed = [name for name in fields if fields[name] != api_value(record, name)]
    if "next_execution_time" in changed:
        given = fields["next_execution_time"]
        zone = fields.get("timezone") or record.timezone
        if given is not None and as_epoch(parse_instant(given, zone)) == record.at:
            changed.remove("next_execution_time")
    updates: dict[str, Any] = {name: fields[name] for name in PLAIN_FIELDS if name in changed}
    if any(name in changed for name in RULE_FIELDS):
        updates.update(rule_update(record, fields, now))
    update = record.model_copy(update=updates)
    if "enabled" in changed:
        update = update.model_copy(
            update=with_status(update, paused=not fields["enabled"], now=now)
        )
    elif "next_due_at" in updates and update.status != "paused":
        update = update.model_copy(update={"armed_due_at": updates["next_due_at"]})
    if "payload" in changed:
        check_payload(update.payload)
    if any(name in changed for name in ROUTE_FIELDS):
        check_route(schedules, update)
    if changed:
        update = update.model_copy(update={"updated_at": now.timestamp()})
    return update, changed


def rule_update(record: ScheduleRecord, fields: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A changed rule, recalculated from now; a one_time keeps its time unless given."""
    kind = fields.get("task_type", record.kind)
    expression = fields.get("schedule_expression", record.expression)
    timezone = fields.get("timezone") or record.timezone
    next_time = fields.get("next_execution_time")
    if next_time is None and kind == "one_time" and record.kind == "one_time":
        next_time = as_datetime(record.at).isoformat() if record.at is not None else None
    rule, at = build_rule(
        kind, expression if kind != "one_time" else None, timezone, next_time, now
    )
    next_due = rule.next_after(now)
    return {
        "kind": rule.kind,
        "expression": rule.expression,
        "timezone": timezone,
        "at": at,
        "next_due_at": as_epoch(next_due),
        "status": "paused" if record.status == "paused" else "scheduled",
    }


async def patch(
    schedules: ScheduleService, principal: Principal, schedule_id: str, fields: dict[str, Any]
) -> tuple[ScheduleRecord, list[str]]:
    check_schedule_id(schedule_id)
    changed: list[str] = []
    now = now_utc()

    def change(record: ScheduleRecord) -> ScheduleRecord:
        check_schedule_access(record, principal)
        update, names = patched(schedules, record, fields, now)
        changed[:] = names
        return update

    _, after, rev = await schedules.store.update(schedule_id, change)
    schedules.index.apply(after, rev)
    if changed:
        await tell_timer(schedules, after)
    return after, changed


async def set_paused(
    schedules: ScheduleService, principal: Principal, schedule_id: str, *, paused: bool
) -> ScheduleRecord:
    check_schedule_id(schedule_id)
    now = now_utc()

    def change(record: ScheduleRecord) -> ScheduleRecord:
        check_schedule_access(record, principal)
        updates = with_status(record, paused=paused, now=now)
        return (
            record.model_copy(update={**updates, "updated_at": now.timestamp()})
            if updates
            else record
        )

    before, after, rev = await schedules.store.update(schedule_id, change)
    schedules.index.apply(after, rev)
    if before.status != after.status:
        await tell_timer(schedules, after)
        if not paused:
            await dependencies.wake_children(schedules, after.tenant, schedule_id)
    return after


async def delete(schedules: ScheduleService, principal: Principal, schedule_id: str) -> None:
    """Delete the record and disarm its timer; runs already created are not touched."""
    check_schedule_id(schedule_id)
    record = await schedules.store.delete(
        schedule_id, lambda found: check_schedule_access(found, principal)
    )
    schedules.index.remove(schedule_id)
    await schedules.timer.disarm(record.schedule_id)
    await dependencies.drop_parent(schedules, record.tenant, record.schedule_id)
