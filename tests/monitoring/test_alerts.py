"""Alert rules, leaderless: two evaluators (two edges' services) on one deployment fire each
episode once, resolve it when the condition clears, publish it and POST it to webhooks; a
failing webhook stops nothing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import nats
import orjson
import pydantic
import pytest
from aiohttp import web

from prsm_tasks import Client, wire
from prsm_tasks.alert_rules import AlertRuleInput, Channel
from prsm_tasks.edge.alerting import WebhookSender
from prsm_tasks.errors import (
    AlertNotFoundError,
    AlertRuleLimitError,
    AlertRuleNotFoundError,
    ValidationError,
)
from prsm_tasks.services.alerts import rules as alert_rules
from prsm_tasks.services.alerts.core import AlertingConfig, AlertService, open_alerts
from prsm_tasks.services.alerts.evaluator import AlertEvaluator
from prsm_tasks.services.core import Services
from tests.conftest import eventually
from tests.monitoring.conftest import ServicesFactory

CONFIG = AlertingConfig(
    eval_interval_s=0.1, webhook_timeout_s=1.0, webhook_attempts=3, webhook_allow_private=True
)


class Hook:
    """A local webhook receiver; ``fail_first`` answers 500 that many times first."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.calls = 0
        self.fail_first = fail_first
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.fail_first:
            return web.Response(status=500)
        self.received.append(await request.json())
        return web.Response(status=204)

    def events(self, alert_event: str) -> list[dict[str, Any]]:
        return [body for body in self.received if body["event"] == alert_event]


@contextlib.asynccontextmanager
async def serve_hook(hook: Hook) -> AsyncIterator[Hook]:
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield hook
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def evaluating(
    services: Services, name: str, config: AlertingConfig = CONFIG
) -> AsyncIterator[tuple[AlertService, AlertEvaluator, WebhookSender]]:
    """One edge's alerting, as edge/alerting.py runs it."""
    sender = WebhookSender(config)
    async with open_alerts(services, config, notifier=sender) as service:
        evaluator = AlertEvaluator(service, evaluator_id=name)
        async with asyncio.TaskGroup() as running:
            tasks = [running.create_task(sender.run()), running.create_task(evaluator.run())]
            try:
                yield service, evaluator, sender
            finally:
                evaluator.stop()
                for task in tasks:
                    task.cancel()


def depth_rule(queue: str, *channels: str, threshold: float = 2) -> AlertRuleInput:
    return AlertRuleInput(
        name="backlog",
        metric="queue_depth",
        queue=queue,
        comparator="gt",
        threshold=threshold,
        severity="critical",
        channels=[Channel(url=url) for url in channels],
    )


async def stored_alerts(client: Client, rule_id: str) -> list[str]:
    js = client._js
    assert js is not None
    kv = await js.key_value(wire.ALERTS_BUCKET)
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        return []
    return [key for key in keys if key.startswith(rule_id)]


async def test_a_rule_fires_once_with_two_evaluators_and_resolves(
    tenant: str, open_edge_services: ServicesFactory, acme: Client, queue: str, nats_url: str
) -> None:
    published: list[dict[str, Any]] = []

    async def on_alert(msg: Any) -> None:
        published.append(orjson.loads(msg.data))

    nc = await nats.connect(nats_url)
    sub = await nc.subscribe(wire.alerts_subject(tenant), cb=on_alert)
    async with (
        serve_hook(Hook()) as hook,
        open_edge_services(name="edge-a") as edge_a,
        open_edge_services(name="edge-b") as edge_b,
        evaluating(edge_a, "edge-a") as (service_a, evaluator_a, _),
        evaluating(edge_b, "edge-b") as (service_b, evaluator_b, _),
    ):
        rule = await alert_rules.create_rule(
            service_a, scope=tenant, user="alice", rule=depth_rule(queue, hook.url)
        )
        rule_id = rule["rule_id"]
        await eventually(lambda: _true(rule_id in service_b.rules.rules))
        tasks = [await acme.enqueue(queue, {"n": n}) for n in range(3)]  # nobody serves it

        await eventually(lambda: _true(len(hook.events("alert_fired")) == 1))
        rounds = evaluator_a.rounds, evaluator_b.rounds
        await eventually(
            lambda: _true(evaluator_a.rounds > rounds[0] + 3 and evaluator_b.rounds > rounds[1] + 3)
        )
        assert await stored_alerts(acme, rule_id) == [f"{rule_id}.1"]  # fired exactly once
        assert len(hook.events("alert_fired")) == 1
        (active,) = alert_rules.list_alerts(service_b, scope=tenant)
        assert active["status"] == "firing" and active["value"] == 3.0
        assert alert_rules.list_alerts(service_b, scope="globex") == []

        for task in tasks:
            await acme.cancel(task.task_id)
        await eventually(lambda: _true(len(hook.events("alert_resolved")) == 1))
        await eventually(lambda: _true(not alert_rules.list_alerts(service_a, scope=tenant)))
        resolved = alert_rules.list_alerts(service_a, scope=tenant, include_resolved=True)
        assert [a["status"] for a in resolved] == ["resolved"]
        await eventually(lambda: _true(len(published) == 2))

        # the condition comes back: a second episode, fired once too
        for n in range(3):
            await acme.enqueue(queue, {"n": n})
        await eventually(lambda: _true(len(hook.events("alert_fired")) == 2))
        assert sorted(await stored_alerts(acme, rule_id)) == [f"{rule_id}.1", f"{rule_id}.2"]
        await alert_rules.delete_rule(service_b, scope=tenant, rule_id=rule_id)
        await eventually(lambda: _true(len(published) == 4))
    await sub.unsubscribe()
    await nc.close()
    assert [body["event"] for body in published] == ["alert_fired", "alert_resolved"] * 2
    assert len(hook.events("alert_fired")) == 2


