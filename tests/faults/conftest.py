"""Fixtures of the fault suite: a bed whose processes are accounted for, ao-server processes, a small tmpfs.

Every fault test ends by asserting that nothing it started is left: no process whose environment or
command line points into the test's own temp dir (its HOME, XDG dirs and state dir are all there), and
no tmux server on its private socket. Whatever a failing test leaves behind is then stopped by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.bed import ROOT, Bed, processes_under, terminate_all, wait_for

sys.path.insert(0, str(ROOT / "editors" / "jsonrpc"))
from ao_client import Connection, RpcError  # the standard-library client drives the servers

STANDIN = str(ROOT / "tests" / "support" / "standin" / "opencode")
IN_CI = os.environ.get("CI") == "true"
DOMAIN_CODES = range(-32099, -32000 + 1)  # AoError codes; -32603 would be a bug


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


# --- what a test started -------------------------------------------------------------------------


def processes_of(root: Path) -> list[psutil.Process]:
    """Live processes (not zombies) whose environment or command line points into ``root``."""
    return processes_under(root)


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        try:
            out.append(f"{p.pid} {' '.join(p.cmdline())[:160]}")
        except psutil.Error:
            out.append(f"{p.pid} (gone)")
    return out


def tmux_server_alive(bed: Bed) -> bool:
    return bed.tmux("list-sessions").returncode == 0


def assert_nothing_left(bed: Bed, timeout: float = 15) -> None:
    """The test's own cleanup worked: no process of this bed and no tmux server on its socket."""
    try:
        wait_for(lambda: not processes_of(bed.root), timeout=timeout, interval=0.3, what="the bed's processes to end")
    except AssertionError:
        left = describe(processes_of(bed.root))
        raise AssertionError(f"processes left behind: {left}") from None
    assert not tmux_server_alive(bed), "the tmux server on the test's socket is still running"


def agent_processes(bed: Bed) -> dict[str, list[int]]:
    """Stand-in agents of this bed by their AO_SESSION_ID (the stand-in's own shell, one per agent run)."""
    out: dict[str, list[int]] = {}
    for p in processes_of(bed.root):
        try:
            cmd = p.cmdline()
            env = p.environ()
        except psutil.Error:
            continue
        if len(cmd) >= 2 and cmd[1] == STANDIN and "AO_SESSION_ID" in env:
            out.setdefault(env["AO_SESSION_ID"], []).append(p.pid)
    return out


def wait_agents_gone(bed: Bed, *sessions: str, timeout: float = 15) -> None:
    """Wait until the given sessions (all, when none given) have no agent process; fail naming the survivors."""

    def survivors() -> dict[str, list[int]]:
        procs = agent_processes(bed)
        return {k: v for k, v in procs.items() if not sessions or k in sessions}

    try:
        wait_for(lambda: not survivors(), timeout=timeout, interval=0.3, what="agents to stop")
    except AssertionError:
        raise AssertionError(f"agents still running after they were killed: {survivors()}") from None


@pytest.fixture
def fault_bed(bed: Bed) -> Iterator[Bed]:
    """The bed; at teardown whatever is still running from it is stopped by PID (after the bed's own cleanup)."""
    try:
        yield bed
    finally:
        terminate_all(processes_of(bed.root))
        bed.tmux("kill-server")


@pytest.fixture
def standin_bed(fault_bed: Bed) -> Bed:
    """The bed with the STAND-IN opencode (tests/support/standin/opencode) and the process runtime."""
    fault_bed.env["AO_OPENCODE_BIN"] = STANDIN
    fault_bed.write_config(runtime="process")
    return fault_bed


# --- ao-server processes ---------------------------------------------------------------------------


class Server:
    """One real ``python -m ao_server`` process driven by the standard-library client."""

    def __init__(self, bed: Bed, env: dict[str, str] | None = None, poll_interval: float = 0.3,
                 initialized: bool = True, name: str = "server") -> None:
        self.log_path = bed.root / f"{name}-{os.urandom(3).hex()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in close()
        self.conn = Connection([sys.executable, "-m", "ao_server", "-v"], env=env or bed.env, cwd=str(bed.root),
                               stderr=self._log)
        self.proc = self.conn.proc
        self.conn.request("initialize", {
            "processId": os.getpid(),
            "rootUri": bed.project.resolve().as_uri(),
            "workspaceFolders": [{"uri": bed.project.resolve().as_uri(), "name": "my-project"}],
            "capabilities": {},
            "initializationOptions": {"pollInterval": poll_interval},
        }, timeout=60)
        if initialized:
            self.initialized()

    def initialized(self) -> None:
        self.conn.notify("initialized", {})

    def request(self, method: str, params: Any = None, timeout: float = 120) -> Any:
        return self.conn.request(method, params, timeout=timeout)

    def error(self, method: str, params: Any = None, timeout: float = 120) -> RpcError:
        try:
            result = self.conn.request(method, params, timeout=timeout)
        except RpcError as e:
            return e
        raise AssertionError(f"{method} {params} succeeded: {json.dumps(result)[:400]}")

    def wait_change(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        params, _ = self.conn.wait_notification("ao/statusChanged", pred, timeout=timeout)
        return params  # type: ignore[no-any-return]

    def sigkill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self._log.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    """``servers(bed, ...)`` starts an ao-server; every one started is shut down (or killed) at teardown."""
    started: list[Server] = []

    def start(bed: Bed, **kw: Any) -> Server:
        s = Server(bed, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


# --- a small filesystem ------------------------------------------------------------------------------


def unavailable(why: str) -> None:
    """A missing facility: skip on a laptop, fail in CI (as the editor tests do)."""
    if IN_CI:
        pytest.fail(f"CI=true and this fault cannot be set up: {why}")
    pytest.skip(why)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted at ``tmp_path/small-fs`` (we run as root), unmounted afterwards."""
    mnt = tmp_path / "small-fs"
    mnt.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root")
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "ao-fault-tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {out.stderr.strip() or out.returncode}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
