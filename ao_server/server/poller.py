"""The poller: every ``pollInterval``, a snapshot of what may have changed, pushed as ``ao/statusChanged``.

It is woken earlier by what says a session changed: a run-mode agent's exit record
(:class:`.watch.ExitWatcher`) and the OpenCode server's events for live agents.

What may have changed is the sessions not yet exited, those that ended since
the last tick (in any process: the CLI, another editor window) and new ones;
never the whole history. The snapshot runs on a worker thread; the diff and
the notifications on the event loop. A tick that fails is logged and the next
one tries again; the task itself is supervised by the server.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from .. import protocol as p
from ..errors import AoError, ConfigError
from ..formats import iso
from ..model import InputRequest, InputRequested, RequestKind, Result, Session, State, Status
from ..runtimes.live import request_of
from .transport import SOFT_LIMIT
from .watch import ExitWatcher

if TYPE_CHECKING:
    from .app import AoServer

log = logging.getLogger(__name__)
POLL_OVERLAP = 2.0  # seconds each poll looks back for sessions that ended (clock steps, slow ticks)


class Poller:
    def __init__(self, server: AoServer) -> None:
        self.server = server
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ao-poller")
        self.baseline: dict[str, p.Tracked] | None = None
        self._since: float | None = None
        self._above: int | None = None
        self._last_problem: str | None = None
        self.asked: dict[str, None] = {}  # requests already pushed as ao/inputRequested (oldest first)
        self.wake_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.exits = ExitWatcher(self.wake)  # run-mode exits wake the poller at once
        self.by_ses: dict[str, Session] = {}  # live sessions by their OpenCode session id (the last tick's)
        self.focus: set[int] = set()  # sessions an event named: the next tick looks at just these
        self.full = True  # ... unless something asks for a full one (the interval, a change made here)

    def on_live_event(self, payload: dict[str, Any] | None) -> None:
        """An OpenCode server event (from its stream's thread): a request is pushed at once, then a tick."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._live_event, payload)
        except RuntimeError:  # the loop is gone
            pass

    def _live_event(self, payload: dict[str, Any] | None) -> None:
        kinds = {"permission.asked": RequestKind.PERMISSION, "question.asked": RequestKind.QUESTION}
        props = (payload or {}).get("properties")
        kind = kinds.get(str((payload or {}).get("type")))
        view = self.by_ses.get(str(props.get("sessionID"))) if isinstance(props, dict) else None
        if kind is not None and view is not None and isinstance(props, dict):
            self.notify_request(view, request_of(props, kind), iso(time.time()))
        # a session this server knows is looked at alone; anything else (a newer one) by a full tick
        self._wake(int(view.id.rpartition("-")[2]) if view is not None else None)

    def notify_request(self, view: Session, req: InputRequest, at: str) -> None:
        if req.request_id in self.asked:
            return
        self.asked[req.request_id] = None
        note = InputRequested(session_id=view.session_id, project=view.project, request=req, at=at)
        self.server.protocol.notify(p.INPUT_REQUESTED, p.to_wire(note))
        while len(self.asked) > 10_000:  # answered long ago
            del self.asked[next(iter(self.asked))]

    def wake(self, num: int | None = None) -> None:
        """Tick now instead of at the next interval (from any thread): session ``num`` alone, or everything."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake, num)
            except RuntimeError:  # the loop is gone
                pass

    def _wake(self, num: int | None) -> None:
        if num is None:
            self.full = True
        else:
            self.focus.add(num)
        if self.wake_event is not None:
            self.wake_event.set()

    def tick_focus(self, nums: list[int]) -> list[Session]:
        """A tick over just these sessions (named by an event): the others did not change."""
        orch = self.server.orchestrator()
        records, _bad = orch.store.get_many(nums)
        snap = orch.snapshot(records=records)
        return [snap.view(orch, r) for r in snap.records if r.status != State.STARTING]

    def tick(self) -> list[Session]:
        """One tick's work on the poller thread: the sessions that may have changed."""
        orch = self.server.orchestrator()
        started = time.time()
        if self._above is None:  # first tick: the sessions that are running now
            self._above = orch.store.max_num()
        # The first tick looks back as far as every later one, so a session that ended just before it
        # is in the baseline and is not reported as new on the next tick.
        since = self._since if self._since is not None else started - POLL_OVERLAP
        records, bad = orch.store.for_poll(since=since, above=self._above)
        self._since = started - POLL_OVERLAP
        self._above = max([self._above, *(r.num for r in records)])
        snap = orch.snapshot(records=records)
        self.exits.track(r.folder for r in snap.records if r.status != State.EXITED and r.runtime != "live")
        warnings = sorted({*(str(b) for b in bad), *snap.warnings})
        problem = "; ".join(warnings) or None
        if problem != self._last_problem:
            if problem:
                log.warning("status: %s", problem)
            self._last_problem = problem
        # A session still starting is not announced: its spawn may yet fail and remove it (the spawner's
        # client gets it from ao/spawn); it is announced once running, or exited if its spawner died.
        return [snap.view(orch, r) for r in snap.records if r.status != State.STARTING]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop, self.wake_event = loop, asyncio.Event()
        shown_error: str | None = None
        while True:
            self.wake_event.clear()
            started = loop.time()
            focus, full = sorted(self.focus), self.full or self.baseline is None or not self.focus
            self.focus, self.full = set(), False
            try:
                if full:
                    views = await loop.run_in_executor(self.pool, self.tick)
                else:
                    views = await loop.run_in_executor(self.pool, self.tick_focus, focus)
                shown_error = None
                self.publish(views)
            except AoError as e:
                if str(e) != shown_error:  # say it once, not every tick
                    shown_error = str(e)
                    log.warning("poller: %s", e)
                    error = isinstance(e, ConfigError)
                    self.server.tell(str(e), types.MessageType.Error if error else types.MessageType.Warning)
            except (BrokenPipeError, ConnectionResetError):
                log.info("the client is gone")
                self.server.finish(0)
                return
            except Exception:
                log.exception("poller tick failed")
            left = max(0.0, self.server.options.poll_interval - (loop.time() - started))
            try:
                await asyncio.wait_for(self.wake_event.wait(), timeout=left)
            except TimeoutError:
                self.full = True

    def publish(self, views: Sequence[Session]) -> None:
        writer = self.server.writer
        if writer is not None and writer.pending > SOFT_LIMIT:
            log.warning("the client is not reading; %d changes wait for it", len(views))
            return  # the baseline stays, so these changes are sent once it reads again
        now = iso(time.time())
        for v in views:  # what live agents ask, once per request, before the status change it brings
            if v.runtime == "live" and v.opencode_session_id:
                self.by_ses[v.opencode_session_id] = v
            for req in v.pending:
                self.notify_request(v, req, now)
        changes, seen = p.diff_sessions(self.baseline, views, now)
        # Sessions not looked at this tick (exited long ago) keep their last known state.
        self.baseline = {**(self.baseline or {}), **seen}
        for change in changes:
            self.server.protocol.notify(p.STATUS_CHANGED, p.to_wire(change))
            if (
                self.server.options.show_messages
                and change.status == Status.EXITED
                and change.previous != Status.EXITED
            ):
                outcome = change.outcome
                bad = outcome is not None and outcome.result != Result.SUCCESS
                text = f"{change.session_id} exited ({outcome.result if outcome else change.exit_code})"
                if bad and outcome is not None and outcome.error:
                    text += f": {p.shorten(outcome.error, 200)}"
                self.server.tell(text, types.MessageType.Warning if bad else types.MessageType.Info)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
