"""Secrets every edge of a deployment shares, in the PRSM_KEYS bucket.

A key is made once, by whichever process asks first, and read by every other: the first
``create`` wins the race and the losers read the winner's key back. A signature made by one
edge (a stream grant, see ``services/grants.py``) is then checked by any other.
"""

from __future__ import annotations

import re
import secrets

import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from prsm_tasks import wire
from prsm_tasks.bus import nats_errors_as_prsm
from prsm_tasks.errors import PrsmError, ServiceUnavailableError, ValidationError

KEY_BYTES = 32
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# a create that lost its race to a key deleted just after: read, create, read again
READ_OR_CREATE_TRIES = 3


class SharedKeyError(PrsmError):
    """The stored key is not a key (not ``KEY_BYTES`` long): refuse to sign with it."""

    code = "shared_key_invalid"


async def shared_key(js: JetStreamContext, name: str) -> bytes:
    """The deployment's secret ``name`` (``KEY_BYTES`` random bytes), made on first use.

    Safe when several edges start at once: each tries to create it; every one gets the same.
    """
    if not KEY_NAME_RE.fullmatch(name):
        raise ValidationError(f"key name must match {KEY_NAME_RE.pattern}", field="name")
    with nats_errors_as_prsm(f"opening the {wire.KEYS_BUCKET} bucket"):
        try:
            kv = await js.key_value(wire.KEYS_BUCKET)
        except nats.js.errors.BucketNotFoundError as exc:
            raise ServiceUnavailableError(
                f"the {wire.KEYS_BUCKET} bucket does not exist (topology not created)"
            ) from exc
    for _ in range(READ_OR_CREATE_TRIES):
        stored = await _read(kv, name)
        if stored is None:
            stored = await _create(kv, name, secrets.token_bytes(KEY_BYTES))
        if stored is not None:
            if len(stored) != KEY_BYTES:
                raise SharedKeyError(f"{wire.KEYS_BUCKET} key {name} is not {KEY_BYTES} bytes")
            return stored
    raise ServiceUnavailableError(f"{wire.KEYS_BUCKET} key {name} kept changing; try again")


async def _read(kv: KeyValue, name: str) -> bytes | None:
    try:
        with nats_errors_as_prsm(f"reading {name} of {wire.KEYS_BUCKET}"):
            entry = await kv.get(name)
    except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
        return None
    return entry.value


async def _create(kv: KeyValue, name: str, key: bytes) -> bytes | None:
    """``key`` if it was stored; the key another process stored first; None: read again."""
    try:
        with nats_errors_as_prsm(f"creating {name} in {wire.KEYS_BUCKET}"):
            await kv.create(name, key)
    except nats.js.errors.KeyWrongLastSequenceError:
        # another edge created it between our read and our create: theirs is the key
        return await _read(kv, name)
    return key
