"""A port squatter: another local user who tries to catch what ao sends to its OpenCode servers.

Run as a different uid (``setpriv --reuid 65534``), it watches every process's command line for
a port (``--port N``, an ssh forward ``-L [127.0.0.1:]N:...``) and the kernel's table for ports
other users listen on, and binds each one on 127.0.0.1 the moment it can: before the real server
does, or after it went away. It answers every request like a friendly OpenCode server would
(``200`` and a session id), so a client that trusts the port goes on sending, and it prints one
JSON line per event on stdout: ``{"bound": port}`` and ``{"got": port, "data": text}``.

Used by tests through :func:`start`; ``python3 squatter.py SECONDS [PORT ...]`` runs it alone.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 26\r\n\r\n"
    b'{"id": "ses_squatter0001"}'
)


def _cmdline_ports() -> set[int]:
    out: set[int] = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        for i, a in enumerate(args):
            if a == b"--port" and i + 1 < len(args) and args[i + 1].isdigit():
                out.add(int(args[i + 1]))
            m = re.match(rb"(?:127\.0\.0\.1:|localhost:)?(\d+):[^:]+:\d+$", a)
            if m:
                out.add(int(m.group(1)))
    return out


def _listened_ports() -> set[int]:
    out: set[int] = set()
    try:
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in f][1:]
    except OSError:
        return out
    for c in rows:
        if len(c) > 7 and c[3] == "0A" and int(c[7]) != os.getuid():
            out.add(int(c[1].split(":")[1], 16))
    return out


def main(seconds: float, extra: list[int]) -> None:
    deadline = time.time() + seconds
    listening: dict[int, socket.socket] = {}
    conns: dict[socket.socket, int] = {}
    wanted: set[int] = set(extra)
    last_scan = 0.0
    while time.time() < deadline:
        now = time.time()
        if now - last_scan > 0.01:
            wanted |= _cmdline_ports() | _listened_ports()
            last_scan = now
        for port in sorted(wanted - set(listening)):
            if not 0 < port < 65536:
                continue
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                s.listen(64)
            except OSError:
                s.close()
                continue
            s.setblocking(False)
            listening[port] = s
            print(json.dumps({"bound": port}), flush=True)
        ready, _, _ = select.select([*listening.values(), *conns], [], [], 0.005)
        for r in ready:
            if r in conns:
                try:
                    data = r.recv(65536)
                except OSError:
                    data = b""
                if data:
                    print(json.dumps({"got": conns[r], "data": data.decode(errors="replace")}), flush=True)
                    if b"\r\n\r\n" in data:
                        try:
                            r.sendall(ANSWER)
                        except OSError:
                            pass
                else:
                    del conns[r]
                    r.close()
                continue
            try:
                c, _ = r.accept()
            except OSError:
                continue
            conns[c] = r.getsockname()[1]


class Squatter:
    """A running squatter and everything it printed so far."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.events: list[dict[str, object]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    @property
    def bound(self) -> set[int]:
        return {int(str(e["bound"])) for e in self.events if "bound" in e}

    @property
    def received(self) -> str:
        return "".join(str(e["data"]) for e in self.events if "data" in e)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=5)


def start(seconds: float = 600, ports: tuple[int, ...] = (), uid: int = 65534, netns: str | None = None) -> Squatter:
    """Start a squatter as ``uid`` (in network namespace ``netns``, if given); stop it with ``.stop()``."""
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or sys.executable
    source = Path(__file__).read_text()
    argv = [
        "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
        python, "-I", "-c", source, str(seconds), *map(str, ports),
    ]  # fmt: skip
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd="/",
                            start_new_session=True)  # fmt: skip
    return Squatter(proc)


if __name__ == "__main__":
    main(float(sys.argv[1]), [int(p) for p in sys.argv[2:]])
