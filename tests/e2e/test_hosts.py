"""Agents on remote hosts over SSH, end to end: real hosts (network namespaces, each with its own sshd and
fake model, see tests/support/hosts.py), real ssh with host-key checking on, real tmux and OpenCode there."""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ao_server.remote import stop_masters
from tests.support import squatter
from tests.support.bed import Bed, wait_for
from tests.support.hosts import Host, Hosts

MakeHosts = Callable[..., Hosts]
# No backslash: OpenCode 1.18.33 itself fails in such a folder, here as well as there ("Unexpected server error").
EVIL = "we ird $(touch PWNED1) ; `touch PWNED2` #(touch PWNED3) #{pane_pid} 'q' \"dq\" *\nnext line"


@pytest.fixture(autouse=True)
def _close_shared_connections(bed: Bed) -> Any:
    """ao's ssh master connections outlive its commands (ControlPersist): close them after each test."""
    yield
    stop_masters(bed.state_dir)


def write_config(bed: Bed, hosts: Hosts, projects: dict[str, Path | tuple[Path, str]]) -> None:
    """Local projects (a path) and remote ones ((path, host)) with the hosts' section."""
    lines = ["plugins:", "  runtime: tmux", "runtime:", f"  tmuxSocket: {bed.tmux_socket}", "projects:"]
    for name, where in projects.items():
        path, host = where if isinstance(where, tuple) else (where, None)
        lines += [f"  - name: {name}", f"    path: {json.dumps(str(path))}"]
        if host:
            lines.append(f"    host: {host}")
    bed.write_config(hosts.config_yaml() + "\n".join(lines) + "\n")


def workdir(host: Host, name: str = "work") -> Path:
    path = host.root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def sessions(bed: Bed) -> dict[str, dict[str, Any]]:
    return {s["sessionId"]: s for s in bed.ao_json("status", "--all")["sessions"]}


def agent_processes(folder: Path) -> list[psutil.Process]:
    """Processes (in any namespace) whose command line names a file of this remote session folder."""
    mark = str(folder) + "/"
    out = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info.get("status") != psutil.STATUS_ZOMBIE and any(mark in a for a in p.info.get("cmdline") or []):
            out.append(p)
    return out


def local_titles(db: Path) -> set[str]:
    if not db.exists():
        return set()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {t for (t,) in con.execute("SELECT title FROM session")}
    finally:
        con.close()


