"""The data directory of a local ``prsm-tasks up``, and how the other local commands find it.

The data directory (``./.prsm`` by default) is the user's own, mode 0700. It holds:

- ``endpoints.json``: where ``up``'s servers listen (it may have picked free ports), written
  once they listen and removed when it stops;
- ``jwt_secret``: the HS256 secret of its edge;
- ``nats_password``: the password of the embedded nats-server's one user (``prsm``);
- ``nats/``: the server's store, its log and the configuration ``up`` writes for it.

Secrets are files of mode 0600 created with ``O_EXCL`` and ``O_NOFOLLOW``: a symlink planted
in their place is never followed, and a secret that another user could have read (a wider
mode, another owner, not a regular file) is replaced by a fresh one, never reused.

``prsm-tasks node``, ``edge``, ``enqueue`` and ``watch`` without ``--servers`` use the
endpoints file, and the password file for the local server's credentials
(``with_local_nats``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import json
import os
import secrets
import signal
import socket
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from prsm_tasks.config import Settings
from prsm_tasks.errors import LocalSetupError, PortInUseError

log = structlog.get_logger("prsm.local")

ENDPOINTS_FILE = "endpoints.json"
LOCK_FILE = "up.lock"
JWT_SECRET_FILE = "jwt_secret"
NATS_PASSWORD_FILE = "nats_password"
LOCAL_NATS_USER = "prsm"
EXAMPLE_HANDLERS = "prsm_tasks.examples"  # what `node` and `up` serve without --handlers
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def install_stop_signals(stop: Callable[[], None]) -> None:
    """SIGINT and SIGTERM call ``stop`` (a local command's graceful path)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)


# --- the directory and its private files -------------------------------------------------------


def prepare_data_dir(data_dir: Path) -> Path:
    """``data_dir``, made if missing, owned by this user and closed to everyone else (0700)."""
    path = data_dir.resolve()
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        raise LocalSetupError(
            f"data directory {path} belongs to another user: choose your own with --data"
        )
    if stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)  # made open by an earlier version, or by hand
    return path


@contextlib.contextmanager
def hold_data_dir(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for one ``up`` (a lock the system releases when the process ends,
    however it ends): a second one would share its store and overwrite its endpoints file."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(data_dir / LOCK_FILE, flags, PRIVATE_FILE_MODE)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise LocalSetupError(
                f"another prsm-tasks up uses {data_dir}: stop it, or choose another --data"
            ) from exc
        yield
    finally:
        os.close(descriptor)


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to a new file of mode 0600 at ``path``, in place of whatever is there.

    Whatever is there is unlinked first (a symlink itself, never its target); the new file is
    created with O_EXCL and O_NOFOLLOW, so nothing planted in between is written through.
    """
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "w") as handle:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)  # whatever the umask
        handle.write(text)


def read_private_file(path: Path) -> str | None:
    """The text of ``path`` if it is a regular file of this user's that only they can read;
    None when it is missing or not safe to trust (a symlink, another owner, a wider mode)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            log.warning("private_file_refused", path=str(path), reason="symlink")
            return None
        raise
    with os.fdopen(descriptor) as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            log.warning("private_file_refused", path=str(path), reason="not_own_regular_file")
            return None
        if stat.S_IMODE(info.st_mode) & 0o077:
            log.warning("private_file_refused", path=str(path), reason="readable_by_others")
            return None
        return handle.read()


def private_secret(path: Path) -> str:
    """The secret kept in ``path``; a fresh random one, written there, when it holds none
    that is safe to reuse."""
    current = (read_private_file(path) or "").strip()
    if current:
        return current
    fresh = secrets.token_urlsafe(32)
    write_private_file(path, fresh + "\n")
    log.info("secret_created", path=str(path))
    return fresh


def jwt_secret_of(settings: Settings, data_dir: Path) -> str | None:
    """The configured HS256 secret, else the data dir's own (made on first use by `up`)."""
    if settings.jwt_secret or settings.jwt_public_key_file or settings.jwt_jwks_url:
        return settings.jwt_secret
    return private_secret(data_dir / JWT_SECRET_FILE)


# --- endpoints ----------------------------------------------------------------------------------


def write_endpoints(data_dir: Path, **urls: str) -> Path:
    """Merge ``urls`` (for example ``nats=…``, ``edge=…``) into the data dir's endpoints file."""
    path = data_dir / ENDPOINTS_FILE
    current = read_endpoints(data_dir)
    current.update(urls)
    current["pid"] = str(os.getpid())
    temporary = path.with_suffix(".tmp")
    write_private_file(temporary, json.dumps(current, indent=2) + "\n")
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


# --- finding the local system -------------------------------------------------------------------


def with_local_nats(settings: Settings) -> Settings:
    """``settings`` completed with the NATS server and credentials of the local ``up`` of
    its data dir, for what the user did not give.

    ``--servers`` / ``PRSM_SERVERS`` win over the endpoints file. The local credentials are
    used only to connect to the local server itself (never sent to another one), and only
    when no credentials were given (``PRSM_NATS_USER``…, or a user in a server URL).
    """
    data_dir = settings.data_dir.resolve()
    local_nats = read_endpoints(data_dir).get("nats")
    updates: dict[str, object] = {}
    if "servers" not in settings.model_fields_set and local_nats:
        updates["servers"] = [local_nats]
    servers = updates.get("servers", settings.servers)
    password_file = data_dir / NATS_PASSWORD_FILE
    if (
        local_nats
        and servers == [local_nats]
        and not has_nats_credentials(settings)
        and password_file.exists()
    ):
        updates.update(nats_user=LOCAL_NATS_USER, nats_password_file=password_file)
    return settings.model_copy(update=updates) if updates else settings


def has_nats_credentials(settings: Settings) -> bool:
    if settings.nats_user or settings.nats_password or settings.nats_password_file:
        return True
    return any(urlsplit(url).username for url in settings.servers)


# --- ports --------------------------------------------------------------------------------------


def check_port_free(host: str, port: int, *, what: str, flag: str) -> None:
    """Raise PortInUseError, one line naming the flag to change, if ``port`` is taken.

    It binds the way the servers do (SO_REUSEADDR, so a port left in TIME_WAIT counts as
    free); another process may still take the port before the server binds it, which the
    server's own failure then reports.
    """
    if port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise LocalSetupError(f"cannot listen on {host}: {exc.strerror}") from exc
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise port_in_use(host, port, what=what, flag=flag) from exc
            raise LocalSetupError(
                f"cannot listen on {host}:{port} for the {what}: {exc.strerror}"
            ) from exc


def port_in_use(host: str, port: int, *, what: str, flag: str) -> PortInUseError:
    return PortInUseError(
        f"the {what} port {port} on {host} is already in use: stop what listens there, "
        f"or choose another with {flag} (0 picks a free one)"
    )
