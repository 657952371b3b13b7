"""The edge's base URL as its clients reach it, for the absolute URLs it answers
(``stream_url``).

Behind a TLS proxy the request the edge sees is plain ``http`` to its own address, so the URL
is taken, in this order, from:

1. ``PRSM_PUBLIC_URL`` when it is set. It wins: the operator configured it, and nothing a
   client sends can change it. A path prefix (``https://example.com/prsm``) is kept.
2. For a request whose peer is a trusted proxy (``PRSM_TRUSTED_PROXIES``), the scheme and
   host that proxy forwarded: the ``Forwarded`` header (RFC 7239) when present, else
   ``X-Forwarded-Proto`` and ``X-Forwarded-Host``. Through a chain of proxies, the entry
   written by the outermost proxy that is still trusted counts, so list every one of them.
3. The request's own scheme and ``Host`` header.

Forwarded headers from any other peer are ignored: anyone could send them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from prsm_tasks.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = frozenset({"http", "https"})
# a host name, an IPv4 address or a bracketed IPv6 address, and an optional port
HOST_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?"
)


@dataclass(frozen=True, kw_only=True)
class PublicOrigin:
    public_url: str | None = None
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicOrigin:
        return cls(
            public_url=settings.public_url,
            trusted_proxies=parse_networks(settings.trusted_proxies),
        )

    def url_of(self, request: web.Request, path: str) -> str:
        """The absolute URL of ``path`` on this edge, as the client of ``request`` reaches it."""
        if self.public_url is not None:
            return f"{self.public_url.rstrip('/')}{path}"
        scheme, host = request.scheme, request.host
        if self.trusted(request.remote):
            forwarded_scheme, forwarded_host = self.forwarded(request)
            scheme = forwarded_scheme or scheme
            host = forwarded_host or host
        return f"{scheme}://{host}{path}"

    def trusted(self, address: str | None) -> bool:
        if not self.trusted_proxies:
            return False  # the usual case: no address to parse on every enqueue
        ip = parse_address(address)
        return ip is not None and any(ip in network for network in self.trusted_proxies)

    def forwarded(self, request: web.Request) -> tuple[str | None, str | None]:
        """(scheme, host) that the trusted proxies forwarded; None for what they did not."""
        if request.forwarded:
            chosen = request.forwarded[-1]  # written by the peer, which is trusted
            for element in reversed(request.forwarded):
                chosen = element
                if not self.trusted(element.get("for")):
                    break  # the proxy that wrote it saw the client itself
            return checked_scheme(chosen.get("proto")), checked_host(chosen.get("host"))
        chain = comma_list(request.headers.get("X-Forwarded-For"))
        hops = 1
        for address in reversed(chain):
            if not self.trusted(address):
                break
            hops += 1
        protos = comma_list(request.headers.get("X-Forwarded-Proto"))
        hosts = comma_list(request.headers.get("X-Forwarded-Host"))
        return checked_scheme(hop_value(protos, hops)), checked_host(hop_value(hosts, hops))


def parse_networks(proxies: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy.strip(), strict=False) for proxy in proxies)


def parse_address(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP of a peer or of a ``for=`` value (``1.2.3.4:5``, ``[::1]:5``, ``::1``)."""
    if not address:
        return None
    text = address.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else text[1:]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # "unknown", an obfuscated name: not a proxy of ours


def comma_list(header: str | None) -> list[str]:
    return [part.strip() for part in (header or "").split(",") if part.strip()]


def hop_value(values: list[str], hops: int) -> str | None:
    """The value the ``hops``-th proxy from the edge appended (the oldest one if the chain
    is shorter: a proxy that overwrites the header instead of appending to it)."""
    if not values:
        return None
    return values[-min(hops, len(values))]


def checked_scheme(value: str | None) -> str | None:
    scheme = (value or "").strip().lower()
    return scheme if scheme in SCHEMES else None


def checked_host(value: str | None) -> str | None:
    host = (value or "").strip()
    return host if HOST_RE.fullmatch(host) else None
