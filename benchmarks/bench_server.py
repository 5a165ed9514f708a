#!/usr/bin/env python3
"""Benchmarks of ao-server as an editor sees it (prints figures; not a test).

1. Exit-to-notification latency: the time from an agent process exiting to
   its ``ao/statusChanged`` reaching the client, p50/p95, with at least 50
   live sessions (target: p95 <= 200 ms, whatever the poll interval: the exit record
   is watched with inotify and wakes the poller).
2. ``ao/status`` round trip with 100 sessions: median and p95 (target < 30 ms).
3. The poller's CPU while idle with 100 sessions at the default interval, in %
   of one core, from the server process's CPU times (target < 2 %).

Agents are the STAND-IN executable (tests/support/standin/opencode, not
OpenCode) under the process runtime, so 100 of them fit on a small machine;
each one writes the time it exits to ``$AO_STANDIN_EXITLOG/<session>``.
Everything lives in a temp dir (HOME, XDG dirs, state dir) and everything
started is killed by PID at the end.

    python benchmarks/bench_server.py [--live 50] [--idle-seconds 20] [--poll-interval 1.0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
sys.path.insert(0, str(ROOT))
from ao_client import Connection  # noqa: E402  (the standard-library client is the benchmark's client)

from tests.support import bed  # noqa: E402  (isolated env and process cleanup, shared with the tests)

STANDIN = ROOT / "tests" / "support" / "standin" / "opencode"


def isolated_env(tmp: Path) -> dict[str, str]:
    (tmp / "exits").mkdir(parents=True, exist_ok=True)
    return bed.isolated_env(tmp, AO_OPENCODE_BIN=str(STANDIN), AO_STANDIN_EXITLOG=str(tmp / "exits"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--live", type=int, default=50, help="long-lived sessions kept running (default 50)")
    ap.add_argument("--measured", type=int, default=50, help="sessions whose exits are timed (default 50)")
    ap.add_argument("--poll-interval", type=float, default=1.0)
    ap.add_argument("--status-calls", type=int, default=200)
    ap.add_argument("--idle-seconds", type=float, default=20.0)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (server log, state) for a look")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-server-"))
    env = isolated_env(tmp)
    project = tmp / "project"
    project.mkdir()
    (project / "agent-orchestrator.yaml").write_text(
        f"plugins:\n  runtime: process\nprojects:\n  - name: bench\n    path: {project}\n"
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    conn = Connection([sys.executable, "-m", "ao_server", "-v"], env=env, cwd=str(project), stderr=log)
    server = psutil.Process(conn.proc.pid)
    print(
        f"ao-server benchmark: {args.live} live + {args.measured} measured stand-in agents, "
        f"pollInterval {args.poll_interval}s, machine: {psutil.cpu_count()} cores"
    )
    try:
        conn.initialize(project, {"pollInterval": args.poll_interval})

        # --- sessions: the live ones first, then the measured ones, exiting over ~10 s -------------------------
        t0 = time.monotonic()
        for i in range(args.live):
            conn.request("ao/spawn", {"prompt": f"[[sleep:3600]] background {i}"})
        spread = 10.0
        measured: dict[str, str] = {}  # sessionId -> AO_SESSION_ID (agent-N)
        first_exit = 4.0 + 0.05 * args.measured  # leaves time to spawn them all first
        for i in range(args.measured):
            delay = first_exit + i * spread / max(1, args.measured)
            s = conn.request("ao/spawn", {"prompt": f"[[sleep:{delay:.3f}]] measured {i}"})
            measured[s["sessionId"]] = s["sessionId"].rsplit("/", 1)[1]
        spawned = time.monotonic() - t0
        print(
            f"spawned {args.live + args.measured} sessions in {spawned:.1f}s "
            f"({1000 * spawned / (args.live + args.measured):.0f} ms per ao/spawn)"
        )

        # --- 1. exit -> notification latency ------------------------------------------------------------------
        received: dict[str, float] = {}
        deadline = time.monotonic() + first_exit + spread + 30
        while len(received) < len(measured):
            params, at = conn.wait_notification(
                "ao/statusChanged",
                lambda c: c.get("sessionId") in measured and c.get("status") == "exited",
                timeout=max(0.1, deadline - time.monotonic()),
            )
            received.setdefault(params["sessionId"], at)
        latencies = []
        for sid, at in received.items():
            exit_file = tmp / "exits" / measured[sid]
            latencies.append(at - float(exit_file.read_text().strip()))
        print(
            f"1. exit -> ao/statusChanged ({len(latencies)} exits, {args.live}+ live sessions, "
            f"pollInterval {args.poll_interval}s): p50 {1000 * bed.percentile(latencies, 50):.0f} ms, "
            f"p95 {1000 * bed.percentile(latencies, 95):.0f} ms, max {1000 * max(latencies):.0f} ms "
            "(target p95 <= 200 ms)"
        )

        # --- 2. ao/status round trip ----------------------------------------------------------------------------
        total = len(conn.request("ao/status", {})["sessions"])
        for _ in range(10):
            conn.request("ao/status", {})
        rtts = []
        for _ in range(args.status_calls):
            start = time.perf_counter()
            conn.request("ao/status", {})
            rtts.append(time.perf_counter() - start)
        print(
            f"2. ao/status round trip with {total} sessions ({args.status_calls} calls): "
            f"median {1000 * statistics.median(rtts):.1f} ms, p95 {1000 * bed.percentile(rtts, 95):.1f} ms "
            "(target < 30 ms)"
        )

        # --- 3. idle poller CPU -----------------------------------------------------------------------------------
        time.sleep(2)
        before = server.cpu_times()
        wall0 = time.monotonic()
        time.sleep(args.idle_seconds)
        after = server.cpu_times()
        wall = time.monotonic() - wall0
        used = (after.user - before.user) + (after.system - before.system)
        used += (after.children_user - before.children_user) + (after.children_system - before.children_system)
        print(
            f"3. idle poller CPU with {total} sessions, pollInterval {args.poll_interval}s, over {wall:.0f}s: "
            f"{100 * used / wall:.2f}% of one core (target < 2%)"
        )
        return 0
    finally:
        try:
            conn.close()
        finally:
            killed = bed.stop_processes_under(tmp)  # by PID: agents and anything else of this run
            log.close()
            print(f"cleanup: stopped the server and {killed} agent processes" + (f"; kept {tmp}" if args.keep else ""))
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