async def test_a_failing_webhook_stops_no_evaluation(
    tenant: str, services: Services, acme: Client, queue: str
) -> None:
    config = dataclasses.replace(CONFIG, webhook_attempts=2)
    async with (
        serve_hook(Hook(fail_first=1)) as flaky,
        serve_hook(Hook(fail_first=1000)) as broken,
        evaluating(services, "edge-a", config) as (service, evaluator, sender),
    ):
        dead_url = "http://127.0.0.1:9/hook"  # nothing listens on the discard port
        rule = depth_rule(queue, dead_url, broken.url, flaky.url, threshold=0)
        created = await alert_rules.create_rule(service, scope=tenant, user="a", rule=rule)
        task = await acme.enqueue(queue, {})
        await eventually(lambda: _true(len(flaky.events("alert_fired")) == 1))  # its retry
        await acme.cancel(task.task_id)
        await eventually(lambda: _true(len(flaky.events("alert_resolved")) == 1))
        await eventually(lambda: _true(sender.given_up >= 2))
        assert broken.calls >= 2 and broken.received == []
        assert await stored_alerts(acme, created["rule_id"]) == [f"{created['rule_id']}.1"]
        assert evaluator.rounds > 2


async def test_an_alert_can_be_acknowledged_and_still_resolves(
    tenant: str, services: Services, acme: Client, queue: str
) -> None:
    async with evaluating(services, "edge-a") as (service, _, _):
        rule = await alert_rules.create_rule(
            service, scope=tenant, user="alice", rule=depth_rule(queue, threshold=0)
        )
        task = await acme.enqueue(queue, {})
        await eventually(lambda: _true(bool(alert_rules.list_alerts(service, scope=tenant))))
        (firing,) = alert_rules.list_alerts(service, scope=tenant)
        with pytest.raises(AlertNotFoundError):  # another scope's alert does not exist
            await alert_rules.acknowledge(
                service, scope="globex", alert_id=firing["alert_id"], user="bob"
            )
        acked = await alert_rules.acknowledge(
            service, scope=tenant, alert_id=firing["alert_id"], user="alice"
        )
        assert acked["status"] == "acknowledged" and acked["acknowledged_by"] == "alice"
        (listed,) = alert_rules.list_alerts(service, scope=tenant)
        assert listed["status"] == "acknowledged"
        await acme.cancel(task.task_id)
        await eventually(lambda: _true(not alert_rules.list_alerts(service, scope=tenant)))
        await alert_rules.delete_rule(service, scope=tenant, rule_id=rule["rule_id"])


async def test_rules_are_scoped_checked_and_bounded(
    tenant: str, services: Services, queue: str
) -> None:
    config = dataclasses.replace(CONFIG, webhook_allow_private=False, max_rules_per_scope=2)
    async with open_alerts(services, config) as service:
        first = await alert_rules.create_rule(
            service, scope=tenant, user="alice", rule=depth_rule(queue)
        )
        assert first["scope"] == tenant and first["threshold"] == 2
        rule_id = first["rule_id"]
        with pytest.raises(AlertRuleNotFoundError):
            await alert_rules.get_rule(service, scope="globex", rule_id=rule_id)
        with pytest.raises(AlertRuleNotFoundError):
            await alert_rules.get_rule(service, scope=tenant, rule_id="../../etc")
        for private in ("http://127.0.0.1:8080/x", "http://169.254.169.254/", "http://localhost/"):
            with pytest.raises(ValidationError) as refused:
                await alert_rules.create_rule(
                    service, scope=tenant, user="alice", rule=depth_rule(queue, private)
                )
            assert refused.value.field == "channels"
        changed = await alert_rules.update_rule(
            service, scope=tenant, rule_id=rule_id, changes={"threshold": 10, "severity": "info"}
        )
        assert (changed["threshold"], changed["severity"]) == (10, "info")
        with pytest.raises(pydantic.ValidationError):
            await alert_rules.update_rule(
                service, scope=tenant, rule_id=rule_id, changes={"comparator": "between"}
            )
        await alert_rules.create_rule(service, scope=tenant, user="alice", rule=depth_rule(queue))
        with pytest.raises(AlertRuleLimitError):
            await alert_rules.create_rule(
                service, scope=tenant, user="alice", rule=depth_rule(queue)
            )
        assert len(alert_rules.list_rules(service, scope=tenant)) == 2
        assert alert_rules.list_rules(service, scope="globex") == []
        await alert_rules.delete_rule(service, scope=tenant, rule_id=rule_id)
        with pytest.raises(AlertRuleNotFoundError):
            await alert_rules.get_rule(service, scope=tenant, rule_id=rule_id)


def test_rule_input_is_bounded() -> None:
    with pytest.raises(pydantic.ValidationError):
        AlertRuleInput(name="x", metric="queue_depth", threshold=float("inf"))
    with pytest.raises(pydantic.ValidationError):
        AlertRuleInput(name="x", metric="queue_depth", threshold=1, window_seconds=1)
    with pytest.raises(pydantic.ValidationError):
        Channel(url="ftp://example.com/hook")
    with pytest.raises(pydantic.ValidationError):
        Channel(url="http://user:pw@example.com/hook")
    with pytest.raises(pydantic.ValidationError):
        AlertRuleInput(
            name="x",
            metric="queue_depth",
            threshold=1,
            channels=[Channel(url=f"http://example.com/{n}") for n in range(6)],
        )
    assert wire.alerts_subject("9") == "prsm.alerts.9"
    assert wire.alerts_subject("a.b").startswith("prsm.alerts.~")


async def _true(value: bool) -> bool:
    return value
