"""The ``live`` runtime: agents as sessions of one shared ``opencode serve`` per ao state dir.

``opencode run`` answers every permission request and question of its agent with "reject"
by itself; a session of OpenCode's server waits instead, so a person can answer from the
editor (``ao respond``), send follow-ups (``ao send``) and abort a turn (``ao abort``).

The server (:class:`OpenCodeServer`) is started on demand and shared by every ao process of
the state dir: loopback only, a port OpenCode binds itself, a random password (HTTP basic
auth) kept with its PID in ``opencode-server.json`` (0600), and ao's shell, which keeps that
password out of what agents run. Every request first proves that the other end of its
connection is this user's (:mod:`.loopback`). A keeper (:mod:`.live_keeper`) stops the server
once no live session needs it. Prompts travel as JSON bodies, never through a shell.
Liveness comes from the API: a session runs while its turn is busy or a request is pending,
and its turn has ended when OpenCode says the session is idle after an assistant message
answered the prompt, whatever that message holds. A server that is gone makes its sessions
``unknown`` (never finished for that); the next start makes a new one, and OpenCode's
``ses_`` ids go on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Config, Host
from ..errors import AoError, OpenCodeServerError, SpawnFailed, UnknownRequest, UsageError
from ..model import (
    AttachInfo,
    InputRequest,
    Liveness,
    Question,
    QuestionOption,
    Reply,
    RequestKind,
    SessionRecord,
)
from .common import clip
from .live_keeper import start_keeper
from .live_server import LOCK_FILE as LOCK_FILE  # the shared server's part, re-exported where it was
from .live_server import POLL_TIMEOUT, USERNAME, NotFound
from .live_server import SERVER_FILE as SERVER_FILE
from .live_server import Api as Api
from .live_server import OpenCodeServer as OpenCodeServer
from .live_server import ServerInfo as ServerInfo
from .loopback import listens

if TYPE_CHECKING:
    from .live_remote import RemoteServer

log = logging.getLogger(__name__)


def request_of(raw: Mapping[str, Any], kind: RequestKind) -> InputRequest:
    if kind == RequestKind.PERMISSION:
        meta = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
        command = meta.get("command") if isinstance(meta, dict) else None
        return InputRequest(
            request_id=str(raw.get("id")),
            kind=kind,
            permission=str(raw.get("permission")) if raw.get("permission") is not None else None,
            patterns=[str(p) for p in raw.get("patterns") or []],
            command=command if isinstance(command, str) else None,
            always=[str(p) for p in raw.get("always") or []],
        )
    questions = []
    for q in raw.get("questions") or []:
        if not isinstance(q, dict):
            continue
        options = [
            QuestionOption(label=str(o.get("label")), description=o.get("description"))
            for o in q.get("options") or []
            if isinstance(o, dict)
        ]
        questions.append(
            Question(
                question=str(q.get("question") or ""),
                header=q.get("header") if isinstance(q.get("header"), str) else None,
                options=options,
                multiple=bool(q.get("multiple")),
            )
        )
    return InputRequest(request_id=str(raw.get("id")), kind=kind, questions=questions)


def pending_in(api: Api, where: str) -> dict[str, list[InputRequest]]:
    """What the sessions of one folder wait for (permissions, then questions), by OpenCode session id."""
    out: dict[str, list[InputRequest]] = {}
    for path, kind in (("/permission", RequestKind.PERMISSION), ("/question", RequestKind.QUESTION)):
        for raw in api.call("GET", path, directory=where, timeout=POLL_TIMEOUT) or []:
            if isinstance(raw, dict):
                out.setdefault(str(raw.get("sessionID")), []).append(request_of(raw, kind))
    return out


def model_ref(model: str | None) -> dict[str, str] | None:
    if not model or "/" not in model:
        return None
    provider, _, name = model.partition("/")
    return {"providerID": provider, "modelID": name}


def turn_ended(messages: list[Any], after: str | None, *, idle: bool = True) -> tuple[bool, bool]:
    """(whether the turn sent after message ``after`` has ended, whether it failed), from the session's messages.

    ``idle``: OpenCode's own status says the session is not busy (nor retrying). Then the turn has ended once its
    prompt is in and an assistant message came after it, whatever that message holds: a final answer, an error,
    or a tool call the person rejected without a reason (OpenCode then stops without asking the model again).
    Just after ``prompt_async`` the session may still read idle with only the older messages, or only the new
    prompt: that turn has not started yet. Not ``idle`` (its server is not the one that ran it), only the
    messages can tell: the last one is a completed assistant message that calls no tools.
    """
    ids = [m.get("info", {}).get("id") for m in messages]
    newer = [m.get("info", {}) for m in (messages[ids.index(after) + 1 :] if after in ids else messages)]
    prompts = [i for i, info in enumerate(newer) if info.get("role") == "user"]
    answers = [info for info in newer[prompts[-1] + 1 :] if info.get("role") == "assistant"] if prompts else []
    if not answers:
        return False, False
    last = answers[-1]
    if idle:
        return True, bool(last.get("error"))
    if newer[-1] is not last or not (last.get("time") or {}).get("completed"):
        return False, False
    if last.get("error"):
        return True, True
    return last.get("finish") not in (None, "tool-calls"), False


class LiveRuntime:
    name = "live"
    terminal = False

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state_dir: Path | None = None
        self.env: dict[str, str] = dict(os.environ)
        self.binary: str | None = None

    def bind(self, state_dir: Path, env: Mapping[str, str], binary: str | None) -> None:
        """What the orchestrator knows: the state dir (one server per state dir), the environment, opencode."""
        self.state_dir, self.env, self.binary = state_dir, dict(env), binary

    def server(self) -> OpenCodeServer:
        assert self.state_dir is not None, "LiveRuntime.bind was not called"
        return OpenCodeServer(self.state_dir, self.env)

    # --- sessions on remote hosts: the host's own server, through an ssh forward ------------------

    def host_of(self, session: SessionRecord) -> Host | None:
        """The host a live session runs on (its record says), or None for this machine."""
        name = session.handle.get("host")
        if not name:
            return None
        host = self.config.hosts.get(str(name))
        if host is None:
            raise OpenCodeServerError(
                f"{session.display_id} runs on host {name}, which is not in the config any more; add it back"
            )
        return host

    def remote(self, host: Host) -> RemoteServer:
        from ..remote import SshHost
        from .live_remote import RemoteServer

        assert self.state_dir is not None, "LiveRuntime.bind was not called"
        return RemoteServer(SshHost(host, self.state_dir), self.state_dir)

    def _api(self, session: SessionRecord | None = None, *, start: bool = False) -> Api:
        host = self.host_of(session) if session is not None else None
        if host is not None:
            info = self.remote(host).connect(start=start)
            if info is None:
                raise OpenCodeServerError(
                    f"the OpenCode server of live agents on host {host.name} is not running; a live spawn or send "
                    "starts it"
                )
            return Api(info)
        srv = self.server()
        if start:
            if self.binary is None:
                raise SpawnFailed("opencode is needed to start the OpenCode server of live agents")
            info = srv.ensure(self.binary)
            start_keeper(srv.state_dir, self.config.server_grace, self.env)  # it stops the server once unneeded
            return Api(info)
        info = srv.current()
        if info is None:
            raise OpenCodeServerError(
                "the OpenCode server of live agents is not running; a live spawn or send starts it"
            )
        return Api(info)

    def check_available(self) -> None:
        return None

    def plan(self, session: SessionRecord) -> dict[str, object]:
        proj = self.config.projects.get(session.project)
        return {"host": proj.host} if proj is not None and proj.host else {}

    # --- starting turns ---------------------------------------------------------------------

    def start(self, session: SessionRecord, script: Path) -> dict[str, object]:
        api = self._api(session, start=True)
        created = api.call("POST", "/session", {"title": f"AO:{session.id}"}, directory=str(session.workdir))
        ses = str(created["id"])
        self._prompt(api, session, ses, session.dir.prompt(1).read_text())
        return {"ses": ses, "after": None, "server": api.info.pid}

    def restart(self, session: SessionRecord, script: Path) -> dict[str, object]:
        return self.send(session, session.dir.prompt(session.runs).read_text())

    def send(self, session: SessionRecord, text: str) -> dict[str, object]:
        """A new turn in the session's own OpenCode session (queued by OpenCode when one is in progress)."""
        api = self._api(session, start=True)
        ses = self._ses(session)
        messages = api.call("GET", f"/session/{ses}/message", directory=str(session.workdir)) or []
        after = messages[-1]["info"]["id"] if messages else None
        self._prompt(api, session, ses, text)
        kept = {k: v for k, v in session.handle.items() if k not in ("rejected", "aborted")}  # a new turn
        return {**kept, "ses": ses, "after": after, "server": api.info.pid}

    def _prompt(self, api: Api, session: SessionRecord, ses: str, text: str) -> None:
        body: dict[str, Any] = {"parts": [{"type": "text", "text": text}]}
        model = model_ref(session.model)
        if model:
            body["model"] = model
        api.call("POST", f"/session/{ses}/prompt_async", body, directory=str(session.workdir))

    @staticmethod
    def _ses(session: SessionRecord) -> str:
        ses = session.handle.get("ses") or session.opencode_session_id
        if not isinstance(ses, str):
            raise OpenCodeServerError(f"{session.display_id} has no OpenCode session yet")
        return ses

    # --- answering ---------------------------------------------------------------------------

    def respond(
        self,
        session: SessionRecord,
        request_id: str,
        reply: Reply | None,
        message: str | None,
        answers: list[list[str]] | None,
    ) -> InputRequest:
        """Answer ``request_id``; returns the request answered."""
        api = self._api(session)
        pending = {r.request_id: r for r in self._pending(api, session)}
        req = pending.get(request_id)
        if req is None:
            raise UnknownRequest(
                f"{session.display_id} is not waiting for {request_id} (already answered, or never asked); "
                f"see what it waits for with `ao status {session.display_id} --json`"
            )
        where = str(session.workdir)
        try:
            if req.kind == RequestKind.PERMISSION:
                if reply is None:
                    raise UsageError(f"{request_id} asks for a permission: reply once, always or reject")
                body: dict[str, Any] = {"reply": reply.value}
                if message:
                    body["message"] = message
                api.call("POST", f"/permission/{request_id}/reply", body, directory=where)
            elif answers is None:
                raise UsageError(f"{request_id} asks questions: give answers (one list of picked labels per question)")
            elif not answers:
                api.call("POST", f"/question/{request_id}/reject", {}, directory=where)
            else:
                if len(answers) != len(req.questions):
                    raise UsageError(
                        f"{request_id} asks {len(req.questions)} question(s); got {len(answers)} answer(s)"
                    )
                api.call("POST", f"/question/{request_id}/reply", {"answers": answers}, directory=where)
        except NotFound:
            raise UnknownRequest(
                f"{session.display_id} is no longer waiting for {request_id} (answered meanwhile)"
            ) from None
        return req

    def abort(self, session: SessionRecord) -> None:
        api = self._api(session)
        with contextlib.suppress(NotFound):
            api.call("POST", f"/session/{self._ses(session)}/abort", {}, directory=str(session.workdir))

    def _pending(self, api: Api, session: SessionRecord) -> list[InputRequest]:
        return pending_in(api, str(session.workdir)).get(str(session.handle.get("ses")), [])

    # --- watching -----------------------------------------------------------------------------

    def snapshot(self, sessions: list[SessionRecord], agent: object) -> dict[str, Liveness]:
        by_host: dict[str | None, list[SessionRecord]] = {}
        out: dict[str, Liveness] = {}
        for s in sessions:
            try:
                host = self.host_of(s)
            except AoError as e:
                out[s.id] = Liveness(alive=None, reason=str(e))
                continue
            by_host.setdefault(host.name if host else None, []).append(s)
        for name, group in by_host.items():
            out.update(self._snapshot_local(group) if name is None else self._snapshot_remote(name, group))
        return out

    def _snapshot_remote(self, name: str, sessions: list[SessionRecord]) -> dict[str, Liveness]:
        from ..errors import HostUnreachable

        server = self.remote(self.config.hosts[name])
        try:
            info = server.connect(start=False)
        except HostUnreachable as e:
            since = server.conn.unreachable_since() or time.time()
            return {s.id: Liveness(alive=None, reason=str(e), unreachable_since=since) for s in sessions}
        except AoError as e:
            return {s.id: Liveness(alive=None, reason=str(e)) for s in sessions}
        if info is None:
            why = f"{server.describe()} is not running (a live spawn, resume or send there starts a new one)"
            return {s.id: Liveness(alive=None, reason=why) for s in sessions}
        return self._snapshot_api(Api(info), sessions)

    def _snapshot_local(self, sessions: list[SessionRecord]) -> dict[str, Liveness]:
        info = self.server().current()
        if info is None:
            why = "the OpenCode server of live agents is not running (a live spawn, resume or send starts a new one)"
            return {s.id: Liveness(alive=None, reason=why) for s in sessions}
        start_keeper(self.server().state_dir, self.config.server_grace, self.env)  # one an older ao left without
        return self._snapshot_api(Api(info), sessions)

    def _snapshot_api(self, api: Api, sessions: list[SessionRecord]) -> dict[str, Liveness]:
        by_dir: dict[str, list[SessionRecord]] = {}
        for s in sessions:
            by_dir.setdefault(str(s.workdir), []).append(s)
        out: dict[str, Liveness] = {}
        # OpenCode answers per folder; the folders are asked side by side (a worktree each is common).
        with ThreadPoolExecutor(max_workers=min(8, len(by_dir) or 1), thread_name_prefix="ao-live") as pool:
            for part in pool.map(lambda item: self._snapshot_dir(api, *item), by_dir.items()):
                out.update(part)
        return out

    def _snapshot_dir(self, api: Api, where: str, group: list[SessionRecord]) -> dict[str, Liveness]:
        try:
            busy = api.call("GET", "/session/status", directory=where, timeout=POLL_TIMEOUT) or {}
            pending: dict[str, list[InputRequest]] = {}
            ours = {s.handle.get("ses") for s in group}
            if any((busy.get(ses) or {}).get("type") for ses in ours if isinstance(ses, str)):
                pending = pending_in(api, where)  # only a busy session can be waiting for an answer
            return {s.id: self._liveness(api, s, busy, pending) for s in group}
        except AoError as e:
            return {s.id: Liveness(alive=None, reason=str(e)) for s in group}

    def _liveness(
        self, api: Api, s: SessionRecord, busy: Mapping[str, Any], pending: Mapping[str, list[InputRequest]]
    ) -> Liveness:
        ses = s.handle.get("ses")
        if not isinstance(ses, str):
            return Liveness(alive=True)  # its spawn is still creating it
        waiting = tuple(pending.get(ses, []))
        if waiting or (busy.get(ses) or {}).get("type") not in (None, "idle"):  # busy, retry: its turn goes on
            return Liveness(alive=True, pending=waiting)
        try:
            messages = api.call("GET", f"/session/{ses}/message", directory=str(s.workdir), timeout=POLL_TIMEOUT) or []
        except NotFound:
            return Liveness(alive=False, exit_code=1, reason="OpenCode no longer has its session")
        after = s.handle.get("after") if isinstance(s.handle.get("after"), str) else None
        ours = s.handle.get("server") in (None, api.info.pid)  # this server ran the turn: its idle status counts
        ended, failed = turn_ended(messages, after, idle=ours)
        if not ended and s.handle.get("aborted"):
            # aborted before the model answered: OpenCode leaves just the prompt; the turn is over all the same
            return Liveness(alive=False, exit_code=1, reason="its turn was aborted")
        if not ended and not ours:
            # Its turn ran in an OpenCode server that is gone: that turn will never end.
            return Liveness(alive=False, exit_code=1, reason="the OpenCode server running its turn died")
        if not ended:
            return Liveness(alive=True)
        proj = self.config.projects.get(s.project)
        if proj is not None and proj.agent_config.keep_alive:
            return Liveness(alive=True)
        if ours:  # the status was read before the messages: a turn that started in between reads busy now
            now = api.call("GET", "/session/status", directory=str(s.workdir), timeout=POLL_TIMEOUT) or {}
            if (now.get(ses) or {}).get("type") not in (None, "idle"):
                return Liveness(alive=True)
        return Liveness(alive=False, exit_code=1 if failed else 0)

    # --- the rest of the runtime protocol -------------------------------------------------------

    def attach(self, session: SessionRecord) -> AttachInfo:
        host = self.host_of(session)
        if host is not None:  # OpenCode's TUI there, on the host's server; the password read there, from its file
            from ..remote import SshHost

            conn = SshHost(host, self.state_dir or Path("."))
            data = self.remote(host)._read() or {}
            port = int(str(data.get("port") or 0))
            if not port:
                raise OpenCodeServerError(f"no OpenCode server of live agents on host {host.name} is known yet")
            pw = conn.state.text + "/opencode-server.pw"
            command = (
                f'OPENCODE_SERVER_USERNAME={USERNAME} OPENCODE_SERVER_PASSWORD="$(cat {pw})" exec '
                + shlex.join(
                    [host.opencode, "attach", f"http://127.0.0.1:{port}", "--session", self._ses(session), "--dir",
                     str(session.workdir)]
                )
            )  # fmt: skip
            argv = conn.interactive(command)
            return AttachInfo(type="ssh", argv=argv, command=shlex.join(argv))
        argv = [sys.executable, "-m", "ao_server.cli", "attach", "--exec", session.display_id]
        if self.state_dir is not None:
            argv[4:4] = ["--state-dir", str(self.state_dir)]
        return AttachInfo(type="live", argv=argv, command=f"ao attach --exec {session.display_id}")

    def attach_argv(self, session: SessionRecord) -> tuple[list[str], dict[str, str]]:
        """OpenCode's own TUI on the session, and the environment that carries the server's password."""
        api = self._api(session)
        if api.info.socket is None and not listens(api.info.pid, api.info.port):  # the TUI gets the password
            raise OpenCodeServerError(f"{api.info.describe()} does not hold its port any more; ao attach sent nothing")
        argv = [self.binary or "opencode", "attach", api.info.url, "--session", self._ses(session), "--dir"]
        env = {**self.env, "OPENCODE_SERVER_PASSWORD": api.info.password, "OPENCODE_SERVER_USERNAME": USERNAME}
        return [*argv, str(session.workdir)], env

    def kill(self, session: SessionRecord) -> None:
        """Stop the session's turn, and return only when that is confirmed: OpenCode answered the abort, or
        the session is idle afterwards, or the server that would run it is gone (its process dead; on a host,
        the host says none runs), so nothing of the agent can spend. Otherwise the agent may still be running:
        raises an :class:`AoError` with the reason (HostUnreachable for a host that does not answer)."""
        ses = session.handle.get("ses")
        if not isinstance(ses, str):
            return
        host = self.host_of(session)
        srv = self.server()
        if host is None:
            info = srv.current()
        else:
            info = self.remote(host).connect(start=False)  # a host that does not answer: not known, raised
        if info is None:
            return  # no server process: nothing of the agent runs
        api, where = Api(info), str(session.workdir)
        try:
            with contextlib.suppress(NotFound):  # OpenCode no longer has the session: nothing of it runs
                api.call("POST", f"/session/{ses}/abort", {}, directory=where, timeout=POLL_TIMEOUT)
            return
        except AoError as e:
            failed = e
        if host is None and srv.current() is None:
            return  # the server died meanwhile, and its agents with it
        with contextlib.suppress(AoError):
            state = ((api.call("GET", "/session/status", directory=where, timeout=5) or {}).get(ses) or {}).get("type")
            if state not in ("busy", "retry"):
                return  # idle after all: its turn is over
        there = f" on host {host.name}" if host is not None else ""
        raise OpenCodeServerError(
            f"could not stop {session.display_id}, it may still be running: {failed}. Nothing was changed; try "
            f"`ao kill {session.display_id}` again, or stop that server (`kill -9 {info.pid}`{there}), which stops "
            "every live agent it runs"
        )

    def close(self, session: SessionRecord) -> None:
        return None

    def logs(self, session: SessionRecord, lines: int | None, max_bytes: int | None = None) -> tuple[str, bool]:
        """The conversation as text (prompts, the agent's text, its tool calls), from the server."""
        try:
            messages = self._api(session).call(
                "GET", f"/session/{self._ses(session)}/message", directory=str(session.workdir)
            )
        except AoError as e:
            return f"(no transcript: {e})\n", False
        out: list[str] = []
        for m in messages or []:
            role = m.get("info", {}).get("role")
            for part in m.get("parts") or []:
                kind = part.get("type")
                if kind == "text" and part.get("text"):
                    out.append(("> " if role == "user" else "") + str(part["text"]).rstrip("\n"))
                elif kind == "tool":
                    st = part.get("state") or {}
                    title = st.get("title") or json.dumps(st.get("input") or {})[:200]
                    out.append(f"[{part.get('tool')}] {title} ({st.get('status')})")
        text_lines = out if lines is None else out[-lines:]
        return clip("\n".join(text_lines) + ("\n" if text_lines else ""), max_bytes)


