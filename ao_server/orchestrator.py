"""The engine: spawn, status, attach, kill, logs, resume.

A plain class with no I/O framework. It owns the rules (ids, defaults,
validation) and calls the store and the plugins; the CLI and the server are
thin layers over it. Every method is blocking: the server calls them off its
event loop.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import workspace
from .config import Config, Project
from .errors import AoError, NotResumable, PluginError, SpawnFailed, StateError, UnknownSession, UsageError
from .model import (
    STATUS_EXITED,
    STATUS_RUNNING,
    AttachInfo,
    Introspection,
    Liveness,
    SessionRecord,
    parse_session_ref,
)
from .plugins import Agent, Runtime
from .registry import load_agent_class, load_runtime_class
from .runtimes.common import clear_exit_code, write_script
from .store import STARTING, CorruptRow, Store

log = logging.getLogger(__name__)

MAX_PROMPT = 100_000
DEFAULT_RESUME_PROMPT = "Continue where you left off."  # `ao resume ID` without a follow-up
KILLED_MARKER = "killed"  # file in the session dir: `ao kill` stopped this run
KILLED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports
STARTING_GRACE = 60.0  # a row still 'starting' after this long belongs to a spawn that died
ISSUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.#:/-]{0,99}$")
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,199}$")


@dataclass
class Snapshot:
    """One consistent view of sessions: records plus what the runtimes and the agent said."""

    records: list[SessionRecord]
    live: dict[str, Liveness]
    intro: dict[str, Introspection]
    warnings: list[str]


class Orchestrator:
    def __init__(self, config: Config, state_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.store = Store(state_dir)
        self._agents: dict[str, Agent] = {}
        self._runtimes: dict[str, Runtime] = {}
        self.introspection_error: str | None = None

    # --- plugins ----------------------------------------------------------------

    def agent(self, name: str | None = None) -> Agent:
        name = name or self.config.agent
        if name not in self._agents:
            self._agents[name] = load_agent_class(name)(self.config, self.env)
        return self._agents[name]

    def runtime(self, name: str) -> Runtime:
        if name not in self._runtimes:
            self._runtimes[name] = load_runtime_class(name)(self.config)
        return self._runtimes[name]

    # --- lookups ------------------------------------------------------------------

    def resolve(self, ref_text: object) -> SessionRecord:
        ref = parse_session_ref(ref_text)
        rec = self.store.get(ref.num)
        if ref.project is not None and ref.project != rec.project:
            raise UnknownSession(
                f"no session {ref.project}/agent-{ref.num}; agent-{ref.num} belongs to "
                f"project {rec.project} ({rec.display_id})"
            )
        return rec

    def session_dir(self, rec: SessionRecord) -> Path:
        return self.store.session_dir(rec.num)

    # --- spawn --------------------------------------------------------------------

    def spawn(
        self,
        project: str | None = None,
        prompt: str | None = None,
        model: str | None = None,
        issue_id: str | None = None,
        runtime: str | None = None,
        cwd: Path | None = None,
    ) -> dict[str, Any]:
        proj = self._pick_project(project, cwd)
        text = prompt if prompt is not None else proj.agent_config.prompt
        text = validate_prompt(text, proj)
        model = model if model is not None else proj.agent_config.model
        if model is not None and not MODEL_RE.fullmatch(model):
            raise UsageError(f"invalid model {model!r}: expected an identifier like provider/model-name")
        if issue_id is not None and not ISSUE_RE.fullmatch(issue_id):
            raise UsageError(f"invalid issue id {issue_id!r}: use letters, digits and . _ # : / - (max 100)")
        rt_name = runtime or proj.runtime or self.config.runtime
        from .registry import runtime_names

        if rt_name not in runtime_names():
            raise UsageError(f"unknown runtime {rt_name!r}; available: {', '.join(runtime_names())}")
        rt = self.runtime(rt_name)
        rt.check_available()
        agent = self.agent()
        binary = agent.check_installed()
        prepare = getattr(agent, "prepare", None)
        if prepare is not None:
            prepare(binary, self.store.state_dir)
        if not proj.path.is_dir():
            raise AoError(
                f"project {proj.name}: path {proj.path} does not exist or is not a folder; "
                f"fix projects[].path in {self.config.describe_source()}"
            )
        rec = SessionRecord(
            num=0,
            project=proj.name,
            agent=agent.name,
            runtime=rt_name,
            status=STARTING,
            prompt=text,
            workdir=proj.path.resolve(),
            created_at=time.time(),
            model=model,
            issue_id=issue_id,
        )
        rec = self.store.create(rec)
        sdir = self.session_dir(rec)
        started = False
        try:
            if proj.workspace == "worktree":
                wt_root = proj.worktree_dir or self.store.state_dir / "worktrees" / proj.name
                rec.workspace = workspace.create(proj.path, rec.id, wt_root / rec.id, proj.base_branch)
                rec.workdir = Path(rec.workspace["path"])
                self.store.update(rec.num, workspace=rec.workspace, workdir=rec.workdir)
            sdir.mkdir(parents=True, exist_ok=True)
            prompt_file = sdir / "prompt-1.txt"
            prompt_file.write_text(text, encoding="utf-8")
            spec = agent.launch(rec, binary=binary, prompt_file=prompt_file)
            script = write_script(sdir, "run-1.sh", spec, title=rec.display_id, keep_shell=rt_name == "tmux")
            rec.handle = {"session_dir": str(sdir)}
            handle = rt.start(rec, script, sdir)
            started = True
            rec.handle = {**handle, "session_dir": str(sdir)}
            rec.status = STATUS_RUNNING
            self.store.update(rec.num, status=STATUS_RUNNING, handle=rec.handle)
        except BaseException as e:
            if started:
                try:
                    rt.kill(rec)
                except Exception:
                    log.warning("cleanup after a failed spawn failed", exc_info=True)
            if rec.workspace:
                try:
                    workspace.remove(rec.workspace, force=True)
                except AoError:
                    log.warning("removing the worktree of a failed spawn failed", exc_info=True)
            self.store.delete(rec.num)
            if isinstance(e, AoError):
                raise
            if isinstance(e, OSError):
                raise SpawnFailed(f"could not spawn {rec.display_id}: {e}; nothing was kept") from None
            raise
        return self.view(rec, Liveness(alive=True), None)

    def _pick_project(self, name: str | None, cwd: Path | None) -> Project:
        if name:
            return self.config.project(name)
        proj = self.config.default_project(cwd)
        if proj is None:
            raise UsageError(
                "which project? name one (projects in "
                f"{self.config.describe_source()}: {', '.join(sorted(self.config.projects))})"
            )
        return proj

    # --- status -------------------------------------------------------------------

    def snapshot(self, project: str | None = None, records: list[SessionRecord] | None = None) -> Snapshot:
        """Liveness and introspection for all sessions at constant subprocess cost; finalizes exits."""
        warnings: list[str] = []
        if records is None:
            records, bad = self.store.all(project)
            warnings += [str(b) for b in bad]
        now = time.time()
        live: dict[str, Liveness] = {}
        by_rt: dict[str, list[SessionRecord]] = {}
        for r in records:
            if r.status == STATUS_EXITED:
                live[r.id] = Liveness(alive=False, exit_code=r.exit_code)
            elif r.status == STARTING and now - r.created_at < STARTING_GRACE:
                live[r.id] = Liveness(alive=True)
            else:
                by_rt.setdefault(r.runtime, []).append(r)
        for rt_name, recs in by_rt.items():
            try:
                live.update(self.runtime(rt_name).snapshot(recs, self.agent()))
            except AoError as e:
                warnings.append(str(e))
            except Exception as e:  # a plugin that raises is contained
                log.debug("runtime %s snapshot failed", rt_name, exc_info=True)
                warnings.append(f"runtime {rt_name} failed: {e}")
        intro = self._introspect(records, now, warnings)
        for r in records:
            lv = live.get(r.id)
            if r.status != STATUS_EXITED and lv is not None and not lv.alive:
                info = intro.get(r.id)
                code = lv.exit_code
                if (self.session_dir(r) / KILLED_MARKER).exists():  # only stat'ed for sessions seen ending
                    code, outcome = code if code is not None else KILLED_EXIT_CODE, killed_outcome()
                else:
                    outcome = exit_outcome(code, info.outcome if info else None, spawn_died=r.status == STARTING)
                if self.store.finish(r.num, code, outcome, now):
                    r.status, r.exit_code, r.outcome, r.ended_at = STATUS_EXITED, code, outcome, now
                else:  # another process finalized it first: take its word
                    fresh = self.store.get(r.num)
                    r.status, r.exit_code, r.outcome, r.ended_at = (
                        fresh.status,
                        fresh.exit_code,
                        fresh.outcome,
                        fresh.ended_at,
                    )
        return Snapshot(records=records, live=live, intro=intro, warnings=warnings)

    def _introspect(self, records: list[SessionRecord], now: float, warnings: list[str]) -> dict[str, Introspection]:
        if not records:
            return {}
        try:
            intro = dict(self.agent().introspect(records, now))
            self.introspection_error = None
        except AoError as e:
            self.introspection_error = str(e)
            return {}
        except Exception as e:
            log.debug("introspection failed", exc_info=True)
            self.introspection_error = f"introspection unavailable: {e}"
            return {}
        changes: list[tuple[SessionRecord, dict[str, Any]]] = []
        for r in records:
            info = intro.get(r.id)
            if info is None:
                continue
            upd: dict[str, Any] = {}
            if info.opencode_session_id and info.opencode_session_id != r.opencode_session_id:
                upd["opencode_session_id"] = r.opencode_session_id = info.opencode_session_id
            if info.state is not None and info.state != r.introspection:
                upd["introspection"] = r.introspection = info.state
            if upd:
                changes.append((r, upd))
        for r, upd in changes:
            try:
                self.store.update(r.num, **upd)
            except StateError as e:
                warnings.append(str(e))
        return intro

    def status(
        self, session: str | None = None, project: str | None = None, details: bool = False
    ) -> tuple[list[dict[str, Any]], list[str]]:
        if session is not None:
            rec = self.resolve(session)
            snap = self.snapshot(records=[rec])
        else:
            snap = self.snapshot(project)
        views = [self.view(r, snap.live.get(r.id), snap.intro.get(r.id)) for r in snap.records]
        if details:  # one git call per live worktree, only when asked
            for v in views:
                ws = v.get("workspace")
                if ws and not ws.get("removed"):
                    st = workspace.status(ws)
                    v["workspace"] = {**ws, "ahead": st.ahead if st else None, "dirty": st.dirty if st else None}
        return views, snap.warnings

    def view(self, r: SessionRecord, lv: Liveness | None, info: Introspection | None) -> dict[str, Any]:
        """The session object of the protocol (docs/protocol.md)."""
        status = STATUS_EXITED if r.status == STATUS_EXITED else STATUS_RUNNING
        activity = None
        if status == STATUS_EXITED:
            activity = "exited"
        elif info is not None:
            activity = info.activity
        return {
            "sessionId": r.display_id,
            "id": r.id,
            "project": r.project,
            "status": status,
            "exitCode": r.exit_code,
            "activity": activity,
            "runtime": r.runtime,
            "agent": r.agent,
            "prompt": r.prompt,
            "model": r.model,
            "issueId": r.issue_id,
            "createdAt": iso(r.created_at),
            "endedAt": iso(r.ended_at) if r.ended_at else None,
            "pid": lv.pid if lv else None,
            "workdir": str(r.workdir),
            "workspace": r.workspace,
            "opencodeSessionId": r.opencode_session_id,
            "cost": info.cost if info else None,
            "summary": info.summary if info else None,
            "outcome": r.outcome if status == STATUS_EXITED else (info.outcome if info else None),
            "runs": r.runs,
        }

    # --- attach / logs / kill / forget ----------------------------------------------

    def attach(self, session: str) -> dict[str, Any]:
        rec = self.resolve(session)
        info: AttachInfo = self.runtime(rec.runtime).attach(rec, self.session_dir(rec))
        restore = None
        try:
            argv = self.agent(rec.agent).restore_command(rec)
        except Exception:
            log.exception("restore_command failed")
            argv = None
        if argv:
            restore = f"cd {shlex.quote(str(rec.workdir))} && {shlex.join(argv)}"
        return {
            "sessionId": rec.display_id,
            "type": info.type,
            "command": info.command,
            "argv": info.argv,
            "restoreCommand": restore,
        }

    def logs(self, session: str, lines: int | None = None) -> str:
        if lines is not None and lines <= 0:
            raise UsageError("--lines must be a positive number")
        rec = self.resolve(session)
        return self.runtime(rec.runtime).logs(rec, self.session_dir(rec), lines)

    def kill(self, session: str) -> dict[str, Any]:
        rec = self.resolve(session)
        snap = self.snapshot(records=[rec])
        if rec.status != STATUS_EXITED:
            # Mark the kill first: a poller in another thread or process that sees the agent
            # gone before we record it then records it as killed too (see snapshot()).
            marker = self.session_dir(rec) / KILLED_MARKER
            try:
                marker.write_text("")
            except OSError:
                pass
            try:
                self.runtime(rec.runtime).kill(rec)
            except AoError:
                raise
            except Exception as e:
                raise PluginError(f"killing {rec.display_id} failed: {e}") from None
            code, outcome = KILLED_EXIT_CODE, killed_outcome()
            if self.store.finish(rec.num, code, outcome, time.time()):
                rec.status, rec.exit_code, rec.outcome, rec.ended_at = STATUS_EXITED, code, outcome, time.time()
            else:
                rec = self.store.get(rec.num)
        return self.view(rec, Liveness(alive=False, exit_code=rec.exit_code), snap.intro.get(rec.id))

    def cleanup(self, session: str, force: bool = False) -> str:
        """Remove an exited session's worktree (and its branch when nothing would be lost)."""
        rec = self.resolve(session)
        self.snapshot(records=[rec])
        if not rec.workspace or rec.workspace.get("removed"):
            raise UsageError(f"{rec.display_id} has no worktree to clean up")
        if rec.status != STATUS_EXITED:
            raise UsageError(
                f"{rec.display_id} is still running; `ao kill --cleanup {rec.display_id}` stops it and cleans up"
            )
        done = workspace.remove(rec.workspace, force=force)
        self.store.update(rec.num, workspace={**rec.workspace, "removed": True})
        return done

    def forget(self, session: str) -> str:
        """Drop a session's record (e.g. a corrupt one). Refuses while it is running."""
        ref = parse_session_ref(session)
        try:
            rec = self.resolve(session)
        except CorruptRow:
            self.store.delete(ref.num)
            return f"agent-{ref.num}"
        self.snapshot(records=[rec])
        if rec.status != STATUS_EXITED:
            raise UsageError(f"{rec.display_id} is still running; `ao kill {rec.display_id}` first")
        self.store.delete(rec.num)
        return rec.display_id

    # --- resume -----------------------------------------------------------------------

    def resume(self, session: str, prompt: str | None = None) -> dict[str, Any]:
        rec = self.resolve(session)
        snap = self.snapshot(records=[rec])
        if rec.status != STATUS_EXITED:
            raise NotResumable(
                f"{rec.display_id} is still running; attach to it (`ao attach {rec.display_id}`) or wait for it to exit"
            )
        proj = self.config.projects.get(rec.project)
        text = validate_prompt(prompt, proj) if prompt is not None else None
        agent = self.agent(rec.agent)
        binary = agent.check_installed()
        rt = self.runtime(rec.runtime)
        rt.check_available()
        sdir = self.session_dir(rec)
        run = rec.runs + 1
        prompt_file = sdir / f"prompt-{run}.txt"
        prompt_file.write_text(text if text is not None else DEFAULT_RESUME_PROMPT, encoding="utf-8")
        spec = agent.resume(rec, binary=binary, prompt_file=prompt_file)
        script = write_script(sdir, f"run-{run}.sh", spec, title=rec.display_id, keep_shell=rec.runtime == "tmux")
        clear_exit_code(sdir)
        (sdir / KILLED_MARKER).unlink(missing_ok=True)
        handle = rt.restart(rec, script, sdir)
        rec.handle = {**handle, "session_dir": str(sdir)}
        rec.status, rec.exit_code, rec.ended_at, rec.outcome, rec.runs = STATUS_RUNNING, None, None, None, run
        self.store.update(
            rec.num, status=STATUS_RUNNING, exit_code=None, ended_at=None, outcome=None, handle=rec.handle, runs=run
        )
        return self.view(rec, Liveness(alive=True), snap.intro.get(rec.id))


