"""Leaderless evaluation of the alert rules: every edge runs an ``AlertEvaluator``.

No process is in charge, so the death of any one stops nothing; and no alert fires twice,
because each change of an alert is a write only one evaluator can win:

- **Fire.** A rule whose condition holds, and whose latest episode ``n`` is resolved (or
  that has none), fires episode ``n + 1`` with a KV ``create`` of ``<rule id>.<n + 1>``. Two
  evaluators that both see the condition both try the same key; one create succeeds, the
  other is refused and does nothing (it sees the episode on its watch). Only the winner
  publishes and calls the webhooks.
- **Resolve.** A firing (or acknowledged) episode whose condition this evaluator found clear
  ``CLEAR_EVALUATIONS`` times in a row is resolved by a compare-and-set on the revision it
  read; a lost race means another evaluator resolved it (or someone acknowledged it: read
  again next round). The record then expires after ``PRSM_ALERTS_RESOLVED_RETENTION_SECONDS``.
- Two clear rounds rather than one, so edges whose views differ for a moment (a write one
  has applied and the other not yet) do not resolve and re-fire an alert back and forth.

Notifications never hold evaluation up: the NATS publication is one plain publish, and
webhooks are handed to the service's ``Notifier``, which queues them (edge/alerting.py
posts them with retries and a timeout, off this loop).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import structlog

from prsm_tasks.alert_rules import Alert, AlertRule, alert_key, breached
from prsm_tasks.errors import PrsmError
from prsm_tasks.services.alerts.core import AlertService
from prsm_tasks.services.alerts.metrics import metric_value

log = structlog.get_logger("prsm.alerts")

CLEAR_EVALUATIONS = 2


def public_alert(alert: Alert) -> dict[str, Any]:
    return alert.model_dump(exclude={"v"})


def notification(kind: str, alert: Alert) -> bytes:
    """What is published and POSTed: ``{"event": "alert_fired" | "alert_resolved", "alert"}``."""
    return orjson.dumps({"event": kind, "alert": public_alert(alert)})


class AlertEvaluator:
    def __init__(self, service: AlertService, *, evaluator_id: str) -> None:
        self.service = service
        self.evaluator_id = evaluator_id
        self.rounds = 0
        self._clear_rounds: dict[str, int] = {}  # rule id -> consecutive clear rounds
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        interval_s = self.service.config.eval_interval_s
        while not self._stopping.is_set():
            await self.evaluate_once(time.time())
            try:
                async with asyncio.timeout(interval_s):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def evaluate_once(self, now: float) -> None:
        """One round over every rule; a rule that fails (NATS away) is tried next round."""
        for rule in list(self.service.rules.rules.values()):
            try:
                await self.evaluate(rule, now)
            except PrsmError as exc:
                log.warning("alert_rule_not_evaluated", rule_id=rule.rule_id, error=exc.message)
            except Exception:  # one rule's bug must not stop the evaluation of the others
                log.exception("alert_rule_failed", rule_id=rule.rule_id)
        self.rounds += 1

    async def evaluate(self, rule: AlertRule, now: float) -> None:
        services = self.service.services
        value = metric_value(services.view, services.nodes, rule, now) if rule.enabled else None
        holds = value is not None and breached(value, rule.comparator, rule.threshold)
        latest = self.service.alerts.latest.get(rule.rule_id)
        active = latest is not None and latest.alert.is_active
        if holds:
            self._clear_rounds.pop(rule.rule_id, None)
            if not active:
                assert value is not None
                episode = latest.alert.episode + 1 if latest is not None else 1
                await self._fire(rule, episode, value, now)
            return
        if not active or (value is None and rule.enabled):
            return  # nothing firing, or nothing to judge the condition by
        clear = self._clear_rounds.get(rule.rule_id, 0) + 1
        self._clear_rounds[rule.rule_id] = clear
        if clear >= CLEAR_EVALUATIONS:
            assert latest is not None
            await resolve(self.service, latest.alert, latest.rev, value=value, now=now)
            self._clear_rounds.pop(rule.rule_id, None)

    async def _fire(self, rule: AlertRule, episode: int, value: float, now: float) -> None:
        alert = Alert(
            alert_id=alert_key(rule.rule_id, episode),
            rule_id=rule.rule_id,
            episode=episode,
            scope=rule.scope,
            rule_name=rule.name,
            metric=rule.metric,
            queue=rule.queue,
            task_type=rule.task_type,
            comparator=rule.comparator,
            threshold=rule.threshold,
            severity=rule.severity,
            value=value,
            fired_at=now,
            fired_by=self.evaluator_id,
        )
        rev = await self.service.store.create_alert(alert)
        if rev is None:
            return  # another evaluator fired this episode first: its notifications
        self.service.alerts.apply(alert, rev)
        log.info("alert_fired", alert_id=alert.alert_id, scope=rule.scope, value=value)
        await announce(self.service, "alert_fired", alert, rule)
        await self._expire_previous(rule.rule_id, episode - 1)

    async def _expire_previous(self, rule_id: str, episode: int) -> None:
        """The episode before the one just fired may expire now. A rule's latest episode
        never does: it is how every evaluator, a restarted one too, knows the next
        episode's number (an expired latest one would let a fresh edge fire episode 1
        again beside an older edge firing n + 1)."""
        previous = self.service.alerts.alerts.get(alert_key(rule_id, episode))
        if previous is None or previous.alert.is_active:
            return
        retention_s = self.service.config.resolved_retention_s
        rev = await self.service.store.update_alert(
            previous.alert, last=previous.rev, ttl_s=retention_s
        )
        if rev is not None:
            self.service.alerts.apply(previous.alert, rev)


async def resolve(
    service: AlertService,
    alert: Alert,
    rev: int,
    *,
    value: float | None,
    now: float,
    expires: bool = False,
) -> bool:
    """Resolve an active episode by compare-and-set; False when it changed since read.
    It expires after the retention once a later episode fires (or with ``expires``: its
    rule is gone)."""
    resolved = alert.model_copy(
        update={"status": "resolved", "resolved_at": now, "resolved_value": value}
    )
    ttl_s = service.config.resolved_retention_s if expires else None
    new_rev = await service.store.update_alert(resolved, last=rev, ttl_s=ttl_s)
    if new_rev is None:
        return False
    service.alerts.apply(resolved, new_rev)
    log.info("alert_resolved", alert_id=alert.alert_id, scope=alert.scope)
    await announce(service, "alert_resolved", resolved, service.rules.rules.get(alert.rule_id))
    return True


async def announce(service: AlertService, kind: str, alert: Alert, rule: AlertRule | None) -> None:
    """Publish on ``prsm.alerts.<scope>`` and queue the rule's webhooks; a failed publish is
    logged (the record is what counts), never raised into evaluation."""
    payload = notification(kind, alert)
    try:
        await service.store.publish(alert.scope, payload)
    except PrsmError as exc:
        log.warning("alert_not_published", alert_id=alert.alert_id, error=exc.message)
    if rule is None or service.notifier is None:
        return
    for channel in rule.channels:
        service.notifier.submit(channel.url, payload)
