#!/usr/bin/env python3
"""A JSON-RPC client for ao-server using only the Python standard library.

It starts the server, spawns a session with ``ao/spawn``, waits for the
``ao/statusChanged`` notification that says the session exited, prints the
outcome and stops the server (the agent itself would outlive the server: it
belongs to the user). Use it as a script or as a tiny library (:class:`Connection`).

    python3 ao_client.py "Add unit tests for the auth module"
    python3 ao_client.py --project my-project --server "ao-server -v" "Fix the lint errors"

Exit status: 0 when the agent's outcome is success, 1 when it is not, 2 when
the server or the request failed (the message says why).

The wire format is the LSP base protocol: each message is
``Content-Length: N\\r\\n\\r\\n`` followed by N bytes of JSON-RPC 2.0.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import shlex
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any


class RpcError(Exception):
    """An error response: ``code`` (see docs/protocol.md), ``message``, ``data``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class Connection:
    """One server process and the JSON-RPC conversation with it."""

    def __init__(
        self,
        argv: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        stderr: IO[Any] | int | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=cwd
        )
        self._ids = itertools.count(1)
        self._write_lock = threading.Lock()
        self._pending: dict[int | str, Future[Any]] = {}
        self.notifications: queue.Queue[tuple[str, Any, float]] = queue.Queue()
        self._reader = threading.Thread(target=self._read_loop, name="ao-client-reader", daemon=True)
        self._reader.start()

    # --- sending ---------------------------------------------------------------------------

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode("utf-8")
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def request_future(self, method: str, params: Any = None) -> Future[Any]:
        msg_id = next(self._ids)
        fut: Future[Any] = Future()
        self._pending[msg_id] = fut
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return fut

    def request(self, method: str, params: Any = None, timeout: float = 120) -> Any:
        """Send a request and wait for its result; an error response raises :class:`RpcError`."""
        return self.request_future(method, params).result(timeout)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    # --- receiving ------------------------------------------------------------------------------

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    if not line.strip():
                        break
                    name, _, value = line.decode("ascii", "replace").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    continue
                self._dispatch(json.loads(out.read(length)), time.time())
        finally:
            for fut in list(self._pending.values()):
                if not fut.done():
                    fut.set_exception(RpcError(-32099, "the server closed the connection"))
            self.notifications.put(("", None, time.time()))  # wakes up a waiting reader

    def _dispatch(self, msg: dict[str, Any], received: float) -> None:
        if "method" in msg:
            if "id" in msg:  # a request from the server (e.g. window/workDoneProgress/create): accept it
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
            else:
                self.notifications.put((msg["method"], msg.get("params"), received))
            return
        fut = self._pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
        if fut is None:
            return
        if "error" in msg:
            err = msg["error"] or {}
            fut.set_exception(RpcError(err.get("code", -32603), err.get("message", "?"), err.get("data")))
        else:
            fut.set_result(msg.get("result"))

    def wait_notification(self, method: str, match: Any = None, timeout: float = 600) -> tuple[Any, float]:
        """The next notification ``method`` whose params satisfy ``match(params)``; others are dropped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {method} notification within {timeout:g}s")
            try:
                name, params, received = self.notifications.get(timeout=left)
            except queue.Empty:
                continue
            if name == "" and self.proc.poll() is not None:
                raise RpcError(-32099, f"the server exited with code {self.proc.returncode}")
            if name == method and (match is None or match(params)):
                return params, received

    # --- lifecycle --------------------------------------------------------------------------------

    def initialize(self, workspace: Path, options: dict[str, Any] | None = None) -> Any:
        uri = workspace.resolve().as_uri()
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "clientInfo": {"name": "ao_client.py"},
                "rootUri": uri,
                "workspaceFolders": [{"uri": uri, "name": workspace.name}],
                "capabilities": {},
                "initializationOptions": options or {},
            },
        )
        self.notify("initialized", {})
        return result

    def close(self, timeout: float = 10) -> int:
        """``shutdown`` then ``exit``; returns the server's exit code. Agents keep running."""
        try:
            if self.proc.poll() is None:
                self.request("shutdown", None, timeout=timeout)
                self.notify("exit", None)
        except (RpcError, OSError, TimeoutError):
            pass
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Spawn an OpenCode agent through ao-server and wait for it to exit.")
    ap.add_argument("prompt", nargs="?", help="the task (default: the project's agentConfig.prompt)")
    ap.add_argument("--project", help="project name (default: the workspace's project)")
    ap.add_argument("--model", help="model for OpenCode (default: agentConfig.model)")
    ap.add_argument("--server", default="ao-server", help="command that starts the server (default: ao-server)")
    ap.add_argument("--workspace", default=".", help="the workspace folder (default: the current folder)")
    ap.add_argument("--config", help="agent-orchestrator.yaml (default: found from the workspace)")
    ap.add_argument("--poll-interval", type=float, default=1.0, help="seconds between status polls")
    ap.add_argument("--timeout", type=float, default=1800, help="give up waiting after this many seconds")
    args = ap.parse_args(argv)

    options: dict[str, Any] = {"pollInterval": args.poll_interval}
    if args.config:
        options["configPath"] = args.config
    params = {k: v for k, v in (("project", args.project), ("prompt", args.prompt), ("model", args.model)) if v}
    try:
        conn = Connection(shlex.split(args.server))
    except OSError as e:
        print(f"ao_client: cannot start {args.server!r}: {e}", file=sys.stderr)
        return 2
    try:
        conn.initialize(Path(args.workspace), options)
        session = conn.request("ao/spawn", params)
        sid = session["sessionId"]
        print(f"spawned {sid} ({session['status']})", flush=True)
        # The poller reports every change; the one we want says this session exited.
        change, _ = conn.wait_notification(
            "ao/statusChanged",
            lambda c: c.get("sessionId") == sid and c.get("status") == "exited",
            timeout=args.timeout,
        )
        outcome = change.get("outcome") or {}
        result = outcome.get("result") or "unknown"
        print(f"{sid} exited with code {change.get('exitCode')}: {result}")
        print(json.dumps({"sessionId": sid, "exitCode": change.get("exitCode"), "outcome": outcome}, indent=2))
        return 0 if result == "success" else 1
    except RpcError as e:
        print(f"ao_client: {e.message} (code {e.code})", file=sys.stderr)
        return 2
    except TimeoutError as e:
        print(f"ao_client: {e}", file=sys.stderr)
        return 2
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
