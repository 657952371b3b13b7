"""The slice of the settings a peer node and its actors read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prsm_tasks.actors.metering import MeteringOptions, RateCard, Rates

if TYPE_CHECKING:
    from prsm_tasks.config import Settings


@dataclass(frozen=True, kw_only=True)
class NodeOptions:
    """The slice of the settings a peer node and its runners read (``Node(options=...)``).

    Built once from Settings by ``from_settings``; every actor reads it where it needs it,
    instead of each layer copying the fields into its own arguments.
    """

    capacity: int = 8
    lease_s: float = 20.0
    grace_s: float = 30.0
    # a task still running this long after it started gets its claim written (0: claim first)
    claim_after_s: float = 0.02
    starvation_age_s: float = 30.0
    advert_interval_s: float = 2.0
    retry_base_s: float = 1.0
    retry_max_s: float = 300.0
    progress_record_interval_s: float = 1.0
    progress_event_interval_s: float = 0.1
    progress_max_events: int = 1_000  # per task, over its attempts
    thread_pool_size: int = 32
    logs_max_lines: int = 1_000  # per attempt, see prsm_tasks/task_logs.py
    logs_max_line_bytes: int = 4096
    max_result_bytes: int = 1_048_576
    max_checkpoint_bytes: int = 1_048_576  # see Settings.max_checkpoint_bytes
    park_s: float = 10.0
    nats_stall_s: float = 5.0  # see Settings.nats_stall_seconds
    nats_ping_interval_s: float = 120.0  # the library's keep-alive pings
    # the repair of tasks recorded without their work message (0: off); see store/repair.py
    repair_after_s: float = 120.0
    repair_interval_s: float = 30.0
    repair_scan_limit: int = 1000
    metering: MeteringOptions = field(default_factory=MeteringOptions)

    @classmethod
    def from_settings(cls, settings: Settings) -> NodeOptions:
        return cls(
            capacity=settings.capacity,
            lease_s=settings.lease_seconds,
            grace_s=settings.grace_seconds,
            claim_after_s=settings.claim_after_seconds,
            starvation_age_s=settings.starvation_age_seconds,
            advert_interval_s=settings.advert_interval_seconds,
            retry_base_s=settings.retry_backoff_base_seconds,
            retry_max_s=settings.retry_backoff_max_seconds,
            progress_record_interval_s=settings.progress_record_interval_seconds,
            progress_event_interval_s=settings.progress_event_interval_seconds,
            progress_max_events=settings.progress_max_events,
            thread_pool_size=settings.thread_pool_size,
            logs_max_lines=settings.logs_max_lines_per_attempt,
            logs_max_line_bytes=settings.logs_max_line_bytes,
            max_result_bytes=settings.max_result_bytes,
            max_checkpoint_bytes=settings.max_checkpoint_bytes,
            nats_stall_s=settings.nats_stall_seconds,
            repair_after_s=settings.repair_after_seconds,
            repair_interval_s=settings.repair_interval_seconds,
            repair_scan_limit=settings.repair_scan_limit,
            metering=metering_options(settings),
        )


def metering_options(settings: Settings) -> MeteringOptions:
    rates = Rates(
        per_run_usd=settings.cost_per_run_usd,
        per_cpu_second_usd=settings.cost_per_cpu_second_usd,
        per_gb_second_usd=settings.cost_per_gb_second_usd,
    )
    return MeteringOptions(
        enabled=settings.attempt_metrics_enabled,
        tracemalloc_task_types=frozenset(settings.attempt_metrics_tracemalloc_task_types),
        rate_card=RateCard.load(rates, settings.cost_rate_card_file),
    )
