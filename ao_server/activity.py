"""What an agent is doing, as ao reports it (the ``activity`` of the session object).

Its own module, with nothing but the standard library, because the database reader that
runs on remote hosts (:mod:`ao_server.agents.opencode_remote`) needs it and is sent there.
"""

from __future__ import annotations

try:
    from enum import StrEnum
except ImportError:  # Python < 3.11, on a remote host
    from enum import Enum

    class StrEnum(str, Enum):  # type: ignore[no-redef]  # noqa: UP042 - what 3.11 StrEnum does
        def __str__(self) -> str:
            return str(self.value)


class Activity(StrEnum):
    ACTIVE = "active"  # a turn in progress, or events in the last seconds
    READY = "ready"  # the turn is complete; waiting
    IDLE = "idle"  # nothing for opencode.idleThreshold seconds
    WAITING_INPUT = "waiting_input"  # a pending question
    BLOCKED = "blocked"  # the last turn failed
    EXITED = "exited"
    UNKNOWN = "unknown"  # the runtime cannot tell whether the agent runs
    UNREACHABLE = "unreachable"  # its host cannot be reached (see unreachableSince); never evidence of an exit
