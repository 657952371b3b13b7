"""What every request handler of one edge shares: its configuration, the services, the
token verifier and the rate limiter, on the app as ``STATE``."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from prsm_tasks.config import Settings
from prsm_tasks.edge.http.auth import AuthConfig, JwtVerifier
from prsm_tasks.edge.http.origin import PublicOrigin
from prsm_tasks.edge.http.ratelimit import RateLimiter
from prsm_tasks.errors import UnauthorizedError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.alerts.core import AlertingConfig
from prsm_tasks.services.core import QueueRules, Services
from prsm_tasks.services.quotas import Quotas
from prsm_tasks.store.opener import Connection

EDGE_NAME = "prsm-edge"  # of its NATS connection


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    """An edge's configuration: a slice of the settings for each part that reads one (the
    connection and stores, the queue rules of the services, the token verifier), and the
    HTTP server's own."""

    connection: Connection
    auth: AuthConfig
    rules: QueueRules = field(default_factory=QueueRules)
    host: str = "127.0.0.1"
    port: int = 8080
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 200
    max_body_bytes: int = 1_048_576
    quotas: Quotas = field(default_factory=Quotas)
    origin: PublicOrigin = field(default_factory=PublicOrigin)  # of the URLs it answers
    sse_replay_max_events: int = 10_000
    alerting: AlertingConfig = field(default_factory=AlertingConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeConfig:
        return cls(
            connection=Connection.from_settings(settings, name=EDGE_NAME),
            auth=AuthConfig.from_settings(settings),
            rules=QueueRules.from_settings(settings),
            host=settings.host,
            port=settings.port,
            rate_limit_per_s=settings.rate_limit_per_second,
            rate_limit_burst=settings.rate_limit_burst,
            max_body_bytes=settings.max_body_bytes,
            quotas=Quotas.from_settings(settings),
            origin=PublicOrigin.from_settings(settings),
            sse_replay_max_events=settings.sse_replay_max_events,
            alerting=AlertingConfig.from_settings(settings),
        )


@dataclass(kw_only=True)
class EdgeState:
    config: EdgeConfig
    services: Services
    verifier: JwtVerifier
    limiter: RateLimiter

    async def authenticate(self, header: str | None, *, grant_given: bool) -> Principal:
        """The caller of a bearer ``header``; 401 otherwise, 503 while NATS is away.

        ``grant_given``: the request carries a stream grant and no header; a grant reads
        its task's event stream only (those routes check it themselves), so it is refused
        here by name rather than as a missing header.
        """
        if not header and grant_given:
            raise UnauthorizedError(
                "a stream grant is accepted only by the event stream of its task; "
                "send Authorization: Bearer <token>"
            )
        principal = await self.verifier.verify_header(header)
        self.services.check_connected()
        return principal


STATE: web.AppKey[EdgeState] = web.AppKey("prsm_edge_state", EdgeState)
