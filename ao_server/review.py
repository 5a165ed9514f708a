"""What an agent changed, file by file, and bringing it into the base branch (ao changes / diff / merge).

Two sources (:class:`ao_server.model.Source`):

* a worktree session: git, in the session's worktree. Its changes are its tree (commits,
  uncommitted edits and new untracked files) against the merge base of its branch and the
  base branch. Untracked files are seen through a throwaway copy of the worktree's index
  (``GIT_INDEX_FILE``), so the user's index is never touched;
* any other session: the per-turn diffs OpenCode recorded (``summary.diffs`` of its user
  messages). The text before the agent's edits is the current file with those patches
  reversed (:func:`reverse_patches`).

Every git call is an argument list (no shell); paths and refs a user or a repository
controls are passed after ``--`` or as resolved commit ids, never where git reads options.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import MergeConflict, StateError, UsageError, WorkspaceError
from .model import (
    Change,
    ChangedFile,
    ChangesBase,
    ChangesHead,
    FileSide,
    Merge,
    Strategy,
    Workspace,
)
from .workspace import git_bytes

GIT_TIMEOUT = 120.0  # a diff or merge of a large tree may take a while
MAX_TEXT = 1024 * 1024  # bytes of one side of ao/fileDiff sent as text


def git(
    cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    return git_bytes(cwd, *args, env=env, check=check, timeout=GIT_TIMEOUT)


def _out(proc: subprocess.CompletedProcess[bytes]) -> str:
    return proc.stdout.decode(errors="surrogateescape").strip()


def commit_of(cwd: Path, ref: str) -> str | None:
    proc = git(cwd, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", check=False)
    return _out(proc) if proc.returncode == 0 else None


# --- the changes of a worktree -------------------------------------------------------------------


def live_worktree(ws: Workspace | None, display_id: str) -> Workspace:
    if ws is None:
        raise UsageError(f"{display_id} has no worktree (its project's workspace is not 'worktree')")
    if ws.removed or not Path(ws.path).is_dir():
        raise WorkspaceError(
            f"{display_id}'s worktree {ws.path} was removed"
            + (f"; its work was merged into {ws.base}" if ws.merged else "")
        )
    return ws


@dataclass(frozen=True)
class TreeChanges:
    base: ChangesBase
    head: ChangesHead
    files: list[ChangedFile]


def parse_name_status(raw: bytes) -> dict[str, tuple[Change, str | None]]:
    """``git diff --name-status -z -M`` -> {path: (status, old path)}."""
    parts = raw.decode(errors="surrogateescape").split("\0")
    out: dict[str, tuple[Change, str | None]] = {}
    i = 0
    while i < len(parts) and parts[i]:
        code = parts[i][0]
        if code in "RC":
            old, new = parts[i + 1], parts[i + 2]
            out[new] = (Change.RENAMED, old) if code == "R" else (Change.ADDED, None)
            i += 3
            continue
        path = parts[i + 1]
        out[path] = ({"A": Change.ADDED, "D": Change.DELETED}.get(code, Change.MODIFIED), None)
        i += 2
    return out


def parse_numstat(raw: bytes) -> dict[str, tuple[int, int, bool]]:
    """``git diff --numstat -z -M`` -> {path: (additions, deletions, binary)}; renames by their new path."""
    parts = raw.decode(errors="surrogateescape").split("\0")
    out: dict[str, tuple[int, int, bool]] = {}
    i = 0
    while i < len(parts) and parts[i]:
        added, deleted, path = parts[i].split("\t", 2)
        if path == "":  # a rename: the old and new paths follow
            path = parts[i + 2]
            i += 3
        else:
            i += 1
        binary = added == "-"
        out[path] = (0 if binary else int(added), 0 if binary else int(deleted), binary)
    return out


@contextmanager
def everything_added(tree: Path, head_commit: str) -> Iterator[dict[str, str]]:
    """The env of a throwaway copy of ``tree``'s index with all its work added (new files too, not ignored ones)."""
    index = Path(_out(git(tree, "rev-parse", "--path-format=absolute", "--git-path", "index")))
    with tempfile.TemporaryDirectory(prefix="ao-changes-") as tmp:
        scratch = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, scratch)  # its stat cache: only changed files are hashed again
        env = {"GIT_INDEX_FILE": str(scratch)}
        if not index.exists():
            git(tree, "read-tree", head_commit, env=env)
        git(tree, "add", "--all", "--", ".", env=env)
        yield env


