"""The pure replay of an OpenCode session's event log into a small state.

:class:`EventState` is what the reader keeps per OpenCode session between polls
(JSON-serialisable; the store persists it): a cursor into the session's event
log plus just enough of the latest assistant message, its running tools, pending
requests, the first prompt and the PR url to say what the session is doing.
:func:`apply_event` folds one event into it, :func:`apply_message` and
:func:`apply_part` one row of the ``message``/``part`` tables (the reader seeds
new sessions from those), :func:`outcome_of` and :func:`activity_of` read the result.
Nothing here does I/O.

Durable event types OpenCode 1.18.33 writes to ``event`` (``aggregate_id`` is the
session id, the ``.1`` suffix is the schema version): ``session.created.1``,
``session.updated.1``, ``session.deleted.1``, ``message.updated.1``,
``message.removed.1``, ``message.part.updated.1``, ``message.part.removed.1``
(plus ``session.next.*.{1,2}`` from the experimental v2 engine).  Permission and
question requests (``permission.asked`` ...) are *not* durable in 1.18.33: they
live only in the running process, and while one is pending the database just
shows the tool part in state ``running``.  The replay nevertheless honours
``permission.asked``/``permission.replied``, ``permission.v2.asked``/``...replied``
and ``question.asked``/``question.replied``/``question.rejected`` should a later
version persist them, and a running ``question`` tool (OpenCode's tool that asks
the user something) counts as waiting for input.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, NamedTuple, TypeVar

from ..activity import Activity

__all__ = [
    "EventState",
    "PendingRequest",
    "RunningTool",
    "activity_of",
    "apply_event",
    "apply_message",
    "apply_part",
    "as_dict",
    "as_int",
    "as_str",
    "find_pr_url",
    "loads_object",
    "outcome_of",
]

#: Tools whose ``running`` state means OpenCode is waiting for an answer from the user.
INTERACTIVE_TOOLS = frozenset({"question", "plan_enter", "plan_exit"})
#: Finish reasons after which OpenCode's agent loop carries on with another step.
CONTINUE_FINISHES = frozenset({"tool-calls", "tool_calls", "unknown"})
SUCCESS_FINISHES = frozenset({"stop", "end_turn", "other"})
ABORTED_ERRORS = frozenset({"MessageAbortedError"})
PR_URL_RE = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/pull/\d+")
MAX_TEXT = 2000


class RunningTool(NamedTuple):
    """A tool call in state ``pending`` or ``running``; JSON ``[tool, message id, status]``."""

    tool: str
    message_id: str
    status: str


class PendingRequest(NamedTuple):
    """A permission or question request awaiting its answer; JSON ``[kind, message id]``."""

    kind: str  # "permission" or "question"
    message_id: str  # the assistant message that asked, "" when unknown


_T = TypeVar("_T", RunningTool, PendingRequest)


@dataclass
class EventState:
    """Incremental, JSON-serialisable state of one OpenCode session, built from its event log."""

    cursor: int = -1  # last event seq consumed
    last_event_ms: int = 0
    session_id: str | None = None  # the OpenCode session this state belongs to
    assistant_id: str | None = None  # latest assistant message
    assistant_created_ms: int = 0
    assistant_completed_ms: int = 0
    assistant_finish: str | None = None
    assistant_error: str | None = None
    assistant_error_name: str | None = None
    tool_error: str | None = None  # error of a tool call in the latest assistant message
    last_tool: str | None = None
    last_tool_part_id: str | None = None
    running_tools: dict[str, RunningTool] = field(default_factory=dict)  # by part id
    pending: dict[str, PendingRequest] = field(default_factory=dict)  # by request id
    first_user_id: str | None = None
    first_prompt: str | None = None
    pr_url: str | None = None

    def to_json(self) -> str:
        # asdict keeps the NamedTuples, which json writes as arrays: [tool, message id, status], [kind, message id].
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, s: str | bytes | None) -> EventState:
        """Parse :meth:`to_json` output; anything malformed gives a fresh state."""
        try:
            raw = json.loads(s) if s else None
        except (TypeError, ValueError):
            return cls()
        if not isinstance(raw, dict):
            return cls()
        state = cls()
        for f in fields(cls):
            if f.name not in raw:
                continue
            value = raw[f.name]
            default = getattr(state, f.name)
            if isinstance(default, int):
                if not isinstance(value, int) or isinstance(value, bool):
                    return cls()
            elif f.name == "running_tools":
                value = _string_tuples(value, RunningTool)
                if value is None:
                    return cls()
            elif f.name == "pending":
                value = _string_tuples(value, PendingRequest)
                if value is None:
                    return cls()
            elif value is not None and not isinstance(value, str):
                return cls()
            setattr(state, f.name, value)
        return state


def _string_tuples(value: Any, kind: type[_T]) -> dict[str, _T] | None:
    """``{key: [str, ...]}`` as ``{key: kind(...)}``; None unless every array has exactly kind's fields."""
    if not isinstance(value, dict):
        return None
    out: dict[str, _T] = {}
    for k, v in value.items():
        if not (isinstance(k, str) and isinstance(v, list) and len(v) == len(kind._fields)):
            return None
        if not all(isinstance(x, str) for x in v):
            return None
        out[k] = kind(*v)
    return out


