"""Property-based fuzz of ao-server's stdio: random and malformed messages against ONE server process.

Every frame is followed by a probe request; the server must answer every
request it could read (a result or a proper error), answer unparseable
bodies with -32700 and invalid envelopes with -32600, stay in sync with the
stream, and still serve a real request at the end. No agent runs: the
config uses the process runtime and AO_OPENCODE_BIN points nowhere, so a
well-formed ao/spawn fails with -32005 before anything starts.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from ao_server.protocol import MAX_BODY, METHODS, PARAMS, param_fields
from tests.support.bed import isolated_env

LSP_METHODS = set(types.METHOD_TO_TYPES)
SERVER_CODES = set(range(-32099, -31999))
ALLOWED_CODES = {-32700, -32600, -32601, -32602, -32603, -32800} | SERVER_CODES
FIELDS = [
    "sessionId",
    "project",
    "prompt",
    "model",
    "issueId",
    "runtime",
    "lines",
    "workDoneToken",
    "command",
    "arguments",
    "session_id",
    "id",
]


class RawServer:
    """The server process with a byte-level writer and a frame reader thread."""

    def __init__(self, tmp: Path) -> None:
        env = isolated_env(tmp, AO_OPENCODE_BIN=str(tmp / "no-such-opencode"))
        (tmp / "project").mkdir()
        self.project = tmp / "project"
        (self.project / "agent-orchestrator.yaml").write_text(
            f"plugins:\n  runtime: process\nprojects:\n  - name: fuzz\n    path: {self.project}\n"
        )
        self.log = tmp / "server.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ao_server", "--log-file", str(self.log)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
        )
        self.responses: queue.Queue[dict[str, Any]] = queue.Queue()
        self.ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if not line.strip():
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            assert length is not None, "the server wrote a frame without Content-Length"
            msg = json.loads(out.read(length))
            if "method" not in msg:  # notifications and server requests (showMessage, ...) are not answers
                self.responses.put(msg)

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def collect(
        self, want_ids: set[Any], want_null: int, timeout: float = 60
    ) -> tuple[dict[Any, dict[str, Any]], list[dict[str, Any]]]:
        """Read answers until every id in ``want_ids`` and at least ``want_null`` id-less errors arrived."""
        by_id: dict[Any, dict[str, Any]] = {}
        nulls: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not (want_ids <= by_id.keys() and len(nulls) >= want_null):
            left = deadline - time.monotonic()
            assert left > 0, (
                f"no answer for {want_ids - by_id.keys()} / {want_null - len(nulls)} null-id errors; "
                f"server alive: {self.proc.poll() is None}"
            )
            try:
                msg = self.responses.get(timeout=left)
            except queue.Empty:
                continue
            if msg.get("id") is None:
                nulls.append(msg)
            else:
                assert msg["id"] not in by_id, f"two answers for id {msg['id']!r}"
                by_id[msg["id"]] = msg
        return by_id, nulls

    def request(self, method: str, params: Any) -> dict[str, Any]:
        msg_id = f"probe-{next(self.ids)}"
        self.write(frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        return self.collect({msg_id}, 0)[0][msg_id]


def frame(message: Any, *, header: bytes | None = None) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return (header or b"Content-Length: %d\r\n\r\n" % len(body)) + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawServer]:
    srv = RawServer(tmp_path_factory.mktemp("fuzz"))
    init = srv.request(
        "initialize",
        {
            "processId": None,
            "rootUri": srv.project.as_uri(),
            "capabilities": {},
            "initializationOptions": {"pollInterval": 0.2},
        },
    )
    assert "result" in init, init
    srv.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    yield srv
    if srv.proc.poll() is None:
        srv.request("shutdown", None)
        srv.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        try:
            srv.proc.wait(10)
        except subprocess.TimeoutExpired:
            srv.proc.kill()


# --- strategies -----------------------------------------------------------------------------------


@dataclass
class Case:
    """Bytes to send and what must come back."""

    data: bytes
    kind: str
    request_id: Any = None  # an answer with this id is required
    method: str | None = None
    params: Any = None
    null_errors: list[int] = field(default_factory=list)  # id-less errors required, with these codes


counter = itertools.count(1)
huge = st.builds(lambda n, c: c * n, st.integers(20_000, 400_000), st.sampled_from(["a", "é", "\x00", "🙂", "\\"]))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["my-project", "fuzz", "agent-1", "fuzz/agent-2", "", "agent-0", "../etc", "x" * 1500]),
)
values = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=6,
)
objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values | huge, max_size=4)
GOOD = {
    "sessionId": st.sampled_from(["agent-1", "fuzz/agent-1", "other/agent-2", "agent-0", "nope", "agent-999999999"]),
    "project": st.sampled_from(["fuzz", "nope", "Fuzz"]),
    "prompt": st.sampled_from(["Add tests", "", "   ", "\x00"]) | huge,
    "model": st.sampled_from(["provider/model", "bad model!"]),
    "issueId": st.sampled_from(["ISSUE-1", "bad issue id!"]),
    "runtime": st.sampled_from(["process", "tmux", "nope"]),
    "host": st.sampled_from(["h1", "nope", "", "-oProxyCommand=x"]),
    "lines": st.sampled_from([1, 10, 0, -1, 2**40]),
    "workDoneToken": st.sampled_from(["tok", 7, None]),
    "refresh": st.sampled_from([True, False, "yes"]),
    "running": st.sampled_from([True, False, 1]),
    "limit": st.sampled_from([1, 50, 0, 10**6]),
    "cursor": st.sampled_from(["1", "999", "agent-1", "", "²"]),
    "budget": st.sampled_from([0.5, 2, 0, -1, 1e9, "1"]),
    "since": st.sampled_from(["today", "7d", "24h", "2026-13-45", "yesterday", ""]),
    "by": st.sampled_from(["project", "model", "day", "session", "week"]),
    "path": st.sampled_from(["a.txt", "../../etc/passwd", "/etc/passwd", "", "dir/x y.py", "-rf"]),
    "strategy": st.sampled_from(["auto", "ff", "merge", "squash", "rebase"]),
    "requestId": st.sampled_from(["per_1", "que_2", "", "../x", "x" * 300]),
    "reply": st.sampled_from(["once", "always", "reject", "maybe"]),
    "answers": st.sampled_from([[["Yes"]], [], [[]], "x", [[1]]]),
    "message": st.sampled_from(["thanks", "", "\x00"]),
    "notes": st.sampled_from([[{"path": "a.py", "line": 2, "text": "why"}], [{"path": "a.py"}], [], "x"]),
}


@st.composite
def field_value(draw: st.DrawFn, name: str) -> Any:
    return draw(GOOD[name]) if draw(st.integers(0, 99)) < 75 else draw(values)


plausible = st.fixed_dictionaries({}, optional={k: field_value(k) for k in GOOD})
params_st = st.one_of(
    st.none(),
    plausible,
    plausible,
    plausible,
    objects,
    values,
    st.builds(
        lambda a: {"command": a[0], "arguments": a[1]},
        st.tuples(st.sampled_from(METHODS) | scalars, st.lists(plausible, max_size=2) | values),
    ),
)
known_methods = st.sampled_from(
    [
        *METHODS,
        "workspace/executeCommand",
        "initialize",
        "initialized",
        "$/cancelRequest",
        "$/setTrace",
        "textDocument/hover",
        "textDocument/didOpen",
        "workspace/didChangeWorkspaceFolders",
        "ao/",
        "AO/SPAWN",
        "",
    ]
)


@st.composite
def methods(draw: st.DrawFn) -> str:
    roll = draw(st.integers(0, 99))  # mostly methods the server knows; sampled_from alone gets exhausted early
    if roll < 80:
        return draw(known_methods)
    return draw(st.text(max_size=40)) if roll < 95 else draw(huge)


def unique_id(seed: Any) -> Any:
    n = next(counter)
    return n if isinstance(seed, int) else f"{n}:{str(seed)[:20]}"


@st.composite
def requests(draw: st.DrawFn) -> Case:
    method = draw(methods())
    if method in PARAMS and draw(st.integers(0, 99)) < 60:  # params of the right shape, values good or not
        params = draw(st.fixed_dictionaries({}, optional={k: field_value(k) for k in param_fields(method)}))
    else:
        params = draw(params_st)
    msg_id = unique_id(draw(st.integers() | st.text(max_size=10)))
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if draw(st.booleans()) or params is not None:
        message["params"] = params
    return Case(frame(message), "request", request_id=msg_id, method=method, params=params)


@st.composite
def notifications(draw: st.DrawFn) -> Case:
    method = draw(
        st.one_of(
            st.sampled_from(
                [*METHODS, "$/cancelRequest", "initialized", "$/progress", "workspace/didChangeConfiguration"]
            ),
            st.text(max_size=20),
        )
    )
    return Case(frame({"jsonrpc": "2.0", "method": method, "params": draw(params_st)}), "notification")


@st.composite
def invalid_envelopes(draw: st.DrawFn) -> Case:
    msg_id = unique_id(0)
    bad = draw(
        st.sampled_from(
            ["no-version", "old-version", "method-type", "id-type", "id-null", "array", "scalar", "nothing"]
        )
    )
    message: Any = {"jsonrpc": "2.0", "id": msg_id, "method": "ao/status", "params": {}}
    answered_id: Any = msg_id
    if bad == "no-version":
        del message["jsonrpc"]
    elif bad == "old-version":
        message["jsonrpc"] = draw(st.sampled_from(["1.0", 2.0, None, "2.0 "]))
    elif bad == "method-type":
        message["method"] = draw(st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2)))
    elif bad == "id-type":
        message["id"] = draw(
            st.one_of(
                st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
                st.booleans(),
                st.lists(st.integers(), max_size=2),
                st.just({}),
            )
        )
        answered_id = None
    elif bad == "id-null":
        message["id"] = None
        answered_id = None
    elif bad == "array":
        message = [message, message]
        answered_id = None
    elif bad == "scalar":
        message = draw(scalars)
        answered_id = None
    else:
        message = {"jsonrpc": "2.0", "id": msg_id}
    if answered_id is None:
        return Case(frame(message), "invalid", null_errors=[-32600])
    return Case(frame(message), "invalid", request_id=msg_id, null_errors=[])


def _not_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return True
    return False


bad_bodies = st.one_of(
    st.binary(min_size=1, max_size=200).filter(_not_json),
    st.just(b"{" * 100_000),  # nested too deeply
    st.just(b"[" * 10 + b"]" * 9),
    st.just(b'{"jsonrpc": "2.0", "id": 1, "method": "ao/status", "params": {'),  # truncated
    st.just(b"\xff\xfe\x00garbage"),
    st.just(b"1" * 5000),  # an integer longer than Python's limit
    st.just(b""),
)


@st.composite
def bad_json(draw: st.DrawFn) -> Case:
    return Case(frame(draw(bad_bodies)), "bad-json", null_errors=[-32700])


@st.composite
def bad_headers(draw: st.DrawFn) -> Case:
    body = json.dumps({"jsonrpc": "2.0", "method": "ao/status", "params": {}}).encode()  # a notification
    variant = draw(
        st.sampled_from(
            [
                "nan",
                "negative",
                "no-length",
                "junk-line",
                "long-line",
                "lowercase",
                "lf-only",
                "extra-headers",
                "short-length",
            ]
        )
    )
    if variant == "nan":
        return Case(b"Content-Length: abc\r\n\r\n", variant)
    if variant == "negative":
        return Case(b"Content-Length: -5\r\n\r\n", variant)
    if variant == "no-length":
        return Case(b"Content-Type: application/vscode-jsonrpc\r\n\r\n", variant)
    if variant == "junk-line":
        return Case(draw(st.binary(max_size=100)).replace(b"\n", b"") + b"\r\n\r\n", variant)
    if variant == "long-line":
        return Case(b"X" * 200_000 + b"\r\n\r\n", variant)
    if variant == "lowercase":
        return Case(frame(body, header=b"content-length: %d\r\n\r\n" % len(body)), variant)
    if variant == "lf-only":
        return Case(frame(body, header=b"Content-Length: %d\n\n" % len(body)), variant)
    if variant == "extra-headers":
        return Case(
            frame(body, header=b"X-Whatever: 1\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)),
            variant,
        )
    cut = draw(st.integers(1, len(body) - 1))
    return Case(frame(body, header=b"Content-Length: %d\r\n\r\n" % cut), variant)


cases = st.one_of(requests(), requests(), requests(), notifications(), invalid_envelopes(), bad_json(), bad_headers())


# --- the properties -------------------------------------------------------------------------------------------


def check_answer(case: Case, answer: dict[str, Any]) -> None:
    assert answer.get("jsonrpc") == "2.0"
    assert ("result" in answer) != ("error" in answer), answer
    if "error" not in answer:
        assert case.kind == "request", f"{case.kind} got a result: {answer}"
        return
    err = answer["error"]
    assert isinstance(err.get("code"), int) and isinstance(err.get("message"), str) and err["message"], err
    assert err["code"] in ALLOWED_CODES, err
    assert len(err["message"]) < 2000, "error messages stay short even for huge input"
    if case.kind == "invalid":
        assert err["code"] == -32600, err
    method = case.method
    if case.kind == "request" and isinstance(method, str):
        if method not in LSP_METHODS and method not in METHODS:
            assert err["code"] == -32601, (method[:50], err)
        elif method in METHODS and case.params is not None and not isinstance(case.params, dict):
            assert err["code"] == -32602, (method, err)
        elif method in METHODS:
            assert err["code"] in {-32602} | SERVER_CODES, (method, err)


def test_fuzz_the_server_answers_every_request_and_stays_up(server: RawServer) -> None:
    sent = 0

    # No shrinking: the server is one long-lived process, so a failing batch is reported as generated.
    @settings(
        max_examples=600,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.function_scoped_fixture,
        ],
    )
    @given(st.lists(cases, min_size=2, max_size=3))
    def fuzz(batch: list[Case]) -> None:
        nonlocal sent
        probe = f"probe-{next(counter)}"
        for case in batch:
            server.write(case.data)
        server.write(frame({"jsonrpc": "2.0", "id": probe, "method": "$/fuzz/probe"}))
        sent += len(batch)
        want = {c.request_id for c in batch if c.request_id is not None} | {probe}
        nulls = sorted(code for c in batch for code in c.null_errors)
        by_id, null_answers = server.collect(want, len(nulls))
        assert by_id[probe]["error"]["code"] == -32601
        for case in batch:
            if case.request_id is not None:
                check_answer(case, by_id[case.request_id])
        for answer in null_answers:
            assert answer["error"]["code"] in (-32700, -32600), answer
        got = Counter(a["error"]["code"] for a in null_answers)
        assert all(got[code] >= n for code, n in Counter(nulls).items()), (nulls, null_answers)
        assert server.proc.poll() is None, "the server died"

    fuzz()
    assert sent >= 1000, f"only {sent} messages were sent"
    final = server.request("ao/status", {})
    assert final.get("result", {}).get("sessions") == [], final
    listed = server.request("workspace/executeCommand", {"command": "ao/list", "arguments": [{}]})
    assert [p["name"] for p in listed["result"]["projects"]] == ["fuzz"]


def test_an_oversized_message_is_skipped_and_the_stream_stays_in_sync(server: RawServer) -> None:
    size = MAX_BODY + 1
    server.write(b"Content-Length: %d\r\n\r\n" % size)
    chunk = b" " * (1 << 20)
    left = size
    while left:
        server.write(chunk[: min(left, len(chunk))])
        left -= min(left, len(chunk))
    probe = f"probe-{next(counter)}"
    server.write(frame({"jsonrpc": "2.0", "id": probe, "method": "ao/status", "params": {}}))
    by_id, nulls = server.collect({probe}, 1)
    assert by_id[probe]["result"]["sessions"] == []
    assert nulls[0]["error"]["code"] == -32600 and "limit" in nulls[0]["error"]["message"]


def test_a_well_formed_spawn_fails_cleanly_without_opencode(server: RawServer) -> None:
    answer = server.request("ao/spawn", {"prompt": "hello"})
    assert answer["error"]["code"] == -32005 and answer["error"]["data"]["kind"] == "AgentNotInstalled"
    assert "AO_OPENCODE_BIN" in answer["error"]["message"]


@pytest.mark.parametrize("method", ["ao/status", "ao/list"])
@pytest.mark.parametrize("cursor", ["²", "١٢", "１", "-1", " 1", ""])
def test_a_cursor_of_other_digits_is_invalid_params(server: RawServer, method: str, cursor: str) -> None:
    answer = server.request(method, {"cursor": cursor, "limit": 1})
    assert answer.get("error", {}).get("code") == -32602, answer  # not -32603, an internal error
    assert "cursor" in answer["error"]["message"] and "nextCursor" in answer["error"]["message"], answer
    assert answer["error"]["data"]["field"] == "cursor", answer
    assert server.request(method, {"cursor": "1", "limit": 1})["result"] is not None
