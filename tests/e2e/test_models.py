"""``ao/models`` and ``ao models``: the models the real OpenCode offers, the project's default first.

The bed's OpenCode is configured with the fake provider (``fake/fake-model``, its
default model) on top of OpenCode's built-in catalogue; a project-level
``opencode.json`` adds a provider, or breaks the config on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_server import cmd, error_of, req, start_server, stop_server
from tests.support.bed import Bed

pytestmark = pytest.mark.e2e


def test_cli_lists_opencode_models_default_first(bed: Bed) -> None:
    listed = bed.ao_json("models")
    assert listed["project"] == "my-project"
    assert listed["default"] == "fake/fake-model"  # OpenCode's own default (opencode.json "model")
    assert listed["models"][0] == "fake/fake-model"
    assert listed["models"].count("fake/fake-model") == 1
    assert all("/" in m and " " not in m for m in listed["models"]), listed["models"]

    # The project's agentConfig.model wins, and a provider from the project's opencode.json shows up.
    bed.write_config(model="extra/local-x")
    (bed.project / "opencode.json").write_text(json.dumps({"provider": {"extra": {
        "npm": "@ai-sdk/openai-compatible", "options": {"baseURL": bed.model.base_url},
        "models": {"local-x": {"name": "Local X"}}}}}))
    out = bed.ao("models", "my-project", check=True).stdout.splitlines()
    assert out[0] == "extra/local-x\tdefault"
    assert "fake/fake-model" in out


def test_cli_errors_are_one_readable_line(bed: Bed) -> None:
    (bed.project / "opencode.json").write_text('{"model": 3, ')
    proc = bed.ao("models")
    assert proc.returncode == 1
    assert proc.stderr.startswith("ao: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "models` failed" in proc.stderr and "opencode.json" in proc.stderr and "Traceback" not in proc.stderr

    proc = bed.ao("models", "no-such-project")
    assert proc.returncode == 1 and "unknown project 'no-such-project'" in proc.stderr


async def test_server_caches_per_process_and_refreshes_on_demand(bed: Bed) -> None:
    client, _, _ = await start_server(bed)
    try:
        first: dict[str, Any] = await req(client, "ao/models", {})
        assert first["project"] == "my-project" and first["models"][0] == "fake/fake-model"
        assert first["cached"] is False

        # A provider added afterwards is not seen until a refresh: the list is cached for this server.
        (bed.project / "opencode.json").write_text(json.dumps({"provider": {"extra": {
            "npm": "@ai-sdk/openai-compatible", "options": {"baseURL": bed.model.base_url},
            "models": {"local-x": {}}}}}))
        again = await req(client, "ao/models", {"project": "my-project"})
        assert again["cached"] is True and again["models"] == first["models"]
        fresh = await req(client, "ao/models", {"refresh": True})
        assert fresh["cached"] is False and "extra/local-x" in fresh["models"]

        # As a workspace/executeCommand too, like every operation.
        by_command = await cmd(client, "ao/models", {})
        assert by_command["models"] == fresh["models"] and by_command["cached"] is True

        err = await error_of(req(client, "ao/models", {"refresh": "yes"}))
        assert err.code == -32602 and "refresh must be true or false" in err.message
        err = await error_of(req(client, "ao/models", {"project": "nope"}))
        assert err.code == -32003 and "unknown project 'nope'" in err.message
    finally:
        await stop_server(client)


def test_unknown_model_still_spawns_and_opencode_says_why(bed: Bed) -> None:
    """The list is advice: a model typed by hand goes to OpenCode, whose failure is the outcome."""
    sid = bed.ao("spawn", "my-project", "Hello", "--model", "nope/not-a-model", check=True).stdout.strip()
    done = bed.wait_exited(sid)
    assert done["model"] == "nope/not-a-model"
    assert done["exitCode"] == 1 and done["outcome"]["result"] == "error", done
    logs = bed.ao("logs", sid, check=True).stdout
    assert "Error:" in logs  # OpenCode's own words, in the agent's pane
    said = done["outcome"]["error"]  # ... and in the outcome an editor shows
    assert said != "the agent exited with code 1" and "Error" in said and said in logs, said
