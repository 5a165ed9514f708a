"""The server's stdio and its use of pygls: the only module that touches pygls's internals.

Reading stdin is our own loop (a thread that frames messages) rather than
pygls's, so that garbage never kills the server: bad headers are skipped,
oversized bodies discarded, invalid JSON answered with ``-32700``, invalid
envelopes with ``-32600``, unknown methods with ``-32601``, requests before
``initialize`` with ``-32002``.

A client that sends faster than the server handles is slowed by the pipe
(the reader thread waits while ``MAX_PENDING_FRAMES`` frames are not yet
handled); a client that stops reading fills the writer's queue, not the event
loop: the poller skips notifications while more than ``SOFT_LIMIT`` bytes wait
(their changes are sent later), and past ``HARD_LIMIT`` the client is taken
to be gone.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, BinaryIO

from cattrs.errors import ClassValidationError
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol, lsp_method

from .. import protocol as p

if TYPE_CHECKING:
    from .app import AoServer

log = logging.getLogger(__name__)
Frame = bytes | int | None  # a body, the size of a skipped oversized body, or EOF
RAW_METHODS = frozenset((*p.METHODS, types.WORKSPACE_EXECUTE_COMMAND))

MAX_PENDING_FRAMES = 64
SOFT_LIMIT = 8 * 1024 * 1024
HARD_LIMIT = 128 * 1024 * 1024


class QueuedWriter:
    """pygls's writer interface (``write``, ``close``) over a thread that does the blocking writes."""

    def __init__(self, out: BinaryIO, on_stuck: Callable[[], None]) -> None:
        self._out = out
        self._on_stuck = on_stuck
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._broken = False
        self._thread = threading.Thread(target=self._run, name="ao-stdout", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Bytes queued but not yet written."""
        return self._pending

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._broken:
                return
            if self._pending + len(data) > HARD_LIMIT:
                self._broken = True
                log.error("the client has not read %d bytes of output; taking it to be gone", self._pending)
                self._on_stuck()
                return
            self._pending += len(data)
        self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)

    def flush(self, timeout: float = 5.0) -> None:
        """Wait (bounded) until what was queued is written: before the process exits."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            data = self._queue.get()
            if data is None:
                return
            try:
                self._out.write(data)
                self._out.flush()
            except (OSError, ValueError) as e:
                log.info("writing to the client failed: %s", e)
                with self._lock:
                    self._broken = True
                self._on_stuck()
                return
            finally:
                with self._lock:
                    self._pending -= len(data)


class FrameGate:
    """At most ``MAX_PENDING_FRAMES`` frames between the reader thread and the event loop."""

    def __init__(self, limit: int = MAX_PENDING_FRAMES) -> None:
        self._sem = threading.BoundedSemaphore(limit)

    def enter(self) -> None:
        """Called by the reader thread before handing a frame over; waits while the loop is behind."""
        self._sem.acquire()

    def leave(self) -> None:
        """Called on the event loop once a frame is handled."""
        self._sem.release()


class AoProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with quiet expected errors, plain-JSON results and our ``workspace/executeCommand``."""

    _server: AoServer

    def _send_handler_result(self, future: Future[Any], *, msg_id: p.MsgId) -> None:
        # Expected errors (bad params, unknown session, ...) are answered without a traceback in the log.
        if not future.cancelled():
            exc = future.exception()
            if isinstance(exc, JsonRpcException):
                self._request_futures.pop(msg_id, None)
                log.debug("request %r failed: %s %s", msg_id, exc.code, exc.message)
                self._send_response(msg_id, error=exc.to_response_error())
                return
        super()._send_handler_result(future, msg_id=msg_id)

    def _send_response(self, msg_id: p.MsgId, result: Any | None = None, error: Any | None = None) -> None:
        # Results that are wire JSON already (every ao/* result) skip pygls's cattrs pass over them.
        if error is None and (result is None or isinstance(result, dict | list | str | int | float)):
            self._result_types.pop(msg_id, None)
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "result": result})
            return
        super()._send_response(msg_id, result, error)

    def send_error(self, msg_id: p.MsgId | None, code: int, message: str, data: Any = None) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

    def is_known(self, method: str) -> bool:
        fm = self.fm
        return method in fm.builtin_features or method in fm.features or method == types.CANCEL_REQUEST

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: Any) -> Any:  # type: ignore[override]
        """``workspace/executeCommand`` (params as plain JSON): ``arguments: [params]`` run like the request."""
        return await self._server.execute_command(params)


def handle_frame(ls: AoServer, frame: Frame) -> None:
    """One framed message from stdin, on the event loop: checked, then handed to pygls."""
    proto: AoProtocol = ls.protocol  # type: ignore[assignment]
    if frame is None:
        log.info("stdin closed")
        ls.finish(0)
        return
    if isinstance(frame, int):
        proto.send_error(
            None, p.INVALID_REQUEST, f"a message of {frame} bytes is over the {p.MAX_BODY}-byte limit; it was skipped"
        )
        return
    try:
        data = json.loads(frame)
    except RecursionError:
        proto.send_error(None, p.PARSE_ERROR, "Parse error: the JSON is nested too deeply")
        return
    except ValueError as e:
        proto.send_error(None, p.PARSE_ERROR, f"Parse error: {p.shorten(str(e), 200)}")
        return
    env = p.classify(data)
    if env.kind == "invalid":
        proto.send_error(env.id, p.INVALID_REQUEST, f"Invalid request: {env.error}")
        return
    if env.kind == "response":
        try:
            proto.handle_message(proto.structure_message(data))
        except Exception as e:
            log.warning("ignoring a malformed response %r: %s", env.id, e)
        return
    method = env.method or ""
    if env.kind == "notification" and method == types.EXIT:
        log.info("exit")
        ls.finish(0 if ls.shutdown_requested else 1)
        return
    if ls.shutdown_requested or ls.terminating:
        if env.kind == "request":
            proto.send_error(env.id, p.INVALID_REQUEST, "the server is shutting down; only 'exit' is accepted")
        return
    if not ls.initialized_once and method != types.INITIALIZE:
        if env.kind == "request":  # LSP: ServerNotInitialized
            proto.send_error(
                env.id,
                p.SERVER_NOT_INITIALIZED,
                f"the server is not initialized: send initialize before {p.shorten(method, 100)}",
                {"kind": "ServerNotInitialized"},
            )
        return
    if not proto.is_known(method):
        if env.kind == "request":
            proto.send_error(
                env.id,
                p.METHOD_NOT_FOUND,
                f"Method not found: {p.shorten(method, 100)}",
                {"method": p.shorten(method, 100)},
            )
        else:
            log.debug("ignoring notification %s", p.shorten(method, 100))
        return
    msg: Any
    if method in RAW_METHODS:  # params stay plain JSON, checked by ao_server.protocol
        params = data.get("params")
        if env.kind == "request" and env.id is not None:
            msg = JsonRPCRequestMessage(id=env.id, method=method, jsonrpc="2.0", params=params)
        else:
            msg = JsonRPCNotification(method=method, jsonrpc="2.0", params=params)
    else:
        try:
            msg = proto.structure_message(data)
        except Exception as e:
            if env.kind == "request":
                proto.send_error(env.id, p.INVALID_PARAMS, f"invalid params for {method}: {_why(e)}")
            else:
                log.info("ignoring malformed %s notification: %s", method, _why(e))
            return
    if env.kind == "request" and getattr(msg, "id", None) is None:  # e.g. "initialized" sent with an id
        proto.send_error(env.id, p.INVALID_REQUEST, f"{method} is a notification: send it without an id")
        return
    try:
        proto.handle_message(msg)
    except Exception as e:
        log.exception("handling %s failed", method)
        if env.kind == "request":
            proto.send_error(env.id, p.INTERNAL_ERROR, f"{method} failed: {type(e).__name__}")


def _why(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    if isinstance(cause, ClassValidationError):
        from cattrs import transform_error

        return p.shorten("; ".join(transform_error(cause)), 300)
    return p.shorten(str(cause) or type(cause).__name__, 300)


def read_frames(stdin: BinaryIO, deliver: Callable[[Frame], None]) -> None:
    """The stdin thread: split the byte stream into message bodies (LSP base protocol framing).

    Header lines are read up to a blank line; the last valid ``Content-Length``
    wins and anything else is ignored. Bodies over ``MAX_BODY`` are read and
    dropped (their size is delivered so the client hears about it). EOF
    delivers None.
    """
    try:
        while True:
            length: int | None = None
            while True:
                line = stdin.readline(p.MAX_HEADER_LINE)
                if not line:
                    deliver(None)
                    return
                if not line.strip():
                    if length is not None:
                        break
                    continue
                n = p.content_length(line)
                if n is not None:
                    length = n
            if length > p.MAX_BODY:
                left = length
                while left > 0:
                    chunk = stdin.read(min(left, 1 << 20))
                    if not chunk:
                        deliver(None)
                        return
                    left -= len(chunk)
                deliver(length)
                continue
            body = stdin.read(length) if length else b""
            if len(body) < length:
                deliver(None)
                return
            deliver(body)
    except (OSError, ValueError):
        log.exception("reading stdin failed")
        deliver(None)


def claim_stdio() -> tuple[BinaryIO, BinaryIO]:
    """Take stdin/stdout for the protocol; fds 0 and 1 become /dev/null and stderr.

    Nothing printed by a library or inherited by a child process can then
    corrupt the JSON-RPC stream or steal its input.
    """
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
    sys.stdout = sys.stderr
    return proto_in, proto_out
