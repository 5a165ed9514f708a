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


class Agent(Protocol):
    name: str

    def check_installed(self) -> str:
        """Return the absolute path of the agent binary, or raise AgentNotInstalled with an install hint."""
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

    def introspect(self, sessions: list[SessionRecord], now: float) -> Mapping[str, Introspection]:
        """Per-session facts keyed by session id (``agent-<n>``); may raise AoError when unavailable."""
        ...


class Runtime(Protocol):
    name: str

    def check_available(self) -> None:
        """Raise RuntimeUnavailable with a fix when this runtime can't be used here."""
        ...

    def start(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        """Start ``script`` for ``session``; return the handle to store (JSON-serialisable)."""
        ...

    def restart(self, session: SessionRecord, script: Path, session_dir: Path) -> dict[str, object]:
        """Run ``script`` again in the session's existing place (same tmux session); return the new handle."""
        ...

    def snapshot(self, sessions: list[SessionRecord], agent: Agent) -> dict[str, Liveness]:
        """Liveness of every given session at a constant number of subprocesses, keyed by session id."""
        ...

    def attach(self, session: SessionRecord, session_dir: Path) -> AttachInfo: ...

    def kill(self, session: SessionRecord) -> None:
        """Stop the agent; not an error when it already stopped."""
        ...

    def logs(self, session: SessionRecord, session_dir: Path, lines: int | None) -> str: ...
