"""Budgets and `ao cost`: the real OpenCode, the fake model at known prices, the real server.

Prices are $1 per million input tokens and $2 per million output tokens (the bed's); a
`[[tokens:20000,5000]]` step therefore costs $0.02 + $0.01 = $0.03.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from tests.support.bed import ROOT, Bed

sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
from ao_client import Connection, RpcError

STEP_USD = 0.03
STANDIN = str(ROOT / "tests" / "support" / "standin" / "opencode")


def budget_config(bed: Bed, budget: str, runtime: str = "process") -> None:
    config = bed.write_config(runtime=runtime)
    config.write_text(config.read_text() + budget)


def model_cost(bed: Bed, marker: str) -> tuple[float, int, int]:
    """Usage x price of every model request whose prompt has ``marker``, from the fake model's own log."""
    rows = [r for r in bed.model.requests if marker in (r.get("first_user") or "") and r.get("usage")]
    tokens_in = sum(r["usage"][0] for r in rows)
    tokens_out = sum(r["usage"][1] for r in rows)
    return (tokens_in * 1.0 + tokens_out * 2.0) / 1e6, tokens_in, tokens_out


def test_a_session_is_stopped_within_one_step_of_its_budget(bed: Bed) -> None:
    budget_config(bed, "budget:\n  session: 0.10\n")
    conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project))
    try:
        conn.initialize(bed.project, {"pollInterval": 0.2})
        prompt = "spend [[steps:12]] [[tokens:20000,5000]] [[slow:1.5]]"
        sid = conn.request("ao/spawn", {"project": "my-project", "prompt": prompt})["sessionId"]
        seen: list[dict[str, Any]] = []

        def exited(c: dict[str, Any]) -> bool:
            if c["sessionId"] == sid:
                seen.append(c)
            return bool(c["sessionId"] == sid and c["status"] == "exited")

        change, _ = conn.wait_notification("ao/statusChanged", exited, timeout=180)
        warnings = [c for c in seen if c["budget"] and 0.8 <= c["budget"]["fraction"] < 1]
    finally:
        conn.close()
    outcome = change["outcome"]
    assert outcome["result"] == "over_budget", change
    assert outcome["error"].startswith("over budget: $") and outcome["error"].endswith(" of $0.10 (session)")
    assert change["exitCode"] == 143
    assert warnings, "no ao/statusChanged said the session had spent 80 % of its budget"
    assert change["budget"]["scope"] == "session" and change["budget"]["fraction"] >= 1
    final = bed.status_of(sid)
    spent = final["cost"]["usd"]
    assert 0.10 <= spent <= 0.10 + STEP_USD + 1e-9, f"stopped too late: ${spent}"
    billed, _, _ = model_cost(bed, "spend [[steps:12]]")
    assert billed <= 0.10 + 2 * STEP_USD + 1e-9, "the agent went on asking the model after crossing its budget"
    assert final["outcome"] == outcome  # recorded with the spend, for every later reader


def test_a_reached_project_budget_refuses_new_work(bed: Bed) -> None:
    budget_config(bed, "budget:\n  project: 0.05\n")
    sid = bed.ao("spawn", "my-project", "two steps [[steps:1]] [[tokens:20000,5000]]", check=True).stdout.strip()
    bed.wait_exited(sid)
    out = bed.ao("spawn", "my-project", "one more")
    assert out.returncode == 1 and out.stderr.startswith("ao: ") and "Traceback" not in out.stderr
    assert "project my-project has spent $0.06" in out.stderr and "project budget is $0.05" in out.stderr
    assert "budget.project" in out.stderr  # what to change
    out = bed.ao("resume", sid, "and more")
    assert out.returncode == 1 and "project budget is $0.05" in out.stderr
    conn = Connection([sys.executable, "-m", "ao_server"], env=bed.env, cwd=str(bed.project))
    try:
        conn.initialize(bed.project, {})
        try:
            conn.request("ao/spawn", {"project": "my-project", "prompt": "again"})
            raise AssertionError("the spawn went through")
        except RpcError as e:
            assert e.code == -32012 and e.data["kind"] == "BudgetExceeded" and e.data["scope"] == "project"
    finally:
        conn.close()
    assert [s["sessionId"] for s in bed.ao_json("list")] == [sid], "a refused spawn left a record"


