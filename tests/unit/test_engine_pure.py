"""Pure logic of the engine: ids, config validation, outcomes, launch scripts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ao_server.config import embedded_default, find_config, parse_config
from ao_server.errors import ConfigError, UsageError
from ao_server.model import LaunchSpec, Outcome, Result, parse_session_ref
from ao_server.orchestrator import exit_outcome, validate_prompt
from ao_server.runtimes.common import write_script
from ao_server.sessiondir import SessionDir


@pytest.mark.parametrize("text,num,project", [
    ("agent-1", 1, None), ("my-project/agent-12", 12, "my-project"), ("a.b_c-d/agent-3", 3, "a.b_c-d"),
])
def test_session_refs(text: str, num: int, project: str | None) -> None:
    ref = parse_session_ref(text)
    assert (ref.num, ref.project, ref.id) == (num, project, f"agent-{num}")


@pytest.mark.parametrize("text", ["", "agent-0", "agent-01", "agent-x", "../agent-1", "a/../agent-1", "p/q/agent-1",
                                  "agent-1;ls", "$(x)/agent-1", "agent-1\n", " agent-1", "-p/agent-1", None, 5])
def test_malformed_session_refs(text: object) -> None:
    with pytest.raises(UsageError):
        parse_session_ref(text)


def cfg(text: str, tmp_path: Path) -> object:
    path = tmp_path / "agent-orchestrator.yaml"
    path.write_text(text)
    return parse_config(text, path)


def test_full_config(tmp_path: Path) -> None:
    c = cfg("plugins:\n  agent: opencode\n  runtime: process\nruntime:\n  tmuxSocket: s\n"
            "opencode:\n  idleThreshold: 12\nprojects:\n  - name: p\n    path: sub\n"
            "    agentConfig:\n      model: gpt-4\n      prompt: Fix the linting errors\n", tmp_path)
    p = c.projects["p"]  # type: ignore[attr-defined]
    assert p.path == tmp_path / "sub"
    assert p.agent_config.model == "gpt-4" and p.agent_config.prompt == "Fix the linting errors"
    assert c.runtime == "process" and c.tmux_socket == "s" and c.idle_threshold == 12  # type: ignore[attr-defined]
    assert c.server_grace == 600  # type: ignore[attr-defined]
    grace = cfg("opencode:\n  serverGrace: 2.5\nprojects:\n  - name: p\n    path: .\n", tmp_path)
    assert grace.server_grace == 2.5  # type: ignore[attr-defined]
    assert p.agent_config.mode == "run" and p.agent_config.keep_alive is False
    live = cfg("projects:\n  - name: p\n    path: .\n    agentConfig: {mode: live, keepAlive: true}\n", tmp_path)
    assert live.projects["p"].agent_config.mode == "live" and live.projects["p"].agent_config.keep_alive


@pytest.mark.parametrize("text,needles", [
    ("projects:\n  - name: p\n    path: .\n    agentconfig: {}\n", [":4:", "projects[0].agentconfig",
                                                                   "did you mean 'agentConfig'"]),
    ("projekts: []\n", [":1:", "projekts", "did you mean 'projects'"]),
    ("projects:\n  - path: .\n", [":2:", "projects[0].name", "missing"]),
    ("projects:\n  - name: p\n", [":2:", "projects[0].path", "missing"]),
    ("projects:\n  - name: p\n    path: .\n  - name: p\n    path: .\n", [":4:", "defined twice"]),
    ("projects:\n  - name: ../x\n    path: .\n", [":2:", "not a valid project name"]),
    ("projects: x\n", [":1:", "expected a list"]),
    ("plugins:\n  agent: claude\nprojects: []\n", [":2:", "plugins.agent", "opencode"]),
    ("opencode:\n  idleThreshold: soon\nprojects: []\n", [":2:", "opencode.idleThreshold", "number"]),
    ("opencode:\n  serverGrace: -1\nprojects: []\n", [":2:", "opencode.serverGrace", "seconds, 0 or more"]),
    ("opencode:\n  serverGrace: .inf\nprojects: []\n", [":2:", "opencode.serverGrace", "OpenCode server"]),
    ("opencode:\n  servergrace: 3\nprojects: []\n", [":2:", "did you mean 'serverGrace'"]),
    ("projects:\n  - name: p\n    path: .\n    agentConfig:\n      mode: lvie\n",
     [":5:", "projects[0].agentConfig.mode", "run, live", "did you mean 'live'"]),
    ("projects:\n  - name: p\n    path: .\n    agentConfig:\n      keepAlive: yes please\n",
     [":5:", "projects[0].agentConfig.keepAlive", "true or false"]),
    ("", ["empty"]),
    ("projects: [\n", ["not valid YAML"]),
])
def test_config_errors(tmp_path: Path, text: str, needles: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        cfg(text, tmp_path)
    for n in needles:
        assert n in str(e.value)


def test_embedded_default_and_search(tmp_path: Path) -> None:
    d = tmp_path / "My Repo!"
    d.mkdir()
    c = embedded_default(d)
    assert list(c.projects) == ["My-Repo"] and c.projects["My-Repo"].path == d
    env = {"HOME": str(tmp_path / "home")}
    assert find_config(cwd=d, env=env) is None
    (tmp_path / "agent-orchestrator.yaml").write_text("projects: []\n")
    assert find_config(cwd=d, env=env) == tmp_path / "agent-orchestrator.yaml"


def test_prompt_validation() -> None:
    assert validate_prompt("do it", None) == "do it"
    for bad in (None, "", "  \n", "a\x00b", "x" * 100_001):
        with pytest.raises(UsageError):
            validate_prompt(bad, None)


def test_exit_outcomes() -> None:
    assert exit_outcome(0, None).result == "success"
    assert exit_outcome(1, None) == Outcome(Result.ERROR, error="the agent exited with code 1")
    turn = Outcome(Result.ERROR, error="provider down")
    assert exit_outcome(1, turn) == Outcome(Result.ERROR, error="provider down", exit_code=1)
    assert exit_outcome(None, None).result == "unknown"
    incomplete = Outcome(Result.INCOMPLETE, finish="tool-calls")
    assert exit_outcome(0, incomplete) == Outcome(Result.SUCCESS, finish="tool-calls")


def test_launch_script_quotes_everything(tmp_path: Path) -> None:
    evil = tmp_path / "it's $(here) `x`"
    evil.mkdir()
    prompt = evil / "prompt.txt"
    prompt.write_text("$(touch pwned) 'quoted' \"dq\"\n")
    spec = LaunchSpec(argv=["/bin/sh", "-c", 'cat; echo "$AO_X"', "arg with spaces"], env={"AO_X": "a'b $(c)"},
                      cwd=evil, stdin_file=prompt)
    script = write_script(SessionDir(tmp_path), 1, spec, title="p/agent-1", terminal=False)
    out = subprocess.run(["/bin/sh", str(script)], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("$(touch pwned) 'quoted' \"dq\"\na'b $(c)\n")
    assert not (evil / "pwned").exists()
    assert SessionDir(tmp_path).exit_code() == 0


def test_agent_environment_is_exactly_the_spawners(tmp_path: Path) -> None:
    """Whatever environment runs the script (a long-lived tmux server's), the agent gets the spec's, and
    what the script writes is private while the agent keeps the spawner's umask."""
    out_file = tmp_path / "seen.txt"
    spec = LaunchSpec(
        argv=["/bin/sh", "-c", f'env > {out_file}; umask >> {out_file}; : > "$1"', "sh", str(tmp_path / "agent-made")],
        env={"PATH": os.environ["PATH"], "SECRET_KEY": "s3cr3t 'q' $(x)", "AO_SESSION_ID": "agent-1"},
        cwd=tmp_path,
    )
    script = write_script(SessionDir(tmp_path), 1, spec, title="p/agent-1", terminal=True, umask=0o022)
    runner_env = {"PATH": os.environ["PATH"], "LEAKED_FROM_TMUX": "1", "TERM": "screen", "TMUX": "/tmp/x,1,0"}
    old = os.umask(0)
    try:
        proc = subprocess.run(["/bin/sh", str(script)], env=runner_env, capture_output=True, text=True, timeout=10)
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    lines = out_file.read_text().splitlines()
    seen = dict(line.split("=", 1) for line in lines if "=" in line)
    assert seen["SECRET_KEY"] == "s3cr3t 'q' $(x)" and seen["AO_SESSION_ID"] == "agent-1"
    assert "LEAKED_FROM_TMUX" not in seen and "AO_ENV_CLEAN" not in seen
    assert seen["TERM"] == "screen" and seen["TMUX"] == "/tmp/x,1,0"  # the terminal's own, kept
    assert lines[-1] == "0022"  # the spawner's umask, not the script's private one
    assert "s3cr3t" not in script.read_text()  # secrets live in the 0600 env file, not the script
    for name in ("env.sh", "exit_code", "pid", "run-1.sh"):
        mode = (tmp_path / name).stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{name} is {mode:o}"
    assert (tmp_path / "agent-made").stat().st_mode & 0o777 == 0o644


def test_opencodes_printed_error_line() -> None:
    from ao_server.agents.opencode import error_line

    out = "\x1b[91m\x1b[1mError: \x1b[0mModel not found: nope/not-a-model\nmore\n\n"
    assert error_line(out) == "Error: Model not found: nope/not-a-model"
    assert error_line("UnknownError Unexpected server error\n") == "UnknownError Unexpected server error"
    assert error_line("all fine\n") is None
    assert error_line("Error: " + "x" * 1000).endswith("...")  # type: ignore[union-attr]


def test_tmux_logs_leave_out_the_dead_pane_furniture() -> None:
    from ao_server.runtimes.tmux import agent_text

    pane = "work\n\nmore work\n[ao] the agent exited with code 0\n\n\n\nPane is dead (status 0, Thu Nov 26 2026)\n\n"
    assert agent_text(pane, 2) == "more work\n[ao] the agent exited with code 0\n"
    assert agent_text(pane, None).startswith("work\n\nmore work\n") and "Pane is dead" not in agent_text(pane, None)
    assert agent_text("\n\n", 5) == ""
