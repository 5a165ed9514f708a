"""ao-server: the editor-facing JSON-RPC server (pygls, LSP base protocol over stdio).

One process per editor window. Every operation is reachable two ways with
identical results: as its own request method (``ao/spawn``, ...) for plain
JSON-RPC clients, and as ``workspace/executeCommand`` with ``arguments:
[params]`` for LSP clients. A poller pushes ``ao/statusChanged``.
docs/protocol.md is the contract.

The handlers are thin: check params (:mod:`ao_server.protocol`), run the
blocking engine call (:class:`~ao_server.orchestrator.Orchestrator`) on a
worker thread, map :class:`~ao_server.errors.AoError` onto its JSON-RPC code.
Each worker thread has its own Orchestrator, so plugin state is never shared
between threads; the store (SQLite, WAL) is the one shared truth.

Reading stdin is our own loop (a thread that frames messages) rather than
pygls's, so that garbage never kills the server: bad headers are skipped,
oversized bodies discarded, invalid JSON answered with ``-32700``, invalid
envelopes with ``-32600``, unknown methods with ``-32601``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from cattrs.errors import ClassValidationError
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from . import __version__
from . import protocol as p
from .config import Config
from .errors import AoError, ConfigError
from .folders import load_workspace_config
from .models import models_for
from .orchestrator import Orchestrator, iso
from .store import default_state_dir
from .transport import SOFT_LIMIT, FrameGate, QueuedWriter

log = logging.getLogger(__name__)
T = TypeVar("T")
Frame = bytes | int | None  # a body, the size of a skipped oversized body, or EOF
RAW_METHODS = frozenset((*p.METHODS, types.WORKSPACE_EXECUTE_COMMAND))
POLL_OVERLAP = 2.0  # seconds each poll looks back for sessions that ended (clock steps, slow ticks)
SIGTERM_GRACE = 30.0  # how long SIGTERM waits for in-flight requests (a spawn) to finish


# --- errors on the wire --------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def wire_error(err: AoError) -> JsonRpcException:
    """An engine error as a JSON-RPC error with its stable code and ``data.kind``."""
    data = {"kind": type(err).__name__, **_jsonable(err.data)}
    return JsonRpcException(err.message, err.code, data=data)


def params_error(err: p.ParamsError) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(err.message, data={"field": err.field, "expected": err.expected})


# --- the protocol ----------------------------------------------------------------------------


class AoProtocol(LanguageServerProtocol):
    """pygls's LSP protocol with quiet expected errors and our own ``workspace/executeCommand``."""

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
        # Results that are plain JSON already (every ao/* result) skip pygls's cattrs pass over them.
        if error is None and (result is None or isinstance(result, dict | list | str | int | float)):
            self._result_types.pop(msg_id, None)
            self._send_data({"jsonrpc": "2.0", "id": msg_id, "result": result})
            return
        super()._send_response(msg_id, result, error)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: Any) -> Any:  # type: ignore[override]
        """``workspace/executeCommand`` (params as plain JSON): ``arguments: [params]`` run like the request."""
        return await self._server.execute_command(params)


# --- the server --------------------------------------------------------------------------------


