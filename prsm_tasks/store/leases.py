"""Leases on work one node does for the whole deployment (the repair), in PRSM_LEASES.

A lease is one key whose value names its holder, when it expires, and how far the holder
got (``cursor``). Any node may hold it, none for good: it is taken with a ``create`` (exactly
one writer wins) or, once expired, with an update on the revision read; the holder keeps it
by updating on the revision it wrote itself. An update that fails means someone else took it
(the holder was away longer than the lease), and the holder stops. A holder that stops gives
the lease up (``expires_at`` 0: the next node takes it at once); one that dies leaves it to
expire. The cursor outlives its holder, so the next one goes on where the last stopped.

Expiry is judged by the taker's clock: clocks that differ by less than the lease minus the
renewal interval cannot make two holders; if they did, the loser's next renewal fails, and
the work done under a lease is idempotent anyway.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import nats.js.errors
import structlog
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm

log = structlog.get_logger("prsm.store.leases")


@dataclass(frozen=True, slots=True)
class LeaseValue:
    holder: str
    expires_at: float
    cursor: int

    def encode(self) -> bytes:
        return wire.pack(
            {"holder": self.holder, "expires_at": self.expires_at, "cursor": self.cursor}
        )

    @classmethod
    def decode(cls, data: bytes) -> LeaseValue:
        fields = wire.unpack(data)
        return cls(
            holder=str(fields["holder"]),
            expires_at=float(fields["expires_at"]),
            cursor=int(fields["cursor"]),
        )


class KvLease:
    """One holder's view of the lease ``key``: ``acquire``, ``renew``, ``give_up``."""

    def __init__(self, kv: KeyValue, key: str, *, holder: str, lease_s: float) -> None:
        self._kv = kv
        self._key = key
        self.holder = holder
        self.lease_s = lease_s
        self._rev: int | None = None  # the revision of our own last write, while we hold it

    @property
    def held(self) -> bool:
        return self._rev is not None

    async def acquire(self) -> int | None:
        """Take the lease if it is free or expired (or ours): its cursor, else None."""
        with nats_errors_as_prsm(f"reading the lease {self._key}"):
            try:
                entry = await self._kv.get(self._key)
            except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                entry = None
        if entry is None or entry.value is None or entry.revision is None:
            return await self._create()
        current = LeaseValue.decode(entry.value)
        if current.holder != self.holder and current.expires_at > time.time():
            return None
        # expired, given up, or ours from before a restart: take it on the revision read,
        # so of two nodes that saw it expire only one gets it
        if await self._write(current.cursor, last_rev=entry.revision):
            log.info("lease_taken", lease=self._key, previous=current.holder)
            return current.cursor
        return None

    async def renew(self, cursor: int) -> bool:
        """Keep the lease and record ``cursor``; False: it was lost (stop working under it)."""
        if self._rev is None:
            return False
        if await self._write(cursor, last_rev=self._rev):
            return True
        log.warning("lease_lost", lease=self._key, holder=self.holder)
        return False

    async def give_up(self, cursor: int) -> None:
        """Stopping: let the next node take it at once, from ``cursor``."""
        if self._rev is None:
            return
        with nats_errors_as_prsm(f"giving up the lease {self._key}"):
            value = LeaseValue(holder=self.holder, expires_at=0.0, cursor=cursor)
            with contextlib.suppress(nats.js.errors.KeyWrongLastSequenceError):  # taken already
                await self._kv.update(self._key, value.encode(), last=self._rev)
        self._rev = None

    async def _create(self) -> int | None:
        value = LeaseValue(holder=self.holder, expires_at=time.time() + self.lease_s, cursor=0)
        with nats_errors_as_prsm(f"taking the lease {self._key}"):
            try:
                self._rev = await self._kv.create(self._key, value.encode())
            except nats.js.errors.KeyWrongLastSequenceError:
                return None  # another node created it first
        log.info("lease_taken", lease=self._key, previous=None)
        return 0

    async def _write(self, cursor: int, *, last_rev: int) -> bool:
        value = LeaseValue(holder=self.holder, expires_at=time.time() + self.lease_s, cursor=cursor)
        with nats_errors_as_prsm(f"writing the lease {self._key}"):
            try:
                self._rev = await self._kv.update(self._key, value.encode(), last=last_rev)
            except nats.js.errors.KeyWrongLastSequenceError:
                self._rev = None
                return False
        return True
