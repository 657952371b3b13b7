"""What the hub's filters read of a task besides the engine's fields, kept in each TaskView
entry (services/view.py) so that listing a brand's tasks never reads the bucket: computed
once per write of a brand's task; any other task shares one empty instance.

The seam the hub's monitoring app fills: ``has_metrics`` is an attempt that carries a
``metrics`` object (the node's per-attempt measures). Whether a task saved a checkpoint is
the entry's own ``checkpoint`` (the record's mark, written only by the attempt that owns
the task; never its metadata, which a caller may edit).
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

from prsm_tasks.services.hub.brands import BRAND_MARKER

# the hub's search reads a task's first data keys (bounded: a task may have thousands)
MAX_SEARCH_KEYS = 32
MAX_SEARCH_KEY_CHARS = 64
HUB_KEY = "hub"  # record.metadata[HUB_KEY]: what POST /tasks/ was given (services/hub)


class HubFacts(NamedTuple):  # a tuple: made per write, cheaper than a frozen dataclass
    """What the hub's filters read of a task besides the engine's fields (services/hub)."""

    description: str | None = None
    data_keys: tuple[str, ...] = ()
    periodic: bool = False  # a run of a schedule
    has_metrics: bool = False  # an attempt carries the node's measures


NO_FACTS = HubFacts()


def hub_facts(tenant: Any, task_data: Any, metadata: Any, attempts: Any) -> HubFacts:
    """The hub's facts of a record's fields. Only a brand's task is ever listed by the hub:
    any other task gets the shared NO_FACTS at the cost of one substring test, so the
    edge's other tasks pay nothing for the hub."""
    if not isinstance(tenant, str) or BRAND_MARKER not in tenant:
        return NO_FACTS
    meta = metadata if isinstance(metadata, dict) else {}
    given = meta.get(HUB_KEY)
    description = given.get("description") if isinstance(given, dict) else None
    return HubFacts(
        description=description if isinstance(description, str) else None,
        data_keys=search_keys(task_data),
        periodic=bool(meta.get("schedule_id")),
        has_metrics=any(isinstance(a, dict) and a.get("metrics") for a in attempts or ()),
    )


def search_keys(task_data: Any) -> tuple[str, ...]:
    """The first keys of a task's data, each cut short: a hostile key of a megabyte is not
    kept in the edge's memory."""
    if not isinstance(task_data, dict) or not task_data:
        return ()
    keys = itertools.islice(task_data, MAX_SEARCH_KEYS)
    return tuple(str(key)[:MAX_SEARCH_KEY_CHARS] for key in keys)
