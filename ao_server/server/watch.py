"""Noticing a run-mode agent's exit the moment its launch script records it (inotify, Linux).

The launch script writes ``exit_code`` into the session folder (``mv`` of a temporary file)
when the agent exits. This watcher holds an inotify watch on the folder of every session the
poller saw running, and wakes the poller when ``exit_code`` appears there, so the exit reaches
the editor without waiting for the next poll. The read blocks: an idle watcher costs no CPU.
Where inotify is missing (not Linux, no watches left), nothing changes: the poll still sees it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import struct
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from ..sessiondir import SessionDir

log = logging.getLogger(__name__)

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_IGNORED = 0x00008000
IN_CLOEXEC = 0o2000000
EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class ExitWatcher:
    def __init__(self, wake: Callable[[int | None], None]) -> None:
        self.wake = wake
        self.lock = threading.Lock()
        self.by_path: dict[str, int] = {}
        self.fd = -1
        self.exit_name = SessionDir(Path("/")).exit_file.name
        self._libc: ctypes.CDLL | None = None
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
            fd = libc.inotify_init1(IN_CLOEXEC)
        except (OSError, AttributeError):
            return
        if fd < 0:
            log.info("inotify is not available (%s); exits are noticed by the poll", os.strerror(ctypes.get_errno()))
            return
        self._libc, self.fd = libc, fd
        threading.Thread(target=self._read, name="ao-exit-watch", daemon=True).start()

    @property
    def active(self) -> bool:
        return self.fd >= 0

    def track(self, folders: Iterable[Path]) -> None:
        """Watch exactly these session folders (the running sessions); others are let go."""
        if self._libc is None:
            return
        wanted = {str(f) for f in folders}
        with self.lock:
            for path in list(self.by_path):
                if path not in wanted:
                    self._libc.inotify_rm_watch(self.fd, self.by_path.pop(path))
            for path in wanted - set(self.by_path):
                wd = self._libc.inotify_add_watch(self.fd, os.fsencode(path), IN_MOVED_TO | IN_CLOSE_WRITE)
                if wd >= 0:
                    self.by_path[path] = wd
                elif ctypes.get_errno() == 28:  # ENOSPC: no watches left; the poll covers the rest
                    log.info("no inotify watches left; some exits are noticed by the poll")
                    break

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except OSError:
                return
            if not data:
                return
            offset, exited = 0, set()
            while offset + EVENT.size <= len(data):
                wd, mask, _cookie, length = EVENT.unpack_from(data, offset)
                name = data[offset + EVENT.size : offset + EVENT.size + length].rstrip(b"\0").decode(errors="replace")
                offset += EVENT.size + length
                if not mask & IN_IGNORED and name == self.exit_name:
                    with self.lock:
                        folder = next((p for p, w in self.by_path.items() if w == wd), None)
                    tail = Path(folder).name.rpartition("-")[2] if folder else ""
                    exited.add(int(tail) if tail.isdigit() else None)
            for num in exited:
                self.wake(num)  # that session alone (None: whichever it was, everything)
