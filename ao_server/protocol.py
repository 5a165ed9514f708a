"""The wire contract of ao-server, as pure functions: names, params checking, framing, diffing.

docs/protocol.md is the same contract written for people. Nothing here does
I/O or touches the engine, so every rule is unit-testable:

* method and notification names (:data:`METHODS`, :data:`STATUS_CHANGED`);
* params validation (:func:`parse_params`): wrong shapes raise
  :class:`ParamsError`, which the server sends as ``-32602`` naming the field;
* ``initializationOptions`` (:func:`parse_init_options`);
* the JSON-RPC envelope check (:func:`classify`) and the ``Content-Length``
  header parser (:func:`content_length`) that keep the server up on garbage;
* the poller's diff (:func:`diff_sessions`) that turns two snapshots into
  ``ao/statusChanged`` notifications.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import model as m

# --- names ---------------------------------------------------------------------------

SPAWN = "ao/spawn"
STATUS = "ao/status"
ATTACH = "ao/attach"
LIST = "ao/list"
KILL = "ao/kill"
RESUME = "ao/resume"
LOGS = "ao/logs"
MODELS = "ao/models"
COST = "ao/cost"
CHANGES = "ao/changes"
FILE_DIFF = "ao/fileDiff"
MERGE = "ao/merge"
DISCARD = "ao/discard"
SEND = "ao/send"
RESPOND = "ao/respond"
ABORT = "ao/abort"
HOSTS = "ao/hosts"
METHODS: tuple[str, ...] = (
    SPAWN, STATUS, ATTACH, LIST, KILL, RESUME, LOGS, MODELS, COST, CHANGES, FILE_DIFF, MERGE, DISCARD, SEND,
    RESPOND, ABORT, HOSTS,
)  # fmt: skip
"""Request methods; each is also a ``workspace/executeCommand`` command with ``arguments: [params]``."""

CHANGING = frozenset({SPAWN, KILL, RESUME, SEND, RESPOND, ABORT, MERGE, DISCARD})
"""Methods that change sessions: the poller looks at once after one succeeds."""

STATUS_CHANGED = "ao/statusChanged"
"""Server -> client notification pushed by the poller."""

INPUT_REQUESTED = "ao/inputRequested"
"""Server -> client notification: a live agent asks for a permission or asks questions."""

# JSON-RPC / LSP error codes used by the server itself (the engine's are in ao_server.errors).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002  # LSP's code (data.kind "ServerNotInitialized" tells it from ConfigError)

# --- limits ----------------------------------------------------------------------------

MAX_NAME = 1000  # sessionId, project, model, issueId, runtime: far above any valid value
MAX_LOG_CHARS = 1_000_000  # ao/logs keeps the tail beyond this (bytes of UTF-8)
MAX_MONEY = 1_000_000.0
SINCE_RE = re.compile(r"today|[1-9][0-9]{0,4}[hd]|[0-9]{4}-[0-9]{2}-[0-9]{2}")
COST_GROUPS = ("project", "model", "day", "session")
PROMPT_PREVIEW = 200  # characters of the prompt in ao/statusChanged
MAX_PATH = 4096  # ao/fileDiff path, a review note's path
MAX_NOTES = 1000  # review notes in one ao/send
MAX_NOTE = 100_000  # characters of one note
MAX_PAGE = 10_000  # sessions per ao/status or ao/list page
DEFAULT_PAGE = 1_000  # when no limit is given
MAX_HEADER_LINE = 64 * 1024
MAX_BODY = 32 * 1024 * 1024
DEFAULT_POLL_INTERVAL = 1.0
MIN_POLL_INTERVAL = 0.05
MAX_POLL_INTERVAL = 3600.0


class ParamsError(ValueError):
    """Params of the wrong shape; ``field`` is the dotted name, ``expected`` says what fits."""

    def __init__(self, field: str, expected: str, got: object = ..., *, hint: str = "") -> None:
        self.field = field
        self.expected = expected
        text = f"invalid params: {field} must be {expected}"
        if got is not ...:
            text += f", got {json_type(got)}"
        if hint:
            text += f" ({hint})"
        super().__init__(text)
        self.message = text


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for error messages (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} characters" if len(value) > MAX_NAME else "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --- params ------------------------------------------------------------------------------

PARAMS: dict[str, type[Any]] = {
    SPAWN: m.SpawnParams,
    STATUS: m.StatusParams,
    LIST: m.ListParams,
    ATTACH: m.SessionParams,
    KILL: m.SessionParams,
    RESUME: m.ResumeParams,
    LOGS: m.LogsParams,
    MODELS: m.ModelsParams,
    COST: m.CostParams,
    CHANGES: m.SessionParams,
    FILE_DIFF: m.FileDiffParams,
    MERGE: m.MergeParams,
    DISCARD: m.SessionParams,
    SEND: m.SendParams,
    RESPOND: m.RespondParams,
    ABORT: m.SessionParams,
    HOSTS: m.HostsParams,
}
"""The params type of each method (typed values of :mod:`ao_server.model`)."""

RESULTS: dict[str, Any] = {
    SPAWN: m.Session,
    STATUS: m.StatusPage,
    LIST: m.SessionList,
    ATTACH: m.Attach,
    KILL: m.Session,
    RESUME: m.Session,
    LOGS: m.Logs,
    MODELS: m.Models,
    COST: m.CostReport,
    CHANGES: m.Changes,
    FILE_DIFF: m.FileDiff,
    MERGE: m.Merge,
    DISCARD: m.Discard,
    SEND: m.Session,
    RESPOND: m.Session,
    ABORT: m.Session,
    HOSTS: m.Hosts,
}
"""The result type of each method."""

NOTIFICATIONS: dict[str, type[Any]] = {STATUS_CHANGED: m.StatusChange, INPUT_REQUESTED: m.InputRequested}


def param_fields(method: str) -> dict[str, dataclasses.Field[Any]]:
    """The wire names of ``method``'s params (``workDoneToken`` last) and their dataclass fields."""
    return {camel(f.name): f for f in dataclasses.fields(PARAMS[method])}


