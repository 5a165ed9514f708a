"""Reviewing what an agent changed: ao diff / ao/changes / ao/fileDiff, merge, discard and send.

Real git, the real OpenCode and the fake model (``[[write:P:T]]`` makes the agent write a file),
the CLI and a real ao-server over JSON-RPC. Counts are checked against ``git diff --numstat`` run
here, independently of ao.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.bed import ROOT, Bed
from tests.support.contract import check_result

from .test_worktree import git, init_repo, worktree_config

sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
from ao_client import Connection, RpcError  # the standard-library client drives the server

ODD = "notes dir/ünï -x.txt"  # a space, non-ASCII and a leading dash in the file name


def numstat(tree: Path, base: str) -> dict[str, tuple[int, int]]:
    """What git itself says changed in ``tree`` against ``base`` (stages everything: run after ao's answer)."""
    git(tree, "add", "-A")
    out = subprocess.run(["git", "-C", str(tree), "diff", "--cached", "-M", "--numstat", "-z", base],
                         check=True, capture_output=True, timeout=30).stdout.decode()
    parts = out.split("\0")
    got: dict[str, tuple[int, int]] = {}
    i = 0
    while i < len(parts) and parts[i]:
        a, d, path = parts[i].split("\t", 2)
        if not path:
            path, i = parts[i + 2], i + 3
        else:
            i += 1
        got[path] = (0, 0) if a == "-" else (int(a), int(d))
    return got


def snapshot_tree(root: Path) -> dict[str, str]:
    """Every file of a checkout (but .git) by its bytes' hash: 'byte-identical' made checkable."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


class Server:
    def __init__(self, bed: Bed) -> None:
        self.log = open(bed.root / "server.log", "wb")  # noqa: SIM115 - closed in close()
        self.conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project), stderr=self.log)
        self.conn.initialize(bed.project)

    def request(self, method: str, params: dict[str, Any]) -> Any:
        return check_result(method, self.conn.request(method, params, timeout=120))

    def error(self, method: str, params: dict[str, Any]) -> RpcError:
        try:
            self.conn.request(method, params, timeout=120)
        except RpcError as e:
            return e
        raise AssertionError(f"{method} {params} succeeded")

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.log.close()


def test_review_a_worktree_session_then_merge_it(bed: Bed) -> None:
    init_repo(bed)
    (bed.project / "old.txt").write_text("one\ntwo\nthree\n")
    (bed.project / "gone.txt").write_text("to be deleted\n")
    git(bed.project, "add", "old.txt", "gone.txt")
    git(bed.project, "commit", "-q", "-m", "files to change")
    worktree_config(bed)
    s = bed.ao_json("spawn", "my-project", f"write it [[write:{ODD}:hello from the agent\nsecond line]]")
    sid = s["sessionId"]
    tree = Path(s["workspace"]["path"])
    assert bed.wait_exited(sid)["exitCode"] == 0
    # the agent's second turn, through ao send: it edits a tracked file
    sent = bed.ao("send", sid, "and now [[write:old.txt:one\nTWO\nthree\nfour\n]]", "--note", "old.txt:2:be loud")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout.strip() == f"sent to {sid} (run 2)"
    assert bed.wait_exited(sid)["exitCode"] == 0
    told = [r["user"] for r in list(bed.model.requests) if "and now" in (r.get("user") or "")]
    assert told and "and now" in told[-1] and "Review notes:\n- old.txt:2: be loud" in told[-1], told
    # work of the agent's kind that the fake model cannot do itself: a deletion and a binary file
    (tree / "gone.txt").unlink()
    (tree / "logo.bin").write_bytes(b"\x89PNG\0\x01\x02")
    os.symlink("/etc", tree / "link")  # a symlink that leads out of the tree

    server = Server(bed)
    try:
        changes = server.request("ao/changes", {"sessionId": sid})
        assert git(tree, "diff", "--cached", "--name-only") == "", "ao staged something in the user's index"
        assert changes["source"] == "worktree" and changes["head"] == {"ref": "ao/agent-1", "dirty": True}
        main = git(bed.project, "rev-parse", "main").strip()
        assert changes["base"] == {"ref": "main", "commit": main}
        by_path = {f["path"]: f for f in changes["files"]}
        assert by_path[ODD]["status"] == "added" and by_path["old.txt"]["status"] == "modified"
        assert by_path["gone.txt"]["status"] == "deleted" and by_path["logo.bin"]["binary"] is True
        assert {p: (f["additions"], f["deletions"]) for p, f in by_path.items()} == numstat(tree, "main")
        assert changes["additions"] == sum(f["additions"] for f in changes["files"])

        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "old.txt"})
        assert d["base"]["text"] == "one\ntwo\nthree\n" and d["head"]["text"] == "one\nTWO\nthree\nfour\n"
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": ODD})
        assert d["base"]["exists"] is False and d["head"]["text"] == "hello from the agent\nsecond line"
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "gone.txt"})
        assert d["base"]["text"] == "to be deleted\n" and d["head"] == {
            "exists": False, "binary": False, "size": 0, "text": None, "tooLarge": False}
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "logo.bin"})
        assert d["head"]["binary"] is True and d["head"]["text"] is None and d["head"]["size"] == 7
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "link"})
        assert d["head"]["text"] == "/etc", "a symlink is shown as its target, never followed"
        for bad in ("../../etc/passwd", "/etc/passwd", "link/passwd", "README/../../x"):
            e = server.error("ao/fileDiff", {"sessionId": sid, "path": bad})
            assert e.code == -32001 and "root:" not in e.message, (bad, e.message)
        e = server.error("ao/changes", {"sessionId": "my-project/agent-99"})
        assert e.code == -32004
        os.unlink(tree / "link")

        # the CLI shows the same
        stat = bed.ao("diff", sid, "--stat")
        assert stat.returncode == 0 and f"A  +2 -0  {ODD}" in stat.stdout and "D  +0 -1  gone.txt" in stat.stdout
        patch = bed.ao("diff", sid, "old.txt").stdout
        assert "--- a/old.txt\n+++ b/old.txt\n" in patch and "-two\n+TWO\n" in patch and "+four\n" in patch

        # a dirty checkout is refused, and nothing changes
        (bed.project / "README").write_text("local edit\n")
        e = server.error("ao/merge", {"sessionId": sid})
        assert e.code == -32011 and "uncommitted changes" in e.message
        git(bed.project, "checkout", "--", "README")

        before_main = git(bed.project, "rev-parse", "main").strip()
        merged = server.request("ao/merge", {"sessionId": sid})
        assert merged["strategy"] == "ff" and merged["previous"] == before_main
        assert git(bed.project, "rev-parse", "main").strip() == merged["commit"] != before_main
        assert git(bed.project, "show", f"main:{ODD}") == "hello from the agent\nsecond line"
        assert (bed.project / "old.txt").read_text() == "one\nTWO\nthree\nfour\n"
        assert not (bed.project / "gone.txt").exists()
        assert merged["files"] == 4
        # nothing left to lose: cleanup needs no --force
        done = bed.ao("cleanup", sid)
        assert done.returncode == 0 and "branch ao/agent-1" in done.stdout, done.stderr
        e = server.error("ao/changes", {"sessionId": sid})
        assert e.code == -32011 and "merged into main" in e.message
    finally:
        server.close()


def test_a_conflicting_merge_changes_nothing_and_discard_removes_the_work(bed: Bed) -> None:
    init_repo(bed)
    worktree_config(bed)
    s = bed.ao_json("spawn", "my-project", "[[write:README:the agent's readme\n]]")
    other = bed.ao_json("spawn", "my-project", "[[write:extra.txt:more]]")
    for x in (s, other):
        assert bed.wait_exited(x["sessionId"])["exitCode"] == 0
    (bed.project / "README").write_text("the base's readme\n")
    git(bed.project, "commit", "-q", "-am", "the base moved on")
    (bed.project / "untracked.txt").write_text("mine\n")
    head, files, status = (git(bed.project, "rev-parse", "HEAD"), snapshot_tree(bed.project),
                           git(bed.project, "status", "--porcelain"))

    refused = bed.ao("merge", s["sessionId"])
    assert refused.returncode == 1 and "conflicts in README" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert git(bed.project, "rev-parse", "HEAD") == head and snapshot_tree(bed.project) == files
    assert git(bed.project, "status", "--porcelain") == status
    ff = bed.ao("merge", s["sessionId"], "--strategy", "ff")
    assert ff.returncode == 1
    assert "cannot fast-forward" in ff.stderr and snapshot_tree(bed.project) == files

    # discard: asks on a terminal, needs --yes otherwise; then the worktree and branch are gone
    tree = Path(other["workspace"]["path"])
    no = bed.ao("discard", other["sessionId"])
    assert no.returncode == 2 and "--yes" in no.stderr and tree.exists()
    yes = bed.ao("discard", other["sessionId"], "--yes")
    assert yes.returncode == 0 and not tree.exists()
    assert "ao/agent-2" not in git(bed.project, "branch", "--list")
    assert bed.status_of(other["sessionId"])["workspace"]["removed"] is True


def test_changes_without_a_worktree_come_from_opencodes_records(bed: Bed) -> None:
    init_repo(bed)
    (bed.project / "old.txt").write_text("alpha\nbeta\ngamma\n")
    git(bed.project, "add", "old.txt")
    git(bed.project, "commit", "-q", "-m", "a file to change")
    bed.write_config(runtime="process")
    s = bed.ao_json("spawn", "my-project", "[[write:new.txt:brand new]]")
    sid = s["sessionId"]
    assert bed.wait_exited(sid)["exitCode"] == 0
    server = Server(bed)
    try:
        sent = server.request("ao/send", {"sessionId": sid, "message": "[[write:old.txt:alpha\nBETA\ngamma\n]]"})
        assert sent["runs"] == 2
        assert bed.wait_exited(sid)["exitCode"] == 0
        changes = server.request("ao/changes", {"sessionId": sid})
        assert changes["source"] == "opencode" and changes["base"] == {"ref": None, "commit": None}
        files = {f["path"]: (f["status"], f["additions"], f["deletions"]) for f in changes["files"]}
        assert files == {"new.txt": ("added", 1, 0), "old.txt": ("modified", 1, 1)}
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "old.txt"})
        assert d["base"]["text"] == "alpha\nbeta\ngamma\n" and d["head"]["text"] == "alpha\nBETA\ngamma\n"
        d = server.request("ao/fileDiff", {"sessionId": sid, "path": "new.txt"})
        assert d["base"]["exists"] is False and d["head"]["text"] == "brand new"
        # edited since: the record no longer fits, and ao says so rather than invent a base
        (bed.project / "old.txt").write_text("something else entirely\n")
        e = server.error("ao/fileDiff", {"sessionId": sid, "path": "old.txt"})
        assert e.code == -32007 and "changed since" in e.message
        e = server.error("ao/merge", {"sessionId": sid})
        assert e.code == -32001 and "no worktree" in e.message
        e = server.error("ao/send", {"sessionId": sid})
        assert e.code == -32001 and "nothing to send" in e.message
    finally:
        server.close()
