"""The tasks hub (seed 003): ``/tasks/…/`` routes over the hub services, one module per app."""
