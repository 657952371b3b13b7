"""The dashboard's session cookie and one-time sign-in codes.

Both are Fernet tokens (AES-CBC + HMAC-SHA256, from ``cryptography``) under keys derived
from one secret every edge shares (``PRSM_KEYS``, ``UI_KEY_NAME``): a session made by one
edge is read by any other, and by the same edge after a restart. The cookie carries the
bearer token itself, encrypted, because every request re-verifies that token with the API's
verifier: a session is never more than a way of sending the token the person pasted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

import jwt
from cryptography.fernet import Fernet, InvalidToken

from prsm_tasks.errors import UnauthorizedError
from prsm_tasks.store.signin_codes import CODE_TTL_S

UI_KEY_NAME = "ui_session.v1"
COOKIE_NAME = "prsm_ui"
COOKIE_PATH = "/ui"
SESSION_MAX_S = 12 * 3600  # a session ends at this age or at its token's expiry, if sooner
MAX_TOKEN_CHARS = 8192


def derived_key(secret: bytes, purpose: bytes) -> bytes:
    """A Fernet key of its own for each use of the shared secret."""
    return base64.urlsafe_b64encode(hmac.new(secret, purpose, hashlib.sha256).digest())


def token_expiry(token: str) -> float:
    """The ``exp`` of a token the verifier has accepted (its signature is checked there)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


@dataclass(frozen=True, kw_only=True)
class Session:
    token: str
    csrf: str  # sent back in every form and htmx request that changes something
    expires_at: float


class SessionCodec:
    def __init__(self, secret: bytes) -> None:
        self._session = Fernet(derived_key(secret, b"prsm-ui-session"))
        self._code = Fernet(derived_key(secret, b"prsm-ui-signin-code"))

    # --- the session cookie ------------------------------------------------------------------

    def new_session(self, token: str, *, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        expires_at = min(token_expiry(token), now + SESSION_MAX_S)
        return Session(token=token, csrf=secrets.token_urlsafe(24), expires_at=expires_at)

    def seal(self, session: Session) -> str:
        body = json.dumps({"t": session.token, "c": session.csrf, "e": session.expires_at})
        return self._session.encrypt(body.encode()).decode()

    def open(self, cookie: str | None, *, now: float | None = None) -> Session:
        """The session of a cookie; 401 when absent, altered, or past its end."""
        if not cookie:
            raise UnauthorizedError("not signed in")
        try:
            body = json.loads(self._session.decrypt(cookie.encode(), ttl=SESSION_MAX_S))
        except (InvalidToken, ValueError) as exc:
            raise UnauthorizedError("the session is not valid; sign in again") from exc
        session = Session(token=body["t"], csrf=body["c"], expires_at=float(body["e"]))
        if (time.time() if now is None else now) >= session.expires_at:
            raise UnauthorizedError("the session has expired; sign in again")
        return session

    # --- one-time sign-in codes ----------------------------------------------------------------

    def make_code(self, token: str) -> str:
        """A code for ``token``, exchangeable once within ``CODE_TTL_S``."""
        body = json.dumps({"t": token, "n": secrets.token_urlsafe(16)})
        return self._code.encrypt(body.encode()).decode()

    def open_code(self, code: str) -> tuple[str, str]:
        """(token, nonce) of a code; 401 when altered or older than ``CODE_TTL_S``."""
        try:
            body = json.loads(self._code.decrypt(code.encode(), ttl=int(CODE_TTL_S)))
        except (InvalidToken, ValueError) as exc:
            raise UnauthorizedError("this sign-in link is not valid or has expired") from exc
        return str(body["t"]), str(body["n"])


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
