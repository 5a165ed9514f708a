"""ao merge never writes over a file of the user's checkout that git does not track.

git treats ignored files as expendable: a fast-forward (or a merge, or a squash) that brings a path the
checkout holds ignored replaces the user's file without a word. An agent that empties ``.gitignore`` and
writes ``.env`` would so replace the user's ``.env`` (real keys) with no undo. ao refuses such a merge,
changing nothing, and names the paths. A plain untracked file in the way is refused the same way (git
would refuse it too, but without ao saying which file).

Real git, the real OpenCode and the fake model, the CLI and a real ao-server over JSON-RPC. The agent's
work on its branch is made with git in its worktree, as an agent's own commands would.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.bed import Bed

from .test_review import Server, snapshot_tree
from .test_worktree import git, init_repo, worktree_config

SECRET = b"OPENAI_API_KEY=sk-the-users-real-key\n"


def finished_worktree_session(bed: Bed) -> tuple[str, Path]:
    s = bed.ao_json("spawn", "my-project", "look around")
    assert bed.wait_exited(s["sessionId"])["exitCode"] == 0
    return s["sessionId"], Path(s["workspace"]["path"])


def checkout_state(bed: Bed, tree: Path) -> tuple[str, str, str, dict[str, str], str]:
    """All a refused merge must leave as it was: the checkout's branch and files, and the agent's."""
    return (
        git(bed.project, "symbolic-ref", "HEAD"),
        git(bed.project, "rev-parse", "HEAD"),
        git(bed.project, "status", "--porcelain", "--ignored"),
        snapshot_tree(bed.project),
        git(tree, "rev-parse", "HEAD") + git(tree, "status", "--porcelain", "--ignored"),
    )


def test_merge_refuses_to_overwrite_an_ignored_file_of_the_checkout(bed: Bed) -> None:
    init_repo(bed)
    (bed.project / ".gitignore").write_text("agent-orchestrator.yaml\n.env\n")
    git(bed.project, "commit", "-q", "-am", "keep secrets out")
    (bed.project / ".env").write_bytes(SECRET)
    worktree_config(bed)
    sid, tree = finished_worktree_session(bed)
    # the agent un-ignores .env and commits its own
    (tree / ".gitignore").write_text("")
    (tree / ".env").write_text("OPENAI_API_KEY=the-agents\n")
    (tree / "app.py").write_text("print('hi')\n")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "the agent's work")
    before = checkout_state(bed, tree)

    for strategy in ("auto", "ff", "merge", "squash"):
        refused = bed.ao("merge", sid, "--strategy", strategy)
        assert refused.returncode == 1, (strategy, refused.stdout, refused.stderr)
        assert "Traceback" not in refused.stderr and refused.stderr.startswith("ao: "), refused.stderr
        assert ".env" in refused.stderr and "nothing was changed" in refused.stderr, refused.stderr
        assert (bed.project / ".env").read_bytes() == SECRET, f"{strategy}: the user's .env was overwritten"
        assert checkout_state(bed, tree) == before, strategy

    server = Server(bed)
    try:
        e = server.error("ao/merge", {"sessionId": sid})
        assert e.code == -32011 and ".env" in e.message, (e.code, e.message)
        assert e.data["kind"] == "WorkspaceError" and e.data["files"] == [".env"], e.data
        assert (bed.project / ".env").read_bytes() == SECRET
        assert checkout_state(bed, tree) == before
        assert bed.status_of(sid)["workspace"]["merged"] is None

        # the way out the error names: move the file aside, then the merge goes through
        (bed.project / ".env").rename(bed.root / "env.saved")
        merged = server.request("ao/merge", {"sessionId": sid})
        assert merged["strategy"] == "ff" and merged["commit"] == git(tree, "rev-parse", "HEAD").strip()
    finally:
        server.close()
    assert (bed.root / "env.saved").read_bytes() == SECRET


def test_merge_refuses_uncommitted_agent_work_over_an_untracked_file_and_names_it(bed: Bed) -> None:
    init_repo(bed)
    worktree_config(bed)
    sid, tree = finished_worktree_session(bed)
    # the agent's work is left uncommitted (ao merge commits it): a new file the user also has, untracked
    (tree / "notes" / "todo.txt").parent.mkdir()
    (tree / "notes" / "todo.txt").write_text("the agent's list\n")
    (tree / "other.txt").write_text("no clash\n")
    (bed.project / "notes").mkdir()
    (bed.project / "notes" / "todo.txt").write_text("the user's own list, never committed\n")
    before = checkout_state(bed, tree)

    refused = bed.ao("merge", sid)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert "notes/todo.txt" in refused.stderr and "other.txt" not in refused.stderr, refused.stderr
    assert "nothing was changed" in refused.stderr, refused.stderr
    assert checkout_state(bed, tree) == before, "the refused merge changed the checkout or the agent's branch"
    assert (bed.project / "notes" / "todo.txt").read_text() == "the user's own list, never committed\n"
    as_json = bed.ao("merge", sid, "--json")
    assert as_json.returncode == 1 and "notes/todo.txt" in as_json.stderr, as_json.stderr

    # an untracked file where the agent's work needs a folder is in the way as well
    (bed.project / "notes" / "todo.txt").unlink()
    (bed.project / "notes").rmdir()
    (bed.project / "notes").write_text("a file, not a folder\n")
    refused = bed.ao("merge", sid)
    assert refused.returncode == 1 and "notes" in refused.stderr and "nothing was changed" in refused.stderr
    assert (bed.project / "notes").read_text() == "a file, not a folder\n"

    (bed.project / "notes").unlink()

    # and a folder of the user's where the agent's work has a file: what is inside is named
    (bed.project / "other.txt").mkdir()
    (bed.project / "other.txt" / "draft.md").write_text("the user's draft\n")
    refused = bed.ao("merge", sid)
    assert refused.returncode == 1 and "other.txt/draft.md" in refused.stderr, refused.stderr
    assert (bed.project / "other.txt" / "draft.md").read_text() == "the user's draft\n"
    (bed.project / "other.txt" / "draft.md").unlink()
    (bed.project / "other.txt").rmdir()

    done = bed.ao("merge", sid, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"] == 2
    assert (bed.project / "notes" / "todo.txt").read_text() == "the agent's list\n"