# --------------------------------------------------------------------------------------------- helpers


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    return 0


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def loads_object(text: Any) -> dict[str, Any]:
    if not isinstance(text, str | bytes):
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return as_dict(value)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


def _base_type(event_type: str) -> str:
    """``message.part.updated.1`` -> ``message.part.updated``."""
    head, dot, tail = event_type.rpartition(".")
    return head if dot and tail.isdigit() else event_type


def _error_text(error: dict[str, Any]) -> str:
    data = as_dict(error.get("data"))
    message = as_str(data.get("message")) or as_str(error.get("message"))
    name = as_str(error.get("name")) or "error"
    return message or name


def find_pr_url(tool_state: dict[str, Any]) -> str | None:
    for candidate in (tool_state.get("output"), as_dict(tool_state.get("metadata")).get("output")):
        if isinstance(candidate, str):
            m = PR_URL_RE.search(candidate)
            if m:
                return m.group(0)
    return None


# --------------------------------------------------------------------------------------------- replay


def apply_message(st: EventState, info: dict[str, Any]) -> int:
    """Fold one message's info into the state; returns the newest timestamp it carries."""
    mid = as_str(info.get("id"))
    role = info.get("role")
    times = as_dict(info.get("time"))
    created = as_int(times.get("created"))
    completed = as_int(times.get("completed"))
    if mid is None:
        return 0
    if role == "assistant":
        newer = st.assistant_id is None or (created, mid) >= (st.assistant_created_ms, st.assistant_id)
        if mid == st.assistant_id or newer:
            if mid != st.assistant_id:
                st.assistant_id = mid
                st.tool_error = None
            st.assistant_created_ms = created
            st.assistant_completed_ms = completed
            st.assistant_finish = as_str(info.get("finish"))
            error = info.get("error")
            if isinstance(error, dict):
                st.assistant_error = _clip(_error_text(error))
                st.assistant_error_name = as_str(error.get("name")) or "error"
            else:
                st.assistant_error = None
                st.assistant_error_name = None
        if completed or isinstance(info.get("error"), dict):
            for key in [k for k, v in st.running_tools.items() if v.message_id == mid]:
                del st.running_tools[key]
            for key in [k for k, v in st.pending.items() if v.message_id == mid]:
                del st.pending[key]
    elif role == "user" and st.first_user_id is None:
        st.first_user_id = mid
    return max(created, completed)


def apply_part(st: EventState, part: dict[str, Any]) -> int:
    """Fold one part into the state; returns the newest timestamp it carries."""
    pid = as_str(part.get("id")) or ""
    mid = as_str(part.get("messageID")) or ""
    ptype = part.get("type")
    ts = 0
    if ptype == "tool":
        tool = as_str(part.get("tool")) or "?"
        tstate = as_dict(part.get("state"))
        status = as_str(tstate.get("status")) or ""
        ptimes = as_dict(tstate.get("time"))
        ts = max(as_int(ptimes.get("start")), as_int(ptimes.get("end")))
        if st.last_tool_part_id is None or pid >= st.last_tool_part_id:
            st.last_tool = tool
            st.last_tool_part_id = pid
        if status in ("pending", "running"):
            st.running_tools[pid] = RunningTool(tool, mid, status)
        else:
            st.running_tools.pop(pid, None)
        if status == "error" and mid == st.assistant_id:
            st.tool_error = _clip(as_str(tstate.get("error")) or "tool error")
        if st.pr_url is None:
            st.pr_url = find_pr_url(tstate)
    elif ptype == "text":
        if st.first_prompt is None and mid and mid == st.first_user_id and not part.get("synthetic"):
            text = as_str(part.get("text"))
            if text:
                st.first_prompt = _clip(text)
        ptimes = as_dict(part.get("time"))
        ts = max(as_int(ptimes.get("start")), as_int(ptimes.get("end")))
    return ts


