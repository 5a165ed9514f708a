"""A git worktree and branch per session: real git, the real OpenCode and the fake model."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.bed import ROOT, Bed

STANDIN = str(ROOT / "tests" / "support" / "standin" / "opencode")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True,
                          timeout=30).stdout


def init_repo(bed: Bed) -> None:
    git(bed.project, "init", "-q", "-b", "main")
    git(bed.project, "config", "user.email", "t@example.com")
    git(bed.project, "config", "user.name", "Test")
    (bed.project / "README").write_text("hello\n")
    (bed.project / ".gitignore").write_text("agent-orchestrator.yaml\n")
    git(bed.project, "add", "README", ".gitignore")
    git(bed.project, "commit", "-q", "-m", "init")


def worktree_config(bed: Bed, runtime: str = "process") -> None:
    bed.write_config(runtime=runtime)
    cfg = bed.project / "agent-orchestrator.yaml"
    cfg.write_text(cfg.read_text() + "    workspace: worktree\n")


def test_sessions_get_their_own_worktree_and_branch(bed: Bed) -> None:
    init_repo(bed)
    worktree_config(bed)
    a = bed.ao_json("spawn", "my-project", "write a [[write:a.txt:from agent one]]")
    b = bed.ao_json("spawn", "my-project", "write b [[write:b.txt:from agent two]]")
    wa, wb = Path(a["workspace"]["path"]), Path(b["workspace"]["path"])
    assert wa != wb and a["workspace"]["branch"] == "ao/agent-1" and b["workspace"]["branch"] == "ao/agent-2"
    assert a["workdir"] == str(wa)
    for sid in (a["sessionId"], b["sessionId"]):
        assert bed.wait_exited(sid)["exitCode"] == 0
    assert (wa / "a.txt").read_text() == "from agent one" and not (wa / "b.txt").exists()
    assert (wb / "b.txt").read_text() == "from agent two" and not (wb / "a.txt").exists()
    assert not (bed.project / "a.txt").exists() and not (bed.project / "b.txt").exists()
    branches = git(bed.project, "branch", "--format=%(refname:short)").split()
    assert {"ao/agent-1", "ao/agent-2"} <= set(branches)

    details = {v["sessionId"]: v for v in bed.ao_json("status", "--details")["sessions"]}
    assert details[a["sessionId"]]["workspace"]["dirty"] is True
    assert "ao/agent-1 +0 dirty" in bed.ao("status", "--details").stdout

    # uncommitted work: cleanup refuses and says what would be lost
    refused = bed.ao("cleanup", a["sessionId"])
    assert refused.returncode == 2 and "uncommitted changes" in refused.stderr and wa.exists()
    # committed but unmerged work: still refused
    git(wa, "add", "a.txt")
    git(wa, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-q", "-m", "agent work")
    refused = bed.ao("cleanup", a["sessionId"])
    assert refused.returncode == 2 and "1 commit(s) on ao/agent-1 not in main" in refused.stderr and wa.exists()
    forced = bed.ao("cleanup", a["sessionId"], "--force")
    assert forced.returncode == 0, forced.stderr
    assert not wa.exists() and "ao/agent-1" not in git(bed.project, "branch", "--format=%(refname:short)").split()

    # a clean worktree is removed with its branch
    (wb / "b.txt").unlink()
    done = bed.ao("cleanup", b["sessionId"])
    assert done.returncode == 0, done.stderr
    assert "branch ao/agent-2" in done.stdout and not wb.exists()
    assert "ao/agent-2" not in git(bed.project, "branch", "--format=%(refname:short)").split()


def test_worktree_errors_leave_nothing_behind(bed: Bed) -> None:
    worktree_config(bed)
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    out = bed.ao("spawn", "my-project", "x", env=env)
    assert out.returncode == 1 and "not a git repository" in out.stderr
    init_repo(bed)
    (bed.project / "README").write_text("changed\n")
    out = bed.ao("spawn", "my-project", "x", env=env)
    assert out.returncode == 1 and "uncommitted changes" in out.stderr
    git(bed.project, "checkout", "README")
    git(bed.project, "branch", "ao/agent-3")
    out = bed.ao("spawn", "my-project", "x", env=env)
    assert out.returncode == 1 and "branch ao/agent-3 already exists" in out.stderr
    assert bed.ao_json("list", env=env) == []
    assert git(bed.project, "worktree", "list").count("\n") == 1
    # kill --cleanup on a running session with a clean worktree
    git(bed.project, "branch", "-D", "ao/agent-3")
    sid = bed.ao("spawn", "my-project", "wait [[sleep:60]]", env=env, check=True).stdout.strip()
    out = bed.ao("kill", sid, "--cleanup", env=env)
    assert out.returncode == 0, out.stderr
    assert "removed worktree" in out.stdout
    assert git(bed.project, "worktree", "list").count("\n") == 1
