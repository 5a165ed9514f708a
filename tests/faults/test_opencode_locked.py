"""OpenCode's database held by a writer for 5 s: ``ao/status`` answers meanwhile, marked stale.

A SQLite writer blocks readers of a WAL database only in exclusive locking mode, which it can take
only while nobody else has the file open. So: one real OpenCode agent (fake model) runs to its exit and
leaves a real database with its cost; a stand-in agent stays live (the live session is what ao must
introspect); then the writer takes the lock, and an ao-server that has not touched the database yet is
asked for ``ao/status``. It must answer while the writer still holds the lock (no timing assertion: the
writer holds it 5 s and the test checks it still does), with a warning that says "stale", the live
session marked ``introspectionStale``, and the exited session's last known cost kept.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.support.bed import Bed, wait_for

from .conftest import STANDIN, Server, assert_nothing_left

HOLD_SECONDS = 5
WRITER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("PRAGMA locking_mode=EXCLUSIVE")
db.execute("BEGIN EXCLUSIVE")
db.execute("CREATE TABLE IF NOT EXISTS ao_fault_probe (x)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
db.close()
print("released", flush=True)
"""


def test_locked_opencode_database_gives_stale_status_not_a_wait(fault_bed: Bed,
                                                               servers: Callable[..., Server]) -> None:
    bed = fault_bed
    bed.write_config(runtime="process")
    done = bed.ao("spawn", "my-project", "first [[tokens:1000,200]]", check=True).stdout.strip()
    before = bed.wait_exited(done)
    assert before["cost"] and before["cost"]["tokens"]["input"] == 1000, before
    live = bed.ao("spawn", "my-project", "live [[sleep:3600]]", env={**bed.env, "AO_OPENCODE_BIN": STANDIN},
                  check=True).stdout.strip()
    assert bed.status_of(live)["status"] == "running"

    server = servers(bed, initialized=False)  # no poller yet: the server has not opened OpenCode's database
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(bed.opencode_db), str(HOLD_SECONDS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None
        first = writer.stdout.readline().strip()
        assert first == "locked", f"the writer could not lock {bed.opencode_db}: {first} {writer.stderr.read()}"
        server.initialized()
        status = server.request("ao/status", {}, timeout=60)
        held = writer.poll() is None
    finally:
        writer.wait(30)
    assert held, "ao/status waited for the writer: it answered only after the lock was released"
    warnings = status["warnings"]
    assert any("stale" in w.lower() for w in warnings), warnings
    views = {v["sessionId"]: v for v in status["sessions"]}
    assert views[live]["status"] == "running"
    assert views[live].get("introspectionStale") is True, views[live]
    assert views[done]["status"] == "exited" and views[done]["exitCode"] == 0
    assert views[done]["cost"] == before["cost"], "the exited session lost its last known cost"

    # The lock is gone: fresh again.
    after = server.request("ao/status", {})
    assert not any("stale" in w.lower() for w in after["warnings"]), after["warnings"]
    views = {v["sessionId"]: v for v in after["sessions"]}
    assert not views[live].get("introspectionStale"), views[live]
    assert views[done]["cost"] == before["cost"]

    killed = server.request("ao/kill", {"sessionId": live})
    assert killed["status"] == "exited" and killed["exitCode"] == 143
    server.close()
    wait_for(lambda: bed.status_of(live)["status"] == "exited", timeout=10, what="the live session to end")
    assert_nothing_left(bed)
