"""The routes of the tasks hub (seed 003), as data: every path ends with ``/``, as the
document writes it, beside the PRSM surface's ``GET /tasks`` and ``/tasks/{task_id}/events``.

Fixed segments (``queue-stats``, ``scheduled``, ``monitoring``, ``persistent-jobs``) come
before the ``{id}`` patterns they could be read as. Each app is a tuple of routes from its
own handler module (core, scheduling, monitoring, jobs). Every route needs a bearer
token and ``X-Brand-ID`` (brand.py); errors use the document's body (errors.py).
"""

from __future__ import annotations

from typing import Any

from prsm_tasks.alert_rules import AlertRuleInput
from prsm_tasks.edge.http.openapi import Param, Route
from prsm_tasks.edge.http.schedules import open_scheduler
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.hub import core, jobs, monitoring, scheduling
from prsm_tasks.edge.surfaces.hub.brand import BRAND_PARAM, HubHandler, in_brand
from prsm_tasks.edge.surfaces.hub.errors import render_error
from prsm_tasks.edge.surfaces.hub.schemas import (
    Calendar,
    CronCheck,
    CronJobList,
    CronValidity,
    HubError,
    HubTask,
    HubTaskCreate,
    HubTaskPage,
    PeriodicTask,
    PeriodicTaskCreate,
    PeriodicTaskPage,
    PeriodicTaskUpdate,
    PeriodicTaskUpdated,
    QueueStats,
    ReadyList,
)
from prsm_tasks.services.hub.listing import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from prsm_tasks.services.hub.tasks import PRIORITIES, STATUS_FILTERS
from prsm_tasks.services.schedules.core import SCHEDULE_ID_RE
from prsm_tasks.services.task_refs import TASK_REF_PATTERN

SCOPE = (400, 401, 403)  # X-Brand-ID missing or malformed, no token, a brand not listed
TASK_ID = Param(
    name="id",
    where="path",
    schema={"type": "string", "pattern": TASK_REF_PATTERN},
    description="the task's id (its number) or its task_id",
)
PERIODIC_ID = Param(
    name="id",
    where="path",
    schema={"type": "string", "pattern": f"^{SCHEDULE_ID_RE.pattern}$"},
    description="the periodic task's id",
)


def query(name: str, schema: dict[str, Any], description: str = "") -> Param:
    return Param(name=name, where="query", schema=schema, description=description)


PAGE = (
    query("page", {"type": "integer", "minimum": 1, "maximum": 100_000, "default": 1}),
    query(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE, "default": DEFAULT_PAGE_SIZE},
    ),
)
BOOLEAN = {"type": "string", "enum": ["true", "false"]}
MS = {"type": "number", "minimum": 0, "maximum": 10**12}
TIME = {"type": "string", "format": "date-time", "maxLength": 64}
TASK_FILTERS = (
    *PAGE,
    query("status", {"type": "string", "enum": sorted(STATUS_FILTERS)}, "active: not stopped"),
    query("task_type", {"type": "string", "maxLength": 128}),
    query("priority", {"type": "string", "enum": list(PRIORITIES)}),
    query("has_metrics", BOOLEAN),
    query("execution_time__gte", MS, "milliseconds"),
    query("execution_time__lte", MS, "milliseconds"),
    query("is_resumable", BOOLEAN),
    query("is_periodic", BOOLEAN),
    query("created_at__gte", TIME),
    query("created_at__lte", TIME),
    query("search", {"type": "string", "maxLength": 200}, "task type, description, data keys"),
)


def route(
    method: str, path: str, handler: HubHandler, summary: str, tag: str, **facts: Any
) -> Route:
    """A hub route: brand-scoped, the hub's error body, X-Brand-ID documented."""
    facts["errors"] = tuple(sorted({*SCOPE, *facts.get("errors", ())}))
    facts["params"] = (BRAND_PARAM, *facts.get("params", ()))
    return Route(
        method=method,
        path=path,
        handler=in_brand(handler),
        summary=summary,
        tag=tag,
        error_model=HubError,
        **facts,
    )


CORE = "hub-core"
CORE_ROUTES: tuple[Route, ...] = (
    route(
        "GET",
        "/tasks/queue-stats/",
        core.hub_queue_stats,
        "The brand's queues: its tasks per status, the oldest pending one's age, live nodes",
        CORE,
        response=QueueStats,
        errors=(503,),
    ),
    route(
        "GET",
        "/tasks/",
        core.hub_list_tasks,
        "The brand's tasks, newest first, filtered and paged",
        CORE,
        response=HubTaskPage,
        errors=(503,),
        params=TASK_FILTERS,
    ),
    route(
        "POST",
        "/tasks/",
        core.hub_create_task,
        "Create a task of a registered type (its queue, its schema) in the brand",
        CORE,
        request=HubTaskCreate,
        response=HubTask,
        ok_status=201,
        errors=(413, 429, 503, 507),
    ),
    route(
        "GET",
        "/tasks/{id}/",
        core.hub_get_task,
        "One task of the brand, by its id (number) or task_id",
        CORE,
        response=HubTask,
        errors=(404, 503),
        params=(TASK_ID,),
    ),
    route(
        "POST",
        "/tasks/{id}/retry/",
        core.hub_retry_task,
        "Run a failed, timed-out or cancelled task again as its next attempt (409 otherwise)",
        CORE,
        response=HubTask,
        errors=(404, 409, 429, 503),
        params=(TASK_ID,),
    ),
)

