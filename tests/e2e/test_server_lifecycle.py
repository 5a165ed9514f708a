"""The shared OpenCode server of live agents stops when nothing needs it (issue 21).

Real OpenCode (``opencode serve``) and the fake model: a live spawn starts the server and its keeper
(a ``python -I`` process of ao's); once no live session of the state dir needs the server
for ``opencode.serverGrace`` seconds, the keeper stops it and exits. A session that is still running,
waiting for an answer or kept alive keeps it; so does a turn OpenCode says is busy; deleting the state dir
stops it. ``ao doctor`` says whether it runs, with its PID, port, state dir and keeper.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ao_server.runtimes.common import process_start
from tests.support.bed import Bed, terminate_all, wait_for


def write_config(bed: Bed, grace: float | None, *, keep_alive: bool = False) -> None:
    lines = [
        "plugins:",
        "  agent: opencode",
        "  runtime: process",
        "projects:",
        "  - name: my-project",
        f"    path: {bed.project}",
        "    agentConfig:",
        "      mode: live",
        f"      keepAlive: {'true' if keep_alive else 'false'}",
    ]
    if grace is not None:
        lines[3:3] = ["opencode:", f"  serverGrace: {grace:g}"]
    bed.write_config("\n".join(lines) + "\n")


def ask_for_bash(bed: Bed) -> None:
    cfg = bed.root / "config" / "opencode" / "opencode.json"
    data = json.loads(cfg.read_text())
    data["permission"] = {"bash": "ask"}
    cfg.write_text(json.dumps(data, indent=2))


def record(state: Path, name: str) -> dict[str, Any] | None:
    try:
        return json.loads((state / name).read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def alive(rec: dict[str, Any] | None) -> bool:
    """Whether the process a record names (pid, startTicks) still runs."""
    if rec is None:
        return False
    seen = process_start(int(rec["pid"]))
    return seen is not None and not seen[1] and seen[0] == int(rec["startTicks"])


class Watched:
    """The server and keeper processes a test saw, stopped by PID at the end whatever happened."""

    def __init__(self, bed: Bed) -> None:
        self.bed = bed
        self.records: list[dict[str, Any]] = []

    def server(self) -> dict[str, Any]:
        rec = wait_for(lambda: record(self.bed.state_dir, "opencode-server.json"), timeout=60, what="the server")
        assert rec is not None
        self.records.append(rec)
        return rec

    def keeper(self) -> dict[str, Any]:
        def running() -> dict[str, Any] | None:
            rec = record(self.bed.state_dir, "opencode-keeper.json")
            return rec if alive(rec) else None

        rec = wait_for(running, timeout=30, what="the keeper of the OpenCode server (started by the live spawn)")
        assert rec is not None
        self.records.append(rec)
        return rec

    def stop_all(self) -> None:
        procs = []
        for rec in self.records:
            if alive(rec):
                try:
                    procs.append(psutil.Process(int(rec["pid"])))
                    os.killpg(int(rec["pid"]), signal.SIGKILL)  # OpenCode's server ignores SIGTERM
                except (psutil.Error, OSError):
                    pass
        terminate_all(procs)


@pytest.fixture
def watched(bed: Bed) -> Iterator[Watched]:
    w = Watched(bed)
    try:
        yield w
    finally:
        w.stop_all()


def doctor(bed: Bed) -> tuple[str, dict[str, Any]]:
    text = bed.ao("doctor")
    assert text.returncode == 0, text.stdout + text.stderr
    data = bed.ao("doctor", "--json")
    assert data.returncode == 0, data.stdout + data.stderr
    return text.stdout, json.loads(data.stdout)["liveServer"]


def test_the_server_stops_after_its_grace_once_the_last_live_session_exited(bed: Bed, watched: Watched) -> None:
    write_config(bed, 3)
    sid = bed.ao("spawn", "--live", "my-project", "say hi", check=True).stdout.strip()
    server, keeper = watched.server(), watched.keeper()
    assert keeper["grace"] == 3
    mode = (bed.state_dir / "opencode-keeper.json").stat().st_mode & 0o777
    assert mode == 0o600, oct(mode)
    assert bed.wait_exited(sid)["exitCode"] == 0
    assert alive(server), "the server was stopped before its grace period passed"

    wait_for(lambda: not alive(server), timeout=60, interval=0.5, what="the idle OpenCode server to stop")
    wait_for(lambda: not alive(keeper), timeout=30, interval=0.5, what="its keeper to exit")
    assert not (bed.state_dir / "opencode-server.json").exists()
    said = (bed.state_dir / "opencode-keeper.log").read_text()
    assert f"stopped the OpenCode server (pid {server['pid']}" in said, said

    text, live = doctor(bed)
    assert live["running"] is False and live["stateDir"] == str(bed.state_dir), live
    assert "not running" in text and str(bed.state_dir) in text, text

    # the next live spawn starts a new server, and a new keeper with it
    sid2 = bed.ao("spawn", "--live", "my-project", "again", check=True).stdout.strip()
    assert bed.wait_exited(sid2)["exitCode"] == 0
    assert watched.server()["pid"] != server["pid"]
    assert watched.keeper()["pid"] != keeper["pid"]


def test_a_session_waiting_for_an_answer_keeps_the_server_and_doctor_shows_it(bed: Bed, watched: Watched) -> None:
    ask_for_bash(bed)
    write_config(bed, 2)
    sid = bed.ao("spawn", "--live", "my-project", "run it [[bash:echo hi > ran.txt]]", check=True).stdout.strip()
    server, keeper = watched.server(), watched.keeper()
    wait_for(lambda: bed.status_of(sid)["pending"], timeout=90, what=f"{sid} to ask for bash")

    time.sleep(5 * 2)  # five grace periods
    assert alive(server), "the server was stopped while a live session waited for an answer"
    assert bed.status_of(sid)["pending"], "the request is still pending"

    text, live = doctor(bed)
    assert live["running"] is True and live["pid"] == server["pid"] and live["port"] == server["port"], live
    assert live["stateDir"] == str(bed.state_dir) and live["since"], live
    assert live["keeper"]["pid"] == keeper["pid"] and live["keeper"]["grace"] == 2, live
    assert f"pid {server['pid']}" in text and str(bed.state_dir) in text and "running" in text, text
    assert f"keeper pid {keeper['pid']}" in text, text

    assert bed.ao("respond", sid, "--once").returncode == 0
    assert bed.wait_exited(sid)["exitCode"] == 0
    wait_for(lambda: not alive(server), timeout=60, interval=0.5, what="the server to stop once it was answered")


def test_a_kept_alive_session_keeps_the_server_until_it_is_killed(bed: Bed, watched: Watched) -> None:
    write_config(bed, 2, keep_alive=True)
    sid = bed.ao("spawn", "--live", "my-project", "say hi and wait", check=True).stdout.strip()
    server, keeper = watched.server(), watched.keeper()
    wait_for(lambda: bed.requests_with("say hi and wait"), timeout=90, what="the model to be asked")
    time.sleep(5 * 2)
    assert bed.status_of(sid)["status"] == "running"
    assert alive(server) and alive(keeper), "the server was stopped while a kept-alive session could get ao send"

    bed.ao("kill", sid, check=True)
    wait_for(lambda: not alive(server), timeout=60, interval=0.5, what="the server to stop after the kill")
    wait_for(lambda: not alive(keeper), timeout=30, interval=0.5, what="its keeper to exit")


def test_a_busy_opencode_session_keeps_the_server_even_when_its_ao_session_exited(bed: Bed, watched: Watched) -> None:
    """OpenCode says a session is busy (here a turn prompted straight through its API, after ao saw the
    session exit): the server stays up for as long as it is, whatever ao's store says."""
    import base64
    import urllib.request

    write_config(bed, 2)
    sid = bed.ao("spawn", "--live", "my-project", "first", check=True).stdout.strip()
    server, keeper = watched.server(), watched.keeper()
    ended = bed.wait_exited(sid)
    auth = base64.b64encode(f"opencode:{server['password']}".encode()).decode()
    url = f"http://127.0.0.1:{server['port']}/session/{ended['opencodeSessionId']}/prompt_async?directory={bed.project}"
    body = json.dumps({"parts": [{"type": "text", "text": "a long one [[slow:14]]"}]}).encode()
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=30).close()
    wait_for(
        lambda: [r for r in list(bed.model.requests) if "a long one" in (r.get("user") or "")],
        timeout=60,
        what="the slow turn to reach the model",
    )
    time.sleep(10)  # five grace periods, the turn still streaming
    assert alive(server), "the server was stopped while OpenCode had a busy session"
    wait_for(lambda: not alive(server), timeout=60, interval=0.5, what="the server to stop after the turn")
    wait_for(lambda: not alive(keeper), timeout=30, interval=0.5, what="its keeper to exit")


def test_deleting_the_state_dir_stops_the_server(bed: Bed, watched: Watched) -> None:
    write_config(bed, None, keep_alive=True)  # the default grace (600 s): only the deletion stops it
    sid = bed.ao("spawn", "--live", "my-project", "say hi", check=True).stdout.strip()
    server, keeper = watched.server(), watched.keeper()
    assert keeper["grace"] == 600
    wait_for(lambda: bed.requests_with("say hi"), timeout=90, what="the model to be asked")
    assert bed.status_of(sid)["status"] == "running"

    shutil.rmtree(bed.state_dir)
    wait_for(lambda: not alive(server), timeout=60, interval=0.5, what="the server of the deleted state dir to stop")
    wait_for(lambda: not alive(keeper), timeout=30, interval=0.5, what="its keeper to exit")
