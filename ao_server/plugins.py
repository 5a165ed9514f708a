"""The two plugin seams: agents (what to run) and runtimes (where it runs).

A new agent or runtime is one module with a class satisfying one of these
protocols, listed under the ``ao_server.agents`` / ``ao_server.runtimes``
entry-point groups (see :mod:`ao_server.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from .model import AttachInfo, Introspection, LaunchSpec, Liveness, SessionRecord
from .review import RecordedDiff


class Agent(Protocol):
    name: str

    def check_installed(self) -> str:
        """Return the absolute path of the agent binary, or raise AgentNotInstalled with an install hint."""
        ...

    def prepare(self, binary: str, lock_dir: Path) -> None:
        """One-time set-up before agents start (may wait on a lock shared through ``lock_dir``)."""
        ...

    def launch(self, session: SessionRecord, *, binary: str, prompt_file: Path) -> LaunchSpec:
        """The command that starts a new agent for ``session``; the prompt is fed from ``prompt_file``."""
        ...

    def resume(self, session: SessionRecord, *, binary: str, prompt_file: Path | None) -> LaunchSpec:
        """The command that continues the agent's own session (raise NotResumable when it can't)."""
        ...

    def restore_command(self, session: SessionRecord) -> list[str] | None:
        """An interactive command that reopens the session, if the agent supports it."""
        ...

    def is_agent_process(self, name: str, cmdline: list[str]) -> bool: ...

    def error_from_output(self, text: str) -> str | None:
        """The agent's own error message in the end of its output, if it printed one."""
        ...

    def introspect(self, sessions: list[SessionRecord], now: float) -> Mapping[str, Introspection]:
        """Per-session facts keyed by session id (``agent-<n>``); may raise AoError when unavailable."""
        ...

    def recorded_diffs(self, session: SessionRecord) -> list[RecordedDiff]:
        """The file diffs the agent recorded for the session, oldest first (for sessions without a worktree)."""
        ...


class Runtime(Protocol):
    name: str
    terminal: bool  # the launch script runs on a terminal (it keeps TERM and the size variables)

    def check_available(self) -> None:
        """Raise RuntimeUnavailable with a fix when this runtime can't be used here."""
        ...

    def plan(self, session: SessionRecord) -> dict[str, object]:
        """The handle to record BEFORE the start, so that kill and status can find an agent whose spawn
        was interrupted (the launch script also writes its PID into ``session.dir``)."""
        ...

    def start(self, session: SessionRecord, script: Path) -> dict[str, object]:
        """Start ``script`` for ``session``; return the handle to store (JSON-serialisable)."""
        ...

    def restart(self, session: SessionRecord, script: Path) -> dict[str, object]:
        """Run ``script`` again in the session's existing place (same tmux session); return the new handle."""
        ...

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        """Liveness of every given session at a constant number of subprocesses, keyed by session id.

        ``alive=False`` only with evidence that the agent is gone; ``alive=None`` when the runtime
        cannot tell (its server is unreachable): such a session is never finalized."""
        ...

    def attach(self, session: SessionRecord) -> AttachInfo: ...

    def kill(self, session: SessionRecord) -> None:
        """Stop the agent; not an error when it already stopped."""
        ...

    def close(self, session: SessionRecord) -> None:
        """Release what an exited session still holds (a kept tmux pane); called by forget."""
        ...

    def logs(self, session: SessionRecord, lines: int | None, max_bytes: int | None = None) -> tuple[str, bool]:
        """The last ``lines`` of the agent's output (all when None), read from the end, at most
        ``max_bytes`` of it; and whether ``max_bytes`` cut it short."""
        ...
