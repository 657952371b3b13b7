"""The dashboard: server-rendered pages over the services, at ``/ui/`` on every edge."""