class AoServer(LanguageServer):
    """Typed state of one editor window's server; handlers are registered by :func:`create_server`."""

    def __init__(self) -> None:
        super().__init__(
            "ao-server", __version__, protocol_cls=AoProtocol, text_document_sync_kind=types.TextDocumentSyncKind.None_
        )
        self.root = Path.cwd()
        self.roots: list[Path] = []  # every workspace folder (multi-root); root is the first
        self.options = p.InitOptions()
        self.initialized_once = False
        self.shutdown_requested = False
        self._config: Config | None = None
        self._config_lock = threading.Lock()
        self._local = threading.local()
        self.engine_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ao-engine")
        self.poll_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ao-poller")
        self._tasks: set[asyncio.Task[Any]] = set()
        self.poller: asyncio.Task[None] | None = None
        self.baseline: dict[str, p.Tracked] | None = None
        self._last_problem: str | None = None
        self._done: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._poll_since: float | None = None
        self._poll_above: int | None = None
        self._inflight: set[Future[Any]] = set()
        self._gate = FrameGate()
        self.writer: QueuedWriter | None = None
        self.terminating = False

    # --- the engine, on worker threads ------------------------------------------------------

    def config(self) -> Config:
        """The loaded config; a broken one is retried on every call, so fixing the file is enough."""
        with self._config_lock:
            if self._config is None:
                self._config = load_workspace_config(self.options.config_path, self.roots or [self.root])
                log.info("config: %s", self._config.describe_source())
            return self._config

    def state_dir(self) -> Path:
        return Path(self.options.state_dir).expanduser() if self.options.state_dir else default_state_dir()

    def orchestrator(self) -> Orchestrator:
        """This thread's Orchestrator (plugins keep per-instance state, so one per thread)."""
        cfg = self.config()
        orch: Orchestrator | None = getattr(self._local, "orch", None)
        if orch is None or orch.config is not cfg:
            orch = Orchestrator(cfg, self.state_dir())
            self._local.orch = orch
        return orch

    async def engine(self, fn: Callable[[Orchestrator], T]) -> T:
        """Run ``fn(orchestrator)`` off the event loop; SIGTERM waits for it to finish."""
        fut = self.engine_pool.submit(lambda: fn(self.orchestrator()))
        self._inflight.add(fut)
        fut.add_done_callback(self._inflight.discard)
        return await asyncio.wrap_future(fut)

    # --- dispatch -------------------------------------------------------------------------------

    async def dispatch(self, method: str, raw: object, work_done_token: types.ProgressToken | None = None) -> Any:
        """One operation, whichever way it came in: params check, engine call, error mapping."""
        try:
            params = p.parse_params(method, raw)
        except p.ParamsError as e:
            raise params_error(e) from None
        if work_done_token is not None and params.get("workDoneToken") is None:
            params["workDoneToken"] = work_done_token
        try:
            result = await HANDLERS[method](self, params)
        except AoError as e:
            raise wire_error(e) from None
        except JsonRpcException:
            raise
        except Exception as e:  # a bug or a plugin that raised something unexpected: contained
            log.exception("%s failed", method)
            raise JsonRpcInternalError(
                f"{method} failed: {type(e).__name__}: {p.shorten(str(e), 300)}", data={"kind": type(e).__name__}
            ) from None
        if self.options.show_messages:
            self.tell(summary(method, result))
        return result

    async def execute_command(self, raw: object) -> Any:
        try:
            command, params, token = p.parse_execute_command(raw)
        except p.ParamsError as e:
            raise params_error(e) from None
        return await self.dispatch(command, params, token)

    def tell(self, text: str | None, kind: types.MessageType = types.MessageType.Info) -> None:
        if text:
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"ao: {text}"))

    # --- progress ---------------------------------------------------------------------------------

    async def progress_begin(
        self, token: types.ProgressToken | None, title: str, message: str
    ) -> types.ProgressToken | None:
        """Start a work-done progress: the client's token, else one we create if the client supports it."""
        if token is None:
            caps = getattr(self.protocol, "client_capabilities", None)
            window = caps.window if caps is not None else None
            if not (window is not None and window.work_done_progress):
                return None
            token = f"ao-{uuid.uuid4().hex[:12]}"
            try:
                await asyncio.wait_for(self.work_done_progress.create_async(token), timeout=5)
            except (TimeoutError, JsonRpcException, RuntimeError) as e:
                log.info("the client refused a progress token: %s", e)
                return None
        self.work_done_progress.begin(
            token, types.WorkDoneProgressBegin(title=title, message=message, cancellable=False)
        )
        return token

    def progress_end(self, token: types.ProgressToken | None, message: str) -> None:
        if token is None:
            return
        self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        self.work_done_progress.tokens.pop(token, None)

    # --- the poller -------------------------------------------------------------------------------

    def run_task(self, coro: Awaitable[None], name: str) -> asyncio.Task[None]:
        """Start a supervised background task: kept referenced, its failure logged."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("background task %s failed", task.get_name(), exc_info=exc)
        if task is self.poller and not self.shutdown_requested:
            asyncio.get_running_loop().call_later(self.options.poll_interval, self.start_poller)

    def start_poller(self) -> None:
        if self.shutdown_requested or (self.poller is not None and not self.poller.done()):
            return
        self.poller = self.run_task(self._poll_forever(), "ao-poller")

    def stop_background(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    def _snapshot_views(self) -> list[dict[str, Any]]:
        """One tick's work on the poller thread: a snapshot of what may have changed, as session objects.

        That is the sessions not yet exited, those that ended since the last tick (by
        another process too) and new ones: never the whole history.
        """
        orch = self.orchestrator()
        started = time.time()
        if self._poll_above is None:  # first tick: the sessions that are running now
            self._poll_above = orch.store.max_num()
        records, bad = orch.store.for_poll(since=self._poll_since or started, above=self._poll_above)
        self._poll_since = started - POLL_OVERLAP
        self._poll_above = max([self._poll_above, *(r.num for r in records)])
        snap = orch.snapshot(records=records)
        snap.warnings[:0] = [str(b) for b in bad]
        views = [orch.view(r, snap.live.get(r.id), snap.intro.get(r.id)) for r in snap.records]
        warnings = sorted(set(snap.warnings))
        problem = "; ".join(warnings) or None
        if problem != self._last_problem:
            if problem:
                log.warning("status: %s", problem)
            self._last_problem = problem
        return views

    async def _poll_forever(self) -> None:
        loop = asyncio.get_running_loop()
        shown_error: str | None = None
        while True:
            started = loop.time()
            try:
                views = await loop.run_in_executor(self.poll_pool, self._snapshot_views)
                shown_error = None
                self.publish(views)
            except AoError as e:
                if str(e) != shown_error:  # say it once, not every tick
                    shown_error = str(e)
                    log.warning("poller: %s", e)
                    error = isinstance(e, ConfigError)
                    self.tell(str(e), types.MessageType.Error if error else types.MessageType.Warning)
            except (BrokenPipeError, ConnectionResetError):
                log.info("the client is gone")
                self._finish(0)
                return
            except Exception:
                log.exception("poller tick failed")
            await asyncio.sleep(max(0.0, self.options.poll_interval - (loop.time() - started)))

    def publish(self, views: Sequence[dict[str, Any]]) -> None:
        if self.writer is not None and self.writer.pending > SOFT_LIMIT:
            log.warning("the client is not reading; %d changes wait for it", len(views))
            return  # the baseline stays, so these changes are sent once it reads again
        changes, seen = p.diff_sessions(self.baseline, views, iso(time.time()))
        # Sessions not looked at this tick (exited long ago) keep their last known state.
        self.baseline = {**(self.baseline or {}), **seen}
        for change in changes:
            self.protocol.notify(p.STATUS_CHANGED, change)
            if self.options.show_messages and change["status"] == "exited" and change["previous"] != "exited":
                outcome = change.get("outcome") or {}
                bad = outcome.get("result") not in (None, "success")
                text = f"{change['sessionId']} exited ({outcome.get('result') or change.get('exitCode')})"
                if bad and outcome.get("error"):
                    text += f": {p.shorten(str(outcome['error']), 200)}"
                self.tell(text, types.MessageType.Warning if bad else types.MessageType.Info)

    # --- stdio -------------------------------------------------------------------------------------

    def serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        """Serve until ``exit``, EOF or SIGTERM; returns the process exit code. Agents are left running."""
        self.writer = QueuedWriter(stdout, on_stuck=self._client_gone)
        self.protocol.set_writer(self.writer)
        try:
            return asyncio.run(self._serve(stdin))
        finally:
            self.writer.flush()
            self.engine_pool.shutdown(wait=False, cancel_futures=True)
            self.poll_pool.shutdown(wait=False, cancel_futures=True)

    async def _serve(self, stdin: BinaryIO) -> int:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = loop.create_future()
        gate = self._gate

        def deliver(frame: Frame) -> None:
            gate.enter()  # waits while the event loop is behind: the pipe slows the client down
            try:
                loop.call_soon_threadsafe(self._on_frame, frame)
            except RuntimeError:  # the loop is gone: we are exiting
                pass

        try:
            loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            pass
        threading.Thread(target=read_frames, args=(stdin, deliver), name="ao-stdin", daemon=True).start()
        try:
            return await self._done
        finally:
            self.stop_background()

    def _client_gone(self) -> None:
        """From the writer thread: the client stopped reading, or its pipe broke."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._finish, 1)
            except RuntimeError:
                pass

    def _on_sigterm(self) -> None:
        """SIGTERM (an editor closing us): no new work; in-flight requests (a spawn) finish, then exit."""
        if self.terminating:
            return
        self.terminating = True
        log.info("SIGTERM: finishing %d in-flight request(s)", len(self._inflight))
        self.stop_background()
        self.run_task(self._drain_and_exit(), "ao-sigterm")

    async def _drain_and_exit(self) -> None:
        pending = [asyncio.wrap_future(f) for f in list(self._inflight)]
        if pending:
            await asyncio.wait(pending, timeout=SIGTERM_GRACE)
        await asyncio.sleep(0.05)  # let their responses be queued
        self._finish(0)

    def _finish(self, code: int) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(code)

    def _send_error(self, msg_id: p.MsgId | None, code: int, message: str, data: Any = None) -> None:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        self.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})

    def _on_frame(self, frame: Frame) -> None:
        """One framed message from stdin, on the event loop. Never raises."""
        try:
            self._handle_frame(frame)
        except Exception:
            log.exception("unexpected failure handling a message")
        finally:
            self._gate.leave()

    def _handle_frame(self, frame: Frame) -> None:
        if frame is None:
            log.info("stdin closed")
            self._finish(0)
            return
        if isinstance(frame, int):
            self._send_error(
                None,
                p.INVALID_REQUEST,
                f"a message of {frame} bytes is over the {p.MAX_BODY}-byte limit; it was skipped",
            )
            return
        try:
            data = json.loads(frame)
        except RecursionError:
            self._send_error(None, p.PARSE_ERROR, "Parse error: the JSON is nested too deeply")
            return
        except ValueError as e:
            self._send_error(None, p.PARSE_ERROR, f"Parse error: {p.shorten(str(e), 200)}")
            return
        env = p.classify(data)
        if env.kind == "invalid":
            self._send_error(env.id, p.INVALID_REQUEST, f"Invalid request: {env.error}")
            return
        if env.kind == "response":
            try:
                self.protocol.handle_message(self.protocol.structure_message(data))
            except Exception as e:
                log.warning("ignoring a malformed response %r: %s", env.id, e)
            return
        method = env.method or ""
        if env.kind == "notification" and method == types.EXIT:
            log.info("exit")
            self._finish(0 if self.shutdown_requested else 1)
            return
        if self.shutdown_requested or self.terminating:
            if env.kind == "request":
                self._send_error(env.id, p.INVALID_REQUEST, "the server is shutting down; only 'exit' is accepted")
            return
        if not self.initialized_once and method != types.INITIALIZE:
            if env.kind == "request":  # LSP: ServerNotInitialized
                self._send_error(
                    env.id,
                    p.SERVER_NOT_INITIALIZED,
                    f"the server is not initialized: send initialize before {p.shorten(method, 100)}",
                    {"kind": "ServerNotInitialized"},
                )
            return
        fm = self.protocol.fm
        known = method in fm.builtin_features or method in fm.features or method == types.CANCEL_REQUEST
        if not known:
            if env.kind == "request":
                self._send_error(
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
                msg = self.protocol.structure_message(data)
            except Exception as e:
                if env.kind == "request":
                    self._send_error(env.id, p.INVALID_PARAMS, f"invalid params for {method}: {_why(e)}")
                else:
                    log.info("ignoring malformed %s notification: %s", method, _why(e))
                return
        if env.kind == "request" and getattr(msg, "id", None) is None:  # e.g. "initialized" sent with an id
            self._send_error(env.id, p.INVALID_REQUEST, f"{method} is a notification: send it without an id")
            return
        try:
            self.protocol.handle_message(msg)
        except Exception as e:
            log.exception("handling %s failed", method)
            if env.kind == "request":
                self._send_error(env.id, p.INTERNAL_ERROR, f"{method} failed: {type(e).__name__}")

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request (a notification handler that raised...): logged, never shown as a popup."""
        log.warning("%s: %s", getattr(source, "__name__", source), error)


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


# --- handlers ----------------------------------------------------------------------------------------

Handler = Callable[[AoServer, dict[str, Any]], Awaitable[Any]]


def _check_project_filter(orch: Orchestrator, project: str | None, found: int) -> None:
    """A project filter that matches nothing must at least name a configured project."""
    if project is not None and not found and project not in orch.config.projects:
        orch.config.project(project)  # raises UnknownProject with a did-you-mean hint


async def spawn(ls: AoServer, q: dict[str, Any]) -> Any:
    token = await ls.progress_begin(
        q["workDoneToken"],
        "Spawning an OpenCode agent",
        f"project {q['project']}" if q["project"] else "the workspace's project",
    )
    message = "failed"
    try:
        view = await ls.engine(
            lambda o: o.spawn(
                project=q["project"],
                prompt=q["prompt"],
                model=q["model"],
                issue_id=q["issueId"],
                runtime=q["runtime"],
                cwd=ls.root,
            )
        )
        message = f"spawned {view['sessionId']}"
        return view
    except AoError as e:
        message = f"failed: {e}"
        raise
    finally:
        ls.progress_end(token, message)


def _page(q: dict[str, Any]) -> dict[str, Any]:
    return {"running": bool(q["running"]), "limit": q["limit"] or p.DEFAULT_PAGE, "before": q["cursor"]}


def _cursor(more: int | None) -> str | None:
    return None if more is None else str(more)


async def status(ls: AoServer, q: dict[str, Any]) -> Any:
    def run(o: Orchestrator) -> dict[str, Any]:
        more = None
        if q["sessionId"] is not None:
            views, warnings, _ = o.status(session=q["sessionId"])
            if q["project"] is not None:
                views = [v for v in views if v["project"] == q["project"]]
        else:
            views, warnings, more = o.status(project=q["project"], **_page(q))
            _check_project_filter(o, q["project"], len(views))
        return {"sessions": views, "warnings": warnings, "nextCursor": _cursor(more)}

    return await ls.engine(run)


async def list_sessions(ls: AoServer, q: dict[str, Any]) -> Any:
    def run(o: Orchestrator) -> dict[str, Any]:
        views, warnings, more = o.status(project=q["project"], **_page(q))
        _check_project_filter(o, q["project"], len(views))
        default = o.config.default_project(ls.root)
        projects = [
            {
                "name": pr.name,
                "path": str(pr.path),
                "runtime": pr.runtime or o.config.runtime,
                "model": pr.agent_config.model,
                "default": default is not None and pr.name == default.name,
            }
            for pr in o.config.projects.values()
        ]
        sessions = [
            {k: v[k] for k in ("sessionId", "project", "status", "activity", "exitCode", "createdAt")} for v in views
        ]
        return {"sessions": sessions, "projects": projects, "warnings": warnings, "nextCursor": _cursor(more)}

    return await ls.engine(run)


async def attach(ls: AoServer, q: dict[str, Any]) -> Any:
    return await ls.engine(lambda o: o.attach(q["sessionId"]))


async def kill(ls: AoServer, q: dict[str, Any]) -> Any:
    return await ls.engine(lambda o: o.kill(q["sessionId"]))


async def resume(ls: AoServer, q: dict[str, Any]) -> Any:
    return await ls.engine(lambda o: o.resume(q["sessionId"], q["prompt"]))


async def logs(ls: AoServer, q: dict[str, Any]) -> Any:
    def run(o: Orchestrator) -> dict[str, Any]:
        text, truncated = o.logs(q["sessionId"], q["lines"], max_bytes=p.MAX_LOG_CHARS)
        sid = o.resolve(q["sessionId"]).display_id
        return {"sessionId": sid, "text": text, "truncated": truncated}

    return await ls.engine(run)


async def models(ls: AoServer, q: dict[str, Any]) -> Any:
    return await ls.engine(lambda o: models_for(o, q["project"], ls.root, refresh=bool(q["refresh"])))


HANDLERS: dict[str, Handler] = {
    p.SPAWN: spawn,
    p.STATUS: status,
    p.LIST: list_sessions,
    p.ATTACH: attach,
    p.KILL: kill,
    p.RESUME: resume,
    p.LOGS: logs,
    p.MODELS: models,
}


def summary(method: str, result: Any) -> str | None:
    """A one-line message for clients that asked for ``showMessages`` (e.g. Helix, which shows no results)."""
    if not isinstance(result, dict):
        return None
    if method == p.SPAWN:
        return f"spawned {result.get('sessionId')}"
    if method in (p.STATUS, p.LIST):
        sessions = result.get("sessions") or []
        if not sessions:
            return "no sessions"
        return "; ".join(f"{s.get('sessionId')} {s.get('activity') or s.get('status')}" for s in sessions[:20])
    if method == p.ATTACH:
        return f"attach with: {result.get('command')}"
    if method == p.KILL:
        return f"{result.get('sessionId')} killed (exit code {result.get('exitCode')})"
    if method == p.RESUME:
        return f"resumed {result.get('sessionId')}"
    if method == p.MODELS:
        return f"{len(result.get('models') or [])} models for {result.get('project')}"
    return None


# --- wiring ------------------------------------------------------------------------------------------


def _request_handler(ls: AoServer, method: str) -> Callable[[Any], Awaitable[Any]]:
    async def handle(params: Any) -> Any:
        return await ls.dispatch(method, params)

    handle.__name__ = "handle_" + method.replace("/", "_")
    return handle


def create_server() -> AoServer:
    """The server with every feature registered."""
    server = AoServer()
    for method in p.METHODS:
        server.feature(method)(_request_handler(server, method))
        # Registered so initialize advertises executeCommandProvider.commands; AoProtocol runs them.
        server.command(method)(_request_handler(server, method))

    @server.feature(types.INITIALIZE)
    def on_initialize(ls: AoServer, params: types.InitializeParams) -> None:
        """Read the workspace and initializationOptions; a broken config is reported per request, later."""
        if ls.initialized_once:
            raise JsonRpcInvalidRequest("initialize may only be sent once")
        try:
            ls.options = p.parse_init_options(params.initialization_options)
        except p.ParamsError as e:
            raise params_error(e) from None
        ls.root = workspace_root(params)
        ls.roots = workspace_roots(params) or [ls.root]
        ls.initialized_once = True
        log.info("workspace %s, options %s", ls.root, ls.options)

    @server.feature(types.INITIALIZED)
    def on_initialized(ls: AoServer, params: types.InitializedParams) -> None:
        """Start the poller."""
        ls.start_poller()

    @server.feature(types.SHUTDOWN)
    def on_shutdown(ls: AoServer, params: None) -> None:
        """Stop polling; agents keep running (they belong to the user, not to the editor window)."""
        ls.shutdown_requested = True
        ls.stop_background()

    return server


def workspace_root(params: types.InitializeParams) -> Path:
    """The first workspace folder, else rootUri, else rootPath, else the server's working directory."""
    candidates: list[str | None] = [f.uri for f in params.workspace_folders or []]
    candidates.append(params.root_uri)
    for uri in candidates:
        if uri and uri.startswith("file:"):
            path = to_fs_path(uri)
            if path:
                return Path(path)
    if params.root_path:
        return Path(params.root_path)
    return Path.cwd()


def workspace_roots(params: types.InitializeParams) -> list[Path]:
    """Every ``file:`` workspace folder, in the client's order (a multi-root workspace offers all their projects)."""
    uris = [f.uri for f in params.workspace_folders or [] if f.uri.startswith("file:")]
    return list(dict.fromkeys(Path(path) for uri in uris if (path := to_fs_path(uri))))


# --- command line ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ao-server",
        description="The ao-server JSON-RPC server for editors: speaks the LSP base protocol on stdin/stdout "
        "(ao/spawn, ao/status, ao/attach, ... and the ao/statusChanged notification; see "
        "docs/protocol.md). Start it from your editor; it is not interactive.",
    )
    parser.add_argument("--log-file", metavar="FILE", help="write the log to FILE instead of stderr")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-v: info, -vv: debug)")
    parser.add_argument("--version", action="version", version=f"ao-server {__version__}")
    parser.add_argument(
        "--stdio", action="store_true", help="accepted for editors that pass it (stdio is the only transport)"
    )
    return parser


def setup_logging(verbose: int, log_file: str | None) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
    if verbose < 2:  # pygls logs every message body at info
        logging.getLogger("pygls").setLevel(logging.WARNING)
    # pygls logs a traceback for each message it cannot structure; we answer those with -32602 ourselves.
    logging.getLogger("pygls.protocol.json_rpc").addFilter(
        lambda record: not str(record.msg).startswith("Unable to deserialize message")
    )


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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        setup_logging(args.verbose, args.log_file)
    except OSError as e:
        print(f"ao-server: cannot open --log-file: {e}", file=sys.stderr)
        return 2
    stdin, stdout = claim_stdio()
    log.info("ao-server %s (pid %d)", __version__, os.getpid())
    try:
        return create_server().serve(stdin, stdout)
    except KeyboardInterrupt:
        return 130