def test_cost_totals_are_usage_times_price(bed: Bed) -> None:
    bed.write_config()
    sids = [
        bed.ao("spawn", "my-project", f"cost run {i} [[steps:{i}]] [[tokens:{1000 * i},{300 * i}]]",
               *(["--model", "fake/fake-model"] if i == 2 else []), check=True).stdout.strip()
        for i in (1, 2, 3)
    ]
    for sid in sids:
        bed.wait_exited(sid)
    usd, tokens_in, tokens_out = model_cost(bed, "cost run ")
    report = bed.ao_json("cost")
    assert abs(report["total"]["usd"] - usd) < 1e-9, (report["total"], usd)
    assert report["total"]["tokens"]["input"] == tokens_in and report["total"]["tokens"]["output"] == tokens_out
    assert report["total"]["sessions"] == 3 and report["by"] == "project"
    assert [g["key"] for g in report["groups"]] == ["my-project"]
    by_session = bed.ao_json("cost", "--by", "session", "--since", "today")
    assert {g["key"] for g in by_session["groups"]} == set(sids)
    for sid, g in zip(sorted(sids), sorted(by_session["groups"], key=lambda g: g["key"]), strict=True):
        assert abs(g["usd"] - bed.status_of(sid)["cost"]["usd"]) < 1e-12
    by_model = bed.ao_json("cost", "--by", "model")
    assert {g["key"]: g["sessions"] for g in by_model["groups"]} == {"(default)": 2, "fake/fake-model": 1}
    text = bed.ao("cost", "--by", "day", check=True).stdout
    assert text.splitlines()[0].split() == ["DAY", "SESSIONS", "COST", "INPUT", "OUTPUT"]
    assert f"${usd:.2f}" in text.splitlines()[-2]


def test_a_session_whose_cost_is_unknown_is_never_stopped(bed: Bed) -> None:
    budget_config(bed, "budget:\n  session: 0.01\n")
    env = {**bed.env, "AO_OPENCODE_BIN": STANDIN}  # the stand-in keeps no OpenCode records: no cost
    sid = bed.ao("spawn", "my-project", "[[sleep:30]]", env=env, check=True).stdout.strip()
    out = bed.ao("status", env=env)
    assert "my-project/agent-1: its budget cannot be enforced: its cost is unknown" in out.stderr
    view = json.loads(bed.ao("status", sid, "--json", env=env, check=True).stdout)
    assert view["status"] == "running" and view["budget"] is None
    bed.ao("kill", sid, env=env, check=True)


def test_budget_config_errors_name_file_line_and_key(bed: Bed) -> None:
    cases: list[tuple[str, Any]] = [
        ("budget:\n  session: -1\n", ("budget.session", "positive amount")),
        ("budget:\n  day: 0\n", ("budget.day", "positive amount")),
        ("budget:\n  project: lots\n", ("budget.project", "positive amount")),
        ("budget:\n  weekly: 5\n", ("budget.weekly", "unknown key", "session, project, day")),
    ]
    for text, fragments in cases:
        config = bed.write_config()
        config.write_text(config.read_text() + text)
        out = bed.ao("list")
        assert out.returncode == 1 and f"{config}:" in out.stderr, out.stderr
        for f in fragments:
            assert f in out.stderr, out.stderr
    config = bed.write_config()
    config.write_text(config.read_text() + "    budget:\n      sesion: 1\n")
    out = bed.ao("list")
    assert "projects[0].budget.sesion" in out.stderr and "did you mean 'session'" in out.stderr
    bed.write_config()
    out = bed.ao("spawn", "my-project", "x", "--budget", "-2")
    assert out.returncode == 2 and "invalid budget" in out.stderr

