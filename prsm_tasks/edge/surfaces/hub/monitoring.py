"""The hub's monitoring app: ``/tasks/monitoring/…/`` over the monitoring services
(services/hub_metrics.py, services/alerts/rules.py; docs/monitoring.md is their contract),
in the caller's brand scope: another brand's rule or alert is a 404 like a missing one."""

from __future__ import annotations

import time

import pydantic
from aiohttp import web

from prsm_tasks.alert_rules import AlertRuleInput
from prsm_tasks.edge.alerting import ALERTS
from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.params import int_param
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.hub.body import all_field_errors, read_hub_body
from prsm_tasks.edge.surfaces.hub.query import (
    bool_param,
    choice_param,
    epoch_param,
    ms_param,
    page_links,
    page_params,
    text_param,
)
from prsm_tasks.errors import ValidationError
from prsm_tasks.services.alerts import rules
from prsm_tasks.services.alerts.core import AlertService
from prsm_tasks.services.hub.brands import BrandScope
from prsm_tasks.services.hub_metrics import (
    MAX_WINDOW_S,
    MetricsQuery,
    dashboard,
    list_metrics,
    workers_overview,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_PAGE = 500
DEFAULT_WINDOW_S = 3600
OUTCOMES = ("completed", "failed", "timeout", "cancelled", "lost", "interrupted")


def alerts_of(request: web.Request) -> AlertService:
    return request.app[ALERTS]


def window_param(request: web.Request) -> float:
    """``window``: seconds, 1 s to 30 days (default an hour)."""
    return float(int_param(request, "window", low=1, high=int(MAX_WINDOW_S)) or DEFAULT_WINDOW_S)


def checked(problem: pydantic.ValidationError) -> ValidationError:
    """A service model's refusal in the hub's body, every field named."""
    errors = all_field_errors(problem)
    first = next(iter(errors))
    return ValidationError(f"{first}: {errors[first][0]}", field=first, field_errors=errors)


def metrics_query(request: web.Request, page: int, size: int) -> MetricsQuery:
    try:
        return MetricsQuery(
            task_type=text_param(request, "task_type", max_chars=128),
            queue=text_param(request, "queue", max_chars=128),
            status=choice_param(request, "status", OUTCOMES),  # type: ignore[arg-type]
            ended_after=epoch_param(request, "ended_at__gte"),
            ended_before=epoch_param(request, "ended_at__lt"),
            search=text_param(request, "search"),
            measured_only=bool(bool_param(request, "has_metrics")),
            execution_time_ms_gte=ms_param(request, "execution_time__gte"),
            execution_time_ms_lte=ms_param(request, "execution_time__lte"),
            limit=size,
            offset=(page - 1) * size,
        )
    except pydantic.ValidationError as problem:
        raise checked(problem) from problem


async def hub_list_metrics(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    page, size = page_params(
        request, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE, max_page=MAX_PAGE
    )
    found = list_metrics(
        state.services.view, tenant=scope.principal.tenant, query=metrics_query(request, page, size)
    )
    following, earlier = page_links(request, page, size, found["count"])
    return json_response(
        {
            "count": found["count"],
            "next": following,
            "previous": earlier,
            "results": found["results"],
        }
    )


async def hub_dashboard(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
    board = dashboard(
        state.services.view,
        tenant=scope.principal.tenant,
        window_s=window_param(request),
        now=time.time(),
    )
    return json_response(board)


async def hub_workers_overview(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    overview = workers_overview(
        state.services.view,
        state.services.nodes,
        tenant=scope.principal.tenant,
        window_s=window_param(request),
        now=time.time(),
    )
    return json_response(overview)


def rule_id(request: web.Request) -> str:
    return request.match_info["id"]


async def hub_list_alert_rules(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    found = rules.list_rules(alerts_of(request), scope=scope.principal.tenant)
    return json_response({"count": len(found), "results": found})


async def hub_create_alert_rule(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    body = await read_hub_body(request, AlertRuleInput, max_bytes=state.config.max_body_bytes)
    state.limiter.take(scope.caller.owner_key)
    created = await rules.create_rule(
        alerts_of(request), scope=scope.principal.tenant, user=scope.caller.user, rule=body
    )
    return json_response(created, status=201)


async def hub_get_alert_rule(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    found = await rules.get_rule(
        alerts_of(request), scope=scope.principal.tenant, rule_id=rule_id(request)
    )
    return json_response(found)


async def hub_update_alert_rule(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    service = alerts_of(request)
    tenant = scope.principal.tenant
    await rules.get_rule(service, scope=tenant, rule_id=rule_id(request))  # 404 before 400
    body = await read_hub_body(
        request, pydantic.RootModel[dict[str, object]], max_bytes=state.config.max_body_bytes
    )
    unknown = sorted(set(body.root) - set(AlertRuleInput.model_fields))
    if unknown:
        raise ValidationError(f"{unknown[0]}: unknown field", field=unknown[0])
    try:
        updated = await rules.update_rule(
            service, scope=tenant, rule_id=rule_id(request), changes=body.root
        )
    except pydantic.ValidationError as problem:
        raise checked(problem) from problem
    return json_response(updated)


async def hub_delete_alert_rule(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    await rules.delete_rule(
        alerts_of(request), scope=scope.principal.tenant, rule_id=rule_id(request)
    )
    return web.Response(status=204)


async def hub_list_alerts(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    found = rules.list_alerts(
        alerts_of(request),
        scope=scope.principal.tenant,
        include_resolved=bool(bool_param(request, "include_resolved")),
    )
    return json_response({"count": len(found), "results": found})


async def hub_acknowledge_alert(
    request: web.Request, state: EdgeState, scope: BrandScope
) -> web.Response:
    acked = await rules.acknowledge(
        alerts_of(request),
        scope=scope.principal.tenant,
        alert_id=request.match_info["id"],
        user=scope.caller.user,
    )
    return json_response(acked)
