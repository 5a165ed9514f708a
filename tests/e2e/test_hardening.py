"""Classes of bugs an attacker or an unlucky user meets: tmux formats, the caller's environment,
an unreachable tmux server, concurrent resumes, SIGTERM mid-spawn, private files, requests before
initialize. Real tmux on private sockets, the real server, the real OpenCode or the stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from tests.support.bed import ROOT, Bed, wait_for

sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
from ao_client import Connection, RpcError

STANDIN = str(ROOT / "tests" / "support" / "standin" / "opencode")
FORMATS = "#(cd;touch {m}) #{{pane_pid}} #[fg=red] ;"  # what tmux would run or expand if it read it as a format


def standin(bed: Bed, runtime: str = "process", extra: str = "") -> None:
    bed.env["AO_OPENCODE_BIN"] = STANDIN
    bed.write_config(runtime=runtime, extra_project=extra)


def markers(root: Path) -> list[Path]:
    """Files a #(cd;touch INJECTED-...) would have made (in $HOME, or wherever it ran)."""
    return sorted(p for p in root.rglob("INJECTED*") if p.is_file())


def test_tmux_reads_nothing_the_user_controls_as_a_format(bed: Bed, tmp_path: Path) -> None:
    """Folder names, the state dir, environment values and the prompt with #(cmd) in them stay inert."""
    evil = tmp_path / FORMATS.format(m="INJECTED-project")
    evil.mkdir(parents=True)
    state = tmp_path / FORMATS.format(m="INJECTED-state")
    bed.env["AO_STATE_DIR"] = str(state)
    bed.env["SOME_TOKEN"] = FORMATS.format(m="INJECTED-env")
    config = bed.write_config()
    config.write_text(config.read_text().replace(f"path: {bed.project}", f"path: {json.dumps(str(evil))}"))
    prompt = "Say hi " + FORMATS.format(m="INJECTED-prompt") + " [[slow:1]]"
    sid = bed.ao("spawn", "my-project", prompt, check=True).stdout.strip()
    assert bed.ao("status", sid).stdout.strip() == "running"
    bed.ao("attach", sid, check=True)
    bed.wait_exited(sid)
    bed.ao("logs", sid, check=True)
    seen = bed.requests_with("Say hi")
    assert seen and seen[0]["first_user"] == prompt
    con = sqlite3.connect(f"file:{bed.opencode_db}?mode=ro", uri=True)
    dirs = con.execute("SELECT directory FROM session WHERE title='AO:agent-1'").fetchall()
    con.close()
    assert dirs == [(str(evil.resolve()),)], "the agent did not run in the project folder"
    bed.ao("kill", sid, check=True)
    bed.ao("forget", sid, check=True)
    assert markers(tmp_path) == [], "tmux ran a command from a user-controlled string"


def test_the_recorded_socket_not_the_callers_environment_picks_the_tmux_server(bed: Bed, tmp_path: Path) -> None:
    """No tmuxSocket configured: a later `ao` with another $TMUX_TMPDIR (or inside another tmux) still finds it."""
    bed.env["AO_OPENCODE_BIN"] = STANDIN
    (bed.project / "agent-orchestrator.yaml").write_text(
        f"plugins: {{agent: opencode, runtime: tmux}}\nprojects:\n  - name: my-project\n    path: {bed.project}\n"
    )
    first = tmp_path / "tmux-a"
    other = tmp_path / "tmux-b"
    first.mkdir(mode=0o700)
    other.mkdir(mode=0o700)
    spawner = {**bed.env, "TMUX_TMPDIR": str(first)}
    later = {**bed.env, "TMUX_TMPDIR": str(other), "TMUX": f"{other}/default,1,0"}
    server_sock = first / f"tmux-{os.getuid()}" / "default"
    try:
        sid = bed.ao("spawn", "my-project", "[[sleep:60]]", env=spawner, check=True).stdout.strip()
        view = json.loads(bed.ao("status", sid, "--json", env=later, check=True).stdout)
        assert view["status"] == "running" and view["activity"] != "unknown"
        attach = json.loads(bed.ao("attach", sid, "--json", env=later, check=True).stdout)
        assert attach["argv"][1:3] == ["-S", str(server_sock)]
        bed.ao("kill", sid, env=later, check=True)
        panes = subprocess.run(["tmux", "-S", str(server_sock), "list-panes", "-a", "-F", "#{pane_dead}"],
                               capture_output=True, text=True, timeout=15)
        assert "0" not in panes.stdout.split(), "the agent's pane still runs after kill"
        assert json.loads(bed.ao("status", sid, "--json", env=spawner, check=True).stdout)["exitCode"] == 143
    finally:
        subprocess.run(["tmux", "-S", str(server_sock), "kill-server"], capture_output=True, timeout=15)


