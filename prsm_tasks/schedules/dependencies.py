"""Dependencies between schedules: their types and the cycle check.

``success``: the parent's latest run at or before this due time completed; ``completion``: it
reached any final state; ``any``: it has fired. A run waits until they hold (the firing
work); here only the graph: an edge that would close a cycle is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

MAX_DEPENDENCIES = 32  # per schedule
MAX_GRAPH_NODES = 10_000  # a walk that reaches more stops: the graph is bounded per tenant


def would_cycle(child: str, parent: str, parents_of: Callable[[str], Iterable[str]]) -> bool:
    """Whether the edge child -> parent closes a cycle: ``child`` is reachable from
    ``parent`` by following parents (``parents_of``: a schedule's parents, as stored)."""
    if child == parent:
        return True
    seen = {parent}
    stack = [parent]
    while stack:
        current = stack.pop()
        for upstream in parents_of(current):
            if upstream == child:
                return True
            if upstream not in seen and len(seen) < MAX_GRAPH_NODES:
                seen.add(upstream)
                stack.append(upstream)
    return False