def worktree_changes(ws: Workspace) -> TreeChanges:
    """The session's tree (commits, edits and untracked files, not ignored ones) against its merge base."""
    tree = Path(ws.path)
    head_commit = commit_of(tree, "HEAD")
    base_commit = commit_of(tree, ws.base)
    if head_commit is None or base_commit is None:
        raise WorkspaceError(
            f"{tree}: cannot find {'HEAD' if head_commit is None else ws.base}; is the repository intact?"
        )
    merge_base = _out(git(tree, "merge-base", base_commit, head_commit))
    with everything_added(tree, head_commit) as env:
        names = parse_name_status(
            git(tree, "diff", "--cached", "-M", "--name-status", "-z", merge_base, "--", env=env).stdout
        )
        counts = parse_numstat(git(tree, "diff", "--cached", "-M", "--numstat", "-z", merge_base, "--", env=env).stdout)
    dirty = bool(git(tree, "status", "--porcelain", "-z").stdout)
    files = []
    for path in sorted(names):
        status, old = names[path]
        adds, dels, binary = counts.get(path, (0, 0, False))
        files.append(ChangedFile(path, status, adds, dels, binary, old))
    return TreeChanges(ChangesBase(ref=ws.base, commit=merge_base), ChangesHead(ref=ws.branch, dirty=dirty), files)


# --- one file's two sides ------------------------------------------------------------------------


def side_of(data: bytes | None) -> FileSide:
    if data is None:
        return FileSide(exists=False, binary=False, size=0, text=None)
    if len(data) > MAX_TEXT:
        return FileSide(exists=True, binary=b"\0" in data[:8000], size=len(data), text=None, too_large=True)
    if b"\0" in data:
        return FileSide(exists=True, binary=True, size=len(data), text=None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return FileSide(exists=True, binary=True, size=len(data), text=None)
    return FileSide(exists=True, binary=False, size=len(data), text=text)


def find_changed(files: Sequence[ChangedFile], path: str, display_id: str) -> ChangedFile:
    """The listed change ``path`` names (its path or a rename's old path); anything else reads nothing."""
    for f in files:
        if path in (f.path, f.old_path):
            return f
    raise UsageError(f"{path!r} is not among the files {display_id} changed (see `ao diff {display_id} --stat`)")


def read_in_tree(root: Path, rel: str) -> bytes | None:
    """The bytes of ``rel`` in ``root`` as git sees it (a symlink is its target), never outside ``root``."""
    if os.path.isabs(rel) or ".." in Path(rel).parts:
        raise UsageError(f"{rel!r} is not a path inside the session's tree")
    real_root = os.path.realpath(root)
    full = os.path.join(real_root, rel)
    parent = os.path.realpath(os.path.dirname(full))
    if os.path.commonpath([real_root, parent]) != real_root:
        raise UsageError(f"{rel!r} leads out of the session's tree (through a symlink); nothing was read")
    target = os.path.join(parent, os.path.basename(full))
    try:
        if os.path.islink(target):
            return os.readlink(target).encode(errors="surrogateescape")
        fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"cannot read {rel}: {e.strerror or e}") from None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UsageError(f"{rel!r} is not a regular file")
        return f.read(MAX_TEXT + 1)


def blob_at(tree: Path, commit: str, rel: str) -> bytes | None:
    proc = git(tree, "cat-file", "blob", f"{commit}:{rel}", check=False)
    return proc.stdout if proc.returncode == 0 else None


def blob_size(tree: Path, commit: str, rel: str) -> int | None:
    proc = git(tree, "cat-file", "-s", f"{commit}:{rel}", check=False)
    return int(_out(proc)) if proc.returncode == 0 else None


def worktree_sides(ws: Workspace, base_commit: str, change: ChangedFile) -> tuple[FileSide, FileSide]:
    tree = Path(ws.path)
    old = change.old_path or change.path
    base: FileSide
    size = None if change.status == Change.ADDED else blob_size(tree, base_commit, old)
    if size is None:
        base = side_of(None)
    elif size > MAX_TEXT:
        base = FileSide(exists=True, binary=change.binary, size=size, text=None, too_large=True)
    else:
        base = side_of(blob_at(tree, base_commit, old))
    head = side_of(None) if change.status == Change.DELETED else file_side(tree, change.path)
    return base, head


