"""The scheduler API (seed 004, ``/api/v1/...``): schedules ("tasks" in that document),
their dependencies, bulk operations, and the monitoring routes."""
