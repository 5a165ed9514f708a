#!/usr/bin/env python3
"""Benchmark: live agents, as an editor sees them (prints figures; not a test).

With ``--live`` live agents (default 20), each in its own git worktree, all in the one shared
``opencode serve``, driven through a real ao-server at the default poll interval:

1. ``permission.asked`` (OpenCode's event, read here from its own event stream) to
   ``ao/inputRequested`` at the client: p50/p95 (target p95 <= 200 ms).
2. A turn's end (OpenCode's ``session.idle`` event) to the session's ``ao/statusChanged`` at the
   client: p50/p95 (target p95 <= 200 ms).
3. Memory: the RSS of the OpenCode server's process tree with every live session waiting, beside
   the RSS of ``--run`` run-mode agents (one ``opencode run`` each) measured in the same run
   (target: live total <= 1.5 GB).

The real OpenCode (``AO_OPENCODE_BIN``, else scripts/install-opencode.sh's) and the tests' fake
model; everything lives in a temp dir and is stopped by PID at the end.

    python benchmarks/bench_live.py [--live 20] [--run 5]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
sys.path.insert(0, str(ROOT))
from ao_client import Connection  # noqa: E402  (the standard-library client is the benchmark's client)

from ao_server.runtimes.live import OpenCodeServer  # noqa: E402
from tests.support import bed  # noqa: E402  (isolated env and process cleanup, shared with the tests)
from tests.support.fake_model import FakeModelServer, opencode_config  # noqa: E402


def opencode_binary() -> str:
    found = os.environ.get("AO_OPENCODE_BIN")
    if found:
        return found
    out = subprocess.run(["bash", str(ROOT / "scripts" / "install-opencode.sh")], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


class Events:
    """OpenCode's global event stream, read here: when each permission was asked and each session went idle."""

    def __init__(self, info_path: Path) -> None:
        self.asked: dict[str, float] = {}
        self.idle: dict[str, list[float]] = {}
        info = json.loads(info_path.read_text())
        token = base64.b64encode(f"opencode:{info['password']}".encode()).decode()
        self.req = urllib.request.Request(
            f"http://127.0.0.1:{info['port']}/global/event", headers={"Authorization": f"Basic {token}"}
        )
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        with urllib.request.urlopen(self.req, timeout=600) as resp:
            for raw in resp:
                line = raw.decode(errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                now = time.time()
                event = json.loads(line[5:])
                payload = event.get("payload", event)
                props = payload.get("properties") or {}
                if payload.get("type") == "permission.asked":
                    self.asked.setdefault(str(props.get("id")), now)
                elif payload.get("type") == "session.idle":
                    self.idle.setdefault(str(props.get("sessionID")), []).append(now)


def tree_rss(pid: int) -> int:
    try:
        p = psutil.Process(pid)
        return sum(x.memory_info().rss for x in [p, *p.children(recursive=True)])
    except psutil.Error:
        return 0


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--live", type=int, default=20, help="live agents, each in its own worktree (default 20)")
    ap.add_argument("--run", type=int, default=5, help="run-mode agents measured for comparison (default 5)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="ao-bench-live-"))
    model = FakeModelServer(0, None)
    model.start_background()
    binary = opencode_binary()
    env = bed.isolated_env(tmp, AO_OPENCODE_BIN=binary)
    oc_config = {**opencode_config(model.base_url), "permission": {"bash": "ask"}}
    (tmp / "config" / "opencode").mkdir(parents=True)
    (tmp / "config" / "opencode" / "opencode.json").write_text(json.dumps(oc_config))
    project = tmp / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    (project / "README").write_text("bench\n")
    (project / ".gitignore").write_text("agent-orchestrator.yaml\n")
    git(project, "add", "-A")
    git(project, "-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "init")
    (project / "agent-orchestrator.yaml").write_text(
        f"plugins:\n  runtime: process\nprojects:\n  - name: bench\n    path: {project}\n    workspace: worktree\n"
    )
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in finally
    conn = Connection([sys.executable, "-m", "ao_server"], env=env, cwd=str(project), stderr=log)
    print(f"live agents benchmark: {args.live} live agents (each in a worktree), {args.run} run-mode agents, "
          f"pollInterval 1.0s, machine: {psutil.cpu_count()} cores, opencode {binary}")
    try:
        conn.initialize(project, {"pollInterval": 1.0})
        state = Path(env["AO_STATE_DIR"])
        first = conn.request("ao/spawn", {"prompt": "[[bash:echo 0 > f0.txt]]", "runtime": "live"}, timeout=300)
        events = Events(state / "opencode-server.json")
        time.sleep(1.0)  # the stream is connected
        t0 = time.monotonic()
        sessions = [first["sessionId"]]
        for i in range(1, args.live):
            s = conn.request("ao/spawn", {"prompt": f"[[bash:echo {i} > f{i}.txt]]", "runtime": "live"}, timeout=300)
            sessions.append(s["sessionId"])
        print(f"spawned {args.live} live agents in {time.monotonic() - t0:.1f}s")

        # 1. permission.asked -> ao/inputRequested
        requests: dict[str, tuple[str, float]] = {}  # requestId -> (sessionId, received)
        deadline = time.monotonic() + 300
        while len(requests) < args.live and time.monotonic() < deadline:
            params, at = conn.wait_notification("ao/inputRequested", timeout=max(1, deadline - time.monotonic()))
            requests[params["request"]["requestId"]] = (params["sessionId"], at)
        asked = [at - events.asked[rid] for rid, (_, at) in requests.items() if rid in events.asked]
        print(f"1. permission.asked -> ao/inputRequested ({len(asked)} requests, {args.live} live sessions): "
              f"p50 {1000 * bed.percentile(asked, 50):.0f} ms, p95 {1000 * bed.percentile(asked, 95):.0f} ms, "
              f"max {1000 * max(asked):.0f} ms (target p95 <= 200 ms)")

        # 3. memory, every live session waiting
        server_pid = json.loads((state / "opencode-server.json").read_text())["pid"]
        live_rss = tree_rss(server_pid)

        # 2. answer all; each turn's end (session.idle) -> its ao/statusChanged exit
        ses_of = {}
        for rid, (sid, _) in requests.items():
            view = conn.request("ao/respond", {"sessionId": sid, "requestId": rid, "reply": "once"}, timeout=120)
            ses_of[sid] = view["opencodeSessionId"]
        ended: dict[str, float] = {}
        deadline = time.monotonic() + 300
        while len(ended) < len(ses_of) and time.monotonic() < deadline:
            params, at = conn.wait_notification(
                "ao/statusChanged", lambda c: c["sessionId"] in ses_of and c["status"] == "exited",
                timeout=max(1, deadline - time.monotonic()))
            ended.setdefault(params["sessionId"], at)
        idle = [at - events.idle[ses_of[sid]][-1] for sid, at in ended.items() if events.idle.get(ses_of[sid])]
        print(f"2. session.idle -> ao/statusChanged ({len(idle)} turns): p50 {1000 * bed.percentile(idle, 50):.0f} ms,"
              f" p95 {1000 * bed.percentile(idle, 95):.0f} ms, max {1000 * max(idle):.0f} ms (target p95 <= 200 ms)")

        # run-mode agents for comparison: one opencode process (tree) each
        runs = [conn.request("ao/spawn", {"prompt": f"[[slow:120]] run {i}"}, timeout=300) for i in range(args.run)]
        time.sleep(15)  # they load, connect and wait on the slow model
        run_rss = []
        for r in runs:
            view = conn.request("ao/status", {"sessionId": r["sessionId"]}, timeout=60)["sessions"][0]
            if view.get("pid"):
                run_rss.append(tree_rss(view["pid"]))
        mb = 1024 * 1024
        per_run = sum(run_rss) / max(1, len(run_rss))
        print(f"3. memory: {args.live} live sessions in one OpenCode server: {live_rss / mb:.0f} MB in all "
              f"({live_rss / mb / args.live:.0f} MB per session; target <= 1536 MB); "
              f"run mode: {len(run_rss)} agents measured, {per_run / mb:.0f} MB each, "
              f"{sum(run_rss) / mb:.0f} MB in all ({per_run * args.live / mb:.0f} MB for {args.live})")
        for r in runs:
            conn.request("ao/kill", {"sessionId": r["sessionId"]}, timeout=120)
    finally:
        conn.close()
        log.close()
        OpenCodeServer(Path(env["AO_STATE_DIR"]), env).stop()
        stopped = bed.stop_processes_under(tmp)
        model.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"cleanup: stopped the OpenCode server and {stopped} other processes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
