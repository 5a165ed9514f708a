"""ao-server (or ``ao spawn``) SIGKILLed in the middle of a spawn: the agent stays reachable, once, recorded.

``AO_FAULT_PAUSE=after-start:S`` (in the spawner's environment) makes the engine sleep S seconds right
after the runtime started the agent and before the record says ``running``; the test kills the server,
or the ``ao spawn`` process, with SIGKILL inside that window. Agents are the STAND-IN executable.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable

import psutil
import pytest

from tests.support.bed import Bed, wait_for

from .conftest import Server, agent_processes, assert_nothing_left, wait_agents_gone


@pytest.mark.parametrize("spawner", ["server", "cli"])
@pytest.mark.parametrize("runtime", ["process", "tmux"])
def test_sigkill_mid_spawn_leaves_a_reachable_agent(
    standin_bed: Bed, servers: Callable[..., Server], runtime: str, spawner: str
) -> None:
    bed = standin_bed
    bed.write_config(runtime=runtime)
    env = {**bed.env, "AO_FAULT_PAUSE": "after-start:60"}
    prompt = "crash me [[sleep:3600]]"
    if spawner == "server":
        server = servers(bed, env=env)
        spawning = server.conn.request_future("ao/spawn", {"prompt": prompt})
        done, kill = spawning.done, server.sigkill

        def why() -> str:
            return str(spawning.exception() or spawning.result())
    else:
        err = open(bed.root / "spawn.err", "w+")  # noqa: SIM115 - closed below
        cli = subprocess.Popen([sys.executable, "-m", "ao_server.cli", "spawn", "my-project", prompt], env=env,
                               cwd=bed.project, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
        done = lambda: cli.poll() is not None  # noqa: E731
        kill = lambda: (cli.send_signal(signal.SIGKILL), cli.wait(15), err.close())  # noqa: E731

        def why() -> str:
            return f"exit code {cli.returncode}: {(bed.root / 'spawn.err').read_text().strip()}"

    def started() -> list[int] | None:
        agents = agent_processes(bed).get("agent-1")
        if not agents and done():
            raise AssertionError(f"the {spawner} finished its spawn without starting an agent ({why()})")
        return agents

    agents = wait_for(started, timeout=60, what="the agent to be started")
    if done():
        raise AssertionError(
            f"the {spawner} finished its spawn before it was killed ({why()}): AO_FAULT_PAUSE=after-start is not "
            "honoured, so the fault was not injected"
        )
    kill()

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
