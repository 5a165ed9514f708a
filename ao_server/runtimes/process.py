"""The ``process`` runtime: the agent as a detached background process.

The launch script runs in its own session and process group, reparented
away from whoever spawned it (so the CLI can exit and a server can restart),
with stdout and stderr appended to the session's ``output.log`` (0600) and
stdin closed. A session is alive when its PID exists AND its start time, in
clock ticks since boot, equals the recorded one: a reused PID is not our
agent, and a wall-clock step (NTP, ``date -s``) changes nothing.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path

from ..config import Config
from ..errors import SpawnFailed
from ..model import AttachInfo, Liveness, SessionRecord
from ..plugins import Agent
from .common import process_start, process_tree, script_pid, tail, terminate_tree, ticks_to_epoch

log = logging.getLogger(__name__)


class ProcessRuntime:
    name = "process"
    terminal = False

    def __init__(self, config: Config) -> None:
        self.config = config

    def check_available(self) -> None:
        return None

    def plan(self, session: SessionRecord) -> dict[str, object]:
        """Before the start there is no PID yet; the script's pid file (in the session folder) will say it."""
        return {}

    def start(self, session: SessionRecord, script: Path) -> dict[str, object]:
        log_path = session.dir.output_log
        # An intermediate shell starts the script in the background and exits at once, so the
        # script is reparented to init (or a subreaper) and never lingers as our zombie.
        launcher = 'umask 077; sh "$1" </dev/null >>"$2" 2>&1 & echo $!'
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
        return self._handle(pid)

    @staticmethod
    def _handle(pid: int) -> dict[str, object]:
        seen = process_start(pid)
        if seen is None:  # it already finished (a very fast agent): the exit-code file tells the rest
            return {"pid": pid, "start_ticks": -1, "pgid": pid}
        try:
            pgid = os.getpgid(pid)
        except OSError:
            pgid = pid
        return {"pid": pid, "start_ticks": seen[0], "pgid": pgid}

    def restart(self, session: SessionRecord, script: Path) -> dict[str, object]:
        return self.start(session, script)

    @staticmethod
    def _ours(session: SessionRecord) -> int | None:
        """The session's live PID, or None: gone, a zombie, or a reused PID (its start time differs)."""
        pid = session.handle.get("pid")
        if not isinstance(pid, int):
            return script_pid(session.dir)  # a spawn that stopped before recording the PID
        seen = process_start(pid)
        if seen is None or seen[1]:
            return None
        ticks = session.handle.get("start_ticks")
        if isinstance(ticks, int):
            return pid if seen[0] == ticks else None
        # Records from before start_ticks: the old epoch comparison, with slack for the rounding.
        return pid if abs(ticks_to_epoch(seen[0]) - float(session.handle.get("create_time") or 0)) <= 0.05 else None

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        out: dict[str, Liveness] = {}
        for s in sessions:
            code = s.dir.exit_code()
            if code is not None:
                out[s.id] = Liveness(alive=False, exit_code=code)
                continue
            pid = self._ours(s)
            out[s.id] = Liveness(alive=pid is not None, pid=pid)
        return out

    def attach(self, session: SessionRecord) -> AttachInfo:
        argv = ["tail", "-n", "+1", "-f", str(session.dir.output_log)]
        return AttachInfo(type="process", argv=argv, command=shlex.join(argv))

    def kill(self, session: SessionRecord) -> None:
        pid = self._ours(session)
        if pid is None:
            return
        pgid = session.handle.get("pgid")
        try:
            same_group = isinstance(pgid, int) and pgid > 1 and os.getpgid(pid) == pgid
        except OSError:
            same_group = False
        terminate_tree(process_tree(pid), group=pgid if same_group and isinstance(pgid, int) else None)

    def close(self, session: SessionRecord) -> None:
        """Nothing stays open after a process-runtime agent exits."""
        return None

    def logs(self, session: SessionRecord, lines: int | None, max_bytes: int | None = None) -> tuple[str, bool]:
        return tail(session.dir.output_log, lines, max_bytes)
