"""The quota settings reach the parts that apply them; work stream limits set in the
environment are told apart from the defaults (only those replace an existing stream's)."""

from __future__ import annotations

import pytest

from prsm_tasks.config import Settings
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.services.quotas import Quotas
from prsm_tasks.topology import Topology


def test_work_stream_limits_from_the_environment_are_explicit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not Topology.from_settings(Settings()).work_limits_explicit
    monkeypatch.setenv("PRSM_WORK_MAX_BYTES", "2097152")
    topology = Topology.from_settings(Settings())
    assert topology.work_limits_explicit
    assert (topology.work_max_msgs, topology.work_max_bytes) == (1_000_000, 2_097_152)


def test_quota_settings_reach_the_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "MAX_UNFINISHED_TASKS_PER_TENANT": "7",
        "MAX_TASK_TYPES_PER_TENANT": "3",
        "MAX_TASK_TYPE_BYTES": "2048",
        "MAX_QUEUES_PER_TENANT": "2",
        "CLAIM_CONSUMER_IDLE_SECONDS": "60",
    }.items():
        monkeypatch.setenv(f"PRSM_{name}", value)
    assert EdgeConfig.from_settings(Settings()).quotas == Quotas(
        max_unfinished_tasks=7,
        max_task_types=3,
        max_task_type_bytes=2048,
        max_queues=2,
        claim_consumer_idle_s=60.0,
    )
