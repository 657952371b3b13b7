"""The one Settings object. Read once, in cli.py; everything below takes explicit arguments."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from prsm_tasks.wire import MAX_PARTITIONS, STANDARD_QUEUES, check_queue_name

CommaList = Annotated[list[str], NoDecode]


def split_comma_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every setting of every command; each field is read from the environment as
    ``PRSM_<NAME>`` (comma separated for lists), and the CLI's flags override it. The
    configuration page of the docs is generated from these fields and their descriptions."""

    model_config = SettingsConfigDict(env_prefix="PRSM_", extra="ignore")

    # where NATS is
    servers: CommaList = Field(
        default_factory=lambda: ["nats://127.0.0.1:4222"],
        description="NATS server URLs to connect to, comma separated.",
    )
    nats_user: str | None = Field(
        default=None,
        description="User name for a NATS server that requires a user and password. "
        "Unset: none, or the credentials of the local `prsm-tasks up` when connecting to it "
        "(see the data dir). A user and password in a server URL "
        "(`nats://user:pass@host:4222`) also work, but URLs show up in process lists.",
    )
    nats_password: SecretStr | None = Field(
        default=None,
        description="Password of `PRSM_NATS_USER`. Never logged.",
    )
    nats_password_file: Path | None = Field(
        default=None,
        description="A file holding the password of `PRSM_NATS_USER` (instead of "
        "`PRSM_NATS_PASSWORD`), such as `<data dir>/nats_password` of `prsm-tasks up`.",
    )
    replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Replicas of every stream and bucket when they are created: 1 on one "
        "server, 3 on a cluster.",
    )
    partitions: int = Field(
        default=1,
        ge=1,
        le=MAX_PARTITIONS,
        description="How many partitions the tasks are spread over: each has its own work "
        "stream and task bucket (partition 0 is `PRSM_WORK` and `PRSM_TASKS`, partition p "
        "`PRSM_WORK_<p>` and `PRSM_TASKS_<p>`), and a task's is a hash of its id. More "
        "partitions let more nodes drain in parallel past what one stream takes. Fixed per "
        "deployment: the first process records it in `PRSM_META`, and a process with another "
        "value refuses to start (there is no migration).",
    )

    nats_stall_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A NATS connection that says it is connected but has answered nothing, "
        "not even a ping, for this long is dropped and reconnected (by every node, edge and "
        "client); meanwhile an edge's `/health` answers `unhealthy`.",
    )

    # peer node
    node_name: str | None = Field(
        default=None,
        description="The node's id in adverts and attempts; unset: host, pid and a random suffix.",
    )
    queues: CommaList = Field(
        default_factory=lambda: list(STANDARD_QUEUES),
        description="Queues a node serves, comma separated; on an edge, the configured "
        "queues that `/enqueue` accepts even when no live node serves them.",
    )
    capacity: int = Field(
        default=8, ge=1, le=10_000, description="Task slots of a node: how many run at once."
    )
    handlers: CommaList = Field(
        default_factory=list,
        description="Handler modules a node imports (`pkg.module`), comma separated.",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="A node serves its Prometheus metrics on this port (`/metrics`, "
        "`PRSM_METRICS_HOST`); unset: no metrics, and nothing measured. An edge serves "
        "them at its own `/metrics`.",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="Address a node's metrics port listens on."
    )
    lease_seconds: float = Field(
        default=20.0,
        gt=0.5,
        le=3600,
        description="A node's lease on a running task (the work consumers' ack wait), "
        "renewed every third of it; a dead node's tasks move on after about one lease.",
    )
    grace_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="On SIGTERM/SIGINT, how long running tasks may finish before the rest "
        "are handed back to the queue.",
    )
    claim_after_seconds: float = Field(
        default=0.02,
        ge=0,
        le=60,
        description="A task still running this long after it started gets its claim "
        "(`processing`) written; one that ends sooner costs one record write. 0 claims "
        "every task before it starts.",
    )
    starvation_age_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A lower band whose oldest task has waited this long gets half of each "
        "pull until it catches up.",
    )
    advert_interval_seconds: float = Field(
        default=2.0,
        gt=0.05,
        le=60,
        description="How often a node rewrites its capacity advert in `PRSM_NODES` (whose "
        "keys expire after four of these, at least 10 s).",
    )
    retry_backoff_base_seconds: float = Field(
        default=1.0,
        ge=0,
        description="First delay of the exponential backoff (with jitter) before a failed "
        "attempt is retried.",
    )
    retry_backoff_max_seconds: float = Field(
        default=300.0, ge=0, description="Longest delay of the retry backoff."
    )
    progress_record_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="Progress is written to the task record at most once per this interval "
        "per task (plus the final write).",
    )
    progress_event_interval_seconds: float = Field(
        default=0.1,
        ge=0,
        description="Value-only progress reports are coalesced to at most one "
        "`progress_update` event per this interval per task; text changes always go out.",
    )
    progress_max_events: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Most `progress_update` events a task publishes as reported, over all "
        "its attempts. Past it, progress still reaches the task record, but an attempt sends "
        "an event only when the value reaches a new whole percent (at most 101), and once "
        "before the outcome; these carry `coalesced`, the number of reports each stands for.",
    )
    thread_pool_size: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Threads of a node's pool for sync handlers.",
    )

    repair_after_seconds: float = Field(
        default=120.0,
        ge=0,
        description="The repair: a task recorded as enqueued and never attempted whose "
        "record has not changed for this long, and whose work message is not in "
        "`PRSM_WORK`, is queued again; a bulk's waiting tasks with nothing left to wait "
        "for are released. One peer node at a time does it, under a lease any node takes "
        "over. Keep it above a minute (an enqueue retries its own publish that long); "
        "0 turns the repair off on this node.",
    )
    repair_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often the node holding the repair lease makes a pass (with "
        "jitter); the lease lasts three of these plus 10 s.",
    )
    repair_scan_limit: int = Field(
        default=1000,
        ge=10,
        le=100_000,
        description="Most task records one repair pass reads (it goes on from there next "
        "pass), and most work messages it looks at to tell a lost message from a queued one.",
    )

    # limits and retention
    max_task_data_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest task data accepted, encoded, in bytes.",
    )
    max_result_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest handler result stored, encoded, in bytes.",
    )
    max_checkpoint_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest checkpoint state (`ctx.checkpoint`) stored, encoded, in bytes; "
        "larger is refused with 413 `payload_too_large`. Also held under the server's "
        "`max_payload`, less 4 KiB for the checkpoint's envelope.",
    )
    events_max_age_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long `PRSM_EVENTS` keeps events (set when the stream is created).",
    )
    events_max_bytes: int = Field(
        default=1_073_741_824,
        ge=1_048_576,
        description="Most bytes `PRSM_EVENTS` keeps; the oldest events go first (set when "
        "the stream is created).",
    )
    logs_max_age_seconds: float = Field(
        default=7 * 86_400.0,
        gt=0,
        description="How long `PRSM_LOGS` keeps what handlers log through `ctx.logger` "
        "(applied to the stream at start when set explicitly).",
    )
    logs_max_bytes: int = Field(
        default=1_073_741_824,
        ge=1_048_576,
        description="Most bytes `PRSM_LOGS` keeps; the oldest lines go first (applied to "
        "the stream at start when set explicitly).",
    )
    logs_max_lines_per_attempt: int = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Most log lines one attempt of a task keeps; past it lines are counted, "
        "not kept, and one `N lines dropped` line closes the attempt's log.",
    )
    logs_max_line_bytes: int = Field(
        default=4096,
        ge=64,
        le=65_536,
        description="Longest log line kept, UTF-8 encoded; a longer one is cut and ends "
        "with `… [cut]`.",
    )
    idempotency_ttl_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="How long an idempotency key maps to its task (set when the bucket is "
        "created).",
    )
    finished_task_retention_seconds: float = Field(
        default=7 * 86_400.0,
        ge=0,
        description="A completed, failed, cancelled or timed-out record expires this long "
        "after its final write; 0 keeps it for ever. Unfinished tasks never expire.",
    )

    # quotas: what one tenant (or all of them) may make the deployment keep
    work_max_messages: int = Field(
        default=1_000_000,
        ge=1,
        description="Most messages `PRSM_WORK` holds (queued tasks, and retries and "
        "priority changes waiting there); when full, enqueues answer 507 `work_stream_full` "
        "and write nothing. Applied to the stream at start (see Quotas below); with "
        "`PRSM_PARTITIONS` > 1, to each partition's work stream.",
    )
    work_max_bytes: int = Field(
        default=4 * 1_073_741_824,
        ge=1_048_576,
        description="Most bytes `PRSM_WORK` holds; when full, enqueues answer 507 "
        "`work_stream_full`. Applied to the stream at start (see Quotas below); with "
        "`PRSM_PARTITIONS` > 1, to each partition's work stream.",
    )
    max_unfinished_tasks_per_tenant: int = Field(
        default=100_000,
        ge=1,
        description="Tasks of one tenant that are not final (queued, waiting, running) an "
        "edge accepts; beyond it enqueues answer 429 `unfinished_task_limit`.",
    )
    max_task_types_per_tenant: int = Field(
        default=200,
        ge=1,
        description="Task types one tenant may register (inactive ones count: they keep "
        "their names); beyond it 429 `task_type_limit`.",
    )
    max_task_type_bytes: int = Field(
        default=262_144,
        ge=1024,
        le=262_144,
        description="Largest `parameters_schema`, and largest `metadata`, of a tenant's "
        "task type, encoded, in bytes; above it 422 `task_type_too_large`.",
    )
    max_queues_per_tenant: int = Field(
        default=50,
        ge=1,
        description="Queues one tenant's task types may send tasks to, besides the "
        "configured `PRSM_QUEUES`; beyond it 429 `queue_limit`. Each such queue gets four "
        "work consumers when it is first claimed from.",
    )
    max_priority_moves_per_task: int = Field(
        default=20,
        ge=0,
        description="Times a pending task's priority may move it to another band: each move "
        "queues one more work message (the old one stays until a node drops it); beyond it "
        "429 `priority_move_limit`.",
    )
    max_schedules_per_tenant: int = Field(
        default=10_000,
        ge=1,
        description="Schedules (the scheduler API's tasks, `/api/v1/tasks`) one tenant may "
        "keep; beyond it creates answer 429 `schedule_limit`.",
    )
    claim_consumer_idle_seconds: float = Field(
        default=3600.0,
        ge=1,
        description="Work consumers that an external worker's claim created (for a queue "
        "no peer node serves) are removed by the server after this long without a pull, "
        "once no claimed message is held on them; the next claim creates them again.",
    )

    # the local all-in-one (`prsm-tasks up`)
    data_dir: Path = Field(
        default=Path(".prsm"),
        description="Where `prsm-tasks up` keeps the embedded server's store, its JWT "
        "secret and its endpoints file.",
    )
    nats_port: int = Field(
        default=4222,
        ge=0,
        le=65535,
        description="Port of the nats-server that `prsm-tasks up` starts; 0 picks a free one.",
    )
    port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="HTTP port of an edge; 0 picks a free one (and the edge prints it).",
    )
    host: str = Field(default="127.0.0.1", description="Address an edge listens on.")

    # edge node (HTTP Task API)
    jwt_secret: str | None = Field(
        default=None, description="HS256 secret that bearer tokens are signed with."
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key file for RS256 bearer tokens."
    )
    jwt_jwks_url: str | None = Field(
        default=None, description="JWKS endpoint with the keys of RS256 bearer tokens."
    )
    jwt_audience: str | None = Field(
        default=None, description="Audience (`aud`) a token must carry, if set."
    )
    jwt_issuer: str | None = Field(
        default=None, description="Issuer (`iss`) a token must carry, if set."
    )
    rate_limit_per_second: float = Field(
        default=100.0,
        ge=0,
        description="Enqueues per second per user on each edge (a token bucket); 0 turns "
        "the limit off.",
    )
    rate_limit_burst: int = Field(
        default=200, ge=1, description="Size of each user's token bucket."
    )
    max_body_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Largest HTTP request body an edge reads (413 above it).",
    )
    disabled_queues: CommaList = Field(
        default_factory=list,
        description="Queues an edge refuses (400 `queue_not_available`), comma separated.",
    )
    public_url: str | None = Field(
        default=None,
        description="The edge's base URL as its clients reach it (`https://tasks.example.com`, "
        "a path prefix allowed), for the absolute URLs it answers (`stream_url`). Wins over "
        "forwarded headers. Unset: from the request, see `PRSM_TRUSTED_PROXIES`.",
    )
    trusted_proxies: CommaList = Field(
        default_factory=list,
        description="Addresses or networks (`10.0.0.5`, `10.0.0.0/8`), comma separated, of "
        "the proxies in front of an edge whose `Forwarded` or `X-Forwarded-Proto` / "
        "`X-Forwarded-Host` headers it believes when it builds absolute URLs. Default: none "
        "(the request's own scheme and `Host`).",
    )
    sse_replay_max_events: int = Field(
        default=10_000,
        ge=1,
        le=100_000,
        description="Most stored events one SSE connection replays. A task stream that "
        "reaches it sends `replay_truncated` (with the id to resume after) and ends, and "
        "EventSource reconnects for the next part; `/events` with an older `Last-Event-ID` "
        "scans only this many of the newest stored events and says what it skipped.",
    )
    node_stale_seconds: float = Field(
        default=10.0,
        gt=0,
        description="An edge counts a node as live while its advert is younger than this.",
    )

    # metrics per attempt (actors/metering.py) and alert rules (services/alerts/)
    attempt_metrics_enabled: bool = Field(
        default=True,
        description="Nodes measure each attempt (execution time, CPU time, memory, cost) "
        "and store it with the attempt in the task record. Off: only the attempt's start "
        "and end times are kept.",
    )
    attempt_metrics_tracemalloc_task_types: CommaList = Field(
        default_factory=list,
        description="Task types whose attempts measure memory as the peak of traced Python "
        "allocations (tracemalloc, on only while such an attempt runs) instead of the "
        "process's RSS growth; comma separated.",
    )
    cost_per_run_usd: float = Field(
        default=0.0, ge=0, description="Price of one attempt, in US dollars (the rate card)."
    )
    cost_per_cpu_second_usd: float = Field(
        default=0.0,
        ge=0,
        description="Price of a CPU second of a handler (its wall time where CPU was not "
        "measured).",
    )
    cost_per_gb_second_usd: float = Field(
        default=0.0,
        ge=0,
        description="Price of a GB of measured memory held for a second of the attempt.",
    )
    cost_rate_card_file: Path | None = Field(
        default=None,
        description='A JSON rate card, `{"default": {...}, "task_types": {"name": {...}}}` '
        "with `per_run_usd`, `per_cpu_second_usd`, `per_gb_second_usd` in each; a task "
        "type it names uses its rates, the others the default (else `PRSM_COST_*`).",
    )
    alerts_eval_interval_seconds: float = Field(
        default=10.0,
        ge=0.1,
        le=3600,
        description="How often every edge evaluates the alert rules.",
    )
    alerts_webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Timeout of one webhook POST of an alert."
    )
    alerts_webhook_attempts: int = Field(
        default=4,
        ge=1,
        le=10,
        description="POSTs of an alert to a webhook before it is given up (backoff between).",
    )
    alerts_webhook_allow_private: bool = Field(
        default=False,
        description="Accept webhook URLs on loopback, private, link-local or reserved "
        "addresses (tests, a private deployment). Off: refused when the rule is saved and "
        "again when the name resolves at delivery.",
    )
    alerts_resolved_retention_seconds: float = Field(
        default=7 * 86_400.0,
        ge=1,
        description="A resolved alert's record expires this long after it resolved.",
    )
    max_alert_rules_per_tenant: int = Field(
        default=100, ge=1, le=10_000, description="Most alert rules one tenant may keep."
    )

    log_format: Literal["console", "json"] = Field(
        default="console", description="Log lines for people (`console`) or machines (`json`)."
    )
    log_level: str = Field(default="info", description="Lowest log level written.")

    _split = field_validator(
        "servers",
        "queues",
        "handlers",
        "disabled_queues",
        "trusted_proxies",
        "attempt_metrics_tracemalloc_task_types",
        mode="before",
    )(split_comma_list)

    @field_validator("queues", "disabled_queues")
    @classmethod
    def _check_queues(cls, queues: list[str]) -> list[str]:
        return [check_queue_name(queue) for queue in queues]

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, proxies: list[str]) -> list[str]:
        for proxy in proxies:
            ipaddress.ip_network(proxy, strict=False)  # a ValueError names the bad one
        return proxies

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("public_url must be an absolute http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("public_url takes no query or fragment")
        return url.rstrip("/")

    @model_validator(mode="after")
    def _check_nats_credentials(self) -> Settings:
        if self.nats_password is not None and self.nats_password_file is not None:
            raise ValueError("give PRSM_NATS_PASSWORD or PRSM_NATS_PASSWORD_FILE, not both")
        if (self.nats_password or self.nats_password_file) and not self.nats_user:
            raise ValueError("a NATS password needs PRSM_NATS_USER")
        return self
