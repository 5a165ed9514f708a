"""The shared ``opencode serve`` of a state dir, and OpenCode's HTTP API on it (see :mod:`.live`).

:class:`OpenCodeServer` finds, checks or starts the one server of a state dir; :class:`Api` talks to a
server (this machine's, or a remote host's through an ssh forward, :mod:`.live_remote`) over a connection
that proves, before a byte is sent, that it reached it. A leaf of the live runtime: :mod:`.live`,
:mod:`.live_remote` and :mod:`.live_keeper` import it, it imports none of them.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import http.client
import json
import logging
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AoError, OpenCodeServerError, SpawnFailed
from .common import process_start, write_private
from .loopback import listens, peer_uid

log = logging.getLogger("ao_server.runtimes.live")  # the live runtime's log, as before this module was split off

SERVER_FILE = "opencode-server.json"
LOCK_FILE = "opencode-server.lock"
LOG_FILE = "opencode-server.log"
USERNAME = "opencode"
START_TIMEOUT = 90.0  # a busy machine: its first answer (the instance's set-up) can take long
POLL_TIMEOUT = 10.0  # a look (a status poll, a kill's abort): a poll must not wait long for a stopped server
HTTP_TIMEOUT = 30.0  # a server that is slow (or stopped) for a while still answers; it is never killed for it


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    password: str
    start_ticks: int  # the process's start time in clock ticks: a recycled PID is not ours
    socket: str | None = None  # a unix socket that reaches it (a remote host's server, through ssh's forward)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def describe(self) -> str:
        return f"the OpenCode server (pid {self.pid}, {self.url})"


#: The secrets ao puts in its server's environment: OpenCode reads them once, at start; nothing it runs needs them.
SECRETS = ("OPENCODE_SERVER_PASSWORD", "OPENCODE_SERVER_USERNAME")
SHELL_FILE = "opencode-shell"
LISTENING = re.compile(rb"listening on http://[^\s:/]+:(\d+)")


def shell_wrapper(real: str) -> str:
    """The shell ao gives its server (``SHELL``): OpenCode runs every agent command and terminal through it, and
    it drops the server's credentials before it becomes the user's own shell (an approved ``bash`` call would
    otherwise read them in its environment and approve its own requests)."""
    head = "#!/bin/sh\n# ao-server: the server's credentials stay out of its agents' commands\n"
    return head + f'unset {" ".join(SECRETS)}\nexec {shlex.quote(real)} "$@"\n'


def real_shell(env: Mapping[str, str]) -> str:
    """The shell OpenCode itself would pick: the user's ``SHELL``, except those it refuses (fish, nu), else bash."""
    shell = env.get("SHELL", "")
    if shell and os.path.isabs(shell) and Path(shell).name not in ("fish", "nu") and os.access(shell, os.X_OK):
        return shell
    return shutil.which("bash", path=env.get("PATH")) or "/bin/sh"


def server_env(env: Mapping[str, str], password: str, shell: Path) -> dict[str, str]:
    """The environment of an ``opencode serve``: its credentials, and ao's shell (which drops them again)."""
    return {**env, "OPENCODE_SERVER_PASSWORD": password, "OPENCODE_SERVER_USERNAME": USERNAME, "SHELL": str(shell)}


