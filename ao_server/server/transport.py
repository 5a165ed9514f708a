"""The server's side of stdio: a bounded reader and a writer that never blocks the event loop.

A client that sends faster than the server handles is slowed by the pipe
(the reader thread waits while ``MAX_PENDING_FRAMES`` frames are not yet
handled); a client that stops reading fills the writer's queue, not the event
loop: the poller skips notifications while more than ``SOFT_LIMIT`` bytes wait
(their changes are sent later), and past ``HARD_LIMIT`` the client is taken
to be gone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

log = logging.getLogger(__name__)

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