def test_an_unreachable_tmux_server_is_unknown_never_exited(bed: Bed) -> None:
    standin(bed, runtime="tmux")
    sid = bed.ao("spawn", "my-project", "[[sleep:12]]", check=True).stdout.strip()
    server = psutil.Process(int(bed.tmux("display-message", "-p", "#{pid}").stdout.strip()))
    env = {**bed.env, "AO_TMUX_TIMEOUT": "1"}
    server.suspend()  # tmux answers nothing: a stuck server, not a missing one
    try:
        # The launch script's own PID still says the agent runs.
        view = json.loads(bed.ao("status", "--json", env=env, check=True).stdout)["sessions"][0]
        assert view["status"] == "running" and view["activity"] != "unknown"
        # Without it (a record from before pid files), nothing says: unknown, and never finalized.
        (bed.state_dir / "sessions" / "agent-1" / "pid").unlink()
        view = json.loads(bed.ao("status", "--json", env=env, check=True).stdout)["sessions"][0]
        assert view["status"] == "running" and view["activity"] == "unknown"
        assert bed.ao("status", sid, env=env).stdout.strip() == "unknown"
        assert "status unknown" in bed.ao("status", env=env).stderr
    finally:
        server.resume()
    final = bed.wait_exited(sid)
    assert final["exitCode"] == 0 and final["outcome"]["result"] == "success"


def test_concurrent_resumes_start_exactly_one_agent(bed: Bed) -> None:
    standin(bed)
    sid = bed.ao("spawn", "my-project", "[[sleep:0]]", check=True).stdout.strip()
    bed.wait_exited(sid)
    con = sqlite3.connect(bed.state_dir / "sessions.db")
    con.execute("UPDATE sessions SET opencode_session_id='ses_standin'")  # the stand-in keeps no OpenCode record
    con.commit()
    con.close()
    procs = [
        subprocess.Popen([sys.executable, "-m", "ao_server.cli", "resume", sid, "[[sleep:30]]"], env=bed.env,
                         cwd=bed.project, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [(p.wait(60), *p.communicate()) for p in procs]
    winners = [r for r in results if r[0] == 0]
    assert len(winners) == 1, results
    for code, _, err in results:
        if code != 0:
            assert code == 1 and err.startswith("ao: ") and "Traceback" not in err, err
            assert "being resumed" in err or "still running" in err, err
    view = bed.status_of(sid)
    assert view["runs"] == 2 and view["status"] == "running"
    agents = [p for p in psutil.process_iter(["cmdline", "environ"])
              if STANDIN in (p.info["cmdline"] or []) and (p.info["environ"] or {}).get("AO_STATE_DIR") ==
              str(bed.state_dir)]
    assert len(agents) == 1, f"{len(agents)} agents run for one session"
    bed.ao("kill", sid, check=True)


def test_sigterm_finishes_an_inflight_spawn_and_the_agent_stays_reachable(bed: Bed) -> None:
    standin(bed)
    env = {**bed.env, "AO_FAULT_PAUSE": "after-start:2"}
    conn = Connection([sys.executable, "-m", "ao_server"], env=env, cwd=str(bed.project),
                      stderr=subprocess.DEVNULL)
    try:
        conn.initialize(bed.project, {"stateDir": str(bed.state_dir), "pollInterval": 0.2})
        fut = conn.request_future("ao/spawn", {"project": "my-project", "prompt": "[[sleep:60]]"})
        wait_for(lambda: (bed.state_dir / "sessions" / "agent-1" / "pid").exists(), timeout=30,
                 what="the agent to start")
        conn.proc.send_signal(signal.SIGTERM)  # what VS Code does 2 s after dispose
        view = fut.result(timeout=30)
        assert view["sessionId"] == "my-project/agent-1"
        assert conn.proc.wait(30) == 0
    finally:
        if conn.proc.poll() is None:
            conn.proc.kill()
    assert bed.status_of("my-project/agent-1")["status"] == "running"
    assert bed.ao_json("kill", "my-project/agent-1")["exitCode"] == 143


def test_requests_before_initialize_get_server_not_initialized(bed: Bed) -> None:
    conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project),
                      stderr=subprocess.DEVNULL)
    try:
        with pytest.raises(RpcError) as err:
            conn.request("ao/status", {}, timeout=30)
        assert err.value.code == -32002 and err.value.data == {"kind": "ServerNotInitialized"}
        conn.initialize(bed.project, {"stateDir": str(bed.state_dir)})
        assert conn.request("ao/status", {}, timeout=30)["sessions"] == []
    finally:
        conn.close()


