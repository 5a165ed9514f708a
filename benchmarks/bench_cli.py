#!/usr/bin/env python3
"""Benchmark: how fast the ``ao`` command line starts (prints figures; not a test).

Times whole processes, interpreter start included, in rounds (each command once a round, so a
drift of the machine's speed touches them all alike): a bare ``python -c pass``, ``ao --help``,
``ao status`` on an empty store and ``ao status`` with 100 sessions in the store; prints the median
and p95 of each and its median's ratio to ``python -c pass``. The goal: ``ao status`` on an empty
store within 5x a bare interpreter.

The sessions are exited ones written through ``ao_server.store.Store`` (create + finish), so they
follow the schema wherever it goes and no agent runs. Everything (state dir, HOME, every XDG dir)
is a temp dir, never the user's own; no OpenCode database exists there. Python's bytecode cache
goes to a temp dir too (``PYTHONPYCACHEPREFIX``, written by the rounds not counted), as an installed
ao has one; ``--no-bytecode-cache`` leaves the environment's own settings instead (with
``PYTHONDONTWRITEBYTECODE`` set, a module without an up-to-date ``__pycache__`` is compiled on every run).

    python benchmarks/bench_cli.py [--runs 30] [--sessions 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_scale import fill_store  # noqa: E402  (exited sessions through the Store API, as bench_scale makes them)

from tests.support import bed  # noqa: E402  (isolated env, shared with the tests)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="rounds timed (default 30, after 2 not counted)")
    ap.add_argument("--sessions", type=int, default=100, help="exited sessions in the full store (default 100)")
    ap.add_argument("--no-bytecode-cache", action="store_true", help="the environment's own bytecode settings")
    args = ap.parse_args()
    python = sys.executable
    ao = Path(python).parent / "ao"
    by_hand = [python, "-c", "import sys; from ao_server.cli import main; sys.exit(main())"]
    ao_cmd = [str(ao)] if ao.exists() else by_hand
    with tempfile.TemporaryDirectory(prefix="ao-bench-cli-") as tmp:
        base = Path(tmp)
        env = bed.isolated_env(base)
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        project = base / "project"
        project.mkdir()
        (project / "agent-orchestrator.yaml").write_text(
            f"plugins:\n  runtime: process\nprojects:\n  - name: bench\n    path: {project}\n"
        )
        empty, full = base / "empty-state", base / "full-state"
        fill_store(full, project, args.sessions, age_days=1)
        commands = {
            "python -c pass": [python, "-c", "pass"],
            "ao --help": [*ao_cmd, "--help"],
            "ao status (empty store)": [*ao_cmd, "status", "--state-dir", str(empty)],
            f"ao status ({args.sessions} sessions)": [*ao_cmd, "status", "--state-dir", str(full)],
        }
        for name, cmd in commands.items():  # each works, and the full store lists its sessions
            out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name} failed ({out.returncode}): {out.stderr.strip()}", file=sys.stderr)
                return 1
            if "sessions)" in name and out.stdout.count("bench/agent-") != args.sessions:
                print(f"{name} did not list {args.sessions} sessions:\n{out.stdout[:500]}", file=sys.stderr)
                return 1
        times: dict[str, list[float]] = {name: [] for name in commands}
        for round_ in range(args.runs + 2):
            for name, cmd in commands.items():
                t = time.perf_counter()
                subprocess.run(cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if round_ >= 2:
                    times[name].append(1000 * (time.perf_counter() - t))
    bare = statistics.median(times["python -c pass"])
    cache = "the environment's" if args.no_bytecode_cache else "kept in a temp dir"
    print(f"ao CLI start-up: {args.runs} rounds, machine: {os.cpu_count()} cores, {python}, bytecode cache: {cache}")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"{name:<26} median {med:6.1f} ms, p95 {bed.percentile(values, 95):6.1f} ms, "
              f"{med / bare:5.1f}x python -c pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
