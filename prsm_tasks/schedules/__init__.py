"""Schedules: recurring and one-off job definitions (the scheduler API's "tasks").

Pure domain code, below the stores and the services: the time rules (cron, interval,
one-time, in an IANA time zone), the misfire plan the firing step applies, the schedule
record, the dependency graph check and the timer seam. No NATS, no aiohttp.
"""
