"""JWT bearer auth: HS256 with a shared secret, RS256 with a public key file or a JWKS URL.

Claims: ``sub`` (user), ``tenant``, ``roles`` (a list; services/access.py says what ``admin``
and ``worker`` may do), ``brands`` (optional: the hub's brand ids the user may act in,
services/hub/brands.py), ``exp`` (required and checked). A verified token is remembered until
it expires, so the hot paths pay one dict lookup instead of a signature check.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import jwt
import structlog

from prsm_tasks.errors import ServiceUnavailableError, UnauthorizedError, ValidationError
from prsm_tasks.services.access import Principal
from prsm_tasks.services.hub.brands import check_brand_claims, check_tenant_claim

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

log = structlog.get_logger("prsm.edge.auth")

MAX_CLAIM_CHARS = 256
JWKS_REFRESH_MIN_S = 30.0
JWKS_TIMEOUT_S = 5.0


def mint_token(
    secret: str,
    *,
    user: str,
    tenant: str,
    roles: list[str] | tuple[str, ...] = (),
    brands: list[int] | tuple[int, ...] = (),
    ttl_s: float = 3600.0,
    now: float | None = None,
) -> str:
    """An HS256 token for ``secret`` (``prsm-tasks token``, tests, the bench)."""
    if not user or not tenant:
        raise ValidationError("a token needs a user and a tenant", field="user")
    issued = int(now if now is not None else time.time())
    claims = {
        "sub": user,
        "tenant": tenant,
        "roles": list(roles),
        "iat": issued,
        "exp": issued + int(ttl_s),
    }
    if brands:
        claims["brands"] = list(brands)
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass(frozen=True, kw_only=True)
class AuthConfig:
    secret: str | None = None
    public_key_file: Path | None = None
    jwks_url: str | None = None
    audience: str | None = None
    issuer: str | None = None
    leeway_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        return cls(
            secret=settings.jwt_secret,
            public_key_file=settings.jwt_public_key_file,
            jwks_url=settings.jwt_jwks_url,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )

    @property
    def configured(self) -> bool:
        return bool(self.secret or self.public_key_file or self.jwks_url)


class JwtVerifier:
    def __init__(self, config: AuthConfig, *, cache_size: int = 50_000) -> None:
        if not config.configured:
            raise ValidationError(
                "the edge needs PRSM_JWT_SECRET, PRSM_JWT_PUBLIC_KEY_FILE or PRSM_JWT_JWKS_URL",
                field="jwt_secret",
            )
        self.config = config
        self._public_key = (
            config.public_key_file.read_text() if config.public_key_file is not None else None
        )
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._cache_size = cache_size
        self._jwks: dict[str, Any] = {}
        self._jwks_fetched_at = 0.0
        self._jwks_lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def verify_header(self, header: str | None) -> Principal:
        if not header:
            raise UnauthorizedError("missing Authorization: Bearer <token> header")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Principal:
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None:
            principal, expires_at = cached
            if now < expires_at + self.config.leeway_s:
                return principal
            del self._cache[token]
        claims = await self._decode(token)
        principal = principal_of(claims)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[token] = (principal, float(claims["exp"]))
        return principal

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise UnauthorizedError(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        key = await self._key_for(algorithm, header.get("kid"))
        options: dict[str, Any] = {"require": ["exp", "sub"]}
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options=options,
            )
        except jwt.ExpiredSignatureError as exc:
            raise UnauthorizedError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise UnauthorizedError(f"invalid token: {exc}") from exc

    async def _key_for(self, algorithm: object, kid: object) -> Any:
        if algorithm == "HS256" and self.config.secret:
            return self.config.secret
        if algorithm == "RS256" and self._public_key is not None:
            return self._public_key
        if algorithm == "RS256" and self.config.jwks_url:
            return await self._jwks_key(kid)
        raise UnauthorizedError(f"token algorithm {algorithm!r} is not accepted here")

    async def _jwks_key(self, kid: object) -> Any:
        key = self._jwks.get(str(kid))
        if key is not None:
            return key
        async with self._jwks_lock:
            key = self._jwks.get(str(kid))
            if key is None and time.monotonic() - self._jwks_fetched_at > JWKS_REFRESH_MIN_S:
                await self._fetch_jwks()
                key = self._jwks.get(str(kid))
        if key is None:
            raise UnauthorizedError(f"no key {kid!r} in the JWKS")
        return key

    async def _fetch_jwks(self) -> None:
        assert self.config.jwks_url is not None
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=JWKS_TIMEOUT_S)
            )
        self._jwks_fetched_at = time.monotonic()
        try:
            async with self._session.get(self.config.jwks_url) as response:
                response.raise_for_status()
                data = await response.json(content_type=None)
            key_set = jwt.PyJWKSet.from_dict(data)
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            log.warning("jwks_fetch_failed", url=self.config.jwks_url, error=repr(exc))
            raise ServiceUnavailableError(f"cannot read the JWKS: {exc!r}") from exc
        self._jwks = {str(k.key_id): k.key for k in key_set.keys}


def principal_of(claims: dict[str, Any]) -> Principal:
    user, tenant, roles = claims.get("sub"), claims.get("tenant"), claims.get("roles", [])
    for name, value in (("sub", user), ("tenant", tenant)):
        if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_CHARS:
            raise UnauthorizedError(f"token claim {name!r} must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise UnauthorizedError("token claim 'roles' must be a list of strings")
    assert isinstance(user, str) and isinstance(tenant, str)
    try:
        check_tenant_claim(tenant)
        brands = check_brand_claims(claims.get("brands", []))
    except ValidationError as exc:
        raise UnauthorizedError(f"token claim {exc.field!r}: {exc.message}") from exc
    return Principal(user=user, tenant=tenant, roles=frozenset(roles), brands=brands)
