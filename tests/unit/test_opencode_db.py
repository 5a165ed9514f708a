"""Unit tests of ao_server.agents.opencode_db against small fixture databases.

The fixtures use OpenCode 1.18.33's schema and write rows and events shaped
exactly like those a real OpenCode run leaves behind (see ``FakeOpenCode`` and
:mod:`tests.support.opencode_fixture`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ao_server.agents.opencode_db import (
    Binding,
    EventState,
    IntrospectionUnavailable,
    OpenCodeDB,
    SessionInfo,
    default_db_path,
)
from ao_server.agents.opencode_events import PendingRequest, RunningTool
from tests.support.opencode_fixture import REFERENCE_SCHEMA_SQL, OpenCodeWriter, dumps, new_database

T0 = 1_795_600_000_000
DIR_A = "/work/proj-a"
DIR_B = "/work/proj-b"
REJECTED = "The user rejected permission to use this specific tool call."
PROVIDER_ERROR = {
    "name": "APIError",
    "data": {"message": "fake provider failure (requested by [[fail]])", "statusCode": 400, "isRetryable": False},
}


class FakeOpenCode(OpenCodeWriter):
    """A fixture database of its own, written the way OpenCode 1.18.33 does, with shorthands for a turn's steps."""

    def __init__(self, path: Path) -> None:
        super().__init__(new_database(path, T0))
        self.path = path

    def close(self) -> None:
        self.conn.close()

    # ---------------------------------------------------------------- messages and parts

    def _message(self, mid: str, t: int) -> None:
        self.message(self.msg_session[mid], mid, self.msgs[mid], t)

    def user(self, sid: str, text: str, t: int, *, synthetic_first: bool = False) -> str:
        mid = self.new_id("msg")
        data = {
            "role": "user",
            "time": {"created": t},
            "agent": "build",
            "model": {"providerID": "fake", "modelID": "fake-model"},
        }
        self.message(sid, mid, data, t)
        if synthetic_first:
            self.part(mid, {"type": "text", "text": "<file contents>", "synthetic": True}, t)
        self.part(mid, {"type": "text", "text": text}, t + 1)
        return mid

    def assistant(self, sid: str, t: int) -> str:
        mid = self.new_id("msg")
        data = {
            "role": "assistant",
            "mode": "build",
            "agent": "build",
            "cost": 0,
            "tokens": {"input": 0, "output": 0, "reasoning": 0, "cache": {"read": 0, "write": 0}},
            "modelID": "fake-model",
            "providerID": "fake",
            "time": {"created": t},
        }
        self.message(sid, mid, data, t)
        return mid

    def finish(self, mid: str, t: int, finish: str | None = "stop", error: dict[str, Any] | None = None) -> None:
        data = self.msgs[mid]
        if finish:
            data["finish"] = finish
            self._message(mid, t)
        if error:
            data["error"] = error
        data["time"] = {"created": data["time"]["created"], "completed": t}
        self._message(mid, t)

    def tool(
        self,
        mid: str,
        tool: str,
        status: str,
        t: int,
        pid: str | None = None,
        *,
        output: str = "ok",
        error: str = REJECTED,
        inp: dict[str, Any] | None = None,
    ) -> str:
        state: dict[str, Any] = {"status": status, "input": inp or {"command": "true"}, "time": {"start": t}}
        if status == "completed":
            state.update(output=output, title="t", metadata={"output": output}, time={"start": t, "end": t})
        elif status == "error":
            state.update(error=error, time={"start": t, "end": t})
        return self.part(mid, {"type": "tool", "tool": tool, "callID": "call_1", "state": state}, t, pid)

    def turn(self, sid: str, t: int, prompt: str = "do it", reply: str = "Done.") -> int:
        """A whole successful prompt/answer; returns the time it ended."""
        self.user(sid, prompt, t)
        mid = self.assistant(sid, t + 10)
        self.part(mid, {"type": "step-start"}, t + 20)
        self.part(mid, {"type": "text", "text": reply, "time": {"start": t + 30, "end": t + 40}}, t + 40)
        self.part(mid, {"type": "step-finish", "reason": "stop", "cost": 0.0001}, t + 50)
        self.finish(mid, t + 60)
        self.session_updated(sid, t + 70)
        return t + 70


