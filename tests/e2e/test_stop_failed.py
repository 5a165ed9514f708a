"""A stop of a live agent that could not be confirmed is never reported as done.

Real OpenCode (``opencode serve``) and the fake model. ao's requests to the server fail in two ways
while the server (and the agent's turn in it) keeps going: the recorded password is wrong (the
server answers 401: it refuses ao), or the server is SIGSTOPped (it does not answer). A kill then
fails with a clear error and the session stays running; an over-budget stop says it failed and is
tried again on the next poll. Once ao can reach the server again the stop is confirmed, and the
agent's OpenCode session is idle. A server whose process is gone runs no agent: killing one of its
sessions finishes it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.bed import Bed, wait_for

LONG_TURN = "[[steps:60]] [[slow:1]]"  # a turn of 60 model requests, one a second: it outlives the test's steps


def server_file(bed: Bed) -> Path:
    return bed.state_dir / "opencode-server.json"


def server_info(bed: Bed) -> dict[str, Any]:
    return json.loads(server_file(bed).read_text())  # type: ignore[no-any-return]


@contextlib.contextmanager
def refusing_ao(bed: Bed) -> Iterator[None]:
    """ao's record of the server says a wrong password: the server (still running) answers ao with 401."""
    path = server_file(bed)
    saved = path.read_text()
    path.write_text(json.dumps({**json.loads(saved), "password": "not-the-password"}))
    try:
        yield
    finally:
        path.write_text(saved)


@contextlib.contextmanager
def stopped_server(bed: Bed) -> Iterator[None]:
    """The server SIGSTOPped: it accepts connections and answers nothing (continued whatever happens)."""
    pid = int(server_info(bed)["pid"])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def busy_in_server(bed: Bed, ses: str) -> str | None:
    """What the server itself says of OpenCode session ``ses`` (``busy``, ``retry``), None when it is idle."""
    info = server_info(bed)
    url = f"http://127.0.0.1:{info['port']}/session/status?directory={bed.project}"
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"opencode:{info['password']}".encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        status = json.loads(resp.read().decode() or "{}")
    return ((status or {}).get(ses) or {}).get("type")


def spawn_long(bed: Bed, marker: str) -> str:
    sid = bed.ao("spawn", "--live", "my-project", f"{marker} {LONG_TURN}", check=True).stdout.strip()
    wait_for(lambda: bed.requests_with(marker), timeout=90, what="the turn to reach the model")
    return sid


def ses_of(bed: Bed, sid: str) -> str:
    ses = bed.status_of(sid)["opencodeSessionId"]
    assert isinstance(ses, str) and ses.startswith("ses_"), ses
    return ses


def assert_stopped_for_good(
    bed: Bed, sid: str, ses: str, result: str | None, exit_code: int | None = 143
) -> dict[str, Any]:
    """The session is finished and its OpenCode session idle: the agent asks the model nothing more."""
    view = bed.status_of(sid)
    assert view["status"] == "exited", view
    if exit_code is not None:
        assert view["exitCode"] == exit_code, view
    if result is not None:
        assert view["outcome"]["result"] == result, view["outcome"]
    assert busy_in_server(bed, ses) is None, "the OpenCode server still runs the stopped agent's turn"
    return view