def test_agents_on_two_hosts_and_here_at_once(bed: Bed, test_hosts: MakeHosts) -> None:
    hosts = test_hosts(2)
    h1, h2 = hosts["h1"], hosts["h2"]
    far1, far2 = workdir(h1), workdir(h2)
    write_config(bed, hosts, {"here": bed.project, "far1": (far1, "h1"), "far2": (far2, "h2")})

    # Spawn on both hosts and here at the same time.
    asks = {
        "far1": "task one [[write:one.txt:from h1]] [[slow:3]]",
        "far2": "task two [[write:two.txt:from h2]] [[slow:3]]",
        "here": "task three [[write:three.txt:from here]] [[slow:3]]",
    }
    spawned: dict[str, dict[str, Any]] = {}

    def spawn(project: str) -> None:
        spawned[project] = bed.ao_json("spawn", project, asks[project])

    threads = [threading.Thread(target=spawn, args=(p,)) for p in asks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(spawned) == set(asks), "every spawn answered"
    s1, s2, s3 = (spawned[p]["sessionId"] for p in ("far1", "far2", "here"))
    assert spawned["far1"]["runtime"] == "ssh" and spawned["far1"]["host"] == "h1"
    assert spawned["far2"]["host"] == "h2" and spawned["here"]["host"] is None

    # Status while they run: each where it is.
    now = sessions(bed)
    assert now[s1]["status"] in ("running", "exited") and now[s1]["host"] == "h1"
    table = bed.ao("status", check=True).stdout
    assert "ssh:h1" in table and "ssh:h2" in table

    done = {sid: bed.wait_exited(sid) for sid in (s1, s2, s3)}
    for sid, s in done.items():
        assert s["exitCode"] == 0 and s["outcome"]["result"] == "success", (sid, s)
        assert s["cost"]["usd"] > 0 and s["cost"]["tokens"]["input"] > 0, (sid, s["cost"])  # OpenCode's own records
        assert s["opencodeSessionId"]
    # Each agent worked in its own machine's folder, with its own model and its own OpenCode data.
    assert (far1 / "one.txt").read_text() == "from h1" and (far2 / "two.txt").read_text() == "from h2"
    assert (bed.project / "three.txt").read_text() == "from here"
    assert h1.requests_with("task one") and not h2.requests_with("task one") and not bed.requests_with("task one")
    assert h2.requests_with("task two") and bed.requests_with("task three")
    assert "AO:agent-" + s1.split("agent-")[1] in local_titles(h1.opencode_db)
    assert "AO:agent-" + s1.split("agent-")[1] not in local_titles(bed.opencode_db)
    # The agent's environment carries its ids there too.
    env = (h1.state_dir / "sessions" / done[s1]["id"] / "env.sh").read_text()
    assert f"AO_SESSION_ID={done[s1]['id']}" in env and "AO_PROJECT_ID=far1" in env

    # Logs come from the host's pane.
    logs = bed.ao("logs", s1, check=True).stdout
    assert "[ao] the agent exited with code 0" in logs

    # Attach: a real tmux client attached through ssh, from a terminal here.
    att = bed.ao_json("attach", s1)
    assert att["type"] == "ssh" and att["argv"][0].endswith("ssh") and "h1" in att["argv"]
    assert f"attach -t ={'ao-' + done[s1]['id']}" in att["command"]
    bed.tmux("new-session", "-d", "-s", "viewer", "-x", "120", "-y", "40", att["command"])
    clients = wait_for(lambda: h1.tmux("list-clients", "-F", "#{session_name}").stdout.strip(), timeout=30,
                       what="a tmux client attached on h1")
    assert clients == "ao-" + done[s1]["id"]
    seen = ""

    def shown() -> bool:
        nonlocal seen
        seen = bed.tmux("capture-pane", "-p", "-t", "=viewer:").stdout
        # The host's tmux, drawn here: the kept pane of the exited agent and the host's status line.
        return ("the agent exited with code 0" in seen or "Pane is dead (status 0" in seen) and "[ao-agent-" in seen

    try:
        wait_for(shown, timeout=30, what="the remote pane on the local terminal")
    except AssertionError:
        raise AssertionError(f"the viewer shows: {seen!r}") from None
    bed.tmux("kill-session", "-t", "=viewer")

    # Resume on the host: the same OpenCode session continues there.
    resumed = bed.ao_json("resume", s1, "and one more thing [[tokens:30,7]]")
    assert resumed["runs"] == 2 and resumed["host"] == "h1"
    again = bed.wait_exited(s1)
    assert again["exitCode"] == 0 and again["opencodeSessionId"] == done[s1]["opencodeSessionId"]
    assert again["cost"]["usd"] > done[s1]["cost"]["usd"]
    assert any("and one more thing" in (r.get("user") or "") for r in list(h1.model.requests))

    # Kill a long one on h2: it stops there, and its tmux session closes.
    long = bed.ao_json("spawn", "far2", "a long one [[slow:120]]")
    folder = h2.state_dir / "sessions" / long["id"]
    wait_for(lambda: agent_processes(folder), timeout=60, what="the long agent to run on h2")
    wait_for(lambda: h2.requests_with("a long one"), timeout=60, what="h2's model to be asked")
    killed = bed.ao_json("kill", long["sessionId"])
    assert killed["status"] == "exited" and killed["exitCode"] == 143 and killed["outcome"]["result"] == "killed"
    assert not agent_processes(folder)
    assert h2.tmux("has-session", "-t", f"=ao-{long['id']}").returncode != 0

    # `ao hosts`: both reachable, with what they run.
    listed = {h["name"]: h for h in bed.ao_json("hosts")["hosts"]}
    assert listed["h1"]["reachable"] and listed["h1"]["tmux"].startswith("tmux ") and listed["h1"]["opencode"]
    assert listed["h1"]["problems"] == [] and listed["h1"]["rttMs"] > 0
    assert bed.ao("doctor", "h2").returncode == 0

    # The models OpenCode offers there (the host's own config), and the projects' hosts.
    models = bed.ao_json("models", "far1")
    assert models["project"] == "far1" and models["models"] and all("/" in m for m in models["models"])
    assert any(m.startswith("fake/") for m in models["models"]), models
    projects = {p["name"]: p for p in bed.ao_json("projects")["projects"]}
    assert projects["far1"]["host"] == "h1" and projects["far1"]["runtime"] == "ssh"
    assert projects["here"]["host"] is None


def test_nothing_a_user_controls_runs_as_code_on_the_host(bed: Bed, test_hosts: MakeHosts) -> None:
    """Spaces, quotes, $(), ;, backticks, #(...), a newline in the project's path there and in the prompt."""
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    far = workdir(h1, EVIL)
    write_config(bed, hosts, {"here": bed.project, "far": (far, "h1")})
    prompt = "check $(touch PWNED4); `touch PWNED5` #(touch PWNED6)\nsecond line 'q' \"dq\" \\ [[write:ok.txt:done]]"
    s = bed.ao_json("spawn", "far", prompt, "--issue", "ISSUE-7")
    assert s["workdir"] == str(far)
    done = bed.wait_exited(s["sessionId"])
    assert done["exitCode"] == 0, bed.ao("logs", s["sessionId"]).stdout
    assert (far / "ok.txt").read_text() == "done"
    got = h1.requests_with("check $(touch PWNED4)")
    assert got and "second line 'q' \"dq\"" in got[0]["first_user"]  # the prompt arrived byte for byte
    env = (h1.state_dir / "sessions" / s["id"] / "env.sh").read_text()
    assert "AO_ISSUE_ID=ISSUE-7" in env
    for root in (h1.root, bed.root, Path.home(), Path("/")):
        assert not list(root.glob("PWNED*")), root
    assert not list(far.glob("PWNED*"))
    assert bed.ao("kill", s["sessionId"]).returncode == 0 and bed.ao("forget", s["sessionId"]).returncode == 0


def test_a_cut_link_makes_a_host_unreachable_never_exited(bed: Bed, test_hosts: MakeHosts) -> None:
    hosts = test_hosts(2)
    h1, h2 = hosts["h1"], hosts["h2"]
    write_config(bed, hosts, {"here": bed.project, "far1": (workdir(h1), "h1"), "far2": (workdir(h2), "h2")})
    long = bed.ao_json("spawn", "far1", "run on [[slow:300]]")
    other = bed.ao_json("spawn", "far2", "elsewhere [[slow:300]]")
    for h, marker in ((h1, "run on"), (h2, "elsewhere")):
        wait_for(lambda h=h, m=marker: h.requests_with(m), timeout=90, what=f"{marker!r} to reach {h.name}'s model")
    # One that finishes on the host before anyone here looks: its exit is only known there.
    short = bed.ao_json("spawn", "far1", "a quick one [[tokens:40,9]]")
    exit_file = h1.state_dir / "sessions" / short["id"] / "exit_code"
    wait_for(exit_file.exists, timeout=90, what="the quick agent to exit on h1")

    h1.link_down()
    try:
        view = sessions(bed)
        for sid in (short["sessionId"], long["sessionId"]):
            assert view[sid]["status"] == "running" and view[sid]["activity"] == "unreachable", view[sid]
            assert view[sid]["unreachableSince"] is not None and view[sid]["exitCode"] is None
        assert view[other["sessionId"]]["activity"] != "unreachable" and view[other["sessionId"]]["status"] == "running"
        status = bed.ao("status")
        assert "unreachable" in status.stdout and "host h1" in status.stderr and "unreachable since" in status.stderr
        # What needs the host says so and changes nothing.
        failed = bed.ao("logs", long["sessionId"])
        assert failed.returncode == 1 and "host h1" in failed.stderr and "unreachable" in failed.stderr
        spawn = bed.ao("spawn", "far1", "not now")
        assert spawn.returncode == 1 and "h1" in spawn.stderr
        assert len(sessions(bed)) == 3, "a failed spawn keeps nothing"
        hosts_view = {h["name"]: h for h in bed.ao_json("hosts")["hosts"]}
        assert hosts_view["h1"]["reachable"] is False and hosts_view["h1"]["sessions"] == 2
        assert hosts_view["h2"]["reachable"] is True and hosts_view["h2"]["sessions"] == 1
        assert bed.ao("doctor", "h1").returncode == 1
        assert sessions(bed)[short["sessionId"]]["status"] == "running", "no exit without evidence"
    finally:
        h1.link_up()

    # Back: the truth, from the host's own records.
    done = bed.wait_exited(short["sessionId"], timeout=120)
    assert done["exitCode"] == 0 == int(exit_file.read_text()) and done["unreachableSince"] is None
    assert done["outcome"]["result"] == "success" and done["cost"]["tokens"]["input"] == 40
    back = wait_for(lambda: (s := sessions(bed)[long["sessionId"]])["activity"] != "unreachable" and s, timeout=60,
                    what="the long session to be seen again")
    long_exit = h1.state_dir / "sessions" / long["id"] / "exit_code"
    if long_exit.exists():  # its model stream may not have survived the cut: then it ended, and says how
        assert back["status"] == "exited" and back["exitCode"] == int(long_exit.read_text())
    else:
        assert back["status"] == "running" and back["unreachableSince"] is None
    assert sessions(bed)[other["sessionId"]]["status"] == "running"
    for s in (long, other):
        bed.ao("kill", s["sessionId"], check=True)


def test_a_changed_host_key_is_refused_and_said(bed: Bed, test_hosts: MakeHosts, tmp_path: Path) -> None:
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    pub = other_key.with_suffix(".pub").read_text().split()
    known = tmp_path / "known_hosts_wrong"
    known.write_text(f"{h1.addr} {pub[0]} {pub[1]}\nh1 {pub[0]} {pub[1]}\n")
    cfg = tmp_path / "ssh_config_wrong"
    cfg.write_text(hosts.ssh_config.read_text().replace(str(hosts.known_hosts), str(known)))
    bed.write_config(
        f"hosts:\n  - name: h1\n    ssh: h1\n    sshConfig: {cfg}\n    stateDir: {h1.state_dir}\n"
        f"    opencode: {hosts.opencode}\nprojects:\n  - name: far\n    path: {workdir(h1)}\n    host: h1\n"
    )
    doctor = bed.ao("doctor", "h1")
    assert doctor.returncode == 1 and "host key" in doctor.stdout.lower(), doctor.stdout
    spawn = bed.ao("spawn", "far", "never")
    assert spawn.returncode == 1 and "host key" in spawn.stderr.lower()
    assert not h1.requests_with("never") and sessions(bed) == {}


def test_worktrees_on_a_host(bed: Bed, test_hosts: MakeHosts) -> None:
    """workspace: worktree on a remote project: git there makes the worktree and branch, cleanup removes them."""
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    repo = workdir(h1, "repo")
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True)
    (repo / "README").write_text("hello\n")
    subprocess.run(["git", "-C", str(repo), "add", "README"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", "init"], check=True)
    bed.write_config(
        hosts.config_yaml()
        + f"projects:\n  - name: far\n    path: {repo}\n    host: h1\n    workspace: worktree\n"
    )
    s = bed.ao_json("spawn", "far", "in a worktree [[write:new.txt:from the agent]]")
    ws = s["workspace"]
    wt = Path(ws["path"])
    assert ws["branch"] == f"ao/{s['id']}" and ws["base"] == "main" and ws["repo"] == str(repo)
    assert wt == h1.state_dir / "worktrees" / "far" / s["id"] and s["workdir"] == str(wt)
    done = bed.wait_exited(s["sessionId"])
    assert done["exitCode"] == 0
    assert (wt / "new.txt").read_text() == "from the agent" and not (repo / "new.txt").exists()
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", ws["branch"]], capture_output=True,
                              text=True)
    assert ws["branch"] in branches.stdout
    details = bed.ao_json("status", s["sessionId"], "--details")
    assert details["workspace"]["dirty"] is True and details["workspace"]["ahead"] == 0, bed.ao(
        "status", s["sessionId"], "--details", "--debug").stderr
    refused = bed.ao("cleanup", s["sessionId"])
    assert refused.returncode != 0 and "uncommitted changes" in refused.stderr and wt.exists()
    assert bed.ao("cleanup", s["sessionId"], "--force").returncode == 0
    assert not wt.exists()
    branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", ws["branch"]], capture_output=True,
                              text=True)
    assert branches.stdout.strip() == ""
    review = bed.ao("diff", s["sessionId"])
    assert review.returncode != 0 and "not supported yet" in review.stderr



