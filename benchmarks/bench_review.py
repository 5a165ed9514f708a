"""Benchmark: ``ao/changes`` and ``ao/fileDiff`` on a worktree with many changed files.

Builds, in a temporary directory, a git repository of ``--tracked`` files, a session worktree
(``workspace.create``, as ``ao spawn`` makes it) and then changes ``--changed`` files in it the way
an agent leaves its work: a half are edits of tracked files, a third new untracked files, the rest
deletions, none committed. A session record points at it (the real store), and a real ``ao-server``
process answers ``ao/changes`` (and ``ao/fileDiff`` for one file) over JSON-RPC, timed at the client.
The engine call alone (``review.worktree_changes``) is timed too.

Run: ``python benchmarks/bench_review.py [--tracked 5000] [--changed 1000] [--runs 20]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))

from ao_client import Connection  # noqa: E402 - the standard-library client

from ao_server import review, workspace  # noqa: E402
from ao_server.model import STATUS_EXITED, SessionRecord  # noqa: E402
from ao_server.store import Store  # noqa: E402
from tests.support.bed import isolated_env, percentile  # noqa: E402


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True)


def build(tmp: Path, tracked: int, changed: int) -> tuple[Path, Path, dict[str, str]]:
    project = tmp / "project"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "b@example.com")
    git(project, "config", "user.name", "Bench")
    for i in range(tracked):
        d = project / f"pkg{i % 50}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text("".join(f"line {j} of module {i}\n" for j in range(40)))
    (project / ".gitignore").write_text("agent-orchestrator.yaml\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "init")
    (project / "agent-orchestrator.yaml").write_text(
        "projects:\n  - name: bench\n    path: .\n    workspace: worktree\n    runtime: process\n"
    )
    env = isolated_env(tmp, AO_OPENCODE_BIN=str(tmp / "no-opencode"))
    store = Store(Path(env["AO_STATE_DIR"]))
    rec = store.create(
        SessionRecord(num=0, project="bench", agent="opencode", runtime="process", status=STATUS_EXITED,
                      prompt="bench", workdir=project, created_at=time.time())
    )  # fmt: skip
    ws = workspace.create(project, rec.id, tmp / "worktrees" / rec.id, "main")
    tree = Path(ws.path)
    edits, news = changed // 2, changed // 3
    for i in range(edits):
        f = tree / f"pkg{i % 50}" / f"mod{i}.py"
        f.write_text(f.read_text().replace("line 7 ", "LINE 7 ") + "one more line\n")
    for i in range(news):
        d = tree / "new" / f"d{i % 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"added {i}.py").write_text("print('new')\n" * 10)
    for i in range(changed - edits - news):
        os.unlink(tree / f"pkg{(edits + i) % 50}" / f"mod{edits + i}.py")
    store.update(rec.num, status=STATUS_EXITED, exit_code=0, workspace=ws, workdir=tree)
    return project, tree, env


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracked", type=int, default=5000, help="files in the repository")
    ap.add_argument("--changed", type=int, default=1000, help="files the 'agent' changed")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ao-bench-review-") as t:
        tmp = Path(t)
        started = time.perf_counter()
        project, _tree, env = build(tmp, args.tracked, args.changed)
        print(f"built: {args.tracked} tracked files, {args.changed} changed in the worktree "
              f"({time.perf_counter() - started:.1f} s)")

        ws_rec = Store(Path(env["AO_STATE_DIR"])).get(1).workspace
        assert ws_rec is not None
        engine = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            tc = review.worktree_changes(ws_rec)
            engine.append((time.perf_counter() - t0) * 1000)
        assert len(tc.files) == args.changed, (len(tc.files), args.changed)

        conn = Connection([sys.executable, "-m", "ao_server"], env=env, cwd=str(project), stderr=subprocess.DEVNULL)
        try:
            conn.initialize(project)
            rpc, diff = [], []
            path = tc.files[0].path
            for _ in range(args.runs):
                t0 = time.perf_counter()
                res = conn.request("ao/changes", {"sessionId": "bench/agent-1"}, timeout=120)
                rpc.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                conn.request("ao/fileDiff", {"sessionId": "bench/agent-1", "path": path}, timeout=120)
                diff.append((time.perf_counter() - t0) * 1000)
            assert len(res["files"]) == args.changed
        finally:
            conn.close()
    for name, xs in (("engine worktree_changes", engine), ("ao/changes over JSON-RPC", rpc),
                     ("ao/fileDiff over JSON-RPC", diff)):
        print(f"{name:28s} p50 {percentile(xs, 50):7.1f} ms   p95 {percentile(xs, 95):7.1f} ms   "
              f"max {max(xs):7.1f} ms   ({len(xs)} runs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
