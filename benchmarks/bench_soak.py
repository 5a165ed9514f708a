#!/usr/bin/env python3
"""Soak benchmark: spawn/exit cycles of the stand-in through one ao-server (prints figures; not a test).

Each cycle is one ``ao/spawn`` of an agent that exits at once, followed until the server pushes its
``ao/statusChanged`` exit; ``--parallel`` cycles are in flight at a time. Before (after a warm-up) and
after the cycles it prints the server's RSS, open file descriptors, threads and zombie children
(targets: RSS growth < 10 MB, 0 more fds, 0 zombies), and whether every cycle ended with exit code 0.

Agents are the STAND-IN executable (tests/support/standin/opencode, not OpenCode) under the process
runtime. Everything lives in a temp dir and is stopped by PID at the end.

    python benchmarks/bench_soak.py [--cycles 500] [--parallel 4] [--poll-interval 0.2]
"""

from __future__ import annotations

import argparse
import queue
import shutil
import sys
import tempfile
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
sys.path.insert(0, str(ROOT))
from ao_client import Connection  # noqa: E402  (the standard-library client is the benchmark's client)

from tests.support import bed  # noqa: E402  (isolated env and process cleanup, shared with the tests)

STANDIN = ROOT / "tests" / "support" / "standin" / "opencode"


def measure(server: psutil.Process) -> dict[str, float]:
    with server.oneshot():
        rss = server.memory_info().rss
        fds = server.num_fds()
        threads = server.num_threads()
    zombies = 0
    for child in server.children(recursive=True):
        try:
            zombies += child.status() == psutil.STATUS_ZOMBIE
        except psutil.Error:
            pass
    return {"rss_mb": rss / 2**20, "fds": fds, "threads": threads, "zombies": zombies}


def show(label: str, m: dict[str, float]) -> str:
    return (f"{label}: RSS {m['rss_mb']:.1f} MB, {m['fds']:.0f} open fds, {m['threads']:.0f} threads, "
            f"{m['zombies']:.0f} zombie children")


class Cycler:
    """Keeps ``parallel`` spawn/exit cycles in flight through one server connection."""

    def __init__(self, conn: Connection, parallel: int) -> None:
        self.conn = conn
        self.parallel = parallel
        self.exited: dict[str, Any] = {}  # sessionId -> exit code, from ao/statusChanged
        self.n = 0

    def _drain(self, timeout: float) -> None:
        try:
            method, params, _ = self.conn.notifications.get(timeout=timeout)
        except queue.Empty:
            return
        if method == "" and self.conn.proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {self.conn.proc.returncode}")
        if method == "ao/statusChanged" and params.get("status") == "exited":
            self.exited[params["sessionId"]] = params.get("exitCode")

    def run(self, cycles: int, timeout: float = 120) -> tuple[list[str], int]:
        """Returns the session ids and how many did not exit with 0."""
        pending: list[Future[Any]] = []
        waiting: set[str] = set()
        ids: list[str] = []
        started = 0
        deadline = time.monotonic() + timeout + cycles
        while started < cycles or pending or waiting:
            while started < cycles and len(pending) + len(waiting) < self.parallel:
                self.n += 1
                pending.append(self.conn.request_future("ao/spawn", {"prompt": f"[[sleep:0]] soak cycle {self.n}"}))
                started += 1
            for fut in [f for f in pending if f.done()]:
                pending.remove(fut)
                sid = fut.result()["sessionId"]
                ids.append(sid)
                waiting.add(sid)
            self._drain(0.05)
            waiting -= set(self.exited)
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} sessions never reported an exit: {sorted(waiting)[:5]}")
        bad = sum(1 for sid in ids if self.exited.get(sid) != 0)
        return ids, bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=500, help="spawn/exit cycles measured (default 500)")
    ap.add_argument("--warmup", type=int, default=20, help="cycles before the 'before' figures (default 20)")
    ap.add_argument("--parallel", type=int, default=4, help="cycles in flight at a time (default 4)")
    ap.add_argument("--poll-interval", type=float, default=0.2)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (state, server log) for a look")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-soak-"))
    env = bed.isolated_env(tmp, AO_OPENCODE_BIN=str(STANDIN))
    project = tmp / "project"
    project.mkdir()
    (project / "agent-orchestrator.yaml").write_text(
        f"plugins:\n  runtime: process\nprojects:\n  - name: soak\n    path: {project}\n"
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    conn = Connection([sys.executable, "-m", "ao_server"], env=env, cwd=str(project), stderr=log)
    server = psutil.Process(conn.proc.pid)
    print(f"ao-server soak: {args.cycles} spawn/exit cycles of the stand-in, {args.parallel} in flight, "
          f"pollInterval {args.poll_interval}s, machine: {psutil.cpu_count()} cores")
    try:
        conn.initialize(project, {"pollInterval": args.poll_interval})
        cycler = Cycler(conn, args.parallel)
        print(show("started", measure(server)))
        cycler.run(args.warmup)
        time.sleep(3 * args.poll_interval)
        before = measure(server)
        print(show(f"after {args.warmup} warm-up cycles", before))
        t = time.monotonic()
        ids, bad = cycler.run(args.cycles)
        took = time.monotonic() - t
        time.sleep(max(1.0, 3 * args.poll_interval))  # let the last exits settle
        after = measure(server)
        print(show(f"after {args.cycles} more cycles", after))
        print(f"cycles: {len(ids)} in {took:.0f}s ({1000 * took / max(1, len(ids)):.0f} ms each, "
              f"{args.parallel} in flight); {len(set(ids))} distinct ids; {bad} did not end with exit code 0")
        print(f"growth: RSS {after['rss_mb'] - before['rss_mb']:+.1f} MB (target < 10 MB), "
              f"fds {after['fds'] - before['fds']:+.0f} (target 0), zombies {after['zombies']:.0f} (target 0), "
              f"threads {after['threads'] - before['threads']:+.0f}")
        return 0
    finally:
        try:
            conn.close()
        finally:
            stopped = bed.stop_processes_under(tmp)
            log.close()
            kept = f"; kept {tmp}" if args.keep else ""
            print(f"cleanup: stopped the server and {stopped} processes by PID{kept}")
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