SCHEDULING = "hub-scheduling"
PERIODIC = "/tasks/scheduled/periodic-tasks/"
SCHEDULING_ROUTES: tuple[Route, ...] = (
    route(
        "GET",
        PERIODIC + "ready-for-execution/",
        scheduling.hub_ready_for_execution,
        "Active periodic tasks due now or overdue, most overdue first",
        SCHEDULING,
        response=ReadyList,
        errors=(503,),
    ),
    route(
        "POST",
        PERIODIC + "validate-cron/",
        scheduling.hub_validate_cron,
        "Check a cron expression: valid or not with the reason, and its next five runs",
        SCHEDULING,
        request=CronCheck,
        response=CronValidity,
        errors=(413,),
    ),
    route(
        "GET",
        PERIODIC,
        scheduling.hub_list_periodic_tasks,
        "The brand's periodic tasks, newest first",
        SCHEDULING,
        response=PeriodicTaskPage,
        errors=(503,),
        params=(
            *PAGE,
            query("is_active", BOOLEAN),
            query("task_type", {"type": "string", "maxLength": 128}),
        ),
    ),
    route(
        "POST",
        PERIODIC,
        scheduling.hub_create_periodic_task,
        "Create a periodic task (a cron schedule of the brand)",
        SCHEDULING,
        request=PeriodicTaskCreate,
        response=PeriodicTask,
        ok_status=201,
        errors=(413, 429, 503),
    ),
    route(
        "GET",
        PERIODIC + "{id}/",
        scheduling.hub_get_periodic_task,
        "One periodic task",
        SCHEDULING,
        response=PeriodicTask,
        errors=(404, 503),
        params=(PERIODIC_ID,),
    ),
    route(
        "PATCH",
        PERIODIC + "{id}/",
        scheduling.hub_update_periodic_task,
        "Change a periodic task; its next run is computed again",
        SCHEDULING,
        request=PeriodicTaskUpdate,
        response=PeriodicTaskUpdated,
        errors=(404, 409, 413, 503),
        params=(PERIODIC_ID,),
    ),
    route(
        "DELETE",
        PERIODIC + "{id}/",
        scheduling.hub_delete_periodic_task,
        "Delete a periodic task (runs already made stay)",
        SCHEDULING,
        ok_status=204,
        errors=(404, 409, 503),
        params=(PERIODIC_ID,),
    ),
    route(
        "GET",
        "/tasks/scheduled/cron-jobs/",
        scheduling.hub_cron_jobs,
        "The brand's active cron jobs, the next to run first",
        SCHEDULING,
        response=CronJobList,
        errors=(503,),
    ),
    route(
        "GET",
        "/tasks/scheduled/calendar/",
        scheduling.hub_calendar,
        "Every planned run in a window (default a week from now, at most 31 days, 1000 runs)",
        SCHEDULING,
        response=Calendar,
        errors=(503,),
        params=(query("from", TIME), query("to", TIME)),
    ),
)


