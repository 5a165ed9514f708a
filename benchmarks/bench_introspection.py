"""Benchmark: introspecting OpenCode's database vs asking the ``opencode`` CLI.

Builds, in a temporary directory, an OpenCode database holding ``--sessions`` AO
sessions of ``--messages`` messages each (with their parts and the event log
OpenCode 1.18.33 writes for them), then times :meth:`OpenCodeDB.read` for all of
them: the first poll (which seeds every session from the tables), repeat polls
with nothing new (the steady state), and polls while a tenth of the sessions
are busy.  Finally it times one real ``opencode session list --format json``
against the same database, which gives far less (no cost, no status).

The schema is the real one: if the ``opencode`` binary is found it creates the
database itself (one untimed ``session list`` on the empty data dir); otherwise
the DDL is copied from ``--schema-from`` (an existing OpenCode database, read
only), or from ``$XDG_DATA_HOME/opencode/opencode.db`` when that variable is
set, else taken from the 1.18.33 DDL kept with the test fixtures
(``tests/support/opencode_fixture.py``, whose writer also fills the database).

The binary is ``$AO_OPENCODE_BIN``, else what scripts/install-opencode.sh installs
(``~/.cache/ao-server/opencode-1.18.33/node_modules/.bin/opencode``), else ``opencode`` on ``PATH``.

Run: ``python benchmarks/bench_introspection.py [--sessions 100] [--messages 200] [--polls 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ao_server.agents.opencode_db import Binding, OpenCodeDB, SessionInfo
from tests.support.opencode_fixture import REFERENCE_SCHEMA_SQL, OpenCodeWriter, add_project

MODEL = {"providerID": "fake", "modelID": "fake-model"}
PERMISSION = [
    {"permission": "question", "pattern": "*", "action": "deny"},
    {"permission": "plan_enter", "pattern": "*", "action": "deny"},
    {"permission": "plan_exit", "pattern": "*", "action": "deny"},
]
LOREM = (
    "The quick brown fox jumps over the lazy dog while the build runs its tests and reports "
    "the results back to the orchestrator. "
)


def find_opencode() -> str | None:
    env = os.environ.get("AO_OPENCODE_BIN")
    if env and os.access(env, os.X_OK):
        return env
    cached = Path.home() / ".cache/ao-server/opencode-1.18.33/node_modules/.bin/opencode"
    if os.access(cached, os.X_OK):
        return str(cached)
    return shutil.which("opencode")


def isolated_env(root: Path, project: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("data", "config", "state", "cache"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env.update(
        XDG_DATA_HOME=str(root / "data"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        XDG_CACHE_HOME=str(root / "cache"),
        PWD=str(project),
    )
    env.pop("OPENCODE_DB", None)
    cfg = root / "config" / "opencode"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "opencode.json").write_text(
        json.dumps({"$schema": "https://opencode.ai/config.json", "autoupdate": False, "share": "disabled"})
    )
    return env


def copy_schema(src: Path, dst: sqlite3.Connection) -> None:
    """Copy tables, indexes and the migration bookkeeping of a real OpenCode database."""
    conn = sqlite3.connect(f"file:{urllib.parse.quote(str(src))}?mode=ro", uri=True, timeout=0.2)
    try:
        rows = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type = 'index', rowid"
        ).fetchall()
        for _type, _name, sql in rows:
            dst.execute(sql)
        for table in ("migration", "data_migration", "__drizzle_migrations"):
            if any(name == table for _t, name, _s in rows):
                data = conn.execute(f'SELECT * FROM "{table}"').fetchall()
                if data:
                    marks = ",".join("?" * len(data[0]))
                    dst.executemany(f'INSERT INTO "{table}" VALUES ({marks})', data)
    finally:
        conn.close()


class Writer(OpenCodeWriter):
    """The shared fixture writer (no event_sequence row per event: :meth:`flush_sequences` writes them)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn, eager_sequences=False)

    def turn(
        self, sid: str, t: int, prompt: str, rng: random.Random, *, tool: bool = True, pr_url: str | None = None
    ) -> int:
        """One user prompt and the assistant's answer (one step, optionally with a bash call); returns the end."""
        uid = self.new_id("msg")
        user = {"role": "user", "time": {"created": t}, "agent": "build", "model": MODEL}
        self.message(sid, uid, user, t)
        self.part(uid, {"type": "text", "text": prompt}, t + 5)
        aid = self.new_id("msg")
        t += 20
        assistant: dict[str, Any] = {
            "parentID": uid,
            "role": "assistant",
            "mode": "build",
            "agent": "build",
            "path": {"cwd": self.info[sid]["directory"], "root": self.info[sid]["directory"]},
            "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
            "modelID": "fake-model",
            "providerID": "fake",
            "time": {"created": t},
        }
        t_created = t
        self.message(sid, aid, assistant, t)
        self.part(aid, {"type": "step-start", "snapshot": "0" * 40}, t + 50)
        t += 60
        if tool:
            pid = self.new_id("prt")
            call = f"call_{rng.getrandbits(32):08x}"
            command = "gh pr create --fill" if pr_url else "pytest -q"
            inp = {"command": command, "description": "Run it"}
            pending = {"status": "pending", "input": {}, "raw": ""}
            self.part(aid, {"type": "tool", "tool": "bash", "callID": call, "state": pending}, t, pid)
            running = {"status": "running", "input": inp, "time": {"start": t + 5}}
            self.part(aid, {"type": "tool", "tool": "bash", "callID": call, "state": running}, t + 5, pid, created=t)
            output = pr_url or (LOREM * rng.randint(1, 4))
            completed = {
                "status": "completed",
                "input": inp,
                "output": output,
                "title": "Run it",
                "metadata": {"output": output, "exit": 0, "description": "Run it", "truncated": False},
                "time": {"start": t + 5, "end": t + 300},
            }
            self.part(
                aid, {"type": "tool", "tool": "bash", "callID": call, "state": completed}, t + 300, pid, created=t
            )
            t += 310
        tid = self.new_id("prt")
        self.part(aid, {"type": "text", "text": "", "time": {"start": t}}, t, tid)
        text = LOREM * rng.randint(1, 3)
        self.part(aid, {"type": "text", "text": text, "time": {"start": t, "end": t + 40}}, t + 40, tid, created=t)
        t += 50
        tokens = {"total": 1200, "input": 1000, "output": 200, "reasoning": 0, "cache": {"read": 0, "write": 0}}
        finish = {"type": "step-finish", "reason": "stop", "snapshot": "0" * 40, "cost": 0.0014, "tokens": tokens}
        self.part(aid, finish, t)
        assistant.update(cost=0.0014, tokens=tokens, finish="stop")
        self.message(sid, aid, assistant, t + 5)
        assistant["time"] = {"created": t_created, "completed": t + 10}
        self.message(sid, aid, assistant, t + 10)
        info = self.info[sid]
        self.session_updated(
            sid,
            t + 15,
            cost=round(info["cost"] + 0.0014, 8),
            tokens=(info["tokens"]["input"] + 1000, info["tokens"]["output"] + 200),
            summary=(3, 1, 1),
            agent="build",
            model={"id": "fake-model", "providerID": "fake", "variant": "default"},
        )
        return t + 20


