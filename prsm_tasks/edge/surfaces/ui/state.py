"""What the dashboard opens for the edge's lifetime, on the app as ``UI``: the session
codec (its key shared by every edge), the record of used sign-in codes, the templates,
and the live rows' fan-out over an event hub of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import jinja2
from aiohttp import web

from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.surfaces.ui import formats
from prsm_tasks.edge.surfaces.ui.fragments import row_fragment
from prsm_tasks.edge.surfaces.ui.live import LiveRows
from prsm_tasks.edge.surfaces.ui.session import UI_KEY_NAME, SessionCodec
from prsm_tasks.services.event_hub import EventHub
from prsm_tasks.services.schedules.core import ScheduleService, open_schedules
from prsm_tasks.store.keys import shared_key
from prsm_tasks.store.signin_codes import UsedCodes


def template_env() -> jinja2.Environment:
    # autoescape everything: task data, names, logs and tracebacks are the tenants' text
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prsm_tasks.edge.surfaces.ui", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(formats.FILTERS)
    return env


@dataclass(kw_only=True)
class UiState:
    codec: SessionCodec
    used_codes: UsedCodes
    templates: jinja2.Environment
    hub: EventHub
    live: LiveRows
    schedules: ScheduleService  # an index of its own: surfaces share no state

    def render(self, name: str, **context: object) -> str:
        return self.templates.get_template(name).render(**context)


UI: web.AppKey[UiState] = web.AppKey("prsm_ui", UiState)


async def open_ui(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    stores = state.services.stores
    templates = template_env()
    hub = EventHub(stores.nc, stores.js)  # subscribes only while a dashboard is open
    async with open_schedules(
        state.services, max_schedules=state.config.quotas.max_schedules
    ) as schedules:
        app[UI] = UiState(
            codec=SessionCodec(await shared_key(stores.js, UI_KEY_NAME)),
            used_codes=await UsedCodes.open(stores.js),
            templates=templates,
            hub=hub,
            live=LiveRows(hub, lambda event: row_fragment(templates, event)),
            schedules=schedules,
        )
        try:
            yield
        finally:
            await app[UI].live.close()
            await hub.stop()


async def close_ui_streams(app: web.Application) -> None:
    """``on_shutdown``: end the dashboards' streams so the server need not wait for them."""
    ui = app.get(UI)
    if ui is not None:
        await ui.live.close()
