"""Clients: the native NATS client (``Client``) and the HTTP SDK (``client.http``)."""

from prsm_tasks.client.native import Client

__all__ = ["Client"]
