"""Read-only introspection of OpenCode's SQLite database.

OpenCode (>= 1.x; written against opencode-ai 1.18.33) keeps every session in one
SQLite database in WAL mode, ``$XDG_DATA_HOME/opencode/opencode.db``.  This module
reads it, never writes it, and turns it into what the orchestrator shows for each
AO session: cost, tokens, activity, the outcome of the last assistant turn and a
short summary.

How a poll works (:meth:`OpenCodeDB.read`), all inside one short read transaction:

* **Binding.**  AO sessions not yet bound are matched, in one query, to the
  OpenCode session titled exactly ``AO:<ao_id>`` in the same directory, with no
  parent, created no earlier than 5 s before the AO session was spawned; the
  newest such session wins.  A session already bound to one AO session is never
  given to another.
* **Head.**  One query fetches every bound session's row (cost, tokens, summary)
  together with the highest ``event.seq`` of its event log.  On a repeat poll
  with nothing new that is the only query.
* **Events.**  Sessions whose log moved past the cursor kept in their
  :class:`EventState` have only the new ``event`` rows read (one query for all of
  them) and replayed into the state.
* **Seeding.**  A session seen for the first time (or whose state is unusable,
  or which fell more than :data:`REPLAY_LIMIT` events behind) is not replayed
  from the start of its log: its state is rebuilt from the ``message`` and
  ``part`` tables with a handful of indexed queries, and its cursor is set to
  the head of the log.

Durable event types OpenCode 1.18.33 writes to ``event`` (``aggregate_id`` is the
session id, the ``.1`` suffix is the schema version): ``session.created.1``,
``session.updated.1``, ``session.deleted.1``, ``message.updated.1``,
``message.removed.1``, ``message.part.updated.1``, ``message.part.removed.1``
(plus ``session.next.*.{1,2}`` from the experimental v2 engine).  Permission and
question requests (``permission.asked`` ...) are *not* durable in 1.18.33: they
live only in the running process, and while one is pending the database just
shows the tool part in state ``running``.  The replay nevertheless honours
``permission.asked``/``permission.replied``, ``permission.v2.asked``/``...replied``
and ``question.asked``/``question.replied``/``question.rejected`` should a later
version persist them, and a running ``question`` tool (OpenCode's tool that asks
the user something) counts as waiting for input.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "ACTIVITIES",
    "REFERENCE_SCHEMA_SQL",
    "Binding",
    "EventState",
    "IntrospectionUnavailable",
    "OpenCodeDB",
    "SessionInfo",
    "default_db_path",
]

#: Every value :attr:`SessionInfo.activity` can take.
ACTIVITIES = ("active", "ready", "idle", "waiting_input", "blocked")

TITLE_PREFIX = "AO:"
#: An OpenCode session created this long before the AO session was spawned never binds to it.
BIND_SLACK_MS = 5000
#: A session whose event log moved further than this past its cursor is re-seeded, not replayed.
REPLAY_LIMIT = 5000
#: Tools whose ``running`` state means OpenCode is waiting for an answer from the user.
INTERACTIVE_TOOLS = frozenset({"question", "plan_enter", "plan_exit"})
#: Finish reasons after which OpenCode's agent loop carries on with another step.
CONTINUE_FINISHES = frozenset({"tool-calls", "tool_calls", "unknown"})
SUCCESS_FINISHES = frozenset({"stop", "end_turn", "other"})
ABORTED_ERRORS = frozenset({"MessageAbortedError"})
PR_URL_RE = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/pull/\d+")
MAX_TEXT = 2000

#: Tables and columns this module reads; anything missing means an OpenCode it does not know.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "session": (
        "id",
        "parent_id",
        "directory",
        "title",
        "time_created",
        "time_updated",
        "cost",
        "tokens_input",
        "tokens_output",
        "tokens_reasoning",
        "tokens_cache_read",
        "tokens_cache_write",
        "summary_additions",
        "summary_deletions",
        "summary_files",
    ),
    "message": ("id", "session_id", "time_created", "time_updated", "data"),
    "part": ("id", "message_id", "session_id", "time_created", "time_updated", "data"),
    "event": ("aggregate_id", "seq", "type", "data"),
}

#: DDL of the tables this module reads, verbatim from an OpenCode 1.18.33 database (the
#: ``project``/``event_sequence``/``permission`` tables they reference are included).
#: Tests and benchmarks build fixture databases from it when no real database is at hand.
REFERENCE_SCHEMA_SQL = """
CREATE TABLE `project` (
  `id` text PRIMARY KEY,
  `worktree` text NOT NULL,
  `vcs` text,
  `name` text,
  `icon_url` text,
  `icon_url_override` text,
  `icon_color` text,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `time_initialized` integer,
  `sandboxes` text NOT NULL,
  `commands` text
);
CREATE TABLE `event_sequence` (
  `aggregate_id` text PRIMARY KEY,
  `seq` integer NOT NULL,
  `owner_id` text
);
CREATE TABLE `event` (
  `id` text PRIMARY KEY,
  `aggregate_id` text NOT NULL,
  `seq` integer NOT NULL,
  `type` text NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_event_aggregate_id_event_sequence_aggregate_id_fk` FOREIGN KEY (`aggregate_id`)
    REFERENCES `event_sequence`(`aggregate_id`) ON DELETE CASCADE
);
CREATE TABLE `permission` (
  `id` text PRIMARY KEY,
  `project_id` text NOT NULL,
  `action` text NOT NULL,
  `resource` text NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  CONSTRAINT `fk_permission_project_id_project_id_fk` FOREIGN KEY (`project_id`) REFERENCES `project`(`id`)
    ON DELETE CASCADE
);
CREATE TABLE `message` (
  `id` text PRIMARY KEY,
  `session_id` text NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_message_session_id_session_id_fk` FOREIGN KEY (`session_id`) REFERENCES `session`(`id`)
    ON DELETE CASCADE
);
CREATE TABLE `part` (
  `id` text PRIMARY KEY,
  `message_id` text NOT NULL,
  `session_id` text NOT NULL,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `data` text NOT NULL,
  CONSTRAINT `fk_part_message_id_message_id_fk` FOREIGN KEY (`message_id`) REFERENCES `message`(`id`)
    ON DELETE CASCADE
);
CREATE TABLE `session` (
  `id` text PRIMARY KEY,
  `project_id` text NOT NULL,
  `workspace_id` text,
  `parent_id` text,
  `slug` text NOT NULL,
  `directory` text NOT NULL,
  `path` text,
  `title` text NOT NULL,
  `version` text NOT NULL,
  `share_url` text,
  `summary_additions` integer,
  `summary_deletions` integer,
  `summary_files` integer,
  `summary_diffs` text,
  `metadata` text,
  `cost` real DEFAULT 0 NOT NULL,
  `tokens_input` integer DEFAULT 0 NOT NULL,
  `tokens_output` integer DEFAULT 0 NOT NULL,
  `tokens_reasoning` integer DEFAULT 0 NOT NULL,
  `tokens_cache_read` integer DEFAULT 0 NOT NULL,
  `tokens_cache_write` integer DEFAULT 0 NOT NULL,
  `revert` text,
  `permission` text,
  `agent` text,
  `model` text,
  `time_created` integer NOT NULL,
  `time_updated` integer NOT NULL,
  `time_compacting` integer,
  `time_archived` integer,
  CONSTRAINT `fk_session_project_id_project_id_fk` FOREIGN KEY (`project_id`) REFERENCES `project`(`id`)
    ON DELETE CASCADE
);
CREATE UNIQUE INDEX `event_aggregate_seq_idx` ON `event` (`aggregate_id`,`seq`);
CREATE INDEX `event_aggregate_type_seq_idx` ON `event` (`aggregate_id`,`type`,`seq`);
CREATE UNIQUE INDEX `permission_project_action_resource_idx` ON `permission` (`project_id`,`action`,`resource`);
CREATE INDEX `message_session_time_created_id_idx` ON `message` (`session_id`,`time_created`,`id`);
CREATE INDEX `part_message_id_id_idx` ON `part` (`message_id`,`id`);
CREATE INDEX `part_session_idx` ON `part` (`session_id`);
CREATE INDEX `session_project_idx` ON `session` (`project_id`);
CREATE INDEX `session_workspace_idx` ON `session` (`workspace_id`);
CREATE INDEX `session_parent_idx` ON `session` (`parent_id`);
"""


class IntrospectionUnavailable(Exception):
    """OpenCode's database cannot be introspected; ``str(e)`` is the human reason.

    ``transient`` is true when trying again later may well succeed (database busy).
    """

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


def default_db_path(env: Mapping[str, str] | None = None) -> Path:
    """Where OpenCode keeps its database: ``$XDG_DATA_HOME/opencode/opencode.db``.

    Falls back to ``~/.local/share/opencode/opencode.db``.  Honours ``OPENCODE_DB``
    the way OpenCode does (an absolute path, or a file name inside the data dir).
    """
    env = os.environ if env is None else env
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):
        data = Path(xdg)
    else:
        home = env.get("HOME")
        data = (Path(home) if home else Path.home()) / ".local" / "share"
    data = data / "opencode"
    override = env.get("OPENCODE_DB", "")
    if override and override != ":memory:":
        return Path(override) if os.path.isabs(override) else data / override
    return data / "opencode.db"


@dataclass
class EventState:
    """Incremental, JSON-serialisable state of one OpenCode session, built from its event log."""

    cursor: int = -1  # last event seq consumed
    last_event_ms: int = 0
    session_id: str | None = None  # the OpenCode session this state belongs to
    assistant_id: str | None = None  # latest assistant message
    assistant_created_ms: int = 0
    assistant_completed_ms: int = 0
    assistant_finish: str | None = None
    assistant_error: str | None = None
    assistant_error_name: str | None = None
    tool_error: str | None = None  # error of a tool call in the latest assistant message
    last_tool: str | None = None
    last_tool_part_id: str | None = None
    running_tools: dict[str, list[str]] = field(default_factory=dict)  # part id -> [tool, message id, status]
    pending: dict[str, list[str]] = field(default_factory=dict)  # request id -> [kind, message id]
    first_user_id: str | None = None
    first_prompt: str | None = None
    pr_url: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, s: str | bytes | None) -> EventState:
        """Parse :meth:`to_json` output; anything malformed gives a fresh state."""
        try:
            raw = json.loads(s) if s else None
        except (TypeError, ValueError):
            return cls()
        if not isinstance(raw, dict):
            return cls()
        state = cls()
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            default = getattr(state, f.name)
            if isinstance(default, int):
                if not isinstance(value, int) or isinstance(value, bool):
                    return cls()
            elif isinstance(default, dict):
                if not isinstance(value, dict) or not all(
                    isinstance(k, str) and isinstance(v, list) and all(isinstance(x, str) for x in v)
                    for k, v in value.items()
                ):
                    return cls()
            elif value is not None and not isinstance(value, str):
                return cls()
            setattr(state, f.name, value)
        return state


@dataclass
class Binding:
    """One AO session to introspect."""

    ao_id: str
    directory: str
    created_ms: int
    opencode_session_id: str | None = None
    state: EventState | None = None


@dataclass
class SessionInfo:
    opencode_session_id: str
    title: str
    cost_usd: float
    tokens: dict[str, int]
    activity: str
    last_activity_ms: int
    outcome: dict[str, Any] | None
    summary: dict[str, Any]
    state: EventState


# --------------------------------------------------------------------------------------------- helpers


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _loads(text: Any) -> dict[str, Any]:
    if not isinstance(text, str | bytes):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return _dict(value)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _base_type(event_type: str) -> str:
    """``message.part.updated.1`` -> ``message.part.updated``."""
    head, dot, tail = event_type.rpartition(".")
    return head if dot and tail.isdigit() else event_type


def _error_text(error: dict[str, Any]) -> str:
    data = _dict(error.get("data"))
    message = _str(data.get("message")) or _str(error.get("message"))
    name = _str(error.get("name")) or "error"
    return message or name


def _find_pr_url(tool_state: dict[str, Any]) -> str | None:
    for candidate in (tool_state.get("output"), _dict(tool_state.get("metadata")).get("output")):
        if isinstance(candidate, str):
            m = PR_URL_RE.search(candidate)
            if m:
                return m.group(0)
    return None


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _has_old_storage(data_dir: Path, limit: int = 2000) -> bool:
    """Whether ``data_dir/storage`` holds the JSON files of OpenCode's pre-SQLite storage."""
    stack = [data_dir / "storage"]
    seen = 0
    while stack and seen < limit:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.name.endswith(".json"):
                        return True
        except OSError:
            continue
    return False


