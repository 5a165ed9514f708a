"""The test bed: real OpenCode, a fake model on 127.0.0.1, real tmux on a private socket.

Everything a test starts lives under its own temp dirs (``XDG_*``, ``HOME``,
state dir) and its own tmux socket; the fixtures in ``tests/conftest.py``
clean up by PID and by socket, never by process name.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil

from ao_server.runtimes.common import terminate_tree

from .fake_model import FakeModelServer, opencode_config

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def installed(script: str, env_var: str, what: str) -> str:
    """Run one of scripts/install-*.sh once (it is idempotent) and remember the path it prints in ``env_var``."""
    given = os.environ.get(env_var)
    if given:
        return given
    out = subprocess.run(["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"installing {what} failed: {out.stderr}")
    path = out.stdout.strip().splitlines()[-1]
    os.environ[env_var] = path
    return path


def opencode_binary() -> str:
    """The pinned OpenCode, installed on first use by scripts/install-opencode.sh."""
    return installed("install-opencode.sh", "AO_TEST_OPENCODE", "OpenCode")


def terminate_all(procs: list[psutil.Process], timeout: float = 5.0) -> None:
    """SIGTERM these processes (by PID), wait up to ``timeout``, then SIGKILL whatever is left (the product's own
    terminate-wait-kill)."""
    terminate_tree(procs, timeout)


def processes_under(root: Path) -> list[psutil.Process]:
    """Live processes (not zombies, not this one) whose environment or command line points into ``root``."""
    me, mark, found = os.getpid(), str(root), []
    for p in psutil.process_iter(["pid", "cmdline", "environ", "status"]):
        info = p.info
        if info["pid"] == me or info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        env = info.get("environ") or {}
        if any(mark in v for v in env.values()) or any(mark in a for a in info.get("cmdline") or []):
            found.append(p)
    return found


def stop_processes_under(root: Path) -> int:
    """Stop (by PID) every process a test or benchmark started under ``root``; how many there were."""
    procs = processes_under(root)
    terminate_all(procs)
    return len(procs)


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``, for the benchmarks' figures."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def wait_for(pred: Callable[[], T], timeout: float = 60.0, interval: float = 0.2, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Bed:
    """One isolated world: dirs, env, fake model, tmux socket, project."""

    root: Path
    model: FakeModelServer
    opencode: str
    tmux_socket: str
    project: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def state_dir(self) -> Path:
        return Path(self.env["AO_STATE_DIR"])

    @property
    def opencode_db(self) -> Path:
        return Path(self.env["XDG_DATA_HOME"]) / "opencode" / "opencode.db"

    def write_config(self, text: str | None = None, *, runtime: str = "tmux", extra_project: str = "",
                     model: str | None = None, prompt: str | None = None) -> Path:
        if text is None:
            lines = [
                "plugins:",
                "  agent: opencode",
                f"  runtime: {runtime}",
                "runtime:",
                f"  tmuxSocket: {self.tmux_socket}",
                "projects:",
                "  - name: my-project",
                f"    path: {self.project}",
            ]
            if model or prompt:
                lines.append("    agentConfig:")
                if model:
                    lines.append(f"      model: {model}")
                if prompt:
                    lines.append(f"      prompt: {json.dumps(prompt)}")
            text = "\n".join(lines) + "\n" + extra_project
        path = self.project / "agent-orchestrator.yaml"
        path.write_text(text)
        return path

    def ao(self, *args: str, input: str | None = None, check: bool = False, cwd: Path | None = None,
           timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "ao_server.cli", *args], cwd=str(cwd or self.project),
                              env=env or self.env, input=input, capture_output=True, text=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"ao {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def ao_json(self, *args: str, **kw: Any) -> Any:
        proc = self.ao(*args, "--json", check=True, **kw)
        return json.loads(proc.stdout)

    def status_of(self, sid: str) -> dict[str, Any]:
        return self.ao_json("status", sid)  # type: ignore[no-any-return]

    def wait_exited(self, sid: str, timeout: float = 90) -> dict[str, Any]:
        return wait_for(lambda: (s := self.status_of(sid))["status"] == "exited" and s, timeout=timeout,
                        interval=0.5, what=f"{sid} to exit")

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.tmux_socket, *args], capture_output=True, text=True,
                              env=self.env, timeout=15)

    def requests_with(self, marker: str) -> list[dict[str, Any]]:
        return self.model.requests_with(marker)

    def cleanup(self) -> None:
        """Kill what this bed started: agent processes by the PIDs in its store, its tmux server, and the
        OpenCode server of its live agents (by the PID its state dir records)."""
        pids: set[int] = set()
        db = self.state_dir / "sessions.db"
        if db.exists():
            import sqlite3

            try:
                con = sqlite3.connect(db, timeout=5)
                for (handle,) in con.execute("SELECT handle FROM sessions"):
                    try:
                        pid = json.loads(handle).get("pid")
                    except (ValueError, AttributeError):
                        continue
                    if isinstance(pid, int):
                        pids.add(pid)
                con.close()
            except sqlite3.Error:
                pass
        panes = self.tmux("list-panes", "-a", "-F", "#{pane_dead} #{pane_pid}")  # a dead pane's PID is stale
        pids.update(int(pid) for dead, _, pid in (ln.partition(" ") for ln in panes.stdout.splitlines())
                    if dead == "0" and pid.isdigit())
        procs = []
        for pid in pids:
            try:
                p = psutil.Process(pid)
                procs += [p, *p.children(recursive=True)]
            except psutil.Error:
                pass
        terminate_all(procs)
        self.tmux("kill-server")
        from ao_server.runtimes.live import OpenCodeServer  # live agents' shared OpenCode server, by its PID
        from ao_server.runtimes.live_keeper import running_keeper

        keeper = running_keeper(self.state_dir)  # and its keeper (it would exit by itself a moment later)
        OpenCodeServer(self.state_dir, self.env).stop()
        if keeper is not None:
            with contextlib.suppress(psutil.Error):
                terminate_all([psutil.Process(keeper.pid)])


def isolated_env(tmp: Path, **extra: str) -> dict[str, str]:
    """This process's environment minus OpenCode/ao/XDG/tmux variables, with HOME, every XDG dir and the
    ao state dir made fresh under ``tmp``; ``extra`` is added last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCODE", "AO_", "XDG_", "TMUX"))}
    dirs = {"HOME": "home", "XDG_DATA_HOME": "data", "XDG_CONFIG_HOME": "config", "XDG_STATE_HOME": "state",
            "XDG_CACHE_HOME": "cache", "AO_STATE_DIR": "ao-state"}
    for var, name in dirs.items():
        (tmp / name).mkdir(parents=True, exist_ok=True)
        env[var] = str(tmp / name)
    env["SHELL"] = "/bin/sh"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(extra)
    return env


