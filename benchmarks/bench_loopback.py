#!/usr/bin/env python3
"""Benchmark: what proving the other end of a loopback connection costs (prints figures; not a test).

Before ao sends a request to its OpenCode server it asks the kernel (``/proc/net/tcp``) who owns
the far end of the connection (``ao_server.runtimes.loopback.peer_uid``). This prints:

1. ``peer_uid`` alone, with the machine's own TCP table and with 500 and 2,000 more loopback
   connections open (the table grows with every connection of the machine): p50/p95.
2. ``GET /session/status`` to a real ``opencode serve`` through ao's ``Api`` (checked), beside the
   same request over a plain ``http.client`` connection (unchecked), in turn: p50/p95 of each.
3. ``listens(pid, port)``, the check ``ensure()`` makes before it reuses a recorded server.

The real OpenCode (``AO_OPENCODE_BIN``, else scripts/install-opencode.sh's); everything lives in a
temp dir and the server is stopped by PID at the end.

    python benchmarks/bench_loopback.py [--requests 200]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ao_server.runtimes.live import Api, OpenCodeServer  # noqa: E402
from ao_server.runtimes.loopback import entries, listens, peer_uid  # noqa: E402
from tests.support.bed import percentile  # noqa: E402


def opencode_binary() -> str:
    found = os.environ.get("AO_OPENCODE_BIN")
    if found:
        return found
    return subprocess.run(["bash", str(ROOT / "scripts" / "install-opencode.sh")], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


def ms(values: list[float]) -> str:
    return f"p50 {1000 * percentile(values, 50):.3f} ms, p95 {1000 * percentile(values, 95):.3f} ms"


def time_peer_uid(n: int) -> list[float]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    extra: list[socket.socket] = []
    try:
        for _ in range(n):
            extra.append(socket.create_connection(srv.getsockname()))
            extra.append(srv.accept()[0])
        probe = socket.create_connection(srv.getsockname())
        extra += [probe, srv.accept()[0]]
        out = []
        for _ in range(200):
            t = time.perf_counter()
            assert peer_uid(probe) == os.getuid()
            out.append(time.perf_counter() - t)
        return out
    finally:
        for s in extra:
            s.close()
        srv.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()

    print(f"loopback proof benchmark: {len(entries())} TCP sockets in this machine's table")
    for n in (0, 500, 2000):
        print(f"1. peer_uid with {n} more loopback connections open: {ms(time_peer_uid(n))}")

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-loopback-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE", "XDG_"))}
    for d in ("data", "config", "state", "cache"):
        (tmp / d).mkdir()
        env[f"XDG_{d.upper()}_HOME"] = str(tmp / d)
    state = tmp / "ao-state"
    state.mkdir(mode=0o700)
    server = OpenCodeServer(state, env)
    try:
        info = server.ensure(opencode_binary())
        api = Api(info)
        for _ in range(5):  # warm up: the first answers set up OpenCode's instance
            api.call("GET", "/session/status")
        token = base64.b64encode(f"opencode:{info.password}".encode()).decode()
        checked: list[float] = []
        plain: list[float] = []
        for _ in range(args.requests):  # in turn, so that both see the same server and machine
            t = time.perf_counter()
            api.call("GET", "/session/status")
            checked.append(time.perf_counter() - t)
            t = time.perf_counter()
            conn = http.client.HTTPConnection("127.0.0.1", info.port, timeout=30)
            conn.request("GET", "/session/status", headers={"Authorization": f"Basic {token}"})
            conn.getresponse().read()
            conn.close()
            plain.append(time.perf_counter() - t)
        print(f"2. GET /session/status x{args.requests} to opencode serve: checked (ao's Api) {ms(checked)}; "
              f"unchecked (plain http.client) {ms(plain)}")  # fmt: skip
        owned = []
        for _ in range(200):
            t = time.perf_counter()
            assert listens(info.pid, info.port)
            owned.append(time.perf_counter() - t)
        print(f"3. listens(server pid, port) (the server holds its port: kernel + its fds): {ms(owned)}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