def killed_outcome() -> dict[str, Any]:
    return {"result": "killed", "error": None, "finish": None}


def validate_prompt(text: str | None, proj: Project | None) -> str:
    if text is None:
        where = f" (project {proj.name} has no agentConfig.prompt)" if proj else ""
        raise UsageError(
            f"no prompt given{where}; say what the agent should do, e.g. "
            'ao spawn my-project "Add unit tests for the auth module"'
        )
    if not isinstance(text, str) or not text.strip():
        raise UsageError("the prompt is empty; say what the agent should do")
    if "\x00" in text:
        raise UsageError("the prompt contains a NUL byte, which cannot be passed to the agent")
    if len(text) > MAX_PROMPT:
        raise UsageError(f"the prompt is {len(text)} characters long; the limit is {MAX_PROMPT}")
    return text


def exit_outcome(code: int | None, last_turn: dict[str, Any] | None, *, spawn_died: bool = False) -> dict[str, Any]:
    """How a session ended: the agent's own last turn when known, else the exit code."""
    if spawn_died:
        return {"result": "error", "error": "the spawn was interrupted before the agent started", "finish": None}
    if last_turn and last_turn.get("result") == "error":
        return {**last_turn, "exitCode": code}
    if code is None:
        return {
            "result": "unknown",
            "error": "the agent's process disappeared without an exit code "
            "(its tmux session was closed or the machine restarted)",
            "finish": None,
        }
    if code == 0:
        base = dict(last_turn) if last_turn else {"result": "success", "error": None, "finish": None}
        if base.get("result") == "incomplete":
            base["result"] = "success"
        return base
    err = (last_turn or {}).get("error") or f"the agent exited with code {code}"
    return {"result": "error", "error": err, "finish": (last_turn or {}).get("finish")}


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"