@pytest.mark.parametrize("runtime", ["tmux", "process"])
def test_the_state_dir_is_private_whatever_the_umask(bed: Bed, runtime: str) -> None:
    standin(bed, runtime=runtime)
    env = {**bed.env, "AO_STANDIN_SECONDS": "0"}
    old = os.umask(0o002)
    try:
        sid = bed.ao("spawn", "my-project", "secret task", env=env, check=True).stdout.strip()
        bed.wait_exited(sid)
        bed.ao("logs", sid, check=True)
        bed.ao("kill", sid, check=True)  # closes the tmux pane, saving its scrollback
    finally:
        os.umask(old)
    state = bed.state_dir
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    files = [p for p in state.rglob("*") if not p.is_symlink()]
    names = {p.name for p in files}
    assert {"sessions.db", "env.sh", "prompt-1.txt", "run-1.sh", "exit_code", "pid"} <= names, names
    assert ("output.log" if runtime == "process" else "scrollback.txt") in names
    loose = [f"{p.relative_to(state)} {stat.S_IMODE(p.stat().st_mode):o}" for p in files
             if p.stat().st_mode & 0o077]
    assert loose == [], "readable by other users"


def test_numbers_and_folders_are_never_reused_after_a_store_reset(bed: Bed) -> None:
    standin(bed)
    env = {**bed.env, "AO_STANDIN_SECONDS": "0"}
    for _ in range(2):
        bed.wait_exited(bed.ao("spawn", "my-project", "x", env=env, check=True).stdout.strip())
    for suffix in ("", "-wal", "-shm"):
        Path(f"{bed.state_dir / 'sessions.db'}{suffix}").unlink(missing_ok=True)
    (bed.state_dir / "last-id").unlink()  # even without it, the old folders are not handed out again
    sid = bed.ao("spawn", "my-project", "y", env=env, check=True).stdout.strip()
    assert sid == "my-project/agent-3"
    final = bed.wait_exited(sid)
    assert final["exitCode"] == 0 and final["outcome"]["result"] == "success"
    assert "got: y" in bed.ao("logs", sid, check=True).stdout
    assert "got: x" not in bed.ao("logs", sid, check=True).stdout


def frame(msg: dict[str, object]) -> bytes:
    body = json.dumps(msg).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_client_that_does_not_read_does_not_stall_the_server(bed: Bed) -> None:
    """Far more answers than a pipe holds, while the client only writes: the server keeps reading its
    input (its output waits in its own queue) and every answer arrives once the client reads."""
    proc = subprocess.Popen([sys.executable, "-m", "ao_server"], env=bed.env, cwd=bed.project,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    n = 1500
    init = {"processId": None, "rootUri": None, "capabilities": {},
            "initializationOptions": {"stateDir": str(bed.state_dir), "pollInterval": 3600}}
    data = frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init})
    data += frame({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    data += b"".join(frame({"jsonrpc": "2.0", "id": i, "method": "ao/list", "params": {}}) for i in range(1, n + 1))
    assert proc.stdin is not None and proc.stdout is not None
    writer = threading.Thread(target=lambda: (proc.stdin.write(data), proc.stdin.flush()), daemon=True)
    try:
        writer.start()
        writer.join(120)
        assert not writer.is_alive(), "the server stopped reading while its output was not read"
        ids = set()
        while len(ids) < n + 1:
            length = None
            while (line := proc.stdout.readline().strip()) or length is None:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(proc.stdout.read(length))
            if "id" in msg:
                assert "result" in msg, msg
                ids.add(msg["id"])
        assert ids == set(range(n + 1))
    finally:
        proc.kill()
        proc.wait(10)
