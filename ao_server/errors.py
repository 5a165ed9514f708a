"""The one error hierarchy of the engine.

Every error a user can cause or meet is an :class:`AoError` with a message a
person can act on. The CLI prints ``ao: <message>`` and exits with
``exit_code``; the server maps ``code`` onto a JSON-RPC error in the
-32099..-32000 range (documented in docs/protocol.md).
"""

from __future__ import annotations

from typing import Any


class AoError(Exception):
    """Base of every expected error. ``str(err)`` is the user-facing message."""

    code = -32000
    exit_code = 1

    def __init__(self, message: str, **data: Any) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class UsageError(AoError):
    """The request itself is malformed (bad id syntax, empty prompt, ...)."""

    code = -32001
    exit_code = 2


class ConfigError(AoError):
    """agent-orchestrator.yaml is missing a needed piece or is invalid."""

    code = -32002


class UnknownProject(AoError):
    code = -32003


class UnknownSession(AoError):
    code = -32004


class AgentNotInstalled(AoError):
    """The agent's binary (opencode) cannot be found."""

    code = -32005


class RuntimeUnavailable(AoError):
    """The runtime cannot be used here (tmux not installed, ...)."""

    code = -32006


class StateError(AoError):
    """The state dir or the session store cannot be used (unwritable, corrupt row, ...)."""

    code = -32007


class SpawnFailed(AoError):
    """The runtime failed to start the agent; nothing was left behind."""

    code = -32008


class NotResumable(AoError):
    """The session cannot be resumed (still running, never bound to an OpenCode session, ...)."""

    code = -32009


class PluginError(AoError):
    """A plugin raised something unexpected; it was contained."""

    code = -32010


class WorkspaceError(AoError):
    """A git worktree could not be made or removed (not a repo, dirty base, branch exists, ...)."""

    code = -32011


class MergeConflict(AoError):
    """``ao merge`` met conflicts; it was aborted and the checkout is as it was."""

    code = -32013
    exit_code = 1


class UnknownRequest(AoError):
    """``ao respond`` names a request the live session is not waiting for."""

    code = -32014


class OpenCodeServerError(AoError):
    """The shared ``opencode serve`` of live agents cannot be started, reached or authenticated to."""

    code = -32015


class BudgetExceeded(AoError):
    """A project's or a day's spending limit is already reached: no new spawn or resume."""

    code = -32012


class HostUnreachable(AoError):
    """A remote host (``hosts:``) cannot be reached over ssh, or refused us (host key, authentication)."""

    code = -32016
