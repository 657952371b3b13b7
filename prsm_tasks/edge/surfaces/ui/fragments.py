"""Fragments a page's stream swaps into place: the status cell of a task's row."""

from __future__ import annotations

import jinja2

from prsm_tasks.edge.surfaces.ui.live import STATUS_OF_EVENT
from prsm_tasks.messages import TaskEvent


def row_fragment(templates: jinja2.Environment, event: TaskEvent) -> str | None:
    status = STATUS_OF_EVENT.get(event.event_type)
    if status is None:  # task_log lines are the detail page's, not a row's
        return None
    value = event.data.get("value") if event.event_type == "progress_update" else None
    if event.event_type == "task_completed":
        value = 1.0
    return templates.get_template("_status.html").render(
        status=status,
        progress=value if isinstance(value, int | float) else None,
        text=event.data.get("text") if event.event_type == "progress_update" else None,
    )
