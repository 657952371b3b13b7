"""What the inspection commands read from an edge: queues and nodes at a glance."""
