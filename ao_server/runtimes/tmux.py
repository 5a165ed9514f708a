"""The ``tmux`` runtime: one detached tmux session per agent.

This module owns every tmux call. Listing all sessions costs one
``tmux list-panes -a`` per socket in use and one process-table scan (psutil),
whatever the number of sessions; agent processes are matched to panes by TTY.
The pane keeps a shell after the agent exits, so attaching shows what happened.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from ..config import Config
from ..errors import RuntimeUnavailable, SpawnFailed
from ..model import AttachInfo, Liveness, SessionRecord
from ..plugins import Agent
from .common import read_exit_code

log = logging.getLogger(__name__)
SESSION_PREFIX = "ao-"


@dataclass(frozen=True)
class Pane:
    session: str
    tty: str
    pid: int
    dead: bool


def socket_args(socket: str | None) -> list[str]:
    if not socket:
        return []
    return ["-S", socket] if "/" in socket else ["-L", socket]


class TmuxRuntime:
    name = "tmux"

    def __init__(self, config: Config) -> None:
        self.socket = config.tmux_socket
        self._tmux: str | None = None

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

    def _run(self, sock: list[str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [self.tmux_bin(), *sock, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise SpawnFailed(f"tmux failed: {shlex.join(cmd[1:])}: {proc.stderr.strip() or proc.returncode}")
        return proc

    @staticmethod
    def _sock(session: SessionRecord) -> list[str]:
        return [str(a) for a in session.handle.get("socket", [])]

    def list_panes(self, sock: list[str]) -> list[Pane]:
        """All panes on one tmux server; empty (not an error) when no server runs."""
        try:
            proc = self._run(
                sock, "list-panes", "-a", "-F", "#{session_name}\t#{pane_tty}\t#{pane_pid}\t#{pane_dead}", check=False
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            log.warning("tmux list-panes failed: %s", e)
            return []
        panes = []
        for line in proc.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) == 4 and parts[2].isdigit():
                panes.append(Pane(parts[0], parts[1], int(parts[2]), parts[3] == "1"))
        return panes

    # --- Runtime protocol ---------------------------------------------------

    def check_available(self) -> None:
        self.tmux_bin()

    def _start_cmd(self, script: Path) -> str:
        return shlex.join(["/bin/sh", str(script)])

    def _new_session(self, sock: list[str], name: str, session: SessionRecord, script: Path) -> None:
        self._run(sock, "new-session", "-d", "-s", name, "-c", str(session.workdir), "-x", "200", "-y", "50",
                  self._start_cmd(script))  # fmt: skip

    def start(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        sock = socket_args(self.socket)
        name = SESSION_PREFIX + session.id
        if self._run(sock, "has-session", "-t", f"={name}", check=False).returncode == 0:
            raise SpawnFailed(
                f"a tmux session named {name} already exists on this tmux server (another "
                "state dir uses it?); give each state dir its own socket with runtime.tmuxSocket"
            )
        self._new_session(sock, name, session, script)
        return {"tmux_session": name, "socket": sock}

    def restart(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        """Run ``script`` in the session's own tmux session: respawn its pane, or recreate it if it was closed."""
        sock = self._sock(session)
        name = str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)
        if self._run(sock, "has-session", "-t", f"={name}", check=False).returncode == 0:
            self._run(
                sock, "respawn-pane", "-k", "-t", f"={name}:", "-c", str(session.workdir), self._start_cmd(script)
            )
        else:
            self._new_session(sock, name, session, script)
        return {"tmux_session": name, "socket": sock}

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:

        if not sessions:
            return {}
        panes: dict[tuple[str, ...], dict[str, Pane]] = {}
        for s in sessions:
            key = tuple(self._sock(s))
            if key not in panes:
                panes[key] = {p.session: p for p in self.list_panes(list(key))}
        ttys = {p.tty for group in panes.values() for p in group.values()}
        agents_by_tty: dict[str, int] = {}
        if ttys:
            # One scan; name and terminal both come from /proc/<pid>/stat, the command line
            # is read only for the few processes sitting on one of our panes.
            for proc in psutil.process_iter(["pid", "name", "terminal"]):
                info = proc.info
                term = info.get("terminal")
                if term not in ttys or term in agents_by_tty:
                    continue
                name = info.get("name") or ""
                try:
                    cmdline = [] if name.startswith("opencode") else proc.cmdline()
                except psutil.Error:
                    continue
                if agent.is_agent_process(name, cmdline):
                    agents_by_tty[term] = info["pid"]
        out: dict[str, Liveness] = {}
        for s in sessions:
            session_dir = Path(str(s.handle.get("session_dir", "")))
            code = read_exit_code(session_dir) if s.handle.get("session_dir") else None
            pane = panes[tuple(self._sock(s))].get(str(s.handle.get("tmux_session")))
            if code is not None:
                out[s.id] = Liveness(alive=False, exit_code=code)
            elif pane is not None and not pane.dead:
                out[s.id] = Liveness(alive=True, pid=agents_by_tty.get(pane.tty))
            else:
                out[s.id] = Liveness(alive=False, exit_code=None)
        return out

    def attach(self, session: SessionRecord, session_dir: Path) -> AttachInfo:
        name = str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)
        argv = ["tmux", *self._sock(session), "attach", "-t", name]
        return AttachInfo(type="tmux", argv=argv, command=shlex.join(argv))

    def kill(self, session: SessionRecord) -> None:
        sock = self._sock(session)
        name = str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)
        pane = {p.session: p for p in self.list_panes(sock)}.get(name)
        if pane is None:
            return
        session_dir = Path(str(session.handle.get("session_dir", "")))
        try:  # keep what the pane showed, for `ao logs` after the kill
            cap = self._run(sock, "capture-pane", "-p", "-J", "-S", "-", "-t", f"={name}:", check=False)
            if cap.returncode == 0 and session_dir.is_dir():
                (session_dir / "scrollback.txt").write_text(cap.stdout, encoding="utf-8")
        except (OSError, subprocess.TimeoutExpired):
            pass
        victims = []
        try:
            pane_proc = psutil.Process(pane.pid)
            victims = [pane_proc, *pane_proc.children(recursive=True)]
        except psutil.Error:
            pass
        for p in reversed(victims):  # children first, by PID
            try:
                p.send_signal(signal.SIGTERM)
            except psutil.Error:
                pass
        psutil.wait_procs(victims, timeout=3)
        self._run(sock, "kill-session", "-t", f"={name}", check=False)
        for p in victims:
            try:
                if p.is_running():
                    p.kill()
            except psutil.Error:
                pass

    def logs(self, session: SessionRecord, session_dir: Path, lines: int | None) -> str:
        sock = self._sock(session)
        name = str(session.handle.get("tmux_session") or SESSION_PREFIX + session.id)
        start = "-" if lines is None else str(-lines)
        proc = None
        try:
            proc = self._run(sock, "capture-pane", "-p", "-J", "-S", start, "-t", f"={name}:", check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if proc is not None and proc.returncode == 0:
            return proc.stdout.rstrip("\n") + "\n"
        saved = session_dir / "scrollback.txt"
        if saved.is_file():
            text = saved.read_text(encoding="utf-8", errors="replace")
            if lines is not None:
                text = "\n".join(text.rstrip("\n").splitlines()[-lines:]) + "\n"
            return text
        return ""
