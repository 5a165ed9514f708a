"""Plain data shared by the engine, the plugins, the CLI and the server.

Two kinds: what the engine keeps (:class:`SessionRecord`, the runtime's
:class:`Liveness`, the agent's :class:`Introspection`), and the typed values
every front door shows (:class:`Session` and its parts, the params and results
of each operation). The latter are frozen dataclasses with snake_case fields;
:mod:`ao_server.protocol` is the one place that turns them into the wire's
camelCase JSON, and the JSON Schema in ``docs/protocol.schema.json`` is
generated from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from .activity import Activity as Activity
from .errors import UsageError
from .sessiondir import SessionDir
from .strategy import Strategy as Strategy

SESSION_REF_RE = re.compile(r"^(?:(?P<project>[A-Za-z0-9][A-Za-z0-9_.-]{0,63})/)?agent-(?P<num>[1-9][0-9]{0,8})$")


class Status(StrEnum):
    """A session's status on the wire: an agent runs, or it exited (only on evidence)."""

    RUNNING = "running"
    EXITED = "exited"


class State(StrEnum):
    """A session's state in the store: ``starting`` while its spawn or resume is under way."""

    STARTING = "starting"
    RUNNING = "running"
    EXITED = "exited"


class Result(StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    KILLED = "killed"
    OVER_BUDGET = "over_budget"  # ao stopped it at its spending limit
    INCOMPLETE = "incomplete"
    UNKNOWN = "unknown"


class Scope(StrEnum):
    """What a spending limit counts (agent-orchestrator.yaml ``budget``)."""

    SESSION = "session"  # one session's cost
    PROJECT = "project"  # everything the project's sessions cost
    DAY = "day"  # what the project's sessions started today cost


STATUS_RUNNING = State.RUNNING
STATUS_EXITED = State.EXITED
STARTING = State.STARTING


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


@dataclass(frozen=True)
class Tokens:
    input: int = 0
    output: int = 0
    reasoning: int = 0
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True)
class Cost:
    usd: float
    tokens: Tokens


@dataclass(frozen=True)
class Summary:
    """What OpenCode recorded of a session."""

    title: str | None = None
    first_prompt: str | None = None
    files: int = 0
    additions: int = 0
    deletions: int = 0
    last_tool: str | None = None
    pr_url: str | None = None


@dataclass(frozen=True)
class Outcome:
    """How a session ended (or its last turn, while it runs)."""

    result: Result
    error: str | None = None  # why, in words
    finish: str | None = None  # the model's finish reason
    exit_code: int | None = None


@dataclass(frozen=True)
class Workspace:
    """A session's git worktree (``workspace: worktree``)."""

    path: str
    branch: str
    base: str
    repo: str
    removed: bool = False  # ao cleanup removed it
    ahead: int | None = None  # commits ahead of base (status --details)
    dirty: bool | None = None  # uncommitted changes (status --details)
    merged: str | None = None  # the branch's commit that ao merge brought into the base


@dataclass(frozen=True)
class BudgetState:
    """The tightest spending limit that applies to a session, and how much of it is spent."""

    usd: float  # what counts against the limit
    limit: float
    scope: Scope
    fraction: float  # usd / limit: a warning from 0.8, the agent is stopped at 1.0


@dataclass(frozen=True)
class Facts:
    """What is kept of a session's introspection in its record, so an exited one needs no re-reading."""

    cost: Cost | None = None
    summary: Summary | None = None
    activity: Activity | None = None


class RequestKind(StrEnum):
    PERMISSION = "permission"  # the agent wants to use a tool its OpenCode config marks "ask"
    QUESTION = "question"  # the agent asks the person something


class Reply(StrEnum):
    """An answer to a permission request (OpenCode's own three)."""

    ONCE = "once"
    ALWAYS = "always"
    REJECT = "reject"


@dataclass(frozen=True)
class QuestionOption:
    label: str
    description: str | None = None


@dataclass(frozen=True)
class Question:
    question: str
    header: str | None = None
    options: list[QuestionOption] = field(default_factory=list)
    multiple: bool = False  # more than one option may be picked