def parse_params(method: str, raw: object) -> Any:
    """Check ``raw`` (decoded JSON) against ``method``'s params type and build it; absent and null fields are None.

    Unknown fields are refused with a did-you-mean hint, so ``session_id`` is
    an error instead of being silently ignored.
    """
    fields = param_fields(method)
    shown = [k for k in fields if k != "workDoneToken"]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError("params", "an object like {" + ", ".join(f'"{k}": ...' for k in shown) + "}", raw)
    for key in raw:
        if key not in fields:
            close = difflib.get_close_matches(str(key)[:100], list(fields), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"{method} takes {', '.join(shown) or 'no fields'}"
            raise ParamsError(shorten(str(key), 80), "a known field", hint=f"unknown field; {hint}")
    values: dict[str, Any] = {}
    for key, f in fields.items():
        value = raw.get(key)
        if value is None:
            if f.metadata["required"]:
                raise ParamsError(key, REQUIRED.get(f.metadata["kind"], "given") + " (required)", value)
            continue
        values[f.name] = check_field(key, f.metadata["kind"], value)
    return PARAMS[method](**values)


REQUIRED = {
    "name": 'a session id like "my-project/agent-3"',
    "path": "a file path as ao/changes listed it",
    "request": "a requestId from ao/inputRequested or the session's pending",
}
MAX_ANSWERS = 100  # questions, and options picked per question


def check_path(key: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ParamsError(key, "a relative file path (a non-empty string)", value)
    if len(value) > MAX_PATH or "\0" in value:
        raise ParamsError(key, f"a file path of at most {MAX_PATH} characters, without NUL", value)
    return value


def check_notes(key: str, value: object) -> list[m.ReviewNote]:
    if not isinstance(value, list) or len(value) > MAX_NOTES:
        raise ParamsError(
            key, f'an array of at most {MAX_NOTES} notes like {{"path": "a.py", "line": 3, "text": "..."}}', value
        )
    notes = []
    for i, raw in enumerate(value):
        at = f"{key}[{i}]"
        if not isinstance(raw, dict):
            raise ParamsError(at, 'an object like {"path": "a.py", "line": 3, "text": "..."}', raw)
        extra = set(raw) - {"path", "line", "text"}
        if extra:
            raise ParamsError(
                f"{at}.{shorten(str(sorted(extra)[0]), 80)}", "a known field", hint="a note has path, line, text"
            )
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > MAX_NOTE:
            raise ParamsError(f"{at}.text", f"a non-empty string of at most {MAX_NOTE} characters", text)
        line = raw.get("line")
        if line is not None and (isinstance(line, bool) or not isinstance(line, int) or line < 1):
            raise ParamsError(f"{at}.line", "a line number (a positive integer) or null", line)
        notes.append(m.ReviewNote(path=check_path(f"{at}.path", raw.get("path")), text=text, line=line))
    return notes


def check_field(key: str, kind: str, value: object) -> Any:
    """One param's value checked by its kind; raises :class:`ParamsError` naming the field."""
    if kind == "name":
        if not isinstance(value, str):
            raise ParamsError(key, "a string", value)
        if len(value) > MAX_NAME:
            raise ParamsError(key, f"at most {MAX_NAME} characters", value)
        return value
    if kind == "prompt":
        if not isinstance(value, str):
            raise ParamsError(key, "a string (the task for the agent)", value)
        return value
    if kind == "lines":
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ParamsError(key, "a positive integer (how many lines from the end)", value)
        return value
    if kind == "limit":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
            raise ParamsError(key, f"an integer from 1 to {MAX_PAGE} (sessions per page)", value)
        return value
    if kind == "cursor":
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,12}", value):  # ASCII: str.isdigit takes "²"
            raise ParamsError(key, "the nextCursor of an earlier result", value)
        return value
    if kind == "money":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_MONEY:
            raise ParamsError(key, f"a positive amount of US dollars (at most {MAX_MONEY:g})", value)
        return float(value)
    if kind == "since":
        if not isinstance(value, str) or not SINCE_RE.fullmatch(value):
            raise ParamsError(key, '"today", a duration like "24h" or "7d", or a date like "2026-11-01"', value)
        return value
    if kind == "by":
        if value not in COST_GROUPS:
            raise ParamsError(key, "one of " + ", ".join(COST_GROUPS), value)
        return value
    if kind == "path":
        return check_path(key, value)
    if kind == "notes":
        return check_notes(key, value)
    if kind == "request":
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_]{1,200}", value):
            raise ParamsError(key, 'a requestId like "per_..." or "que_..."', value)
        return value
    if kind == "reply":
        if value not in [v.value for v in m.Reply]:
            raise ParamsError(key, "one of " + ", ".join(v.value for v in m.Reply), value)
        return m.Reply(value)
    if kind == "answers":
        ok = (
            isinstance(value, list)
            and 0 < len(value) <= MAX_ANSWERS
            and all(
                isinstance(a, list)
                and len(a) <= MAX_ANSWERS
                and all(isinstance(x, str) and len(x) <= MAX_NOTE for x in a)
                for a in value
            )
        )
        if not ok:
            raise ParamsError(key, 'an array with one array of strings per question, like [["Yes"]]', value)
        return value
    if kind == "strategy":
        if value not in [v.value for v in m.Strategy]:
            raise ParamsError(key, "one of " + ", ".join(v.value for v in m.Strategy), value)
        return m.Strategy(value)
    if kind == "flag":
        if not isinstance(value, bool):
            raise ParamsError(key, "true or false", value)
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParamsError(key, "a progress token (an integer or a string)", value)
    return value


