"""The package exports lazily: the HTTP SDK loads no node, actor or edge code."""

from __future__ import annotations

import subprocess
import sys

import prsm_tasks

NODE_SIDE = ("prsm_tasks.actors", "prsm_tasks.node", "prsm_tasks.edge")


def test_importing_the_http_sdk_loads_no_node_or_edge_code() -> None:
    # a fresh interpreter: this test process has long imported everything
    probe = (
        "import sys, prsm_tasks.client.http\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('prsm_tasks'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "prsm_tasks.client.http" in loaded
    leaked = [
        name
        for name in loaded
        if any(name == side or name.startswith(side + ".") for side in NODE_SIDE)
    ]
    assert leaked == []


def test_every_exported_name_resolves() -> None:
    from prsm_tasks import Client, Node, TaskContext, handler  # the documented imports

    assert Node.__name__ == "Node" and Client.__name__ == "Client"
    assert TaskContext.__name__ == "TaskContext" and callable(handler)
    for name in prsm_tasks.__all__:
        assert getattr(prsm_tasks, name) is not None
    assert set(prsm_tasks.__all__) <= set(dir(prsm_tasks))


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        prsm_tasks.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("prsm_tasks.NoSuchThing resolved")
