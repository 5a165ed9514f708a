"""The ``process`` runtime: the agent as a detached background process.

The launch script runs in its own session and process group, reparented
away from whoever spawned it (so the CLI can exit and a server can restart),
with stdout and stderr appended to the session's ``output.log`` and stdin
from the prompt file. A session is alive when its PID exists AND the process
create time matches the recorded one: a reused PID is not our agent.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from pathlib import Path

import psutil

from ..config import Config
from ..errors import SpawnFailed
from ..model import AttachInfo, Liveness, SessionRecord
from ..plugins import Agent
from .common import process_start, read_exit_code

log = logging.getLogger(__name__)
LOG_FILE = "output.log"


class ProcessRuntime:
    name = "process"

    def __init__(self, config: Config) -> None:
        self.config = config

    def check_available(self) -> None:
        return None

    def start(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        log_path = session_dir / LOG_FILE
        # An intermediate shell starts the script in the background and exits at once, so the
        # script is reparented to init (or a subreaper) and never lingers as our zombie.
        launcher = 'sh "$1" </dev/null >>"$2" 2>&1 & echo $!'
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", launcher, "ao-launch", str(script), str(log_path)],
                capture_output=True,
                text=True,
                timeout=15,
                start_new_session=True,
                cwd=str(session.workdir),
                stdin=subprocess.DEVNULL,
            )
            pid = int(proc.stdout.strip())
        except (OSError, ValueError, subprocess.TimeoutExpired) as e:
            raise SpawnFailed(f"could not start the agent process: {e}") from None
        try:
            p = psutil.Process(pid)
            create_time = p.create_time()
            pgid = os.getpgid(pid)
        except (psutil.Error, OSError):
            # It already finished (a very fast agent): the exit-code file tells the rest.
            create_time, pgid = 0.0, pid
        return {"pid": pid, "create_time": create_time, "pgid": pgid}

    def restart(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        return self.start(session, script, session_dir)

    @staticmethod
    def _ours(session: SessionRecord) -> int | None:
        """The session's live PID, or None: gone, a zombie, or a reused PID (create time differs)."""
        pid = session.handle.get("pid")
        if not isinstance(pid, int):
            return None
        seen = process_start(pid)
        if seen is None or seen[1] or abs(seen[0] - float(session.handle.get("create_time") or 0)) > 0.05:
            return None
        return pid

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        out: dict[str, Liveness] = {}
        for s in sessions:
            session_dir = Path(str(s.handle.get("session_dir", "")))
            code = read_exit_code(session_dir) if s.handle.get("session_dir") else None
            if code is not None:
                out[s.id] = Liveness(alive=False, exit_code=code)
                continue
            pid = self._ours(s)
            out[s.id] = Liveness(alive=pid is not None, pid=pid)
        return out

    def attach(self, session: SessionRecord, session_dir: Path) -> AttachInfo:
        argv = ["tail", "-n", "+1", "-f", str(session_dir / LOG_FILE)]
        return AttachInfo(type="process", argv=argv, command=shlex.join(argv))

    def kill(self, session: SessionRecord) -> None:
        pid = self._ours(session)
        if pid is None:
            return
        try:
            p = psutil.Process(pid)
        except psutil.Error:
            return
        victims = [p]
        try:
            victims += p.children(recursive=True)
        except psutil.Error:
            pass
        pgid = session.handle.get("pgid")
        try:
            if isinstance(pgid, int) and pgid > 1 and os.getpgid(p.pid) == pgid:
                os.killpg(pgid, signal.SIGTERM)
            else:
                p.send_signal(signal.SIGTERM)
        except (OSError, psutil.Error):
            pass
        _, alive = psutil.wait_procs(victims, timeout=3)
        for v in alive:
            try:
                v.kill()
            except psutil.Error:
                pass

    def logs(self, session: SessionRecord, session_dir: Path, lines: int | None) -> str:
        path = session_dir / LOG_FILE
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        if lines is not None:
            text = "\n".join(text.rstrip("\n").splitlines()[-lines:]) + "\n"
        return text
