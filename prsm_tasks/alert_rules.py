"""Alert rules and alerts, pure: the records of PRSM_ALERT_RULES and PRSM_ALERTS, the
comparison a rule makes, and the static check of a webhook URL (tenant input).

How rules are evaluated and alerts fired without a leader is services/alerts/evaluator.py.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prsm_tasks.errors import ValidationError
from prsm_tasks.wire import check_queue_name

Metric = Literal[
    "queue_depth",  # the scope's tasks waiting in the queue (all its queues without one)
    "oldest_waiting_age_seconds",  # how long its oldest waiting task has waited
    "failure_rate",  # failed, timed-out or lost attempts / finished ones, in the window
    "p95_execution_ms",  # 95th percentile of the attempts' execution time, in the window
    "silent_nodes",  # nodes (serving the queue, if any) whose advert went silent
    "cost_per_hour_usd",  # the attempts' cost in the window, per hour
]
Comparator = Literal["gt", "gte", "lt", "lte"]
Severity = Literal["info", "warning", "critical"]
AlertStatus = Literal["firing", "acknowledged", "resolved"]
ACTIVE_STATUSES = frozenset({"firing", "acknowledged"})
MAX_URL_CHARS = 2048
MAX_CHANNELS = 5


class Channel(BaseModel):
    """Where an alert goes besides ``prsm.alerts.<scope>``: a webhook, POSTed as JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["webhook"] = "webhook"
    url: str = Field(min_length=8, max_length=MAX_URL_CHARS)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a webhook URL is an absolute http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("a webhook URL carries no user or password")
        return url


class AlertRuleInput(BaseModel):
    """What a caller gives to create a rule (a PATCH gives some of it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    metric: Metric
    queue: str | None = Field(default=None, max_length=128)
    task_type: str | None = Field(default=None, min_length=1, max_length=128)
    comparator: Comparator = "gt"
    threshold: float
    window_seconds: float = Field(default=300.0, ge=10, le=7 * 86_400)
    severity: Severity = "warning"
    channels: list[Channel] = Field(default_factory=list, max_length=MAX_CHANNELS)
    enabled: bool = True

    @field_validator("queue")
    @classmethod
    def _queue_name(cls, queue: str | None) -> str | None:
        return None if queue is None else check_queue_name(queue)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, threshold: float) -> float:
        if not math.isfinite(threshold):
            raise ValueError("the threshold is a finite number")
        return threshold


class AlertRule(AlertRuleInput):
    """A rule as stored in PRSM_ALERT_RULES (key: ``rule_id``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1
    rule_id: str
    scope: str  # the tenant scope it belongs to and watches (a hub brand maps to one)
    created_by: str | None = None
    created_at: float
    updated_at: float


class Alert(BaseModel):
    """One episode of a rule, stored in PRSM_ALERTS at ``<rule_id>.<episode>``: created
    once when it fires (a ``create``, which one evaluator alone wins), then changed by
    compare-and-set (acknowledged, resolved)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    v: int = 1
    alert_id: str  # = its key
    rule_id: str
    episode: int
    scope: str
    rule_name: str
    metric: Metric
    queue: str | None = None
    task_type: str | None = None
    comparator: Comparator
    threshold: float
    severity: Severity
    status: AlertStatus = "firing"
    value: float  # the metric when it fired
    fired_at: float
    fired_by: str  # the evaluator (edge) that fired it
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_value: float | None = None

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES


def alert_key(rule_id: str, episode: int) -> str:
    return f"{rule_id}.{episode}"


def breached(value: float, comparator: Comparator, threshold: float) -> bool:
    if comparator == "gt":
        return value > threshold
    if comparator == "gte":
        return value >= threshold
    if comparator == "lt":
        return value < threshold
    return value <= threshold


def is_private_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata), reserved, multicast or unspecified."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def check_webhook_url(url: str, *, allow_private: bool, field: str = "channels") -> None:
    """Refuse, when saving a rule, a webhook that names a private address or ``localhost``
    (unless the deployment allows them); names are checked again when they resolve, at
    delivery (edge/alerting.py)."""
    if allow_private:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError("a webhook URL may not name localhost", field=field)
    try:
        private = is_private_address(host)
    except ValueError:
        return  # a name: checked when it resolves
    if private:
        raise ValidationError(
            "a webhook URL may not name a loopback, private or link-local address", field=field
        )