@dataclass(frozen=True)
class InputRequest:
    """Something a live agent waits for: a permission to use a tool, or answers to questions."""

    request_id: str
    kind: RequestKind
    permission: str | None = None  # permission: what it wants (bash, edit, webfetch, ...)
    patterns: list[str] = field(default_factory=list)  # permission: what it applies to
    command: str | None = None  # permission bash: the command
    always: list[str] = field(default_factory=list)  # permission: what "always" would allow from now on
    questions: list[Question] = field(default_factory=list)  # question: in order; answer each


@dataclass(frozen=True)
class InputRequested:
    """The ``ao/inputRequested`` notification."""

    session_id: str
    project: str
    request: InputRequest
    at: str


@dataclass(frozen=True)
class Session:
    """The session object of the protocol (docs/protocol.md)."""

    session_id: str  # <project>/agent-<n>
    id: str  # agent-<n>
    project: str
    status: Status
    exit_code: int | None
    activity: Activity | None
    runtime: str
    agent: str
    prompt: str
    model: str | None
    issue_id: str | None
    created_at: str  # ISO 8601 UTC with milliseconds
    ended_at: str | None
    pid: int | None
    workdir: str
    workspace: Workspace | None
    opencode_session_id: str | None
    cost: Cost | None
    summary: Summary | None
    outcome: Outcome | None
    runs: int
    introspection_stale: bool = False  # OpenCode's records could not be read just now: the last ones seen
    prompt_truncated: bool = False  # the prompt was cut (in ao/statusChanged)
    budget: BudgetState | None = None  # null: no limit applies, or the cost is unknown
    pending: list[InputRequest] = field(default_factory=list)  # what a live agent waits for (ao/respond)
    host: str | None = None  # the remote host it runs on (hosts[].name); null: this machine
    unreachable_since: str | None = None  # when its host stopped answering (activity "unreachable")


@dataclass(frozen=True)
class SessionBrief:
    """A session in ``ao/list``."""

    session_id: str
    project: str
    status: Status
    activity: Activity | None
    exit_code: int | None
    created_at: str


@dataclass(frozen=True)
class ProjectInfo:
    name: str
    path: str
    runtime: str
    model: str | None
    default: bool  # the workspace's project, which ao/spawn uses without a project
    host: str | None = None  # the remote host its path is on (hosts[].name); null: this machine


@dataclass(frozen=True)
class StatusPage:
    """``ao/status``: sessions, what could not be read, and the cursor of the next older page."""

    sessions: list[Session]
    warnings: list[str]
    next_cursor: str | None = None


@dataclass(frozen=True)
class SessionList:
    """``ao/list``."""

    sessions: list[SessionBrief]
    projects: list[ProjectInfo]
    warnings: list[str]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Attach:
    """``ao/attach``: the command that attaches a terminal to the session."""

    session_id: str
    type: str
    command: str
    argv: list[str]
    restore_command: str | None


@dataclass(frozen=True)
class Logs:
    session_id: str
    text: str
    truncated: bool  # the byte limit cut it (the end is kept)


@dataclass(frozen=True)
class StatusChange:
    """The ``ao/statusChanged`` notification."""

    session_id: str
    project: str
    previous: Status | None
    previous_activity: Activity | None
    status: Status
    activity: Activity | None
    exit_code: int | None
    outcome: Outcome | None
    at: str
    session: Session
    budget: BudgetState | None = None


@dataclass
class SessionRecord:
    """One row of the session store."""

    num: int
    project: str
    agent: str
    runtime: str
    status: State
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
    outcome: Outcome | None = None
    workspace: Workspace | None = None
    runs: int = 1
    facts: Facts | None = None  # cost, summary and activity as last seen, kept when the session ends
    budget: float | None = None  # this session's own limit in USD (spawn --budget)
    folder: Path = Path()  # sessions/agent-<n>/ in the state dir, set by the store (not stored)

    @property
    def id(self) -> str:
        return f"agent-{self.num}"

    @property
    def dir(self) -> SessionDir:
        return SessionDir(self.folder)

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
    pending: tuple[InputRequest, ...] = ()  # what a live agent waits for
    unreachable_since: float | None = None  # its host has not answered since then (alive is None)