@pytest.fixture
def squatters() -> Iterator[list[squatter.Squatter]]:
    """Port squatters of another uid (tests/support/squatter.py) that a test starts; stopped after it."""
    started: list[squatter.Squatter] = []
    yield started
    for s in started:
        s.stop()


def test_live_agents_on_a_host_through_an_ssh_forward(
    bed: Bed, test_hosts: MakeHosts, squatters: list[squatter.Squatter]
) -> None:
    """A live agent there: the host's own OpenCode server on its loopback, reached through ssh -L; a permission it
    asks is answered here; its TUI opens through ssh; nothing listens on the host's network address. Another
    user here and another user there squat every port they see: they get nothing."""
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    squatters += [squatter.start(), squatter.start(netns=h1.ns)]
    far = workdir(h1)
    write_config(bed, hosts, {"here": bed.project, "far": (far, "h1")})
    oc_config = json.loads(h1.opencode_config.read_text())
    h1.opencode_config.write_text(json.dumps({**oc_config, "permission": {"bash": "ask"}}))  # OpenCode asks first
    sid = bed.ao("spawn", "--live", "far", "run it [[bash:echo hi > ran.txt]]", check=True).stdout.strip()
    try:
        view = wait_for(lambda: (v := bed.status_of(sid))["pending"] and v, timeout=90, what="the permission request")
    except AssertionError:
        raise AssertionError(
            f"{bed.ao('status', sid, '--json', '-v')}\n{list(h1.model.requests)[-2:]}\n"
            + (h1.state_dir / "opencode-server.log").read_text()[-2000:]
        ) from None
    assert view["runtime"] == "live" and view["host"] == "h1" and view["activity"] == "waiting_input"
    req = view["pending"][0]
    assert req["kind"] == "permission" and req["command"] == "echo hi > ran.txt"
    assert not (far / "ran.txt").exists(), "nothing runs before the person answers"

    # The server runs on the host, on its loopback only; here, only ssh's forward listens.
    info = json.loads((h1.state_dir / "opencode-server.json").read_text())
    assert oct((h1.state_dir / "opencode-server.json").stat().st_mode & 0o777) == "0o600"
    listening = h1.exec("ss", "-Htlnp").stdout
    ports = [line.split()[3] for line in listening.splitlines() if f":{info['port']}" in line.split()[3]]
    assert ports == [f"127.0.0.1:{info['port']}"], listening
    assert psutil.Process(info["pid"]).cmdline()[1:3] == ["serve", "--hostname"]
    record = json.loads((bed.state_dir / "hosts" / "h1-live.json").read_text())
    forward = psutil.Process(record["fwdPid"]).cmdline()
    assert forward[0].endswith("ssh") and f"{record['socket']}:127.0.0.1:{info['port']}" in forward
    # Here the forward is a unix socket in a private folder: no loopback port another local user could take first.
    assert Path(record["socket"]).is_socket() and Path(record["socket"]).parent.stat().st_mode & 0o077 == 0
    assert not [c for c in psutil.Process(record["fwdPid"]).net_connections("inet") if c.status == "LISTEN"]
    assert info["password"] not in " ".join(forward)

    done = bed.ao("respond", sid, "--once")
    assert done.returncode == 0, done.stderr
    ended = bed.wait_exited(sid)
    assert (far / "ran.txt").read_text() == "hi\n"
    login_umask = int(h1.ssh("umask", check=True).stdout.strip(), 8)  # the host's server keeps the user's umask
    assert (far / "ran.txt").stat().st_mode & 0o777 == 0o666 & ~login_umask, oct((far / "ran.txt").stat().st_mode)
    assert ended["exitCode"] == 0 and ended["outcome"]["result"] == "success"
    assert ended["opencodeSessionId"].startswith("ses_") and ended["cost"]["usd"] > 0  # the host's records
    assert h1.requests_with("run it") and not bed.requests_with("run it")

    # A follow-up goes to the same session there; attach opens OpenCode's TUI on the host through ssh.
    sent = bed.ao("send", sid, "one more [[slow:30]]")
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: bed.status_of(sid)["status"] == "running", timeout=60, what="the follow-up to run")
    att = bed.ao_json("attach", sid)
    assert att["type"] == "ssh" and "attach http://127.0.0.1:" in att["command"] and info["password"] not in att[
        "command"]
    bed.tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "45", att["command"])
    wait_for(lambda: any("attach" in cmd and "--session" in cmd for cmd in command_lines(h1)), timeout=30,
             what="OpenCode's TUI running on h1")
    bed.tmux("kill-session", "-t", "=tui")
    aborted = bed.ao("abort", sid)
    assert aborted.returncode == 0, aborted.stderr
    after = bed.wait_exited(sid, timeout=60)
    assert after["status"] == "exited"
    token = base64.b64encode(f"opencode:{info['password']}".encode()).decode()
    for s in squatters:  # (they see every process of this machine: only what is this test's counts)
        assert s.proc.poll() is None, "a squatter died"
        got = s.received
        assert token not in got and info["password"] not in got and "run it" not in got, got[:300]
        assert str(far) not in got and urllib.parse.quote(str(far), safe="") not in got, got[:300]


def command_lines(host: Host) -> list[str]:
    """The command lines of the processes running in the host's network namespace."""
    from tests.support.hosts import netns_pids

    out = []
    for pid in netns_pids(host.ns):
        try:
            out.append(" ".join(psutil.Process(pid).cmdline()))
        except psutil.Error:
            pass
    return out
