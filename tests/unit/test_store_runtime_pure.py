"""The store's compare-and-set, numbering and paging; the runtimes' clock-proof liveness and log tails.

Real SQLite in a temp dir and this test process's own PID; nothing is mocked.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time
from pathlib import Path

import pytest

from ao_server.agents import opencode as opencode_plugin
from ao_server.config import load_config
from ao_server.errors import SpawnFailed
from ao_server.model import STARTING, STATUS_EXITED, STATUS_RUNNING, Cost, Facts, Outcome, Result, SessionRecord, Tokens
from ao_server.runtimes.common import clip, process_start, tail
from ao_server.runtimes.process import ProcessRuntime
from ao_server.store import Store


def record(tmp_path: Path, **kw: object) -> SessionRecord:
    base: dict[str, object] = dict(num=0, project="p", agent="opencode", runtime="process", status=STARTING,
                                   prompt="task", workdir=tmp_path, created_at=time.time())
    base.update(kw)
    return SessionRecord(**base)  # type: ignore[arg-type]


def test_transitions_are_compare_and_set(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    rec = store.create(record(tmp_path))
    assert store.update(rec.num, expect=STARTING, status=STATUS_RUNNING)
    facts = Facts(cost=Cost(usd=1.5, tokens=Tokens(input=10)))
    assert store.finish(rec.num, 0, Outcome(Result.SUCCESS), time.time(), facts)
    assert not store.finish(rec.num, 1, None, time.time()), "a session finishes once"
    # two resumes: the first claim wins, the second sees the status it expected is gone
    assert store.update(rec.num, expect=STATUS_EXITED, status=STARTING, runs=2)
    assert not store.update(rec.num, expect=STATUS_EXITED, status=STARTING, runs=2)
    got = store.get(rec.num)
    assert got.status == STARTING and got.runs == 2 and got.facts == facts


def test_numbers_skip_folders_and_ids_seen_before(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = Store(state)
    assert store.create(record(tmp_path)).num == 1
    (state / "sessions" / "agent-2").mkdir()  # left by an earlier store
    assert store.create(record(tmp_path)).num == 3
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state / 'sessions.db'}{suffix}").unlink(missing_ok=True)
    for name in ("agent-1", "agent-2", "agent-3"):
        (state / "sessions" / name).rmdir()
    assert Store(state).create(record(tmp_path)).num == 4  # last-id remembers


def test_the_state_dir_and_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        store = Store(tmp_path / "state")
        store.create(record(tmp_path))
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    for p in (tmp_path / "state").rglob("*"):
        assert p.stat().st_mode & 0o077 == 0, f"{p} is {stat.S_IMODE(p.stat().st_mode):o}"


def test_pages_newest_first_and_the_poll_set(tmp_path: Path) -> None:
    store = Store(tmp_path / "state")
    for _ in range(5):
        store.create(record(tmp_path))
    for num in (1, 2, 3):
        store.finish(num, 0, None, 1000.0 + num)
    recs, bad, more = store.query(limit=2)
    assert [r.num for r in recs] == [4, 5] and more == 4 and not bad
    recs, _, more = store.query(limit=2, before=more)
    assert [r.num for r in recs] == [2, 3] and more == 2
    recs, _, more = store.query(limit=2, before=more)
    assert [r.num for r in recs] == [1] and more is None
    assert [r.num for r in store.query(running=True)[0]] == [4, 5]
    # the poller: not exited, ended since, or new
    assert [r.num for r in store.for_poll(since=1003.0, above=5)[0]] == [3, 4, 5]
    assert [r.num for r in store.for_poll(since=9999.0, above=1)[0]] == [2, 3, 4, 5]


def test_liveness_compares_clock_ticks_not_wall_clock_seconds(tmp_path: Path) -> None:
    """A wall-clock step shifts epoch start times; the start time in ticks never moves."""
    seen = process_start(os.getpid())
    assert seen is not None
    ticks = seen[0]
    rec = record(tmp_path, status=STATUS_RUNNING, handle={"pid": os.getpid(), "start_ticks": ticks,
                                                          "create_time": 12345.0})
    assert ProcessRuntime._ours(rec) == os.getpid()  # a create_time off by hours does not matter
    rec.handle["start_ticks"] = ticks + 1  # a reused PID
    assert ProcessRuntime._ours(rec) is None


def test_tail_reads_only_the_end(tmp_path: Path) -> None:
    log = tmp_path / "output.log"
    log.write_text("".join(f"line {i}\n" for i in range(200_000)))
    assert tail(log, 2) == ("line 199998\nline 199999\n", False)
    text, cut = tail(log, None, max_bytes=25)
    assert text == "line 199998\nline 199999\n" and cut
    assert tail(tmp_path / "missing.log", 5) == ("", False)
    log.write_text("no newline at the end")
    assert tail(log, 3) == ("no newline at the end\n", False)
    assert clip("a\nbb\nccc\n", 5) == ("ccc\n", True)


def test_waiting_for_opencodes_first_run_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another spawner holds the init lock (it is creating OpenCode's database): a clear error, not a hang."""
    cfg = load_config(None, cwd=tmp_path)
    agent = opencode_plugin.OpenCodeAgent(cfg, {"XDG_DATA_HOME": str(tmp_path / "data"), "PATH": os.environ["PATH"]})
    monkeypatch.setattr(opencode_plugin, "PREPARE_TIMEOUT", 0.3)
    with open(tmp_path / "opencode-init.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(SpawnFailed, match=r"waited .* create OpenCode's database"):
            agent.prepare("/bin/true", tmp_path)


def test_threads_opening_stores_while_others_write_lose_no_session(tmp_path: Path) -> None:
    """The server opens one Store per engine thread, often while other threads, and other processes, use it.

    Opening must not disturb them: closing any descriptor of the database file drops every POSIX
    lock this process holds on it. Another process's closing connection then thinks it is the last
    one and resets the WAL under this process's transactions, and their commits are lost.
    """
    import subprocess
    import sys
    import threading

    state = tmp_path / "state"
    Store(state)
    reader = subprocess.Popen(  # another ao process: opens, reads and closes the store, again and again
        [sys.executable, "-c", "import sys, pathlib\nfrom ao_server.store import Store\n"
         "while True: Store(pathlib.Path(sys.argv[1])).all()", str(state)],
        stdin=subprocess.DEVNULL)
    made: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                store = Store(state)  # a new engine thread's store, opened mid-storm
                rec = store.create(record(tmp_path))
                made.append(rec.num)
                assert store.update(rec.num, expect=STARTING, status=STATUS_RUNNING), f"agent-{rec.num} vanished"
        except BaseException as e:  # reported below, with the others
            errors.append(e)

    try:
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        reader.kill()
        reader.wait()
    assert not errors, errors[:3]
    rows, corrupt = Store(state).all()
    assert not corrupt
    assert sorted(r.num for r in rows) == sorted(made) == list(range(1, 8 * 25 + 1))
    assert all(r.status == STATUS_RUNNING for r in rows)
