"""The ``opencode`` agent plugin: how to launch, recognise, resume and introspect OpenCode.

Launch: ``opencode run --title AO:<session-id> [--model M]`` in the session's
workspace, with the prompt piped on stdin from a file. Measured with
opencode-ai 1.18.33: a positional message is re-quoted before it reaches the
model, stdin arrives byte-for-byte. OpenCode files a session under ``$PWD``,
so the launch script sets ``PWD`` along with the working directory.

Introspection reads OpenCode's own SQLite database read-only
(:mod:`ao_server.agents.opencode_db`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Config
from ..errors import AgentNotInstalled, AoError, NotResumable, SpawnFailed
from ..model import Activity, Cost, Introspection, LaunchSpec, Outcome, SessionRecord, Summary
from ..protocol import from_wire
from ..review import RecordedDiff

if TYPE_CHECKING:
    from .opencode_db import Binding, SessionInfo

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with `npm install -g opencode-ai` (https://opencode.ai), "
    "or set AO_OPENCODE_BIN to the opencode executable"
)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ERROR_LINE = re.compile(r"\b\w*Error\b")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def error_line(text: str) -> str | None:
    """OpenCode's last error line in some output (``Error: ...``, ``UnknownError ...``), colours removed,
    at most 300 characters; None when it printed none."""
    lines = [line.strip() for line in strip_ansi(text).splitlines() if line.strip()]
    found = [line for line in lines if _ERROR_LINE.search(line)]
    if not found:
        return None
    said = found[-1]
    return said if len(said) <= 300 else said[:297] + "..."


PREPARE_TIMEOUT = 150.0  # longer than the one `opencode session list` that another spawner may be running


def as_count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def title_for(session_id: str) -> str:
    return f"AO:{session_id}"


class OpenCodeAgent:
    name = "opencode"

    def __init__(self, config: Config, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self._db: object | None = None

    # --- launching ------------------------------------------------------------

    def check_installed(self) -> str:
        override = self.env.get("AO_OPENCODE_BIN")
        if override:
            p = Path(override).expanduser()
            if p.is_file() and os.access(p, os.X_OK):
                return str(p.resolve())
            raise AgentNotInstalled(
                f"AO_OPENCODE_BIN={override} is not an executable file; fix it or unset it to use opencode from PATH"
            )
        found = shutil.which("opencode", path=self.env.get("PATH"))
        if not found:
            raise AgentNotInstalled(f"opencode is not installed (not found on PATH); {INSTALL_HINT}")
        return str(Path(found).resolve()) if Path(found).is_absolute() else os.path.abspath(found)

    def prepare(self, binary: str, lock_dir: Path) -> None:
        """Create OpenCode's database once, before the first agents start.

        Measured with 1.18.33: several ``opencode run`` started at once on a machine
        without a database race on its migrations and all but one fail ("Failed query:
        CREATE TABLE ..."). So when the database is missing, one spawner (under a file
        lock) runs a cheap OpenCode command that creates it, and the others wait.
        """
        db = self.db_path()
        if db.exists():
            return
        lock_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_dir / "opencode-init.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as lock:
            deadline = time.monotonic() + PREPARE_TIMEOUT
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise SpawnFailed(
                            f"waited {PREPARE_TIMEOUT:.0f} s for another ao process to create OpenCode's "
                            f"database {db} (lock {lock_dir / 'opencode-init.lock'}); if none is running, "
                            "run `opencode session list` once yourself and spawn again"
                        ) from None
                    time.sleep(0.1)
            if db.exists():
                return
            try:
                subprocess.run(
                    [binary, "session", "list", "--format", "json"],
                    env=self.env,
                    timeout=120,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                log.warning("could not initialise OpenCode's database: %s", e)

    def _env(self, s: SessionRecord) -> dict[str, str]:
        env = {"AO_SESSION_ID": s.id, "AO_PROJECT_ID": s.project, "PWD": str(s.workdir)}
        if s.issue_id:
            env["AO_ISSUE_ID"] = s.issue_id
        return env

    def launch(self, session: SessionRecord, *, binary: str, prompt_file: Path) -> LaunchSpec:
        argv = [binary, "run", "--title", title_for(session.id)]
        if session.model:
            argv += ["--model", session.model]
        return LaunchSpec(argv=argv, env=self._env(session), cwd=session.workdir, stdin_file=prompt_file)

    def resume(self, session: SessionRecord, *, binary: str, prompt_file: Path | None) -> LaunchSpec:
        if not session.opencode_session_id:
            raise NotResumable(
                f"{session.display_id} has no OpenCode session to continue yet "
                "(OpenCode never recorded one, or introspection is unavailable); "
                "spawn a new session instead"
            )
        argv = [binary, "run", "--session", session.opencode_session_id]
        if session.model:
            argv += ["--model", session.model]
        return LaunchSpec(argv=argv, env=self._env(session), cwd=session.workdir, stdin_file=prompt_file)

    def restore_command(self, session: SessionRecord) -> list[str] | None:
        if not session.opencode_session_id:
            return None
        try:
            binary = self.check_installed()
        except AoError:
            binary = "opencode"
        return [binary, "--session", session.opencode_session_id]

    def error_from_output(self, text: str) -> str | None:
        """What went wrong, from the end of the agent's output (when no turn recorded an error)."""
        return error_line(text)

    def is_agent_process(self, name: str, cmdline: list[str]) -> bool:
        if name.startswith("opencode"):
            return True
        return bool(cmdline) and os.path.basename(cmdline[0]).startswith("opencode")

    # --- introspection --------------------------------------------------------

    def db_path(self) -> Path:
        from .opencode_schema import default_db_path

        return self.config.opencode_db or default_db_path(self.env)

    def recorded_diffs(self, session: SessionRecord) -> list[RecordedDiff]:
        """What OpenCode recorded this session changed, turn by turn (empty before it is bound)."""
        from .opencode_db import IntrospectionUnavailable, OpenCodeDB

        if session.opencode_session_id is None:
            return []
        if self._db is None:
            self._db = OpenCodeDB(self.db_path(), idle_threshold_s=self.config.idle_threshold)
        assert isinstance(self._db, OpenCodeDB)
        try:
            raw = self._db.recorded_diffs(session.opencode_session_id)
        except IntrospectionUnavailable as e:
            raise AoError(f"cannot read what OpenCode recorded for {session.display_id}: {e}") from None
        return [
            RecordedDiff(
                file=str(d["file"]),
                patch=str(d["patch"]),
                additions=as_count(d.get("additions")),
                deletions=as_count(d.get("deletions")),
                status=str(d.get("status") or "modified"),
            )
            for d in raw
        ]

    def introspect(self, sessions: list[SessionRecord], now: float) -> dict[str, Introspection]:
        from .opencode_db import IntrospectionUnavailable, OpenCodeDB

        if self._db is None:
            self._db = OpenCodeDB(self.db_path(), idle_threshold_s=self.config.idle_threshold)
        db = self._db
        assert isinstance(db, OpenCodeDB)
        try:
            infos = db.read(bindings_of(sessions), now_ms=int(now * 1000))
        except IntrospectionUnavailable as e:
            if e.transient:  # busy: never wait on OpenCode's writer; the caller keeps what it last saw
                return {
                    s.id: Introspection(opencode_session_id=s.opencode_session_id, stale=True, stale_reason=str(e))
                    for s in sessions
                }
            raise AoError(f"introspection unavailable: {e}") from None
        return {ao_id: introspection_of(info) for ao_id, info in infos.items()}


def bindings_of(sessions: list[SessionRecord]) -> list[Binding]:
    """What the database reader needs to find and follow each session."""
    from .opencode_db import Binding, EventState

    return [
        Binding(
            ao_id=s.id,
            directory=str(s.workdir),
            created_ms=int(s.created_at * 1000),
            opencode_session_id=s.opencode_session_id,
            state=EventState.from_json(s.introspection) if s.introspection else None,
        )
        for s in sessions
    ]


def introspection_of(info: SessionInfo) -> Introspection:
    """The reader's tokens, summary and outcome are in the wire form already: one conversion."""
    return Introspection(
        opencode_session_id=info.opencode_session_id,
        activity=Activity(info.activity),
        cost=from_wire({"usd": info.cost_usd, "tokens": info.tokens}, Cost),
        summary=from_wire(info.summary, Summary),
        outcome=None if info.outcome is None else from_wire(info.outcome, Outcome),
        state=info.state.to_json(),
    )
