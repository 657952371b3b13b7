"""Alert rules and alerts as every surface serves them, in one caller's scope.

A rule or an alert of another scope does not exist for the caller (404, like a missing
one). Bad input is refused before anything is written, naming its field (pydantic's errors
from ``AlertRuleInput``, or a ``ValidationError``).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from prsm_tasks.alert_rules import (
    Alert,
    AlertRule,
    AlertRuleInput,
    check_webhook_url,
)
from prsm_tasks.errors import (
    AlertNotFoundError,
    AlertResolvedError,
    AlertRuleLimitError,
    AlertRuleNotFoundError,
    TransitionConflictError,
)
from prsm_tasks.services.alerts.core import AlertService
from prsm_tasks.services.alerts.evaluator import public_alert, resolve

CAS_ATTEMPTS = 8
RULE_ID_RE = re.compile(r"[0-9a-f]{32}")
ALERT_ID_RE = re.compile(r"[0-9a-f]{32}\.[0-9]{1,9}")


def public_rule(rule: AlertRule) -> dict[str, Any]:
    return rule.model_dump(exclude={"v"})


def _check_channels(service: AlertService, rule: AlertRuleInput) -> None:
    for channel in rule.channels:
        check_webhook_url(channel.url, allow_private=service.config.webhook_allow_private)


async def create_rule(
    service: AlertService, *, scope: str, user: str | None, rule: AlertRuleInput
) -> dict[str, Any]:
    _check_channels(service, rule)
    limit = service.config.max_rules_per_scope
    if len(service.rules.of_scope(scope)) >= limit:
        raise AlertRuleLimitError(
            f"this scope has {limit} alert rules, the most it may keep",
            limit="PRSM_MAX_ALERT_RULES_PER_TENANT",
            maximum=limit,
        )
    now = time.time()
    stored = AlertRule(
        **rule.model_dump(),
        rule_id=uuid.uuid4().hex,
        scope=scope,
        created_by=user,
        created_at=now,
        updated_at=now,
    )
    await service.store.create_rule(stored)
    service.rules.rules[stored.rule_id] = stored  # listed at once on this edge
    return public_rule(stored)


async def _read_rule(service: AlertService, scope: str, rule_id: str) -> tuple[AlertRule, int]:
    found = await service.store.get_rule(rule_id) if RULE_ID_RE.fullmatch(rule_id) else None
    if found is None or found[0].scope != scope:
        raise AlertRuleNotFoundError(f"alert rule {rule_id} not found", rule_id=rule_id)
    return found


async def get_rule(service: AlertService, *, scope: str, rule_id: str) -> dict[str, Any]:
    rule, _ = await _read_rule(service, scope, rule_id)
    return public_rule(rule)


def list_rules(service: AlertService, *, scope: str) -> list[dict[str, Any]]:
    """The scope's rules, oldest first (at most PRSM_MAX_ALERT_RULES_PER_TENANT)."""
    rules = sorted(service.rules.of_scope(scope), key=lambda rule: (rule.created_at, rule.rule_id))
    return [public_rule(rule) for rule in rules]


async def update_rule(
    service: AlertService, *, scope: str, rule_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """A PATCH: ``changes`` (fields of ``AlertRuleInput``) checked on the whole rule they
    make, then written by compare-and-set (read again after a lost race)."""
    for _ in range(CAS_ATTEMPTS):
        rule, rev = await _read_rule(service, scope, rule_id)
        current = rule.model_dump(include=set(AlertRuleInput.model_fields))
        merged = AlertRuleInput.model_validate({**current, **changes})
        _check_channels(service, merged)
        updated = rule.model_copy(update={**dict(merged), "updated_at": time.time()})
        if await service.store.update_rule(updated, last=rev) is not None:
            service.rules.rules[rule_id] = updated
            return public_rule(updated)
    raise TransitionConflictError(f"alert rule {rule_id} kept changing; try again")


async def delete_rule(service: AlertService, *, scope: str, rule_id: str) -> None:
    """Delete the rule; its active alert resolves with it."""
    for _ in range(CAS_ATTEMPTS):
        _, rev = await _read_rule(service, scope, rule_id)
        if await service.store.delete_rule(rule_id, last=rev):
            service.rules.rules.pop(rule_id, None)
            break
    else:
        raise TransitionConflictError(f"alert rule {rule_id} kept changing; try again")
    latest = service.alerts.latest.get(rule_id)
    if latest is not None and latest.alert.is_active:
        await resolve(service, latest.alert, latest.rev, value=None, now=time.time(), expires=True)


def list_alerts(
    service: AlertService, *, scope: str, include_resolved: bool = False
) -> list[dict[str, Any]]:
    """The scope's active alerts (firing or acknowledged), newest first; with
    ``include_resolved`` also those resolved within the retention."""
    kept_since = time.time() - service.config.resolved_retention_s  # older ones expired
    alerts = [
        stored.alert
        for stored in service.alerts.alerts.values()
        if stored.alert.scope == scope
        and (
            stored.alert.is_active
            or (include_resolved and (stored.alert.resolved_at or 0.0) >= kept_since)
        )
    ]
    alerts.sort(key=lambda alert: (alert.fired_at, alert.alert_id), reverse=True)
    return [public_alert(alert) for alert in alerts]


async def acknowledge(
    service: AlertService, *, scope: str, alert_id: str, user: str | None
) -> dict[str, Any]:
    """Mark an active alert acknowledged (it stays listed until it resolves by itself);
    acknowledging one already acknowledged changes nothing; a resolved one is 409."""
    for _ in range(CAS_ATTEMPTS):
        known = ALERT_ID_RE.fullmatch(alert_id)
        found = await service.store.get_alert(alert_id) if known else None
        if found is None or found[0].scope != scope:
            raise AlertNotFoundError(f"alert {alert_id} not found", alert_id=alert_id)
        alert, rev = found
        if alert.status == "resolved":
            raise AlertResolvedError(f"alert {alert_id} has resolved", alert_id=alert_id)
        if alert.status == "acknowledged":
            return public_alert(alert)
        acked: Alert = alert.model_copy(
            update={
                "status": "acknowledged",
                "acknowledged_at": time.time(),
                "acknowledged_by": user,
            }
        )
        new_rev = await service.store.update_alert(acked, last=rev)
        if new_rev is not None:
            service.alerts.apply(acked, new_rev)
            return public_alert(acked)
    raise TransitionConflictError(f"alert {alert_id} kept changing; try again")
