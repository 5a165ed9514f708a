#!/usr/bin/env python3
"""Benchmark: a store with 10,000 exited and 100 live sessions (prints figures; not a test).

1. One poller snapshot: what ao-server's poller does per tick (``Poller.tick``), median
   and p95 over ``--polls`` ticks (target < 30 ms).
2. ``ao list`` CLI wall time, interpreter start included: as typed (its default page) and ``--all``
   when the CLI has it (target < 300 ms).
3. ``ao/status`` for the live sessions (``{"running": true}``) round trip through a real ao-server,
   median and p95 (target < 30 ms).

The exited sessions are written through ``ao_server.store.Store`` (create + finish), so they follow the
schema wherever it goes; the live ones are the STAND-IN executable (tests/support/standin/opencode,
not OpenCode) under the process runtime. When a real OpenCode is at hand (``$AO_TEST_OPENCODE`` or
``$AO_OPENCODE_BIN``, as ``make bench`` sets), it creates an empty OpenCode database first so that
introspection runs its real queries. Everything lives in a temp dir and is stopped by PID at the end.

    python benchmarks/bench_scale.py [--exited 10000] [--live 100] [--polls 30] [--calls 100]
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
sys.path.insert(0, str(ROOT))
from ao_client import Connection, RpcError  # noqa: E402  (the standard-library client is the benchmark's client)

from tests.support import bed  # noqa: E402  (isolated env and process cleanup, shared with the tests)

STANDIN = ROOT / "tests" / "support" / "standin" / "opencode"


def ms(values: list[float]) -> str:
    return f"median {1000 * statistics.median(values):.1f} ms, p95 {1000 * bed.percentile(values, 95):.1f} ms"


def real_opencode() -> str | None:
    for var in ("AO_TEST_OPENCODE", "AO_OPENCODE_BIN"):
        path = os.environ.get(var)
        if path and Path(path).is_file() and Path(path).resolve() != STANDIN.resolve():
            return path
    return shutil.which("opencode")


def fill_store(state_dir: Path, project: Path, n: int, *, age_days: float = 30) -> float:
    """``n`` exited sessions through the Store API, the first ``age_days`` ago; returns the seconds it took."""
    from ao_server.model import SessionRecord
    from ao_server.store import Store

    store = Store(state_dir)
    with_facts = "facts" in inspect.signature(store.finish).parameters
    outcome = {"result": "success", "error": None, "finish": "stop"}
    facts = {
        "cost": {"usd": 0.0123, "tokens": {"input": 1200, "output": 340, "reasoning": 0, "cacheRead": 0,
                                           "cacheWrite": 0}},
        "summary": {"title": "AO:agent-0", "firstPrompt": "an old task", "files": 1, "additions": 3,
                    "deletions": 1, "lastTool": "edit", "prUrl": None},
        "activity": "exited",
    }
    start = time.perf_counter()
    t0 = time.time() - age_days * 86400
    for i in range(n):
        rec = SessionRecord(num=0, project="bench", agent="opencode", runtime="process", status="starting",
                            prompt=f"an old task number {i}: fix the flaky test in module {i % 97}",
                            workdir=project, created_at=t0 + i * 60)
        rec = store.create(rec)
        if with_facts:
            store.finish(rec.num, 0, outcome, t0 + i * 60 + 45, facts=facts)
        else:
            store.finish(rec.num, 0, outcome, t0 + i * 60 + 45)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--exited", type=int, default=10_000, help="exited sessions in the store (default 10000)")
    ap.add_argument("--live", type=int, default=100, help="live stand-in agents (default 100)")
    ap.add_argument("--polls", type=int, default=30, help="poller snapshots timed (default 30)")
    ap.add_argument("--calls", type=int, default=100, help="ao/status calls timed (default 100)")
    ap.add_argument("--cli-runs", type=int, default=5, help="`ao list` runs timed (default 5)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (state, server log) for a look")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-scale-"))
    opencode = real_opencode()
    env = bed.isolated_env(tmp, AO_OPENCODE_BIN=str(STANDIN))
    os.environ.update(env)  # the in-process engine (poller snapshot) uses the same isolated dirs
    for k in [k for k in os.environ if k.startswith(("OPENCODE", "TMUX"))]:
        del os.environ[k]
    project = tmp / "project"
    project.mkdir()
    (project / "agent-orchestrator.yaml").write_text(
        f"plugins:\n  runtime: process\nprojects:\n  - name: bench\n    path: {project}\n"
    )
    state_dir = Path(env["AO_STATE_DIR"])
    print(f"ao scale benchmark: {args.exited} exited + {args.live} live stand-in sessions, "
          f"machine: {psutil.cpu_count()} cores")
    conn = None
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    try:
        if opencode:
            subprocess.run([opencode, "session", "list", "--format", "json"], env=env, cwd=project, timeout=300,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = Path(env["XDG_DATA_HOME"]) / "opencode" / "opencode.db"
        print(f"OpenCode database: {'an empty real one (introspection runs its queries)' if db.exists() else 'none'}")

        took = fill_store(state_dir, project, args.exited)
        print(f"store: {args.exited} exited sessions written in {took:.1f}s "
              f"({1000 * took / max(1, args.exited):.2f} ms each, Store.create + Store.finish)")

        from ao_server import protocol as p
        from ao_server.config import load_config
        from ao_server.orchestrator import Orchestrator
        from ao_server.server import create_server

        orch = Orchestrator(load_config(project / "agent-orchestrator.yaml", cwd=project), state_dir)
        t = time.perf_counter()
        for i in range(args.live):
            orch.spawn(project="bench", prompt=f"live task {i} [[sleep:3600]]")
        took = time.perf_counter() - t
        each = 1000 * took / max(1, args.live)
        print(f"live: {args.live} stand-in agents spawned in {took:.1f}s ({each:.0f} ms each)")

        # --- 1. one poller tick ---------------------------------------------------------------------
        server = create_server()
        server.root = project
        server.options = p.parse_init_options({"pollInterval": 1.0})
        tick = server.poller.tick
        first = time.perf_counter()
        views = tick()
        first = time.perf_counter() - first
        times = []
        for _ in range(args.polls):
            t = time.perf_counter()
            views = tick()
            times.append(time.perf_counter() - t)
        server.engine_pool.shutdown(wait=False)
        server.poller.shutdown()
        print(f"1. poller snapshot ({len(views)} sessions looked at per tick, {args.polls} ticks): {ms(times)}; "
              f"first tick {1000 * first:.1f} ms (target < 30 ms)")

        # --- 2. ao list -------------------------------------------------------------------------------
        help_text = subprocess.run([sys.executable, "-m", "ao_server.cli", "list", "--help"], env=env, cwd=project,
                                   capture_output=True, text=True).stdout
        variants = [["list"]] + ([["list", "--all"]] if "--all" in help_text else [])
        for argv in variants:
            walls, lines = [], 0
            for _ in range(args.cli_runs):
                t = time.perf_counter()
                out = subprocess.run([sys.executable, "-m", "ao_server.cli", *argv], env=env, cwd=project,
                                     capture_output=True, text=True)
                walls.append(time.perf_counter() - t)
                if out.returncode != 0:
                    print(f"   `ao {' '.join(argv)}` failed: {out.stderr.strip()}")
                    break
                lines = len(out.stdout.splitlines())
            print(f"2. `ao {' '.join(argv)}` wall time ({lines} lines printed, {len(walls)} runs): {ms(walls)} "
                  "(target < 300 ms)")

        # --- 3. ao/status of the live sessions through a real server ----------------------------------------
        conn = Connection([sys.executable, "-m", "ao_server", "-v"], env=env, cwd=str(project), stderr=log)
        conn.initialize(project, {"pollInterval": 1.0})
        params: dict[str, object] = {"running": True}
        try:
            conn.request("ao/status", params)
        except RpcError as e:
            print(f"   ao/status does not take running: true ({e.message}); timing ao/status {{}} instead")
            params = {}
        count = len(conn.request("ao/status", params)["sessions"])
        for _ in range(5):
            conn.request("ao/status", params)
        rtts = []
        for _ in range(args.calls):
            t = time.perf_counter()
            conn.request("ao/status", params)
            rtts.append(time.perf_counter() - t)
        print(f"3. ao/status {params} round trip ({count} sessions returned, {args.calls} calls): {ms(rtts)} "
              "(target < 30 ms)")
        return 0
    finally:
        if conn is not None:
            conn.close()
        stopped = bed.stop_processes_under(tmp)
        log.close()
        print(f"cleanup: stopped {stopped} processes by PID" + (f"; kept {tmp}" if args.keep else ""))
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