def file_side(root: Path, rel: str) -> FileSide:
    data = read_in_tree(root, rel)
    if data is not None and len(data) > MAX_TEXT:
        try:
            size = os.lstat(os.path.join(os.path.realpath(root), rel)).st_size
        except OSError:
            size = len(data)
        return FileSide(exists=True, binary=b"\0" in data[:8000], size=size, text=None, too_large=True)
    return side_of(data)


# --- what OpenCode recorded ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedDiff:
    """One file of one turn, as OpenCode recorded it (``summary.diffs`` of a user message)."""

    file: str
    patch: str
    additions: int
    deletions: int
    status: str  # added | modified | deleted


def recorded_changes(diffs: Iterable[RecordedDiff]) -> list[ChangedFile]:
    """Turns folded into one change per file: counts summed, the first turn's added / last turn's deleted kept."""
    by_file: dict[str, ChangedFile] = {}
    for d in diffs:
        status = {"added": Change.ADDED, "deleted": Change.DELETED}.get(d.status, Change.MODIFIED)
        prev = by_file.get(d.file)
        if prev is not None:
            if prev.status == Change.ADDED and status != Change.DELETED:
                status = Change.ADDED
            elif prev.status == Change.DELETED and status == Change.ADDED:
                status = Change.MODIFIED
            by_file[d.file] = ChangedFile(
                d.file, status, prev.additions + d.additions, prev.deletions + d.deletions, False
            )
        else:
            by_file[d.file] = ChangedFile(d.file, status, d.additions, d.deletions, False)
    return [by_file[k] for k in sorted(by_file)]


HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchMismatch(ValueError):
    pass


def _hunks(patch: str) -> list[tuple[int, list[str], list[str]]]:
    """A unified diff's hunks as (new start, old lines, new lines); lines keep their endings."""
    out: list[tuple[int, list[str], list[str]]] = []
    lines = patch.splitlines(keepends=True)
    i = 0
    while i < len(lines):
        m = HUNK.match(lines[i])
        i += 1
        if not m:
            continue
        new_start = int(m.group(3))
        old: list[str] = []
        new: list[str] = []
        prev_kind = ""
        while i < len(lines) and not HUNK.match(lines[i]):
            line = lines[i]
            i += 1
            if line.startswith("\\"):  # "\ No newline at end of file": the line before has none
                if prev_kind in (" ", "-") and old:
                    old[-1] = old[-1].rstrip("\n")
                if prev_kind in (" ", "+") and new:
                    new[-1] = new[-1].rstrip("\n")
                continue
            kind, body = line[:1], line[1:]
            prev_kind = kind
            if kind == " ":
                old.append(body)
                new.append(body)
            elif kind == "-":
                old.append(body)
            elif kind == "+":
                new.append(body)
            else:
                break
        out.append((new_start, old, new))
    return out


def reverse_patch(after: str, patch: str) -> str:
    """The text ``patch`` was made from, given the text it produced; :class:`PatchMismatch` if it does not fit."""
    lines = after.splitlines(keepends=True)
    for new_start, old, new in reversed(_hunks(patch)):
        at = max(new_start - 1, 0) if new else new_start
        if lines[at : at + len(new)] != new:
            raise PatchMismatch(f"hunk at line {new_start}")
        lines[at : at + len(new)] = old
    return "".join(lines)


def reverse_patches(after: str | None, patches: Sequence[str]) -> str | None:
    """Undo a file's recorded turns, newest first; None when the file did not exist before them."""
    text = after or ""
    for patch in reversed(patches):
        text = reverse_patch(text, patch)
    return text


# --- merge ---------------------------------------------------------------------------------------


def _identity(cwd: Path) -> list[str]:
    """``-c user.name/email`` only when the repository has no identity of its own (a fresh CI box)."""
    name = git(cwd, "config", "user.name", check=False)
    email = git(cwd, "config", "user.email", check=False)
    if name.returncode == 0 and email.returncode == 0 and _out(name) and _out(email):
        return []
    return ["-c", "user.name=ao", "-c", "user.email=ao@localhost"]


def commit_work(ws: Workspace, message: str) -> bool:
    """Commit the agent's uncommitted work (new files too) on the session's branch; False when there was none."""
    tree = Path(ws.path)
    if not git(tree, "status", "--porcelain", "-z").stdout:
        return False
    git(tree, "add", "--all", "--", ".")
    git(tree, *_identity(tree), "commit", "--quiet", "--no-verify", "-m", message)
    return True


