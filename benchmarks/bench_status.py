"""Benchmark: the engine's status snapshot for N live sessions, per runtime.

Spawns N agents with the STAND-IN executable (tests/support/standin/opencode, not
OpenCode: N real OpenCode processes would not fit in memory), on a private tmux
socket and in a temp state dir, then times ``Orchestrator.snapshot()`` (what
`ao status` and the server's poller run) and counts the subprocesses each call
starts: the design says one ``tmux list-panes -a`` whatever N. Also times a
whole ``ao status`` CLI call (interpreter start included). Cleans up by PID and
by killing its own tmux server.

Run: ``python benchmarks/bench_status.py [--sessions 100] [--polls 30]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STANDIN = ROOT / "tests" / "support" / "standin" / "opencode"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--polls", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ao-bench-status-") as tmp:
        base = Path(tmp)
        for rt in ("tmux", "process"):
            bench(base / rt, rt, args.sessions, args.polls)
    return 0


def bench(base: Path, runtime: str, n: int, polls: int) -> None:
    from ao_server.config import load_config
    from ao_server.orchestrator import Orchestrator

    project = base / "proj"
    project.mkdir(parents=True)
    sock = f"ao-bench-{uuid.uuid4().hex[:8]}"
    (project / "agent-orchestrator.yaml").write_text(
        f"plugins:\n  runtime: {runtime}\nruntime:\n  tmuxSocket: {sock}\nprojects:\n  - name: p\n    path: .\n"
    )
    env = {
        **os.environ,
        "AO_OPENCODE_BIN": str(STANDIN),
        "AO_STATE_DIR": str(base / "state"),
        "XDG_DATA_HOME": str(base / "data"),
        "SHELL": "/bin/sh",
    }
    orch = Orchestrator(load_config(project / "agent-orchestrator.yaml", cwd=project), base / "state", env)
    t0 = time.perf_counter()
    for i in range(n):
        orch.spawn(project="p", prompt=f"bench {i} [[sleep:600]]")
    spawn_s = time.perf_counter() - t0
    try:
        calls = 0
        real_run, real_popen = subprocess.run, subprocess.Popen.__init__

        def counting_run(*a, **k):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            return real_run(*a, **k)

        subprocess.run = counting_run  # type: ignore[assignment]
        times = []
        for _ in range(polls):
            t = time.perf_counter()
            snap = orch.snapshot()
            times.append((time.perf_counter() - t) * 1000)
        subprocess.run = real_run  # type: ignore[assignment]
        del real_popen
        alive = sum(1 for lv in snap.live.values() if lv.alive)
        cli = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "ao_server.cli", "status"], cwd=project, env=env,
                           capture_output=True, check=True)
            cli.append((time.perf_counter() - t) * 1000)
        times.sort()
        print(f"[{runtime}] {n} sessions ({alive} alive): spawn {spawn_s / n * 1000:.0f} ms each; "
              f"snapshot median {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms; "
              f"{calls / polls:.1f} subprocesses per snapshot; `ao status` CLI median {statistics.median(cli):.0f} ms")
    finally:
        for r in orch.store.all()[0]:
            orch.runtime(r.runtime).kill(r)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
