"""The one Settings object. Read once, in cli.py; everything below takes explicit arguments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prsm_tasks.wire import STANDARD_QUEUES, check_queue_name

CommaList = Annotated[list[str], NoDecode]


def split_comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PRSM_", extra="ignore")

    # where NATS is
    servers: CommaList = Field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    replicas: int = Field(default=1, ge=1, le=5)

    # peer node
    node_name: str | None = None
    queues: CommaList = Field(default_factory=lambda: list(STANDARD_QUEUES))
    capacity: int = Field(default=8, ge=1, le=10_000)
    handlers: CommaList = Field(default_factory=list)
    lease_seconds: float = Field(default=20.0, gt=0.5, le=3600)
    grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    # a task still running this long after it started gets its claim (processing) written;
    # one that ends sooner costs one record write. 0: claim every task before it starts
    claim_after_seconds: float = Field(default=0.02, ge=0, le=60)
    starvation_age_seconds: float = Field(default=30.0, gt=0)
    advert_interval_seconds: float = Field(default=2.0, gt=0.05, le=60)
    retry_backoff_base_seconds: float = Field(default=1.0, ge=0)
    retry_backoff_max_seconds: float = Field(default=300.0, ge=0)
    progress_record_interval_seconds: float = Field(default=1.0, ge=0)
    progress_event_interval_seconds: float = Field(default=0.1, ge=0)
    thread_pool_size: int = Field(default=32, ge=1, le=1024)

    # limits and retention
    max_task_data_bytes: int = Field(default=1_048_576, ge=1024)
    max_result_bytes: int = Field(default=1_048_576, ge=1024)
    events_max_age_seconds: float = Field(default=86_400.0, gt=0)
    events_max_bytes: int = Field(default=1_073_741_824, ge=1_048_576)
    idempotency_ttl_seconds: float = Field(default=86_400.0, gt=0)
    # a completed/failed/cancelled/timeout record is kept this long, then expires (0: for ever)
    finished_task_retention_seconds: float = Field(default=7 * 86_400.0, ge=0)

    # the local all-in-one (`prsm-tasks up`)
    data_dir: Path = Path(".prsm")
    nats_port: int = Field(default=4222, ge=0, le=65535)
    port: int = Field(default=8080, ge=0, le=65535)
    host: str = "127.0.0.1"

    # edge node (HTTP Task API)
    jwt_secret: str | None = None  # HS256
    jwt_public_key_file: Path | None = None  # RS256 with a PEM public key
    jwt_jwks_url: str | None = None  # RS256 with keys from a JWKS endpoint
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    rate_limit_per_second: float = Field(default=100.0, ge=0)  # per user on enqueue; 0: off
    rate_limit_burst: int = Field(default=200, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    disabled_queues: CommaList = Field(default_factory=list)
    node_stale_seconds: float = Field(default=10.0, gt=0)

    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"

    _split = field_validator("servers", "queues", "handlers", "disabled_queues", mode="before")(
        split_comma_list
    )

    @field_validator("queues", "disabled_queues")
    @classmethod
    def _check_queues(cls, queues: list[str]) -> list[str]:
        return [check_queue_name(queue) for queue in queues]


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
    thread_pool_size: int = 32
    max_result_bytes: int = 1_048_576
    park_s: float = 10.0

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
            thread_pool_size=settings.thread_pool_size,
            max_result_bytes=settings.max_result_bytes,
        )
