"""The keeper of a state dir's shared OpenCode server: it stops the server when no live session needs it.

``opencode serve`` (about 600 MB) is started on demand by the first live spawn and outlives every
ao process, on purpose: the CLI exits, editors come and go. Its keeper is a small process of its
own (``python -I``, running :func:`main`), started with the server and for as long as
it runs. Every few seconds it looks, cheaply:

- the server is gone (its process is not the one recorded): nothing to keep; it exits;
- the state dir is gone (deleted, or replaced by another folder): it stops the server it knew
  (from memory: ``opencode-server.json`` went with the folder) and exits;
- the server is *needed* while the store has a live session on this machine that has not exited
  (running, waiting for an answer, or kept alive for ``ao send``), or while OpenCode says one of its
  sessions in those sessions' folders is busy (a turn in progress, a pending request). A question
  OpenCode does not answer, or a store it cannot read, counts as needed: it looks again later.

Not needed for ``grace`` seconds in a row, it takes the server's start lock (the one
``OpenCodeServer.ensure`` holds while it starts a server), looks once more, stops the server and
removes ``opencode-server.json`` if that still names it, then exits. The next live spawn starts a
new server (and a new keeper).

One keeper per state dir: it holds an exclusive flock on ``opencode-keeper.lock`` for its life, and
one that cannot take it exits at once. It records ``{pid, startTicks, grace}`` in
``opencode-keeper.json`` (0600) and logs what it did to ``opencode-keeper.log`` (0600).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AoError
from .common import process_start, ticks_to_epoch, write_private
from .live_server import LOCK_FILE, SERVER_FILE, Api, OpenCodeServer, ServerInfo

log = logging.getLogger("ao_server.live_keeper")

KEEPER_FILE = "opencode-keeper.json"
KEEPER_LOCK = "opencode-keeper.lock"
KEEPER_LOG = "opencode-keeper.log"
DEFAULT_GRACE = 600.0
START_LOCK_TIMEOUT = 30.0  # waiting for the server's start lock before stopping it (a start in progress)
STATUS_TIMEOUT = 5.0  # one /session/status question; no answer counts as busy


@dataclass(frozen=True)
class KeeperInfo:
    pid: int
    start_ticks: int
    grace: float


def _lock(path: Path) -> int:
    """A descriptor of ``path`` (a 0600 file, created if need be), not locked yet."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, timeout: float) -> bool:
    """Take an exclusive flock on ``fd``, waiting at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def running_keeper(state_dir: Path) -> KeeperInfo | None:
    """The keeper recorded for ``state_dir`` if its process is still the one that wrote the record."""
    try:
        raw = json.loads((state_dir / KEEPER_FILE).read_text())
        info = KeeperInfo(int(raw["pid"]), int(raw["startTicks"]), float(raw["grace"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    seen = process_start(info.pid)
    if seen is None or seen[1] or seen[0] != info.start_ticks:
        return None
    return info


def _keeper_locked(state_dir: Path) -> bool:
    """Whether a keeper holds the keeper lock (one starting or about to exit has not its record yet)."""
    try:
        fd = _lock(state_dir / KEEPER_LOCK)
    except OSError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


# The keeper runs this very copy of ao_server (whichever the caller imported: an installed one, a
# checkout on PYTHONPATH), isolated (-I: no PYTHON* variables, no user site, not the current folder).
_ROOT = str(Path(__file__).resolve().parents[2])
_MAIN = f"import sys; sys.path.insert(0, {_ROOT!r}); from ao_server.runtimes.live_keeper import main; sys.exit(main())"


def start_keeper(state_dir: Path, grace: float, env: Mapping[str, str]) -> None:
    """Make sure the OpenCode server of ``state_dir`` has a keeper: start one unless one runs.

    Cheap when one runs (a file read and a lock probe). The keeper is its own session, outlives
    the caller, and exits by itself when the server is gone.
    """
    if running_keeper(state_dir) is not None or _keeper_locked(state_dir):
        return
    log_path = state_dir / KEEPER_LOG
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        argv = [sys.executable, "-I", "-c", _MAIN, "--state-dir", str(state_dir), "--grace", repr(float(grace))]
        try:
            proc = subprocess.Popen(
                argv,
                env=dict(env),
                cwd="/",  # never a folder that can go away or shadow a module
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                start_new_session=True,  # outlives this ao process, and its terminal's signals
            )
        except OSError as e:
            log.warning("could not start the keeper of the OpenCode server: %s", e)
            return
    finally:
        os.close(fd)
    # It is a child of this process until this process exits: reap it if it ends first.
    threading.Thread(target=proc.wait, name="opencode-keeper-reaper", daemon=True).start()


# --- what the store says ---------------------------------------------------------------------


@dataclass(frozen=True)
class LiveRows:
    running: list[str]  # the local live sessions that have not exited ("agent-3 (running)")
    workdirs: list[str]  # the folders of every local live session, newest first


def live_rows(state_dir: Path) -> LiveRows:
    """The store's live sessions on this machine, read-only (never creating the store or its folder).

    Raises ``sqlite3.Error`` when the store cannot be read.
    """
    db = state_dir / "sessions.db"
    if not db.exists():
        return LiveRows([], [])
    uri = f"file:{urllib.parse.quote(str(db))}?mode=ro"
    con = sqlite3.connect(uri, uri=True, timeout=10.0, isolation_level=None)
    try:
        rows = con.execute(
            "SELECT num, status, workdir, handle FROM sessions WHERE runtime = 'live' ORDER BY num DESC"
        ).fetchall()
    finally:
        con.close()
    running: list[str] = []
    workdirs: list[str] = []
    for num, status, workdir, handle in rows:
        try:
            host = json.loads(handle or "{}").get("host")
        except (ValueError, AttributeError):
            host = None  # a corrupt handle: count it as this machine's (the safe side)
        if host:
            continue  # that one runs in its host's own server
        if status != "exited":
            running.append(f"agent-{num} ({status})")
        if isinstance(workdir, str) and workdir not in workdirs:
            workdirs.append(workdir)
    return LiveRows(running, workdirs)


# --- the keeper itself --------------------------------------------------------------------


class Keeper:
    def __init__(self, state_dir: Path, grace: float, env: Mapping[str, str]) -> None:
        self.state_dir = state_dir
        self.grace = grace
        self.server: OpenCodeServer = OpenCodeServer(state_dir, env)
        self.interval = min(2.0, max(0.25, grace / 4))
        self.folder = self._identity()

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.state_dir)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def folder_gone(self) -> bool:
        """The state dir was deleted (or another folder now has its name)."""
        return self._identity() != self.folder

    def needed(self, info: ServerInfo) -> str | None:
        """Why the server is needed now, or None when nothing needs it."""
        try:
            rows = live_rows(self.state_dir)
        except sqlite3.Error as e:
            return f"the session store cannot be read ({e}); looking again later"
        if rows.running:
            return "live session(s) not exited: " + ", ".join(rows.running[:5])
        api = Api(info)
        for where in rows.workdirs:
            if not os.path.isdir(where):
                continue  # a removed worktree: OpenCode runs nothing there that ao knows of
            try:
                status = api.call("GET", "/session/status", directory=where, timeout=STATUS_TIMEOUT)
            except AoError as e:
                return f"OpenCode did not say whether a session in {where} is busy ({e}); looking again later"
            if not isinstance(status, dict):
                return f"OpenCode answered the status of {where} with {status!r}; looking again later"
            busy = [ses for ses, st in status.items() if not isinstance(st, dict) or st.get("type") != "idle"]
            if busy:
                return f"OpenCode session(s) busy in {where}: {', '.join(busy[:5])}"
        return None

    def run(self) -> int:
        fd = _lock(self.state_dir / KEEPER_LOCK)
        if not _try_lock(fd, 1.0):
            os.close(fd)
            log.info("another keeper keeps the OpenCode server of %s; exiting", self.state_dir)
            return 0
        log.info("keeping the OpenCode server of %s (grace %g s)", self.state_dir, self.grace)
        while True:
            self._record()
            try:
                self._watch()
            except Exception:  # a bug, or something unforeseen: never leave the server without a keeper
                log.exception("the keeper failed; looking again in 30 s")
                time.sleep(30)
                continue
            # Leaving: a server started after the last look (its starter saw this keeper and
            # started none) must not be left without a keeper, so look once more after letting go.
            self._unrecord()
            fcntl.flock(fd, fcntl.LOCK_UN)
            if self.folder_gone() or self.server.current() is None or not _try_lock(fd, 1.0):
                os.close(fd)
                log.info("exiting")
                return 0
            log.info("a new server started meanwhile; keeping it")

    def _record(self) -> None:
        started = process_start(os.getpid())
        data = {"pid": os.getpid(), "startTicks": started[0] if started else 0, "grace": self.grace}
        with contextlib.suppress(OSError):
            write_private(self.state_dir / KEEPER_FILE, json.dumps(data))

    def _unrecord(self) -> None:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            path = self.state_dir / KEEPER_FILE
            if int(json.loads(path.read_text())["pid"]) == os.getpid():
                path.unlink()

    def _watch(self) -> None:
        """Until the server is gone (or stopped here)."""
        known: ServerInfo | None = None
        idle_since: float | None = None
        said: str | None = None
        while True:
            if self.folder_gone():
                if known is not None:
                    log.info("the state dir %s is gone: stopping %s", self.state_dir, known.describe())
                    self.server.stop(known)
                return
            info = self.server.current()
            if info is None:
                log.info("%s is gone", known.describe() if known else "the OpenCode server (none ran)")
                return
            if known is None or (info.pid, info.start_ticks) != (known.pid, known.start_ticks):
                log.info("watching %s", info.describe())
                known, idle_since, said = info, None, None
            why = self.needed(info)
            if why is not None:
                if why != said:
                    log.info("needed: %s", why)
                said, idle_since = why, None
            else:
                now = time.monotonic()
                if idle_since is None:
                    log.info("no live session needs it; stopping it in %g s unless one does", self.grace)
                    idle_since, said = now, None
                if now - idle_since >= self.grace:
                    if self._stop(info):
                        return
                    idle_since = None
            time.sleep(self.interval)

    def _stop(self, info: ServerInfo) -> bool:
        """Stop the server unless something needs it after all; whether it is gone."""
        try:
            with _start_lock(self.state_dir) as locked:
                if not locked:
                    log.info("the server's start lock stayed busy for %g s; looking again later", START_LOCK_TIMEOUT)
                    return False
                now = self.server.current()
                if now is None:
                    return True
                if (now.pid, now.start_ticks) != (info.pid, info.start_ticks):
                    return False  # replaced meanwhile: the loop watches the new one
                why = self.needed(now)
                if why is not None:
                    log.info("needed after all: %s", why)
                    return False
                log.info("stopping %s: no live session needed it for %g s", now.describe(), self.grace)
                self.server.stop(now)
                seen = process_start(now.pid)
                if seen is not None and not seen[1] and seen[0] == now.start_ticks:
                    log.warning("%s did not stop; trying again later", now.describe())
                    return False
                _forget_server(self.state_dir, now.pid)
                log.info("stopped %s", now.describe())
                return True
        except OSError as e:  # the state dir went away meanwhile: the loop sees it
            log.info("could not take the server's start lock: %s", e)
            return False


@contextmanager
def _start_lock(state_dir: Path) -> Iterator[bool]:
    fd = _lock(state_dir / LOCK_FILE)
    try:
        yield _try_lock(fd, START_LOCK_TIMEOUT)
    finally:
        os.close(fd)


def _forget_server(state_dir: Path, pid: int) -> None:
    """Remove ``opencode-server.json`` if it still names ``pid``."""
    path = state_dir / SERVER_FILE
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if int(json.loads(path.read_text())["pid"]) == pid:
            path.unlink()


# --- for ao doctor -----------------------------------------------------------------------------


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def report(state_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """The OpenCode server of live agents of ``state_dir`` and its keeper, as ``ao doctor`` shows them."""
    info = OpenCodeServer(state_dir, env).current()
    keeper = running_keeper(state_dir) if info is not None else None
    out: dict[str, Any] = {"stateDir": str(state_dir), "running": info is not None}
    if info is not None:
        out.update(pid=info.pid, port=info.port, url=info.url, since=iso(ticks_to_epoch(info.start_ticks)))
        out["keeper"] = (
            None
            if keeper is None
            else {"pid": keeper.pid, "grace": keeper.grace, "since": iso(ticks_to_epoch(keeper.start_ticks))}
        )
    out["others"] = other_servers(state_dir)
    return out


def other_servers(state_dir: Path) -> list[dict[str, Any]]:
    """The OpenCode servers of live agents of this user's other state dirs (or of deleted ones) on this machine.

    ao starts ``opencode serve --hostname 127.0.0.1 ...`` as a process group of its own with the state
    dir as its working directory; that is how they are found (one scan of the process table).
    """
    import psutil

    out: list[dict[str, Any]] = []
    uid = os.getuid()
    for p in psutil.process_iter(["pid", "cmdline", "uids"]):
        try:
            argv = p.info.get("cmdline") or []
            uids = p.info.get("uids")
            if len(argv) < 4 or argv[1:4] != ["serve", "--hostname", "127.0.0.1"] or not uids or uids.real != uid:
                continue
            if os.getpgid(p.pid) != p.pid:
                continue
            cwd = os.readlink(f"/proc/{p.pid}/cwd")
            started = process_start(p.pid)
        except (psutil.Error, OSError):
            continue
        deleted = cwd.endswith(" (deleted)")
        folder = cwd.removesuffix(" (deleted)")
        if folder == os.path.realpath(state_dir) or not (deleted or os.path.exists(os.path.join(folder, SERVER_FILE))):
            continue
        since = iso(ticks_to_epoch(started[0])) if started else None
        out.append({"pid": p.pid, "stateDir": folder, "stateDirDeleted": deleted, "since": since})
    return out


def describe_report(live: Mapping[str, Any]) -> list[str]:
    """``ao doctor``'s lines about the OpenCode servers of live agents on this machine."""
    head = f"OpenCode server of live agents (state dir {live['stateDir']}): "
    if not live["running"]:
        lines = [head + "not running (the next live spawn, send or resume starts it)"]
    else:
        lines = [head + f"running, pid {live['pid']}, port {live['port']}, since {live['since']}"]
        keeper = live.get("keeper")
        if keeper:
            lines.append(
                f"  keeper pid {keeper['pid']}: stops it once no live session has needed it for {keeper['grace']:g} s"
            )
        else:
            lines.append("  no keeper: nothing stops it when idle (the next live spawn or send starts one)")
    for other in live.get("others") or []:
        where = f"{other['stateDir']} (deleted)" if other["stateDirDeleted"] else other["stateDir"]
        lines.append(f"another OpenCode server of live agents: pid {other['pid']}, state dir {where}, since "
                     f"{other['since']}; stop it with `kill -INT {other['pid']}`")  # fmt: skip
    return lines


# --- the process -----------------------------------------------------------------------------


def _grace(text: str) -> float:
    v = float(text)
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative number of seconds, got {text!r}")
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ao_server.runtimes.live_keeper", description=__doc__)
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--grace", type=_grace, default=DEFAULT_GRACE, help="seconds unneeded before it stops the server")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format=f"%(asctime)s keeper[{os.getpid()}] %(levelname)s %(message)s"
    )
    if not args.state_dir.is_dir():
        log.info("no state dir %s; nothing to keep", args.state_dir)
        return 0
    return Keeper(args.state_dir, args.grace, os.environ).run()


if __name__ == "__main__":
    sys.exit(main())