def write_opencode_config(config_home: Path, base_url: str, *, input_price: float = 1.0,
                          output_price: float = 2.0) -> Path:
    """Write ``<config_home>/opencode/opencode.json`` pointing OpenCode at the fake model at ``base_url``
    (``config_home`` is the ``XDG_CONFIG_HOME`` OpenCode will run with); its path."""
    path = config_home / "opencode" / "opencode.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(opencode_config(base_url, input_price=input_price, output_price=output_price),
                               indent=2))
    return path


def make_bed(tmp: Path, opencode: str, *, input_price: float = 1.0, output_price: float = 2.0) -> Iterator[Bed]:
    model = FakeModelServer(0, tmp / "model-requests.jsonl")
    model.start_background()
    env = isolated_env(tmp, AO_OPENCODE_BIN=opencode, AO_TEST_OPENCODE=opencode)
    write_opencode_config(tmp / "config", model.base_url, input_price=input_price, output_price=output_price)
    project = tmp / "my-project"
    project.mkdir()
    bed = Bed(root=tmp, model=model, opencode=opencode, tmux_socket=f"ao-test-{uuid.uuid4().hex[:10]}",
              project=project, env=env)
    bed.write_config()
    try:
        yield bed
    finally:
        bed.cleanup()
        model.shutdown()
        model.server_close()
        shutil.rmtree(tmp / "home", ignore_errors=True)
