"""The SSH test hosts themselves (tests/support/hosts.py): namespaces, sshd, keys, models, link cuts, cleanup."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
import yaml

from tests.support import hosts as hosts_mod
from tests.support.bed import wait_for
from tests.support.hosts import Hosts

pytestmark = pytest.mark.e2e


def ip(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10).stdout


def cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_hosts_come_up_apart_and_leave_nothing_behind(test_hosts: Callable[..., Hosts], tmp_path: Path) -> None:
    hosts = test_hosts(2)
    h1, h2 = hosts["h1"], hosts["h2"]
    assert [h.name for h in hosts] == ["h1", "h2"] and h1.addr != h2.addr and h1.ns != h2.ns
    assert all(len(name) <= 15 for h in hosts for name in (h.ns, h.veth, h.peer))

    # each host's sessions get its own XDG dirs (sshd SetEnv), and ao's host entry says how to reach it
    for h in hosts:
        out = h.ssh("printenv", "XDG_DATA_HOME", "TMUX_TMPDIR", check=True).stdout.split()
        assert out == [h.env["XDG_DATA_HOME"], h.env["TMUX_TMPDIR"]] and out[0].startswith(str(h.root))
    direct = subprocess.run(["ssh", "-F", str(hosts.ssh_config), "h2", "--", "printenv", "XDG_DATA_HOME"],
                            capture_output=True, text=True, timeout=20)
    assert direct.stdout.strip() == h2.env["XDG_DATA_HOME"] != h1.env["XDG_DATA_HOME"]
    entries = yaml.safe_load(hosts.config_yaml())["hosts"]
    assert entries[0] == {"name": "h1", "ssh": "h1", "sshConfig": str(hosts.ssh_config),
                          "stateDir": str(h1.state_dir), "opencode": hosts.opencode}

    # host keys are checked: with a known_hosts that lacks the key, the connection is refused
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refused = h1.ssh("true", options=["-o", f"UserKnownHostsFile={empty}"])
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr

    # from inside h1, h1's own fake model answers (on its gateway address), and only it gets the request
    marker = "hello-from-h1"
    ask = (f"import json, urllib.request; req = urllib.request.Request('{h1.model.base_url}/chat/completions', "
           f"data=json.dumps({{'model': 'fake-model', 'messages': [{{'role': 'user', 'content': '{marker}'}}]}})"
           ".encode(), headers={'Content-Type': 'application/json'}); "
           "print(json.load(urllib.request.urlopen(req, timeout=5))['choices'][0]['message']['content'])")
    assert h1.exec("python3", "-c", ask, check=True).stdout.strip().startswith("Done.")
    assert len(h1.requests_with(marker)) == 1 and not h2.requests_with(marker)
    config = json.loads(h1.opencode_config.read_text())
    assert config["provider"]["fake"]["options"]["baseURL"] == h1.model.base_url == f"http://{h1.gateway}:" \
        f"{h1.model.port}/v1"

    # processes the hosts run: a tmux server on the host's socket, a detached process started over ssh
    assert h1.tmux("new-session", "-d", "-s", "s", "sleep 300").returncode == 0
    tmux_pid = int(h1.tmux("display-message", "-p", "-t", "s", "#{pid}").stdout)
    h2.ssh("setsid sleep 301 </dev/null >/dev/null 2>&1 &", check=True)
    sleeper = wait_for(lambda: [p for p in hosts_mod.netns_pids(h2.ns) if cmdline(p)[:2] == ["sleep", "301"]],
                       timeout=10, what="the process started over ssh, in h2's namespace")
    assert tmux_pid in hosts_mod.netns_pids(h1.ns)

    # a cut link: new connections to h1 time out within ConnectTimeout (5 s); h2 is unaffected; then h1 is back
    h1.link_down()
    started = time.monotonic()
    cut = h1.ssh("true", timeout=20)
    assert cut.returncode == 255 and time.monotonic() - started < 7, cut.stderr
    h2.ssh("true", check=True)
    h1.link_up()
    h1.ssh("true", check=True)
    h1.link_down(mode="reject")  # fails at once instead
    started = time.monotonic()
    assert h1.ssh("true").returncode == 255 and time.monotonic() - started < 2
    h1.link_up()
    assert h1.ssh("echo", "back", check=True).stdout.strip() == "back"

    sshd_pids = [h.sshd_pid for h in hosts]
    assert all(sshd_pids)
    hosts.cleanup()
    namespaces = ip("netns", "list")
    links = ip("-o", "link")
    assert not any(h.ns in namespaces for h in hosts)
    assert not any(name in links for name in [hosts.sink, *(h.veth for h in hosts)])
    assert not any(h.subnet.rsplit(".", 1)[0] + "." in ip("-4", "route", "show", "table", "all") for h in hosts)
    assert not [pid for pid in [*sshd_pids, tmux_pid, *sleeper] if pid and alive(pid)]


def test_opencode_on_a_host_uses_that_hosts_model(test_hosts: Callable[..., Hosts]) -> None:
    hosts = test_hosts(2)
    h1, h2 = hosts["h1"], hosts["h2"]
    project = h1.root / "project"
    project.mkdir()
    run = h1.ssh(f"cd {project} && {hosts.opencode} run 'say hi marker-7f3'", timeout=120)
    assert run.returncode == 0, run.stderr
    assert h1.requests_with("marker-7f3") and not h2.requests_with("marker-7f3")
    assert h1.opencode_db.exists() and not h2.opencode_db.exists()


@pytest.mark.parametrize("ci", ["true", ""])
def test_unavailable_skips_off_ci_and_fails_on_ci(ci: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception if ci else pytest.skip.Exception, match="no sshd here"):
        hosts_mod.unavailable("no sshd here")
