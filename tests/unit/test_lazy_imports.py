"""The package exports lazily: the HTTP SDK loads no node, actor or edge code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import prsm_tasks
import prsm_tasks.services

NODE_SIDE = ("prsm_tasks.actors", "prsm_tasks.node", "prsm_tasks.edge", "prsm_tasks.services")


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


def test_the_services_load_no_http_or_node_code() -> None:
    """The service layer is usable without the HTTP code, by any surface or script (nats-py
    itself imports aiohttp, so that is checked in the services' own imports)."""
    probe = (
        "import pkgutil, importlib, sys, prsm_tasks.services as services\n"
        "for info in pkgutil.iter_modules(services.__path__):\n"
        "    importlib.import_module(f'prsm_tasks.services.{info.name}')\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('prsm_tasks'))))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "prsm_tasks.services.tasks" in loaded
    forbidden = ("prsm_tasks.edge", "prsm_tasks.actors", "prsm_tasks.node")
    leaked = [
        name for name in loaded if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]
    assert leaked == []
    for path in Path(prsm_tasks.services.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not [n for n in names if n.split(".")[0] == "aiohttp"], path.name


def test_the_node_command_loads_no_edge_or_jwt_code() -> None:
    """`prsm-tasks node` imports what a node runs, nothing of the edge: start-up time is
    import time (docs/benchmarks.md, "Node start")."""
    probe = (
        "import sys, prsm_tasks.cli, prsm_tasks.node, prsm_tasks.handlers\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "prsm_tasks.node" in loaded
    not_for_a_node = ("prsm_tasks.edge", "prsm_tasks.up", "prsm_tasks.services", "jwt")
    # the meta-schema check of the Python jsonschema runs only where a schema is registered
    not_for_a_node += ("jsonschema",)
    leaked = [
        name
        for name in loaded
        if any(name == side or name.startswith(side + ".") for side in not_for_a_node)
    ]
    assert leaked == []