def work_tree(ws: Workspace) -> str | None:
    """What merging the session would bring in: its branch's tip, or the tree of its uncommitted work on top."""
    tree = Path(ws.path)
    head = commit_of(tree, "HEAD")
    if head is None:
        return None
    if not git(tree, "status", "--porcelain", "-z").stdout:
        return commit_of(tree, f"refs/heads/{ws.branch}")
    with everything_added(tree, head) as env:  # the tree commit_work would commit; refs and the index untouched
        return _out(git(tree, "write-tree", env=env))


def in_the_way(repo: Path, head: str, incoming: str, limit: int = 100) -> list[str]:
    """What the checkout ``repo`` holds untracked or ignored where bringing ``incoming`` in over ``head`` writes.

    git refuses to overwrite an untracked file, but takes an ignored one (a ``.env``) for expendable and
    replaces it without a word. Only paths ``incoming`` has and ``head`` lacks can be in the way (the checkout's
    tracked files are clean, see :func:`merge`): something at such a path, a file where one of its folders
    must be, and what is not tracked inside a folder where it must be a file. At most ``limit`` paths, sorted.
    """
    raw = git(repo, "diff", "--name-only", "--no-renames", "--diff-filter=A", "-z", head, incoming, "--").stdout
    added = [p for p in raw.decode(errors="surrogateescape").split("\0") if p]
    known: set[str] | None = None

    def tracked(rel: str) -> bool:
        nonlocal known
        if known is None:
            out = git(repo, "ls-tree", "-r", "-z", "--name-only", "--full-tree", head).stdout
            known = {p for p in out.decode(errors="surrogateescape").split("\0") if p}
        return rel in known

    found: set[str] = set()
    for rel in added:
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            try:
                st = os.lstat(repo / sub)
            except OSError:  # nothing there (or not a folder on the way): nothing to lose
                break
            if depth < len(parts):
                if stat.S_ISDIR(st.st_mode):
                    continue
                if not tracked(sub):  # a file or symlink where a folder must be
                    found.add(sub)
                break
            if not stat.S_ISDIR(st.st_mode):
                found.add(rel)
                break
            for dirpath, dirnames, filenames in os.walk(repo / sub):  # a folder where a file must be
                inside = Path(dirpath).relative_to(repo).as_posix()
                keep = []
                for name in dirnames:
                    full = os.path.join(dirpath, name)
                    if os.path.islink(full) and not tracked(f"{inside}/{name}"):
                        found.add(f"{inside}/{name}")
                    elif not os.path.islink(full) and not tracked(f"{inside}/{name}"):  # a submodule is tracked
                        keep.append(name)
                dirnames[:] = keep
                found.update(f"{inside}/{n}" for n in filenames if not tracked(f"{inside}/{n}"))
                if len(found) >= limit:
                    break
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


def _refuse_if_in_the_way(repo: Path, head: str, incoming: str, display_id: str, ws: Workspace) -> None:
    paths = in_the_way(repo, head, incoming)
    if not paths:
        return
    shown = [p.encode(errors="surrogateescape").decode(errors="replace") for p in paths]
    names = ", ".join(shown[:10]) + (f" and {len(shown) - 10} more" if len(shown) > 10 else "")
    it = "it" if len(shown) == 1 else "them"
    raise WorkspaceError(
        f"merging {display_id} into {ws.base} would write over {names}, which {repo} holds untracked or "
        f"ignored (git replaces ignored files without asking); nothing was changed. Move {it} out of the way "
        f"(`ao diff {display_id} --stat` lists the agent's files), then merge again",
        files=shown,
    )


