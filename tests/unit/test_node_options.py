"""Settings reach the node as one typed slice, NodeOptions."""

from __future__ import annotations

import dataclasses

import pytest

from prsm_tasks.actors.options import NodeOptions
from prsm_tasks.config import Settings
from prsm_tasks.errors import HandlerError
from prsm_tasks.node import Node


def test_every_option_comes_from_its_setting() -> None:
    settings = Settings(
        capacity=3,
        lease_seconds=7.0,
        grace_seconds=4.0,
        claim_after_seconds=0.0,
        starvation_age_seconds=9.0,
        advert_interval_seconds=1.5,
        retry_backoff_base_seconds=0.5,
        retry_backoff_max_seconds=60.0,
        progress_record_interval_seconds=2.0,
        progress_event_interval_seconds=0.25,
        progress_max_events=50,
        thread_pool_size=5,
        max_result_bytes=4096,
        max_checkpoint_bytes=8192,
        nats_stall_seconds=2.0,
        repair_after_seconds=300.0,
        repair_interval_seconds=5.0,
        repair_scan_limit=50,
        logs_max_lines_per_attempt=20,
        logs_max_line_bytes=256,
        attempt_metrics_enabled=False,
    )
    options = NodeOptions.from_settings(settings)
    defaults = NodeOptions()
    changed = {
        field.name
        for field in dataclasses.fields(NodeOptions)
        if getattr(options, field.name) != getattr(defaults, field.name)
    }
    # park_s and the library's ping interval have no setting; everything else is read from them
    unset = {"park_s", "nats_ping_interval_s"}
    assert changed == {field.name for field in dataclasses.fields(NodeOptions)} - unset
    assert (options.lease_s, options.claim_after_s, options.thread_pool_size) == (7.0, 0.0, 5)


def test_the_metering_options_come_from_the_settings() -> None:
    settings = Settings(
        attempt_metrics_tracemalloc_task_types="a, b",
        cost_per_run_usd=0.5,
        cost_per_cpu_second_usd=0.25,
        cost_per_gb_second_usd=0.125,
    )
    metering = NodeOptions.from_settings(settings).metering
    assert metering.enabled and metering.tracemalloc_task_types == {"a", "b"}
    assert metering.rate_card.cost_usd("x", wall_s=2.0, cpu_s=1.0, memory_mb=1024) == 1.0


def test_a_node_takes_options_and_keyword_overrides() -> None:
    node = Node(servers="nats://127.0.0.1:1", options=NodeOptions(lease_s=5.0), grace_s=0.5)
    assert (node.options.lease_s, node.options.grace_s, node.capacity) == (5.0, 0.5, 8)
    with pytest.raises(TypeError):
        Node(servers="nats://127.0.0.1:1", no_such_option=1.0)
    with pytest.raises(HandlerError):
        Node(servers="nats://127.0.0.1:1", capacity=0)
