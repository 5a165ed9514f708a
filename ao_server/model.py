"""Plain data shared by the engine, the plugins, the CLI and the server."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

SESSION_REF_RE = re.compile(r"^(?:(?P<project>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})/)?agent-(?P<num>[1-9][0-9]{0,8})$")

STATUS_RUNNING = "running"
STATUS_EXITED = "exited"
ACTIVITIES = ("active", "ready", "idle", "waiting_input", "blocked", "exited")


@dataclass(frozen=True)
class SessionRef:
    """A parsed user-facing session id: ``<project>/agent-<n>`` or bare ``agent-<n>``."""

    num: int
    project: str | None = None

    @property
    def id(self) -> str:
        return f"agent-{self.num}"


def parse_session_ref(text: object) -> SessionRef:
    if not isinstance(text, str) or not text:
        raise UsageError("a session id is required, like my-project/agent-3 (see `ao list`)")
    m = SESSION_REF_RE.fullmatch(text)
    if not m or ".." in text:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise UsageError(
            f"malformed session id {shown!r}: expected <project>/agent-<n> or agent-<n>, "
            "e.g. my-project/agent-3 (see `ao list`)"
        )
    return SessionRef(num=int(m.group("num")), project=m.group("project"))


@dataclass
class SessionRecord:
    """One row of the session store."""

    num: int
    project: str
    agent: str
    runtime: str
    status: str
    prompt: str
    workdir: Path
    created_at: float
    model: str | None = None
    issue_id: str | None = None
    exit_code: int | None = None
    ended_at: float | None = None
    handle: dict[str, Any] = field(default_factory=dict)
    opencode_session_id: str | None = None
    introspection: str | None = None  # the agent plugin's incremental state (opaque JSON)
    outcome: dict[str, Any] | None = None
    workspace: dict[str, Any] | None = None
    runs: int = 1
    facts: dict[str, Any] | None = None  # cost and summary as last seen, kept when the session ends

    @property
    def id(self) -> str:
        return f"agent-{self.num}"

    @property
    def display_id(self) -> str:
        return f"{self.project}/agent-{self.num}"


@dataclass(frozen=True)
class Liveness:
    """What a runtime knows about one session right now."""

    alive: bool | None  # None: the runtime cannot tell right now (never evidence of an exit)
    exit_code: int | None = None
    pid: int | None = None  # the agent process, when the runtime can tell
    reason: str | None = None  # why it is unknown, or how it ended when that is not an exit code


@dataclass(frozen=True)
class AttachInfo:
    type: str
    argv: list[str]
    command: str
    restore_command: str | None = None


@dataclass(frozen=True)
class LaunchSpec:
    """What the agent plugin wants run: argv, extra env, and a file to feed on stdin."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    stdin_file: Path | None = None


@dataclass
class Introspection:
    """What the agent plugin could read about one session beyond liveness."""

    opencode_session_id: str | None = None
    activity: str | None = None
    cost: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    state: str | None = None  # opaque, persisted in the store
    stale: bool = False  # the agent's records could not be read just now; the rest is the last known
    stale_reason: str | None = None
