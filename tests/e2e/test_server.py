"""ao-server end to end: pytest-lsp drives the real server process over stdio.

Real OpenCode (the fake model behind it), real tmux on the bed's private
socket. Each test starts its own server in its own bed; agents are few
(two spawns, one CLI spawn, one long agent for the in-flight test).
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from pytest_lsp.client import register_lsp_features
from pytest_lsp.protocol import LanguageClientProtocol

from ao_server.protocol import METHODS, STATUS_CHANGED
from tests.support.bed import Bed
from tests.support.contract import check_notification, check_result

pytestmark = pytest.mark.e2e

SERVER = [sys.executable, "-m", "ao_server"]
SESSION_KEYS = {
    "sessionId",
    "project",
    "status",
    "exitCode",
    "activity",
    "runtime",
    "prompt",
    "model",
    "createdAt",
    "endedAt",
    "opencodeSessionId",
    "cost",
    "summary",
    "outcome",
}
CHANGE_KEYS = {"sessionId", "project", "previous", "status", "activity", "exitCode", "outcome", "at"}


# --- a pytest-lsp client that keeps ao/* results and notifications as plain JSON --------------


@attrs.define
class RawResponse:
    id: Any
    jsonrpc: str
    result: Any = None


@attrs.define
class RawNotification:
    method: str
    jsonrpc: str
    params: Any = None


class AoClientProtocol(LanguageClientProtocol):
    def get_result_type(self, method: str) -> Any:
        return RawResponse if method.startswith("ao/") else super().get_result_type(method)

    def get_message_type(self, method: str) -> Any:
        return RawNotification if method == STATUS_CHANGED else super().get_message_type(method)


class Changes:
    """Every ao/statusChanged the client received, in order (registered before any request)."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, params: Any) -> None:
        self.items.append(check_notification(STATUS_CHANGED, params))

    async def wait(
        self,
        pred: Callable[[dict[str, Any]], bool],
        timeout: float = 120,
        start: int = 0,
        what: str = "a status change",
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.items[start:]:
                if pred(item):
                    return item
            await asyncio.sleep(0.05)
        raise AssertionError(f"no ao/statusChanged for {what} within {timeout}s; got {self.items}")


async def start_server(
    bed: Bed, *, env: dict[str, str] | None = None, options: dict[str, Any] | None = None, progress: bool = True
) -> tuple[LanguageClient, Changes, types.InitializeResult]:
    client = LanguageClient(protocol_cls=AoClientProtocol)
    register_lsp_features(client)
    changes = Changes()

    def on_change(params: Any) -> None:
        changes.add(params)

    client.feature(STATUS_CHANGED)(on_change)
    # The server's cwd is not the workspace: the workspace comes from initialize.
    await client.start_io(*SERVER, env=env or bed.env, cwd=str(bed.root))
    uri = bed.project.as_uri()
    caps = types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=progress))
    try:
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=uri,
                workspace_folders=[types.WorkspaceFolder(uri=uri, name="my-project")],
                initialization_options={"pollInterval": 0.3, **(options or {})},
            )
        )
    except BaseException:
        client.capabilities = None  # not initialized: nothing to shut down, just stop the process
        await stop_server(client)
        raise
    return client, changes, result


async def stop_server(client: LanguageClient) -> None:
    """shutdown + exit; a server that does not go is terminated (by its PID, through the client)."""
    server = client._server
    try:
        if server is not None and server.returncode is None and client.capabilities is not None:
            await asyncio.wait_for(client.shutdown_session(), 15)
    finally:
        if server is not None and server.returncode is None:
            server.terminate()
        await asyncio.wait_for(client.stop(), 15)


@pytest_asyncio.fixture
async def server(bed: Bed) -> AsyncIterator[tuple[LanguageClient, Changes, types.InitializeResult]]:
    started = await start_server(bed)
    try:
        yield started
    finally:
        await stop_server(started[0])


async def req(client: LanguageClient, method: str, params: Any = None, timeout: float = 60) -> Any:
    """A request; its result must match docs/protocol.schema.json."""
    return check_result(method, await asyncio.wait_for(client.protocol.send_request_async(method, params), timeout))


async def cmd(client: LanguageClient, command: str, params: Any = None, timeout: float = 60) -> Any:
    args = None if params is None else [params]
    result = await asyncio.wait_for(
        client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=args)), timeout
    )
    return check_result(command, result)


async def error_of(call: Any) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await call
    return info.value


# --- tests ---------------------------------------------------------------------------------------


async def test_initialize_advertises_every_command(server: Any) -> None:
    _, _, result = server
    provider = result.capabilities.execute_command_provider
    assert provider is not None
    assert list(provider.commands) == list(METHODS)
    assert result.server_info is not None and result.server_info.name == "ao-server"


