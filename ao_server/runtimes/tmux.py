"""The ``tmux`` runtime: one detached tmux session per agent.

This module owns every tmux call. Listing all sessions costs one
``tmux list-panes -a`` per tmux server in use and one process-table scan
(psutil), whatever the number of sessions; agent processes are matched to
panes by TTY.

Nothing a user or a repository controls reaches tmux where tmux would read it
as a format (``#(cmd)`` runs ``cmd``): the start directory is passed as the tmux
client's working directory, never with ``-c``; the only command tmux runs is
``/bin/sh <launch script>``; targets are exact (``=name``), so ``ao-agent-1``
never matches ``ao-agent-12``.

The socket a session was started on is recorded as an absolute path (``-S``),
so which server a later ``ao`` talks to never depends on that caller's
``$TMUX`` or ``$TMUX_TMPDIR``. A tmux server that cannot be reached is not
evidence that an agent is gone: such sessions are reported ``unknown``. The
pane stays after the agent exits (``remain-on-exit``), without a process, so
attaching shows what happened; kill and forget close it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..config import Config
from ..errors import RuntimeUnavailable, SpawnFailed
from ..model import AttachInfo, Liveness, SessionRecord
from ..plugins import Agent
from ..sessiondir import SessionDir
from .common import clip, process_tree, script_pid, tail, terminate_tree, write_private

log = logging.getLogger(__name__)
SESSION_PREFIX = "ao-"
TIMEOUT = 15.0  # seconds for one tmux call; $AO_TMUX_TIMEOUT overrides
# What tmux says when no server listens on a socket: evidence that its panes are gone.
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")


@dataclass(frozen=True)
class Pane:
    session: str
    tty: str
    pid: int
    dead: bool


class TmuxUnreachable(Exception):
    """tmux answered with something other than a listing or 'no server' (a timeout, a permission error...)."""


def socket_args(socket: str | None) -> list[str]:
    if not socket:
        return []
    return ["-S", socket] if "/" in socket else ["-L", socket]


def session_name(session: SessionRecord) -> str:
    return str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)


class TmuxRuntime:
    name = "tmux"
    terminal = True  # the launch script runs on a terminal (keeps TERM and the pane's size)

    def __init__(self, config: Config) -> None:
        self.socket = config.tmux_socket
        self._tmux: str | None = None
        try:
            self.timeout = max(0.5, float(os.environ.get("AO_TMUX_TIMEOUT") or TIMEOUT))
        except ValueError:
            self.timeout = TIMEOUT

    # --- plumbing -----------------------------------------------------------

    def tmux_bin(self) -> str:
        if self._tmux is None:
            found = shutil.which("tmux")
            if not found:
                raise RuntimeUnavailable(
                    "tmux is not installed; install it (e.g. `apt-get install tmux`) "
                    "or use the process runtime (`--runtime process`, "
                    "or plugins.runtime: process in agent-orchestrator.yaml)"
                )
            self._tmux = os.path.abspath(found)
        return self._tmux

    def _run(
        self, sock: list[str], *args: str, check: bool = True, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.tmux_bin(), *sock, *args]
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                stdin=subprocess.DEVNULL,
                cwd=str(cwd) if cwd is not None else None,
            )
        except subprocess.TimeoutExpired:
            raise SpawnFailed(
                f"tmux did not answer within {self.timeout:g} s: {shlex.join(cmd[1:])}; is its server stuck?"
            ) from None
        except OSError as e:
            raise SpawnFailed(f"could not run tmux: {e}") from None
        if check and proc.returncode != 0:
            raise SpawnFailed(f"tmux failed: {shlex.join(cmd[1:])}: {proc.stderr.strip() or proc.returncode}")
        return proc

    @staticmethod
    def _sock(session: SessionRecord) -> list[str]:
        return [str(a) for a in session.handle.get("socket", [])]

    def list_panes(self, sock: list[str]) -> list[Pane]:
        """All panes on one tmux server; empty when no server listens there.

        Raises :class:`TmuxUnreachable` when tmux fails in any other way: that is
        not evidence that the panes are gone.
        """
        try:
            proc = self._run(
                sock, "list-panes", "-a", "-F", "#{session_name}\t#{pane_tty}\t#{pane_pid}\t#{pane_dead}", check=False
            )
        except SpawnFailed as e:
            raise TmuxUnreachable(str(e)) from None
        if proc.returncode != 0:
            err = proc.stderr.strip()
            if any(s in err for s in _NO_SERVER) and "Permission denied" not in err:
                return []
            raise TmuxUnreachable(f"tmux {shlex.join(sock)} list-panes failed: {err or proc.returncode}")
        panes = []
        for line in proc.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[2].isdigit():
                panes.append(Pane(parts[0], parts[1], int(parts[2]), parts[3] == "1"))
        return panes

    def _find_pane(self, session: SessionRecord) -> Pane | None:
        try:
            panes = self.list_panes(self._sock(session))
        except TmuxUnreachable:
            return None
        return {p.session: p for p in panes}.get(session_name(session))

    # --- Runtime protocol ---------------------------------------------------

    def check_available(self) -> None:
        self.tmux_bin()

    def plan(self, session: SessionRecord) -> dict[str, object]:
        """The handle before the agent starts: enough for kill and status to find it."""
        return {"tmux_session": SESSION_PREFIX + session.id, "socket": socket_args(self.socket)}

    def _new_session(self, sock: list[str], name: str, session: SessionRecord, script: Path) -> list[str]:
        # The pane starts in the tmux client's working directory: no -c, whose value tmux expands as a format.
        proc = self._run(
            sock, "new-session", "-d", "-P", "-F", "#{socket_path}", "-s", name, "-x", "200", "-y", "50",
            shlex.join(["/bin/sh", str(script)]),
            ";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on",
            cwd=session.workdir,
        )  # fmt: skip
        path = proc.stdout.strip().splitlines()[0] if proc.stdout.strip() else ""
        return ["-S", path] if path.startswith("/") else sock

    def start(self, session: SessionRecord, script: Path) -> dict[str, object]:
        sock = self._sock(session) or socket_args(self.socket)
        name = session_name(session)
        if self._run(sock, "has-session", "-t", f"={name}", check=False).returncode == 0:
            raise SpawnFailed(
                f"a tmux session named {name} already exists on this tmux server (another "
                "state dir uses it?); give each state dir its own socket with runtime.tmuxSocket"
            )
        sock = self._new_session(sock, name, session, script)
        return {"tmux_session": name, "socket": sock}

    def restart(self, session: SessionRecord, script: Path) -> dict[str, object]:
        """Run ``script`` in the session's own tmux session: respawn its pane, or recreate it if it was closed."""
        sock = self._sock(session)
        name = session_name(session)
        if self._run(sock, "has-session", "-t", f"={name}", check=False).returncode == 0:
            self._run(sock, "respawn-pane", "-k", "-t", f"={name}:", shlex.join(["/bin/sh", str(script)]))
        else:
            sock = self._new_session(sock, name, session, script)
        return {"tmux_session": name, "socket": sock}

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        if not sessions:
            return {}
        panes: dict[tuple[str, ...], dict[str, Pane] | str] = {}
        for s in sessions:
            key = tuple(self._sock(s))
            if key not in panes:
                try:
                    panes[key] = {p.session: p for p in self.list_panes(list(key))}
                except TmuxUnreachable as e:
                    panes[key] = str(e)
        ttys = {p.tty for group in panes.values() if isinstance(group, dict) for p in group.values()}
        agents_by_tty = self._agents_on(ttys, agent) if ttys else {}
        out: dict[str, Liveness] = {}
        for s in sessions:
            code = s.dir.exit_code()
            group = panes[tuple(self._sock(s))]
            pane = group.get(session_name(s)) if isinstance(group, dict) else None
            if code is not None:
                out[s.id] = Liveness(alive=False, exit_code=code)
            elif pane is not None and not pane.dead:
                out[s.id] = Liveness(alive=True, pid=agents_by_tty.get(pane.tty))
            elif script_pid(s.dir) is not None:
                out[s.id] = Liveness(alive=True)  # its pane is gone or unreachable, but its script still runs
            elif isinstance(group, str):
                out[s.id] = Liveness(alive=None, reason=group)
            else:
                reason = None if group else "its tmux server is gone (killed, or the machine restarted)"
                out[s.id] = Liveness(alive=False, exit_code=None, reason=reason)
        return out

    @staticmethod
    def _agents_on(ttys: set[str], agent: Agent) -> dict[str, int]:
        # One scan; name and terminal both come from /proc/<pid>/stat, the command line
        # is read only for the few processes sitting on one of our panes.
        found: dict[str, int] = {}
        for proc in psutil.process_iter(["pid", "name", "terminal"]):
            info = proc.info
            term = info.get("terminal")
            if term not in ttys or term in found:
                continue
            name = info.get("name") or ""
            try:
                cmdline = [] if agent.is_agent_process(name, []) else proc.cmdline()
            except psutil.Error:
                continue
            if agent.is_agent_process(name, cmdline):
                found[term] = info["pid"]
        return found

    def attach(self, session: SessionRecord) -> AttachInfo:
        argv = ["tmux", *self._sock(session), "attach", "-t", f"={session_name(session)}"]
        return AttachInfo(type="tmux", argv=argv, command=shlex.join(argv))

    def _save_scrollback(self, sock: list[str], name: str, sdir: SessionDir) -> None:
        """Keep what the pane showed, for `ao logs` after it is closed."""
        try:
            cap = self._run(sock, "capture-pane", "-p", "-J", "-S", "-", "-t", f"={name}:", check=False)
            if cap.returncode == 0 and sdir.exists():
                write_private(sdir.scrollback, cap.stdout)
        except (OSError, SpawnFailed):
            pass

    def kill(self, session: SessionRecord) -> None:
        """Stop the agent and close its tmux session (also for an exited one, whose pane is kept)."""
        sock = self._sock(session)
        name = session_name(session)
        pane = self._find_pane(session)
        victims: list[psutil.Process] = []
        if pane is not None and not pane.dead:
            victims = process_tree(pane.pid)
        else:
            pid = script_pid(session.dir)  # the pane is gone or tmux is unreachable: the script's own PID
            if pid is not None:
                victims = process_tree(pid)
        if pane is not None:
            self._save_scrollback(sock, name, session.dir)
        terminate_tree(victims)
        if pane is not None:
            self._run(sock, "kill-session", "-t", f"={name}", check=False)

    def close(self, session: SessionRecord) -> None:
        """Close an exited session's kept pane (``ao forget``)."""
        self.kill(session)

    def logs(self, session: SessionRecord, lines: int | None, max_bytes: int | None = None) -> tuple[str, bool]:
        """The pane's text (its history is bounded by tmux's), else what was saved when it closed.

        The pane's blank rows and tmux's own "Pane is dead" line are not the agent's output:
        the last ``lines`` are counted without them.
        """
        sock = self._sock(session)
        name = session_name(session)
        proc = None
        try:
            proc = self._run(sock, "capture-pane", "-p", "-J", "-S", "-", "-t", f"={name}:", check=False)
        except SpawnFailed:
            pass
        if proc is not None and proc.returncode == 0:
            return clip(agent_text(proc.stdout, lines), max_bytes)
        text, cut = tail(session.dir.scrollback, None if lines is None else lines + 60, max_bytes)
        return agent_text(text, lines), cut


_PANE_DEAD = re.compile(r"^Pane is dead \(.*\)$")


def agent_text(captured: str, lines: int | None) -> str:
    """A captured pane without the trailing blank rows and tmux's "Pane is dead" line; the last ``lines``."""
    rows = captured.rstrip("\n").split("\n")
    while rows and (not rows[-1].strip() or _PANE_DEAD.match(rows[-1].strip())):
        rows.pop()
    if lines is not None:
        rows = rows[-lines:]
    return "\n".join(rows) + "\n" if rows else ""
