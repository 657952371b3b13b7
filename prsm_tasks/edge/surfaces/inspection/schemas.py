"""The answers of the inspection routes (documented; built as dicts)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from prsm_tasks.edge.http.schemas import ResponseBody, Timestamp


class DepthByBand(ResponseBody):
    critical: int
    high: int
    normal: int
    low: int


class QueueRow(ResponseBody):
    queue_name: str
    depth: int = Field(description="tasks not started yet (waiting, scheduled, enqueued)")
    depth_by_band: DepthByBand
    running: int
    completed_last_hour: int
    failed_last_hour: int = Field(description="failed or timed out in the last hour")
    oldest_waiting_seconds: float | None
    nodes_serving: int
    free_slots: int


class QueuesResponse(ResponseBody):
    success: Literal[True]
    queues: list[QueueRow] = Field(description="your tenant's tasks, per queue, by name")


class NodeRow(ResponseBody):
    node_id: str
    capacity: int
    in_flight: int
    load: float
    cpu_usage: float | None
    memory_usage: float | None
    queues: list[str]
    version: str
    host: str
    last_seen: Timestamp
    last_seen_seconds_ago: float
    silent: bool = Field(description="its advert is older than PRSM_NODE_STALE_SECONDS")


class NodesResponse(ResponseBody):
    success: Literal[True]
    nodes: list[NodeRow]
