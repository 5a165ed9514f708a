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

Schema detection and the reasons introspection may be unavailable are
:mod:`ao_server.agents.opencode_schema`; the pure replay of events into an
:class:`EventState` is :mod:`ao_server.agents.opencode_events`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..activity import Activity
from .opencode_events import (
    EventState,
    activity_of,
    apply_event,
    apply_message,
    apply_part,
    as_dict,
    as_int,
    as_str,
    find_pr_url,
    loads_object,
    outcome_of,
)
from .opencode_schema import IntrospectionUnavailable, check_schema, default_db_path, missing_reason, unavailable

logger = logging.getLogger(__name__)

__all__ = [
    "Binding",
    "EventState",
    "IntrospectionUnavailable",
    "OpenCodeDB",
    "SessionInfo",
    "default_db_path",
]

TITLE_PREFIX = "AO:"
#: An OpenCode session created this long before the AO session was spawned never binds to it.
BIND_SLACK_MS = 5000
#: A session whose event log moved further than this past its cursor is re-seeded, not replayed.
REPLAY_LIMIT = 5000


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
    activity: Activity
    last_activity_ms: int
    outcome: dict[str, Any] | None
    summary: dict[str, Any]
    state: EventState


# --------------------------------------------------------------------------------------------- helpers


def _json_list(values: Iterable[Any]) -> str:
    return json.dumps(list(values), separators=(",", ":"))


def _same_dirs(directory: str) -> set[str]:
    norm = os.path.normpath(directory) if directory else directory
    out = {directory, norm}
    with contextlib.suppress(OSError, ValueError):
        out.add(os.path.realpath(directory))
    return out


_SQL_HEADS = """
SELECT s.id, s.title, s.cost, s.tokens_input, s.tokens_output, s.tokens_reasoning, s.tokens_cache_read,
       s.tokens_cache_write, s.summary_files, s.summary_additions, s.summary_deletions, s.time_updated,
       (SELECT max(e.seq) FROM event e WHERE e.aggregate_id = s.id) AS head
FROM session s WHERE s.id IN (SELECT value FROM json_each(?1))
"""

_SQL_BIND = """
SELECT id, title, directory, time_created FROM session
WHERE parent_id IS NULL AND title IN (SELECT value FROM json_each(?1))
ORDER BY time_created DESC, id
"""

_SQL_EVENTS = """
SELECT e.aggregate_id AS session_id, e.seq, e.type, e.data
FROM json_each(?1) j JOIN event e
  ON e.aggregate_id = json_extract(j.value, '$[0]')
 AND e.seq > json_extract(j.value, '$[1]') AND e.seq <= json_extract(j.value, '$[2]')
ORDER BY e.aggregate_id, e.seq
"""

