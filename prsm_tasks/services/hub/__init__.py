"""The tasks hub (seed 003) as services: brands as tenant scopes, the hub's view of a task,
its filters, retry, queue stats, and periodic tasks over the schedules. No aiohttp here."""
