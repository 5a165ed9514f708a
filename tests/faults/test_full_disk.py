"""The state dir on a full filesystem (a 2 MiB tmpfs, filled up by the test).

A spawn fails with one clear ``ao: ...`` line about the state dir having no space (over JSON-RPC: a
domain error code, not -32603), nothing half-created; earlier sessions still list and the store is
intact; once space is freed, spawning works again. Agents are the STAND-IN executable.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.support.bed import Bed

from .conftest import DOMAIN_CODES, Server, agent_processes, assert_nothing_left


def fill(fs: Path) -> Path:
    """Write a file until the filesystem says ENOSPC, in ever smaller pieces down to one byte."""
    filler = fs / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 12, 1 << 8, 1):
            while True:
                try:
                    f.write(b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    return filler


def mentions_no_space(message: str, state_dir: Path) -> bool:
    text = message.lower()
    return ("space" in text or "full" in text) and (str(state_dir) in message or "state dir" in text)


def test_full_state_filesystem(standin_bed: Bed, small_fs: Path, servers: Callable[..., Server]) -> None:
    bed = standin_bed
    state = small_fs / "state"
    bed.env["AO_STATE_DIR"] = str(state)
    earlier = [bed.ao("spawn", "my-project", f"before {i} [[sleep:0]]", check=True).stdout.strip() for i in (1, 2)]
    for sid in earlier:
        assert bed.wait_exited(sid)["exitCode"] == 0
    server = servers(bed)
    assert len(server.request("ao/status", {})["sessions"]) == 2
    filler = fill(small_fs)

    out = bed.ao("spawn", "my-project", "no room [[sleep:3600]]")
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.startswith("ao: "), out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert mentions_no_space(out.stderr, state), out.stderr
    err = server.error("ao/spawn", {"prompt": "no room either [[sleep:3600]]"})
    assert err.code in DOMAIN_CODES, (err.code, err.message)
    assert mentions_no_space(err.message, state), err.message

    # Nothing half-created, nothing started; the earlier sessions still list, the store is intact.
    assert not agent_processes(bed), "a spawn that failed left an agent running"
    listed = bed.ao("list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert bed.ao_json("list") == [{"sessionId": sid, "status": "exited"} for sid in earlier]
    assert sorted(s["sessionId"] for s in server.request("ao/status", {})["sessions"]) == sorted(earlier)
    assert sorted(p.name for p in (state / "sessions").iterdir()) == ["agent-1", "agent-2"]
    # read as it is on disk: a full filesystem has no room for the WAL index a plain open would create
    con = sqlite3.connect(f"file:{state / 'sessions.db'}?mode=ro&immutable=1", uri=True)
    assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con.close()

    # Space again: spawning works, with a new id.
    filler.unlink()
    again = bed.ao("spawn", "my-project", "room again [[sleep:0]]")
    assert again.returncode == 0, again.stderr
    sid = again.stdout.strip()
    assert sid not in earlier
    assert bed.wait_exited(sid)["exitCode"] == 0
    assert len(bed.ao_json("list")) == 3

    server.close()
    assert_nothing_left(bed)
