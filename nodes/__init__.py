"""The repo's runnable node programs (``python -m nodes.examples``, ``python -m nodes.print_events``
from the repo root); not part of the installed package."""
