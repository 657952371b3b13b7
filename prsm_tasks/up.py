"""`prsm-tasks up`: a nats-server, a node and an edge on localhost, in one command.

The data dir and the ports are checked first, the secrets made, the server started with its
credentials, then the node, then the edge; "up" is said only when all of them serve.
"""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from prsm_tasks.config import Settings
from prsm_tasks.edge.app import open_edge
from prsm_tasks.edge.http.app import RunningEdge
from prsm_tasks.edge.http.auth import mint_token
from prsm_tasks.edge.http.state import EdgeConfig
from prsm_tasks.edge.surfaces.ui.state import UI
from prsm_tasks.errors import PortInUseError
from prsm_tasks.handlers import import_handler_modules
from prsm_tasks.local import (
    EXAMPLE_HANDLERS,
    LOCAL_NATS_USER,
    NATS_PASSWORD_FILE,
    check_port_free,
    hold_data_dir,
    install_stop_signals,
    jwt_secret_of,
    port_in_use,
    prepare_data_dir,
    private_secret,
    remove_endpoints,
    write_endpoints,
)
from prsm_tasks.nats_auth import NatsAuth
from prsm_tasks.node import Node

LOCAL_TOKEN_TTL_S = 86_400.0


async def cmd_up(settings: Settings) -> int:
    """Check the data dir and the ports, make the secrets, start the nats-server with its
    credentials, then the node, then the edge; say "up" only when all of them serve. Ctrl-C,
    SIGTERM or a failure after the server started: the edge closes, the node stops by its
    graceful path, the server stops."""
    data_dir = prepare_data_dir(settings.data_dir)
    with hold_data_dir(data_dir):
        return await _up_in(data_dir, settings)


async def _up_in(data_dir: Path, settings: Settings) -> int:
    from prsm_tasks.embedded import EmbeddedNats

    check_port_free("127.0.0.1", settings.nats_port, what="NATS", flag="--nats-port")
    check_port_free(settings.host, settings.port, what="edge", flag="--port")
    if settings.port and settings.port == settings.nats_port:
        raise PortInUseError(f"--port and --nats-port are both {settings.port}: give two ports")
    auth = NatsAuth(user=LOCAL_NATS_USER, password=private_secret(data_dir / NATS_PASSWORD_FILE))
    server = EmbeddedNats(store_dir=data_dir / "nats", port=settings.nats_port, auth=auth)
    server.start()
    try:
        write_endpoints(data_dir, nats=server.url)  # how the other commands find us
        settings = settings.model_copy(
            update={
                "servers": [server.url],
                "nats_user": LOCAL_NATS_USER,
                "nats_password": None,
                "nats_password_file": data_dir / NATS_PASSWORD_FILE,
                "jwt_secret": jwt_secret_of(settings, data_dir),
            }
        )
        registry = import_handler_modules([EXAMPLE_HANDLERS, *settings.handlers])
        own_queues = import_handler_modules(settings.handlers).queues
        settings = settings.model_copy(update={"queues": up_queues(settings, own_queues)})
        node = Node.from_settings(settings, handlers=registry)
        stopping = asyncio.Event()
        install_stop_signals(stopping.set)

        def announce(edge: RunningEdge) -> None:
            write_endpoints(data_dir, edge=edge.url)
            print_up(settings, data_dir, server.url, node, edge)

        await serve_node_and_edge(settings, node, stopping, on_ready=announce)
        return 0
    finally:
        remove_endpoints(data_dir)
        server.stop()
        print("prsm-tasks stopped", flush=True)


async def serve_node_and_edge(
    settings: Settings,
    node: Node,
    stopping: asyncio.Event,
    *,
    on_ready: Callable[[RunningEdge], None],
) -> None:
    """Run the node, open the edge once the node is ready, serve until ``stopping``. What
    fails on the way is raised as it is, once the node has stopped by its graceful path."""
    failure: Exception | None = None
    try:
        async with asyncio.TaskGroup() as group:
            node_task = group.create_task(node.run())
            try:
                await _wait_first(node.ready.wait(), node_task)
                async with open_edge(EdgeConfig.from_settings(settings)) as edge:
                    on_ready(edge)
                    await stopping.wait()
            except OSError as exc:
                failure = exc
                if exc.errno == errno.EADDRINUSE:  # taken since it was checked
                    failure = port_in_use(settings.host, settings.port, what="edge", flag="--port")
            except Exception as exc:  # raised below, after the node's graceful stop
                failure = exc
            finally:
                node.stop()
    except ExceptionGroup as failed:  # the node itself failed: why, without the group
        raise failed.exceptions[0] from None
    if failure is not None:
        raise failure


def print_dashboard_link(jwt_secret: str, edge: RunningEdge) -> None:
    """A one-time sign-in link to the dashboard, as the tenant's admin (whoever runs ``up``
    owns the local tenant): it works once, within five minutes; then paste a token."""
    ui = edge.app.get(UI)
    if ui is None:
        return
    admin = mint_token(
        jwt_secret, user="local-user", tenant="local", roles=["admin"], ttl_s=LOCAL_TOKEN_TTL_S
    )
    link = f"{edge.url}/ui/signin/link?{urlencode({'code': ui.codec.make_code(admin)})}"
    print(f"  dashboard (one-time link, 5 min): {link}", flush=True)


def print_up(
    settings: Settings, data_dir: Path, nats_url: str, node: Node, edge: RunningEdge
) -> None:
    print(f"prsm-tasks is up (data in {data_dir})", flush=True)
    password_file = data_dir / NATS_PASSWORD_FILE
    print(f"  nats:  {nats_url}  (user {LOCAL_NATS_USER}, password in {password_file})")
    print(f"  node:  {node.node_id} capacity={node.capacity} queues={len(node.queues)}")
    print(f"  edge:  {edge.url}  (docs: {edge.url}/docs)", flush=True)
    if settings.jwt_secret:
        token = mint_token(
            settings.jwt_secret, user="local-user", tenant="local", ttl_s=LOCAL_TOKEN_TTL_S
        )
        print("  token for user local-user, tenant local (24 h):")
        print(f"  export TOKEN={token}")
        print_dashboard_link(settings.jwt_secret, edge)
    print("  stop with Ctrl-C", flush=True)


def up_queues(settings: Settings, own_queues: list[str]) -> list[str]:
    """What `up` serves: the examples' standard queues (or --queues / PRSM_QUEUES), plus every
    queue of the --handlers modules, which the user loaded to have them served."""
    return list(dict.fromkeys([*settings.queues, *own_queues]))


async def _wait_first(ready: Coroutine[Any, Any, Any], task: asyncio.Task[Any]) -> None:
    waiter = asyncio.ensure_future(ready)
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        task.result()  # raises why the node could not start