def _same_dirs(directory: str) -> set[str]:
    norm = os.path.normpath(directory) if directory else directory
    out = {directory, norm}
    with contextlib.suppress(OSError, ValueError):
        out.add(os.path.realpath(directory))
    return out


# --------------------------------------------------------------------------------------------- replay


def _apply_message(st: EventState, info: dict[str, Any]) -> int:
    """Fold one message's info into the state; returns the newest timestamp it carries."""
    mid = _str(info.get("id"))
    role = info.get("role")
    times = _dict(info.get("time"))
    created = _int(times.get("created"))
    completed = _int(times.get("completed"))
    if mid is None:
        return 0
    if role == "assistant":
        newer = st.assistant_id is None or (created, mid) >= (st.assistant_created_ms, st.assistant_id)
        if mid == st.assistant_id or newer:
            if mid != st.assistant_id:
                st.assistant_id = mid
                st.tool_error = None
            st.assistant_created_ms = created
            st.assistant_completed_ms = completed
            st.assistant_finish = _str(info.get("finish"))
            error = info.get("error")
            if isinstance(error, dict):
                st.assistant_error = _clip(_error_text(error))
                st.assistant_error_name = _str(error.get("name")) or "error"
            else:
                st.assistant_error = None
                st.assistant_error_name = None
        if completed or isinstance(info.get("error"), dict):
            for key in [k for k, v in st.running_tools.items() if len(v) > 1 and v[1] == mid]:
                del st.running_tools[key]
            for key in [k for k, v in st.pending.items() if len(v) > 1 and v[1] == mid]:
                del st.pending[key]
    elif role == "user" and st.first_user_id is None:
        st.first_user_id = mid
    return max(created, completed)


