"""Small in-memory mirrors the edge keeps next to its TaskView: node adverts and task types."""

from __future__ import annotations

import time

import structlog

from prsm_tasks import wire
from prsm_tasks.messages import NodeAd
from prsm_tasks.store.type_index import TypeIndex

log = structlog.get_logger("prsm.edge.mirrors")


class NodeView:
    """Live capacity adverts of the peer nodes (PRSM_NODES).

    The bucket's TTL drops an advert without telling watchers, so an advert counts as live
    only while it is younger than ``stale_s``.
    """

    def __init__(self, *, stale_s: float, cache_s: float = 0.25) -> None:
        self.stale_s = stale_s
        self.ads: dict[str, NodeAd] = {}
        # every enqueue asks who serves its queue: answer from a list at most cache_s old
        self._cache_s = cache_s
        self._serving: dict[str, list[NodeAd]] = {}
        self._serving_at = 0.0

    def on_entry(self, key: str, value: bytes | None, rev: int) -> None:
        if value is None:
            self.ads.pop(key, None)
        else:
            self.ads[key] = NodeAd.model_validate(wire.unpack(value))
        self._serving_at = 0.0

    def live(self, now: float | None = None) -> list[NodeAd]:
        cutoff = (now if now is not None else time.time()) - self.stale_s
        return [ad for ad in self.ads.values() if ad.updated_at >= cutoff]

    def serving(self, queue: str, now: float | None = None) -> list[NodeAd]:
        if now is not None:
            return [ad for ad in self.live(now) if queue in ad.queues]
        clock = time.monotonic()
        if clock - self._serving_at > self._cache_s:
            self._serving = {}
            for ad in self.live():
                for served in ad.queues:
                    self._serving.setdefault(served, []).append(ad)
            self._serving_at = clock
        return self._serving.get(queue, [])

    def served_queues(self, now: float | None = None) -> set[str]:
        return {queue for ad in self.live(now) for queue in ad.queues}


# Task types (PRSM_TYPES) with their compiled validators: the same index nodes keep.
TypeView = TypeIndex