def _locked(path: Path, timeout: float, what: str) -> Any:
    """An exclusive flock on ``path`` (a 0600 file), waited for at most ``timeout`` seconds."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return os.fdopen(fd, "w")
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise OpenCodeServerError(
                    f"another ao process has been {what} for over {timeout:g} s ({path} is locked); try again"
                ) from None
            time.sleep(0.1)


class OpenCodeServer:
    """The one ``opencode serve`` of a state dir: found, checked, or started.

    OpenCode picks its own port (``--port 0``) and ao reads it from what the server printed, so no
    other process can take the port between ao choosing it and the server binding it. A recorded
    server is reused while its process is the one ao started and still holds its listening socket
    (asked of the kernel, so a stopped or busy server is never mistaken for a dead one and killed),
    and every request first checks that the other end of its connection belongs to this user.
    """

    def __init__(self, state_dir: Path, env: Mapping[str, str]) -> None:
        self.state_dir = state_dir
        self.env = dict(env)

    @property
    def info_path(self) -> Path:
        return self.state_dir / SERVER_FILE

    def current(self) -> ServerInfo | None:
        """The recorded server if its process is still the one that was started, else None."""
        try:
            raw = json.loads(self.info_path.read_text())
            info = ServerInfo(int(raw["pid"]), int(raw["port"]), str(raw["password"]), int(raw["startTicks"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        started = process_start(info.pid)
        if started is None or started[1] or started[0] != info.start_ticks:
            return None
        return info

    def ensure(self, binary: str) -> ServerInfo:
        """The running server, or a new one (one starter at a time, across processes)."""
        info = self.current()
        if info is not None and listens(info.pid, info.port):
            return info
        with _locked(self.state_dir / LOCK_FILE, START_TIMEOUT + 15, "starting the OpenCode server"):
            info = self.current()  # another process may have started it meanwhile
            if info is not None and listens(info.pid, info.port):
                return info
            if info is not None:  # alive, but it does not hold its port any more: it serves nobody
                log.warning("%s no longer listens; replacing it", info.describe())
                self.stop(info)
            return self._start(binary)

    @staticmethod
    def answers(info: ServerInfo, timeout: float = 5) -> bool:
        try:
            Api(info).call("GET", "/session/status", timeout=timeout)
            return True
        except AoError:
            return False

    def _start(self, binary: str) -> ServerInfo:
        password = secrets.token_urlsafe(32)
        log_path = self.state_dir / LOG_FILE
        shell = self.state_dir / SHELL_FILE
        write_private(shell, shell_wrapper(real_shell(self.env)), mode=0o700)
        env = server_env(self.env, password, shell)
        with open(log_path, "ab") as out:
            os.chmod(log_path, 0o600)
            offset = out.tell()
            try:
                proc = subprocess.Popen(
                    [binary, "serve", "--hostname", "127.0.0.1", "--port", "0"],  # OpenCode binds a port itself
                    env=env,
                    cwd=self.state_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # outlives this ao process; its own process group
                )
            except OSError as e:
                raise SpawnFailed(f"could not start the OpenCode server ({binary} serve): {e}") from None
        threading.Thread(target=proc.wait, name="opencode-server-reaper", daemon=True).start()
        started = process_start(proc.pid)
        ticks = started[0] if started else 0
        deadline = time.monotonic() + START_TIMEOUT
        info: ServerInfo | None = None
        while info is None or not self.answers(info, timeout=max(1.0, min(30.0, deadline - time.monotonic()))):
            if info is None:
                port = self._printed_port(log_path, offset)
                if port is not None and listens(proc.pid, port):
                    info = ServerInfo(proc.pid, port, password, ticks)
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop(ServerInfo(proc.pid, 0, password, ticks))
                said = log_path.read_bytes()[offset:].decode(errors="replace").strip().splitlines()[-3:]
                raise OpenCodeServerError(
                    f"the OpenCode server did not start ({binary} serve): "
                    + (" / ".join(said) if said else "it printed nothing")
                    + f"; see {log_path}"
                )
            time.sleep(0.1)
        record = {"pid": info.pid, "port": info.port, "password": password, "startTicks": info.start_ticks}
        write_private(self.info_path, json.dumps(record))
        log.info("started %s", info.describe())
        return info

    @staticmethod
    def _printed_port(log_path: Path, offset: int) -> int | None:
        """The port the server said it listens on, in what it wrote to its log since ``offset``."""
        try:
            with open(log_path, "rb") as f:
                f.seek(offset)
                m = LISTENING.search(f.read(65536))
        except OSError:
            return None
        return int(m.group(1)) if m else None

    def stop(self, info: ServerInfo | None = None) -> None:
        """Stop the server (its whole process group); OpenCode's server ignores SIGTERM, so SIGKILL follows."""
        info = info or self.current()
        if info is None:
            return
        for sig in (signal.SIGINT, signal.SIGKILL):
            with contextlib.suppress(OSError):
                os.killpg(info.pid, sig)
            for _ in range(30):
                now = process_start(info.pid)
                if now is None or now[1] or now[0] != info.start_ticks:
                    return
                time.sleep(0.1)


class NotOurs(OpenCodeServerError):
    pass


class _Connection(http.client.HTTPConnection):
    """One HTTP connection to an OpenCode server that proves, before a byte is sent, that it reached it:
    a unix socket (in a private folder), or a loopback port whose other end belongs to this user."""

    def __init__(self, info: ServerInfo, timeout: float) -> None:
        super().__init__("127.0.0.1", info.port, timeout=timeout)
        self.info = info

    def connect(self) -> None:
        if self.info.socket is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.info.socket)
            except OSError:
                sock.close()
                raise
            self.sock = sock
            return
        super().connect()
        owner = peer_uid(self.sock)
        if owner != os.getuid():
            self.sock.close()
            whose = "nobody the kernel names" if owner is None else f"uid {owner}"
            raise NotOurs(
                f"127.0.0.1:{self.info.port} is held by another user's process ({whose}), not by ao's OpenCode "
                f"server (pid {self.info.pid}); ao sent it nothing. Find it with `ss -ltnp 'sport = {self.info.port}'`"
            )


class Api:
    """OpenCode's HTTP API with the server's password; every failure is an :class:`AoError`."""

    def __init__(self, info: ServerInfo) -> None:
        self.info = info
        token = base64.b64encode(f"{USERNAME}:{info.password}".encode()).decode()
        self.auth = f"Basic {token}"

    def open(self, method: str, path: str, body: bytes | None = None, timeout: float = HTTP_TIMEOUT) -> Any:
        """Send one request over a checked connection; the response (still to be read) and its connection."""
        conn = _Connection(self.info, timeout)
        headers = {"Authorization": self.auth, "Host": f"127.0.0.1:{self.info.port}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=body, headers=headers)
            return conn.getresponse(), conn
        except NotOurs:
            conn.close()
            raise
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise OpenCodeServerError(f"{self.info.describe()} does not answer: {e or type(e).__name__}") from None

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        *,
        directory: str | None = None,
        timeout: float = HTTP_TIMEOUT,
    ) -> Any:
        if directory is not None:
            path += "?" + urllib.parse.urlencode({"directory": directory})
        data = None if body is None else json.dumps(body).encode()
        resp, conn = self.open(method, path, data, timeout)
        try:
            text = resp.read().decode(errors="replace")
        except (OSError, http.client.HTTPException) as e:
            raise OpenCodeServerError(f"{self.info.describe()} does not answer: {e or type(e).__name__}") from None
        finally:
            conn.close()
        if resp.status >= 400:
            detail = text[:300]
            if resp.status == 401:
                raise OpenCodeServerError(f"{self.info.describe()} refused ao's password")
            if resp.status == 404:
                raise NotFound(f"{method} {path}: {detail or 'not found'}")
            raise OpenCodeServerError(f"{self.info.describe()} answered {method} {path} with {resp.status}: {detail}")
        return json.loads(text) if text.strip() else None


class NotFound(AoError):
    pass