def _apply_part(st: EventState, part: dict[str, Any]) -> int:
    """Fold one part into the state; returns the newest timestamp it carries."""
    pid = _str(part.get("id")) or ""
    mid = _str(part.get("messageID")) or ""
    ptype = part.get("type")
    ts = 0
    if ptype == "tool":
        tool = _str(part.get("tool")) or "?"
        tstate = _dict(part.get("state"))
        status = _str(tstate.get("status")) or ""
        ptimes = _dict(tstate.get("time"))
        ts = max(_int(ptimes.get("start")), _int(ptimes.get("end")))
        if st.last_tool_part_id is None or pid >= st.last_tool_part_id:
            st.last_tool = tool
            st.last_tool_part_id = pid
        if status in ("pending", "running"):
            st.running_tools[pid] = [tool, mid, status]
        else:
            st.running_tools.pop(pid, None)
        if status == "error" and mid == st.assistant_id:
            st.tool_error = _clip(_str(tstate.get("error")) or "tool error")
        if st.pr_url is None:
            st.pr_url = _find_pr_url(tstate)
    elif ptype == "text":
        if st.first_prompt is None and mid and mid == st.first_user_id and not part.get("synthetic"):
            text = _str(part.get("text"))
            if text:
                st.first_prompt = _clip(text)
        ptimes = _dict(part.get("time"))
        ts = max(_int(ptimes.get("start")), _int(ptimes.get("end")))
    return ts


