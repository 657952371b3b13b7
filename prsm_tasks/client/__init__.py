"""Clients: the native NATS client (``Client``) and the HTTP SDK (``client.http``).

``Client`` is exported lazily, so importing the HTTP SDK does not load the NATS stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prsm_tasks.client.native import Client

__all__ = ["Client"]


def __getattr__(name: str) -> Any:
    if name != "Client":
        raise AttributeError(f"module 'prsm_tasks.client' has no attribute {name!r}")
    from prsm_tasks.client.native import Client

    return Client
