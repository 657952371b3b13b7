"""Prometheus metrics of this process (`/metrics` on an edge, `--metrics-port` on a node).

Each process counts what it does itself, so summing a series over processes gives the
deployment's figure: a node counts the tasks it started and finished, an edge the tasks it
accepted and the requests it answered. Queue depth and the oldest waiting task are state,
read from an edge's task view at scrape time: every edge reports the same values, so
dashboards take ``max`` of them over edges, never the sum.

No label takes unbounded values: never a task id; queue names (operators name queues, and
tasks can only be enqueued to names that pass ``wire.check_queue_name``) are bounded per
process to ``MAX_QUEUE_LABELS``, past which they count under ``"_other"``; HTTP routes are
the route patterns, never raw paths.

Nothing is measured until a process turns metrics on (``enable``: every edge, a node with
``--metrics-port``): until then each hook is one attribute check, and ``prometheus_client``
is not even imported (a node's start-up time is its import time).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prsm_tasks.models import band_for_priority

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

MAX_QUEUE_LABELS = 200
OTHER_QUEUE = "_other"

# task run times span milliseconds to hours
DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    300,
    1800,
    7200,
)
# from enqueue to start: queueing, from a millisecond to hours of backlog
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 7200)
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)

FINISHING_EVENTS = {
    "task_completed": "completed",
    "task_failed": "failed",
    "task_timeout": "timeout",
    "task_cancelled": "cancelled",
}


class Metrics:
    """The process's metrics, in prometheus_client's default registry."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.enqueued = Counter(
            "prsm_tasks_enqueued", "Tasks accepted by this process (an edge)", ["queue", "band"]
        )
        self.started = Counter(
            "prsm_tasks_started", "Attempts this node started", ["queue", "band"]
        )
        self.finished = Counter(
            "prsm_tasks_finished",
            "Tasks this node took to a final state, by outcome",
            ["queue", "band", "outcome"],
        )
        self.retried = Counter(
            "prsm_tasks_retried", "Attempts this node ended with a retry", ["queue", "band"]
        )
        self.duration = Histogram(
            "prsm_task_duration_seconds",
            "Run time of the attempts this node ended",
            ["queue"],
            buckets=DURATION_BUCKETS,
        )
        self.wait = Histogram(
            "prsm_task_enqueue_to_start_seconds",
            "From enqueue to the start of an attempt on this node",
            ["queue"],
            buckets=WAIT_BUCKETS,
        )
        self.reconnects = Counter(
            "prsm_nats_reconnects", "Reconnections of this process's NATS connections"
        )
        self.http_requests = Counter(
            "prsm_http_requests", "Requests this edge answered", ["method", "route", "status"]
        )
        self.http_latency = Histogram(
            "prsm_http_request_duration_seconds",
            "Time this edge took to answer (to the start of the body, for streams)",
            ["method", "route"],
            buckets=HTTP_BUCKETS,
        )
        self.sse_connections = Gauge("prsm_sse_connections", "Event streams open on this edge")
        self.queue_label = QueueLabels()


_metrics: Metrics | None = None
_enable_lock = threading.Lock()


def enable() -> Metrics:
    """Turn metrics on in this process (idempotent)."""
    global _metrics
    with _enable_lock:
        if _metrics is None:
            _metrics = Metrics()
        return _metrics


def enabled() -> Metrics | None:
    return _metrics


class QueueLabels:
    """Queue names as label values, at most ``limit`` distinct ones per process."""

    def __init__(self, limit: int = MAX_QUEUE_LABELS) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()  # sync handlers' threads report too

    def __call__(self, queue: str) -> str:
        if queue in self._seen:
            return queue
        with self._lock:
            if len(self._seen) >= self._limit:
                return OTHER_QUEUE
            self._seen.add(queue)
        return queue


def band_of(priority: Any) -> str:
    """The band of a priority as records store it (1..10), without building a model."""
    try:
        return str(band_for_priority(int(priority)))
    except (TypeError, ValueError):
        return "normal"


def task_enqueued(queue: str, priority: int) -> None:
    metrics = _metrics
    if metrics is not None:
        metrics.enqueued.labels(metrics.queue_label(queue), band_of(priority)).inc()


def task_event(event_type: str, fields: dict[str, Any], now: float) -> None:
    """A node's lifecycle event of a task whose record fields are ``fields``."""
    metrics = _metrics
    if metrics is None:
        return
    queue = metrics.queue_label(str(fields.get("queue_name") or ""))
    band = band_of(fields.get("priority"))
    if event_type == "task_started":
        metrics.started.labels(queue, band).inc()
        enqueued_at = fields.get("enqueued_at")
        if isinstance(enqueued_at, int | float):
            metrics.wait.labels(queue).observe(max(0.0, now - enqueued_at))
    elif event_type == "task_retrying":
        metrics.retried.labels(queue, band).inc()
    elif (outcome := FINISHING_EVENTS.get(event_type)) is not None:
        metrics.finished.labels(queue, band, outcome).inc()
        started_at = fields.get("started_at")
        if outcome != "cancelled" and isinstance(started_at, int | float):
            metrics.duration.labels(queue).observe(max(0.0, now - started_at))


def stream_opened() -> None:
    if _metrics is not None:
        _metrics.sse_connections.inc()


def stream_closed() -> None:
    if _metrics is not None:
        _metrics.sse_connections.dec()


def nats_reconnected() -> None:
    if _metrics is not None:
        _metrics.reconnects.inc()


QueueRows = Callable[[], Iterable[tuple[str, str, int, float | None]]]


def queue_state_collector(rows: QueueRows) -> Collector:
    """Depth and oldest waiting age per queue and band, read at scrape time from ``rows``:
    (queue, band, depth, age of the oldest waiting task in seconds or None)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class QueueState(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            depth = GaugeMetricFamily(
                "prsm_queue_depth", "Tasks waiting in a queue's band", labels=["queue", "band"]
            )
            oldest = GaugeMetricFamily(
                "prsm_queue_oldest_age_seconds",
                "Age of the oldest task waiting in a queue's band",
                labels=["queue", "band"],
            )
            ordered = sorted(rows(), key=lambda row: -row[2])
            kept, rest = ordered[:MAX_QUEUE_LABELS], ordered[MAX_QUEUE_LABELS:]
            for queue, band, count, age in kept:
                depth.add_metric([queue, band], count)
                if age is not None:
                    oldest.add_metric([queue, band], age)
            if rest:
                depth.add_metric([OTHER_QUEUE, "all"], sum(row[2] for row in rest))
            yield depth
            yield oldest

        def describe(self) -> list[Any]:
            return []  # read per scrape only: registering must not collect

    return QueueState()


def slots_collector(slots: Callable[[], tuple[int, int]]) -> Collector:
    """A node's capacity and its slots in use, read at scrape time."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector

    class Slots(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            capacity, in_use = slots()
            yield GaugeMetricFamily("prsm_node_slots", "Task slots of this node", value=capacity)
            yield GaugeMetricFamily(
                "prsm_node_slots_in_use", "Slots of this node running a task", value=in_use
            )

        def describe(self) -> list[Any]:
            return []

    return Slots()


def register(collector: Collector) -> Callable[[], None]:
    """Add ``collector`` to the process's registry; returns its removal."""
    from prometheus_client import REGISTRY

    REGISTRY.register(collector)
    return lambda: REGISTRY.unregister(collector)


def exposition(accept: str | None) -> tuple[bytes, str]:
    """The registry in the format the scraper asked for: (body, content type)."""
    from prometheus_client import REGISTRY
    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept or "")
    return encoder(REGISTRY), content_type