def build(
    conn: sqlite3.Connection, n_sessions: int, n_messages: int, dirs: list[str], t0: int, rng: random.Random
) -> tuple[Writer, list[Binding]]:
    w = Writer(conn)
    add_project(conn, t0)
    bindings: list[Binding] = []
    for i in range(n_sessions):
        ao_id = f"agent-{i + 1}"
        directory = dirs[i % len(dirs)]
        t = t0 + i * 1000
        bindings.append(Binding(ao_id=ao_id, directory=directory, created_ms=t - 500))
        sid = w.session(f"AO:{ao_id}", directory, t, permission=PERMISSION)
        t += 100
        for turn in range(n_messages // 2):
            pr = f"https://github.com/acme/widgets/pull/{i + 1}" if turn == n_messages // 4 else None
            t = w.turn(
                sid, t, f"Task {ao_id} step {turn}: " + LOREM, rng, tool=turn % 3 != 2 or pr is not None, pr_url=pr
            )
    for j in range(max(1, n_sessions // 5)):  # sessions that are not AO's
        sid = w.session(f"Fix the flaky test #{j}", dirs[j % len(dirs)], t0 + j * 777, permission=PERMISSION)
        w.turn(sid, t0 + j * 777 + 100, "fix it", rng)
    w.flush_sequences()
    return w, bindings


def timed_polls(
    db: OpenCodeDB, bindings: list[Binding], polls: int, now: int, between: Any = None
) -> tuple[list[float], dict[str, SessionInfo]]:
    times: list[float] = []
    res: dict[str, SessionInfo] = {}
    for k in range(polls):
        if between is not None:
            between(k)
        t = time.perf_counter()
        res = db.read(bindings, now)
        times.append((time.perf_counter() - t) * 1000)
        for b in bindings:
            info = res.get(b.ao_id)
            if info is not None:
                b.opencode_session_id = info.opencode_session_id
                b.state = info.state
    return times, res


def fmt(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms"


def chunks(seq: list[Binding], n: int) -> Iterator[list[Binding]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100)
    ap.add_argument("--messages", type=int, default=200, help="messages per session (half user, half assistant)")
    ap.add_argument("--polls", type=int, default=50)
    ap.add_argument("--dirs", type=int, default=10, help="distinct workspace directories the sessions share")
    ap.add_argument("--schema-from", type=Path, help="an OpenCode database to copy the schema from (read only)")
    ap.add_argument("--no-opencode", action="store_true", help="do not run the opencode binary at all")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args(argv)

    rng = random.Random(7)
    root = Path(tempfile.mkdtemp(prefix="ao-bench-introspect-"))
    project = root / "proj"
    project.mkdir()
    dirs = [str(project / f"wt-{k}") for k in range(args.dirs)]
    for d in dirs:
        os.makedirs(d, exist_ok=True)
    env = isolated_env(root, project)
    db_path = root / "data" / "opencode" / "opencode.db"
    db_path.parent.mkdir(parents=True, exist_ok=True)
    opencode = None if args.no_opencode else find_opencode()
    try:
        schema_note = ""
        if opencode:
            subprocess.run(
                [opencode, "session", "list", "--format", "json"],
                cwd=project,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
                check=False,
            )
        if db_path.exists():
            schema_note = f"schema created by {opencode}"
            conn = sqlite3.connect(db_path)
        else:
            conn = sqlite3.connect(db_path)
            src = args.schema_from
            if src is None and os.environ.get("XDG_DATA_HOME"):
                src = Path(os.environ["XDG_DATA_HOME"]) / "opencode" / "opencode.db"
            if src is not None and src.exists():
                copy_schema(src, conn)
                schema_note = f"schema copied from {src}"
            else:
                conn.executescript(REFERENCE_SCHEMA_SQL)
                schema_note = "embedded 1.18.33 schema"
        conn.execute("PRAGMA journal_mode=WAL")
        t_build = time.perf_counter()
        t0 = int(time.time() * 1000) - 10 * 24 * 3600 * 1000
        with conn:
            writer, bindings = build(conn, args.sessions, args.messages, dirs, t0, rng)
        n_events = conn.execute("SELECT count(*) FROM event").fetchone()[0]
        n_parts = conn.execute("SELECT count(*) FROM part").fetchone()[0]
        n_msgs = conn.execute("SELECT count(*) FROM message").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size_mb = db_path.stat().st_size / 1e6
        print(
            f"built {db_path} in {time.perf_counter() - t_build:.1f} s ({schema_note}): "
            f"{args.sessions} AO sessions, {n_msgs} messages, {n_parts} parts, {n_events} events, {size_mb:.0f} MB"
        )

        now = int(time.time() * 1000)
        db = OpenCodeDB(db_path)
        t = time.perf_counter()
        db.check()
        _first, res = timed_polls(db, bindings, 1, now)
        check_ms = (time.perf_counter() - t) * 1000
        bound = sum(1 for b in bindings if b.ao_id in res)
        with_pr = sum(1 for i in res.values() if i.summary["prUrl"])
        print(
            f"introspect {args.sessions} sessions, first poll (bind + seed, includes open+schema check): "
            f"{check_ms:.1f} ms ({bound} bound, {with_pr} with a PR url)"
        )
        repeat, res = timed_polls(db, bindings, args.polls, now)
        print(f"introspect {args.sessions} sessions, repeat polls: {fmt(repeat)} over {args.polls} polls")

        # A tenth of the sessions are busy: each poll finds a new turn in each of them.
        busy = bindings[: max(1, args.sessions // 10)]
        sids = {b.ao_id: b.opencode_session_id for b in busy}
        clock = [now]

        def work(_k: int) -> None:
            with conn:
                for b in busy:
                    sid = sids[b.ao_id]
                    assert sid is not None
                    clock[0] = writer.turn(sid, clock[0], "more", rng)
                writer.flush_sequences()

        busy_times, res = timed_polls(db, bindings, args.polls, now, between=work)
        print(
            f"introspect {args.sessions} sessions with {len(busy)} busy (~14 new events each per poll): "
            f"{fmt(busy_times)}"
        )
        assert all(res[b.ao_id].state.cursor == writer.seq[sids[b.ao_id] or ""] for b in busy)
        db.close()
        conn.close()

        if opencode is None:
            print(
                "opencode session list: skipped (no opencode binary: set AO_OPENCODE_BIN)"
                if not args.no_opencode
                else "opencode session list: skipped (--no-opencode)"
            )
        else:
            t = time.perf_counter()
            proc = subprocess.run(
                [opencode, "session", "list", "--format", "json"],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            took = time.perf_counter() - t
            try:
                listed = len(json.loads(proc.stdout))
            except ValueError:
                listed = -1
            note = "" if proc.returncode == 0 else f" (exit {proc.returncode}: {proc.stderr.strip()[:200]})"
            print(f"opencode session list: {took:.2f} s (listed {listed} sessions: titles and times only){note}")
        return 0
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