def _apply_event(st: EventState, event_type: str, data: dict[str, Any]) -> int:
    """Fold one event of the log into the state; returns its timestamp (0 when it has none)."""
    base = _base_type(event_type)
    ts = _int(data.get("time")) or _int(data.get("timestamp"))
    if base == "message.part.updated":
        ts = max(ts, _apply_part(st, _dict(data.get("part"))))
    elif base == "message.updated":
        # A message.updated carries the message's own times, which for an old
        # message touched again (e.g. a user message getting its diff summary)
        # are old: only the completion of the newest assistant message counts.
        _apply_message(st, _dict(data.get("info")))
        info_times = _dict(_dict(data.get("info")).get("time"))
        ts = max(ts, _int(info_times.get("completed")))
        if _dict(data.get("info")).get("id") == st.assistant_id:
            ts = max(ts, _int(info_times.get("created")))
    elif base in ("session.updated", "session.created"):
        ts = max(ts, _int(_dict(_dict(data.get("info")).get("time")).get("updated")))
    elif base == "message.part.removed":
        st.running_tools.pop(_str(data.get("partID")) or "", None)
    elif base in ("permission.asked", "permission.v2.asked", "question.asked"):
        rid = _str(data.get("id")) or _str(data.get("requestID"))
        tool = _dict(data.get("tool")) or _dict(data.get("source"))
        if rid:
            st.pending[rid] = [
                "question" if base.startswith("question") else "permission",
                _str(tool.get("messageID")) or "",
            ]
    elif base in ("permission.replied", "permission.v2.replied", "question.replied", "question.rejected"):
        rid = _str(data.get("requestID")) or _str(data.get("id"))
        if rid:
            st.pending.pop(rid, None)
    return ts


