"""The asyncio actors of a peer node: each owns its state and is restarted by its supervisor."""
