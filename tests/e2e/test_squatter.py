"""Another local user who squats the OpenCode server's port gets no password and no prompt.

A squatter runs as uid 65534 (``tests/support/squatter.py``): it binds every port it sees in a
command line or listened on by another user, before the real server can or after it went away,
and answers like an OpenCode server would. ao must send it nothing, while its live agents work
with the genuine server (or fail with a clear error).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from ao_server.errors import OpenCodeServerError
from ao_server.runtimes.live import Api, ServerInfo
from ao_server.runtimes.loopback import listens, peer_uid
from tests.support import squatter
from tests.support.bed import Bed, wait_for
from tests.support.hosts import in_ci


@pytest.fixture
def squat() -> Iterator[squatter.Squatter]:
    if os.getuid() != 0:
        if in_ci():
            pytest.fail("CI=true and a squatter of another uid cannot be started: it needs root (setpriv --reuid)")
        pytest.skip("a squatter of another uid needs root (setpriv --reuid)")
    with socket.socket() as probe:  # a port of its own, so that it holds one whatever else runs here
        probe.bind(("127.0.0.1", 0))
        own = probe.getsockname()[1]
    s = squatter.start(ports=(4096, own))  # 4096: the port OpenCode tries first when it picks its own
    try:
        wait_for(lambda: s.bound or s.proc.poll() is not None, timeout=30, what="the squatter to start")
        assert s.proc.poll() is None, "the squatter did not start"
        yield s
    finally:
        s.stop()


def _server(bed: Bed) -> dict[str, object]:
    return json.loads((bed.state_dir / "opencode-server.json").read_text())  # type: ignore[no-any-return]


def test_a_squatter_gets_no_password_and_no_prompt_and_the_agent_works(bed: Bed, squat: squatter.Squatter) -> None:
    bed.write_config(runtime="process")
    sid = bed.ao("spawn", "--live", "my-project", "squat-probe-one [[slow:0]]", check=True).stdout.strip()
    assert bed.wait_exited(sid)["exitCode"] == 0, "the live agent works with the genuine server"
    info = _server(bed)
    port, pid = int(str(info["port"])), int(str(info["pid"]))
    assert listens(pid, port), "the recorded port is the server's own listening socket"
    assert bed.requests_with("squat-probe-one"), "the prompt reached the model through the real server"

    # The server dies; the squatter takes its port as soon as it is free. ao must not talk to it.
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: port in squat.bound, timeout=30, what="the squatter to take the dead server's port")
    status = bed.ao("status", sid, "--json")
    assert status.returncode == 0, status.stderr
    again = bed.ao("send", sid, "squat-probe-two [[slow:0]]")
    assert again.returncode == 0, again.stderr
    assert bed.wait_exited(sid)["exitCode"] == 0, "the follow-up ran in a new genuine server"
    assert int(str(_server(bed)["port"])) != port
    assert len(bed.requests_with("squat-probe-one")) >= 2, "the follow-up reached the model"
    assert "squat-probe-two" in bed.ao("logs", sid).stdout

    got = squat.received  # (it sees every process of the machine: only what is this test's counts)
    assert str(bed.project) not in got and urllib.parse.quote(str(bed.project), safe="") not in got, got[:500]
    assert "squat-probe" not in got, "a prompt reached the squatter"
    password = str(info["password"])
    assert password not in got and base64.b64encode(f"opencode:{password}".encode()).decode() not in got


def test_a_port_held_by_another_user_is_refused_before_a_byte_is_sent(squat: squatter.Squatter) -> None:
    # A port the squatter holds (it keeps 4096, or any port it bound): ao's connection proves who is behind it.
    port = min(squat.bound)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as probe:
        assert peer_uid(probe) == 65534, "the kernel names the squatter as the owner of the far end"
    before = squat.received
    fake = ServerInfo(pid=os.getpid(), port=port, password="pw-that-must-not-leak", start_ticks=0)
    with pytest.raises(OpenCodeServerError, match=r"held by another user's process \(uid 65534\)"):
        Api(fake).call("POST", "/session", {"title": "leak?"})
    assert not listens(os.getpid(), port)
    time.sleep(0.5)  # what it would have printed has been read
    assert squat.received == before, "the squatter received bytes"


def test_an_agents_commands_see_no_server_credential_and_cannot_use_the_server(bed: Bed) -> None:
    """An approved bash call of a live agent: its environment holds no credential of the server that runs it, and a
    request to that server with what it can see is refused (it cannot approve its own permission requests)."""
    bed.write_config(runtime="process")
    probe = 'env > env.txt; echo "$SHELL" > shell.txt'
    sid = bed.ao("spawn", "--live", "my-project", f"env-probe [[bash:{probe}]]", check=True).stdout.strip()
    assert bed.wait_exited(sid)["exitCode"] == 0
    seen = dict(line.split("=", 1) for line in (bed.project / "env.txt").read_text().splitlines() if "=" in line)
    info = _server(bed)
    assert "OPENCODE_SERVER_PASSWORD" not in seen and "OPENCODE_SERVER_USERNAME" not in seen, sorted(seen)
    assert str(info["password"]) not in (bed.project / "env.txt").read_text()
    # the server still runs with its password: OpenCode read it at start, ao's shell dropped it for the agent
    environ = Path(f"/proc/{info['pid']}/environ").read_bytes().split(b"\0")
    assert f"OPENCODE_SERVER_PASSWORD={info['password']}".encode() in environ
    assert (bed.project / "shell.txt").read_text().strip() == str(bed.state_dir / "opencode-shell")
    assert oct((bed.state_dir / "opencode-shell").stat().st_mode & 0o777) == "0o700"
    # what the agent can see gets it nothing from the server
    token = base64.b64encode(
        f"{seen.get('OPENCODE_SERVER_USERNAME', 'opencode')}:{seen.get('OPENCODE_SERVER_PASSWORD', '')}".encode()
    ).decode()
    with socket.create_connection(("127.0.0.1", int(str(info["port"]))), timeout=10) as c:
        c.sendall(f"GET /permission HTTP/1.0\r\nAuthorization: Basic {token}\r\n\r\n".encode())
        answer = c.recv(100)
    assert answer.startswith(b"HTTP/1.1 401") or answer.startswith(b"HTTP/1.0 401"), answer
    argv = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")
    assert argv[1:6] == [b"serve", b"--hostname", b"127.0.0.1", b"--port", b"0"], "OpenCode picks its own port"