def _outcome(st: EventState) -> dict[str, Any] | None:
    if st.assistant_id is None:
        return None
    finish = st.assistant_finish
    if st.assistant_error_name is not None:
        if st.assistant_error_name in ABORTED_ERRORS:
            return {"result": "incomplete", "error": st.assistant_error or "aborted", "finish": finish}
        return {"result": "error", "error": st.assistant_error or st.assistant_error_name, "finish": finish}
    if not st.assistant_completed_ms:
        return {"result": "incomplete", "error": None, "finish": finish}
    if finish is None or finish in CONTINUE_FINISHES:
        if st.tool_error:
            return {"result": "error", "error": st.tool_error, "finish": finish}
        return {"result": "incomplete", "error": None, "finish": finish}
    if finish == "error":
        return {"result": "error", "error": st.tool_error or "the model stopped with an error", "finish": finish}
    if finish in SUCCESS_FINISHES:
        return {"result": "success", "error": None, "finish": finish}
    return {"result": "incomplete", "error": None, "finish": finish}  # length, content-filter, ...


# --------------------------------------------------------------------------------------------- the reader

_SQL_HEADS = """
SELECT s.id, s.title, s.cost, s.tokens_input, s.tokens_output, s.tokens_reasoning, s.tokens_cache_read,
       s.tokens_cache_write, s.summary_files, s.summary_additions, s.summary_deletions, s.time_updated,
       (SELECT max(e.seq) FROM event e WHERE e.aggregate_id = s.id)
FROM session s WHERE s.id IN (SELECT value FROM json_each(?1))
"""

_SQL_BIND = """
SELECT id, title, directory, time_created FROM session
WHERE parent_id IS NULL AND title IN (SELECT value FROM json_each(?1))
ORDER BY time_created DESC, id
"""

_SQL_EVENTS = """
SELECT e.aggregate_id, e.seq, e.type, e.data
FROM json_each(?1) j JOIN event e
  ON e.aggregate_id = json_extract(j.value, '$[0]')
 AND e.seq > json_extract(j.value, '$[1]') AND e.seq <= json_extract(j.value, '$[2]')
ORDER BY e.aggregate_id, e.seq
"""

# Per session: latest assistant message id, first user message id, newest message's time_updated,
# [part id, tool] of the newest tool part.
_SQL_SEED_MESSAGES = """
SELECT j.value,
  (SELECT m.id FROM message m WHERE m.session_id = j.value AND json_extract(m.data, '$.role') = 'assistant'
    ORDER BY m.time_created DESC, m.id DESC LIMIT 1),
  (SELECT m.id FROM message m WHERE m.session_id = j.value AND json_extract(m.data, '$.role') = 'user'
    ORDER BY m.time_created, m.id LIMIT 1),
  (SELECT m.time_updated FROM message m WHERE m.session_id = j.value
    ORDER BY m.time_created DESC, m.id DESC LIMIT 1),
  (SELECT json_array(p.id, json_extract(p.data, '$.tool')) FROM message m JOIN part p ON p.message_id = m.id
    WHERE m.session_id = j.value AND instr(p.data, '"type":"tool"') > 0 AND json_extract(p.data, '$.type') = 'tool'
    ORDER BY m.time_created DESC, m.id DESC, p.id DESC LIMIT 1)
FROM json_each(?1) j
"""

_SQL_MESSAGES_BY_ID = """
SELECT id, session_id, time_updated, data FROM message WHERE id IN (SELECT value FROM json_each(?1))
"""

_SQL_PARTS_BY_MESSAGE = """
SELECT message_id, id, time_updated, data FROM part WHERE message_id IN (SELECT value FROM json_each(?1))
ORDER BY message_id, id
"""

