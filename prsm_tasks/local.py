"""Where a local ``prsm-tasks up`` can be reached: ``<data dir>/endpoints.json``.

``up`` writes it once its servers listen (it may have picked free ports) and removes it when
it stops, so ``prsm-tasks watch`` and ``enqueue`` without flags find the local system.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

ENDPOINTS_FILE = "endpoints.json"


def write_endpoints(data_dir: Path, **urls: str) -> Path:
    """Merge ``urls`` (for example ``nats=…``, ``edge=…``) into the data dir's endpoints file."""
    path = data_dir / ENDPOINTS_FILE
    current = read_endpoints(data_dir)
    current.update(urls)
    current["pid"] = str(os.getpid())
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(current, indent=2) + "\n")
    temporary.replace(path)
    return path


def read_endpoints(data_dir: Path) -> dict[str, str]:
    try:
        loaded = json.loads((data_dir / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return (
        {str(key): str(value) for key, value in loaded.items()} if isinstance(loaded, dict) else {}
    )


def remove_endpoints(data_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (data_dir / ENDPOINTS_FILE).unlink()
