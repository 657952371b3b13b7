"""Credentials of a NATS connection, kept out of logs and errors.

``bus.connect`` takes a ``NatsAuth``; a user and password in a server URL work too (nats-py
reads them), and ``redact_url`` hides such a password wherever a URL is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import nats.errors

from prsm_tasks.errors import ServiceUnavailableError

if TYPE_CHECKING:
    from prsm_tasks.config import Settings


@dataclass(frozen=True, kw_only=True)
class NatsAuth:
    """A user and password for a NATS server that requires them; empty: none. The password
    never shows in a repr, a log line or an error."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> NatsAuth:
        password = settings.nats_password.get_secret_value() if settings.nats_password else None
        if settings.nats_password_file is not None:
            try:
                password = settings.nats_password_file.read_text().strip()
            except OSError as exc:
                raise ServiceUnavailableError(
                    f"cannot read the NATS password file {settings.nats_password_file}: "
                    f"{exc.strerror}"
                ) from exc
        return cls(user=settings.nats_user, password=password)

    def connect_options(self) -> dict[str, str]:
        if self.user is None:
            return {}
        return {"user": self.user, "password": self.password or ""}


class CredentialsRefusedError(Exception):
    """Raised from the error callback to end a first connect that the server refused."""


def is_auth_refusal(exc: Exception) -> bool:
    return isinstance(exc, nats.errors.AuthorizationError) or (
        isinstance(exc, nats.errors.Error) and "authorization violation" in str(exc).lower()
    )


def redact_url(url: str) -> str:
    """``url`` without the password it may carry (``nats://user:***@host:4222``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))
