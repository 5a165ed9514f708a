"""Where OpenCode's SQLite database is, and whether this OpenCode is one we can read.

OpenCode (>= 1.x; written against opencode-ai 1.18.33) keeps every session in one
SQLite database in WAL mode, ``$XDG_DATA_HOME/opencode/opencode.db``
(:func:`default_db_path`).  This module only decides whether introspection is
possible and, when it is not, says why in words a user can act on
(:class:`IntrospectionUnavailable`): no database yet, OpenCode's old pre-SQLite
``storage/`` directory of JSON files, a schema lacking a table or column the
reader needs (:data:`REQUIRED_COLUMNS`), an unreadable file, a busy database, or a
sqlite3 library without JSON support.  Reading the sessions is
:mod:`ao_server.agents.opencode_db`'s job.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "REQUIRED_COLUMNS",
    "IntrospectionUnavailable",
    "check_schema",
    "default_db_path",
    "has_old_storage",
    "missing_reason",
    "unavailable",
]

#: Tables and columns the reader uses; anything missing means an OpenCode it does not know.
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


def has_old_storage(data_dir: Path, limit: int = 2000) -> bool:
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


def missing_reason(path: Path) -> str:
    """Why there is no database at ``path``: OpenCode's old storage format, or none at all."""
    if has_old_storage(path.parent):
        return (
            f"old OpenCode storage format (JSON files under {path.parent / 'storage'}/); "
            "upgrade OpenCode >= 1.x for introspection"
        )
    return f"no OpenCode database at {path}"


def unavailable(e: sqlite3.Error, path: Path) -> IntrospectionUnavailable:
    """The :class:`IntrospectionUnavailable` a sqlite3 error reading ``path`` amounts to."""
    text = str(e)
    if "locked" in text or "busy" in text:
        return IntrospectionUnavailable(f"OpenCode database busy: {text}", transient=True)
    if "no such function" in text:
        return IntrospectionUnavailable(f"the sqlite3 library lacks JSON support: {text}")
    return IntrospectionUnavailable(f"cannot read the OpenCode database at {path}: {text}")


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`IntrospectionUnavailable` unless ``conn`` has every table and column the reader uses."""
    try:
        for table, columns in REQUIRED_COLUMNS.items():
            cursor = conn.cursor()
            cursor.row_factory = sqlite3.Row
            have = {row["name"] for row in cursor.execute(f"PRAGMA table_info({table})")}
            if not have:
                raise IntrospectionUnavailable(f"unknown schema: no table {table} in {path}")
            for column in columns:
                if column not in have:
                    raise IntrospectionUnavailable(f"unknown schema: table {table} lacks column {column}")
        conn.execute("SELECT json_extract('[1]', '$[0]')").fetchone()
    except sqlite3.OperationalError as e:
        raise unavailable(e, path) from None
    except sqlite3.DatabaseError as e:
        raise IntrospectionUnavailable(f"unreadable OpenCode database at {path}: {e}") from None
