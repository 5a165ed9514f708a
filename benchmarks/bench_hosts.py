#!/usr/bin/env python3
"""Benchmark: status of sessions on remote hosts over SSH (prints figures; not a test).

Makes ``--hosts`` real SSH hosts (network namespaces with veth links, an sshd each: the test
hosts of tests/support/hosts.py, so this needs root and Debian's openssh-server), spawns
``--sessions`` agents on each through ao's ``ssh`` runtime, and times ``--ticks`` status
snapshots of all of them (``Orchestrator.snapshot``: what ``ao status`` and every poll of
ao-server do). Counted per tick: the ssh processes started (every ``subprocess`` call of ssh),
the bytes sent on their stdin (the database reader and the sessions' bindings), and ao's CPU.

The agents are the STAND-IN executable (tests/support/standin/opencode, not OpenCode: 90 real
OpenCode processes need ~45 GB). When a real OpenCode is at hand (``$AO_TEST_OPENCODE``, as ``make
bench`` sets) it creates each host's OpenCode database first, so the reader there runs its real
queries. Everything is stopped and the namespaces removed at the end.

    python benchmarks/bench_hosts.py [--hosts 3] [--sessions 30] [--ticks 30]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ao_server.config import load_config  # noqa: E402
from ao_server.model import STATUS_EXITED  # noqa: E402
from ao_server.orchestrator import Orchestrator  # noqa: E402
from ao_server.remote import stop_masters  # noqa: E402
from tests.support import bed  # noqa: E402
from tests.support.hosts import HostsUnavailable, make_hosts, preflight  # noqa: E402

STANDIN = ROOT / "tests" / "support" / "standin" / "opencode"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


class Counter:
    """Counts the ssh processes ao starts and what it sends them (wraps subprocess.run, measuring only)."""

    def __init__(self) -> None:
        self.calls = 0
        self.sent = 0
        self._run = subprocess.run

    def __enter__(self) -> Counter:
        def counted(argv: Any, *a: Any, **kw: Any) -> Any:
            if isinstance(argv, list) and argv and str(argv[0]).endswith("/ssh"):
                self.calls += 1
                self.sent += len(kw.get("input") or b"")
            return self._run(argv, *a, **kw)

        subprocess.run = counted  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run = self._run  # type: ignore[assignment]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=30, help="sessions per host")
    ap.add_argument("--ticks", type=int, default=30)
    args = ap.parse_args()
    why = preflight()
    if why:
        print(f"bench_hosts: skipped: {why}")
        return 0
    real = os.environ.get("AO_TEST_OPENCODE") or os.environ.get("AO_OPENCODE_BIN")
    with tempfile.TemporaryDirectory(prefix="ao-bench-hosts-") as d:
        tmp = Path(d)
        try:
            hosts = make_hosts(tmp / "hosts", args.hosts, opencode=str(STANDIN))
        except HostsUnavailable as e:
            print(f"bench_hosts: skipped: {e}")
            return 0
        env = bed.isolated_env(tmp / "local")
        state = Path(env["AO_STATE_DIR"])
        try:
            lines = [hosts.config_yaml().rstrip("\n"), "projects:"]
            for h in hosts:
                (h.root / "work").mkdir()
                lines += [f"  - name: on-{h.name}", f"    path: {h.root / 'work'}", f"    host: {h.name}"]
                if real and Path(real).is_file():  # an empty OpenCode database there: the reader's real queries
                    h.exec(real, "session", "list", "--format", "json", timeout=120)
            cfg = tmp / "agent-orchestrator.yaml"
            cfg.write_text("\n".join(lines) + "\n")
            orch = Orchestrator(load_config(cfg, env=env), state, env)
            t0 = time.perf_counter()
            for h in hosts:
                for _ in range(args.sessions):
                    orch.spawn(project=f"on-{h.name}", prompt="a stand-in agent [[sleep:3600]]")
            spawn_s = time.perf_counter() - t0
            records, _ = orch.store.all()
            running = [r for r in records if r.status != STATUS_EXITED]
            times: list[float] = []
            calls: list[int] = []
            sent: list[int] = []
            cpus: list[float] = []
            warnings: set[str] = set()
            for _ in range(args.ticks):
                records, _ = orch.store.all()
                with Counter() as count:
                    c0, w0 = cpu(), time.perf_counter()
                    snap = orch.snapshot([r for r in records if r.status != STATUS_EXITED])
                    times.append(time.perf_counter() - w0)
                    cpus.append(cpu() - c0)
                calls.append(count.calls)
                sent.append(count.sent)
                warnings.update(snap.warnings)
                alive = sum(1 for lv in snap.live.values() if lv.alive)
                if alive != len(running):
                    print(f"  warning: {alive} of {len(running)} sessions seen alive")
            n = args.hosts * args.sessions
            print(f"{args.hosts} hosts x {args.sessions} sessions (stand-in agents), {args.ticks} status snapshots")
            print(f"  spawn: {1000 * spawn_s / n:.0f} ms per session over ssh ({spawn_s:.1f} s for {n})")
            print(f"  one snapshot of all {n}: median {1000 * statistics.median(times):.0f} ms, "
                  f"p95 {1000 * bed.percentile(times, 95):.0f} ms, max {1000 * max(times):.0f} ms")  # fmt: skip
            print(f"  ssh processes started per snapshot: {min(calls)}-{max(calls)} (hosts: {args.hosts})")
            print(f"  sent on stdin per snapshot: {statistics.median(sent) / 1024:.0f} KiB, the sessions' bindings "
                  f"(the first also sends the database reader, once per host: {sent[0] / 1024:.0f} KiB)")  # fmt: skip
            print(f"  ao's CPU per snapshot (ssh clients included): median {1000 * statistics.median(cpus):.0f} ms")
            for w in sorted(warnings)[:3]:
                print(f"  note: {w}")
        finally:
            stop_masters(state)
            hosts.cleanup()
            bed.stop_processes_under(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
