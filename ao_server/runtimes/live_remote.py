"""Live agents on a remote host: its own ``opencode serve``, reached through an SSH port forward.

On the host, :data:`SERVE` (a constant Python program run by ``python3 -c`` over ssh) finds
or starts one ``opencode serve --hostname 127.0.0.1`` per host state dir, on a free port,
with a random password that travels on ssh's stdin; it keeps ``{pid, port, password,
startTicks}`` in ``<stateDir>/opencode-server.json`` and the password alone in
``opencode-server.pw`` (both 0600). The server listens on the host's loopback only: no
port is opened to the network.

Here, ao reaches it through ``ssh -N -L 127.0.0.1:<local port>:127.0.0.1:<its port>``, a
forward of its own (not the shared connection, whose life follows its last command), kept
in ``<state>/hosts/<name>-live.json`` (0600). Everything else is the live runtime's
(:mod:`ao_server.runtimes.live`): the same API, with the password, through the forward.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Host
from ..errors import OpenCodeServerError
from ..remote import CONNECT_TIMEOUT, SshHost
from .common import process_start, write_private

if TYPE_CHECKING:
    from .live import ServerInfo

FORWARD_TIMEOUT = 15.0

#: ``python3 -c SERVE <stateDir> <opencode> find|start``; stdin: the password of a server it starts.
SERVE = r"""
import fcntl, json, os, signal, socket, subprocess, sys, time
st, oc, mode = sys.argv[1:4]
os.umask(0o077)
os.makedirs(st, exist_ok=True)
path = os.path.join(st, "opencode-server.json")
def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
        return None if rest[0] == b"Z" else int(rest[19])
    except (OSError, ValueError, IndexError):
        return None
