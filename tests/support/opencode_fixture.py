"""Fixture OpenCode databases for the tests and the benchmarks, written the way OpenCode 1.18.33 writes them.

:data:`REFERENCE_SCHEMA_SQL` is the DDL of the tables the introspection reads,
verbatim from an OpenCode 1.18.33 database; :class:`OpenCodeWriter` fills them:
rows in ``session``/``message``/``part`` plus the ``event`` log, each row and
event shaped like those a real OpenCode run leaves behind.  Used by
``tests/unit/test_opencode_db.py`` and ``benchmarks/bench_introspection.py``;
nothing under ``ao_server/`` may use it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

VERSION = "1.18.33"
PROJECT = "global"

#: DDL of the tables the introspection reads, verbatim from an OpenCode 1.18.33 database (the
#: ``project``/``event_sequence``/``permission`` tables they reference are included).
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


def dumps(obj: Any) -> str:
    """JSON the way OpenCode stores it: compact, UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def add_project(conn: sqlite3.Connection, t: int) -> None:
    """The ``global`` project every fixture session belongs to."""
    conn.execute(
        "INSERT OR IGNORE INTO project (id, worktree, time_created, time_updated, sandboxes) VALUES (?,?,?,?,?)",
        (PROJECT, "/", t, t, "[]"),
    )


