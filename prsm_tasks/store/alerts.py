"""Alert rules (PRSM_ALERT_RULES) and alerts (PRSM_ALERTS): created once, changed only by
compare-and-set on the revision read, and the alerts' publications on ``prsm.alerts.<scope>``.

Every write says whether it won: ``None`` from a create or an update means another writer
(an evaluator on another edge, a second request) came first, and the caller reads again
rather than overwrite what it did.
"""

from __future__ import annotations

import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.alert_rules import Alert, AlertRule
from prsm_tasks.bus import ERR_WRONG_LAST_SEQUENCE, nats_errors_as_prsm
from prsm_tasks.errors import ServiceUnavailableError
from prsm_tasks.store.tasks import EXPECTED_LAST_SUBJECT_SEQ

Revision = int


def encode(record: AlertRule | Alert) -> bytes:
    return wire.pack(record.model_dump())


def decode_rule(data: bytes) -> AlertRule:
    return AlertRule.model_validate(wire.unpack(data))


def decode_alert(data: bytes) -> Alert:
    return Alert.model_validate(wire.unpack(data))


class AlertStore:
    def __init__(
        self, nc: NatsClient, js: JetStreamContext, rules: KeyValue, alerts: KeyValue
    ) -> None:
        self._nc = nc
        self._js = js
        self._rules = rules
        self._alerts = alerts

    @classmethod
    async def open(cls, nc: NatsClient, js: JetStreamContext) -> AlertStore:
        with nats_errors_as_prsm("opening the alert buckets"):
            try:
                rules = await js.key_value(wire.ALERT_RULES_BUCKET)
                alerts = await js.key_value(wire.ALERTS_BUCKET)
            except nats.js.errors.BucketNotFoundError as exc:
                raise ServiceUnavailableError(
                    "the alert buckets do not exist (topology not created)"
                ) from exc
        return cls(nc, js, rules, alerts)

    # --- rules ---------------------------------------------------------------------------

    async def create_rule(self, rule: AlertRule) -> Revision:
        with nats_errors_as_prsm(f"creating alert rule {rule.rule_id}"):
            return await self._rules.create(rule.rule_id, encode(rule))

    async def get_rule(self, rule_id: str) -> tuple[AlertRule, Revision] | None:
        with nats_errors_as_prsm(f"reading alert rule {rule_id}"):
            try:
                entry = await self._rules.get(rule_id)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                return None
        if entry.value is None or entry.revision is None:
            return None
        return decode_rule(entry.value), entry.revision

    async def update_rule(self, rule: AlertRule, *, last: Revision) -> Revision | None:
        with nats_errors_as_prsm(f"updating alert rule {rule.rule_id}"):
            try:
                return await self._rules.update(rule.rule_id, encode(rule), last=last)
            except nats.js.errors.KeyWrongLastSequenceError:
                return None

    async def delete_rule(self, rule_id: str, *, last: Revision) -> bool:
        with nats_errors_as_prsm(f"deleting alert rule {rule_id}"):
            try:
                await self._rules.delete(rule_id, last=last)
            except nats.js.errors.KeyWrongLastSequenceError:
                return False
        return True

    # --- alerts --------------------------------------------------------------------------

    async def create_alert(self, alert: Alert) -> Revision | None:
        """Fire: None when the episode's record exists (another evaluator fired it)."""
        with nats_errors_as_prsm(f"creating alert {alert.alert_id}"):
            try:
                return await self._alerts.create(alert.alert_id, encode(alert))
            except nats.js.errors.KeyWrongLastSequenceError:
                return None

    async def get_alert(self, alert_id: str) -> tuple[Alert, Revision] | None:
        with nats_errors_as_prsm(f"reading alert {alert_id}"):
            try:
                entry = await self._alerts.get(alert_id)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                return None
        if entry.value is None or entry.revision is None:
            return None
        return decode_alert(entry.value), entry.revision

    async def update_alert(
        self, alert: Alert, *, last: Revision, ttl_s: float | None = None
    ) -> Revision | None:
        """Acknowledge or resolve by compare-and-set; a resolved record expires after
        ``ttl_s``. None when the record changed since ``last`` was read."""
        # a publish with the KV's own header: KeyValue.update takes no per-message TTL
        with nats_errors_as_prsm(f"updating alert {alert.alert_id}"):
            try:
                ack = await self._js.publish(
                    f"$KV.{wire.ALERTS_BUCKET}.{alert.alert_id}",
                    encode(alert),
                    headers={EXPECTED_LAST_SUBJECT_SEQ: str(last)},
                    msg_ttl=ttl_s,
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code != ERR_WRONG_LAST_SEQUENCE:
                    raise
                return None
        return ack.seq

    async def publish(self, scope: str, payload: bytes) -> None:
        """On ``prsm.alerts.<scope>``: plain NATS, for whoever listens now."""
        with nats_errors_as_prsm("publishing an alert"):
            await self._nc.publish(wire.alerts_subject(scope), payload)