def apply_event(st: EventState, event_type: str, data: dict[str, Any]) -> int:
    """Fold one event of the log into the state; returns its timestamp (0 when it has none)."""
    base = _base_type(event_type)
    ts = as_int(data.get("time")) or as_int(data.get("timestamp"))
    if base == "message.part.updated":
        ts = max(ts, apply_part(st, as_dict(data.get("part"))))
    elif base == "message.updated":
        # A message.updated carries the message's own times, which for an old
        # message touched again (e.g. a user message getting its diff summary)
        # are old: only the completion of the newest assistant message counts.
        apply_message(st, as_dict(data.get("info")))
        info_times = as_dict(as_dict(data.get("info")).get("time"))
        ts = max(ts, as_int(info_times.get("completed")))
        if as_dict(data.get("info")).get("id") == st.assistant_id:
            ts = max(ts, as_int(info_times.get("created")))
    elif base in ("session.updated", "session.created"):
        ts = max(ts, as_int(as_dict(as_dict(data.get("info")).get("time")).get("updated")))
    elif base == "message.part.removed":
        st.running_tools.pop(as_str(data.get("partID")) or "", None)
    elif base in ("permission.asked", "permission.v2.asked", "question.asked"):
        rid = as_str(data.get("id")) or as_str(data.get("requestID"))
        tool = as_dict(data.get("tool")) or as_dict(data.get("source"))
        if rid:
            st.pending[rid] = PendingRequest(
                "question" if base.startswith("question") else "permission",
                as_str(tool.get("messageID")) or "",
            )
    elif base in ("permission.replied", "permission.v2.replied", "question.replied", "question.rejected"):
        rid = as_str(data.get("requestID")) or as_str(data.get("id"))
        if rid:
            st.pending.pop(rid, None)
    return ts


def outcome_of(st: EventState) -> dict[str, Any] | None:
    if st.assistant_id is None:
        return None
    finish = st.assistant_finish
    if st.assistant_error_name is not None:
        if st.assistant_error_name in ABORTED_ERRORS:
            return {"result": "incomplete", "error": st.assistant_error or "aborted", "finish": finish}
        return {"result": "error", "error": st.assistant_error or st.assistant_error_name, "finish": finish}
    if not st.assistant_completed_ms:
        return {"result": "incomplete", "error": None, "finish": finish}
    if finish is None or finish in CONTINUE_FINISHES:
        if st.tool_error:
            return {"result": "error", "error": st.tool_error, "finish": finish}
        return {"result": "incomplete", "error": None, "finish": finish}
    if finish == "error":
        return {"result": "error", "error": st.tool_error or "the model stopped with an error", "finish": finish}
    if finish in SUCCESS_FINISHES:
        return {"result": "success", "error": None, "finish": finish}
    return {"result": "incomplete", "error": None, "finish": finish}  # length, content-filter, ...


def activity_of(
    st: EventState,
    outcome: dict[str, Any] | None,
    last_ms: int,
    now_ms: int,
    *,
    active_window_ms: int,
    idle_threshold_ms: int,
) -> Activity:
    """What the session is doing, given its last activity ``last_ms`` and the time ``now_ms``."""
    if st.pending or any(v.tool in INTERACTIVE_TOOLS and v.status == "running" for v in st.running_tools.values()):
        return Activity.WAITING_INPUT
    if st.assistant_id is not None and not st.assistant_completed_ms and st.assistant_error_name is None:
        return Activity.ACTIVE
    quiet = now_ms - last_ms
    if quiet < active_window_ms:
        return Activity.ACTIVE
    if outcome is not None and outcome["result"] == "error":
        return Activity.BLOCKED
    if quiet >= idle_threshold_ms:
        return Activity.IDLE
    return Activity.READY