def answers(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False
def current():
    try:
        with open(path) as f:
            i = json.load(f)
        return i if ticks(int(i["pid"])) == i["startTicks"] else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
def say(i):
    print(json.dumps({k: i[k] for k in ("pid", "port", "startTicks", "password")}))
    sys.exit(0)
i = current()
if i and answers(i["port"]):
    say(i)
if mode != "start":
    print(json.dumps({"none": "the OpenCode server of live agents is not running there"}))
    sys.exit(0)
with open(os.path.join(st, "opencode-server.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    i = current()
    if i and answers(i["port"]):
        say(i)
    if i:
        try:
            os.killpg(int(i["pid"]), signal.SIGKILL)
        except OSError:
            pass
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    pw = sys.stdin.read().strip()
    env = dict(os.environ, OPENCODE_SERVER_PASSWORD=pw, OPENCODE_SERVER_USERNAME="opencode")
    log = os.path.join(st, "opencode-server.log")
    with open(log, "ab") as out:
        try:
            p = subprocess.Popen([oc, "serve", "--hostname", "127.0.0.1", "--port", str(port)], env=env, cwd=st,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as e:
            print(json.dumps({"error": "could not start %s serve there: %s" % (oc, e)}))
            sys.exit(0)
    deadline = time.time() + 60
    while not answers(port):
        if p.poll() is not None or time.time() > deadline:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            with open(log, errors="replace") as f:
                tail = f.read().strip().splitlines()[-3:]
            said = " / ".join(tail) or "no output"
            print(json.dumps({"error": "the OpenCode server did not start there: " + said}))
            sys.exit(0)
        time.sleep(0.1)
    i = {"pid": p.pid, "port": port, "password": pw, "startTicks": ticks(p.pid)}
    for name, text in (("opencode-server.pw", pw), ("opencode-server.json", json.dumps(i))):
        tmp = os.path.join(st, ".%s.%d" % (name, os.getpid()))
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(text)
        os.replace(tmp, os.path.join(st, name))
    say(i)
"""


class RemoteServer:
    """The OpenCode server of live agents on one host, and this state dir's forward to it."""

    def __init__(self, conn: SshHost, state_dir: Path) -> None:
        self.conn = conn
        self.host: Host = conn.host
        self.record = state_dir / "hosts" / f"{self.host.name}-live.json"

    def describe(self) -> str:
        return f"the OpenCode server of live agents on host {self.host.name}"

    def _read(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.record.read_text())
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def current(self) -> ServerInfo | None:
        """The server as reached through a forward that still runs; None without a live forward."""
        from .live import ServerInfo

        data = self._read()
        if data is None:
            return None
        try:
            fwd, ticks = int(str(data["fwdPid"])), int(str(data["fwdTicks"]))
            started = process_start(fwd)
            if started is None or started[1] or started[0] != ticks:
                return None
            return ServerInfo(int(str(data["pid"])), int(str(data["lport"])), str(data["password"]),
                              int(str(data["startTicks"])))  # fmt: skip
        except (KeyError, ValueError):
            return None

    def connect(self, *, start: bool) -> ServerInfo | None:
        """The server through a working forward: found (and started, with ``start``) there, forwarded here.

        None when it does not run there and ``start`` is false. Raises HostUnreachable when the
        host cannot be reached, OpenCodeServerError when the server cannot be started or reached.
        """
        from .live import OpenCodeServer

        info = self.current()
        if info is not None and OpenCodeServer.answers(info):
            return info
        self.record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock_fd = os.open(self.record.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(lock_fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            info = self.current()  # another ao process may have made it meanwhile
            if info is not None and OpenCodeServer.answers(info):
                return info
            return self._connect(start)

    def _connect(self, start: bool) -> ServerInfo | None:
        from .live import OpenCodeServer, ServerInfo, _free_port

        old = self._read() or {}
        res = self.conn.run(
            'command -v python3 >/dev/null 2>&1 || { echo \'{"error": "python3 is not installed there"}\'; exit 0; }\n'
            'exec python3 -c "$1" "$2" "$3" "$4"',
            [SERVE, self.conn.state, self.host.opencode, "start" if start else "find"],
            stdin=secrets.token_urlsafe(32).encode(),  # the password of a server it starts (one that runs has its own)
            timeout=90,
        )
        try:
            said = json.loads(res.text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            said = {"error": (res.err or res.text).strip()[-300:] or f"exit {res.rc}"}
        if "none" in said:
            return None
        if "error" in said:
            raise OpenCodeServerError(f"{self.describe()}: {said['error']}")
        password = str(said["password"])
        self._stop_forward(old)
        lport = _free_port()
        argv = [
            *self.conn.ssh_argv(shared=False)[:-1],  # its own connection (no -T: -N takes no command)
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ExitOnForwardFailure=yes",
            "-N", "-L", f"127.0.0.1:{lport}:127.0.0.1:{int(said['port'])}", "--", self.host.ssh,
        ]  # fmt: skip
        log_path = self.record.with_suffix(".log")
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True
            )
        import threading

        threading.Thread(target=proc.wait, name="ao-forward-reaper", daemon=True).start()
        started = process_start(proc.pid)
        info = ServerInfo(int(said["pid"]), lport, password, int(said["startTicks"]))
        deadline = time.monotonic() + FORWARD_TIMEOUT + CONNECT_TIMEOUT
        while not OpenCodeServer.answers(info):
            if proc.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGTERM)
                tail = log_path.read_text(errors="replace").strip().splitlines()[-2:]
                raise OpenCodeServerError(
                    f"{self.describe()} runs (pid {info.pid}), but the ssh forward to it failed: "
                    + (" / ".join(tail) or "no answer")
                )
            time.sleep(0.1)
        write_private(
            self.record,
            json.dumps(
                {
                    "pid": info.pid,
                    "port": said["port"],
                    "startTicks": info.start_ticks,
                    "password": password,
                    "lport": lport,
                    "fwdPid": proc.pid,
                    "fwdTicks": started[0] if started else 0,
                }
            ),
        )
        return info

    @staticmethod
    def _stop_forward(data: dict[str, object]) -> None:
        try:
            pid, ticks = int(str(data["fwdPid"])), int(str(data["fwdTicks"]))
        except (KeyError, ValueError):
            return
        started = process_start(pid)
        if started is not None and not started[1] and started[0] == ticks:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGTERM)

    def stop_forward(self) -> None:
        self._stop_forward(self._read() or {})
