"""2 ao-servers x 20 concurrent spawns while 10 resumes and 10 kills run: every session accounted for once.

Before the storm: 5 exited sessions that can be resumed (their OpenCode session id is set through the
Store API: the stand-in keeps no database) and 10 running ones to kill. Then at once: 20 ``ao/spawn``
requests to each of two servers, two ``ao resume`` CLI processes for each of the 5 exited sessions
(compare-and-set: exactly one of each pair starts an agent, the other exits 1 with a clear message),
and 10 kills (5 ``ao kill`` processes, 5 ``ao/kill`` requests). Afterwards every session is listed
exactly once by the CLI and by both servers, ids are distinct and new ones never reuse old ones, and
every running session has exactly one agent process. Agents are the STAND-IN executable.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future

from ao_server.store import Store
from tests.support.bed import Bed, wait_for

from .conftest import Server, agent_processes, assert_nothing_left

SPAWNS_PER_SERVER = 20
RESUMABLE = range(1, 6)  # agent-1..5: exited, each resumed twice at once
KILLABLE = range(6, 16)  # agent-6..15: running, killed


def ao_popen(bed: Bed, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ao_server.cli", *args], cwd=bed.project, env=bed.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_spawns_resumes_and_kills_at_once_account_for_every_session(
    standin_bed: Bed, servers: Callable[..., Server]
) -> None:
    bed = standin_bed
    for n in RESUMABLE:
        assert bed.ao("spawn", "my-project", f"first run {n} [[sleep:0]]", check=True).stdout.strip().endswith(
            f"/agent-{n}")
    for n in KILLABLE:
        assert bed.ao("spawn", "my-project", f"to kill {n} [[sleep:3600]]", check=True).stdout.strip().endswith(
            f"/agent-{n}")
    for n in RESUMABLE:
        bed.wait_exited(f"agent-{n}")
    store = Store(bed.state_dir)
    for n in RESUMABLE:
        store.update(n, opencode_session_id=f"ses_fault{n:02d}")
    a, b = servers(bed, name="server-a"), servers(bed, name="server-b")

    # --- the storm ---------------------------------------------------------------------------------
    spawns: list[Future[dict[str, object]]] = []
    for tag, server in (("a", a), ("b", b)):
        spawns += [server.conn.request_future("ao/spawn", {"prompt": f"[[sleep:3600]] spawn {tag}-{i}"})
                   for i in range(SPAWNS_PER_SERVER)]
    resumes = {(n, j): ao_popen(bed, "resume", f"agent-{n}", f"[[sleep:3600]] resume {n} by {j}")
               for n in RESUMABLE for j in (1, 2)}
    cli_kills = {n: ao_popen(bed, "kill", f"agent-{n}") for n in list(KILLABLE)[:5]}
    rpc_kills = {n: b.conn.request_future("ao/kill", {"sessionId": f"agent-{n}"}) for n in list(KILLABLE)[5:]}

    spawned = [f.result(180) for f in spawns]
    resume_out = {k: (p.wait(180), *p.communicate()) for k, p in resumes.items()}
    kill_out = {n: (p.wait(180), *p.communicate()) for n, p in cli_kills.items()}
    killed_rpc = {n: f.result(180) for n, f in rpc_kills.items()}

    # --- every operation's own answer --------------------------------------------------------------
    new_ids = [str(s["sessionId"]) for s in spawned]
    assert len(set(new_ids)) == len(new_ids) == 2 * SPAWNS_PER_SERVER, Counter(new_ids).most_common(3)
    old_ids = {f"my-project/agent-{n}" for n in (*RESUMABLE, *KILLABLE)}
    assert not old_ids & set(new_ids), "a new session reused an old id"
    for s in spawned:
        assert s["status"] == "running", s
    for n in RESUMABLE:
        results = [resume_out[(n, j)] for j in (1, 2)]
        winners = [r for r in results if r[0] == 0]
        losers = [r for r in results if r[0] != 0]
        assert len(winners) == 1, f"agent-{n}: {len(winners)} of 2 concurrent resumes started an agent: {results}"
        rc, _, err = losers[0]
        assert rc == 1 and err.startswith("ao: ") and "Traceback" not in err, (rc, err)
        assert len(err.strip().splitlines()) == 1, err
    for n, (rc, _, err) in kill_out.items():
        assert rc == 0, (n, err)
    for n, view in killed_rpc.items():
        assert view["status"] == "exited" and view["exitCode"] == 143, (n, view)

    # --- the accounting: every session exactly once, in the CLI and in both servers --------------------
    expected = old_ids | set(new_ids)
    listed = bed.ao_json("list")
    assert Counter(s["sessionId"] for s in listed) == Counter(expected), "a session is missing or listed twice"
    for server in (a, b):
        ids = [s["sessionId"] for s in server.request("ao/list", {})["sessions"]]
        assert Counter(ids) == Counter(expected)
    views = {v["sessionId"]: v for v in bed.ao_json("status")["sessions"]}
    for s in spawned:
        assert views[str(s["sessionId"])]["prompt"] == s["prompt"], "a session lost its own prompt"
    for n in KILLABLE:
        v = views[f"my-project/agent-{n}"]
        assert v["status"] == "exited" and v["exitCode"] == 143, v
    for n in RESUMABLE:
        v = views[f"my-project/agent-{n}"]
        assert v["status"] == "running" and v["runs"] == 2, v
    running = {sid.split("/")[1] for sid, v in views.items() if v["status"] == "running"}
    assert len(running) == len(RESUMABLE) + 2 * SPAWNS_PER_SERVER

    def one_agent_each() -> dict[str, list[int]] | None:
        procs = agent_processes(bed)
        return procs if set(procs) == running else None

    procs = wait_for(one_agent_each, timeout=30, what="exactly the running sessions to have agents")
    doubled = {k: v for k, v in procs.items() if len(v) != 1}
    assert not doubled, f"sessions with more than one agent: {doubled}"

    # --- stop everything through the servers, then nothing is left ---------------------------------------
    kills = [a.conn.request_future("ao/kill", {"sessionId": sid}) for sid in sorted(running)]
    for f in kills:
        assert f.result(180)["exitCode"] == 143
    a.close()
    b.close()
    assert_nothing_left(bed)
    print(json.dumps({"sessions": len(expected)}))
