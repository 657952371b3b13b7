"""Advertiser: the node's capacity advert in PRSM_NODES, renewed every few seconds.

The bucket's TTL removes the advert of a node that dies; a clean shutdown deletes it.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable

import psutil
import structlog
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.messages import NodeAd

log = structlog.get_logger("prsm.advertiser")


class Advertiser:
    def __init__(
        self,
        *,
        kv: KeyValue,
        build_ad: Callable[[], NodeAd],
        interval_s: float,
    ) -> None:
        self._kv = kv
        self._build_ad = build_ad
        self._interval_s = interval_s
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def publish_once(self) -> None:
        ad = self._build_ad()
        await self._kv.put(ad.node_id, wire.pack(ad.model_dump(mode="python")))

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.publish_once()
            except Exception as exc:  # NATS away for a moment: the next tick tries again
                log.warning("advert_failed", error=repr(exc))
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._stopping.wait()
            except TimeoutError:
                pass

    async def withdraw(self, node_id: str) -> None:
        try:
            await self._kv.delete(node_id)
        except Exception as exc:  # best effort: the TTL removes it anyway
            log.warning("advert_withdraw_failed", error=repr(exc))


class ResourceSampler:
    """CPU and memory use of this machine, 0..1, for adverts and /health."""

    def __init__(self) -> None:
        psutil.cpu_percent(interval=None)  # the first call only primes the counter

    def sample(self) -> tuple[float, float]:
        return psutil.cpu_percent(interval=None) / 100.0, psutil.virtual_memory().percent / 100.0


def default_node_id(name: str | None) -> str:
    if name:
        return wire.check_node_name(name)
    host = socket.gethostname().split(".")[0].lower() or "host"
    suffix = wire.new_task_id()[-6:]
    return wire.check_node_name(f"node-{host}-{os.getpid()}-{suffix}")


def host_name() -> str:
    return socket.gethostname()
