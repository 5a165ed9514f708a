"""Live agents: sessions of the shared ``opencode serve``, answered and steered from the CLI and ao-server.

Real OpenCode (``opencode serve``), the fake model, an OpenCode config with ``permission: {bash: ask}``,
the ``ao`` CLI and a real ao-server over JSON-RPC (its ``ao/inputRequested`` notifications).
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import signal
import stat
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bed import ROOT, Bed, wait_for
from tests.support.contract import check_notification, check_result

sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
from ao_client import Connection, RpcError  # the standard-library client drives the server


def ask_for_bash(bed: Bed) -> None:
    cfg = bed.root / "config" / "opencode" / "opencode.json"
    data = json.loads(cfg.read_text())
    data["permission"] = {"bash": "ask"}
    cfg.write_text(json.dumps(data, indent=2))


class Server:
    def __init__(self, bed: Bed) -> None:
        self.log = open(bed.root / "server.log", "wb")  # noqa: SIM115 - closed in close()
        self.conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project), stderr=self.log)
        self.conn.initialize(bed.project, {"pollInterval": 1.0})

    def request(self, method: str, params: dict[str, Any]) -> Any:
        return check_result(method, self.conn.request(method, params, timeout=120))

    def error(self, method: str, params: dict[str, Any]) -> RpcError:
        try:
            self.conn.request(method, params, timeout=120)
        except RpcError as e:
            return e
        raise AssertionError(f"{method} {params} succeeded")

    def asked(self, sid: str, timeout: float = 90) -> dict[str, Any]:
        params, _ = self.conn.wait_notification("ao/inputRequested", lambda p: p["sessionId"] == sid, timeout=timeout)
        return check_notification("ao/inputRequested", params)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self.log.close()


@pytest.fixture
def live(bed: Bed) -> Iterator[tuple[Bed, Server]]:
    ask_for_bash(bed)
    bed.write_config(runtime="process")
    server = Server(bed)
    try:
        yield bed, server
    finally:
        server.close()


def server_info(bed: Bed) -> dict[str, Any]:
    return json.loads((bed.state_dir / "opencode-server.json").read_text())  # type: ignore[no-any-return]


def test_a_permission_is_asked_in_the_editor_and_answered_from_the_cli_or_the_server(
    live: tuple[Bed, Server],
) -> None:
    bed, server = live
    sid = bed.ao("spawn", "--live", "my-project", "run it [[bash:echo hi > ran.txt]]", check=True).stdout.strip()
    note = server.asked(sid)
    req = note["request"]
    assert req["kind"] == "permission" and req["permission"] == "bash" and req["command"] == "echo hi > ran.txt"
    view = bed.status_of(sid)
    assert view["runtime"] == "live" and view["status"] == "running" and view["activity"] == "waiting_input"
    assert [r["requestId"] for r in view["pending"]] == [req["requestId"]]
    assert not (bed.project / "ran.txt").exists(), "nothing runs before the person answers"
    table = bed.ao("status").stdout
    assert "waiting_input" in table

    done = bed.ao("respond", sid, "--once")
    assert done.returncode == 0 and done.stdout.strip() == f"answered {req['requestId']} of {sid}", done.stderr
    ended = bed.wait_exited(sid)
    assert (bed.project / "ran.txt").read_text() == "hi\n"
    assert ended["exitCode"] == 0 and ended["outcome"]["result"] == "success" and ended["pending"] == []
    assert ended["opencodeSessionId"].startswith("ses_") and ended["cost"]["usd"] > 0
    again = bed.ao("respond", sid, req["requestId"], "--once")
    assert again.returncode == 1 and "waits for nothing" in again.stderr

    # the same through ao-server, rejected: nothing runs, and the outcome says so
    second = server.request("ao/spawn", {"prompt": "again [[bash:echo no > ran2.txt]]", "runtime": "live"})
    sid2 = second["sessionId"]
    req2 = server.asked(sid2)["request"]
    e = server.error("ao/respond", {"sessionId": sid2, "requestId": "per_nope", "reply": "once"})
    assert e.code == -32014 and "not waiting for per_nope" in e.message
    e = server.error("ao/respond", {"sessionId": sid2, "requestId": req2["requestId"]})
    assert e.code == -32001 and "once, always or reject" in e.message
    server.request("ao/respond", {"sessionId": sid2, "requestId": req2["requestId"], "reply": "reject",
                                  "message": "not now"})
    ended2 = bed.wait_exited(sid2)
    assert not (bed.project / "ran2.txt").exists()
    assert ended2["outcome"]["result"] == "incomplete", ended2["outcome"]
    assert ended2["outcome"]["error"] == "rejected: bash echo no > ran2.txt (not now)"

    # a run-mode session cannot be answered
    run = bed.ao_json("spawn", "my-project", "plain [[slow:0]]")
    e = server.error("ao/respond", {"sessionId": run["sessionId"], "requestId": "per_x", "reply": "once"})
    assert e.code == -32001 and "run-mode agent" in e.message


def test_a_permission_rejected_without_a_reason_ends_the_turn(live: tuple[Bed, Server]) -> None:
    """Rejected without a reason, OpenCode ends the turn itself: the tool part fails ("The user rejected
    permission to use this specific tool call.") and the model is not asked again. The session exits all the
    same, as a rejected turn (from the CLI and from ao-server alike), and a follow-up in it runs and ends."""
    bed, server = live
    sid = bed.ao("spawn", "--live", "my-project", "run it [[bash:echo hi > ran.txt]]", check=True).stdout.strip()
    server.asked(sid)
    done = bed.ao("respond", sid, "--reject")
    assert done.returncode == 0, done.stderr
    ended = bed.wait_exited(sid)
    assert not (bed.project / "ran.txt").exists()
    assert ended["exitCode"] == 0 and ended["pending"] == [], ended
    assert ended["outcome"]["result"] == "incomplete", ended["outcome"]
    assert ended["outcome"]["error"] == "rejected: bash echo hi > ran.txt"
    assert len(bed.requests_with("run it")) == 1, "the model was asked again after the rejection"

    # through ao-server, with an empty reason (VS Code's and Neovim's Reject leave it optional)
    second = server.request("ao/spawn", {"prompt": "again [[bash:echo no > ran2.txt]]", "runtime": "live"})
    sid2 = second["sessionId"]
    req2 = server.asked(sid2)["request"]
    server.request("ao/respond", {"sessionId": sid2, "requestId": req2["requestId"], "reply": "reject", "message": ""})
    ended2 = bed.wait_exited(sid2)
    assert not (bed.project / "ran2.txt").exists()
    assert ended2["exitCode"] == 0 and ended2["outcome"]["result"] == "incomplete", ended2["outcome"]
    assert ended2["outcome"]["error"] == "rejected: bash echo no > ran2.txt"

    # a follow-up to the rejected session: a new turn (not the old one's end seen again), asked and allowed
    sent = server.request("ao/send", {"sessionId": sid2, "message": "now do it [[bash:echo yes > ran3.txt]]"})
    assert sent["status"] == "running" and sent["runs"] == 2
    asked3, _ = server.conn.wait_notification(
        "ao/inputRequested", lambda p: p["sessionId"] == sid2 and p["request"]["requestId"] != req2["requestId"],
        timeout=90)
    req3 = asked3["request"]
    assert req3["command"] == "echo yes > ran3.txt"
    assert bed.status_of(sid2)["status"] == "running"
    server.request("ao/respond", {"sessionId": sid2, "requestId": req3["requestId"], "reply": "once"})
    ended3 = bed.wait_exited(sid2)
    assert (bed.project / "ran3.txt").read_text() == "yes\n"
    assert ended3["exitCode"] == 0 and ended3["outcome"]["result"] == "success", ended3["outcome"]


def test_questions_follow_ups_abort_and_kill(live: tuple[Bed, Server]) -> None:
    bed, server = live
    q = server.request("ao/spawn", {"prompt": "ask [[question:Which database?|Postgres|SQLite]]", "runtime": "live"})
    sid = q["sessionId"]
    req = server.asked(sid)["request"]
    assert req["kind"] == "question" and req["questions"][0]["question"] == "Which database?"
    assert [o["label"] for o in req["questions"][0]["options"]] == ["Postgres", "SQLite"]
    server.request("ao/respond", {"sessionId": sid, "requestId": req["requestId"], "answers": [["SQLite"]]})
    assert bed.wait_exited(sid)["exitCode"] == 0
    answered = [r["tool_result"] for r in list(bed.model.requests) if r.get("tool_result")]
    assert any("SQLite" in t for t in answered), answered

    # a follow-up to the finished live session: the same OpenCode session runs again
    ses = bed.status_of(sid)["opencodeSessionId"]
    sent = server.request("ao/send", {"sessionId": sid, "message": "and one more thing [[slow:0]]"})
    assert sent["status"] == "running" and sent["runs"] == 2
    ended = bed.wait_exited(sid)
    assert ended["opencodeSessionId"] == ses and ended["exitCode"] == 0
    assert any("and one more thing" in (r.get("user") or "") for r in list(bed.model.requests))

    # attach: OpenCode's own TUI on that session, in a terminal (a private tmux), through the server's password
    cmd = shlex.join([sys.executable, "-m", "ao_server.cli", "attach", "--exec", sid]) + " ; echo AO-EXIT $? ; sleep 60"
    started = bed.tmux("new-session", "-d", "-s", "tui", "-x", "160", "-y", "48", "-c", str(bed.project), cmd)
    assert started.returncode == 0, started.stderr
    def shown() -> str | None:
        out = bed.tmux("capture-pane", "-p", "-t", "=tui:").stdout
        return out if "one more thing" in out else None

    screen = wait_for(shown, timeout=40, what="OpenCode's TUI to show the session")
    assert "Fake Model" in screen, screen  # the TUI, on this session, with its model
    bed.tmux("kill-session", "-t", "=tui")

    # abort a turn in progress: the session finishes, and not as a success
    slow = server.request("ao/spawn", {"prompt": "think long [[slow:60]]", "runtime": "live"})
    wait_for(lambda: any("think long" in (r.get("user") or "") for r in list(bed.model.requests)), timeout=60,
             what="the slow turn to reach the model")
    server.request("ao/abort", {"sessionId": slow["sessionId"]})
    aborted = bed.wait_exited(slow["sessionId"])
    assert aborted["outcome"]["result"] != "success", aborted["outcome"]

    # aborted at once, before the model answered: the session still finishes
    hasty = server.request("ao/spawn", {"prompt": "never mind [[slow:60]]", "runtime": "live"})
    server.request("ao/abort", {"sessionId": hasty["sessionId"]})
    hasty_end = bed.wait_exited(hasty["sessionId"])
    assert hasty_end["exitCode"] == 1 and hasty_end["outcome"]["result"] == "error", hasty_end["outcome"]

    # kill: aborted and finished as killed
    doomed = server.request("ao/spawn", {"prompt": "think long again [[slow:60]]", "runtime": "live"})
    killed = server.request("ao/kill", {"sessionId": doomed["sessionId"]})
    assert killed["status"] == "exited" and killed["exitCode"] == 143 and killed["outcome"]["result"] == "killed"
    attach = bed.ao("attach", doomed["sessionId"])
    assert attach.returncode == 0 and attach.stdout.strip() == f"ao attach --exec {doomed['sessionId']}"


def test_the_opencode_server_is_private_and_its_death_is_reported(live: tuple[Bed, Server]) -> None:
    bed, server = live
    first = server.request("ao/spawn", {"prompt": "think long [[slow:60]]", "runtime": "live"})
    info = server_info(bed)
    path = bed.state_dir / "opencode-server.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    url = f"http://127.0.0.1:{info['port']}/session/status"
    for auth in (None, "opencode:wrong"):
        req = urllib.request.Request(url)
        if auth:
            req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        assert e.value.code == 401, "the OpenCode server answered without ao's password"
    assert info["password"] not in Path(f"/proc/{info['pid']}/cmdline").read_text().replace("\0", " ")

    # SIGKILL the server mid-turn: the session says so and is not finished for it
    os.kill(info["pid"], signal.SIGKILL)
    view = wait_for(lambda: (v := bed.status_of(first["sessionId"]))["activity"] == "unknown" and v, timeout=30,
                    what="the session to say its server is gone")
    assert view["status"] == "running"
    warned = bed.ao("status")
    assert "OpenCode server of live agents is not running" in warned.stderr
    # the next live spawn starts a new server; the old turn is then known to be lost, not a success
    second = server.request("ao/spawn", {"prompt": "fresh start [[slow:0]]", "runtime": "live"})
    assert server_info(bed)["pid"] != info["pid"]
    lost = bed.wait_exited(first["sessionId"])
    assert lost["exitCode"] == 1 and lost["outcome"]["result"] != "success"
    assert bed.wait_exited(second["sessionId"])["exitCode"] == 0
    # and its OpenCode session carries on in the new server
    resumed = server.request("ao/send", {"sessionId": first["sessionId"], "message": "carry on [[slow:0]]"})
    assert resumed["runs"] == 2
    assert bed.wait_exited(first["sessionId"])["exitCode"] == 0
    assert Path(bed.state_dir / "opencode-server.log").exists()


def test_exits_and_requests_arrive_without_waiting_for_a_poll(bed: Bed) -> None:
    """With an hour between polls, what changes still reaches the editor: a run-mode agent's exit (its exit
    record is watched) and a live agent's question (the OpenCode server's events), even one spawned by the CLI."""
    ask_for_bash(bed)
    bed.write_config(runtime="process")
    log = open(bed.root / "server.log", "wb")  # noqa: SIM115 - closed below
    conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project), stderr=log)
    try:
        conn.initialize(bed.project, {"pollInterval": 3600})
        run = conn.request("ao/spawn", {"prompt": "a short run [[slow:2]]"}, timeout=120)
        exited, _ = conn.wait_notification(
            "ao/statusChanged", lambda p: p["sessionId"] == run["sessionId"] and p["status"] == "exited", timeout=90)
        assert exited["exitCode"] == 0 and exited["previous"] in ("running", None)

        sid = bed.ao("spawn", "--live", "my-project", "[[bash:echo live > live.txt]]", check=True).stdout.strip()
        asked, _ = conn.wait_notification("ao/inputRequested", lambda p: p["sessionId"] == sid, timeout=90)
        assert asked["request"]["command"] == "echo live > live.txt"
        bed.ao("respond", sid, "--always", check=True)
        done, _ = conn.wait_notification(
            "ao/statusChanged", lambda p: p["sessionId"] == sid and p["status"] == "exited", timeout=90)
        assert done["exitCode"] == 0 and (bed.project / "live.txt").read_text() == "live\n"
    finally:
        conn.close()
        log.close()
