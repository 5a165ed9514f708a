"""The review engine's pure parts (git output parsing, reversing OpenCode's patches, notes), and merge
strategies on real git repositories (no agent needed: a worktree with commits is what merge sees)."""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

import pytest

from ao_server import protocol as p
from ao_server import review, workspace
from ao_server.cli import format_stat, parse_note, unified
from ao_server.errors import MergeConflict, UsageError, WorkspaceError
from ao_server.model import Change, ChangedFile, Changes, ChangesBase, ChangesHead, FileDiff, Source, Strategy


def test_git_name_status_and_numstat_are_read_with_renames_and_odd_names() -> None:
    names = review.parse_name_status(b"M\0a b.txt\0R087\0old name\0new -name\0A\0\xc3\xbc.txt\0D\0gone\0T\0link\0")
    assert names == {
        "a b.txt": (Change.MODIFIED, None),
        "new -name": (Change.RENAMED, "old name"),
        "ü.txt": (Change.ADDED, None),
        "gone": (Change.DELETED, None),
        "link": (Change.MODIFIED, None),
    }
    counts = review.parse_numstat(b"3\t1\ta b.txt\0" b"2\t0\t\0old name\0new -name\0" b"-\t-\tlogo.png\0")
    assert counts == {"a b.txt": (3, 1, False), "new -name": (2, 0, False), "logo.png": (0, 0, True)}


def make_patch(before: str, after: str) -> str:
    """A unified diff as OpenCode (jsdiff) records it, "\\ No newline at end of file" included."""
    out = []
    for line in difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), "f", "f", n=1):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "brand new"),
        ("a\nb\nc\n", "a\nB\nc\nd\n"),
        ("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\nTWO\n3\n4\n5\n6\n7\n8\nNINE\n10\n"),  # two hunks
        ("no newline", "no newline, still"),
        ("x\ny\n", ""),
        ("keep\ndrop\n", "keep\n"),
    ],
)
def test_a_recorded_patch_reverses_to_the_text_before_it(before: str, after: str) -> None:
    assert review.reverse_patch(after, make_patch(before, after)) == before


def test_turns_reverse_newest_first_and_a_file_edited_since_is_refused() -> None:
    v1, v2, v3 = "a\n", "a\nb\n", "A\nb\n"
    patches = [make_patch(v1, v2), make_patch(v2, v3)]
    assert review.reverse_patches(v3, patches) == v1
    with pytest.raises(review.PatchMismatch):
        review.reverse_patches("something else\n", patches)


def test_recorded_turns_fold_into_one_change_per_file() -> None:
    rd = review.RecordedDiff
    files = review.recorded_changes([
        rd("a.txt", "", 2, 0, "added"), rd("b.txt", "", 1, 1, "modified"),
        rd("a.txt", "", 1, 1, "modified"), rd("b.txt", "", 0, 3, "deleted"),
    ])  # fmt: skip
    assert files == [
        ChangedFile("a.txt", Change.ADDED, 3, 1, False),
        ChangedFile("b.txt", Change.DELETED, 1, 4, False),
    ]


def test_notes_become_one_prompt_and_bad_notes_are_refused_by_field() -> None:
    text = review.note_prompt("Thanks.", [("src/a.py", 12, "this swallows\nthe error"), ("README.md", None, "more")])
    assert text == "Thanks.\n\nReview notes:\n- src/a.py:12: this swallows\n  the error\n- README.md: more"
    with pytest.raises(UsageError, match="nothing to send"):
        review.note_prompt("  ", [])
    q = p.parse_params(p.SEND, {"sessionId": "a", "notes": [{"path": "x.py", "line": 3, "text": "why?"}]})
    assert q.notes[0].line == 3
    for bad, field in [
        ({"notes": [{"path": "x", "text": ""}]}, "notes[0].text"),
        ({"notes": [{"path": "x", "text": "t", "line": 0}]}, "notes[0].line"),
        ({"notes": [{"path": "", "text": "t"}]}, "notes[0].path"),
        ({"notes": [{"path": "x", "text": "t", "col": 1}]}, "notes[0].col"),
        ({"notes": "x"}, "notes"),
    ]:
        with pytest.raises(p.ParamsError) as e:
            p.parse_params(p.SEND, {"sessionId": "a", **bad})
        assert e.value.field == field
    with pytest.raises(p.ParamsError, match="path must be a file path as ao/changes listed it"):
        p.parse_params(p.FILE_DIFF, {"sessionId": "a"})
    with pytest.raises(p.ParamsError, match="strategy must be one of auto, ff, merge, squash"):
        p.parse_params(p.MERGE, {"sessionId": "a", "strategy": "rebase"})


