"""ao-server: the editor-facing JSON-RPC server (pygls, LSP base protocol over stdio).

One process per editor window. Every operation is reachable two ways with
identical results: as its own request method (``ao/spawn``, ...) for plain
JSON-RPC clients, and as ``workspace/executeCommand`` with ``arguments:
[params]`` for LSP clients. A poller pushes ``ao/statusChanged``.
docs/protocol.md is the contract.

The server is a folder whose modules each do one job: this one holds the
server's typed state and the dispatch (params check, engine call, error
mapping); :mod:`.handlers` the ``ao/*`` handlers; :mod:`.poller` the poller;
:mod:`.transport` stdio and everything that touches pygls's internals. Each
worker thread has its own Orchestrator, so plugin state is never shared
between threads; the store (SQLite, WAL) is the one shared truth.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import signal
import sys
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .. import __version__
from .. import protocol as p
from ..config import Config
from ..errors import AoError
from ..folders import load_workspace_config
from ..orchestrator import Orchestrator
from ..runtimes.live import EventWatcher
from ..store import default_state_dir
from .handlers import HANDLERS, summary
from .poller import Poller
from .transport import AoProtocol, Frame, FrameGate, QueuedWriter, claim_stdio, handle_frame, read_frames

log = logging.getLogger(__name__)
T = TypeVar("T")
SIGTERM_GRACE = 30.0  # how long SIGTERM waits for in-flight requests (a spawn) to finish


def wire_error(err: AoError) -> JsonRpcException:
    """An engine error as a JSON-RPC error with its stable code and ``data.kind``."""
    data = {"kind": type(err).__name__, **json.loads(json.dumps(err.data, default=str))}
    return JsonRpcException(err.message, err.code, data=data)


def params_error(err: p.ParamsError) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(err.message, data={"field": err.field, "expected": err.expected})


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
        self.terminating = False  # SIGTERM: finishing in-flight requests
        self._config: Config | None = None
        self._config_lock = threading.Lock()
        self._local = threading.local()
        self.engine_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ao-engine")
        self.poller = Poller(self)
        self.events: EventWatcher | None = None
        self.poll_task: asyncio.Task[None] | None = None
        self.writer: QueuedWriter | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inflight: set[Future[Any]] = set()
        self._gate = FrameGate()
        self._done: asyncio.Future[int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        """One operation, whichever way it came in: typed params, engine call, wire result, error mapping."""
        try:
            params = p.parse_params(method, raw)
        except p.ParamsError as e:
            raise params_error(e) from None
        if work_done_token is not None and params.work_done_token is None:
            params = dataclasses.replace(params, work_done_token=work_done_token)
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
        if method in p.CHANGING:  # what this window changed reaches every view now, not at the next poll
            self.poller.wake()
        if self.options.show_messages:
            self.tell(summary(method, result))
        return p.to_wire(result)

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

    # --- background tasks -----------------------------------------------------------------------

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
        if task is self.poll_task and not self.shutdown_requested:
            asyncio.get_running_loop().call_later(self.options.poll_interval, self.start_poller)

    def start_poller(self) -> None:
        if self.shutdown_requested or self.terminating or (self.poll_task is not None and not self.poll_task.done()):
            return
        self.poll_task = self.run_task(self.poller.run(), "ao-poller")
        if self.events is None:  # live agents' events wake the poller at once
            try:
                state_dir = self.state_dir()
            except AoError:
                return
            self.events = EventWatcher(state_dir, os.environ, self.poller.on_live_event)
            self.events.start()

    def stop_background(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- serving -----------------------------------------------------------------------------------

    def serve(self, stdin: BinaryIO, stdout: BinaryIO) -> int:
        """Serve until ``exit``, EOF or SIGTERM; returns the process exit code. Agents are left running."""
        self.writer = QueuedWriter(stdout, on_stuck=self._client_gone)
        self.protocol.set_writer(self.writer)
        try:
            return asyncio.run(self._serve(stdin))
        finally:
            self.writer.flush()
            self.engine_pool.shutdown(wait=False, cancel_futures=True)
            self.poller.shutdown()
            if self.events is not None:
                self.events.stop()

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

    def _on_frame(self, frame: Frame) -> None:
        """One framed message from stdin, on the event loop. Never raises."""
        try:
            handle_frame(self, frame)
        except Exception:
            log.exception("unexpected failure handling a message")
        finally:
            self._gate.leave()

    def finish(self, code: int) -> None:
        """Stop serving with exit code ``code``."""
        if self._done is not None and not self._done.done():
            self._done.set_result(code)

    def _client_gone(self) -> None:
        """From the writer thread: the client stopped reading, or its pipe broke."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.finish, 1)
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
        self.finish(0)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside a request (a notification handler that raised...): logged, never shown as a popup."""
        log.warning("%s: %s", getattr(source, "__name__", source), error)


# --- wiring ------------------------------------------------------------------------------------------


def _request_handler(ls: AoServer, method: str) -> Callable[[Any], Awaitable[Any]]:
    async def handle(params: Any) -> Any:
        return await ls.dispatch(method, params)

    handle.__name__ = "handle_" + method.replace("/", "_")
    return handle


def create_server() -> AoServer:
    """The server with every feature registered: each ao/* method once as a request and once as a command."""
    server = AoServer()
    for method in p.METHODS:  # in the protocol's order, which initialize advertises
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