@dataclass(frozen=True)
class AttachInfo:
    """What a runtime says about attaching (the orchestrator adds the rest of :class:`Attach`)."""

    type: str
    argv: list[str]
    command: str


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
    activity: Activity | None = None
    cost: Cost | None = None
    summary: Summary | None = None
    outcome: Outcome | None = None
    state: str | None = None  # opaque, persisted in the store
    stale: bool = False  # the agent's records could not be read just now; the rest is the last known
    stale_reason: str | None = None


# --- the params of each operation ---------------------------------------------------------------
# ``kind`` says how ao_server.protocol checks a field (see protocol.check_field); ``required`` fields
# must be present and not null. Every params object also takes LSP's ``workDoneToken``.


def _param(kind: str, *, required: bool = False) -> Any:
    return field(default=None, metadata={"kind": kind, "required": required})


@dataclass(frozen=True)
class SpawnParams:
    project: str | None = _param("name")
    prompt: str | None = _param("prompt")
    model: str | None = _param("name")
    issue_id: str | None = _param("name")
    runtime: str | None = _param("name")
    budget: float | None = _param("money")  # this session's limit in USD (default: the project's)
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class StatusParams:
    session_id: str | None = _param("name")
    project: str | None = _param("name")
    running: bool | None = _param("flag")  # only sessions that have not exited
    limit: int | None = _param("limit")  # the newest N
    cursor: str | None = _param("cursor")  # nextCursor of an earlier page
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class ListParams:
    project: str | None = _param("name")
    running: bool | None = _param("flag")
    limit: int | None = _param("limit")
    cursor: str | None = _param("cursor")
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class SessionParams:
    """``ao/attach`` and ``ao/kill``: one session."""

    session_id: str = _param("name", required=True)
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class ResumeParams:
    session_id: str = _param("name", required=True)
    prompt: str | None = _param("prompt")  # the follow-up (default: continue where you left off)
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class LogsParams:
    session_id: str = _param("name", required=True)
    lines: int | None = _param("lines")  # the last N lines
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class ModelsParams:
    project: str | None = _param("name")
    refresh: bool | None = _param("flag")  # ask OpenCode again instead of the cached list
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class Models:
    """``ao/models``: OpenCode's models for a project, the default first."""

    project: str
    models: list[str]
    default: str | None
    cached: bool
    fetched_at: str


@dataclass(frozen=True)
class HostsParams:
    host: str | None = _param("name")  # only this host (default: every host of the config)
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class HostInfo:
    """``ao/hosts``: one remote host, as seen by one ssh round trip just now."""

    name: str
    ssh: str  # the destination given to ssh
    state_dir: str  # ao's folder on the host (relative: under its user's home)
    reachable: bool
    rtt_ms: float | None  # the round trip of the check, connection included when none was open
    error: str | None  # why it is unreachable (ssh's own words, with a hint)
    unreachable_since: str | None
    tmux: str | None  # `tmux -V` there; null: missing
    opencode: str | None  # `opencode --version` there; null: missing
    python3: str | None  # needed to read OpenCode's database there (cost, activity, outcome)
    sessions: int  # sessions on this host that have not exited
    problems: list[str]  # what is missing there, each with its fix (empty: ready)


@dataclass(frozen=True)
class Hosts:
    hosts: list[HostInfo]


@dataclass(frozen=True)
class CostParams:
    project: str | None = _param("name")
    since: str | None = _param("since")  # "today", "24h", "7d" or a date like 2026-11-01 (default: all time)
    by: str | None = _param("by")  # project (default), model, day or session
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class CostTotal:
    usd: float
    tokens: Tokens
    sessions: int


@dataclass(frozen=True)
class CostGroup:
    key: str  # the project, model, day (YYYY-MM-DD) or session id
    usd: float
    tokens: Tokens
    sessions: int


@dataclass(frozen=True)
class CostLimits:
    session: float | None
    project: float | None
    day: float | None


