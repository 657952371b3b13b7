"""What every request handler of one edge shares: its configuration, the services, the
token verifier and the rate limiter, on the app as ``STATE``."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from prsm_tasks import bus, wire
from prsm_tasks.config import Settings
from prsm_tasks.edge.http.auth import AuthConfig, JwtVerifier
from prsm_tasks.edge.http.ratelimit import RateLimiter
from prsm_tasks.services.access import Principal
from prsm_tasks.services.core import QueueRules, Services
from prsm_tasks.store.opener import Connection


@dataclass(frozen=True, kw_only=True)
class EdgeConfig:
    servers: list[str]
    auth: AuthConfig
    host: str = "127.0.0.1"
    port: int = 8080
    queues: tuple[str, ...] = wire.STANDARD_QUEUES
    disabled_queues: frozenset[str] = frozenset()
    rate_limit_per_s: float = 100.0
    rate_limit_burst: int = 200
    max_body_bytes: int = 1_048_576
    max_task_data_bytes: int = 1_048_576
    node_stale_s: float = 10.0
    topology: bus.Topology = field(default_factory=bus.Topology)
    name: str = "prsm-edge"

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeConfig:
        return cls(
            servers=settings.servers,
            host=settings.host,
            port=settings.port,
            auth=AuthConfig.from_settings(settings),
            queues=tuple(settings.queues),
            disabled_queues=frozenset(settings.disabled_queues),
            rate_limit_per_s=settings.rate_limit_per_second,
            rate_limit_burst=settings.rate_limit_burst,
            max_body_bytes=settings.max_body_bytes,
            max_task_data_bytes=settings.max_task_data_bytes,
            node_stale_s=settings.node_stale_seconds,
            topology=bus.Topology.from_settings(settings),
        )

    @property
    def connection(self) -> Connection:
        return Connection(
            servers=self.servers,
            name=self.name,
            topology=self.topology,
            max_task_data_bytes=self.max_task_data_bytes,
        )

    @property
    def rules(self) -> QueueRules:
        return QueueRules(
            queues=self.queues, disabled_queues=self.disabled_queues, node_stale_s=self.node_stale_s
        )


@dataclass(kw_only=True)
class EdgeState:
    config: EdgeConfig
    services: Services
    verifier: JwtVerifier
    limiter: RateLimiter

    async def authenticate(self, header: str | None) -> Principal:
        """The caller of a bearer ``header``; 401 otherwise, 503 while NATS is away."""
        principal = await self.verifier.verify_header(header)
        self.services.check_connected()
        return principal


STATE: web.AppKey[EdgeState] = web.AppKey("prsm_edge_state", EdgeState)