def test_cli_notes_stat_and_patch_formats() -> None:
    assert parse_note("src/a.py:12:why: because") == parse_note("src/a.py:12:why: because")
    n = parse_note("src/a.py:12:why: because")
    assert (n.path, n.line, n.text) == ("src/a.py", 12, "why: because")
    n = parse_note("README.md:say more")
    assert (n.path, n.line, n.text) == ("README.md", None, "say more")
    with pytest.raises(UsageError):
        parse_note("no-text")
    files = [ChangedFile("a.txt", Change.MODIFIED, 12, 3, False),
             ChangedFile("new.txt", Change.RENAMED, 0, 0, False, "old.txt")]
    changes = Changes("p/agent-1", Source.WORKTREE, ChangesBase("main", "0123456789abc"),
                      ChangesHead("ao/agent-1", True), files, 12, 3)
    assert format_stat(changes) == (
        "M  +12 -3  a.txt\nR  +0 -0   old.txt -> new.txt\n2 files changed, +12 -3 against main (0123456789)"
    )
    side = review.side_of
    d = FileDiff("p/agent-1", "a.txt", Change.MODIFIED, side(b"x\ny\n"), side(b"x\nz"))
    assert unified(d) == "--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n\\ No newline at end of file\n"
    binary = FileDiff("p/agent-1", "b", Change.ADDED, side(None), side(b"\0\1"))
    assert unified(binary) == "--- /dev/null\n+++ b/b\n# b: binary (2 bytes)\n"


# --- merge strategies, on real git -------------------------------------------------------------------


def run_git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    run_git(r, "init", "-q", "-b", "main")
    run_git(r, "config", "user.email", "t@example.com")
    run_git(r, "config", "user.name", "T")
    (r / "a.txt").write_text("a\n")
    run_git(r, "add", "a.txt")
    run_git(r, "commit", "-q", "-m", "init")
    return r


def session(repo: Path, name: str, files: dict[str, str]):  # type: ignore[no-untyped-def]
    ws = workspace.create(repo, name, repo.parent / "wt" / name, "main")
    for rel, text in files.items():
        (Path(ws.path) / rel).write_text(text)  # uncommitted, as an agent leaves its work
    return ws


@pytest.mark.parametrize("strategy", [Strategy.MERGE, Strategy.SQUASH, Strategy.AUTO])
def test_each_strategy_brings_the_work_in_and_cleanup_then_loses_nothing(repo: Path, strategy: Strategy) -> None:
    ws = session(repo, "agent-1", {"b.txt": "from the agent\n"})
    (repo / "c.txt").write_text("the base moved\n")
    run_git(repo, "add", "c.txt")
    run_git(repo, "commit", "-q", "-m", "moved")
    with pytest.raises(WorkspaceError, match="cannot fast-forward"):
        review.merge(ws, "p/agent-1", "task", Strategy.FF)
    done = review.merge(ws, "p/agent-1", "task", strategy)
    assert done.strategy == (Strategy.MERGE if strategy == Strategy.AUTO else strategy)
    assert run_git(repo, "show", "main:b.txt") == "from the agent" and done.files == 1
    parents = run_git(repo, "rev-list", "--parents", "-n1", "main").split()
    assert len(parents) == (2 if strategy == Strategy.SQUASH else 3)  # squash: one parent
    tip = review.commit_of(Path(ws.path), f"refs/heads/{ws.branch}")
    from dataclasses import replace

    said = workspace.remove(replace(ws, merged=tip))
    assert "branch ao/agent-1" in said and not Path(ws.path).exists()
    with pytest.raises(WorkspaceError, match="nothing to merge"):
        review.merge(session(repo, "agent-2", {}), "p/agent-2", "task", Strategy.AUTO)


def test_a_conflict_is_aborted_and_named(repo: Path) -> None:
    ws = session(repo, "agent-1", {"a.txt": "agent\n"})
    (repo / "a.txt").write_text("base\n")
    run_git(repo, "commit", "-q", "-am", "base edit")
    head = run_git(repo, "rev-parse", "HEAD")
    for strategy in (Strategy.AUTO, Strategy.SQUASH):
        with pytest.raises(MergeConflict) as e:
            review.merge(ws, "p/agent-1", "task", strategy)
        assert e.value.data["files"] == ["a.txt"] and e.value.code == -32013
        assert run_git(repo, "rev-parse", "HEAD") == head and run_git(repo, "status", "--porcelain") == ""
        assert (repo / "a.txt").read_text() == "base\n"
    run_git(repo, "switch", "-q", "-c", "elsewhere")
    with pytest.raises(WorkspaceError, match="not on main"):
        review.merge(ws, "p/agent-1", "task", Strategy.AUTO)
