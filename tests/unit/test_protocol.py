"""ao_server.protocol: params checking, init options, envelopes, framing and the poller's diff."""

from __future__ import annotations

from typing import Any

import pytest

from ao_server import model as m
from ao_server import protocol as p


def test_params_absent_fields_are_none_and_null_means_absent() -> None:
    assert p.parse_params(p.STATUS, None) == m.StatusParams()
    got_list = p.parse_params(p.LIST, {"running": True, "limit": 5, "cursor": "42"})
    assert got_list == m.ListParams(running=True, limit=5, cursor="42")
    got = p.parse_params(p.SPAWN, {"prompt": "Add tests", "model": None, "workDoneToken": 3})
    assert got == m.SpawnParams(prompt="Add tests", work_done_token=3)


@pytest.mark.parametrize(
    ("method", "raw", "field", "fragment"),
    [
        (p.STATUS, [1, 2], "params", "an object"),
        (p.STATUS, "x", "params", "an object"),
        (p.STATUS, {"sessionId": 3}, "sessionId", "a string, got a number"),
        (p.ATTACH, {}, "sessionId", "required"),
        (p.ATTACH, {"sessionId": None}, "sessionId", "required"),
        (p.KILL, {"session_id": "agent-1"}, "session_id", "did you mean 'sessionId'"),
        (p.LIST, {"sessionId": "agent-1"}, "sessionId", "ao/list takes project"),
        (p.LOGS, {"sessionId": "agent-1", "lines": 0}, "lines", "positive integer"),
        (p.STATUS, {"limit": 0}, "limit", "an integer from 1"),
        (p.LIST, {"cursor": "agent-3"}, "cursor", "nextCursor"),
        (p.LIST, {"running": "yes"}, "running", "true or false"),
        (p.LOGS, {"sessionId": "agent-1", "lines": True}, "lines", "got a boolean"),
        (p.LOGS, {"sessionId": "agent-1", "lines": 2.5}, "lines", "positive integer"),
        (p.SPAWN, {"prompt": ["a"]}, "prompt", "got an array"),
        (p.SPAWN, {"project": "x" * 5000}, "project", "5000 characters"),
        (p.SPAWN, {"workDoneToken": {}}, "workDoneToken", "progress token"),
    ],
)
def test_params_errors_name_the_field(method: str, raw: Any, field: str, fragment: str) -> None:
    with pytest.raises(p.ParamsError) as info:
        p.parse_params(method, raw)
    assert info.value.field == field
    assert fragment in str(info.value)
    assert "x" * 200 not in str(info.value)  # values never echo back


def test_execute_command_arguments() -> None:
    assert p.parse_execute_command({"command": p.STATUS}) == (p.STATUS, {}, None)
    assert p.parse_execute_command({"command": p.STATUS, "arguments": []}) == (p.STATUS, {}, None)
    assert p.parse_execute_command(
        {"command": p.KILL, "arguments": [{"sessionId": "agent-1"}], "workDoneToken": "t"}
    ) == (p.KILL, {"sessionId": "agent-1"}, "t")
    for raw, field in [
        ({"command": "ao/nope"}, "command"),
        ({"command": 3}, "command"),
        ([], "params"),
        ({"command": p.KILL, "arguments": {"sessionId": "a"}}, "arguments"),
        ({"command": p.KILL, "arguments": [{}, {}]}, "arguments"),
    ]:
        with pytest.raises(p.ParamsError) as info:
            p.parse_execute_command(raw)
        assert info.value.field == field


def test_init_options() -> None:
    assert p.parse_init_options(None) == p.InitOptions()
    opts = p.parse_init_options(
        {
            "pollInterval": 2,
            "configPath": "/c.yaml",
            "stateDir": "/s",
            "showMessages": True,
            "editorSpecific": {"ignored": True},
        }
    )
    assert opts == p.InitOptions(config_path="/c.yaml", poll_interval=2.0, state_dir="/s", show_messages=True)
    for bad in (
        {"pollInterval": 0},
        {"pollInterval": "1"},
        {"pollInterval": True},
        {"configPath": 3},
        {"stateDir": ""},
        {"showMessages": "yes"},
        [],
    ):
        with pytest.raises(p.ParamsError):
            p.parse_init_options(bad)


