"""The monitoring and persistent-jobs apps' routes, answered 501 (``NOT_IMPLEMENTED``, the
hub's body) until their engine parts land: per-attempt metrics and alert rules (branch
``hubmetrics``), checkpoints and resumable jobs (branch ``hubjobs``). Each app replaces its
tuple here with its own handler module's routes in surface.py; the paths stay."""

from __future__ import annotations

from aiohttp import web

from prsm_tasks.edge.http.state import EdgeState
from prsm_tasks.edge.surfaces.hub.brand import HubHandler
from prsm_tasks.errors import NotImplementedYetError
from prsm_tasks.services.hub.brands import BrandScope


def not_built_yet(operation_id: str) -> HubHandler:
    """A 501 handler named ``operation_id`` (the OpenAPI document's ids are unique)."""

    async def handler(request: web.Request, state: EdgeState, scope: BrandScope) -> web.Response:
        raise NotImplementedYetError(
            f"{request.path} is not served yet: its engine part is not built"
        )

    handler.__name__ = handler.__qualname__ = operation_id
    return handler


PERSISTENT_PATHS: tuple[tuple[str, str, str], ...] = (
    (
        "GET",
        "/tasks/persistent-jobs/persistent-jobs/resumable/",
        "Resumable jobs (not served yet: 501)",
    ),
    (
        "POST",
        "/tasks/persistent-jobs/persistent-jobs/{id}/resume/",
        "Resume a job from its checkpoint (not served yet: 501)",
    ),
    ("GET", "/tasks/persistent-jobs/checkpoints/", "Checkpoints (not served yet: 501)"),
)
