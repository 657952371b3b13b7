"""Alerting on every edge: the alerts service, its evaluator, and the webhook sender.

Served as a surface without routes (``SURFACE``): it opens for the edge's lifetime, after the
edge state. A hub surface reads the service from the app as ``ALERTS`` and wraps
``services.alerts.rules``.

Webhooks are tenant input, so the sender guards the deployment (SSRF): http(s) only, no
credentials in the URL, no redirects followed, a timeout per POST, a bounded queue (an
alert that finds it full is dropped and logged, never waited for), and, unless
``PRSM_ALERTS_WEBHOOK_ALLOW_PRIVATE``, a refusal of any address the name resolves to that
is loopback, private, link-local (cloud metadata) or reserved. The name is resolved again
by the connection itself, so a DNS answer that changes between the two (rebinding) could
still reach a private address: deployments that need more put an egress proxy in front.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp import web

from prsm_tasks.alert_rules import is_private_address
from prsm_tasks.edge.http.state import STATE
from prsm_tasks.edge.http.surface import Surface
from prsm_tasks.services.alerts.core import AlertingConfig, AlertService, open_alerts
from prsm_tasks.services.alerts.evaluator import AlertEvaluator

log = structlog.get_logger("prsm.edge.alerting")

ALERTS: web.AppKey[AlertService] = web.AppKey("prsm_alerts", AlertService)
QUEUE_SIZE = 1000
SENDERS = 4
RETRY_BASE_S = 0.5


class WebhookSender:
    """POSTs alerts to webhooks from a bounded queue, with retries, off the evaluation."""

    def __init__(self, config: AlertingConfig) -> None:
        self.config = config
        self.queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_SIZE)
        self.delivered = 0
        self.given_up = 0

    def submit(self, url: str, payload: bytes) -> None:
        try:
            self.queue.put_nowait((url, payload))
        except asyncio.QueueFull:
            log.warning("webhook_dropped", reason="queue full", url=url)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.config.webhook_timeout_s)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            asyncio.TaskGroup() as senders,
        ):
            for _ in range(SENDERS):
                senders.create_task(self._send_forever(session))

    async def _send_forever(self, session: aiohttp.ClientSession) -> None:
        while True:
            url, payload = await self.queue.get()
            try:
                delivered = await self.deliver(session, url, payload)
            except Exception:  # one webhook's surprise must not stop the senders
                log.exception("webhook_failed_unexpectedly", url=url)
                delivered = False
            if delivered:
                self.delivered += 1
            else:
                self.given_up += 1
                log.warning("webhook_given_up", url=url)

    async def deliver(self, session: aiohttp.ClientSession, url: str, payload: bytes) -> bool:
        """Up to ``webhook_attempts`` POSTs, backing off between; True once one is 2xx."""
        for attempt in range(self.config.webhook_attempts):
            if attempt:
                await asyncio.sleep(RETRY_BASE_S * 2 ** (attempt - 1))
            try:
                if not self.config.webhook_allow_private and await resolves_private(url):
                    log.warning("webhook_refused", url=url, reason="private address")
                    return False
                async with session.post(
                    url,
                    data=payload,
                    headers={"Content-Type": "application/json"},
                    allow_redirects=False,
                ) as response:
                    if 200 <= response.status < 300:
                        return True
                    log.info("webhook_failed", url=url, status=response.status, attempt=attempt)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.info("webhook_failed", url=url, error=repr(exc), attempt=attempt)
        return False


async def resolves_private(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(5.0):
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return any(is_private_address(str(info[4][0])) for info in infos)


async def open_alerting(app: web.Application) -> AsyncIterator[None]:
    state = app[STATE]
    config = state.config.alerting
    sender = WebhookSender(config)
    evaluator_id = f"edge-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    async with open_alerts(state.services, config, notifier=sender) as service:
        evaluator = AlertEvaluator(service, evaluator_id=evaluator_id)
        app[ALERTS] = service
        # owned here: started with the edge, cancelled and awaited when it closes (an
        # aiohttp cleanup context may end in another task, so no TaskGroup spans the yield)
        tasks = [
            asyncio.create_task(sender.run(), name="alert-webhooks"),
            asyncio.create_task(evaluator.run(), name="alert-evaluator"),
        ]
        try:
            yield
        finally:
            evaluator.stop()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


SURFACE = Surface(name="alerting", routes=(), open=open_alerting)
