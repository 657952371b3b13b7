"""The task list and task types (seed 001): /api/tasks, /api/task-types."""
