"""The tmux server under running agents: killed, or unreachable for another reason.

Killed (SIGKILL of the tmux server process): every session ends ``exited`` with a reason that names
tmux, never ``exitCode: 0`` and never hanging. Unreachable while it still runs (its socket file moved
away, as a /tmp cleaner does; or tmux gone from PATH): sessions are not finalized, their activity is
``unknown`` with a warning saying why (or still known from the agent's own pid file), and once tmux is
reachable again they are still running and can be killed.
Agents are the STAND-IN executable.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.bed import Bed, wait_for

from .conftest import Server, agent_processes, assert_nothing_left, wait_agents_gone

N = 3


def spawn_three(bed: Bed) -> list[str]:
    ids = [bed.ao("spawn", "my-project", f"tmux fault {i} [[sleep:3600]]", check=True).stdout.strip()
           for i in range(N)]
    wait_for(lambda: len(agent_processes(bed)) == N, timeout=30, what="the agents to start")
    return ids


def tmux_server(bed: Bed) -> tuple[int, Path]:
    out = bed.tmux("display-message", "-p", "#{pid} #{socket_path}")
    assert out.returncode == 0, out.stderr
    pid, path = out.stdout.split()
    return int(pid), Path(path)


def test_tmux_server_killed_ends_sessions_with_a_reason(standin_bed: Bed, servers: Callable[..., Server]) -> None:
    bed = standin_bed
    bed.write_config(runtime="tmux")
    server = servers(bed)
    ids = spawn_three(bed)
    wait_for(lambda: {v["sessionId"]: v["status"] for v in server.request("ao/status", {})["sessions"]}
             == dict.fromkeys(ids, "running"), timeout=30, what="the server to see the sessions running")
    time.sleep(1.0)  # a few poll ticks: the server's poller has them as running before tmux dies
    pid, socket_path = tmux_server(bed)

    os.kill(pid, signal.SIGKILL)

    # The server pushes an exit for every session, with a reason; not a hang, not a success.
    for sid in ids:
        change = server.wait_change(lambda c, sid=sid: c["sessionId"] == sid and c["status"] == "exited", timeout=60)
        assert change["exitCode"] != 0, change
    views = {v["sessionId"]: v for v in server.request("ao/status", {})["sessions"]}
    cli = {v["sessionId"]: v for v in bed.ao_json("status")["sessions"]}
    for sid in ids:
        for v in (views[sid], cli[sid]):
            assert v["status"] == "exited" and v["exitCode"] != 0, v
            outcome = v["outcome"] or {}
            assert outcome.get("result") in ("error", "unknown"), v
            assert "tmux" in (outcome.get("error") or "").lower(), v
    assert "exited(0)" not in bed.ao("status").stdout
    killed = bed.ao("kill", ids[0], "--json")
    assert killed.returncode == 0, killed.stderr  # already exited: not an error
    assert json.loads(killed.stdout)["exitCode"] != 0

    server.close()
    socket_path.unlink(missing_ok=True)  # the dead server's socket file
    assert_nothing_left(bed)


@pytest.mark.parametrize("how", ["socket-moved", "tmux-not-on-path"])
def test_unreachable_tmux_is_unknown_not_exited(standin_bed: Bed, tmp_path: Path, how: str) -> None:
    bed = standin_bed
    bed.write_config(runtime="tmux")
    ids = spawn_three(bed)
    _, socket_path = tmux_server(bed)
    moved = socket_path.with_name(socket_path.name + ".moved")
    env = dict(bed.env)
    if how == "socket-moved":
        socket_path.rename(moved)
    else:
        empty = tmp_path / "no-tmux-bin"
        empty.mkdir()
        env["PATH"] = str(empty)
    try:
        for _ in range(2):  # twice, a moment apart: not finalized by a later look either
            out = bed.ao("status", "--json", env=env)
            assert out.returncode == 0, out.stderr
            views = {v["sessionId"]: v for v in json.loads(out.stdout)["sessions"]}
            for sid in ids:
                assert views[sid]["status"] == "running", views[sid]
                assert views[sid]["activity"] in ("unknown", None), views[sid]  # None: its pid file says it runs
                assert views[sid]["exitCode"] is None
            if any(views[sid]["activity"] == "unknown" for sid in ids):
                assert "tmux" in out.stderr.lower(), "a warning should say why the status is unknown"
            time.sleep(1)
    finally:
        if moved.exists():
            moved.rename(socket_path)
    assert len(agent_processes(bed)) == N, "the agents should have been left alone"
    for sid in ids:
        assert bed.status_of(sid)["status"] == "running"
        killed = bed.ao("kill", sid, "--json")
        assert killed.returncode == 0, killed.stderr
        assert json.loads(killed.stdout)["exitCode"] == 143
    wait_agents_gone(bed)
    assert_nothing_left(bed)
