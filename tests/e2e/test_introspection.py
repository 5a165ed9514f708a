"""Per-session introspection from OpenCode's own database, against the real OpenCode and the fake model.

The fake model's opencode.json prices are 1 USD per million input tokens and 2 per million output.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.bed import Bed, wait_for

INPUT_PRICE, OUTPUT_PRICE = 1.0, 2.0


def expected_cost(inp: int, out: int) -> float:
    return (inp * INPUT_PRICE + out * OUTPUT_PRICE) / 1_000_000


def test_parallel_sessions_in_one_directory_report_their_own_cost(bed: Bed) -> None:
    bed.write_config(runtime="process")
    usage = {"a": (1000, 200), "b": (3000, 40), "c": (50, 5000)}

    def spawn(tag: str) -> str:
        inp, out = usage[tag]
        return bed.ao("spawn", "my-project", f"task {tag} [[tokens:{inp},{out}]]", check=True).stdout.strip()

    with ThreadPoolExecutor(3) as pool:
        ids = dict(zip(usage, pool.map(spawn, usage), strict=True))
    for sid in ids.values():
        bed.wait_exited(sid)
    views = {v["sessionId"]: v for v in bed.ao_json("status")["sessions"]}
    ses_ids = set()
    for tag, sid in ids.items():
        v = views[sid]
        inp, out = usage[tag]
        assert v["opencodeSessionId"] and v["opencodeSessionId"].startswith("ses_")
        ses_ids.add(v["opencodeSessionId"])
        assert v["cost"]["tokens"]["input"] == inp, (tag, v["cost"])
        assert v["cost"]["tokens"]["output"] == out, (tag, v["cost"])
        assert v["cost"]["usd"] == pytest.approx(expected_cost(inp, out), rel=1e-6)
        assert v["summary"]["firstPrompt"].startswith(f"task {tag}")
        assert v["outcome"]["result"] == "success"
    assert len(ses_ids) == 3
    table = bed.ao("status").stdout
    assert f"${expected_cost(50, 5000):.2f}" in table  # the COST column


def test_slow_reply_is_active_then_exits_cleanly(bed: Bed) -> None:
    bed.write_config(runtime="tmux")
    sid = bed.ao("spawn", "my-project", "think hard [[slow:10]]", check=True).stdout.strip()
    seen = wait_for(lambda: (v := bed.status_of(sid))["activity"] == "active" and v, timeout=60,
                    what="activity active")
    assert seen["status"] == "running"
    final = bed.wait_exited(sid)
    assert final["activity"] == "exited"
    assert final["outcome"]["result"] == "success" and final["outcome"]["error"] is None


def test_failing_provider_outcome_carries_the_error(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = bed.ao("spawn", "my-project", "doomed [[fail]]", check=True).stdout.strip()
    final = bed.wait_exited(sid)
    assert final["outcome"]["result"] == "error"
    assert "fake provider failure" in (final["outcome"]["error"] or "")


def test_summary_last_tool_and_pr_url(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = bed.ao("spawn", "my-project", "open the PR [[bash:echo https://github.com/acme/app/pull/42]]",
                 check=True).stdout.strip()
    final = bed.wait_exited(sid)
    summary = final["summary"]
    assert summary["title"] == "AO:agent-1"
    assert summary["lastTool"] == "bash"
    assert summary["prUrl"] == "https://github.com/acme/app/pull/42"


@pytest.mark.parametrize("runtime", ["tmux", "process"])
def test_resume_continues_the_same_opencode_session(bed: Bed, runtime: str) -> None:
    bed.write_config(runtime=runtime)
    sid = bed.ao("spawn", "my-project", "first step [[tokens:100,10]]", check=True).stdout.strip()
    first = bed.wait_exited(sid)
    ses = first["opencodeSessionId"]
    assert ses and first["cost"]["tokens"]["input"] == 100

    attach = bed.ao_json("attach", sid)
    assert attach["restoreCommand"].endswith(f"--session {ses}")

    resumed = bed.ao("resume", sid, "second step [[tokens:200,20]]", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "running"
    final = bed.wait_exited(sid)
    assert final["opencodeSessionId"] == ses
    assert final["cost"]["tokens"]["input"] == 300 and final["cost"]["tokens"]["output"] == 30
    assert final["cost"]["usd"] == pytest.approx(expected_cost(300, 30), rel=1e-6)
    assert final["runs"] == 2
    later = bed.requests_with("first step")
    assert any(r["user"].startswith("second step") for r in later), "the follow-up was not in the same conversation"
    if runtime == "tmux":
        assert bed.tmux("list-sessions", "-F", "#{session_name}").stdout.split() == ["ao-agent-1"]


def test_resume_refuses_while_running(bed: Bed) -> None:
    bed.write_config(runtime="process")
    sid = bed.ao("spawn", "my-project", "busy [[slow:20]]", check=True).stdout.strip()
    out = bed.ao("resume", sid, "more")
    assert out.returncode == 1 and "still running" in out.stderr and "Traceback" not in out.stderr
    bed.ao("kill", sid, check=True)


def test_unknown_schema_degrades_to_unavailable(bed: Bed) -> None:
    bogus = bed.root / "bogus.db"
    con = sqlite3.connect(bogus)
    con.execute("CREATE TABLE session (id TEXT PRIMARY KEY, name TEXT)")
    con.commit()
    con.close()
    bed.write_config(runtime="process")
    cfg = bed.project / "agent-orchestrator.yaml"
    cfg.write_text(cfg.read_text().replace("projects:", f"opencode:\n  database: {bogus}\nprojects:", 1))
    env = dict(bed.env)
    code = ("from ao_server.orchestrator import Orchestrator; from ao_server.config import load_config;"
            "from ao_server.store import default_state_dir; from ao_server.model import SessionRecord; import time;"
            "o = Orchestrator(load_config(), default_state_dir());"
            "r = o.store.create(SessionRecord(num=0, project='my-project', agent='opencode', runtime='process',"
            " status='starting', prompt='p', workdir=__import__('pathlib').Path('.').resolve(),"
            " created_at=time.time()));"
            "o.store.update(r.num, status='running')")
    subprocess.run([sys.executable, "-c", code], env=env, cwd=bed.project, check=True, timeout=30)
    out = bed.ao("status", env=env)
    assert out.returncode == 0, out.stderr
    assert "introspection unavailable" in out.stderr and "Traceback" not in out.stderr
    view = json.loads(bed.ao("status", "agent-1", "--json", env=env).stdout)
    assert view["cost"] is None and view["status"] == "exited"
