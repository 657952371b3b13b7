"""The inspection handlers: rows from the edge's own mirrors, no NATS round trip."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.edge.http.errors import json_response
from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.errors import ForbiddenError
from prsm_tasks.services import inspection
from prsm_tasks.services.access import Principal
from prsm_tasks.wire import check_queue_name


async def inspect_queues(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    services = state.services
    queue = request.query.get("queue_name")
    if queue is not None:
        check_queue_name(queue)
    rows = inspection.queue_rows(
        services.view, services.nodes, tenant=principal.tenant, queue=queue
    )
    return json_response({"success": True, "queues": rows})


async def inspect_nodes(
    request: web.Request, state: EdgeState, principal: Principal
) -> web.Response:
    # the nodes are the operator's machines (hosts, versions), not a tenant's data
    if not principal.is_admin:
        raise ForbiddenError("listing the nodes needs the admin role")
    return json_response({"success": True, "nodes": inspection.node_rows(state.services.nodes)})