# --- typed values <-> wire JSON --------------------------------------------------------------


def camel(name: str) -> str:
    """``issue_id`` -> ``issueId``: the wire's field names."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


CONVERTER = cattrs.Converter()


def _unstructure_fn(cls: type[Any]) -> Any:
    renames = {f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)}
    return make_dict_unstructure_fn(cls, CONVERTER, **renames)  # type: ignore[arg-type]


def _structure_fn(cls: type[Any]) -> Any:
    renames = {f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)}
    return make_dict_structure_fn(cls, CONVERTER, **renames)  # type: ignore[arg-type]


for _enum in (m.Status, m.State, m.Activity, m.Result, m.Scope, m.Change, m.Source, m.Strategy, m.RequestKind, m.Reply):
    CONVERTER.register_unstructure_hook(_enum, lambda v: v.value)
CONVERTER.register_unstructure_hook_factory(dataclasses.is_dataclass, _unstructure_fn)
CONVERTER.register_structure_hook_factory(dataclasses.is_dataclass, _structure_fn)


def to_wire(value: Any) -> Any:
    """A typed value (or a list of them) as wire JSON: camelCase keys, enums as their strings. The one path."""
    return CONVERTER.unstructure(value)


T = TypeVar("T")


def from_wire(data: Any, cls: type[T]) -> T:
    """Wire JSON back into a typed value (records kept in the store use the wire form)."""
    return CONVERTER.structure(data, cls)


def parse_execute_command(raw: object) -> tuple[str, object, int | str | None]:
    """``workspace/executeCommand`` params -> (command, the params of the same request, workDoneToken).

    ``arguments`` is ``[params]``; absent or ``[]`` means ``{}``.
    """
    if not isinstance(raw, dict):
        raise ParamsError("params", 'an object like {"command": "ao/status", "arguments": [{}]}', raw)
    command = raw.get("command")
    if not isinstance(command, str):
        raise ParamsError("command", "one of " + ", ".join(METHODS), command)
    if command not in METHODS:
        raise ParamsError("command", "one of " + ", ".join(METHODS), hint=f"unknown command {shorten(command, 80)!r}")
    token = raw.get("workDoneToken")
    if token is not None:
        token = check_field("workDoneToken", "token", token)
    arguments = raw.get("arguments")
    if arguments is None:
        return command, {}, token
    if not isinstance(arguments, list):
        raise ParamsError("arguments", f"an array [params] for {command}", arguments)
    if len(arguments) > 1:
        raise ParamsError("arguments", f"one element [params] for {command}, not {len(arguments)}")
    return command, (arguments[0] if arguments else {}), token


# --- initialize --------------------------------------------------------------------------


@dataclass(frozen=True)
class InitOptions:
    config_path: str | None = None
    poll_interval: float = DEFAULT_POLL_INTERVAL
    state_dir: str | None = None
    show_messages: bool = False


def parse_init_options(raw: object) -> InitOptions:
    """``initializationOptions``; unknown keys are ignored (editors add their own)."""
    if raw is None:
        return InitOptions()
    if not isinstance(raw, dict):
        raise ParamsError("initializationOptions", "an object", raw)
    pre = "initializationOptions."
    config_path = raw.get("configPath")
    if config_path is not None and (not isinstance(config_path, str) or not config_path or len(config_path) > 4096):
        raise ParamsError(pre + "configPath", "a path to agent-orchestrator.yaml", config_path)
    state_dir = raw.get("stateDir")
    if state_dir is not None and (not isinstance(state_dir, str) or not state_dir or len(state_dir) > 4096):
        raise ParamsError(pre + "stateDir", "a folder path", state_dir)
    interval = raw.get("pollInterval")
    if interval is None:
        interval = DEFAULT_POLL_INTERVAL
    elif (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not MIN_POLL_INTERVAL <= interval <= MAX_POLL_INTERVAL
    ):
        raise ParamsError(
            pre + "pollInterval", f"a number of seconds from {MIN_POLL_INTERVAL} to {MAX_POLL_INTERVAL:g}", interval
        )
    show = raw.get("showMessages")
    if show is None:
        show = False
    elif not isinstance(show, bool):
        raise ParamsError(pre + "showMessages", "true or false", show)
    return InitOptions(config_path=config_path, poll_interval=float(interval), state_dir=state_dir, show_messages=show)


# --- framing and envelopes ----------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*([0-9]{1,15})[ \t]*\r?\n?\Z", re.IGNORECASE)


def content_length(line: bytes) -> int | None:
    """The length in a ``Content-Length`` header line, else None.

    The header may be preceded by junk on the same line (the tail of a body
    whose declared length was too short), so the stream resynchronises on the
    next well-formed header instead of staying lost.
    """
    m = _CONTENT_LENGTH.search(line)
    return int(m.group(1)) if m else None


MsgId = int | str


@dataclass(frozen=True)
class Envelope:
    """What a decoded JSON-RPC message is. ``kind == "invalid"`` carries the reason in ``error``."""

    kind: Literal["request", "notification", "response", "invalid"]
    id: MsgId | None = None
    method: str | None = None
    error: str | None = None


def _valid_id(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def classify(data: object) -> Envelope:
    if not isinstance(data, dict):
        what = "a batch (array)" if isinstance(data, list) else json_type(data)
        return Envelope("invalid", error=f"a message must be a JSON object, got {what}")
    msg_id = data.get("id")
    good_id = msg_id if _valid_id(msg_id) else None
    if data.get("jsonrpc") != "2.0":
        return Envelope("invalid", id=good_id, error='"jsonrpc" must be "2.0"')
    if "method" in data:
        method = data["method"]
        if not isinstance(method, str):
            return Envelope("invalid", id=good_id, error=f'"method" must be a string, got {json_type(method)}')
        if "id" not in data:
            return Envelope("notification", method=method)
        if good_id is None:
            return Envelope("invalid", error=f'"id" must be an integer or a string, got {json_type(msg_id)}')
        return Envelope("request", id=good_id, method=method)
    if "result" in data or "error" in data:
        if good_id is None and msg_id is not None:
            return Envelope("invalid", error="a response needs an integer or string id")
        return Envelope("response", id=good_id)
    return Envelope("invalid", id=good_id, error='a message needs a "method" (request) or a "result"/"error"')


# --- the poller's diff --------------------------------------------------------------------

Tracked = tuple[m.Status, m.Activity | None, int | None, m.Outcome | None, int]  # what a change is
BUDGET_WARNING = 0.8  # a session's budget fraction from which editors warn


def budget_level(budget: m.BudgetState | None) -> int:
    """0 below the warning, 1 from 80 % of a limit, 2 at the limit: a crossing is a change."""
    if budget is None or budget.fraction < BUDGET_WARNING:
        return 0
    return 2 if budget.fraction >= 1.0 else 1


def tracked(session: m.Session) -> Tracked:
    return (session.status, session.activity, session.exit_code, session.outcome, budget_level(session.budget))


def status_changed(session: m.Session, previous: Tracked | None, at: str) -> m.StatusChange:
    """The ``ao/statusChanged`` notification for one session."""
    return m.StatusChange(
        session_id=session.session_id,
        project=session.project,
        previous=previous[0] if previous else None,
        previous_activity=previous[1] if previous else None,
        status=session.status,
        activity=session.activity,
        exit_code=session.exit_code,
        outcome=session.outcome,
        at=at,
        session=preview(session),
        budget=session.budget,
    )


def preview(session: m.Session) -> m.Session:
    """The session with its prompt cut to ``PROMPT_PREVIEW`` characters (``promptTruncated``)."""
    if len(session.prompt) <= PROMPT_PREVIEW:
        return session
    return dataclasses.replace(session, prompt=session.prompt[: PROMPT_PREVIEW - 1] + "…", prompt_truncated=True)


def diff_sessions(
    before: Mapping[str, Tracked] | None, sessions: Sequence[m.Session], at: str
) -> tuple[list[m.StatusChange], dict[str, Tracked]]:
    """Notifications for what changed since ``before`` and the new baseline.

    ``before is None`` means the first snapshot: it becomes the baseline and
    nothing is reported. Afterwards a session seen for the first time is
    reported with ``previous: null``; one whose status, activity, exit code or
    outcome changed is reported with its previous status. Sessions that
    disappear (``ao forget``) are dropped silently.
    """
    now: dict[str, Tracked] = {}
    changes: list[m.StatusChange] = []
    for s in sessions:
        state = tracked(s)
        now[s.session_id] = state
        if before is None:
            continue
        old = before.get(s.session_id)
        if old != state:
            changes.append(status_changed(s, old, at))
    return changes, now