def test_a_kill_the_server_refuses_fails_and_the_session_stays_running(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = spawn_long(bed, "refused kill")
    ses = ses_of(bed, sid)
    with refusing_ao(bed):
        out = bed.ao("kill", sid)
        assert out.returncode == 1, f"the kill said it worked though the server refused it: {out.stdout}"
        assert out.stderr.startswith("ao: ") and "Traceback" not in out.stderr, out.stderr
        assert "refused ao's password" in out.stderr, out.stderr  # the reason
        assert f"ao kill {sid}" in out.stderr, out.stderr  # what to try
        view = bed.status_of(sid)
        assert view["status"] == "running", view
    assert busy_in_server(bed, ses) is not None, "the turn was not running any more: the test proves nothing"
    killed = json.loads(bed.ao("kill", sid, "--json", check=True).stdout)
    assert killed["status"] == "exited" and killed["outcome"]["result"] == "killed"
    assert_stopped_for_good(bed, sid, ses, "killed")


def test_a_kill_the_stopped_server_does_not_answer_fails_and_the_session_stays_running(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = spawn_long(bed, "frozen kill")
    ses = ses_of(bed, sid)
    with stopped_server(bed):
        out = bed.ao("kill", sid)
        assert out.returncode == 1, f"the kill said it worked though the server did not answer: {out.stdout}"
        assert out.stderr.startswith("ao: ") and "Traceback" not in out.stderr, out.stderr
        assert "does not answer" in out.stderr and f"ao kill {sid}" in out.stderr, out.stderr
        assert bed.status_of(sid)["status"] == "running"
    # Continued, the server may still carry out the abort it had received (the turn then ends, aborted, on its
    # own) or not; either way the kill now goes through and nothing of the agent runs after it.
    bed.ao("kill", sid, check=True)
    assert_stopped_for_good(bed, sid, ses, None, exit_code=None)


def budget_spawn(bed: Bed, marker: str) -> str:
    config = bed.write_config(runtime="process")
    config.write_text(config.read_text() + "budget:\n  session: 0.10\n")
    # $0.03 a step; by the model's seventh request (one may be OpenCode's title) five steps ($0.15) are recorded
    sid = bed.ao(
        "spawn", "--live", "my-project", f"{marker} [[tokens:20000,5000]] {LONG_TURN}", check=True
    ).stdout.strip()
    wait_for(lambda: bed.requests_with(marker), timeout=90, what="the turn to reach the model")
    return sid


def over_budget_poll(bed: Bed, sid: str) -> tuple[dict[str, Any], str]:
    out = bed.ao("status", sid, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr


def assert_stop_failed(view: dict[str, Any], stderr: str, sid: str, reason: str) -> None:
    assert view["status"] == "running", f"the stop over budget was reported done though it failed: {view}"
    assert view["budget"] is not None and view["budget"]["fraction"] >= 1, view
    said = [ln for ln in stderr.splitlines() if ln.startswith(f"ao: warning: {sid}: over budget")]
    assert said, stderr
    assert "stopping it failed" in said[0] and reason in said[0] and "next poll" in said[0], said


def test_an_over_budget_stop_the_server_refuses_is_retried_on_the_next_poll(bed: Bed) -> None:
    sid = budget_spawn(bed, "refused budget")
    ses = ses_of(bed, sid)
    with refusing_ao(bed):
        wait_for(lambda: len(bed.requests_with("refused budget")) >= 7, timeout=120, what="five steps to be spent")
        view, stderr = over_budget_poll(bed, sid)
        assert_stop_failed(view, stderr, sid, "refused ao's password")
        view, stderr = over_budget_poll(bed, sid)  # the next poll tries again, and says so again
        assert_stop_failed(view, stderr, sid, "refused ao's password")
    assert busy_in_server(bed, ses) is not None, "the turn was not running any more: the test proves nothing"
    view, _ = over_budget_poll(bed, sid)  # the server answers ao again: this poll's stop is confirmed
    assert view["status"] == "exited" and view["outcome"]["result"] == "over_budget", view
    assert view["outcome"]["error"].endswith(" of $0.10 (session)"), view["outcome"]
    assert_stopped_for_good(bed, sid, ses, "over_budget")


def test_an_over_budget_stop_the_stopped_server_does_not_answer_is_retried(bed: Bed) -> None:
    sid = budget_spawn(bed, "frozen budget")
    ses = ses_of(bed, sid)
    wait_for(lambda: len(bed.requests_with("frozen budget")) >= 7, timeout=120, what="five steps to be spent")
    with stopped_server(bed):
        view, stderr = over_budget_poll(bed, sid)
    assert_stop_failed(view, stderr, sid, "does not answer")
    # continued: this poll stops it, or finds its turn ended by the abort the server had received meanwhile
    view, _ = over_budget_poll(bed, sid)
    assert view["status"] == "exited" and view["outcome"]["result"] == "over_budget", view
    assert_stopped_for_good(bed, sid, ses, "over_budget", exit_code=None)


def test_killing_a_session_whose_server_is_gone_finishes_it(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = spawn_long(bed, "orphan kill")
    os.kill(int(server_info(bed)["pid"]), signal.SIGKILL)  # no server process: nothing of the agent can run
    wait_for(lambda: bed.status_of(sid)["activity"] == "unknown", timeout=30, what="the server to be seen gone")
    killed = json.loads(bed.ao("kill", sid, "--json", check=True).stdout)
    assert killed["status"] == "exited" and killed["exitCode"] == 143 and killed["outcome"]["result"] == "killed"
