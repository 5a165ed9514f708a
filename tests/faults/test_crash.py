"""ao-server SIGKILLed in the middle of a spawn: the agent it started stays reachable, once, with its record.

``AO_FAULT_PAUSE=after-start:S`` (in the server's environment) makes the engine sleep S seconds right
after the runtime started the agent and before the record says ``running``; the test kills the server
with SIGKILL inside that window. Agents are the STAND-IN executable.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import psutil
import pytest

from tests.support.bed import Bed, wait_for

from .conftest import Server, agent_processes, assert_nothing_left, wait_agents_gone


@pytest.mark.parametrize("runtime", ["process", "tmux"])
def test_sigkill_mid_spawn_leaves_a_reachable_agent(
    standin_bed: Bed, servers: Callable[..., Server], runtime: str
) -> None:
    bed = standin_bed
    bed.write_config(runtime=runtime)
    server = servers(bed, env={**bed.env, "AO_FAULT_PAUSE": "after-start:60"})
    spawning = server.conn.request_future("ao/spawn", {"prompt": "crash me [[sleep:3600]]"})

    agents = wait_for(lambda: agent_processes(bed).get("agent-1"), timeout=60, what="the agent to be started")
    if spawning.done():
        outcome = spawning.exception() or spawning.result()
        raise AssertionError(
            f"the spawn completed before the server was killed ({outcome}): AO_FAULT_PAUSE=after-start "
            "is not honoured, so the fault was not injected"
        )
    server.sigkill()

    # No lost record, no duplicate: exactly one session, with exactly one agent.
    listed = bed.ao_json("list")
    assert [s["sessionId"] for s in listed] == ["my-project/agent-1"], listed
    assert bed.ao("status", "agent-1", check=True).stdout.strip() == "running"
    assert agent_processes(bed) == {"agent-1": agents}, "the agent was started twice, or lost"

    # Reachable: `ao kill` finds and stops it.
    killed = bed.ao("kill", "agent-1", "--json")
    assert killed.returncode == 0, killed.stderr
    view = json.loads(killed.stdout)
    assert view["status"] == "exited" and view["exitCode"] == 143, view
    wait_agents_gone(bed)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in agents)
    assert bed.status_of("agent-1")["status"] == "exited"

    # Ids are never reused: the next spawn is agent-2.
    nxt = bed.ao("spawn", "my-project", "next [[sleep:0]]")
    assert nxt.returncode == 0, nxt.stderr
    assert nxt.stdout.strip() == "my-project/agent-2"
    bed.wait_exited("agent-2")
    assert sorted(s["sessionId"] for s in bed.ao_json("list")) == ["my-project/agent-1", "my-project/agent-2"]

    bed.tmux("kill-server")  # tmux keeps a shell in agent-2's pane; the socket is the test's own
    assert_nothing_left(bed)