MONITORING = "hub-monitoring"
RULES = "/tasks/monitoring/alert-rules/"
RULE_ID = Param(
    name="id",
    where="path",
    schema={"type": "string", "pattern": "^[0-9a-f]{32}$"},
    description="the alert rule's id",
)
ALERT_ID = Param(
    name="id",
    where="path",
    schema={"type": "string", "pattern": "^[0-9a-f]{32}[.][0-9]{1,9}$"},
    description="the alert's id (its rule's id and the episode)",
)
WINDOW = query(
    "window",
    {"type": "integer", "minimum": 1, "maximum": 30 * 86_400, "default": 3600},
    "seconds",
)
METRICS_FILTERS = (
    query("page", {"type": "integer", "minimum": 1, "maximum": monitoring.MAX_PAGE, "default": 1}),
    query(
        "page_size",
        {"type": "integer", "minimum": 1, "maximum": monitoring.MAX_PAGE_SIZE, "default": 50},
    ),
    query("task_type", {"type": "string", "maxLength": 128}),
    query("queue", {"type": "string", "maxLength": 128}),
    query("status", {"type": "string", "enum": list(monitoring.OUTCOMES)}, "the attempt's outcome"),
    query("has_metrics", BOOLEAN, "only attempts a node measured"),
    query("execution_time__gte", MS, "milliseconds"),
    query("execution_time__lte", MS, "milliseconds"),
    query("ended_at__gte", TIME),
    query("ended_at__lt", TIME),
    query("search", {"type": "string", "maxLength": 200}, "task type, data keys"),
)
MONITORING_ROUTES: tuple[Route, ...] = (
    route(
        "GET",
        "/tasks/monitoring/metrics/dashboard/",
        monitoring.hub_dashboard,
        "Per task type and queue over a window: count, success rate, p50/p95/p99, memory, cost",
        MONITORING,
        errors=(503,),
        params=(WINDOW,),
    ),
    route(
        "GET",
        "/tasks/monitoring/metrics/",
        monitoring.hub_list_metrics,
        "Metrics of every ended attempt of the brand, newest task first, filtered and paged",
        MONITORING,
        errors=(503,),
        params=METRICS_FILTERS,
    ),
    route(
        "GET",
        "/tasks/monitoring/workers/overview/",
        monitoring.hub_workers_overview,
        "Every node: capacity, load, queues, version, CPU, memory, uptime, runs in the window",
        MONITORING,
        errors=(503,),
        params=(WINDOW,),
    ),
    route(
        "GET",
        "/tasks/monitoring/alerts/",
        monitoring.hub_list_alerts,
        "The brand's active alerts (firing or acknowledged), newest first",
        MONITORING,
        errors=(503,),
        params=(query("include_resolved", BOOLEAN, "also those resolved lately"),),
    ),
    route(
        "POST",
        "/tasks/monitoring/alerts/{id}/acknowledge/",
        monitoring.hub_acknowledge_alert,
        "Acknowledge an active alert (it stays listed until it resolves; 409 once resolved)",
        MONITORING,
        errors=(404, 409, 503),
        params=(ALERT_ID,),
    ),
    route(
        "GET",
        RULES,
        monitoring.hub_list_alert_rules,
        "The brand's alert rules, oldest first",
        MONITORING,
        errors=(503,),
    ),
    route(
        "POST",
        RULES,
        monitoring.hub_create_alert_rule,
        "Create an alert rule (a metric, comparator, threshold, window, severity, channels)",
        MONITORING,
        request=AlertRuleInput,
        ok_status=201,
        errors=(413, 429, 503),
    ),
    route(
        "GET",
        RULES + "{id}/",
        monitoring.hub_get_alert_rule,
        "One alert rule",
        MONITORING,
        errors=(404, 503),
        params=(RULE_ID,),
    ),
    route(
        "PATCH",
        RULES + "{id}/",
        monitoring.hub_update_alert_rule,
        "Change an alert rule (the fields given; the whole rule is checked again)",
        MONITORING,
        errors=(404, 409, 413, 503),
        params=(RULE_ID,),
    ),
    route(
        "DELETE",
        RULES + "{id}/",
        monitoring.hub_delete_alert_rule,
        "Delete an alert rule; its active alert resolves",
        MONITORING,
        ok_status=204,
        errors=(404, 409, 503),
        params=(RULE_ID,),
    ),
)
JOBS = "hub-persistent-jobs"
JOB_PAGE = (
    query("page", {"type": "integer", "minimum": 1, "maximum": jobs.MAX_PAGE, "default": 1}),
    query("page_size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
)
PERSISTENT_JOBS_ROUTES: tuple[Route, ...] = (
    route(
        "GET",
        "/tasks/persistent-jobs/persistent-jobs/resumable/",
        jobs.hub_resumable_jobs,
        "Jobs stopped with a checkpoint (failed, timed out, cancelled), and those queued "
        "again with one (include_resuming)",
        JOBS,
        params=(*JOB_PAGE, query("include_resuming", BOOLEAN)),
    ),
    route(
        "POST",
        "/tasks/persistent-jobs/persistent-jobs/{id}/resume/",
        jobs.hub_resume_job,
        "Run a stopped job again from its last checkpoint (its next attempt)",
        JOBS,
        errors=(404, 409, 429, 503),
        params=(TASK_ID,),
    ),
    route(
        "GET",
        "/tasks/persistent-jobs/checkpoints/",
        jobs.hub_checkpoints,
        "The brand's tasks that saved a checkpoint: task, time, size, summary",
        JOBS,
        params=JOB_PAGE,
    ),
)

ROUTES: tuple[Route, ...] = (
    *MONITORING_ROUTES,
    *PERSISTENT_JOBS_ROUTES,
    *SCHEDULING_ROUTES,
    *CORE_ROUTES,
)

SURFACE = Surface(name="hub", routes=ROUTES, open=open_scheduler, render_error=render_error)
