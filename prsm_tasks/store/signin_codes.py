"""Used one-time sign-in codes of the dashboard, in the PRSM_UI_CODES bucket.

A code (``edge/surfaces/ui/session.py``) is exchanged for a session once: the exchange
``create``s the code's nonce here, and a second exchange, on this edge or any other, finds
the key taken. The bucket's TTL outlives every code (a code lives ``CODE_TTL_S``), so a
nonce is remembered for as long as its code could be presented, and no longer.
"""

from __future__ import annotations

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue

from prsm_tasks.bus import nats_errors_as_prsm

USED_CODES_BUCKET = "PRSM_UI_CODES"
CODE_TTL_S = 300.0
USED_TTL_S = 2 * CODE_TTL_S  # longer than any code is valid, clocks a little apart
ERR_STREAM_NAME_IN_USE = 10058


class UsedCodes:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> UsedCodes:
        """The bucket, created by the first edge that needs it (a dashboard is optional:
        the core topology does not carry it)."""
        with nats_errors_as_prsm(f"opening the {USED_CODES_BUCKET} bucket"):
            try:
                return cls(await js.key_value(USED_CODES_BUCKET))
            except nats.js.errors.BucketNotFoundError:
                pass
            try:
                await js.create_key_value(
                    KeyValueConfig(
                        bucket=USED_CODES_BUCKET,
                        history=1,
                        ttl=USED_TTL_S,
                        storage=StorageType.FILE,  # a restart must not make a code usable again
                    )
                )
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != ERR_STREAM_NAME_IN_USE:  # another edge made it first
                    raise
            return cls(await js.key_value(USED_CODES_BUCKET))

    async def claim(self, nonce: str) -> bool:
        """True for the first use of ``nonce`` anywhere in the deployment, False after."""
        with nats_errors_as_prsm("recording a used sign-in code"):
            try:
                await self._kv.create(nonce, b"1")
            except nats.js.errors.KeyWrongLastSequenceError:
                return False
        return True
