"""The session store: one SQLite database in WAL mode shared by every process.

The CLI, several editor windows and their servers all read and write it at
once. Every state change is one short transaction, and every transition that
depends on the current status is compare-and-set (``update(..., expect=...)``),
so two concurrent resumes cannot both win. Session numbers come from a counter
bumped inside ``BEGIN IMMEDIATE``; a number is never reused, not even after the
database is deleted (``last-id`` and the session folders remember them). Each
session gets a folder (``sessions/agent-<n>/``) for its launch script, prompt,
log and exit code.

The state dir is private: the dir 0700, every file in it 0600 whatever the
umask (SQLite gives its WAL and SHM files the database file's mode).
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, ParamSpec, TypeVar

from .errors import StateError, UnknownSession
from .model import STARTING, STATUS_EXITED, STATUS_RUNNING, Cost, Facts, Outcome, SessionRecord, State, Workspace

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

SCHEMA_VERSION = 3
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    num INTEGER PRIMARY KEY,
    project TEXT NOT NULL,
    agent TEXT NOT NULL,
    runtime TEXT NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT,
    issue_id TEXT,
    workdir TEXT NOT NULL,
    created_at REAL NOT NULL,
    exit_code INTEGER,
    ended_at REAL,
    handle TEXT NOT NULL DEFAULT '{}',
    opencode_session_id TEXT,
    introspection TEXT,
    outcome TEXT,
    workspace TEXT,
    runs INTEGER NOT NULL DEFAULT 1,
    facts TEXT,
    budget REAL
);
CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status);
"""
# Columns added after version 1, with their definitions, for databases made by older versions.
ADDED_COLUMNS = {"facts": "TEXT", "budget": "REAL"}
COLUMNS = (
    "num",
    "project",
    "agent",
    "runtime",
    "status",
    "prompt",
    "model",
    "issue_id",
    "workdir",
    "created_at",
    "exit_code",
    "ended_at",
    "handle",
    "opencode_session_id",
    "introspection",
    "outcome",
    "workspace",
    "runs",
    "facts",
    "budget",
)
JSON_COLUMNS = ("handle", "outcome", "workspace", "facts")
LAST_TIME = 253402300799  # 9999-12-31T23:59:59Z: a created_at beyond (or before 1970) is no time ao wrote
CREATED_OK = f"typeof(created_at) IN ('integer', 'real') AND created_at BETWEEN 0 AND {LAST_TIME}"
LAST_ID_FILE = "last-id"  # the highest session number ever handed out


def default_state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("AO_STATE_DIR"):
        return Path(env["AO_STATE_DIR"]).expanduser()
    xdg = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(xdg) / "agent-orchestrator"


def _is_locked(e: sqlite3.OperationalError) -> bool:
    return "locked" in str(e) or "busy" in str(e)


_CREATING = threading.Lock()  # no thread connects to a database file another thread is creating
IO_RETRY = 1.0  # seconds a "disk I/O error" is tried again before it is reported


