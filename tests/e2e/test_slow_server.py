"""A slow or stopped OpenCode server is waited for, never killed with the turns it runs.

While a live agent's turn runs, its shared ``opencode serve`` is made unresponsive for longer
than ao used to wait (two 5 s probes) and a second live spawn arrives: either throttled to a
crawl (a CPU quota on its own cgroup: busy, not stopped) or SIGSTOPped. Afterwards the first
turn ends ``exited(0)``, the second agent ran too, the server's PID is the same and there is one
server.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.bed import Bed, wait_for
from tests.support.hosts import in_ci

CPU = Path("/sys/fs/cgroup/cpu")
HOLD = 15.0  # seconds the server stays unresponsive: longer than the two 5 s probes ao made before


def _server(bed: Bed) -> dict[str, Any]:
    return json.loads((bed.state_dir / "opencode-server.json").read_text())  # type: ignore[no-any-return]


def _servers(bed: Bed) -> list[psutil.Process]:
    """The OpenCode servers of this bed's state dir (their working folder is it)."""
    found = []
    for p in psutil.process_iter(["cmdline", "cwd"]):
        argv = p.info.get("cmdline") or []
        if len(argv) > 1 and argv[1] == "serve" and p.info.get("cwd") == str(bed.state_dir):
            found.append(p)
    return found


def _pids(pid: int) -> list[int]:
    try:
        return [p.pid for p in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]]
    except psutil.Error:
        return []


@contextmanager
def stopped(pid: int) -> Iterator[None]:
    for p in _pids(pid):
        os.kill(p, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in _pids(pid):
            os.kill(p, signal.SIGCONT)


@contextmanager
def throttled(pid: int) -> Iterator[None]:
    """Move the server into a cgroup of its own with 1% of one CPU, and back out afterwards."""
    if not (CPU / "cgroup.procs").exists() or not os.access(CPU, os.W_OK):
        if in_ci():
            pytest.fail("CI=true and no writable cgroup v1 cpu controller to throttle the server with")
        pytest.skip("no writable cgroup v1 cpu controller here")
    group = CPU / f"ao-test-{os.getpid()}-{pid}"
    group.mkdir()
    try:
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text("1000")
        for p in _pids(pid):
            (group / "cgroup.procs").write_text(str(p))
        yield
    finally:
        for line in (group / "cgroup.procs").read_text().split():
            (CPU / "cgroup.procs").write_text(line)
        group.rmdir()


@pytest.mark.parametrize("hold", [stopped, throttled], ids=["sigstop", "cpu-quota"])
def test_a_slow_server_keeps_its_turns_and_serves_the_next_spawn(
    bed: Bed, hold: Callable[[int], Any]
) -> None:
    bed.write_config(runtime="process")
    first = bed.ao("spawn", "--live", "my-project", "long-turn-probe [[slow:25]]", check=True).stdout.strip()
    wait_for(lambda: bed.requests_with("long-turn-probe"), timeout=90, what="the first turn to reach the model")
    before = _server(bed)
    assert len(_servers(bed)) == 1

    second: dict[str, Any] = {}

    def spawn() -> None:
        second["proc"] = bed.ao("spawn", "--live", "my-project", "second-probe [[slow:0]]", timeout=180)

    with hold(int(before["pid"])):
        worker = threading.Thread(target=spawn)
        worker.start()
        time.sleep(HOLD)  # the spawn waits on the unresponsive server meanwhile
    worker.join(timeout=180)
    proc = second["proc"]
    assert proc.returncode == 0, proc.stderr
    assert bed.wait_exited(proc.stdout.strip(), timeout=120)["exitCode"] == 0

    ended = bed.wait_exited(first, timeout=120)
    assert ended["exitCode"] == 0 and ended["outcome"]["result"] == "success", ended
    after = _server(bed)
    assert after["pid"] == before["pid"], "the server was replaced"
    assert [p.pid for p in _servers(bed)] == [before["pid"]], "there is one server, the same one"
