"""The alerts service of one edge: the store, and the two buckets mirrored by watches
(rules by id, alerts by key), kept current so listing and evaluation read memory only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import structlog

from prsm_tasks import wire
from prsm_tasks.alert_rules import Alert, AlertRule
from prsm_tasks.services.core import Services
from prsm_tasks.store.alerts import AlertStore, decode_alert, decode_rule
from prsm_tasks.store.watch import BucketWatch

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.services.alerts")


@dataclass(frozen=True, kw_only=True)
class AlertingConfig:
    """The alerting slice of the settings, for the edge."""

    eval_interval_s: float = 10.0
    webhook_timeout_s: float = 5.0
    webhook_attempts: int = 4
    webhook_allow_private: bool = False
    resolved_retention_s: float = 7 * 86_400.0
    max_rules_per_scope: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertingConfig:
        return cls(
            eval_interval_s=settings.alerts_eval_interval_seconds,
            webhook_timeout_s=settings.alerts_webhook_timeout_seconds,
            webhook_attempts=settings.alerts_webhook_attempts,
            webhook_allow_private=settings.alerts_webhook_allow_private,
            resolved_retention_s=settings.alerts_resolved_retention_seconds,
            max_rules_per_scope=settings.max_alert_rules_per_tenant,
        )


class RuleIndex:
    """PRSM_ALERT_RULES in memory: every rule by id."""

    def __init__(self) -> None:
        self.rules: dict[str, AlertRule] = {}

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        if value is None:
            self.rules.pop(key, None)
            return
        try:
            self.rules[key] = decode_rule(value)
        except ValueError as exc:  # a record of a newer version we cannot read: skip it
            log.warning("alert_rule_unreadable", rule_id=key, error=str(exc))

    def of_scope(self, scope: str) -> list[AlertRule]:
        return [rule for rule in self.rules.values() if rule.scope == scope]


@dataclass(slots=True)
class Stored:
    alert: Alert
    rev: int


class AlertIndex:
    """PRSM_ALERTS in memory: every alert by key, and each rule's latest episode."""

    def __init__(self) -> None:
        self.alerts: dict[str, Stored] = {}
        self.latest: dict[str, Stored] = {}  # rule id -> its highest episode seen

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        if value is None:
            self.alerts.pop(key, None)
            return
        try:
            self.apply(decode_alert(value), rev)
        except ValueError as exc:
            log.warning("alert_unreadable", alert_id=key, error=str(exc))

    def apply(self, alert: Alert, rev: int) -> None:
        """A write seen on the watch, or one this edge just made (visible at once); an
        older revision than the one held changes nothing."""
        held = self.alerts.get(alert.alert_id)
        if held is not None and held.rev >= rev:
            return
        stored = Stored(alert, rev)
        self.alerts[alert.alert_id] = stored
        latest = self.latest.get(alert.rule_id)
        if latest is None or latest.alert.episode <= alert.episode:
            self.latest[alert.rule_id] = stored


class Notifier(Protocol):
    def submit(self, url: str, payload: bytes) -> None:
        """Queue one POST of ``payload`` to ``url``; never waits for it."""


@dataclass(kw_only=True)
class AlertService:
    services: Services
    store: AlertStore
    config: AlertingConfig
    notifier: Notifier | None = None  # webhooks (edge/alerting.py); None: NATS only
    rules: RuleIndex = field(default_factory=RuleIndex)
    alerts: AlertIndex = field(default_factory=AlertIndex)
    watches: list[BucketWatch] = field(default_factory=list)


@contextlib.asynccontextmanager
async def open_alerts(
    services: Services, config: AlertingConfig, notifier: Notifier | None = None
) -> AsyncIterator[AlertService]:
    """The alerts service on ``services``' connection, its mirrors caught up."""
    stores = services.stores
    service = AlertService(
        services=services,
        store=await AlertStore.open(stores.nc, stores.js),
        config=config,
        notifier=notifier,
    )
    try:
        for bucket, sink in (
            (wire.ALERT_RULES_BUCKET, service.rules.on_entry),
            (wire.ALERTS_BUCKET, service.alerts.on_entry),
        ):
            watch = BucketWatch(stores.js, bucket, sink)
            service.watches.append(watch)
            await watch.start()
        yield service
    finally:
        for watch in service.watches:
            await watch.stop()