def _retry_locked(fn: Callable[[], R], timeout: float = 60.0) -> R:
    """Run ``fn``, retrying while SQLite says the database is locked.

    The busy timeout covers most waits, but some paths report SQLITE_BUSY at once (opening
    a WAL database while another process checkpoints it, say). A "disk I/O error" is tried
    again for up to ``IO_RETRY`` seconds: many processes opening the store at once can race
    on its WAL index, while a full disk keeps failing. Each ``fn`` is one whole transaction,
    so running it again is safe.
    """
    started = time.monotonic()
    deadline = started + timeout
    delay = 0.01
    while True:
        try:
            return fn()
        except StateError as e:
            if not e.data.get("io") or time.monotonic() > started + IO_RETRY:
                raise
        except sqlite3.OperationalError as e:
            if not _is_locked(e):
                raise
            if time.monotonic() > deadline:
                raise StateError(
                    f"the session store stayed locked for {timeout:.0f} s ({e}); is another process stuck holding it?"
                ) from None
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _retrying(method: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return _retry_locked(lambda: method(*args, **kwargs))

    return wrapper


class CostRow(NamedTuple):
    num: int
    project: str
    model: str | None
    created_at: float
    cost: Cost


class BriefRow(NamedTuple):
    num: int
    project: str
    status: str
    exit_code: int | None
    created_at: float


class CorruptRow(StateError):
    pass


class Store:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.db_path = state_dir / "sessions.db"
        self.sessions_dir = state_dir / "sessions"
        try:
            make_private_dir(state_dir)
            make_private_dir(self.sessions_dir)
            probe = state_dir / f".probe-{os.getpid()}-{threading.get_ident()}"
            try:
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                probe.unlink()
            except OSError as e:
                if e.errno not in (errno.ENOSPC, errno.EDQUOT):  # a full disk can still be read
                    raise
            # SQLite creates -wal and -shm with the database file's mode: make that 0600 first.
            # Only ever open a file that did not exist: closing ANY descriptor of the database
            # drops every POSIX lock this process holds on it, so another thread's transaction
            # would lose its locks, and another process's last close would reset the WAL under it.
            with _CREATING:
                try:
                    os.close(os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
                except FileExistsError:
                    pass
            for suffix in ("", "-wal", "-shm"):
                try:  # -wal and -shm come and go with other processes' connections
                    if os.stat(f"{self.db_path}{suffix}").st_mode & 0o077:
                        os.chmod(f"{self.db_path}{suffix}", 0o600)
                except FileNotFoundError:
                    pass
        except OSError as e:
            raise StateError(
                f"state dir {state_dir} is not writable ({e.strerror or e}); "
                "fix its permissions or set AO_STATE_DIR to a writable folder"
            ) from None
        _retry_locked(self._init_schema)

    def _schema_current(self) -> bool:
        """Whether the store already has this version's schema (then opening it writes nothing)."""
        try:
            with self._connect(read=True) as db:
                have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
                row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except (StateError, sqlite3.Error):
            return False
        # WAL mode is persistent: set when the schema was first made, so a current schema has it.
        return set(COLUMNS) <= have and row is not None and row[0] == str(SCHEMA_VERSION)

    def _init_schema(self) -> None:
        if self._schema_current():
            return
        with self._connect() as db:
            # Once per database (the mode is persistent), and only when needed: asking for WAL on
            # every connection can fail at once with "database is locked" under concurrent openers.
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            have = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
            for col, decl in ADDED_COLUMNS.items():
                if col not in have:
                    db.execute(f"ALTER TABLE sessions ADD COLUMN {col} {decl}")
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('next_num', '1')")

    @contextmanager
    def _connect(self, read: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection; with ``read``, one that still works when the disk is full.

        Opening a WAL database creates its ``-shm`` file when no other connection has it
        open; on a full filesystem that fails ("disk I/O error"). Reads then open the
        database file as it is (``immutable``): with no other connection open, the last
        one to close has already checkpointed everything into it.
        """
        try:
            db = sqlite3.connect(self.db_path, timeout=30.0, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
            if read:
                db.execute("PRAGMA schema_version").fetchone()  # touches the WAL index
        except sqlite3.OperationalError as e:
            if _is_locked(e):
                raise  # retried whole by @_retrying
            if not (read and "disk I/O" in str(e) and self.db_path.exists()):
                raise self._failure(e) from None
            db.close()
            log.info("reading %s as it is on disk: %s", self.db_path, e)
            uri = f"file:{urllib.parse.quote(str(self.db_path))}?mode=ro&immutable=1"
            db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        except sqlite3.Error as e:
            raise StateError(f"cannot open the session store {self.db_path}: {e}") from None
        try:
            yield db
        except sqlite3.OperationalError as e:
            if _is_locked(e):
                raise  # retried whole by @_retrying
            raise self._failure(e) from None
        except sqlite3.DatabaseError as e:
            raise self._failure(e) from None
        finally:
            db.close()

    def _failure(self, e: sqlite3.Error) -> StateError:
        if "full" in str(e) or "disk I/O" in str(e):
            return StateError(
                f"the session store {self.db_path} cannot be written ({e}); is its filesystem full? Free some "
                "space there or set AO_STATE_DIR elsewhere (nothing was changed)",
                io="disk I/O" in str(e),
            )
        return StateError(
            f"the session store {self.db_path} failed: {e}; if it is corrupt, move it aside "
            "(running agents keep running, but their records are lost)"
        )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def session_dir(self, num: int) -> Path:
        return self.sessions_dir / f"agent-{num}"

    # --- writes -----------------------------------------------------------

    @_retrying
    def create(self, rec: SessionRecord) -> SessionRecord:
        """Allocate the next number, make its folder and insert ``rec`` as ``starting``; sets ``rec.num``.

        The number is above every number the database, ``last-id`` or a session folder
        has seen, so a reset store never hands out a folder (or tmux session) again.
        """
        with self.transaction() as db:
            (nxt,) = db.execute("SELECT value FROM meta WHERE key='next_num'").fetchone()
            (mx,) = db.execute("SELECT COALESCE(MAX(num), 0) FROM sessions").fetchone()
            num = max(int(nxt), int(mx) + 1, self._last_id() + 1)
            while True:
                try:
                    os.mkdir(self.session_dir(num), 0o700)
                    break
                except FileExistsError:
                    num += 1
            try:
                db.execute("UPDATE meta SET value=? WHERE key='next_num'", (str(num + 1),))
                rec.num = num
                rec.status = STARTING
                rec.folder = self.session_dir(num)
                row = self._to_row(rec)
                db.execute(
                    f"INSERT INTO sessions({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})",
                    [row[c] for c in COLUMNS],
                )
                write_last_id(self.state_dir, num)
            except BaseException:
                shutil.rmtree(self.session_dir(num), ignore_errors=True)
                raise
        return rec

    def _last_id(self) -> int:
        try:
            return int((self.state_dir / LAST_ID_FILE).read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    @_retrying
    def update(self, num: int, expect: str | tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set ``fields`` on session ``num``; with ``expect``, only while its status is (one of) that.

        Returns whether the row was changed: False means another process moved it first.
        """
        if not fields:
            return True
        enc = {k: self._encode(k, v) for k, v in fields.items()}
        bad = set(enc) - set(COLUMNS)
        if bad:
            raise ValueError(f"unknown columns {bad}")
        sets = ", ".join(f"{k}=?" for k in enc)
        where, args = "num=?", list[Any]([num])
        if expect is not None:
            wanted = (expect,) if isinstance(expect, str) else expect
            where += f" AND status IN ({','.join('?' * len(wanted))})"
            args += list(wanted)
        with self._connect() as db:
            return db.execute(f"UPDATE sessions SET {sets} WHERE {where}", [*enc.values(), *args]).rowcount > 0

    def finish(
        self,
        num: int,
        exit_code: int | None,
        outcome: Outcome | None,
        ended_at: float,
        facts: Facts | None = None,
    ) -> bool:
        """Mark a running session exited, once, keeping its last cost and summary in ``facts``.

        Returns False if another process did it first.
        """
        fields: dict[str, Any] = {"status": STATUS_EXITED, "exit_code": exit_code, "outcome": outcome}
        fields["ended_at"] = ended_at
        if facts is not None:
            fields["facts"] = facts
        return self.update(num, expect=(STARTING, STATUS_RUNNING), **fields)

    @_retrying
    def delete(self, num: int) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM sessions WHERE num=?", (num,))
        shutil.rmtree(self.session_dir(num), ignore_errors=True)

    # --- reads ------------------------------------------------------------

    @_retrying
    def get(self, num: int) -> SessionRecord:
        with self._connect(read=True) as db:
            row = db.execute(f"SELECT {','.join(COLUMNS)} FROM sessions WHERE num=?", (num,)).fetchone()
        if row is None:
            raise UnknownSession(f"no session agent-{num} (see `ao list`)")
        return self._from_row(dict(zip(COLUMNS, row, strict=True)))

    def get_many(self, nums: list[int]) -> tuple[list[SessionRecord], list[CorruptRow]]:
        """These sessions (in number order), in one query; unknown numbers are left out."""
        if not nums:
            return [], []
        return _retry_locked(lambda: self._select(f"num IN ({','.join('?' * len(nums))})", tuple(nums), None))

    @_retrying
    def all(self, project: str | None = None) -> tuple[list[SessionRecord], list[CorruptRow]]:
        return self._select("1", (), project)

    @_retrying
    def query(
        self,
        project: str | None = None,
        *,
        running: bool = False,
        limit: int | None = None,
        before: int | None = None,
    ) -> tuple[list[SessionRecord], list[CorruptRow], int | None]:
        """A page of sessions in number order: the newest ``limit`` (below ``before``), and the
        number to pass as ``before`` for the next older page (None when there is none)."""
        where, args = ["1"], []
        if running:
            where.append("status != 'exited'")
        if before is not None:
            where.append("num < ?")
            args.append(before)
        recs, bad = self._select(" AND ".join(where), tuple(args), project, limit=None if limit is None else limit + 1)
        more = None
        if limit is not None and len(recs) + len(bad) > limit:
            nums = sorted([r.num for r in recs] + [_corrupt_num(b) for b in bad])
            cut = nums[-limit]
            recs = [r for r in recs if r.num >= cut]
            bad = [b for b in bad if _corrupt_num(b) >= cut]
            more = cut
        return recs, bad, more

    @_retrying
    def brief(
        self, project: str | None = None, *, running: bool = False, limit: int | None = None, before: int | None = None
    ) -> tuple[list[BriefRow], list[CorruptRow], int | None]:
        """Like :meth:`query` but only ``(num, project, status, exit_code, created_at)`` per row: no
        prompt, no JSON decoded in Python (SQLite checks it is well-formed), so listing thousands
        of sessions stays cheap."""
        where, args = ["1"], list[Any]()
        if running:
            where.append("status != 'exited'")
        if before is not None:
            where.append("num < ?")
            args.append(before)
        if project is not None:
            where.append("project = ?")
            args.append(project)
        ok = " AND ".join(
            ["json_valid(handle)", "status IN ('starting', 'running', 'exited')", CREATED_OK]
            + [f"({c} IS NULL OR json_valid({c}))" for c in JSON_COLUMNS if c != "handle"]
        )
        q = f"SELECT num, project, status, exit_code, created_at, {ok} FROM sessions WHERE {' AND '.join(where)}"
        q += " ORDER BY num DESC"
        if limit is not None:
            q += " LIMIT ?"
            args.append(limit + 1)
        with self._connect(read=True) as db:
            found = db.execute(q, args).fetchall()
        more = None
        if limit is not None and len(found) > limit:
            found = found[:limit]
            more = found[-1][0]
        found.reverse()
        rows = [BriefRow(*r[:5]) for r in found if r[5]]
        why = "a field is not valid JSON, the status is unknown or created_at is not a time"
        bad = [self._corrupt(r[0], why) for r in found if not r[5]]
        return rows, bad, more

    @_retrying
    def spend(self, project: str, since: float | None = None) -> float:
        """What the project's sessions (started at or after ``since``) cost, from their kept facts."""
        q = "SELECT COALESCE(SUM(json_extract(facts, '$.cost.usd')), 0) FROM sessions WHERE project = ?"
        args: list[Any] = [project]
        if since is not None:
            q += " AND created_at >= ?"
            args.append(since)
        with self._connect(read=True) as db:
            return float(db.execute(q + " AND json_valid(facts)", args).fetchone()[0] or 0.0)

    @_retrying
    def costs(self, project: str | None = None, since: float | None = None) -> list[CostRow]:
        """Every session's kept cost, for ``ao cost``: no prompt, only what a report needs."""
        from cattrs.errors import ClassValidationError  # the wire's converter: loaded when a row is read

        from .protocol import from_wire

        q = (
            "SELECT num, project, model, created_at, json_extract(facts, '$.cost') FROM sessions "
            f"WHERE json_valid(facts) AND json_extract(facts, '$.cost') IS NOT NULL AND {CREATED_OK}"
        )
        args: list[Any] = []
        if project is not None:
            q += " AND project = ?"
            args.append(project)
        if since is not None:
            q += " AND created_at >= ?"
            args.append(since)
        with self._connect(read=True) as db:
            rows = db.execute(q + " ORDER BY num", args).fetchall()
        out = []
        for num, proj, model, created, cost in rows:
            try:
                out.append(CostRow(num, proj, model, float(created), from_wire(json.loads(cost), Cost)))
            except (ValueError, TypeError, ClassValidationError):
                continue  # a corrupt record: reported by listings, left out of sums
        return out

    @_retrying
    def max_num(self) -> int:
        with self._connect(read=True) as db:
            return int(db.execute("SELECT COALESCE(MAX(num), 0) FROM sessions").fetchone()[0])

    @_retrying
    def for_poll(self, since: float, above: int) -> tuple[list[SessionRecord], list[CorruptRow]]:
        """What a poller must look at: sessions not yet exited, those that ended at or after
        ``since``, and those numbered above ``above`` (new since the last look)."""
        return self._select("(status != 'exited' OR ended_at >= ? OR num > ?)", (since, above), None)

    def _select(
        self, where: str, args: tuple[Any, ...], project: str | None, limit: int | None = None
    ) -> tuple[list[SessionRecord], list[CorruptRow]]:
        q = f"SELECT {','.join(COLUMNS)} FROM sessions WHERE {where}"
        if project is not None:
            q += " AND project=?"
            args = (*args, project)
        if limit is not None:
            q = f"SELECT * FROM ({q} ORDER BY num DESC LIMIT ?)"
            args = (*args, limit)
        with self._connect(read=True) as db:
            rows = db.execute(q + " ORDER BY num", args).fetchall()
        out, bad = [], []
        for row in rows:
            try:
                out.append(self._from_row(dict(zip(COLUMNS, row, strict=True))))
            except CorruptRow as e:
                bad.append(e)
        return out, bad

    # --- encoding -----------------------------------------------------------

    @staticmethod
    def _encode(key: str, value: Any) -> Any:
        from .protocol import to_wire

        if key in JSON_COLUMNS:  # typed values are kept in their wire form
            return None if value is None else json.dumps(to_wire(value))
        if key == "workdir":
            return str(value)
        return value

    def _to_row(self, rec: SessionRecord) -> dict[str, Any]:
        return {
            "num": rec.num,
            "project": rec.project,
            "agent": rec.agent,
            "runtime": rec.runtime,
            "status": rec.status,
            "prompt": rec.prompt,
            "model": rec.model,
            "issue_id": rec.issue_id,
            "workdir": str(rec.workdir),
            "created_at": rec.created_at,
            "exit_code": rec.exit_code,
            "ended_at": rec.ended_at,
            "handle": json.dumps(rec.handle),
            "opencode_session_id": rec.opencode_session_id,
            "introspection": rec.introspection,
            "outcome": self._encode("outcome", rec.outcome),
            "workspace": self._encode("workspace", rec.workspace),
            "runs": rec.runs,
            "facts": self._encode("facts", rec.facts),
            "budget": rec.budget,
        }

    def _from_row(self, r: dict[str, Any]) -> SessionRecord:
        from cattrs.errors import ClassValidationError

        from .protocol import from_wire

        num = r["num"]
        try:
            handle = json.loads(r["handle"] or "{}")
            outcome = from_wire(json.loads(r["outcome"]), Outcome) if r["outcome"] else None
            workspace = from_wire(json.loads(r["workspace"]), Workspace) if r["workspace"] else None
            facts = from_wire(json.loads(r["facts"]), Facts) if r.get("facts") else None
            if not isinstance(handle, dict):
                raise ValueError("runtime handle is not an object")
            if r["status"] not in ("starting", "running", "exited"):
                raise ValueError(f"unknown status {r['status']!r}")
            created = r["created_at"]
            if isinstance(created, bool) or not isinstance(created, int | float) or not 0 <= created <= LAST_TIME:
                raise ValueError(f"created_at {str(created)[:40]!r} is not a time")
            return SessionRecord(
                num=int(num),
                project=str(r["project"]),
                agent=str(r["agent"]),
                runtime=str(r["runtime"]),
                status=State(r["status"]),
                prompt=str(r["prompt"]),
                workdir=Path(r["workdir"]),
                created_at=float(r["created_at"]),
                model=r["model"],
                issue_id=r["issue_id"],
                exit_code=r["exit_code"],
                ended_at=r["ended_at"],
                handle=handle,
                opencode_session_id=r["opencode_session_id"],
                introspection=r["introspection"],
                outcome=outcome,
                workspace=workspace,
                runs=int(r["runs"] or 1),
                facts=facts,
                budget=float(r["budget"]) if r.get("budget") is not None else None,
                folder=self.session_dir(int(num)),
            )
        except (ValueError, TypeError, KeyError, ClassValidationError) as e:
            raise self._corrupt(num, str(e)) from None

    def _corrupt(self, num: int, why: str) -> CorruptRow:
        return CorruptRow(
            f"session agent-{num} has a corrupt record in {self.db_path} ({why}); "
            f"remove it with `ao forget agent-{num}`",
            session=f"agent-{num}",
        )


def _corrupt_num(e: CorruptRow) -> int:
    return int(str(e.data.get("session", "agent-0")).removeprefix("agent-"))


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)


def write_last_id(state_dir: Path, num: int) -> None:
    tmp = state_dir / f"{LAST_ID_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, f"{num}\n".encode())
    finally:
        os.close(fd)
    tmp.replace(state_dir / LAST_ID_FILE)
