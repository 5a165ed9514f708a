"""Live agents on a remote host: its own ``opencode serve``, reached through an SSH forward to a unix socket.

On the host, :data:`SERVE` (a constant Python program run by ``python3 -c`` over ssh) finds
or starts one ``opencode serve --hostname 127.0.0.1 --port 0`` per host state dir: OpenCode
binds a port itself and SERVE reads it from what the server printed, so no other user of the
host can take it first. Its random password travels on ssh's stdin; SERVE keeps ``{pid, port,
password, startTicks}`` in ``<stateDir>/opencode-server.json`` and the password alone in
``opencode-server.pw`` (both 0600, written with ``O_EXCL|O_NOFOLLOW``). A recorded server is
used while its process holds its own listening socket (the kernel says so); one that is slow
or stopped is never killed. The server gets ao's shell, which keeps its credentials out of
what its agents run, and the user's umask (SERVE's own files are private).

Here, ao reaches it through ``ssh -N -L <socket>:127.0.0.1:<its port>``, a forward of its own
(not the shared connection, whose life follows its last command) to a unix socket in ssh's
private control folder (0700): no loopback port here that another local user could take first.
The forward is kept in ``<state>/hosts/<name>-live.json`` (0600). Everything else is the live
runtime's (:mod:`ao_server.runtimes.live`): the same API, with the password, through the socket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path

from ..config import Host
from ..errors import OpenCodeServerError
from ..remote import CONNECT_TIMEOUT, SshHost, control_dir
from .common import process_start, write_private
from .live_server import OpenCodeServer, ServerInfo, _locked, shell_wrapper

FORWARD_TIMEOUT = 15.0
START_TIMEOUT = 90.0  # seconds for the host to start its server (OpenCode takes a few)
LOOKUP_TIMEOUT = 2 * CONNECT_TIMEOUT  # seconds for a look-up (status, an answer): a hung ssh must not stall polls
LOCK_WAIT = 10.0  # seconds a look-up waits for another ao process connecting to the same host

#: ``python3 -c SERVE <stateDir> <opencode> find|start <shell wrapper>``; stdin: the password of a server it starts.
SERVE = r"""
import fcntl, json, os, re, signal, socket, struct, subprocess, sys, time
st, oc, mode, wrapper = sys.argv[1:5]
umask = os.umask(0o077)  # ao's files here are private; the server gets the user's own umask back
os.makedirs(st, mode=0o700, exist_ok=True)
path = os.path.join(st, "opencode-server.json")
def ticks(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
        return None if rest[0] == b"Z" else int(rest[19])
    except (OSError, ValueError, IndexError):
        return None
def listens(pid, port):
    here = "%08X:%04X" % (struct.unpack("=I", socket.inet_aton("127.0.0.1"))[0], port)
    try:
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f][1:]
    except OSError:
        return False
    inode = None
    for c in rows:
        if len(c) > 9 and c[3] == "0A" and c[1] in (here, "00000000:%04X" % port):
            if int(c[7]) != os.getuid():
                return False
            inode = "socket:[%s]" % c[9]
    if inode is None:
        return False
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return True
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == inode:
                return True
        except OSError:
            pass
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
def fail(why):
    print(json.dumps({"error": why}))
    sys.exit(0)