# Per session: latest assistant message id, first user message id, newest message's time_updated,
# [part id, tool] of the newest tool part.
_SQL_SEED_MESSAGES = """
SELECT j.value AS session_id,
  (SELECT m.id FROM message m WHERE m.session_id = j.value AND json_extract(m.data, '$.role') = 'assistant'
    ORDER BY m.time_created DESC, m.id DESC LIMIT 1) AS assistant_id,
  (SELECT m.id FROM message m WHERE m.session_id = j.value AND json_extract(m.data, '$.role') = 'user'
    ORDER BY m.time_created, m.id LIMIT 1) AS first_user_id,
  (SELECT m.time_updated FROM message m WHERE m.session_id = j.value
    ORDER BY m.time_created DESC, m.id DESC LIMIT 1) AS newest_updated,
  (SELECT json_array(p.id, json_extract(p.data, '$.tool')) FROM message m JOIN part p ON p.message_id = m.id
    WHERE m.session_id = j.value AND instr(p.data, '"type":"tool"') > 0 AND json_extract(p.data, '$.type') = 'tool'
    ORDER BY m.time_created DESC, m.id DESC, p.id DESC LIMIT 1) AS last_tool
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
SELECT e.aggregate_id AS session_id, e.type, e.data FROM json_each(?1) j JOIN event e ON e.aggregate_id = j.value
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

    def _connection(self) -> sqlite3.Connection:
        """The open connection, (re)opened and schema-checked when the file is new or was replaced."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._close()
            raise IntrospectionUnavailable(missing_reason(self.path)) from None
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
        conn.row_factory = sqlite3.Row  # every query's columns are read by name
        try:
            check_schema(conn, self.path)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._identity = identity
        return conn

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
                    error = unavailable(e, self.path)
                    self._close()
                    if error.transient or attempt:
                        raise error from None
                    logger.debug("OpenCode database read failed (%s); reopening once", e)
        raise AssertionError("unreachable")  # pragma: no cover

    def recorded_diffs(self, opencode_session_id: str) -> list[dict[str, Any]]:
        """The per-turn file diffs OpenCode recorded for a session, oldest turn first.

        They are the ``summary.diffs`` of its user messages: ``{file, patch, additions,
        deletions, status}`` each (OpenCode records them when the project is a git repository).
        """
        with self._lock:
            conn = self._connection()
            try:
                rows = conn.execute(
                    "SELECT data FROM message WHERE session_id = ? ORDER BY time_created, id", (opencode_session_id,)
                ).fetchall()
            except sqlite3.DatabaseError as e:
                self._close()
                raise unavailable(e, self.path) from None
        out: list[dict[str, Any]] = []
        for row in rows:
            try:
                data = json.loads(row["data"])
            except (TypeError, ValueError):
                continue
            if not isinstance(data, dict) or data.get("role") != "user":
                continue
            summary = data.get("summary")
            diffs = summary.get("diffs") if isinstance(summary, dict) else None
            for d in diffs if isinstance(diffs, list) else []:
                if isinstance(d, dict) and isinstance(d.get("file"), str) and isinstance(d.get("patch"), str):
                    out.append(d)
        return out

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
            sid, head = row["id"], row["head"] if row["head"] is not None else -1
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
            sid = row["id"]
            st = states[sid]
            last_ms = max(st.last_event_ms, min(as_int(row["time_updated"]), now_ms))
            outcome = outcome_of(st)
            b = bound[sid]
            out[b.ao_id] = SessionInfo(
                opencode_session_id=sid,
                title=row["title"],
                cost_usd=float(row["cost"] or 0.0),
                tokens={
                    "input": as_int(row["tokens_input"]),
                    "output": as_int(row["tokens_output"]),
                    "reasoning": as_int(row["tokens_reasoning"]),
                    "cacheRead": as_int(row["tokens_cache_read"]),
                    "cacheWrite": as_int(row["tokens_cache_write"]),
                },
                activity=self._activity(st, outcome, last_ms, now_ms),
                last_activity_ms=last_ms,
                outcome=outcome,
                summary={
                    "title": row["title"],
                    "firstPrompt": st.first_prompt,
                    "files": as_int(row["summary_files"]),
                    "additions": as_int(row["summary_additions"]),
                    "deletions": as_int(row["summary_deletions"]),
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
        for row in rows:  # newest first
            sid = row["id"]
            if sid in taken or sid in found:
                continue
            for b, dirs in by_title.get(row["title"], ()):
                if (
                    id(b) in done
                    or row["directory"] not in dirs
                    or as_int(row["time_created"]) < b.created_ms - BIND_SLACK_MS
                ):
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
        for row in rows:
            st = states[row["session_id"]]
            st.last_event_ms = max(st.last_event_ms, as_int(row["newest_updated"]))
            part_id, tool = json.loads(row["last_tool"]) if row["last_tool"] else (None, None)
            st.last_tool_part_id, st.last_tool = as_str(part_id), as_str(tool)
            sid, assistant_id, first_user_id = row["session_id"], row["assistant_id"], row["first_user_id"]
            if assistant_id:
                assistant_ids[assistant_id] = sid
            if first_user_id:
                first_user_ids[first_user_id] = sid
                st.first_user_id = first_user_id
        if assistant_ids:
            for row in conn.execute(_SQL_MESSAGES_BY_ID, (_json_list(assistant_ids),)):
                info = loads_object(row["data"])  # the row's data lacks the id, which is a column
                info["id"] = row["id"]
                apply_message(states[row["session_id"]], info)
        wanted = {**assistant_ids, **first_user_ids}
        if wanted:
            for row in conn.execute(_SQL_PARTS_BY_MESSAGE, (_json_list(wanted),)):
                mid, pid = row["message_id"], row["id"]
                st = states[wanted[mid]]
                part = loads_object(row["data"])
                part["messageID"] = mid  # not in the row's data either
                part["id"] = pid
                if mid in assistant_ids:
                    st.last_event_ms = max(st.last_event_ms, as_int(row["time_updated"]))
                    if part.get("type") == "tool":
                        # Only what the latest assistant message says about its tools; the
                        # session's last tool came from the seed query above.
                        last_tool, last_part = st.last_tool, st.last_tool_part_id
                        pr_url = st.pr_url
                        apply_part(st, part)
                        st.last_tool, st.last_tool_part_id, st.pr_url = last_tool, last_part, pr_url
                        if st.assistant_completed_ms or st.assistant_error_name:
                            st.running_tools.pop(pid, None)
                elif part.get("type") == "text":
                    apply_part(st, part)
        for row in conn.execute(_SQL_SEED_REQUESTS, (_json_list(states),)):
            apply_event(states[row["session_id"]], row["type"], loads_object(row["data"]))
        for st in states.values():
            done = st.assistant_completed_ms or st.assistant_error_name is not None
            for key in [k for k, v in st.pending.items() if done or v.message_id not in (st.assistant_id, "")]:
                del st.pending[key]
        for row in conn.execute(_SQL_PR_CANDIDATES, (_json_list(states),)):
            st = states[row["session_id"]]
            if st.pr_url is None:
                part = loads_object(row["data"])
                if part.get("type") == "tool":
                    st.pr_url = find_pr_url(as_dict(part.get("state")))

    def _replay(
        self, conn: sqlite3.Connection, todo: list[tuple[str, int, int]], states: dict[str, EventState], now_ms: int
    ) -> None:
        """Fold the events past each session's cursor into its state."""
        param = json.dumps([[sid, cursor, head] for sid, cursor, head in todo], separators=(",", ":"))
        reseed: set[str] = set()
        for row in conn.execute(_SQL_EVENTS, (param,)):
            sid, seq, event_type = row["session_id"], row["seq"], row["type"]
            st = states[sid]
            event = loads_object(row["data"])
            if event_type.startswith(("message.removed", "message.part.removed")) and (
                event.get("messageID") in (st.assistant_id, st.first_user_id)
                or (st.last_tool_part_id is not None and event.get("partID") == st.last_tool_part_id)
            ):
                reseed.add(sid)  # a revert took away what the state is built on
            ts = apply_event(st, event_type, event)
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

    def _activity(self, st: EventState, outcome: dict[str, Any] | None, last_ms: int, now_ms: int) -> Activity:
        return activity_of(
            st,
            outcome,
            last_ms,
            now_ms,
            active_window_ms=self.active_window_ms,
            idle_threshold_ms=self.idle_threshold_ms,
        )
