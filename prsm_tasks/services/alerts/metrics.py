"""What a rule measures, from the edge's TaskView and node adverts (no bucket read).

Every edge holds the same records and adverts, so every evaluator finds about the same
value; ``None`` means "nothing to judge by" (no attempt in the window), and changes no alert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prsm_tasks.alert_rules import AlertRule
from prsm_tasks.services.attempt_rows import AttemptRow
from prsm_tasks.services.hub_metrics import FINISHED_OUTCOMES, percentile
from prsm_tasks.services.mirrors import NodeView
from prsm_tasks.services.view import Entry, TaskView


def entries_of(view: TaskView, rule: AlertRule) -> Iterable[Entry]:
    """The rule's scope's tasks (of its queue when it names one)."""
    if rule.queue is not None:
        scope = view.tenant_queues.get((rule.scope, rule.queue))
    else:
        scope = view.tenants.get(rule.scope)
    return scope.tasks.values() if scope is not None else ()


def rows_in_window(view: TaskView, rule: AlertRule, now: float) -> Iterator[AttemptRow]:
    since = now - rule.window_seconds
    for entry in entries_of(view, rule):
        if rule.task_type is not None and entry.task_type != rule.task_type:
            continue
        for row in entry.attempt_rows:
            if row.ended_at >= since:
                yield row


def waiting(view: TaskView, rule: AlertRule) -> Iterator[Entry]:
    for entry in entries_of(view, rule):
        if entry.is_queued and (rule.task_type is None or entry.task_type == rule.task_type):
            yield entry


def failure_rate(rows: Iterable[AttemptRow]) -> float | None:
    finished = failed = 0
    for row in rows:
        if row.outcome in FINISHED_OUTCOMES:
            finished += 1
            failed += row.failed
    return failed / finished if finished else None


def metric_value(view: TaskView, nodes: NodeView, rule: AlertRule, now: float) -> float | None:
    metric = rule.metric
    if metric == "queue_depth":
        return float(sum(1 for _ in waiting(view, rule)))
    if metric == "oldest_waiting_age_seconds":
        return max((now - entry.enqueued_at for entry in waiting(view, rule)), default=0.0)
    if metric == "failure_rate":
        return failure_rate(rows_in_window(view, rule, now))
    if metric == "p95_execution_ms":
        return percentile(
            sorted(row.execution_time_ms for row in rows_in_window(view, rule, now)), 0.95
        )
    if metric == "silent_nodes":
        cutoff = now - nodes.stale_s
        return float(
            sum(
                1
                for ad in nodes.ads.values()
                if ad.updated_at < cutoff and (rule.queue is None or rule.queue in ad.queues)
            )
        )
    costs = [row.cost_usd or 0.0 for row in rows_in_window(view, rule, now)]
    return sum(costs) * 3600.0 / rule.window_seconds
