"""The `ao` command line end to end: real OpenCode, fake model, real tmux on a private socket."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.bed import ROOT, Bed, wait_for

STANDIN = str(ROOT / "tests" / "support" / "standin" / "opencode")
NASTY = 'Fix "the" bug; $(touch {p}) `touch {p}` && rm -rf {p}\nline two: ünïcødé ✓ \'single\' \\back $HOME'


@pytest.mark.parametrize("runtime", ["tmux", "process"])
def test_spawn_runs_real_opencode_to_exit(bed: Bed, runtime: str) -> None:
    bed.write_config(runtime=runtime)
    out = bed.ao("spawn", "my-project", "Add unit tests for auth module [[slow:2]]")
    assert out.returncode == 0, out.stderr
    sid = out.stdout.strip()
    assert sid == "my-project/agent-1"
    assert bed.ao("status", sid).stdout.strip() == "running"

    attach = bed.ao_json("attach", sid)
    if runtime == "tmux":
        # The socket actually used, as a path (not what the caller's $TMUX_TMPDIR makes of -L), and an
        # exact target (=ao-agent-1 never matches ao-agent-12).
        sock = bed.tmux("display-message", "-p", "-t", "=ao-agent-1:", "#{socket_path}").stdout.strip()
        assert attach["argv"] == ["tmux", "-S", sock, "attach", "-t", "=ao-agent-1"]
        assert bed.ao("attach", sid).stdout.strip() == f"tmux -S {sock} attach -t =ao-agent-1"
    else:
        assert attach["type"] == "process"
        assert attach["argv"][:2] == ["tail", "-n"] and attach["argv"][-1].endswith("output.log")

    final = bed.wait_exited(sid)
    assert final["exitCode"] == 0
    assert bed.ao("status", sid).stdout.strip() == "exited"
    assert "Done. I looked at the task" in bed.ao("logs", sid).stdout
    assert bed.requests_with("Add unit tests for auth module"), "the model never saw the prompt"
    if runtime == "tmux":  # the pane stays (without a process) so attach shows what happened
        assert bed.tmux("has-session", "-t", "=ao-agent-1").returncode == 0
        assert "exited with code 0" in bed.ao("logs", sid).stdout


@pytest.mark.parametrize("runtime", ["tmux", "process"])
def test_prompt_arrives_byte_for_byte_and_runs_nothing(bed: Bed, runtime: str, tmp_path: Path) -> None:
    bed.write_config(runtime=runtime)
    pwned = tmp_path / "pwned"
    prompt = NASTY.format(p=pwned)
    out = bed.ao("spawn", "my-project", prompt, "--json")
    assert out.returncode == 0, out.stderr
    sid = json.loads(out.stdout)["sessionId"]
    bed.wait_exited(sid)
    seen = bed.requests_with("Fix \"the\" bug")
    assert seen, "the model never saw the prompt"
    assert seen[0]["first_user"] == prompt
    assert not pwned.exists(), "a shell interpreted the prompt"
    assert bed.ao_json("status", sid)["prompt"] == prompt


def test_agent_environment_and_directory(bed: Bed) -> None:
    bed.write_config(runtime="tmux")
    sid = bed.ao("spawn", "my-project", "env check [[slow:6]]", "--issue", "GH-42", check=True).stdout.strip()
    pid = wait_for(lambda: bed.status_of(sid).get("pid"), timeout=30, what="the agent pid (tty match)")
    proc = psutil.Process(pid)
    assert "opencode" in proc.name()
    env = proc.environ()
    assert env["AO_SESSION_ID"] == "agent-1"
    assert env["AO_PROJECT_ID"] == "my-project"
    assert env["AO_ISSUE_ID"] == "GH-42"
    assert Path(proc.cwd()) == bed.project.resolve()
    assert env["PWD"] == str(bed.project.resolve())
    bed.wait_exited(sid)
    con = sqlite3.connect(f"file:{bed.opencode_db}?mode=ro", uri=True)
    rows = con.execute("SELECT directory FROM session WHERE title='AO:agent-1'").fetchall()
    con.close()
    assert rows == [(str(bed.project.resolve()),)], "OpenCode filed the session under the wrong directory"


def test_model_from_config_is_passed(bed: Bed) -> None:
    bed.write_config(runtime="process", model="fake/fake-model", prompt="the default task [[slow:0]]")
    sid = bed.ao("spawn", "my-project", check=True).stdout.strip()
    view = bed.wait_exited(sid)
    assert view["model"] == "fake/fake-model" and view["exitCode"] == 0
    script = (bed.state_dir / "sessions" / "agent-1" / "run-1.sh").read_text()
    assert "--model fake/fake-model" in script
    assert bed.requests_with("the default task")


@pytest.mark.parametrize("runtime", ["tmux", "process"])
def test_kill_stops_the_agent(bed: Bed, runtime: str) -> None:
    bed.write_config(runtime=runtime)
    sid = bed.ao("spawn", "my-project", "long task [[slow:60]]", check=True).stdout.strip()
    wait_for(lambda: bed.requests_with("long task"), timeout=60, what="the model to be asked")
    pids = agent_pids(bed)
    assert pids
    killed = bed.ao("kill", sid, "--json")
    assert killed.returncode == 0, killed.stderr
    view = json.loads(killed.stdout)
    assert view["status"] == "exited" and view["exitCode"] == 143
    assert view["outcome"]["result"] == "killed"
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids),
             timeout=10, what="agent processes to end")
    again = bed.ao("kill", sid)
    assert again.returncode == 0, "killing an exited session is not an error"
    assert bed.ao("status", sid).stdout.strip() == "exited"


def agent_pids(bed: Bed) -> list[int]:
    """PIDs of the agent processes this bed started (its process-runtime scripts and tmux panes), with children."""
    con = sqlite3.connect(bed.state_dir / "sessions.db")
    roots = [json.loads(h).get("pid") for (h,) in con.execute("SELECT handle FROM sessions")]
    con.close()
    roots += [int(x) for x in bed.tmux("list-panes", "-a", "-F", "#{pane_pid}").stdout.split()]
    pids = []
    for pid in roots:
        if isinstance(pid, int) and psutil.pid_exists(pid):
            p = psutil.Process(pid)
            pids += [p.pid] + [c.pid for c in p.children(recursive=True)]
    return pids


def test_failed_turn_exits_nonzero(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = bed.ao("spawn", "my-project", "please [[fail]]", check=True).stdout.strip()
    view = bed.wait_exited(sid)
    assert view["exitCode"] == 1
    assert view["outcome"]["result"] == "error"
    assert "fake provider failure" in bed.ao("logs", sid).stdout


def test_tracking_survives_the_spawning_process(bed: Bed) -> None:
    """A process that spawned and exited; a fresh process still tracks the agent to its exit code."""
    bed.write_config(runtime="process")
    code = ("from ao_server.orchestrator import Orchestrator; from ao_server.config import load_config;"
            "from ao_server.store import default_state_dir; from ao_server.protocol import to_wire; import json;"
            "o = Orchestrator(load_config(), default_state_dir());"
            "print(json.dumps(to_wire(o.spawn(project='my-project', prompt='survive [[slow:3]]'))))")
    out = subprocess.run([sys.executable, "-c", code], env=bed.env, cwd=bed.project, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    sid = json.loads(out.stdout)["sessionId"]
    assert bed.status_of(sid)["status"] == "running"
    assert bed.wait_exited(sid)["exitCode"] == 0


def test_two_processes_spawning_20_each_get_40_distinct_ids(bed: Bed) -> None:
    """Scale test with the STAND-IN executable (not OpenCode): 40 real OpenCode processes would not fit."""
    bed.write_config(runtime="process")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    code = ("import sys; from ao_server.cli import main\n"
            "for i in range(20):\n"
            "    assert main(['spawn', 'my-project', f'task {sys.argv[1]}-{i} [[sleep:0.5]]']) == 0\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, tag], env=env, cwd=bed.project, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for tag in ("a", "b")]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    ids = [line for out, _ in outs for line in out.split()]
    assert len(ids) == 40 and len(set(ids)) == 40
    listed = bed.ao_json("list", env=env)
    assert sorted(s["sessionId"] for s in listed) == sorted(ids)
    prompts = {s["prompt"].split()[1] for s in bed.ao_json("status", env=env)["sessions"]}
    assert prompts == {f"{t}-{i}" for t in "ab" for i in range(20)}, "a session lost its own prompt"
    wait_for(lambda: all(s["status"] == "exited" for s in bed.ao_json("status", env=env)["sessions"]),
             timeout=60, what="all stand-ins to exit")


def test_status_table_and_list(bed: Bed) -> None:
    bed.write_config(runtime="process")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    sid = bed.ao("spawn", "my-project", "table me [[sleep:30]]", env=env, check=True).stdout.strip()
    table = bed.ao("status", env=env).stdout.splitlines()
    assert table[0].split()[:6] == ["ID", "STATUS", "ACTIVITY", "RUNTIME", "AGE", "COST"]
    assert table[1].split()[:2] == [sid, "running"] and "process" in table[1] and "table me" in table[1]
    assert bed.ao("list", env=env).stdout.split() == [sid, "running"]
    bed.ao("kill", sid, env=env, check=True)
    assert bed.ao("list", env=env).stdout.split() == [sid, "exited"]


def test_default_config_uses_the_current_folder(bed: Bed) -> None:
    (bed.project / "agent-orchestrator.yaml").unlink()
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    folder = bed.root / "some-repo"
    folder.mkdir()
    out = bed.ao("spawn", "quick task [[sleep:0]]", "--runtime", "process", cwd=folder, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "some-repo/agent-1"
    assert bed.ao_json("projects", cwd=folder, env=env)["projects"][0]["path"] == str(folder.resolve())


# --- bad input: one clear line, exit code, nothing lost ----------------------------------------------


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("ao: ") or proc.stderr.startswith("usage:"), proc.stderr
    for n in needles:
        assert n in proc.stderr, (n, proc.stderr)


def test_bad_input_errors(bed: Bed) -> None:
    bed.write_config(runtime="process")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    assert_clean_error(bed.ao("spawn", "no-such", "x", env=env), 1, "unknown project 'no-such'", "my-project")
    assert_clean_error(bed.ao("spawn", "my-project", "   ", env=env), 2, "prompt is empty")
    assert_clean_error(bed.ao("status", "my-project/agent-x"), 2, "malformed session id")
    assert_clean_error(bed.ao("status", "../agent-1"), 2, "malformed session id")
    assert_clean_error(bed.ao("kill", "agent-1; rm -rf /"), 2, "malformed session id")
    assert_clean_error(bed.ao("attach", "$(reboot)/agent-1"), 2, "malformed session id")
    assert_clean_error(bed.ao("status", "my-project/agent-99"), 1, "no session agent-99")
    assert_clean_error(bed.ao("bogus"), 2, "invalid choice")
    # nothing half-written: no session rows were created by the failures above
    assert bed.ao_json("list") == []


def test_missing_opencode_and_tmux(bed: Bed, tmp_path: Path) -> None:
    bed.write_config(runtime="tmux")
    empty = tmp_path / "emptybin"
    empty.mkdir()
    env = {k: v for k, v in bed.env.items() if k != "AO_OPENCODE_BIN"} | {"PATH": str(empty)}
    proc = subprocess.run([sys.executable, "-m", "ao_server.cli", "spawn", "my-project", "x"], env=env,
                          cwd=bed.project, capture_output=True, text=True, timeout=60)
    assert_clean_error(proc, 1, "tmux is not installed")
    proc = subprocess.run([sys.executable, "-m", "ao_server.cli", "spawn", "my-project", "x", "--runtime", "process"],
                          env=env, cwd=bed.project, capture_output=True, text=True, timeout=60)
    assert_clean_error(proc, 1, "opencode is not installed", "npm install -g opencode-ai")
    assert bed.ao_json("list") == []


def test_unwritable_state_dir(bed: Bed, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**bed.env, "AO_STATE_DIR": str(blocker / "state")}
    assert_clean_error(bed.ao("list", env=env), 1, "is not writable", "AO_STATE_DIR")


def test_corrupt_row_is_reported_not_fatal(bed: Bed) -> None:
    bed.write_config(runtime="process")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    a = bed.ao("spawn", "my-project", "one [[sleep:0]]", env=env, check=True).stdout.strip()
    b = bed.ao("spawn", "my-project", "two [[sleep:0]]", env=env, check=True).stdout.strip()
    con = sqlite3.connect(bed.state_dir / "sessions.db")
    con.execute("UPDATE sessions SET handle='{not json' WHERE num=1")
    con.commit()
    con.close()
    listed = bed.ao("list", env=env)
    assert listed.returncode == 0
    assert b in listed.stdout and a not in listed.stdout
    assert "agent-1 has a corrupt record" in listed.stderr and "ao forget agent-1" in listed.stderr
    assert_clean_error(bed.ao("status", a, env=env), 1, "corrupt record", "ao forget agent-1")
    assert bed.ao("forget", "agent-1", env=env).returncode == 0
    assert bed.ao("list", env=env).stderr == ""


def test_config_errors_name_file_line_and_key(bed: Bed) -> None:
    path = bed.write_config("plugins:\n  agent: opencode\nprojects:\n  - name: my-project\n    path: .\n"
                            "    agentConfg:\n      model: x\n")
    proc = bed.ao("list")
    assert_clean_error(proc, 1, f"{path}:6", "projects[0].agentConfg", "did you mean 'agentConfig'")
    bed.write_config("plugins:\n  runtime: procss\nprojects: []\n")
    assert_clean_error(bed.ao("list"), 1, ":2", "plugins.runtime", "process, tmux", "did you mean")
    bed.write_config("projects:\n  - name: [a, b]\n")
    assert_clean_error(bed.ao("list"), 1, ":2", "projects[0].name", "expected a string")
    bed.write_config("projects: {\n")
    assert_clean_error(bed.ao("list"), 1, "not valid YAML")


def test_config_found_by_flag_env_and_upward_search(bed: Bed) -> None:
    cfg = bed.write_config(runtime="process")
    sub = bed.project / "deep" / "er"
    sub.mkdir(parents=True)
    assert bed.ao_json("projects", cwd=sub)["source"] == str(cfg.resolve())
    other = bed.root / "other.yaml"
    other.write_text(f"projects:\n  - name: elsewhere\n    path: {bed.root}\n")
    assert bed.ao_json("projects", "--config", str(other))["projects"][0]["name"] == "elsewhere"
    env = {**bed.env, "AO_CONFIG": str(other)}
    assert bed.ao_json("projects", env=env)["projects"][0]["name"] == "elsewhere"
    missing = bed.ao("projects", "--config", str(bed.root / "nope.yaml"))
    assert_clean_error(missing, 1, "config file not found")


def test_help_and_version(bed: Bed) -> None:
    out = bed.ao("--help")
    assert out.returncode == 0 and "ao spawn my-project" in out.stdout
    for cmd in ("spawn", "status", "attach", "kill", "logs", "resume", "list"):
        assert bed.ao(cmd, "--help").returncode == 0
    assert bed.ao("--version").stdout.startswith("ao ")


def test_kill_seen_first_by_another_poller_is_still_a_kill(bed: Bed) -> None:
    """A server's poller may notice the agent gone before `kill` records it; both must agree it was killed."""
    bed.write_config(runtime="tmux")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}
    sid = bed.ao("spawn", "my-project", "wait [[sleep:60]]", env=env, check=True).stdout.strip()
    code = (
        "import json, threading\n"
        "from ao_server.orchestrator import Orchestrator\n"
        "from ao_server.config import load_config\n"
        "from ao_server.store import default_state_dir\n"
        "from ao_server.protocol import to_wire\n"
        "killer, poller = (Orchestrator(load_config(), default_state_dir()) for _ in range(2))\n"
        "rec = killer.resolve('agent-1')\n"
        "rec.dir.mark_killed()\n"
        "killer.runtime(rec.runtime).kill(rec)\n"  # the agent is gone, kill has not recorded it yet
        "seen = poller.status(session='agent-1').sessions[0]\n"
        "print(json.dumps(to_wire([seen, killer.kill('agent-1')])))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=bed.project, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    seen, killed = json.loads(out.stdout)
    for view in (seen, killed, bed.status_of(sid)):
        assert view["status"] == "exited" and view["exitCode"] == 143
        assert view["outcome"]["result"] == "killed"