def private(name, text):
    tmp = os.path.join(st, ".%s.%d.%s" % (name, os.getpid(), os.urandom(4).hex()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(st, name))
i = current()
if i and listens(int(i["pid"]), int(i["port"])):
    say(i)
if mode != "start":
    print(json.dumps({"none": "the OpenCode server of live agents is not running there"}))
    sys.exit(0)
with open(os.path.join(st, "opencode-server.lock"), "w") as lock:
    deadline = time.time() + 75
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.time() > deadline:
                fail("another ao process has been starting the server there for over 75 s; try again")
            time.sleep(0.1)
    i = current()
    if i and listens(int(i["pid"]), int(i["port"])):
        say(i)
    if i:  # alive, but it does not hold its port any more: it serves nobody
        try:
            os.killpg(int(i["pid"]), signal.SIGKILL)
        except OSError:
            pass
    pw = sys.stdin.read().strip()
    shell = os.environ.get("SHELL") or ""
    if not (os.path.isabs(shell) and os.path.basename(shell) not in ("fish", "nu") and os.access(shell, os.X_OK)):
        shell = next((os.path.join(d, "bash") for d in os.environ.get("PATH", "").split(os.pathsep)
                      if d and os.access(os.path.join(d, "bash"), os.X_OK)), "/bin/sh")
    private("opencode-shell", wrapper.replace("@REAL@", "'" + shell.replace("'", "'\\''") + "'"))
    os.chmod(os.path.join(st, "opencode-shell"), 0o700)
    env = dict(os.environ, OPENCODE_SERVER_PASSWORD=pw, OPENCODE_SERVER_USERNAME="opencode",
               SHELL=os.path.abspath(os.path.join(st, "opencode-shell")))
    log = os.path.join(st, "opencode-server.log")
    with open(log, "ab") as out:
        offset = out.tell()
        try:
            p = subprocess.Popen([oc, "serve", "--hostname", "127.0.0.1", "--port", "0"], env=env, cwd=st,
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True, preexec_fn=lambda: os.umask(umask))
        except OSError as e:
            fail("could not start %s serve there: %s" % (oc, e))
    deadline = time.time() + 60
    port = None
    while port is None or not listens(p.pid, port):
        if port is None:
            with open(log, "rb") as f:
                f.seek(offset)
                m = re.search(rb"listening on http://[^\s:/]+:(\d+)", f.read(65536))
            port = int(m.group(1)) if m else None
        if p.poll() is not None or time.time() > deadline:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            with open(log, "rb") as f:
                f.seek(offset)
                tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
            fail("the OpenCode server did not start there: " + (" / ".join(tail) or "no output"))
        time.sleep(0.1)
    i = {"pid": p.pid, "port": port, "password": pw, "startTicks": ticks(p.pid)}
    private("opencode-server.pw", pw)
    private("opencode-server.json", json.dumps(i))
    say(i)
"""


class RemoteServer:
    """The OpenCode server of live agents on one host, and this state dir's forward to it."""

    def __init__(self, conn: SshHost, state_dir: Path) -> None:
        self.conn = conn
        self.host: Host = conn.host
        self.state_dir = state_dir
        self.record = state_dir / "hosts" / f"{self.host.name}-live.json"

    def describe(self) -> str:
        return f"the OpenCode server of live agents on host {self.host.name}"

    def socket_path(self) -> Path:
        """The forward's unix socket: in ssh's private control folder, short enough for any state dir."""
        tag = hashlib.sha256(self.host.name.encode()).hexdigest()[:12]
        return control_dir(self.state_dir) / f"fwd-{tag}"

    def _read(self) -> dict[str, object] | None:
        try:
            data = json.loads(self.record.read_text())
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):
            return None

    def current(self) -> ServerInfo | None:
        """The server as reached through a forward that still runs; None without a live forward."""
        data = self._read()
        if data is None:
            return None
        try:
            fwd, ticks = int(str(data["fwdPid"])), int(str(data["fwdTicks"]))
            started = process_start(fwd)
            if started is None or started[1] or started[0] != ticks:
                return None
            sock = str(data["socket"])
            if not stat.S_ISSOCK(os.lstat(sock).st_mode):
                return None
            return ServerInfo(int(str(data["pid"])), int(str(data["port"])), str(data["password"]),
                              int(str(data["startTicks"])), socket=sock)  # fmt: skip
        except (KeyError, ValueError, OSError):
            return None

    def connect(self, *, start: bool) -> ServerInfo | None:
        """The server through a working forward: found (and started, with ``start``) there, forwarded here.

        None when it does not run there and ``start`` is false. Raises HostUnreachable when the
        host cannot be reached, OpenCodeServerError when the server cannot be started or reached.
        A look-up (not ``start``) waits at most :data:`LOOKUP_TIMEOUT` for the host.
        """
        info = self.current()
        if info is not None and OpenCodeServer.answers(info):
            return info
        self.record.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        wait = START_TIMEOUT + FORWARD_TIMEOUT if start else LOCK_WAIT
        with _locked(self.record.with_suffix(".lock"), wait, f"connecting to {self.describe()}"):
            info = self.current()  # another ao process may have made it meanwhile
            if info is not None and OpenCodeServer.answers(info):
                return info
            return self._connect(start)

    def _connect(self, start: bool) -> ServerInfo | None:
        res = self.conn.run(
            'command -v python3 >/dev/null 2>&1 || { echo \'{"error": "python3 is not installed there"}\'; exit 0; }\n'
            'exec python3 -c "$1" "$2" "$3" "$4" "$5"',
            [SERVE, self.conn.state, self.host.opencode, "start" if start else "find", shell_wrapper("@REAL@")],
            stdin=secrets.token_urlsafe(32).encode(),  # the password of a server it starts (one that runs has its own)
            timeout=START_TIMEOUT if start else LOOKUP_TIMEOUT,
            poll=not start,  # a look-up leaves a host that was just found down alone for a while
        )
        try:
            said = json.loads(res.text.strip().splitlines()[-1])
        except (ValueError, IndexError):
            said = {"error": (res.err or res.text).strip()[-300:] or f"exit {res.rc}"}
        if "none" in said:
            return None
        if "error" in said:
            raise OpenCodeServerError(f"{self.describe()}: {said['error']}")
        sock = self.socket_path()
        info = ServerInfo(int(said["pid"]), int(said["port"]), str(said["password"]), int(said["startTicks"]),
                          socket=str(sock))  # fmt: skip
        old = self.current()
        if old is not None and (old.pid, old.port, old.start_ticks) == (info.pid, info.port, info.start_ticks):
            return old  # the forward runs and the server holds its port there: it is slow, not gone
        self.stop_forward()
        argv = [
            *self.conn.ssh_argv(shared=False)[:-1],  # its own connection (no -T: -N takes no command)
            "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "ExitOnForwardFailure=yes",
            "-o", "StreamLocalBindUnlink=yes", "-o", "StreamLocalBindMask=0177",
            "-N", "-L", f"{sock}:127.0.0.1:{info.port}", "--", self.host.ssh,
        ]  # fmt: skip
        log_path = self.record.with_suffix(".log")
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, close_fds=True
            )
        threading.Thread(target=proc.wait, name="ao-forward-reaper", daemon=True).start()
        started = process_start(proc.pid)
        deadline = time.monotonic() + FORWARD_TIMEOUT + CONNECT_TIMEOUT
        while not (sock.is_socket() and proc.poll() is None):
            if proc.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGTERM)
                tail = log_path.read_text(errors="replace").strip().splitlines()[-2:]
                raise OpenCodeServerError(
                    f"{self.describe()} runs (pid {info.pid}), but the ssh forward to it failed: "
                    + (" / ".join(tail) or "no answer")
                )
            time.sleep(0.05)
        write_private(
            self.record,
            json.dumps(
                {
                    "pid": info.pid,
                    "port": info.port,
                    "startTicks": info.start_ticks,
                    "password": info.password,
                    "socket": str(sock),
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