@pytest.fixture
def oc(tmp_path: Path) -> Any:
    data = tmp_path / "data" / "opencode"
    data.mkdir(parents=True)
    fake = FakeOpenCode(data / "opencode.db")
    yield fake
    fake.close()


@pytest.fixture
def db(oc: FakeOpenCode) -> Any:
    reader = OpenCodeDB(oc.path)
    yield reader
    reader.close()


def poll(db: OpenCodeDB, bindings: list[Binding], now: int) -> dict[str, SessionInfo]:
    """read(), then remember bindings and states the way the caller does."""
    res = db.read(bindings, now)
    for b in bindings:
        if b.ao_id in res:
            b.opencode_session_id = res[b.ao_id].opencode_session_id
            b.state = EventState.from_json(res[b.ao_id].state.to_json())
    return res


# ------------------------------------------------------------------------------------------ binding


def test_sessions_in_one_directory_get_only_their_own_data(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    s1 = oc.session("AO:agent-1", DIR_A, T0 + 100, cost=1.25, tokens=(100, 20, 3, 4, 5), summary=(7, 2, 3))
    s2 = oc.session("AO:agent-2", DIR_A, T0 + 200, cost=0.5, tokens=(10, 2, 0, 0, 0))
    s3 = oc.session("AO:agent-3", DIR_B, T0 + 300, cost=9.0)
    oc.turn(s1, T0 + 1000, "first task")
    oc.turn(s2, T0 + 2000, "second task")
    bindings = [
        Binding("agent-1", DIR_A, T0),
        Binding("agent-2", DIR_A, T0),
        Binding("agent-3", DIR_B, T0),
        Binding("agent-4", DIR_A, T0),
    ]
    res = poll(db, bindings, T0 + 10_000)
    assert set(res) == {"agent-1", "agent-2", "agent-3"}
    a1, a2, a3 = res["agent-1"], res["agent-2"], res["agent-3"]
    assert (a1.opencode_session_id, a2.opencode_session_id, a3.opencode_session_id) == (s1, s2, s3)
    assert a1.cost_usd == 1.25 and a2.cost_usd == 0.5 and a3.cost_usd == 9.0
    assert a1.tokens == {"input": 100, "output": 20, "reasoning": 3, "cacheRead": 4, "cacheWrite": 5}
    assert a2.tokens == {"input": 10, "output": 2, "reasoning": 0, "cacheRead": 0, "cacheWrite": 0}
    assert a1.summary == {
        "title": "AO:agent-1",
        "firstPrompt": "first task",
        "files": 3,
        "additions": 7,
        "deletions": 2,
        "lastTool": None,
        "prUrl": None,
    }
    assert a2.summary["firstPrompt"] == "second task"
    assert a3.summary["firstPrompt"] is None and a3.outcome is None
    assert a1.state.session_id == s1 and a2.state.session_id == s2


def test_newest_matching_session_wins(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    oc.session("AO:agent-1", DIR_A, T0 + 100, cost=1.0)
    newest = oc.session("AO:agent-1", DIR_A, T0 + 5000, cost=2.0)
    oc.session("AO:agent-1", DIR_B, T0 + 9000, cost=3.0)  # another directory: never
    res = db.read([Binding("agent-1", DIR_A, T0)], T0 + 10_000)
    assert res["agent-1"].opencode_session_id == newest
    assert res["agent-1"].cost_usd == 2.0


def test_sessions_created_before_the_spawn_never_bind(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    created = T0 + 100_000
    oc.session("AO:agent-1", DIR_A, created - 5001)
    assert db.read([Binding("agent-1", DIR_A, created)], created + 1000) == {}
    within = oc.session("AO:agent-1", DIR_A, created - 4000)
    res = db.read([Binding("agent-1", DIR_A, created)], created + 1000)
    assert res["agent-1"].opencode_session_id == within


def test_child_sessions_and_other_titles_never_bind(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    parent = oc.session("Some user session", DIR_A, T0)
    oc.session("AO:agent-1", DIR_A, T0 + 10, parent=parent)
    oc.session("AO:agent-10", DIR_A, T0 + 20)
    oc.session("ao:agent-1", DIR_A, T0 + 30)
    assert db.read([Binding("agent-1", DIR_A, T0)], T0 + 1000) == {}


def test_directory_given_with_trailing_slash_still_binds(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    assert db.read([Binding("agent-1", DIR_A + "/", T0)], T0 + 1000)["agent-1"].opencode_session_id == sid


def test_remembered_binding_is_kept_and_never_shared(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    s1 = oc.session("AO:agent-1", DIR_A, T0)
    oc.conn.execute("UPDATE session SET title = 'renamed by the user' WHERE id = ?", (s1,))
    s1_again = oc.session("AO:agent-1", DIR_A, T0 + 50)
    b1 = Binding("agent-1", DIR_A, T0, opencode_session_id=s1)
    b2 = Binding("agent-2", DIR_A, T0, opencode_session_id=s1)  # a caller bug: the same id twice
    res = db.read([b1, b2], T0 + 1000)
    assert set(res) == {"agent-1"}
    assert res["agent-1"].opencode_session_id == s1 and res["agent-1"].title == "renamed by the user"
    assert s1_again != s1
    # A remembered session that disappeared is simply absent.
    assert db.read([Binding("agent-9", DIR_A, T0, opencode_session_id="ses_gone")], T0) == {}


def test_binding_many_sessions_takes_one_bind_query(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    for i in range(30):
        oc.session(f"AO:agent-{i}", DIR_A, T0 + i)
    statements: list[str] = []
    db.check()
    assert db._conn is not None
    db._conn.set_trace_callback(statements.append)
    res = db.read([Binding(f"agent-{i}", DIR_A, T0) for i in range(30)], T0 + 1000)
    assert len(res) == 30
    assert sum("FROM session" in s and "parent_id IS NULL" in s for s in statements) == 1
    statements.clear()
    db.read(
        [
            Binding(f"agent-{i}", DIR_A, T0, res[f"agent-{i}"].opencode_session_id, res[f"agent-{i}"].state)
            for i in range(30)
        ],
        T0 + 1000,
    )
    queries = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(queries) == 1  # steady state: a single query for everything


# ------------------------------------------------------------------------------------------ events


def test_incremental_reads_only_new_events(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    end = oc.turn(sid, T0 + 100, "the task")
    b = Binding("agent-1", DIR_A, T0)
    first = poll(db, [b], end + 1000)["agent-1"]
    assert first.state.cursor == oc.seq[sid]
    assert first.outcome == {"result": "success", "error": None, "finish": "stop"}
    # Rewrite an already consumed event: a reader going back over the log would now see an error.
    oc.conn.execute(
        "UPDATE event SET type = 'message.updated.1', data = ? WHERE aggregate_id = ? AND seq = 3",
        (
            dumps(
                {
                    "sessionID": sid,
                    "info": {
                        "id": "msg_zzz",
                        "role": "assistant",
                        "error": PROVIDER_ERROR,
                        "time": {"created": end + 5, "completed": end + 6},
                    },
                }
            ),
            sid,
        ),
    )
    again = poll(db, [b], end + 2000)["agent-1"]
    assert again.state.cursor == first.state.cursor
    assert again.outcome == first.outcome
    # New events are picked up.
    mid = oc.assistant(sid, end + 3000)
    new = poll(db, [b], end + 3001)["agent-1"]
    assert new.state.cursor == oc.seq[sid] > first.state.cursor
    assert new.state.assistant_id == mid
    assert new.activity == "active"
    assert new.outcome == {"result": "incomplete", "error": None, "finish": None}


def test_callers_state_is_not_mutated(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    b = Binding("agent-1", DIR_A, T0)
    poll(db, [b], T0 + 10)
    assert b.state is not None
    before = b.state.to_json()
    oc.turn(sid, T0 + 100)
    res = db.read([b], T0 + 1000)
    assert b.state.to_json() == before
    assert res["agent-1"].state.cursor > b.state.cursor


def test_activity_transitions(oc: FakeOpenCode) -> None:
    db = OpenCodeDB(oc.path, idle_threshold_s=300, active_window_s=5)
    sid = oc.session("AO:agent-1", DIR_A, T0)
    b = Binding("agent-1", DIR_A, T0)
    oc.user(sid, "go", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    oc.part(mid, {"type": "step-start"}, T0 + 300)
    # An open assistant message is active however long it has been quiet (a long tool call).
    assert poll(db, [b], T0 + 60_000)["agent-1"].activity == "active"
    oc.part(mid, {"type": "text", "text": "Done.", "time": {"start": T0 + 400, "end": T0 + 500}}, T0 + 500)
    oc.finish(mid, T0 + 600)
    oc.session_updated(sid, T0 + 700)
    info = poll(db, [b], T0 + 2_000)["agent-1"]
    assert info.last_activity_ms == T0 + 700
    assert info.activity == "active"  # finished, but within the active window
    assert poll(db, [b], T0 + 5_699)["agent-1"].activity == "active"
    assert poll(db, [b], T0 + 5_700)["agent-1"].activity == "ready"
    assert poll(db, [b], T0 + 700 + 299_999)["agent-1"].activity == "ready"
    idle = poll(db, [b], T0 + 700 + 300_000)["agent-1"]
    assert idle.activity == "idle"
    assert idle.outcome == {"result": "success", "error": None, "finish": "stop"}
    # New work wakes it up again.
    oc.user(sid, "again", T0 + 400_000)
    assert poll(db, [b], T0 + 400_001)["agent-1"].activity == "active"
    db.close()


def test_provider_error_outcome_is_blocked(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-3", DIR_A, T0)
    oc.user(sid, "x [[fail]]", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    oc.session_updated(sid, T0 + 250)
    oc.finish(mid, T0 + 300, finish=None, error=PROVIDER_ERROR)
    expected = {"result": "error", "error": "fake provider failure (requested by [[fail]])", "finish": None}
    b = Binding("agent-3", DIR_A, T0)
    seeded = poll(db, [b], T0 + 1_000)["agent-3"]
    assert seeded.outcome == expected
    assert seeded.activity == "active"  # still inside the active window
    assert poll(db, [b], T0 + 60_000)["agent-3"].activity == "blocked"
    assert poll(db, [b], T0 + 3_600_000)["agent-3"].activity == "blocked"  # stays visible, not idle
    # The same through the event log rather than the tables.
    replayed = db.read([Binding("agent-3", DIR_A, T0, sid, EventState(session_id=sid))], T0 + 60_000)["agent-3"]
    assert replayed.outcome == expected and replayed.activity == "blocked"


def test_rejected_permission_outcome(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    """`opencode run` without --auto rejects the permission; the turn ends with finish tool-calls."""
    sid = oc.session("AO:agent-10", DIR_A, T0)
    oc.user(sid, "write outside", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    oc.part(mid, {"type": "step-start"}, T0 + 300)
    pid = oc.tool(mid, "write", "pending", T0 + 310)
    oc.tool(mid, "write", "running", T0 + 320, pid)
    b = Binding("agent-10", DIR_A, T0)
    running = poll(db, [b], T0 + 330)["agent-10"]
    assert running.activity == "active" and running.summary["lastTool"] == "write"
    oc.tool(mid, "write", "error", T0 + 330, pid)
    oc.part(mid, {"type": "step-finish", "reason": "tool-calls"}, T0 + 340)
    oc.finish(mid, T0 + 400, finish="tool-calls")
    expected = {"result": "error", "error": REJECTED, "finish": "tool-calls"}
    info = poll(db, [b], T0 + 60_000)["agent-10"]
    assert info.outcome == expected and info.activity == "blocked"
    assert info.state.running_tools == {}
    assert db.read([Binding("agent-10", DIR_A, T0)], T0 + 60_000)["agent-10"].outcome == expected  # seeded


def test_tool_error_followed_by_another_step_is_not_an_error(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.user(sid, "go", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    oc.tool(mid, "read", "error", T0 + 300, error="File not found")
    oc.finish(mid, T0 + 400, finish="tool-calls")
    b = Binding("agent-1", DIR_A, T0)
    assert poll(db, [b], T0 + 401)["agent-1"].outcome == {
        "result": "error",
        "error": "File not found",
        "finish": "tool-calls",
    }
    mid2 = oc.assistant(sid, T0 + 500)
    oc.finish(mid2, T0 + 600)
    info = poll(db, [b], T0 + 60_000)["agent-1"]
    assert info.outcome == {"result": "success", "error": None, "finish": "stop"}
    assert info.activity == "ready"


def test_aborted_turn_is_incomplete_not_blocked(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.user(sid, "go", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    oc.finish(mid, T0 + 300, finish=None, error={"name": "MessageAbortedError", "data": {"message": "Aborted"}})
    info = db.read([Binding("agent-1", DIR_A, T0)], T0 + 60_000)["agent-1"]
    assert info.outcome == {"result": "incomplete", "error": "Aborted", "finish": None}
    assert info.activity == "ready"


def test_pending_permission_is_waiting_input(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    """Permission requests as a durable event (OpenCode 1.18.33 keeps them in memory only; later ones may not)."""
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.user(sid, "write outside", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    pid = oc.tool(mid, "write", "running", T0 + 300)
    oc.event(
        sid,
        "permission.asked.1",
        {
            "id": "per_1",
            "sessionID": sid,
            "permission": "external_directory",
            "patterns": ["/tmp/*"],
            "tool": {"messageID": mid, "callID": "call_1"},
        },
    )
    b = Binding("agent-1", DIR_A, T0)
    assert poll(db, [b], T0 + 400)["agent-1"].activity == "waiting_input"
    assert poll(db, [b], T0 + 900_000)["agent-1"].activity == "waiting_input"  # neither active nor idle
    oc.event(sid, "permission.replied.1", {"sessionID": sid, "requestID": "per_1", "reply": "once"})
    oc.tool(mid, "write", "completed", T0 + 900_100, pid)
    assert poll(db, [b], T0 + 900_200)["agent-1"].activity == "active"


def test_running_question_tool_is_waiting_input(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.user(sid, "plan it", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    pid = oc.tool(mid, "question", "pending", T0 + 300)
    b = Binding("agent-1", DIR_A, T0)
    assert poll(db, [b], T0 + 301)["agent-1"].activity == "active"  # still streaming its input
    oc.tool(mid, "question", "running", T0 + 310, pid, inp={"questions": [{"question": "Which one?"}]})
    assert poll(db, [b], T0 + 320)["agent-1"].activity == "waiting_input"
    # Seeding from the tables finds it as well.
    assert db.read([Binding("agent-1", DIR_A, T0)], T0 + 60_000)["agent-1"].activity == "waiting_input"
    oc.tool(mid, "question", "completed", T0 + 70_000, pid, output="User answered: the first")
    assert poll(db, [b], T0 + 70_001)["agent-1"].activity == "active"


# ------------------------------------------------------------------------------------------ summary


def test_pr_url_last_tool_and_first_prompt(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.user(sid, "open a PR", T0 + 100, synthetic_first=True)
    mid = oc.assistant(sid, T0 + 200)
    # A URL the model merely writes is not a PR it opened.
    oc.part(mid, {"type": "text", "text": "see https://github.com/acme/other/pull/1"}, T0 + 210)
    oc.tool(
        mid,
        "bash",
        "completed",
        T0 + 300,
        output="Creating pull request for fix into main\n\nhttps://github.com/acme/widgets/pull/42\n",
    )
    oc.tool(mid, "bash", "completed", T0 + 400, output="https://github.com/acme/widgets/pull/43")
    oc.tool(mid, "read", "completed", T0 + 500, output="file body")
    oc.finish(mid, T0 + 600)
    seeded = db.read([Binding("agent-1", DIR_A, T0)], T0 + 60_000)["agent-1"]
    replayed = db.read([Binding("agent-1", DIR_A, T0, sid, EventState(session_id=sid))], T0 + 60_000)["agent-1"]
    for info in (seeded, replayed):
        assert info.summary["prUrl"] == "https://github.com/acme/widgets/pull/42"
        assert info.summary["lastTool"] == "read"
        assert info.summary["firstPrompt"] == "open a PR"


def test_pr_url_found_incrementally(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    b = Binding("agent-1", DIR_A, T0)
    assert poll(db, [b], T0 + 10)["agent-1"].summary["prUrl"] is None
    oc.user(sid, "ship it", T0 + 100)
    mid = oc.assistant(sid, T0 + 200)
    pid = oc.tool(mid, "bash", "running", T0 + 300, inp={"command": "gh pr create --fill"})
    assert poll(db, [b], T0 + 301)["agent-1"].summary == {
        "title": "AO:agent-1",
        "firstPrompt": "ship it",
        "files": 0,
        "additions": 0,
        "deletions": 0,
        "lastTool": "bash",
        "prUrl": None,
    }
    oc.tool(mid, "bash", "completed", T0 + 400, pid, output="https://github.com/o-1/r.x/pull/7\n")
    assert poll(db, [b], T0 + 401)["agent-1"].summary["prUrl"] == "https://github.com/o-1/r.x/pull/7"


def test_seeding_and_replaying_agree(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    t = oc.turn(sid, T0 + 100, "one")
    mid = oc.assistant(sid, t + 10)
    oc.tool(mid, "bash", "completed", t + 20, output="https://github.com/a/b/pull/1")
    pid = oc.tool(mid, "edit", "running", t + 30)
    seeded = db.read([Binding("agent-1", DIR_A, T0)], t + 100)["agent-1"].state
    replayed = db.read([Binding("agent-1", DIR_A, T0, sid, EventState(session_id=sid))], t + 100)["agent-1"].state
    assert seeded.running_tools == {pid: RunningTool("edit", mid, "running")}
    seeded.last_event_ms = replayed.last_event_ms = 0
    assert seeded == replayed


def test_state_of_another_session_is_discarded(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.turn(sid, T0 + 100)
    stale = EventState(
        cursor=10_000,
        session_id="ses_other",
        assistant_id="msg_x",
        assistant_error="boom",
        assistant_error_name="APIError",
        assistant_completed_ms=1,
    )
    info = db.read([Binding("agent-1", DIR_A, T0, sid, stale)], T0 + 60_000)["agent-1"]
    assert info.outcome == {"result": "success", "error": None, "finish": "stop"}
    assert info.state.cursor == oc.seq[sid]


# ------------------------------------------------------------------------------------------ state


def test_event_state_json_round_trip_and_tolerance() -> None:
    st = EventState(
        cursor=5,
        last_event_ms=7,
        session_id="ses_1",
        running_tools={"prt_1": RunningTool("bash", "msg_1", "running")},
        pending={"per_1": PendingRequest("permission", "msg_1")},
        first_prompt="héllo ✓",
        pr_url=None,
    )
    assert EventState.from_json(st.to_json()) == st
    json.loads(st.to_json())
    fresh = EventState()
    for bad in (
        "",
        "not json",
        "[]",
        "null",
        '{"cursor": "5"}',
        '{"cursor": true}',
        '{"running_tools": {"a": 1}}',
        '{"pr_url": 3}',
    ):
        assert EventState.from_json(bad) == fresh
    assert EventState.from_json('{"cursor": 3, "unknown": 1}') == EventState(cursor=3)


# A state as the store holds it, written by EventState.to_json before running tools and pending
# requests were typed values: it must still read back, and be written back byte for byte.
STORED_STATE = (
    '{"cursor":41,"last_event_ms":1795600000123,"session_id":"ses_1","assistant_id":"msg_2",'
    '"assistant_created_ms":1795600000100,"assistant_completed_ms":0,"assistant_finish":null,'
    '"assistant_error":null,"assistant_error_name":null,"tool_error":null,"last_tool":"question",'
    '"last_tool_part_id":"prt_3","running_tools":{"prt_3":["question","msg_2","running"],'
    '"prt_4":["bash","msg_2","pending"]},"pending":{"per_1":["permission","msg_2"],"que_1":["question",""]},'
    '"first_user_id":"msg_1","first_prompt":"h\u00e9llo \u2713","pr_url":"https://github.com/a/b/pull/1"}'
)


def test_event_state_reads_states_already_stored() -> None:
    st = EventState.from_json(STORED_STATE)
    assert st == EventState(
        cursor=41,
        last_event_ms=1795600000123,
        session_id="ses_1",
        assistant_id="msg_2",
        assistant_created_ms=1795600000100,
        last_tool="question",
        last_tool_part_id="prt_3",
        running_tools={
            "prt_3": RunningTool("question", "msg_2", "running"),
            "prt_4": RunningTool("bash", "msg_2", "pending"),
        },
        pending={"per_1": PendingRequest("permission", "msg_2"), "que_1": PendingRequest("question", "")},
        first_user_id="msg_1",
        first_prompt="héllo ✓",
        pr_url="https://github.com/a/b/pull/1",
    )
    assert st.running_tools["prt_3"].status == "running" and st.pending["que_1"].message_id == ""
    assert st.to_json() == json.dumps(json.loads(STORED_STATE), separators=(",", ":"), ensure_ascii=False)
    for bad in (
        '{"running_tools": {"prt_1": ["bash", "msg_1"]}}',
        '{"running_tools": {"prt_1": ["bash", "msg_1", 3]}}',
        '{"pending": {"per_1": ["permission"]}}',
        '{"pending": {"per_1": {"kind": "permission"}}}',
    ):
        assert EventState.from_json(bad) == EventState()


def test_default_db_path() -> None:
    assert default_db_path({"XDG_DATA_HOME": "/x/data", "HOME": "/h"}) == Path("/x/data/opencode/opencode.db")
    assert default_db_path({"HOME": "/h"}) == Path("/h/.local/share/opencode/opencode.db")
    assert default_db_path({"XDG_DATA_HOME": "", "HOME": "/h"}) == Path("/h/.local/share/opencode/opencode.db")
    assert default_db_path({"XDG_DATA_HOME": "/x", "OPENCODE_DB": "/y/o.db"}) == Path("/y/o.db")
    assert default_db_path({"XDG_DATA_HOME": "/x", "OPENCODE_DB": "other.db"}) == Path("/x/opencode/other.db")


# ------------------------------------------------------------------------------------------ availability


def test_missing_database(tmp_path: Path) -> None:
    db = OpenCodeDB(tmp_path / "opencode" / "opencode.db")
    with pytest.raises(IntrospectionUnavailable, match=r"no OpenCode database at .*opencode\.db"):
        db.check()
    with pytest.raises(IntrospectionUnavailable, match="no OpenCode database"):
        db.read([Binding("agent-1", DIR_A, T0)])


def test_old_storage_format(tmp_path: Path) -> None:
    info = tmp_path / "opencode" / "storage" / "session" / "info"
    info.mkdir(parents=True)
    (info / "ses_1.json").write_text("{}")
    with pytest.raises(IntrospectionUnavailable, match="old OpenCode storage format") as e:
        OpenCodeDB(tmp_path / "opencode" / "opencode.db").check()
    assert "upgrade OpenCode" in str(e.value)


def test_unknown_schema_names_the_column(tmp_path: Path) -> None:
    path = tmp_path / "opencode.db"
    conn = sqlite3.connect(path)
    conn.executescript(REFERENCE_SCHEMA_SQL.replace("`cost` real DEFAULT 0 NOT NULL,", ""))
    conn.close()
    with pytest.raises(IntrospectionUnavailable, match="unknown schema: table session lacks column cost"):
        OpenCodeDB(path).check()


def test_unknown_schema_names_the_table(tmp_path: Path) -> None:
    path = tmp_path / "opencode.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE session (id text)")
    conn.close()
    with pytest.raises(IntrospectionUnavailable, match=r"unknown schema: table session lacks column parent_id"):
        OpenCodeDB(path).read([Binding("agent-1", DIR_A, T0)])
    conn = sqlite3.connect(tmp_path / "other.db")
    conn.executescript(
        REFERENCE_SCHEMA_SQL.replace("TABLE `event` (", "TABLE `event_x` (").replace("ON `event` (", "ON `event_x` (")
    )
    conn.close()
    with pytest.raises(IntrospectionUnavailable, match="unknown schema: no table event"):
        OpenCodeDB(tmp_path / "other.db").check()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "opencode.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(IntrospectionUnavailable, match=r"unreadable OpenCode database at .*opencode\.db"):
        OpenCodeDB(path).check()


def test_database_replaced_is_reopened(oc: FakeOpenCode, db: OpenCodeDB, tmp_path: Path) -> None:
    oc.session("AO:agent-1", DIR_A, T0)
    assert set(db.read([Binding("agent-1", DIR_A, T0)], T0)) == {"agent-1"}
    other = FakeOpenCode(tmp_path / "new.db")
    other.session("AO:agent-2", DIR_A, T0)
    other.close()
    oc.close()
    for suffix in ("-wal", "-shm"):
        Path(str(oc.path) + suffix).unlink(missing_ok=True)
    os.replace(tmp_path / "new.db", oc.path)
    res = db.read([Binding("agent-1", DIR_A, T0), Binding("agent-2", DIR_A, T0)], T0)
    assert set(res) == {"agent-2"}
    oc.conn = sqlite3.connect(oc.path)  # for the fixture's teardown


# ------------------------------------------------------------------------------------------ read only


def test_reads_never_write(oc: FakeOpenCode) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    oc.turn(sid, T0 + 100)
    oc.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(str(oc.path) + "-wal")
    before = (oc.path.stat().st_mtime_ns, oc.path.stat().st_size, wal.stat().st_size if wal.exists() else 0)
    db = OpenCodeDB(oc.path)
    b = Binding("agent-1", DIR_A, T0)
    for k in range(3):
        poll(db, [b], T0 + k)
    after = (oc.path.stat().st_mtime_ns, oc.path.stat().st_size, wal.stat().st_size if wal.exists() else 0)
    assert after == before
    assert db._conn is not None
    assert not db._conn.in_transaction  # no snapshot kept open between polls
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db._conn.execute(
            "INSERT INTO project (id, worktree, time_created, time_updated, sandboxes) VALUES ('x', '/', 0, 0, '[]')"
        )
    db.close()


def test_a_writer_is_not_blocked_by_reads(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    b = Binding("agent-1", DIR_A, T0)
    poll(db, [b], T0)
    oc.conn.execute("BEGIN IMMEDIATE")
    oc.turn(sid, T0 + 100)
    assert poll(db, [b], T0 + 200)["agent-1"].state.cursor == 1  # the writer's transaction is not visible yet
    oc.conn.execute("COMMIT")
    assert poll(db, [b], T0 + 200)["agent-1"].state.cursor == oc.seq[sid]


def test_reverted_turn_is_forgotten(oc: FakeOpenCode, db: OpenCodeDB) -> None:
    sid = oc.session("AO:agent-1", DIR_A, T0)
    end = oc.turn(sid, T0 + 100, "first")
    oc.user(sid, "second", end + 10)
    mid = oc.assistant(sid, end + 20)
    oc.tool(mid, "write", "error", end + 30)
    oc.finish(mid, end + 40, finish="tool-calls")
    b = Binding("agent-1", DIR_A, T0)
    assert poll(db, [b], end + 60_000)["agent-1"].outcome == {
        "result": "error",
        "error": REJECTED,
        "finish": "tool-calls",
    }
    # The user reverts the second turn: OpenCode deletes its messages and logs message.removed.
    oc.conn.execute("DELETE FROM part WHERE message_id = ?", (mid,))
    oc.conn.execute("DELETE FROM message WHERE id = ?", (mid,))
    oc.event(sid, "message.removed.1", {"sessionID": sid, "messageID": mid})
    info = poll(db, [b], end + 120_000)["agent-1"]
    assert info.outcome == {"result": "success", "error": None, "finish": "stop"}
    assert info.activity == "ready" and info.summary["lastTool"] is None
    assert info.state.cursor == oc.seq[sid]