def merge(ws: Workspace, display_id: str, title: str, strategy: Strategy) -> Merge:
    """Bring the session's branch into its base branch in the project's checkout; all or nothing.

    Refused before anything changes (the session's branch too) when the checkout is elsewhere, has
    uncommitted tracked changes, or holds untracked or ignored files where the merge would write.
    """
    repo, tree = Path(ws.repo), Path(ws.path)
    on = git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if on.returncode != 0 or _out(on) != ws.base:
        where = f"on {_out(on)}" if on.returncode == 0 else "on a detached HEAD"
        raise WorkspaceError(
            f"{repo} is {where}, not on {ws.base}; switch to it first (`git -C {repo} switch {ws.base}`), then merge"
        )
    if git(repo, "status", "--porcelain", "--untracked-files=no", "-z").stdout:
        raise WorkspaceError(
            f"{repo} has uncommitted changes to tracked files; commit or stash them first, then merge {display_id}"
        )
    previous = commit_of(repo, "HEAD")
    incoming = work_tree(ws)
    if incoming is None or previous is None:
        raise WorkspaceError(f"cannot find branch {ws.branch} or {ws.base} in {repo}")
    _refuse_if_in_the_way(repo, previous, incoming, display_id, ws)  # before anything is committed
    commit_work(ws, f"{display_id}: {title}")
    tip = commit_of(tree, f"refs/heads/{ws.branch}")
    if tip is None:
        raise WorkspaceError(f"cannot find branch {ws.branch} in {repo}")
    _refuse_if_in_the_way(repo, previous, tip, display_id, ws)  # the branch as committed, should it differ
    if git(repo, "merge-base", "--is-ancestor", tip, previous, check=False).returncode == 0:
        raise WorkspaceError(f"nothing to merge: {display_id}'s branch {ws.branch} has nothing that {ws.base} lacks")
    can_ff = git(repo, "merge-base", "--is-ancestor", previous, tip, check=False).returncode == 0
    if strategy == Strategy.FF and not can_ff:
        raise WorkspaceError(
            f"{ws.base} has moved since {display_id} started, so it cannot fast-forward; "
            "merge with strategy merge or squash instead"
        )
    done = (
        Strategy.FF
        if strategy == Strategy.AUTO and can_ff
        else Strategy.MERGE
        if strategy == Strategy.AUTO
        else strategy
    )
    message = f"Merge {display_id} ({ws.branch}): {title}"
    ident = _identity(repo)
    if done == Strategy.FF:
        args = ["merge", "--ff-only", tip]
    elif done == Strategy.MERGE:
        args = [*ident, "merge", "--no-ff", "--no-edit", "-m", message, tip]
    else:
        args = ["merge", "--squash", tip]
    proc = git(repo, *args, check=False)
    if proc.returncode == 0 and done == Strategy.SQUASH:
        proc = git(repo, *ident, "commit", "--quiet", "-m", f"{display_id}: {title}", check=False)
    if proc.returncode != 0:
        _undo(repo, previous, proc, display_id, ws)
    commit = commit_of(repo, "HEAD") or previous
    changed = [p for p in git(repo, "diff", "--name-only", "-z", previous, commit, "--").stdout.split(b"\0") if p]
    how = {Strategy.FF: "fast-forward", Strategy.MERGE: "merge commit", Strategy.SQUASH: "squashed"}[done]
    return Merge(
        session_id=display_id,
        strategy=done,
        base=ws.base,
        previous=previous,
        commit=commit,
        files=len(changed),
        message=f"merged {display_id} into {ws.base} ({how}, {len(changed)} file{'s' if len(changed) != 1 else ''})",
    )


def _undo(repo: Path, previous: str, proc: subprocess.CompletedProcess[bytes], display_id: str, ws: Workspace) -> None:
    """A failed merge: put the checkout back as it was, then say why (conflicts by name)."""
    conflicts = [
        p.decode(errors="replace")
        for p in git(repo, "diff", "--name-only", "--diff-filter=U", "-z").stdout.split(b"\0")
        if p
    ]
    if git(repo, "rev-parse", "--verify", "--quiet", "MERGE_HEAD", check=False).returncode == 0:
        git(repo, "merge", "--abort", check=False)
    else:
        git(repo, "reset", "--quiet", "--merge", check=False)
    if commit_of(repo, "HEAD") != previous:
        git(repo, "reset", "--quiet", "--merge", previous, check=False)
    said = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
    if conflicts:
        raise MergeConflict(
            f"merging {display_id} into {ws.base} conflicts in {', '.join(conflicts[:10])}"
            + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
            + f"; nothing was changed. Resolve it by hand (`git -C {repo} merge {ws.branch}`), "
            "or send the agent a note to rebase its work",
            files=conflicts,
        )
    raise WorkspaceError(
        f"git could not merge {display_id} into {ws.base}: {said[0] if said else proc.returncode}; nothing was changed"
    )


def note_prompt(message: str | None, notes: Sequence[tuple[str, int | None, str]]) -> str:
    """ao send's prompt: the message, then the review notes gathered as a list."""
    parts = [message.strip()] if message and message.strip() else []
    if notes:
        lines = ["Review notes:"]
        for path, line, text in notes:
            where = f"{path}:{line}" if line else path
            body = text.strip().replace("\n", "\n  ")
            lines.append(f"- {where}: {body}")
        parts.append("\n".join(lines))
    if not parts:
        raise UsageError("nothing to send: give a message or at least one note")
    return "\n\n".join(parts)
