"""A fake OpenAI-compatible model server for tests, benchmarks and the demo.

Speaks just enough of ``POST /v1/chat/completions`` (streaming and not) and
``GET /v1/models`` for OpenCode's ``@ai-sdk/openai-compatible`` provider.
Listens on 127.0.0.1 unless given another address (``host``, ``--bind``): the SSH test hosts
(tests/support/hosts.py) bind one on each host's gateway address so OpenCode inside the host reaches it.

Directives in the *last user message* steer the reply, so a test controls the
model through the prompt it gives the agent:

``[[slow:S]]``      stream the reply over S seconds
``[[fail]]``        answer HTTP 500 with an error body (a provider failure)
``[[tokens:I,O]]``  report I prompt tokens and O completion tokens in usage
``[[write:P:T]]``   first turn: a tool call that writes text T to file P
``[[bash:CMD]]``    first turn: a tool call that runs CMD with OpenCode's bash tool
``[[question:Q|A|B]]`` first turn: a call of OpenCode's question tool asking Q with options A, B, ...
``[[steps:N]]``     N steps in one turn: a bash tool call (``echo step K``) while fewer than N tool
                    results are in the conversation, then the reply; each step reports the usage and
                    takes the ``[[slow:S]]`` time

Every request is appended as one JSON line to ``--log`` (if given), with the
exact user text received (and the last tool result, ``tool_result``), so tests can
check prompts and answers arrive byte-for-byte.

Run: ``python tests/support/fake_model.py --port 0 --port-file F --log L [--bind ADDR]``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DIRECTIVE = re.compile(r"\[\[(slow|fail|tokens|write|bash|steps|question):?([^\]]*)\]\]")
REPLY = "Done. I looked at the task and it is complete."


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def parse_directives(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in DIRECTIVE.finditer(text)}


class Handler(BaseHTTPRequestHandler):
    server: FakeModelServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._json(400, {"error": {"message": "bad json"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        messages = body.get("messages") or []
        users = [m for m in messages if m.get("role") == "user"]
        last_user = _text_of(users[-1].get("content")) if users else ""
        first_user = _text_of(users[0].get("content")) if users else ""
        has_tool_result = bool(messages) and messages[-1].get("role") == "tool"
        directives = parse_directives(last_user)
        prompt_tokens, completion_tokens = 10, 5
        if "tokens" in directives:
            a, _, b = directives["tokens"].partition(",")
            prompt_tokens, completion_tokens = int(a or 10), int(b or 5)
        self.server.record(
            {
                "time": time.time(),
                "model": body.get("model"),
                "stream": bool(body.get("stream")),
                "user": last_user,
                "first_user": first_user,
                "n_messages": len(messages),
                "tools": [t.get("function", {}).get("name") for t in body.get("tools") or []],
                "usage": None if "fail" in directives else [prompt_tokens, completion_tokens],
                "tool_result": _text_of(messages[-1].get("content")) if has_tool_result else None,
            }
        )
        if "fail" in directives:
            self._json(400, {"error": {"message": "fake provider failure (requested by [[fail]])",
                                       "type": "invalid_request_error"}})
            return
        slow = float(directives.get("slow") or 0)
        tool_call = None
        if "write" in directives and not has_tool_result:
            path, _, text = directives["write"].partition(":")
            tool_names = [t.get("function", {}).get("name") for t in body.get("tools") or []]
            if "write" in tool_names:
                tool_call = {"name": "write", "arguments": json.dumps({"filePath": path, "content": text})}
        done_steps = sum(1 for m in messages if m.get("role") == "tool")
        if "steps" in directives and done_steps < int(directives["steps"] or 1):
            tool_call = {"name": "bash", "arguments": json.dumps({"command": f"echo step {done_steps + 1}",
                                                                  "description": "one step"})}
        if "question" in directives and not has_tool_result:
            question, *labels = directives["question"].split("|")
            options = [{"label": label, "description": f"pick {label}"} for label in labels]
            tool_call = {"name": "question", "arguments": json.dumps(
                {"questions": [{"question": question, "header": question[:30], "options": options}]})}
        if "bash" in directives and not has_tool_result:
            tool_call = {"name": "bash", "arguments": json.dumps({"command": directives["bash"],
                                                                  "description": "run a command"})}
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if body.get("stream"):
            self._stream(body, usage, slow, tool_call)
        else:
            time.sleep(slow)
            message: dict[str, Any] = {"role": "assistant", "content": REPLY}
            finish = "stop"
            if tool_call:
                message = {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_" + uuid.uuid4().hex[:8], "type": "function", "function": tool_call}]}
                finish = "tool_calls"
            self._json(200, {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                             "model": body.get("model"), "choices": [
                                 {"index": 0, "message": message, "finish_reason": finish}], "usage": usage})

    def _stream(self, body: dict[str, Any], usage: dict[str, int], slow: float,
                tool_call: dict[str, str] | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        cid = "chatcmpl-" + uuid.uuid4().hex[:12]
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None, with_usage: bool = False) -> None:
            payload: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created,
                                       "model": body.get("model"),
                                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if with_usage:
                payload["usage"] = usage
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

        try:
            chunk({"role": "assistant", "content": ""})
            if tool_call:
                if slow:
                    time.sleep(slow)
                chunk({"tool_calls": [{"index": 0, "id": "call_" + uuid.uuid4().hex[:8], "type": "function",
                                       "function": {"name": tool_call["name"], "arguments": ""}}]})
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": tool_call["arguments"]}}]})
                chunk({}, "tool_calls", with_usage=True)
            else:
                words = REPLY.split(" ")
                for i, word in enumerate(words):
                    if slow:
                        time.sleep(slow / len(words))
                    chunk({"content": word if i == 0 else " " + word})
                chunk({}, "stop", with_usage=True)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeModelServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, log: Path | None = None, host: str = "127.0.0.1") -> None:
        super().__init__((host, port), Handler)
        self.log_path = log
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def host(self) -> str:
        """The address it listens on (127.0.0.1 unless given another)."""
        return str(self.server_address[0])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def requests_with(self, marker: str) -> list[dict[str, Any]]:
        """The requests so far whose first user message contains ``marker``."""
        return [r for r in list(self.requests) if marker in (r.get("first_user") or "")]

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            if self.log_path:
                with self.log_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def start_background(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, name="fake-model", daemon=True)
        t.start()
        return t


def opencode_config(base_url: str, *, input_price: float = 1.0, output_price: float = 2.0) -> dict[str, Any]:
    """An ``opencode.json`` that points OpenCode at the fake model.

    Prices are USD per million tokens, as OpenCode's ``cost`` expects.
    """
    return {
        "$schema": "https://opencode.ai/config.json",
        "autoupdate": False,
        "share": "disabled",
        "model": "fake/fake-model",
        "small_model": "fake/fake-model",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "options": {"baseURL": base_url, "apiKey": "fake-key"},
                "models": {
                    "fake-model": {
                        "name": "Fake Model",
                        "cost": {"input": input_price, "output": output_price},
                        "limit": {"context": 100000, "output": 4096},
                    }
                },
            }
        },
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", type=Path, help="write the chosen port here once listening")
    ap.add_argument("--log", type=Path, help="append every request as a JSON line here")
    ap.add_argument("--bind", default="127.0.0.1", help="the address to listen on (default 127.0.0.1)")
    args = ap.parse_args(argv)
    srv = FakeModelServer(args.port, args.log, args.bind)
    if args.port_file:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(srv.port))
        tmp.replace(args.port_file)
    print(f"fake model listening on {srv.base_url}", file=sys.stderr, flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
