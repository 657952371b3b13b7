"""Stream grants: short-lived, signed permission to read one task's events.

A browser's ``EventSource`` cannot send an ``Authorization`` header, so the ``stream_url``
that enqueue returns carries a grant in its query (``?grant=...``) instead. The grant is an
HMAC, with the deployment's shared key (``store.keys.shared_key``), over the task id, the
tenant, the user and an expiry: any edge checks it, it reads that one stream only, and it is
never a copy of the caller's token.

Format: ``g1.<expiry, unix seconds>.<base64url HMAC-SHA256, unpadded>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from prsm_tasks.errors import ValidationError

GRANT_PARAM = "grant"
GRANT_VERSION = "g1"
# a grant outlives the task's every attempt by this much (queueing, delays, a slow reader)
GRANT_MARGIN_S = 3600.0
MAX_GRANT_LIFETIME_S = 7 * 86_400.0
# "g1." + up to 12 digits + "." + 43 characters of MAC; anything longer is not ours
MAX_GRANT_CHARS = 64
MAC_CHARS = 43
MIN_KEY_BYTES = 16


def grant_lifetime_s(timeout_s: float, retries: int) -> float:
    """How long a grant for a task with this timeout and these retries lives: every
    attempt's timeout plus ``GRANT_MARGIN_S``, at most ``MAX_GRANT_LIFETIME_S``."""
    if not math.isfinite(timeout_s):
        return MAX_GRANT_LIFETIME_S  # no timeout: as long as any grant may live
    running_s = max(0.0, timeout_s) * (max(0, retries) + 1)
    return min(running_s + GRANT_MARGIN_S, MAX_GRANT_LIFETIME_S)


def with_grant(url: str, grant: str) -> str:
    """``url`` with the grant in its query, replacing any grant already there."""
    if "?" not in url and "#" not in url:
        # the edge's own stream URLs (every enqueue): nothing to keep or replace
        return f"{url}?{urlencode(((GRANT_PARAM, grant),))}"
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != GRANT_PARAM]
    query.append((GRANT_PARAM, grant))
    return urlunsplit(parts._replace(query=urlencode(query)))


class StreamGrants:
    """Signs and checks stream grants with one key; ``clock`` is a seam for tests."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValidationError(f"a grant key needs {MIN_KEY_BYTES} bytes at least", field="key")
        self._key = key
        self._clock = clock

    def sign(self, task_id: str, tenant: str | None, user: str | None, lifetime_s: float) -> str:
        """A grant to read ``task_id``'s events as (tenant, user), for ``lifetime_s``."""
        if not 0 < lifetime_s <= MAX_GRANT_LIFETIME_S:
            raise ValidationError(
                f"a grant lives up to {MAX_GRANT_LIFETIME_S:.0f} s, not {lifetime_s}",
                field="lifetime_s",
            )
        expires_at = math.ceil(self._clock() + lifetime_s)
        return f"{GRANT_VERSION}.{expires_at}.{self._mac(task_id, tenant, user, expires_at)}"

    def check(self, grant: object, task_id: str, tenant: str | None, user: str | None) -> bool:
        """True only for an unexpired grant this key signed for exactly these three; any
        other input (foreign, tampered, truncated, huge, not a string) is False, never raised."""
        if not isinstance(grant, str) or len(grant) > MAX_GRANT_CHARS or not grant.isascii():
            return False
        version, _, rest = grant.partition(".")
        expiry, _, mac = rest.partition(".")
        if version != GRANT_VERSION or len(mac) != MAC_CHARS:
            return False
        if not (expiry.isdigit() and len(expiry) <= 12 and expiry == str(int(expiry))):
            return False  # one spelling per grant: no leading zeros
        expires_at = int(expiry)
        expected = self._mac(task_id, tenant, user, expires_at)
        # compare first, in constant time, then look at the clock
        if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
            return False
        return self._clock() < expires_at

    def _mac(self, task_id: str, tenant: str | None, user: str | None, expires_at: int) -> str:
        # JSON keeps the fields apart (no separator inside a value can shift them) and tells
        # a missing tenant or user from an empty one
        signed = json.dumps([GRANT_VERSION, task_id, tenant, user, expires_at]).encode()
        digest = hmac.digest(self._key, signed, hashlib.sha256)  # one call: no HMAC object
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