# Permission/question requests, should this OpenCode persist them (1.18.33 does not); uses (aggregate_id, type, seq).
_SQL_SEED_REQUESTS = """
SELECT e.aggregate_id, e.type, e.data FROM json_each(?1) j JOIN event e ON e.aggregate_id = j.value
WHERE (e.type >= 'permission.' AND e.type < 'permission/') OR (e.type >= 'question.' AND e.type < 'question/')
ORDER BY e.aggregate_id, e.seq
"""

_SQL_PR_CANDIDATES = """
SELECT session_id, data FROM part
WHERE session_id IN (SELECT value FROM json_each(?1))
  AND instr(data, 'github.com/') > 0 AND instr(data, '/pull/') > 0 AND instr(data, '"type":"tool"') > 0
ORDER BY session_id, id
"""


class OpenCodeDB:
    """Reads one OpenCode database.  Thread-safe; keeps one read-only connection open between polls."""

    def __init__(self, path: Path, *, idle_threshold_s: float = 300.0, active_window_s: float = 5.0) -> None:
        self.path = Path(path)
        self.idle_threshold_ms = int(idle_threshold_s * 1000)
        self.active_window_ms = int(active_window_s * 1000)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] | None = None

    # ------------------------------------------------------------------ connection

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn = None
        self._identity = None

    def _missing_reason(self) -> str:
        if _has_old_storage(self.path.parent):
            return (
                f"old OpenCode storage format (JSON files under {self.path.parent / 'storage'}/); "
                "upgrade OpenCode >= 1.x for introspection"
            )
        return f"no OpenCode database at {self.path}"

    def _connection(self) -> sqlite3.Connection:
        """The open connection, (re)opened and schema-checked when the file is new or was replaced."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._close()
            raise IntrospectionUnavailable(self._missing_reason()) from None
        except OSError as e:
            self._close()
            raise IntrospectionUnavailable(f"cannot read the OpenCode database at {self.path}: {e}") from None
        identity = (st.st_dev, st.st_ino)
        if self._conn is not None and identity == self._identity:
            return self._conn
        self._close()
        uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=0.2, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise IntrospectionUnavailable(f"cannot open the OpenCode database at {self.path}: {e}") from None
        try:
            self._check_schema(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._identity = identity
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        try:
            for table, columns in REQUIRED_COLUMNS.items():
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if not have:
                    raise IntrospectionUnavailable(f"unknown schema: no table {table} in {self.path}")
                for column in columns:
                    if column not in have:
                        raise IntrospectionUnavailable(f"unknown schema: table {table} lacks column {column}")
            conn.execute("SELECT json_extract('[1]', '$[0]')").fetchone()
        except sqlite3.OperationalError as e:
            raise self._sqlite_error(e) from None
        except sqlite3.DatabaseError as e:
            raise IntrospectionUnavailable(f"unreadable OpenCode database at {self.path}: {e}") from None

    def _sqlite_error(self, e: sqlite3.Error) -> IntrospectionUnavailable:
        text = str(e)
        if "locked" in text or "busy" in text:
            return IntrospectionUnavailable(f"OpenCode database busy: {text}", transient=True)
        if "no such function" in text:
            return IntrospectionUnavailable(f"the sqlite3 library lacks JSON support: {text}")
        return IntrospectionUnavailable(f"cannot read the OpenCode database at {self.path}: {text}")

    def check(self) -> None:
        """Raise :class:`IntrospectionUnavailable` unless the database can be introspected."""
        with self._lock:
            self._connection()

    # ------------------------------------------------------------------ polling

    def read(self, bindings: list[Binding], now_ms: int | None = None) -> dict[str, SessionInfo]:
        """Introspect the given AO sessions; keyed by ``ao_id``, unbound ones are absent."""
        if now_ms is None:
            now_ms = int(time.time() * 1000)
        if not bindings:
            with self._lock:
                self._connection()
            return {}
        with self._lock:
            for attempt in (0, 1):
                conn = self._connection()
                try:
                    conn.execute("BEGIN")
                    try:
                        return self._read(conn, bindings, now_ms)
                    finally:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")  # read only: nothing to commit, ends the snapshot
                except sqlite3.DatabaseError as e:
                    error = self._sqlite_error(e)
                    self._close()
                    if error.transient or attempt:
                        raise error from None
                    logger.debug("OpenCode database read failed (%s); reopening once", e)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, conn: sqlite3.Connection, bindings: list[Binding], now_ms: int) -> dict[str, SessionInfo]:
        started = time.perf_counter()
        bound: dict[str, Binding] = {}  # opencode session id -> binding
        unbound: list[Binding] = []
        for b in bindings:
            sid = b.opencode_session_id
            if sid and sid not in bound:
                bound[sid] = b
            elif not sid:
                unbound.append(b)
            else:
                logger.warning(
                    "OpenCode session %s is claimed by %s and %s; ignoring the latter", sid, bound[sid].ao_id, b.ao_id
                )
        if unbound:
            bound.update(self._bind(conn, unbound, set(bound)))
        if not bound:
            return {}

        heads = conn.execute(_SQL_HEADS, (_json_list(bound),)).fetchall()
        states: dict[str, EventState] = {}
        to_seed: list[str] = []
        to_replay: list[tuple[str, int, int]] = []
        for row in heads:
            sid, head = row[0], row[12] if row[12] is not None else -1
            b = bound[sid]
            st = b.state if b.state is not None and b.state.session_id == sid else None
            if st is None or head < st.cursor or head - st.cursor > REPLAY_LIMIT:
                st = EventState(session_id=sid, cursor=head)
                to_seed.append(sid)
            elif head > st.cursor:
                st = EventState.from_json(st.to_json())  # work on a copy: the caller's stays as it was
                to_replay.append((sid, st.cursor, head))
            states[sid] = st
        if to_seed:
            self._seed(conn, {sid: states[sid] for sid in to_seed})
        if to_replay:
            self._replay(conn, to_replay, states, now_ms)

        out: dict[str, SessionInfo] = {}
        for row in heads:
            sid = row[0]
            st = states[sid]
            last_ms = max(st.last_event_ms, min(_int(row[11]), now_ms))
            outcome = _outcome(st)
            b = bound[sid]
            out[b.ao_id] = SessionInfo(
                opencode_session_id=sid,
                title=row[1],
                cost_usd=float(row[2] or 0.0),
                tokens={
                    "input": _int(row[3]),
                    "output": _int(row[4]),
                    "reasoning": _int(row[5]),
                    "cacheRead": _int(row[6]),
                    "cacheWrite": _int(row[7]),
                },
                activity=self._activity(st, outcome, last_ms, now_ms),
                last_activity_ms=last_ms,
                outcome=outcome,
                summary={
                    "title": row[1],
                    "firstPrompt": st.first_prompt,
                    "files": _int(row[8]),
                    "additions": _int(row[9]),
                    "deletions": _int(row[10]),
                    "lastTool": st.last_tool,
                    "prUrl": st.pr_url,
                },
                state=st,
            )
        logger.debug(
            "introspected %d OpenCode sessions (%d seeded, %d replayed) in %.1f ms",
            len(out),
            len(to_seed),
            len(to_replay),
            (time.perf_counter() - started) * 1000,
        )
        return out

    def _bind(self, conn: sqlite3.Connection, unbound: list[Binding], taken: set[str]) -> dict[str, Binding]:
        """Find the OpenCode session of each unbound AO session, in one query."""
        by_title: dict[str, list[tuple[Binding, set[str]]]] = {}
        for b in unbound:
            by_title.setdefault(TITLE_PREFIX + b.ao_id, []).append((b, _same_dirs(b.directory)))
        rows = conn.execute(_SQL_BIND, (_json_list(by_title),)).fetchall()
        found: dict[str, Binding] = {}
        done: set[int] = set()
        for sid, title, directory, created in rows:  # newest first
            if sid in taken or sid in found:
                continue
            for b, dirs in by_title.get(title, ()):
                if id(b) in done or directory not in dirs or _int(created) < b.created_ms - BIND_SLACK_MS:
                    continue
                found[sid] = b
                done.add(id(b))
                logger.debug("bound %s to OpenCode session %s", b.ao_id, sid)
                break
        return found

    def _seed(self, conn: sqlite3.Connection, states: dict[str, EventState]) -> None:
        """Rebuild the states of these sessions from the message and part tables."""
        rows = conn.execute(_SQL_SEED_MESSAGES, (_json_list(states),)).fetchall()
        assistant_ids: dict[str, str] = {}
        first_user_ids: dict[str, str] = {}
        for sid, assistant_id, first_user_id, newest_updated, last_tool in rows:
            st = states[sid]
            st.last_event_ms = max(st.last_event_ms, _int(newest_updated))
            tool = json.loads(last_tool) if last_tool else [None, None]
            st.last_tool_part_id, st.last_tool = _str(tool[0]), _str(tool[1])
            if assistant_id:
                assistant_ids[assistant_id] = sid
            if first_user_id:
                first_user_ids[first_user_id] = sid
                st.first_user_id = first_user_id
        if assistant_ids:
            for mid, sid, _updated, data in conn.execute(_SQL_MESSAGES_BY_ID, (_json_list(assistant_ids),)):
                info = _loads(data)  # the row's data lacks the id, which is a column
                info["id"] = mid
                _apply_message(states[sid], info)
        wanted = {**assistant_ids, **first_user_ids}
        if wanted:
            for mid, _pid, updated, data in conn.execute(_SQL_PARTS_BY_MESSAGE, (_json_list(wanted),)):
                st = states[wanted[mid]]
                part = _loads(data)
                part["messageID"] = mid  # not in the row's data either
                part["id"] = _pid
                if mid in assistant_ids:
                    st.last_event_ms = max(st.last_event_ms, _int(updated))
                    if part.get("type") == "tool":
                        # Only what the latest assistant message says about its tools; the
                        # session's last tool came from the seed query above.
                        last_tool, last_part = st.last_tool, st.last_tool_part_id
                        pr_url = st.pr_url
                        _apply_part(st, part)
                        st.last_tool, st.last_tool_part_id, st.pr_url = last_tool, last_part, pr_url
                        if st.assistant_completed_ms or st.assistant_error_name:
                            st.running_tools.pop(_pid, None)
                elif part.get("type") == "text":
                    _apply_part(st, part)
        for sid, event_type, data in conn.execute(_SQL_SEED_REQUESTS, (_json_list(states),)):
            _apply_event(states[sid], event_type, _loads(data))
        for st in states.values():
            done = st.assistant_completed_ms or st.assistant_error_name is not None
            for key in [k for k, v in st.pending.items() if done or v[1:2] not in ([st.assistant_id], [""])]:
                del st.pending[key]
        for sid, data in conn.execute(_SQL_PR_CANDIDATES, (_json_list(states),)):
            st = states[sid]
            if st.pr_url is None:
                part = _loads(data)
                if part.get("type") == "tool":
                    st.pr_url = _find_pr_url(_dict(part.get("state")))

    def _replay(
        self, conn: sqlite3.Connection, todo: list[tuple[str, int, int]], states: dict[str, EventState], now_ms: int
    ) -> None:
        """Fold the events past each session's cursor into its state."""
        param = json.dumps([[sid, cursor, head] for sid, cursor, head in todo], separators=(",", ":"))
        reseed: set[str] = set()
        for sid, seq, event_type, data in conn.execute(_SQL_EVENTS, (param,)):
            st = states[sid]
            event = _loads(data)
            if event_type.startswith(("message.removed", "message.part.removed")) and (
                event.get("messageID") in (st.assistant_id, st.first_user_id)
                or (st.last_tool_part_id is not None and event.get("partID") == st.last_tool_part_id)
            ):
                reseed.add(sid)  # a revert took away what the state is built on
            ts = _apply_event(st, event_type, event)
            st.cursor = max(st.cursor, seq)
            if ts:
                st.last_event_ms = max(st.last_event_ms, min(ts, now_ms))
        for sid, _cursor, head in todo:
            states[sid].cursor = head
        if reseed:
            fresh = {
                sid: EventState(session_id=sid, cursor=states[sid].cursor, last_event_ms=states[sid].last_event_ms)
                for sid in reseed
            }
            self._seed(conn, fresh)
            states.update(fresh)

    def _activity(self, st: EventState, outcome: dict[str, Any] | None, last_ms: int, now_ms: int) -> str:
        if st.pending or any(v[0] in INTERACTIVE_TOOLS and v[2:3] == ["running"] for v in st.running_tools.values()):
            return "waiting_input"
        if st.assistant_id is not None and not st.assistant_completed_ms and st.assistant_error_name is None:
            return "active"
        quiet = now_ms - last_ms
        if quiet < self.active_window_ms:
            return "active"
        if outcome is not None and outcome["result"] == "error":
            return "blocked"
        if quiet >= self.idle_threshold_ms:
            return "idle"
        return "ready"
