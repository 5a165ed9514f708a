"""A corrupt store and damaged records: clear errors, other sessions unaffected.

- ``sessions.db`` overwritten with garbage: every session command exits 1 with one ``ao: ...`` line naming
  the file (no traceback), ao/status answers with a domain error, and the file is left as it was.
- Rows with a truncated JSON field, or a ``created_at`` that is no time: ``ao status`` and ``ao list`` list
  the others and warn about each broken one with the way out (``ao forget agent-N``), which works.
- A deleted session folder: status, logs and kill of that session give sane results or clear errors;
  the others are unaffected.
Agents are the STAND-IN executable.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable

import pytest

from tests.support.bed import Bed, wait_for

from .conftest import DOMAIN_CODES, Server, agent_processes, assert_nothing_left, wait_agents_gone


def clean_error(proc: object, *needles: str) -> str:
    rc, err = proc.returncode, proc.stderr  # type: ignore[attr-defined]
    assert rc == 1, (rc, err)
    assert "Traceback" not in err and err.startswith("ao: "), err
    assert len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, (n, err)
    return str(err)


def test_garbage_sessions_db(standin_bed: Bed, servers: Callable[..., Server]) -> None:
    bed = standin_bed
    for i in (1, 2):
        bed.ao("spawn", "my-project", f"doomed store {i} [[sleep:0]]", check=True)
    for sid in ("agent-1", "agent-2"):
        bed.wait_exited(sid)
    db = bed.state_dir / "sessions.db"
    for extra in ("-wal", "-shm"):
        db.with_name(db.name + extra).unlink(missing_ok=True)
    garbage = os.urandom(8192)
    db.write_bytes(garbage)

    commands = [
        ("list",), ("status",), ("status", "agent-1"), ("status", "--json"), ("spawn", "my-project", "x [[sleep:0]]"),
        ("attach", "agent-1"), ("logs", "agent-1"), ("kill", "agent-1"), ("resume", "agent-1", "more"),
        ("forget", "agent-1"), ("cleanup", "agent-1"),
    ]
    for cmd in commands:
        clean_error(bed.ao(*cmd), str(db))
    server = servers(bed)
    err = server.error("ao/status", {})
    assert err.code in DOMAIN_CODES and str(db) in err.message, (err.code, err.message)
    server.close()
    assert db.read_bytes() == garbage, "ao rewrote the corrupt store instead of leaving it to the user"
    assert not agent_processes(bed), "a command started an agent on a corrupt store"
    assert_nothing_left(bed)


@pytest.mark.parametrize("field", ["outcome", "workspace", "handle"])
def test_truncated_record_spares_the_others(standin_bed: Bed, servers: Callable[..., Server], field: str) -> None:
    bed = standin_bed
    ok = bed.ao("spawn", "my-project", "fine [[sleep:0]]", check=True).stdout.strip()
    bad = bed.ao("spawn", "my-project", "to be broken [[sleep:0]]", check=True).stdout.strip()
    for sid in (ok, bad):
        bed.wait_exited(sid)
    live = bed.ao("spawn", "my-project", "alive [[sleep:3600]]", check=True).stdout.strip()
    con = sqlite3.connect(bed.state_dir / "sessions.db")
    whole = json.dumps({"result": "success", "error": None, "finish": "stop", "path": "/x", "pid": 1})
    con.execute(f"UPDATE sessions SET {field}=? WHERE num=2", (whole[: len(whole) // 2],))  # cut in the middle
    con.commit()
    con.close()

    out = bed.ao("status", "--json")
    assert out.returncode == 0, out.stderr
    listed = {v["sessionId"]: v for v in json.loads(out.stdout)["sessions"]}
    assert set(listed) == {ok, live}, listed.keys()
    assert listed[ok]["status"] == "exited" and listed[ok]["exitCode"] == 0
    assert listed[live]["status"] == "running"
    assert "agent-2" in out.stderr and "ao forget agent-2" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    server = servers(bed)
    status = server.request("ao/status", {})
    assert {v["sessionId"] for v in status["sessions"]} == {ok, live}
    assert any("agent-2" in w for w in status["warnings"]), status["warnings"]
    clean_error(bed.ao("status", bad), "agent-2", "ao forget agent-2")

    assert bed.ao("forget", "agent-2").returncode == 0
    after = bed.ao("status", "--json")
    assert after.returncode == 0 and after.stderr == "", after.stderr
    assert {v["sessionId"] for v in json.loads(after.stdout)["sessions"]} == {ok, live}
    killed = server.request("ao/kill", {"sessionId": live})
    assert killed["exitCode"] == 143
    server.close()
    wait_agents_gone(bed)
    assert_nothing_left(bed)


@pytest.mark.parametrize("created_at", ["yesterday", 1e300, -5.0], ids=["text", "past-year-9999", "before-1970"])
def test_corrupt_created_at_spares_the_others(standin_bed: Bed, servers: Callable[..., Server],
                                              created_at: object) -> None:
    bed = standin_bed
    ok = bed.ao("spawn", "my-project", "fine [[sleep:0]]", check=True).stdout.strip()
    bad = bed.ao("spawn", "my-project", "to be broken [[sleep:0]]", check=True).stdout.strip()
    for sid in (ok, bad):
        bed.wait_exited(sid)
    live = bed.ao("spawn", "my-project", "alive [[sleep:3600]]", check=True).stdout.strip()
    con = sqlite3.connect(bed.state_dir / "sessions.db")
    con.execute("UPDATE sessions SET created_at=? WHERE num=2", (created_at,))
    con.commit()
    con.close()

    for cmd in (("list", "--json"), ("status", "--json")):
        out = bed.ao(*cmd)
        assert out.returncode == 0 and "Traceback" not in out.stderr, (cmd, out.stderr)
        listed = json.loads(out.stdout)
        ids = {v["sessionId"] for v in (listed if cmd[0] == "list" else listed["sessions"])}
        assert ids == {ok, live}, (cmd, ids)
        assert "agent-2" in out.stderr and "ao forget agent-2" in out.stderr, (cmd, out.stderr)
    plain = bed.ao("list")
    assert plain.returncode == 0 and ok in plain.stdout and live in plain.stdout and bad not in plain.stdout
    server = servers(bed)
    for method in ("ao/list", "ao/status"):
        page = server.request(method, {})
        assert {v["sessionId"] for v in page["sessions"]} == {ok, live}, method
        assert any("agent-2" in w and "ao forget agent-2" in w for w in page["warnings"]), page["warnings"]
    clean_error(bed.ao("status", bad), "agent-2", "ao forget agent-2")

    assert bed.ao("forget", "agent-2").returncode == 0
    after = bed.ao("list", "--json")
    assert after.returncode == 0 and after.stderr == "", after.stderr
    assert {v["sessionId"] for v in json.loads(after.stdout)} == {ok, live}
    assert server.request("ao/kill", {"sessionId": live})["exitCode"] == 143
    server.close()
    wait_agents_gone(bed)
    assert_nothing_left(bed)


@pytest.mark.parametrize("runtime", ["process", "tmux"])
def test_deleted_session_folder(standin_bed: Bed, runtime: str) -> None:
    bed = standin_bed
    bed.write_config(runtime=runtime)
    gone_exited = bed.ao("spawn", "my-project", "exited then deleted [[sleep:0]]", check=True).stdout.strip()
    bed.wait_exited(gone_exited)
    gone_live = bed.ao("spawn", "my-project", "live then deleted [[sleep:3600]]", check=True).stdout.strip()
    other = bed.ao("spawn", "my-project", "untouched [[sleep:3600]]", check=True).stdout.strip()
    wait_for(lambda: {"agent-2", "agent-3"} <= set(agent_processes(bed)), timeout=30, what="the agents to start")
    for n in (1, 2):
        (bed.state_dir / "sessions" / f"agent-{n}").rename(bed.root / f"deleted-agent-{n}")  # gone from the state dir

    def sane(proc: object) -> None:
        rc, err = proc.returncode, proc.stderr  # type: ignore[attr-defined]
        assert "Traceback" not in err, err
        assert rc == 0 or (rc == 1 and err.startswith("ao: ") and len(err.strip().splitlines()) == 1), (rc, err)

    out = bed.ao("status", "--json")
    assert out.returncode == 0, out.stderr
    views = {v["sessionId"]: v for v in json.loads(out.stdout)["sessions"]}
    assert set(views) == {gone_exited, gone_live, other}
    assert views[gone_exited]["status"] == "exited" and views[gone_exited]["exitCode"] == 0
    assert views[gone_live]["status"] == "running", "the agent still runs; its folder being gone does not end it"
    assert views[other]["status"] == "running"
    for sid in (gone_exited, gone_live):
        sane(bed.ao("status", sid))
        sane(bed.ao("logs", sid))
        sane(bed.ao("attach", sid))
    assert bed.ao("logs", other).returncode == 0

    killed = bed.ao("kill", gone_live, "--json")
    assert killed.returncode == 0, killed.stderr
    assert json.loads(killed.stdout)["status"] == "exited"
    wait_agents_gone(bed, "agent-2")
    sane(bed.ao("kill", gone_exited))
    assert bed.status_of(other)["status"] == "running"
    killed = bed.ao("kill", other, "--json")
    assert killed.returncode == 0 and json.loads(killed.stdout)["exitCode"] == 143, killed.stderr
    wait_agents_gone(bed)
    bed.tmux("kill-server")  # the panes of exited agents keep a shell; the socket is the test's own
    assert_nothing_left(bed)
