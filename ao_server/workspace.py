"""Workspace isolation: a git worktree and branch per session (``workspace: worktree``).

Everything here shells out to ``git`` with argument lists (no shell) and rolls
back what it made when a step fails. Nothing is deleted silently: removing a
worktree refuses when commits beyond the base or uncommitted changes would be
lost, unless forced.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import AoError, UsageError, WorkspaceError
from .model import Workspace

log = logging.getLogger(__name__)
GIT_TIMEOUT = 60.0


QUIET_GIT = {"GIT_EDITOR": "true", "GIT_MERGE_AUTOEDIT": "no", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def git_bytes(
    cwd: Path, *args: str, env: dict[str, str] | None = None, check: bool = True, timeout: float = GIT_TIMEOUT
) -> subprocess.CompletedProcess[bytes]:
    """``git -C cwd args...`` (argv, no shell, never an editor or a prompt); a failure is a WorkspaceError."""
    git = shutil.which("git")
    if not git:
        raise WorkspaceError("git is not installed; install git or set the project's workspace to none")
    try:
        proc = subprocess.run(
            [git, "-C", str(cwd), *args],
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **QUIET_GIT, **(env or {})},
        )
    except subprocess.TimeoutExpired:
        raise WorkspaceError(
            f"git {args[0]} in {cwd} did not finish within {timeout:.0f} s; is the repository locked or huge?"
        ) from None
    except OSError as e:
        raise WorkspaceError(f"could not run git in {cwd}: {e}") from None
    if check and proc.returncode != 0:
        said = proc.stderr.decode(errors="replace").strip() or proc.stdout.decode(errors="replace").strip()
        raise WorkspaceError(f"git {' '.join(args)} failed in {cwd}: {said or proc.returncode}")
    return proc


class Git:
    """Where a repository is: here (this class), or on a remote host (:class:`ao_server.runtimes.ssh.RemoteGit`).

    The worktree functions below only ever touch the repository through these few calls.
    """

    where = ""  # " on host <name>" for a remote one, for messages

    def run(self, cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = git_bytes(cwd, *args, check=check)
        return subprocess.CompletedProcess(
            proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
        )

    def exists(self, path: Path) -> bool:
        return path.exists()

    def is_dir(self, path: Path) -> bool:
        return path.is_dir()

    def writable_dir(self, path: Path) -> None:
        """Make ``path`` (and its parents) and check a file can be created in it; raise WorkspaceError if not."""
        try:
            path.mkdir(parents=True, exist_ok=True)
            # mkstemp creates a new file (O_EXCL), never following a symlink planted under its name.
            fd, probe = tempfile.mkstemp(prefix=".ao-probe-", dir=path)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise WorkspaceError(
                f"worktree dir {path} is not writable ({e.strerror or e}); fix its permissions or set worktreeDir"
            ) from None


LOCAL = Git()


def _git(cwd: Path, *args: str, check: bool = True, git: Git = LOCAL) -> subprocess.CompletedProcess[str]:
    return git.run(cwd, *args, check=check)


def branch_name(session_id: str) -> str:
    return f"ao/{session_id}"


@dataclass(frozen=True)
class WorktreeStatus:
    ahead: int
    dirty: bool


def create(repo: Path, session_id: str, dest: Path, base: str | None, *, git: Git = LOCAL) -> Workspace:
    """``git worktree add -b ao/<session-id> <dest> <base>``; returns the session's ``workspace`` object."""
    top = _git(repo, "rev-parse", "--show-toplevel", check=False, git=git)
    if top.returncode != 0:
        raise WorkspaceError(
            f"{repo}{git.where} is not a git repository; `git init` it, or set workspace: none for this project"
        )
    repo_root = Path(top.stdout.strip())
    if base is None:
        head = _git(repo_root, "symbolic-ref", "--quiet", "--short", "HEAD", check=False, git=git)
        if head.returncode != 0:
            raise WorkspaceError(f"{repo_root} has a detached HEAD; set baseBranch for this project")
        base = head.stdout.strip()
    if _git(repo_root, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}", check=False, git=git).returncode != 0:
        raise WorkspaceError(
            f"base branch {base!r} does not exist in {repo_root} (or has no commits yet); "
            "fix baseBranch or commit something first"
        )
    if _git(repo_root, "status", "--porcelain", "--untracked-files=no", git=git).stdout.strip():
        raise WorkspaceError(
            f"{repo_root} has uncommitted changes to tracked files; the agent's worktree starts "
            f"from {base} and would not see them. Commit or stash them first"
        )
    branch = branch_name(session_id)
    if (
        _git(repo_root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False, git=git).returncode
        == 0
    ):
        raise WorkspaceError(
            f"branch {branch} already exists in {repo_root}; delete it (`git branch -D {branch}`) if it is stale"
        )
    if git.exists(dest):
        raise WorkspaceError(f"worktree dir {dest}{git.where} already exists; remove it or choose another worktreeDir")
    git.writable_dir(dest.parent)
    _git(repo_root, "worktree", "add", "-b", branch, str(dest), base, git=git)
    ws = Workspace(path=str(dest), branch=branch, base=base, repo=str(repo_root))
    try:
        _git(dest, "branch", f"--set-upstream-to={base}", branch, git=git)
    except AoError:
        remove(ws, force=True, git=git)
        raise
    return ws


def status(ws: Workspace, *, git: Git = LOCAL) -> WorktreeStatus | None:
    """Commits ahead of base and dirtiness, from ONE git call; None when the worktree is gone."""
    path = Path(ws.path)
    if git is LOCAL and not path.is_dir():
        return None
    proc = _git(path, "status", "--porcelain=v2", "--branch", check=False, git=git)
    if proc.returncode != 0:
        return None
    ahead, dirty = 0, False
    for line in proc.stdout.splitlines():
        if line.startswith("# branch.ab "):
            ahead = int(line.split()[2].lstrip("+"))
        elif not line.startswith("#"):
            dirty = True
    return WorktreeStatus(ahead=ahead, dirty=dirty)


def remove(ws: Workspace, *, force: bool = False, git: Git = LOCAL) -> str:
    """Remove the worktree and, when nothing would be lost, its branch. Returns what was done."""
    repo, path, branch, base = Path(ws.repo), Path(ws.path), ws.branch, ws.base
    st = status(ws, git=git)
    lost = []
    if st is not None and st.dirty:
        lost.append(f"uncommitted changes in {path}")
    ahead = _git(repo, "rev-list", "--count", f"{base}..{branch}", check=False, git=git)
    n_ahead = int(ahead.stdout.strip()) if ahead.returncode == 0 and ahead.stdout.strip().isdigit() else 0
    squashed = False
    if n_ahead and ws.merged:  # ao merge --strategy squash: the base has the work, not these commits
        tip = _git(
            repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False, git=git
        ).stdout.strip()
        squashed = tip == ws.merged
        n_ahead = 0 if squashed else n_ahead
    if n_ahead:
        lost.append(f"{n_ahead} commit(s) on {branch} not in {base}")
    if lost and not force:
        raise UsageError(
            "refusing to remove the worktree: it would lose "
            + " and ".join(lost)
            + "; merge or push them first, or pass --force"
        )
    if git.exists(path):
        _git(repo, "worktree", "remove", *(["--force"] if force else []), str(path), git=git)
    else:
        _git(repo, "worktree", "prune", check=False, git=git)
    done = f"removed worktree {path}"
    if n_ahead and not force:
        return done
    if _git(repo, "branch", "-D" if force or squashed else "-d", branch, check=False, git=git).returncode == 0:
        done += f" and branch {branch}"
    return done
