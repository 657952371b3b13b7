"""The inspection routes (`prsm-tasks queues | nodes --edge URL`), as data."""

from __future__ import annotations

from prsm_tasks.edge.http.openapi import Param, Route
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.edge.surfaces.inspection import handlers
from prsm_tasks.edge.surfaces.inspection.schemas import NodesResponse, QueuesResponse
from prsm_tasks.wire import QUEUE_NAME_RE

ROUTES: tuple[Route, ...] = (
    Route(
        method="GET",
        path="/api/inspect/queues",
        handler=handlers.inspect_queues,
        summary="Per queue: your tenant's depth by band, running, finished in the last hour",
        tag="system",
        response=QueuesResponse,
        errors=(400,),
        params=(
            Param(
                name="queue_name",
                where="query",
                schema={"type": "string", "pattern": QUEUE_NAME_RE.pattern},
                description="only this queue",
            ),
        ),
    ),
    Route(
        method="GET",
        path="/api/inspect/nodes",
        handler=handlers.inspect_nodes,
        summary="The peer nodes: capacity, load, version, last seen (admin role)",
        tag="system",
        response=NodesResponse,
        errors=(403,),
    ),
)

SURFACE = Surface(name="inspection", routes=ROUTES)