@pytest.mark.parametrize(
    ("data", "kind", "msg_id"),
    [
        ({"jsonrpc": "2.0", "id": 1, "method": "ao/status"}, "request", 1),
        ({"jsonrpc": "2.0", "id": "a", "method": "ao/status"}, "request", "a"),
        ({"jsonrpc": "2.0", "method": "initialized"}, "notification", None),
        ({"jsonrpc": "2.0", "id": 4, "result": None}, "response", 4),
        ({"jsonrpc": "2.0", "id": 4, "error": {"code": 1, "message": "x"}}, "response", 4),
        ({"jsonrpc": "2.0", "id": None, "method": "ao/status"}, "invalid", None),
        ({"jsonrpc": "2.0", "id": True, "method": "ao/status"}, "invalid", None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ao/status"}, "invalid", None),
        ({"jsonrpc": "1.0", "id": 7, "method": "ao/status"}, "invalid", 7),
        ({"jsonrpc": "2.0", "id": 7, "method": 3}, "invalid", 7),
        ({"jsonrpc": "2.0", "id": 7}, "invalid", 7),
        ([{"jsonrpc": "2.0"}], "invalid", None),
        (3, "invalid", None),
    ],
)
def test_classify(data: Any, kind: str, msg_id: Any) -> None:
    env = p.classify(data)
    assert (env.kind, env.id) == (kind, msg_id)
    assert (env.error is not None) == (kind == "invalid")


def test_content_length_resynchronises_after_junk() -> None:
    assert p.content_length(b"Content-Length: 42\r\n") == 42
    assert p.content_length(b"content-length:7\n") == 7
    assert p.content_length(b'{"tail": 1}Content-Length: 12\r\n') == 12
    assert p.content_length(b"Content-Length: -1\r\n") is None
    assert p.content_length(b"Content-Length: 12 bytes\r\n") is None
    assert p.content_length(b"Content-Type: x\r\n") is None


def session(
    sid: str,
    status: str = "running",
    activity: str | None = None,
    code: int | None = None,
    outcome: m.Outcome | None = None,
    prompt: str = "task",
) -> m.Session:
    return m.Session(
        session_id=sid, id=sid.split("/")[1], project=sid.split("/")[0], status=m.Status(status), exit_code=code,
        activity=m.Activity(activity) if activity else None, runtime="process", agent="opencode", prompt=prompt,
        model=None, issue_id=None, created_at="T", ended_at=None, pid=None, workdir="/w", workspace=None,
        opencode_session_id=None, cost=None, summary=None, outcome=outcome, runs=1,
    )


def test_diff_first_snapshot_is_the_baseline_then_changes_and_new_sessions_are_reported() -> None:
    changes, base = p.diff_sessions(None, [session("a/agent-1")], "T0")
    assert changes == []
    changes, base = p.diff_sessions(base, [session("a/agent-1")], "T1")
    assert changes == []
    changes, base = p.diff_sessions(base, [session("a/agent-1", activity="active"), session("b/agent-2")], "T2")
    wire = p.to_wire(changes)
    assert [(c["sessionId"], c["previous"], c["status"], c["activity"]) for c in wire] == [
        ("a/agent-1", "running", "running", "active"),
        ("b/agent-2", None, "running", None),
    ]
    done = session("a/agent-1", "exited", "exited", 0, m.Outcome(m.Result.SUCCESS))
    changes, base = p.diff_sessions(base, [done, session("b/agent-2")], "T3")
    assert len(changes) == 1
    c = p.to_wire(changes[0])
    assert (c["previous"], c["previousActivity"], c["status"], c["exitCode"], c["outcome"], c["at"]) == (
        "running",
        "active",
        "exited",
        0,
        {"result": "success", "error": None, "finish": None, "exitCode": None},
        "T3",
    )
    assert c["session"] == p.to_wire(done) and c["project"] == "a"
    changes, base = p.diff_sessions(base, [done], "T4")  # a forgotten session just disappears
    assert changes == [] and list(base) == ["a/agent-1"]


def test_notifications_carry_no_full_prompt() -> None:
    long = "x" * 5000
    changes, _ = p.diff_sessions({}, [session("a/agent-1", prompt=long)], "T")
    sent = p.to_wire(changes[0])["session"]
    assert len(sent["prompt"]) == p.PROMPT_PREVIEW and sent["promptTruncated"] is True


def test_wire_round_trip_is_camel_case() -> None:
    s = session("a/agent-1", "exited", "exited", 1, m.Outcome(m.Result.ERROR, error="boom", exit_code=1))
    wire = p.to_wire(s)
    assert {"sessionId", "exitCode", "issueId", "opencodeSessionId", "introspectionStale"} <= set(wire)
    assert not any("_" in k for k in wire)
    assert p.from_wire(wire, m.Session) == s
