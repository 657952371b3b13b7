"""The schedules as every surface uses them: an index of the bucket, the changes (create,
PATCH, pause, resume, delete, dependencies) with their access rules, routing and monitoring.
No aiohttp: the scheduler surface (``edge/surfaces/scheduler``) is a thin adapter."""