@dataclass(frozen=True)
class CostReport:
    """``ao/cost``: what the sessions ao started cost, from OpenCode's own records."""

    since: str | None  # ISO 8601; null: all time
    by: str
    total: CostTotal
    groups: list[CostGroup]
    limits: CostLimits  # the budgets of the project asked about, else the top-level ones


# --- reviewing what an agent changed (ao/changes, ao/fileDiff, ao/merge, ao/discard, ao/send) -------


class Change(StrEnum):
    ADDED = "added"
    MODIFIED = "modified"
    DELETED = "deleted"
    RENAMED = "renamed"


class Source(StrEnum):
    """Where ``ao/changes`` read a session's changes."""

    WORKTREE = "worktree"  # git: the session's worktree (committed and uncommitted) against its base
    OPENCODE = "opencode"  # what OpenCode recorded for the session (no worktree)


@dataclass(frozen=True)
class ReviewNote:
    """One review comment for ``ao/send``: a file, optionally a line, and what to say about it."""

    path: str
    text: str
    line: int | None = None


@dataclass(frozen=True)
class ChangedFile:
    path: str
    status: Change
    additions: int  # lines; 0 for binary files
    deletions: int
    binary: bool
    old_path: str | None = None  # renamed: where it was


@dataclass(frozen=True)
class ChangesBase:
    ref: str | None  # the base branch (worktree sessions)
    commit: str | None  # the commit the changes are measured from (the merge base)


@dataclass(frozen=True)
class ChangesHead:
    ref: str | None  # the session's branch (worktree sessions)
    dirty: bool  # uncommitted work in the session's tree (part of the changes)


@dataclass(frozen=True)
class Changes:
    """``ao/changes``: the files a session changed, with line counts."""

    session_id: str
    source: Source
    base: ChangesBase
    head: ChangesHead
    files: list[ChangedFile]
    additions: int
    deletions: int


@dataclass(frozen=True)
class FileSide:
    """One side of ``ao/fileDiff``. ``text`` is null when the file is absent, binary or too large."""

    exists: bool
    binary: bool
    size: int  # bytes; 0 when absent
    text: str | None
    too_large: bool = False


@dataclass(frozen=True)
class FileDiff:
    """``ao/fileDiff``: both sides of one changed file, for a client's own diff view."""

    session_id: str
    path: str
    status: Change
    base: FileSide
    head: FileSide
    old_path: str | None = None


@dataclass(frozen=True)
class Merge:
    """``ao/merge``: what was brought into the base branch."""

    session_id: str
    strategy: Strategy  # what was done (auto resolves to ff or merge)
    base: str  # the base branch
    previous: str  # its commit before
    commit: str  # its commit now
    files: int
    message: str


@dataclass(frozen=True)
class Discard:
    """``ao/discard``: the session's worktree and branch are gone."""

    session_id: str
    message: str


@dataclass(frozen=True)
class FileDiffParams:
    session_id: str = _param("name", required=True)
    path: str = _param("path", required=True)  # as ao/changes listed it
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class MergeParams:
    session_id: str = _param("name", required=True)
    strategy: Strategy | None = _param("strategy")  # default auto
    work_done_token: int | str | None = _param("token")


@dataclass(frozen=True)
class SendParams:
    session_id: str = _param("name", required=True)
    message: str | None = _param("prompt")  # what to tell the agent
    notes: list[ReviewNote] | None = _param("notes")  # review comments, gathered after the message
    work_done_token: int | str | None = _param("token")


# --- live agents (ao/respond, ao/abort) ----------------------------------------------------------


@dataclass(frozen=True)
class RespondParams:
    session_id: str = _param("name", required=True)
    request_id: str = _param("request", required=True)  # from ao/inputRequested or the session's pending
    reply: Reply | None = _param("reply")  # a permission request: once, always or reject
    message: str | None = _param("prompt")  # with reject: why, for the agent
    answers: list[list[str]] | None = _param("answers")  # a question: the picked labels (or text) per question
    work_done_token: int | str | None = _param("token")
