"""Remote hosts, hardened: the control sockets' folder at the length boundary, private state and the user's umask
on the host, `ao forget` removing what it kept there, and a host whose sshd hangs. Real hosts (network namespaces,
each with its own sshd and fake model: tests/support/hosts.py), real ssh, tmux and OpenCode there."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ao_server.remote import POLL_TIMEOUT, control_dir, stop_masters
from tests.support.bed import Bed, wait_for
from tests.support.hosts import Hosts

MakeHosts = Callable[..., Hosts]


@pytest.fixture(autouse=True)
def _close_shared_connections(bed: Bed) -> Iterator[None]:
    """ao's ssh master connections outlive its commands (ControlPersist): close them after each test."""
    yield
    stop_masters(bed.state_dir)


def remote_config(bed: Bed, hosts: Hosts, work: Path) -> None:
    bed.write_config(
        hosts.config_yaml()
        + f"runtime:\n  tmuxSocket: {bed.tmux_socket}\nprojects:\n  - name: far\n    path: {work}\n    host: h1\n"
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_control_socket_folders_at_the_length_boundary(bed: Bed, test_hosts: MakeHosts) -> None:
    """State dirs whose ssh/ folder is 48 to 70 bytes long: every one reaches the host (OpenSSH binds the master's
    socket at <ControlPath>.<16 random characters> first, so a folder of 50-66 bytes used to fail every call)."""
    hosts = test_hosts(1)
    work = hosts["h1"].root / "work"
    work.mkdir()
    remote_config(bed, hosts, work)
    base = Path(tempfile.mkdtemp(prefix="ao-cd-", dir="/tmp"))
    made: list[Path] = []
    try:
        failed = {}
        for length in range(48, 71):
            state = base / ("s" * (length - len("/ssh") - len(str(base)) - 1))
            assert len(os.fsencode(str(state / "ssh"))) == length
            made.append(state)
            view = bed.ao("hosts", "--json", env={**bed.env, "AO_STATE_DIR": str(state)})
            h1 = json.loads(view.stdout)["hosts"][0] if view.returncode == 0 else {}
            doctor = bed.ao("doctor", "h1", env={**bed.env, "AO_STATE_DIR": str(state)})
            if not h1.get("reachable") or doctor.returncode != 0 or "reachable" not in doctor.stdout:
                failed[length] = h1.get("error") or view.stderr or doctor.stdout
        assert not failed, f"unreachable with ssh folders of {sorted(failed)} bytes: {next(iter(failed.values()), '')}"
    finally:
        for state in made:
            try:
                socks = control_dir(state)
                stop_masters(state)
                if not socks.is_relative_to(base):
                    shutil.rmtree(socks, ignore_errors=True)
            except Exception:
                pass
        shutil.rmtree(base, ignore_errors=True)


def test_a_host_keeps_ao_private_and_the_agent_the_users_umask(bed: Bed, test_hosts: MakeHosts) -> None:
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    state = h1.root / "ao" / "state"  # ao makes it, and its parent, on the host
    work = h1.root / "work"
    work.mkdir()
    cfg = hosts.config_yaml().replace(f"stateDir: {h1.state_dir}", f"stateDir: {state}")
    assert str(state) in cfg
    bed.write_config(cfg + f"projects:\n  - name: far\n    path: {work}\n    host: h1\n")
    assert bed.ao("doctor", "h1").returncode == 0
    assert mode(state) == 0o700 and mode(state.parent) == 0o700, (oct(mode(state)), oct(mode(state.parent)))

    login_umask = int(h1.ssh("umask", check=True).stdout.strip(), 8)  # what a user's own ssh there runs with
    assert login_umask & 0o077 != 0o077, "the host's login umask must let others read, for this test to mean much"
    s = bed.ao_json("spawn", "far", "write it [[write:made.txt:by the agent]]")
    done = bed.wait_exited(s["sessionId"])
    assert done["exitCode"] == 0, bed.ao("logs", s["sessionId"]).stdout
    made = work / "made.txt"
    assert made.read_text() == "by the agent"
    assert mode(made) == 0o666 & ~login_umask, f"{oct(mode(made))} with the host's umask {oct(login_umask)}"
    # ao's own files there stay private.
    folder = state / "sessions" / s["id"]
    assert mode(state) == 0o700 and mode(folder) == 0o700
    for name in ("env.sh", "prompt-1.txt", "exit_code", "pid"):
        assert mode(folder / name) == 0o600, (name, oct(mode(folder / name)))
    bed.ao("kill", s["sessionId"], check=True)  # closes its kept pane, saving its text
    assert mode(folder / "scrollback.txt") == 0o600


def test_forget_removes_the_session_folder_on_the_host(bed: Bed, test_hosts: MakeHosts) -> None:
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    work = h1.root / "work"
    work.mkdir()
    remote_config(bed, hosts, work)
    secret = "a prompt that should not outlive forget"
    s = bed.ao_json("spawn", "far", secret)
    bed.wait_exited(s["sessionId"])
    folder = h1.state_dir / "sessions" / s["id"]
    assert (folder / "prompt-1.txt").read_text().startswith(secret)
    forgot = bed.ao("forget", s["sessionId"])
    assert forgot.returncode == 0 and forgot.stderr == "", forgot.stderr
    assert not folder.exists(), sorted(p.name for p in folder.iterdir())
    assert h1.tmux("has-session", "-t", f"=ao-{s['id']}").returncode != 0, "its kept pane is closed"
    assert bed.ao("status", s["sessionId"]).returncode != 0

    # A host that does not answer: the record goes, and ao says what is left there and how to remove it.
    other = bed.ao_json("spawn", "far", "another one")
    bed.wait_exited(other["sessionId"])
    folder = h1.state_dir / "sessions" / other["id"]
    stop_masters(bed.state_dir)
    h1.link_down("reject")
    try:
        forgot = bed.ao("forget", other["sessionId"])
    finally:
        h1.link_up()
    assert forgot.returncode == 0, forgot.stderr
    said = forgot.stderr
    assert "left behind" in said and "host h1" in said and str(folder) in said and "unreachable" in said, said
    assert folder.exists() and bed.ao("status", other["sessionId"]).returncode != 0
    command = said.split("`")[1]  # the command it gives, run as the user would
    assert command.startswith("ssh "), command
    subprocess.run(command, shell=True, check=True, timeout=60, capture_output=True)
    assert not folder.exists()


def status_of_hung(bed: Bed, sid: str) -> tuple[dict[str, Any], str]:
    proc = bed.ao("status", "--json", timeout=40)  # a hang guard only
    assert proc.returncode == 0, proc.stderr
    view = {x["sessionId"]: x for x in json.loads(proc.stdout)["sessions"]}[sid]
    assert view["status"] == "running" and view["activity"] == "unreachable", view
    assert view["unreachableSince"] is not None and "host h1" in proc.stderr, proc.stderr
    return view, proc.stderr


def test_status_answers_while_the_hosts_sshd_or_a_command_there_hangs(bed: Bed, test_hosts: MakeHosts) -> None:
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    work = h1.root / "work"
    work.mkdir()
    remote_config(bed, hosts, work)
    s = bed.ao_json("spawn", "far", "a long one [[slow:300]]")
    sid = s["sessionId"]
    wait_for(lambda: h1.requests_with("a long one"), timeout=90, what="the agent to ask h1's model")

    # Its sshd stopped (SIGSTOP): it takes the connection and never says a word.
    pid = h1.sshd_pid
    assert pid is not None
    stop_masters(bed.state_dir)  # no shared connection: the next call must get through the stopped sshd
    os.kill(pid, signal.SIGSTOP)
    try:
        for _ in range(2):  # the first look waits for ssh's connect timeout, the next is told at once
            _, said = status_of_hung(bed, sid)
            assert "does not answer" in said and "hung" in said, said
        hosts_view = bed.ao_json("hosts", timeout=40)["hosts"][0]
        assert hosts_view["reachable"] is False and "does not answer" in hosts_view["error"], hosts_view
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: bed.status_of(sid)["activity"] != "unreachable", timeout=60, what="h1 to answer again")

    # ssh fine, but the status command there hangs (its tmux server stopped): the look-up's short timeout.
    tmux_pid = int(h1.tmux("display-message", "-p", "#{pid}").stdout.strip())
    os.kill(tmux_pid, signal.SIGSTOP)
    try:
        _, said = status_of_hung(bed, sid)
        assert f"no answer within {POLL_TIMEOUT:g} s" in said and "slow" in said, said
    finally:
        os.kill(tmux_pid, signal.SIGCONT)
    back = wait_for(
        lambda: (v := bed.status_of(sid))["activity"] != "unreachable" and v,
        timeout=60,
        what="the session to be seen again",
    )
    assert back["status"] == "running" and back["unreachableSince"] is None
    bed.ao("kill", sid, check=True)


def test_status_of_a_live_agent_answers_while_its_hosts_link_hangs(bed: Bed, test_hosts: MakeHosts) -> None:
    """A live agent there: its server's look-ups over ssh get the short timeout and the down-host back-off, so a
    hung link (packets dropped) makes its session `unreachable` within a poll, not after 90 s."""
    hosts = test_hosts(1)
    h1 = hosts["h1"]
    work = h1.root / "work"
    work.mkdir()
    remote_config(bed, hosts, work)
    s = bed.ao_json("spawn", "--live", "far", "a long live one [[slow:300]]")
    sid = s["sessionId"]
    wait_for(lambda: h1.requests_with("a long live one"), timeout=90, what="the live agent to ask h1's model")
    assert bed.status_of(sid)["status"] == "running"

    h1.link_down()
    try:
        for _ in range(2):  # the first look waits for ssh to give up, the next is told at once
            status_of_hung(bed, sid)
    finally:
        h1.link_up()
    back = wait_for(
        lambda: (v := bed.status_of(sid))["activity"] != "unreachable" and v,
        timeout=90,
        what="the live session to be seen again",
    )
    assert back["status"] == "running" and back["unreachableSince"] is None, back
    bed.ao("kill", sid, check=True)
