"""What every surface shares, below the HTTP edge and above the store: no aiohttp here.

Enqueue, cancel, read, list, stats, the queue rules, the task list, stream grants. No node
code either: a surface parses its own shapes, calls these, and maps the answers back to its
own shapes.
"""
