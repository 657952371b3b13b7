"""What the hub's filters read of a task besides the engine's fields, kept in each TaskView
entry (services/view.py) so that listing a brand's tasks never reads the bucket: computed
once per write, a plain task shares one empty instance.

The seams the hub's other apps fill: ``has_metrics`` is an attempt that carries a
``metrics`` object (the node's per-attempt measures), ``checkpointed`` a record whose
``metadata.checkpoint`` is set (a persistent job's last checkpoint).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

# the hub's search reads a task's first data keys (bounded: a task may have thousands)
MAX_SEARCH_KEYS = 32
MAX_SEARCH_KEY_CHARS = 64
HUB_KEY = "hub"  # record.metadata[HUB_KEY]: what POST /tasks/ was given (services/hub)
CHECKPOINT_KEY = "checkpoint"  # record.metadata: the persistent jobs' last checkpoint, if any


@dataclass(frozen=True, slots=True)
class HubFacts:
    """What the hub's filters read of a task besides the engine's fields (services/hub)."""

    description: str | None = None
    data_keys: tuple[str, ...] = ()
    periodic: bool = False  # a run of a schedule
    has_metrics: bool = False  # an attempt carries the node's measures
    checkpointed: bool = False  # a persistent job saved a checkpoint


NO_FACTS = HubFacts()


def hub_facts(task_data: Any, metadata: Any, attempts: Any) -> HubFacts:
    """The hub's facts of a record's fields; the shared NO_FACTS for a plain task."""
    keys = (
        tuple(key[:MAX_SEARCH_KEY_CHARS] for key in itertools.islice(task_data, MAX_SEARCH_KEYS))
        if isinstance(task_data, dict) and task_data
        else ()
    )
    meta = metadata if isinstance(metadata, dict) else {}
    given = meta.get(HUB_KEY)
    description = given.get("description") if isinstance(given, dict) else None
    metrics = any(isinstance(a, dict) and a.get("metrics") for a in attempts or ())
    periodic = bool(meta.get("schedule_id"))
    checkpointed = bool(meta.get(CHECKPOINT_KEY))
    if not (keys or description or metrics or periodic or checkpointed):
        return NO_FACTS
    return HubFacts(
        description=description if isinstance(description, str) else None,
        data_keys=keys,
        periodic=periodic,
        has_metrics=metrics,
        checkpointed=checkpointed,
    )