WAKE_EVENTS = frozenset(
    {
        "permission.asked",
        "permission.replied",
        "question.asked",
        "question.replied",
        "question.rejected",
        "session.status",
        "session.idle",
        "session.error",
    }
)


class EventWatcher:
    """Follows the OpenCode server's global event stream and calls ``on_event`` on what changes a session.

    One connection per ao-server, to whichever server the state dir records (it may come and go:
    a missing or dead server is looked for again every second; a broken stream reconnects with
    backoff). The events only wake the poller, which reads the truth through the API.
    """

    def __init__(self, state_dir: Path, env: Mapping[str, str], on_event: Any) -> None:
        self.server = OpenCodeServer(state_dir, env)
        self.on_event = on_event  # called (on this thread) with each event's payload, or None on (re)connect
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="ao-opencode-events", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        delay = 0.5
        while not self.stopped.is_set():
            info = self.server.current()
            if info is None:
                self.stopped.wait(1.0)
                continue
            try:
                self._follow(info)
                delay = 0.5
            except Exception as e:  # a dead or restarted server: look again
                log.debug("OpenCode event stream: %s", e)
                self.stopped.wait(delay)
                delay = min(delay * 2, 5.0)

    def _follow(self, info: ServerInfo) -> None:
        resp, conn = Api(info).open("GET", "/global/event", timeout=60)
        with contextlib.closing(conn):
            if resp.status != 200:
                raise OpenCodeServerError(f"{info.describe()} answered /global/event with {resp.status}")
            self.on_event(None)  # (re)connected: whatever happened meanwhile is read now
            for raw in resp:
                if self.stopped.is_set():
                    return
                line = raw.decode(errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                payload = event.get("payload", event) if isinstance(event, dict) else {}
                if isinstance(payload, dict) and payload.get("type") in WAKE_EVENTS:
                    self.on_event(payload)