async def test_spawn_both_ways_then_exit_status_attach_logs(bed: Bed, server: Any) -> None:
    client, changes, _ = server
    marker = uuid.uuid4().hex[:8]

    by_request = await req(client, "ao/spawn", {"prompt": f"Say hello ({marker}-a)"})
    by_command = await cmd(client, "ao/spawn", {"project": "my-project", "prompt": f"Say hello ({marker}-b)"})
    for s in (by_request, by_command):
        assert set(s) >= SESSION_KEYS, s
        assert s["status"] == "running" and s["project"] == "my-project" and s["runtime"] == "tmux"
        assert s["sessionId"].startswith("my-project/agent-")
    assert set(by_request) == set(by_command)
    assert by_request["prompt"] == f"Say hello ({marker}-a)"

    # Spawn reported work-done progress (the client supports it): begin ... end, per spawn.
    kinds = [[type(v).__name__ for v in values] for values in client.progress_reports.values()]
    assert kinds.count(["WorkDoneProgressBegin", "WorkDoneProgressEnd"]) == 2, kinds

    # Both exits are pushed; the waiter was registered before the spawns.
    for s in (by_request, by_command):
        sid = s["sessionId"]
        change = await changes.wait(
            lambda c, sid=sid: c["sessionId"] == sid and c["status"] == "exited", what=f"{sid} exiting"
        )
        assert set(change) >= CHANGE_KEYS
        assert change["previous"] in ("running", None)
        assert change["exitCode"] == 0 and change["outcome"]["result"] == "success", change
        assert change["project"] == "my-project" and change["at"].endswith("Z")
    assert bed.requests_with(f"{marker}-a") and bed.requests_with(f"{marker}-b")

    # Status: the same sessions whichever way it is asked.
    via_request = await req(client, "ao/status", {})
    via_command = await cmd(client, "ao/status", {})
    ids = {s["sessionId"] for s in via_request["sessions"]}
    assert ids == {by_request["sessionId"], by_command["sessionId"]}
    assert ids == {s["sessionId"] for s in via_command["sessions"]}
    one = await req(client, "ao/status", {"sessionId": by_request["sessionId"]})
    assert [s["status"] for s in one["sessions"]] == ["exited"]
    assert one["sessions"][0]["exitCode"] == 0

    # Attach: a command an editor can run in a terminal, on the bed's private tmux socket.
    attach = await req(client, "ao/attach", {"sessionId": by_request["sessionId"]})
    assert attach == await cmd(client, "ao/attach", {"sessionId": by_request["sessionId"]})
    assert attach["type"] == "tmux" and attach["argv"][:2] == ["tmux", "-S"]
    assert attach["argv"][2].endswith("/" + bed.tmux_socket)  # the socket used, as a path
    assert attach["command"] == shlex.join(attach["argv"])
    assert attach["sessionId"] == by_request["sessionId"]

    listed = await req(client, "ao/list", {})
    assert {s["sessionId"] for s in listed["sessions"]} == ids
    assert [(pr["name"], pr["default"]) for pr in listed["projects"]] == [("my-project", True)]

    logs = await req(client, "ao/logs", {"sessionId": by_command["sessionId"], "lines": 200})
    assert isinstance(logs["text"], str) and logs["truncated"] is False

    # Resume continues the same OpenCode session when introspection bound one; else it says why not.
    sid = by_request["sessionId"]
    if one["sessions"][0]["opencodeSessionId"]:
        mark = len(changes.items)
        resumed = await req(client, "ao/resume", {"sessionId": sid, "prompt": f"Once more ({marker}-c)"})
        assert resumed["status"] == "running"
        await changes.wait(
            lambda c: c["sessionId"] == sid and c["status"] == "exited", start=mark, what=f"{sid} exiting after resume"
        )
    else:
        err = await error_of(req(client, "ao/resume", {"sessionId": sid}))
        assert err.code == -32009 and err.data["kind"] == "NotResumable"


async def test_session_spawned_by_the_cli_appears(bed: Bed, server: Any) -> None:
    client, changes, _ = server
    await req(client, "ao/status", {})
    await asyncio.sleep(1.0)  # the poller has its baseline: the CLI's session is new to it
    proc = await asyncio.to_thread(bed.ao, "spawn", "my-project", "Say hello from the CLI", check=True)
    sid = proc.stdout.strip()
    first = await changes.wait(lambda c: c["sessionId"] == sid, what=f"{sid} appearing")
    assert first["previous"] is None  # new to this server
    status = await req(client, "ao/status", {})
    assert sid in {s["sessionId"] for s in status["sessions"]}
    exited = await changes.wait(lambda c: c["sessionId"] == sid and c["status"] == "exited", what=f"{sid} exiting")
    assert exited["exitCode"] == 0