def new_database(path: Path, t: int) -> sqlite3.Connection:
    """Create a database at ``path`` with the reference schema in WAL mode; an autocommit connection to it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(REFERENCE_SCHEMA_SQL)
    conn.execute("PRAGMA journal_mode=WAL")
    add_project(conn, t)
    return conn


class OpenCodeWriter:
    """Writes sessions, messages, parts and their event log the way OpenCode 1.18.33 does.

    Ids are shaped like OpenCode's: ascending for messages, parts and events,
    descending for sessions.  ``event_sequence`` is written with every event, or,
    with ``eager_sequences=False``, only by :meth:`flush_sequences` (faster for
    large databases; the introspection never reads it).
    """

    def __init__(self, conn: sqlite3.Connection, *, eager_sequences: bool = True) -> None:
        self.conn = conn
        self.eager_sequences = eager_sequences
        self.n = 0
        self.seq: dict[str, int] = {}  # session id -> last event seq
        self.info: dict[str, dict[str, Any]] = {}  # session id -> its info, as in session.updated events
        self.msgs: dict[str, dict[str, Any]] = {}  # message id -> its data, as in the message row
        self.msg_session: dict[str, str] = {}

    def new_id(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}_{0x2120000000 + self.n:010x}001{self.n:014d}"

    def new_session_id(self) -> str:
        self.n += 1
        return f"ses_{0xDEDDFFFFFF - self.n:010x}ffe{self.n:014d}"

    def event(self, sid: str, type_: str, data: dict[str, Any]) -> int:
        seq = self.seq.get(sid, -1) + 1
        self.seq[sid] = seq
        self.conn.execute(
            "INSERT INTO event (id, aggregate_id, seq, type, data) VALUES (?,?,?,?,?)",
            (self.new_id("evt"), sid, seq, type_, dumps(data)),
        )
        if self.eager_sequences:
            self.conn.execute("INSERT OR REPLACE INTO event_sequence (aggregate_id, seq) VALUES (?,?)", (sid, seq))
        return seq

    def flush_sequences(self) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO event_sequence (aggregate_id, seq) VALUES (?,?)", list(self.seq.items())
        )

    # ---------------------------------------------------------------- sessions

    def session(
        self,
        title: str,
        directory: str,
        t: int,
        *,
        parent: str | None = None,
        cost: float = 0.0,
        tokens: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0),
        summary: tuple[int, int, int] | None = None,
        permission: list[dict[str, str]] | None = None,
    ) -> str:
        """A new session; ``tokens`` is (input, output, reasoning, cache read, cache write), ``summary``
        (additions, deletions, files)."""
        sid = self.new_session_id()
        slug = f"slug-{sid[-6:]}"
        self.conn.execute(
            "INSERT INTO session (id, project_id, parent_id, slug, directory, path, title, version, permission, cost, "
            "tokens_input, tokens_output, tokens_reasoning, tokens_cache_read, tokens_cache_write, summary_additions, "
            "summary_deletions, summary_files, time_created, time_updated) "
            "VALUES (?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                PROJECT,
                parent,
                slug,
                directory,
                title,
                VERSION,
                None if permission is None else dumps(permission),
                cost,
                *tokens,
                *(summary or (None, None, None)),
                t,
                t,
            ),
        )
        info: dict[str, Any] = {
            "id": sid,
            "slug": slug,
            "projectID": PROJECT,
            "directory": directory,
            "path": "",
            "cost": cost,
            "tokens": {
                "input": tokens[0],
                "output": tokens[1],
                "reasoning": tokens[2],
                "cache": {"read": tokens[3], "write": tokens[4]},
            },
            "title": title,
            "version": VERSION,
            "time": {"created": t, "updated": t},
        }
        if permission is not None:
            info["permission"] = permission
        if parent:
            info["parentID"] = parent
        self.info[sid] = info
        self.event(sid, "session.created.1", {"sessionID": sid, "info": info})
        self.event(sid, "session.updated.1", {"sessionID": sid, "info": info})
        return sid

    def session_updated(
        self,
        sid: str,
        t: int,
        *,
        cost: float | None = None,
        tokens: tuple[int, int] | None = None,
        summary: tuple[int, int, int] | None = None,
        **info_fields: Any,
    ) -> None:
        """The session's row and a ``session.updated`` event: new totals ``cost``, ``tokens`` (input, output),
        ``summary`` (additions, deletions, files), and whatever else its info should now say."""
        info = self.info[sid]
        info["time"]["updated"] = t
        columns: dict[str, Any] = {}
        if cost is not None:
            info["cost"] = columns["cost"] = cost
        if tokens is not None:
            info["tokens"]["input"] = columns["tokens_input"] = tokens[0]
            info["tokens"]["output"] = columns["tokens_output"] = tokens[1]
        if summary is not None:
            info["summary"] = dict(zip(("additions", "deletions", "files"), summary, strict=True))
            columns.update(summary_additions=summary[0], summary_deletions=summary[1], summary_files=summary[2])
        info.update(info_fields)
        columns["time_updated"] = t
        assignments = ", ".join(f"{name}=?" for name in columns)
        self.conn.execute(f"UPDATE session SET {assignments} WHERE id=?", (*columns.values(), sid))
        self.event(sid, "session.updated.1", {"sessionID": sid, "info": info})

    # ---------------------------------------------------------------- messages and parts

    def message(self, sid: str, mid: str, data: dict[str, Any], t: int) -> None:
        """Write (or rewrite) message ``mid`` of session ``sid`` with ``data``, updated at ``t``."""
        self.msg_session[mid] = sid
        self.msgs[mid] = data
        self.conn.execute(
            "INSERT OR REPLACE INTO message (id, session_id, time_created, time_updated, data) VALUES (?,?,?,?,?)",
            (mid, sid, data["time"]["created"], t, dumps(data)),
        )
        self.event(sid, "message.updated.1", {"sessionID": sid, "info": {"id": mid, "sessionID": sid, **data}})

    def part(
        self, mid: str, data: dict[str, Any], t: int, pid: str | None = None, *, created: int | None = None
    ) -> str:
        """Write (or, given its ``pid``, rewrite) a part of message ``mid``; returns its id."""
        sid = self.msg_session[mid]
        pid = pid or self.new_id("prt")
        self.conn.execute(
            "INSERT OR REPLACE INTO part (id, message_id, session_id, time_created, time_updated, data) "
            "VALUES (?,?,?,?,?,?)",
            (pid, mid, sid, t if created is None else created, t, dumps(data)),
        )
        self.event(
            sid,
            "message.part.updated.1",
            {"sessionID": sid, "part": {"id": pid, "sessionID": sid, "messageID": mid, **data}, "time": t},
        )
        return pid
