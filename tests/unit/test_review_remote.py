"""A live session on a remote host is not reviewed, merged or discarded with this machine's git and records.

A project with ``host:`` has its checkout, its worktrees and OpenCode's database on that host. ao diff,
merge and discard work on this machine only, so for any session on a host (ssh or live) they refuse, with
the ssh runtime's error, until remote review exists. The test's host has the same paths as this machine
(as a user's own build box often does): a local review would find a repository at them, and a merge
would merge it here. The session record is the one a live spawn makes: reserved through the store,
its handle planned by the live runtime; the host is not reachable (nothing here needs it).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ao_server.config import load_config
from ao_server.model import STATUS_EXITED, SessionRecord
from ao_server.orchestrator import Orchestrator
from ao_server.workspace import create as create_worktree
from tests.support.bed import isolated_env


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout.strip()


def test_review_of_a_live_session_on_a_host_is_refused(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    project = tmp_path / "app"  # the host's path, which this machine happens to have too
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "t@example.com")
    git(project, "config", "user.name", "Test")
    (project / "README").write_text("hello\n")
    git(project, "add", "README")
    git(project, "commit", "-q", "-m", "init")
    config = tmp_path / "agent-orchestrator.yaml"
    config.write_text(
        "hosts:\n  - name: far\n    ssh: nobody@ao-test-host.invalid\n"
        f"projects:\n  - name: my-project\n    path: {project}\n    host: far\n    workspace: worktree\n"
        "    agentConfig: {mode: live}\n"
    )
    orch = Orchestrator(load_config(config), Path(env["AO_STATE_DIR"]), env)
    rec = orch.store.create(SessionRecord(
        num=0, project="my-project", agent="opencode", runtime="live", status=STATUS_EXITED, prompt="add a file",
        workdir=project, created_at=time.time(), exit_code=0,
    ))
    rec.handle = {**orch.runtime("live").plan(rec), "ses": "ses_remote1", "started_at": time.time()}
    assert rec.handle["host"] == "far"
    ws = create_worktree(project, rec.id, tmp_path / "worktrees" / rec.id, None)  # where the host has it
    (Path(ws.path) / "added.txt").write_text("the agent's work, on the host\n")
    orch.store.update(rec.num, handle=rec.handle, workspace=ws, workdir=Path(ws.path))
    main_before = git(project, "rev-parse", "main")

    for cmd in (("diff", "agent-1", "--stat"), ("diff", "agent-1", "added.txt"), ("merge", "agent-1"),
                ("discard", "agent-1", "--yes")):
        proc = subprocess.run([sys.executable, "-m", "ao_server.cli", *cmd], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, (cmd, proc.returncode, proc.stderr)
        assert proc.stderr.startswith("ao: my-project/agent-1 runs on host far:"), (cmd, proc.stderr)
        assert "not supported yet" in proc.stderr, (cmd, proc.stderr)
    assert git(project, "rev-parse", "main") == main_before, "the remote session was merged into a local checkout"
    assert not (project / "added.txt").exists()
    assert Path(ws.path, "added.txt").exists() and git(project, "branch", "--list", ws.branch), "it was discarded"