async def test_errors_have_their_codes_and_the_server_keeps_serving(server: Any) -> None:
    client, _, _ = server
    err = await error_of(req(client, "ao/status", {"sessionId": "my-project/agent-999"}))
    assert err.code == -32004 and err.data["kind"] == "UnknownSession"
    same = await error_of(cmd(client, "ao/status", {"sessionId": "my-project/agent-999"}))
    assert (same.code, same.message) == (err.code, err.message)

    err = await error_of(req(client, "ao/status", {"sessionId": 7}))
    assert err.code == -32602 and "sessionId" in err.message and err.data["field"] == "sessionId"
    err = await error_of(req(client, "ao/attach", {}))
    assert err.code == -32602 and "sessionId" in err.message
    err = await error_of(req(client, "ao/kill", {"session_id": "agent-1"}))
    assert err.code == -32602 and "sessionId" in err.message  # the did-you-mean hint
    err = await error_of(req(client, "ao/spawn", ["not", "an", "object"]))
    assert err.code == -32602
    err = await error_of(cmd(client, "ao/frobnicate", {}))
    assert err.code == -32602 and "ao/frobnicate" in err.message

    err = await error_of(req(client, "ao/frobnicate", {}))
    assert err.code == -32601

    err = await error_of(req(client, "ao/attach", {"sessionId": "not an id"}))
    assert err.code == -32001 and err.data["kind"] == "UsageError"
    err = await error_of(req(client, "ao/spawn", {"project": "nope", "prompt": "x"}))
    assert err.code == -32003 and "my-project" in err.message
    err = await error_of(req(client, "ao/spawn", {"prompt": "x", "runtime": "nope"}))
    assert err.code == -32001
    err = await error_of(req(client, "ao/logs", {"sessionId": "agent-999", "lines": 0}))
    assert err.code == -32602 and "lines" in err.message

    assert (await req(client, "ao/status", {}))["sessions"] == []


async def test_config_error_is_returned_per_request_until_fixed(bed: Bed) -> None:
    good = (bed.project / "agent-orchestrator.yaml").read_text()
    bed.write_config("projects:\n  - name: my-project\n    pathh: /nowhere\n")
    client, _, _ = await start_server(bed)
    try:
        for _ in range(2):
            err = await error_of(req(client, "ao/status", {}))
            assert err.code == -32002 and err.data["kind"] == "ConfigError" and "pathh" in err.message
        bed.write_config(good)
        assert (await req(client, "ao/status", {}))["sessions"] == []
    finally:
        await stop_server(client)


async def test_status_answers_while_a_spawn_is_in_flight_and_cancel_works(bed: Bed, tmp_path: Path) -> None:
    # A tmux that takes 3 s to create a session makes the spawn slow; everything else is the real tmux.
    shim = tmp_path / "shim"
    shim.mkdir()
    real = shutil.which("tmux")
    assert real
    (shim / "tmux").write_text(
        f'#!/bin/sh\nfor a in "$@"; do [ "$a" = new-session ] && sleep 3; done\nexec {real} "$@"\n'
    )
    (shim / "tmux").chmod(0o755)
    env = {**bed.env, "PATH": f"{shim}{os.pathsep}{bed.env.get('PATH', os.defpath)}"}
    client, changes, _ = await start_server(bed, env=env)
    try:
        spawning = client.protocol.send_request("ao/spawn", {"prompt": "[[slow:60]] A long task"}, msg_id="spawn-1")
        await asyncio.sleep(0.5)
        started = time.monotonic()
        status = await req(client, "ao/status", {})
        assert time.monotonic() - started < 2.0
        assert not spawning.done(), "the spawn should still be running"
        assert status["sessions"] == [] or all(s["status"] == "running" for s in status["sessions"])

        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="spawn-1"))
        err = await error_of(asyncio.wrap_future(spawning))
        assert err.code == -32800

        # The engine call had started: the session is created anyway, and the poller reports it.
        new = await changes.wait(lambda c: c["previous"] is None and c["status"] == "running", what="the new session")
        sid = new["sessionId"]
        await req(client, "ao/status", {"sessionId": sid})

        # shutdown + exit end the server cleanly and leave the agent running.
        server_proc = client._server
        assert server_proc is not None
        await asyncio.wait_for(client.shutdown_session(), 15)
        assert server_proc.returncode == 0
        assert (await asyncio.to_thread(bed.status_of, sid))["status"] == "running"
        await asyncio.to_thread(bed.ao, "kill", sid, check=True)
    finally:
        await stop_server(client)


async def test_show_messages_option_and_invalid_initialization_options(bed: Bed) -> None:
    client, _, _ = await start_server(bed, options={"showMessages": True})
    try:
        await cmd(client, "ao/status", {})
        deadline = time.monotonic() + 10
        while not any(m.message == "ao: no sessions" for m in client.messages) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [m.message for m in client.messages] == ["ao: no sessions"]
    finally:
        await stop_server(client)

    with pytest.raises(JsonRpcException) as info:
        await start_server(bed, options={"pollInterval": "fast"})
    assert info.value.code == -32602 and "initializationOptions.pollInterval" in info.value.message
