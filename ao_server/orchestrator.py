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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, Host, Project
from .errors import (
    AoError,
    BudgetExceeded,
    HostUnreachable,
    NotResumable,
    PluginError,
    SpawnFailed,
    StateError,
    UnknownRequest,
    UnknownSession,
    UsageError,
    WorkspaceError,
)
from .formats import iso, usd
from .model import (
    STARTING,
    STATUS_EXITED,
    STATUS_RUNNING,
    Activity,
    Attach,
    AttachInfo,
    BudgetState,
    Change,
    ChangedFile,
    Changes,
    ChangesBase,
    ChangesHead,
    CostGroup,
    CostLimits,
    CostReport,
    CostTotal,
    Discard,
    Facts,
    FileDiff,
    FileSide,
    HostInfo,
    InputRequest,
    Introspection,
    LaunchSpec,
    Liveness,
    Logs,
    Merge,
    Outcome,
    ProjectInfo,
    Reply,
    Result,
    ReviewNote,
    Scope,
    Session,
    SessionBrief,
    SessionRecord,
    Source,
    Status,
    StatusPage,
    Strategy,
    Tokens,
    parse_session_ref,
)
from .store import CorruptRow, CostRow, Store

if TYPE_CHECKING:
    from . import workspace
    from .plugins import Agent, Runtime
    from .runtimes.live import LiveRuntime
    from .runtimes.ssh import SshRuntime

# The runtimes, the plugin registry, git and review are imported where they are used: a front door
# (`ao status`, `ao --help`) loads only what its command needs (tests/unit/test_imports.py).

log = logging.getLogger(__name__)

MAX_PROMPT = 100_000
DEFAULT_RESUME_PROMPT = "Continue where you left off."  # `ao resume ID` without a follow-up
KILLED_EXIT_CODE = 143  # 128 + SIGTERM, what a shell reports
OVER_BUDGET_MARK = "over_budget\n"  # the kill marker's text when ao stopped an agent at its limit
STARTING_GRACE = 60.0  # a row still 'starting' after this long belongs to a spawn that died
FAULT_PAUSE_ENV = "AO_FAULT_PAUSE"  # tests only: "after-start:SECONDS" pauses a spawn mid-way
ISSUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.#:/-]{0,99}$")
MODEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,199}$")


@dataclass
class Snapshot:
    """One consistent view of sessions: records plus what the runtimes and the agent said."""

    records: list[SessionRecord]
    live: dict[str, Liveness]
    intro: dict[str, Introspection]
    warnings: list[str]
    budgets: dict[str, BudgetState] = field(default_factory=dict)

    def view(self, orch: Orchestrator, r: SessionRecord) -> Session:
        return orch.view(r, self.live.get(r.id), self.intro.get(r.id), self.budgets.get(r.id))


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
        from .registry import load_agent_class

        name = name or self.config.agent
        if name not in self._agents:
            self._agents[name] = load_agent_class(name)(self.config, self.env)
        return self._agents[name]

    def runtime(self, name: str) -> Runtime:
        from .registry import load_runtime_class
        from .runtimes.live import LiveRuntime
        from .runtimes.ssh import SshRuntime

        if name not in self._runtimes:
            rt = load_runtime_class(name)(self.config)
            if isinstance(rt, LiveRuntime):  # one OpenCode server per state dir, started with our opencode
                try:
                    binary: str | None = self.agent().check_installed()
                except AoError:
                    binary = None
                rt.bind(self.store.state_dir, self.env, binary)
            elif isinstance(rt, SshRuntime):  # control sockets and host reachability live in the state dir
                rt.bind(self.store.state_dir)
            self._runtimes[name] = rt
        return self._runtimes[name]

    def live_runtime(self, rec: SessionRecord) -> LiveRuntime:
        """The live runtime of a live session; a run-mode one cannot be answered, aborted or told things mid-turn."""
        from .runtimes.live import LiveRuntime

        rt = self.runtime(rec.runtime)
        if not isinstance(rt, LiveRuntime):
            raise UsageError(
                f"{rec.display_id} is a run-mode agent (`opencode run`): it takes no answers or messages while it "
                "runs; spawn live agents with `ao spawn --live` (or agentConfig.mode: live)"
            )
        return rt

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

    # --- spawn --------------------------------------------------------------------

    def spawn(
        self,
        project: str | None = None,
        prompt: str | None = None,
        model: str | None = None,
        issue_id: str | None = None,
        runtime: str | None = None,
        cwd: Path | None = None,
        budget: float | None = None,
    ) -> Session:
        from . import workspace
        from .runtimes.ssh import SshRuntime

        proj = self._pick_project(project, cwd)
        if budget is not None and not 0 < budget < float("inf"):
            raise UsageError(f"invalid budget {budget!r}: give a positive amount of US dollars, like 0.50")
        self.check_budget_room(proj.name)
        text = prompt if prompt is not None else proj.agent_config.prompt
        text = validate_prompt(text, proj)
        model = model if model is not None else proj.agent_config.model
        if model is not None and not MODEL_RE.fullmatch(model):
            raise UsageError(f"invalid model {model!r}: expected an identifier like provider/model-name")
        if issue_id is not None and not ISSUE_RE.fullmatch(issue_id):
            raise UsageError(f"invalid issue id {issue_id!r}: use letters, digits and . _ # : / - (max 100)")
        live = proj.agent_config.mode == "live"
        host = self.config.host_of(proj)
        if host is not None and runtime not in (None, "ssh", "live"):
            raise UsageError(f"project {proj.name} is on host {host.name}: its agents run there (runtime ssh, or live)")
        if host is not None:
            runtime = "live" if live or runtime == "live" else "ssh"
        rt_name = runtime or ("live" if live else None) or proj.runtime or self.config.runtime
        from .config import local_runtimes

        if host is None and rt_name == SshRuntime.name:
            raise UsageError(f"project {proj.name} is on this machine: the ssh runtime is for a project with host:")
        if host is None and rt_name not in local_runtimes():
            raise UsageError(f"unknown runtime {rt_name!r}; available: {', '.join(local_runtimes())}")
        rt = self.runtime(rt_name)
        rt.check_available()
        agent = self.agent()
        if host is not None:  # the binary, the folder and OpenCode's database are checked there, at start
            binary = host.opencode
        else:
            binary = agent.check_installed()
            agent.prepare(binary, self.store.state_dir)
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
            workdir=proj.path if host is not None else proj.path.resolve(),
            created_at=time.time(),
            model=model,
            issue_id=issue_id,
            budget=budget,
        )
        try:
            rec = self.store.create(rec)
        except OSError as e:
            raise SpawnFailed(f"could not spawn: {e}; nothing was kept") from None
        try:
            if proj.workspace == "worktree" and host is not None:  # made on the host, by git there
                ssh_rt = self.runtime(SshRuntime.name)  # live agents there too: git runs over ssh
                assert isinstance(ssh_rt, SshRuntime)
                wt_root = proj.worktree_dir or ssh_rt.worktree_root(host, proj.name)
                rec.workspace = workspace.create(
                    proj.path, rec.id, wt_root / rec.id, proj.base_branch, git=ssh_rt.git(host)
                )
                rec.workdir = Path(rec.workspace.path)
                self.store.update(rec.num, workspace=rec.workspace, workdir=rec.workdir)
            elif proj.workspace == "worktree":
                wt_root = proj.worktree_dir or self.store.state_dir / "worktrees" / proj.name
                rec.workspace = workspace.create(proj.path, rec.id, wt_root / rec.id, proj.base_branch)
                rec.workdir = Path(rec.workspace.path)
                self.store.update(rec.num, workspace=rec.workspace, workdir=rec.workdir)
            self._launch(rec, rt, agent.launch(rec, binary=binary, prompt_file=rec.dir.prompt(1)), text, 1)
        except BaseException as e:
            try:
                rt.kill(rec)  # whatever part of it started
            except AoError as cleanup_error:  # its host is unreachable, say: nothing of it could start either
                log.warning("cleanup after a failed spawn: %s", cleanup_error)
            except Exception:
                log.warning("cleanup after a failed spawn failed", exc_info=True)
            if rec.workspace:
                try:
                    workspace.remove(rec.workspace, force=True, git=self.git_of(rec))
                except AoError:
                    log.warning("removing the worktree of a failed spawn failed", exc_info=True)
            try:
                self.store.delete(rec.num)
            except AoError:
                log.warning("removing the record of a failed spawn failed", exc_info=True)
            if isinstance(e, AoError):
                raise
            if isinstance(e, OSError):
                raise SpawnFailed(f"could not spawn {rec.display_id}: {e}; nothing was kept") from None
            raise
        return self.view(rec, Liveness(alive=True), None)

    def _launch(self, rec: SessionRecord, rt: Runtime, spec: LaunchSpec, prompt: str, run: int) -> None:
        """Write run ``run``'s prompt and script, record the handle, start it, then mark the record running.

        The handle is recorded BEFORE the start (the runtime's plan and the run's start
        time), so kill and status find an agent whose spawner died half-way. ``rec`` is
        ``starting`` in the store; it ends ``running``, unless another process finished it
        meanwhile (a kill): then what was started is stopped and ``rec`` says how it ended.
        """
        from .runtimes.common import write_private, write_script
        from .runtimes.ssh import SshRuntime

        if spec.stdin_file is not None:
            write_private(spec.stdin_file, prompt)
        if isinstance(rt, SshRuntime):  # the agent's environment is its host's, plus its own variables
            script = rt.write_script(rec, run, spec, title=rec.display_id)
        else:
            spec = replace(spec, env={**self.env, **spec.env})
            script = write_script(rec.dir, run, spec, title=rec.display_id, terminal=rt.terminal)
        rec.dir.clear_run()
        last = {k: v for k, v in rec.handle.items() if k not in ("rejected", "aborted")}  # the last turn's, not this
        planned = {**rt.plan(rec), **last, "started_at": time.time()}
        rec.handle = planned
        self.store.update(rec.num, handle=planned)
        handle = rt.restart(rec, script) if run > 1 else rt.start(rec, script)
        _fault_pause("after-start")
        rec.handle = {**planned, **handle}
        if isinstance(handle.get("ses"), str) and rec.opencode_session_id != handle["ses"]:  # a live session
            rec.opencode_session_id = str(handle["ses"])
            self.store.update(rec.num, opencode_session_id=rec.opencode_session_id)
        if not self.store.update(rec.num, expect=STARTING, status=STATUS_RUNNING, handle=rec.handle):
            # Another process finished it meanwhile (a kill): its record stands; nothing of ours may run on.
            rt.kill(rec)
            self.store.update(rec.num, handle=rec.handle)
            fresh = self.store.get(rec.num)
            rec.status, rec.exit_code, rec.outcome, rec.ended_at = (
                fresh.status,
                fresh.exit_code,
                fresh.outcome,
                fresh.ended_at,
            )
            return
        rec.status = STATUS_RUNNING

    def hosts(self, name: str | None = None) -> list[HostInfo]:
        """Each configured host (or just ``name``) as one ssh round trip finds it now, with what is missing."""
        from concurrent.futures import ThreadPoolExecutor

        from .runtimes.ssh import SshRuntime

        if name is not None and name not in self.config.hosts:
            known = ", ".join(sorted(self.config.hosts)) or "none"
            raise UsageError(f"no host named {name!r}; hosts in {self.config.describe_source()}: {known}")
        hosts = [h for h in self.config.hosts.values() if name is None or h.name == name]
        if not hosts:
            return []
        rt = self.runtime(SshRuntime.name)
        assert isinstance(rt, SshRuntime)
        records, _ = self.store.all()
        running: dict[str, int] = {}
        for r in records:
            if r.runtime == SshRuntime.name and r.status != STATUS_EXITED:
                key = str(r.handle.get("host") or "")
                running[key] = running.get(key, 0) + 1
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            return list(pool.map(lambda h: self._host_info(rt, h, running.get(h.name, 0)), hosts))

    def _host_info(self, rt: SshRuntime, host: Host, sessions: int) -> HostInfo:
        projects = {p.name: str(p.path) for p in self.config.projects.values() if p.host == host.name}
        try:
            facts, found, rtt = rt.probe(host, list(projects.values()))
        except HostUnreachable as e:
            since = rt.conn(host).unreachable_since()
            return HostInfo(
                name=host.name, ssh=host.ssh, state_dir=host.state_dir, reachable=False, rtt_ms=None, error=str(e),
                unreachable_since=iso(since) if since else None, tmux=None, opencode=None, python3=None,
                sessions=sessions, problems=[f"check that `ssh {host.ssh} true` works without asking anything"],
            )  # fmt: skip
        problems = []
        if not facts.get("tmux"):
            problems.append("tmux is missing: install it there (e.g. `apt-get install tmux`)")
        if not facts.get("opencode"):
            problems.append(
                f"{host.opencode} is missing (or not on the PATH of a non-interactive ssh command): install it there "
                "(`npm install -g opencode-ai`) or set hosts[].opencode to its absolute path"
            )
        if not facts.get("python3"):
            problems.append("python3 is missing: agents run, but their cost, activity and outcome are not read")
        if not facts.get("tar"):
            problems.append("tar is missing: ao sends each run's files as a tar archive; install tar there")
        if facts.get("statedir") != "ok":
            problems.append(f"ao cannot create or write its folder {host.state_dir} there; set hosts[].stateDir")
        where = dict(found)
        for proj, path in projects.items():
            if not where.get(path, False):
                problems.append(f"project {proj}: there is no folder {path} there; fix projects[].path")
        return HostInfo(
            name=host.name, ssh=host.ssh, state_dir=host.state_dir, reachable=True, rtt_ms=round(rtt * 1000, 1),
            error=None, unreachable_since=None, tmux=facts.get("tmux") or None, opencode=facts.get("opencode") or None,
            python3=facts.get("python3") or None, sessions=sessions, problems=problems,
        )  # fmt: skip

    def projects(self, cwd: Path | None) -> list[ProjectInfo]:
        """The configured projects; ``default`` marks the one ``spawn`` picks for ``cwd``."""
        default = self.config.default_project(cwd)
        return [
            ProjectInfo(
                name=pr.name,
                path=str(pr.path),
                runtime=("live" if pr.agent_config.mode == "live" else "ssh")
                if pr.host
                else pr.runtime or self.config.runtime,
                model=pr.agent_config.model,
                default=default is not None and pr.name == default.name,
                host=pr.host,
            )
            for pr in self.config.projects.values()
        ]

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

    def snapshot(self, records: list[SessionRecord], *, exited_facts: bool = False) -> Snapshot:
        """Liveness and introspection at constant subprocess cost; finalizes exits.

        Only sessions that are not exited are asked about; an exited one is described by
        its record (``facts`` keeps its last cost and summary). With ``exited_facts``, an
        exited session without facts yet (ended before they were kept) is introspected once.
        """
        warnings: list[str] = []
        now = time.time()
        live: dict[str, Liveness] = {}
        by_rt: dict[str, list[SessionRecord]] = {}
        for r in records:
            if r.status == STATUS_EXITED:
                live[r.id] = Liveness(alive=False, exit_code=r.exit_code)
            elif r.status == STARTING and now - float(r.handle.get("started_at") or r.created_at) < STARTING_GRACE:
                live[r.id] = Liveness(alive=True)  # its spawner is still at work
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
        for r in records:
            lv = live.get(r.id)
            if r.status != STATUS_EXITED and (lv is None or lv.alive is None):
                reason = lv.reason if lv is not None and lv.reason else f"runtime {r.runtime} did not say"
                warnings.append(f"{r.display_id}: status unknown: {reason}")
        asked = [r for r in records if r.status != STATUS_EXITED or (exited_facts and r.facts is None)]
        intro = self._introspect(asked, now, warnings)
        budgets = self._budgets(records, intro, warnings)
        checked = {x.id for recs in by_rt.values() for x in recs}
        for r in records:
            lv = live.get(r.id)
            # A starting session past its grace whose agent runs: its spawner died half-way.
            promote = r.status == STARTING and r.id in checked and lv is not None and lv.alive
            if promote and self.store.update(r.num, expect=STARTING, status=STATUS_RUNNING):
                r.status = STATUS_RUNNING
            if r.status != STATUS_EXITED and lv is not None and lv.alive is False:
                self._finalize(r, lv, intro.get(r.id), now)
            state = budgets.get(r.id)
            if r.status != STATUS_EXITED and state is not None and state.fraction >= 1.0:
                failed = self._stop_over_budget(r, state, intro.get(r.id), now)
                if failed is None:
                    live[r.id] = Liveness(alive=False, exit_code=r.exit_code)
                else:  # not stopped: it stays as the runtime saw it
                    warnings.append(failed)
        return Snapshot(records=records, live=live, intro=intro, warnings=warnings, budgets=budgets)

    # --- budgets ------------------------------------------------------------------------

    def _budgets(
        self, records: list[SessionRecord], intro: dict[str, Introspection], warnings: list[str]
    ) -> dict[str, BudgetState]:
        """Each session's tightest spending limit and how much of it is spent (sums from the store, whose
        facts the introspection just brought up to date). A session whose cost is unknown gets none."""
        out: dict[str, BudgetState] = {}
        sums: dict[tuple[str, Scope], float] = {}
        for r in records:
            limits = self.config.budget_of(r.project)
            session_limit = r.budget if r.budget is not None else limits.session
            if session_limit is None and limits.project is None and limits.day is None:
                continue
            info = intro.get(r.id)
            cost = (info.cost if info is not None else None) or (r.facts.cost if r.facts else None)
            if cost is None:
                if r.status != STATUS_EXITED:
                    warnings.append(f"{r.display_id}: its budget cannot be enforced: its cost is unknown")
                continue
            spent: list[tuple[float, float, Scope]] = []
            if session_limit is not None:
                spent.append((cost.usd, session_limit, Scope.SESSION))
            for scope, limit in ((Scope.PROJECT, limits.project), (Scope.DAY, limits.day)):
                if limit is not None:
                    key = (r.project, scope)
                    if key not in sums:
                        sums[key] = self.store.spend(r.project, since=day_start() if scope == Scope.DAY else None)
                    spent.append((sums[key], limit, scope))
            usd, limit, scope = max(spent, key=lambda x: x[0] / x[1])
            out[r.id] = BudgetState(usd=usd, limit=limit, scope=scope, fraction=usd / limit)
        return out

    def _stop_over_budget(
        self, r: SessionRecord, state: BudgetState, info: Introspection | None, now: float
    ) -> str | None:
        """Stop an agent at its limit; its outcome says by how much and which limit. A stop the runtime could
        not confirm leaves the session running (the next poll tries again) and returns the warning saying so."""
        text = f"over budget: {usd(state.usd)} of {usd(state.limit)} ({state.scope})"
        log.info("%s: %s", r.display_id, text)
        r.dir.mark_killed(OVER_BUDGET_MARK + text)  # kept when the stop fails: if the agent ends, it ended over budget
        try:
            self.runtime(r.runtime).kill(r)
        except Exception as e:
            log.warning("stopping %s over budget failed: %s", r.display_id, e, exc_info=not isinstance(e, AoError))
            return f"{r.display_id}: {text}, but stopping it failed ({e}); the next poll tries again"
        self._finalize(r, Liveness(alive=False, exit_code=KILLED_EXIT_CODE), info, now)
        return None

    def cost(self, project: str | None = None, since: str | None = None, by: str | None = None) -> CostReport:
        """What the sessions ao started cost (their kept facts; live ones read afresh first), grouped ``by``."""
        by = by or "project"
        if by not in ("project", "model", "day", "session"):
            raise UsageError(f"invalid --by {by!r}: one of project, model, day, session")
        start = parse_since(since)
        if project is not None:
            self._check_project(project, found=False)
        live, _, _ = self.store.query(project, running=True)
        self.snapshot(records=live)  # brings the running sessions' costs up to date in the store
        groups: dict[str, list[CostRow]] = {}
        rows = self.store.costs(project, start)
        for row in rows:
            if by == "project":
                key = row.project
            elif by == "model":
                key = row.model or "(default)"
            elif by == "day":
                key = time.strftime("%Y-%m-%d", time.localtime(row.created_at))
            else:
                key = f"{row.project}/agent-{row.num}"
            groups.setdefault(key, []).append(row)
        limits = self.config.budget_of(project) if project is not None else self.config.budget

        def total(items: list[CostRow]) -> tuple[float, Tokens]:
            t = [r.cost.tokens for r in items]
            tokens = Tokens(
                input=sum(x.input for x in t),
                output=sum(x.output for x in t),
                reasoning=sum(x.reasoning for x in t),
                cache_read=sum(x.cache_read for x in t),
                cache_write=sum(x.cache_write for x in t),
            )
            return sum(r.cost.usd for r in items), tokens

        all_usd, all_tokens = total(rows)
        return CostReport(
            since=iso(start) if start is not None else None,
            by=by,
            total=CostTotal(usd=all_usd, tokens=all_tokens, sessions=len(rows)),
            groups=[
                CostGroup(key=k, usd=u, tokens=t, sessions=len(items))
                for k, items in sorted(groups.items())
                for u, t in [total(items)]
            ],
            limits=CostLimits(session=limits.session, project=limits.project, day=limits.day),
        )

    def check_budget_room(self, project: str) -> None:
        """Refuse work for a project whose project or day limit is already reached."""
        limits = self.config.budget_of(project)
        for scope, limit, since in ((Scope.PROJECT, limits.project, None), (Scope.DAY, limits.day, day_start())):
            if limit is None:
                continue
            spent = self.store.spend(project, since=since)
            if spent >= limit:
                what = "today" if scope == Scope.DAY else "so far"
                raise BudgetExceeded(
                    f"project {project} has spent {usd(spent)} {what}, its {scope} budget is {usd(limit)}; "
                    f"raise budget.{scope} in {self.config.describe_source()} to go on",
                    scope=str(scope),
                    spent=spent,
                    limit=limit,
                )

    def _finalize(self, r: SessionRecord, lv: Liveness, info: Introspection | None, now: float) -> None:
        code = lv.exit_code
        if r.dir.killed():  # only stat'ed for sessions seen ending
            code, outcome = code if code is not None else KILLED_EXIT_CODE, killed_outcome(r.dir.killed_reason())
        else:
            outcome = exit_outcome(
                code, info.outcome if info else None, spawn_died=r.status == STARTING and code is None, reason=lv.reason
            )
            if code not in (0, None) and outcome.error == f"the agent exited with code {code}":
                outcome = replace(outcome, error=lv.reason or self._printed_error(r) or outcome.error)
            # read again: an answer given while this poll ran notes its rejection before OpenCode has it
            rejected = self.store.get(r.num).handle.get("rejected") if r.runtime == "live" else None
            # a live turn the person said no to: answered by the model after that, or ended by OpenCode on it (the
            # rejected tool call is then the turn's last word, an error to OpenCode's records)
            if rejected and code == 0 and outcome.result in (Result.SUCCESS, Result.ERROR):
                outcome = replace(outcome, result=Result.INCOMPLETE, error="rejected: " + "; ".join(map(str, rejected)))
        facts = facts_of(info) or r.facts
        if self.store.finish(r.num, code, outcome, now, facts):
            r.status, r.exit_code, r.outcome, r.ended_at, r.facts = STATUS_EXITED, code, outcome, now, facts
        else:  # another process finalized it first: take its word
            fresh = self.store.get(r.num)
            r.status, r.exit_code, r.outcome, r.ended_at, r.facts = (
                fresh.status,
                fresh.exit_code,
                fresh.outcome,
                fresh.ended_at,
                fresh.facts,
            )

    def _printed_error(self, r: SessionRecord) -> str | None:
        """The agent's own error line from the end of its output: a failure before any turn
        (an unknown model, a provider it cannot reach) leaves no record but what it printed."""
        try:
            text, _ = self.runtime(r.runtime).logs(r, 60, 64 * 1024)
            return self.agent(r.agent).error_from_output(text)
        except Exception:  # the outcome stays the exit code's
            log.debug("reading %s's output failed", r.display_id, exc_info=True)
            return None

    def _introspect(self, records: list[SessionRecord], now: float, warnings: list[str]) -> dict[str, Introspection]:
        if not records:
            return {}
        remote = [r for r in records if r.handle.get("host")]
        local = [r for r in records if not r.handle.get("host")]
        intro: dict[str, Introspection] = {}
        if remote:  # read on each host: ssh sessions by the runtime's snapshot, in the same round trip
            from .runtimes.ssh import SshRuntime

            rt = self.runtime(SshRuntime.name)
            assert isinstance(rt, SshRuntime)
            live_there = [r for r in remote if r.runtime != SshRuntime.name]
            if live_there:  # live ones (their liveness comes from the host's OpenCode server): one more
                rt.read_hosts(live_there)
            intro.update(rt.introspection(remote))
            warnings.extend(dict.fromkeys(rt.intro_warnings))
            rt.intro_warnings = []
        try:
            if local:
                intro.update(self.agent().introspect(local, now))
            self.introspection_error = None
        except AoError as e:
            self.introspection_error = str(e)
            local = []
        except Exception as e:
            log.debug("introspection failed", exc_info=True)
            self.introspection_error = f"introspection unavailable: {e}"
            local = []
        records = [*remote, *local]
        stale = [r for r in records if r.id in intro and intro[r.id].stale]
        if stale:
            reason = intro[stale[0].id].stale_reason or "OpenCode's database is busy"
            warnings.append(f"introspection stale for {len(stale)} session(s): {reason}; showing what was last seen")
        for r in stale:  # the last known facts stand in
            old, known = intro[r.id], r.facts or Facts()
            old.cost = old.cost or known.cost
            old.summary = old.summary or known.summary
            old.activity = old.activity or known.activity
        changes: list[tuple[SessionRecord, dict[str, Any]]] = []
        for r in records:
            info = intro.get(r.id)
            if info is None or info.stale:
                continue
            upd: dict[str, Any] = {}
            if info.opencode_session_id and info.opencode_session_id != r.opencode_session_id:
                upd["opencode_session_id"] = r.opencode_session_id = info.opencode_session_id
            if info.state is not None and info.state != r.introspection:
                upd["introspection"] = r.introspection = info.state
            facts = facts_of(info)
            if facts is not None and facts != r.facts:
                upd["facts"] = r.facts = facts
            if upd:
                changes.append((r, upd))
        for r, upd in changes:
            try:
                self.store.update(r.num, **upd)
            except StateError as e:
                warnings.append(str(e))
        return intro

    def status(
        self,
        session: str | None = None,
        project: str | None = None,
        details: bool = False,
        *,
        running: bool = False,
        limit: int | None = None,
        before: int | None = None,
    ) -> StatusPage:
        """Session objects (one session, or a page of them) with warnings and the next page's cursor."""
        more = None
        if session is not None:
            rec = self.resolve(session)
            snap = self.snapshot(records=[rec], exited_facts=True)
        else:
            if limit is not None and limit < 1:
                raise UsageError("the limit must be a positive number")
            records, bad, more = self.store.query(project, running=running, limit=limit, before=before)
            self._check_project(project, found=bool(records or bad))
            snap = self.snapshot(records=records)
            snap.warnings[:0] = [str(b) for b in bad]
        views = [snap.view(self, r) for r in snap.records]
        if details:  # one git call per live worktree, only when asked
            views = [self._with_worktree_status(v) for v in views]
        return StatusPage(sessions=views, warnings=snap.warnings, next_cursor=None if more is None else str(more))

    def brief(
        self,
        project: str | None = None,
        *,
        running: bool = False,
        limit: int | None = None,
        before: int | None = None,
    ) -> tuple[list[SessionBrief], list[str], str | None]:
        """A page of sessions as ``ao/list`` shows them: exited ones straight from the store (no
        prompt, no JSON), the others through one snapshot. Returns briefs, warnings, next cursor."""
        rows, bad, more = self.store.brief(project, running=running, limit=limit, before=before)
        self._check_project(project, found=bool(rows or bad))
        live, corrupt = self.store.get_many([row.num for row in rows if row.status != STATUS_EXITED])
        warnings = [str(b) for b in (*bad, *corrupt)]
        snap = self.snapshot(records=live)
        views = {r.num: snap.view(self, r) for r in snap.records}
        briefs = []
        for row in rows:
            v = views.get(row.num)
            briefs.append(
                SessionBrief(
                    session_id=f"{row.project}/agent-{row.num}",
                    project=row.project,
                    status=Status.EXITED if v is None else v.status,
                    activity=Activity.EXITED if v is None else v.activity,
                    exit_code=row.exit_code if v is None else v.exit_code,
                    created_at=iso(row.created_at),
                )
            )
        return briefs, warnings + snap.warnings, None if more is None else str(more)

    def _check_project(self, project: str | None, *, found: bool) -> None:
        """A project filter that matched nothing must at least name a project (configured, or with sessions)."""
        if project is None or found or project in self.config.projects:
            return
        if not any(self.store.brief(project, limit=1)[:2]):
            self.config.project(project)  # raises UnknownProject with a did-you-mean hint

    def git_of(self, rec: SessionRecord) -> workspace.Git:
        """Where the session's repository is: here, or on its host."""
        return self._git_on(str(rec.handle.get("host") or "") or None)

    def _git_on(self, host: str | None) -> workspace.Git:
        from . import workspace
        from .runtimes.ssh import SshRuntime

        if host is None:
            return workspace.LOCAL
        if host not in self.config.hosts:
            raise StateError(f"host {host} is not in {self.config.describe_source()} any more; add it back")
        rt = self.runtime(SshRuntime.name)
        assert isinstance(rt, SshRuntime)
        return rt.git(self.config.hosts[host])

    def _with_worktree_status(self, v: Session) -> Session:
        from . import workspace

        ws = v.workspace
        if ws is None or ws.removed:
            return v
        try:
            st = workspace.status(ws, git=self._git_on(v.host))
        except AoError:  # its host is unreachable: not known now
            log.debug("worktree status of %s", v.session_id, exc_info=True)
            st = None
        return replace(v, workspace=replace(ws, ahead=st.ahead if st else None, dirty=st.dirty if st else None))

    def view(
        self, r: SessionRecord, lv: Liveness | None, info: Introspection | None, budget: BudgetState | None = None
    ) -> Session:
        """The session object of the protocol (docs/protocol.md)."""
        exited = r.status == STATUS_EXITED
        facts = r.facts or Facts()
        activity: Activity | None = None
        if exited:
            activity = Activity.EXITED
        elif lv is not None and lv.alive is None:
            activity = Activity.UNREACHABLE if lv.unreachable_since is not None else Activity.UNKNOWN
        elif lv is not None and lv.pending:
            activity = Activity.WAITING_INPUT
        elif info is not None:
            activity = info.activity
        if exited or info is None:
            cost, summary = facts.cost, facts.summary
            if info is not None:  # an exited session seen once more (its facts were not kept yet)
                cost, summary = info.cost or cost, info.summary or summary
        else:
            cost, summary = info.cost, info.summary
        return Session(
            session_id=r.display_id,
            id=r.id,
            project=r.project,
            status=Status.EXITED if exited else Status.RUNNING,
            exit_code=r.exit_code,
            activity=activity,
            runtime=r.runtime,
            agent=r.agent,
            prompt=r.prompt,
            model=r.model,
            issue_id=r.issue_id,
            created_at=iso(r.created_at),
            ended_at=iso(r.ended_at) if r.ended_at else None,
            pid=lv.pid if lv else None,
            workdir=str(r.workdir),
            workspace=r.workspace,
            opencode_session_id=r.opencode_session_id,
            cost=cost,
            summary=summary,
            outcome=r.outcome if exited else (info.outcome if info else None),
            runs=r.runs,
            introspection_stale=bool(info is not None and info.stale),
            budget=budget,
            pending=list(lv.pending) if lv is not None and not exited else [],
            host=str(r.handle["host"]) if r.handle.get("host") else None,
            unreachable_since=iso(lv.unreachable_since)
            if lv is not None and lv.unreachable_since is not None and not exited
            else None,
        )

    # --- attach / logs / kill / forget ----------------------------------------------

    def attach(self, session: str) -> Attach:
        from .runtimes.ssh import SshRuntime

        rec = self.resolve(session)
        info: AttachInfo = self.runtime(rec.runtime).attach(rec)
        restore = None
        try:
            argv = self.agent(rec.agent).restore_command(rec)
        except Exception:
            log.exception("restore_command failed")
            argv = None
        rt = self.runtime(rec.runtime)
        if argv and isinstance(rt, SshRuntime):  # reopened on its host, with the host's opencode
            command = f"cd {shlex.quote(str(rec.workdir))} && {shlex.join([rt.binary(rec), *argv[1:]])}"
            restore = shlex.join(rt.attach_argv(rec, command))
        elif argv:
            restore = f"cd {shlex.quote(str(rec.workdir))} && {shlex.join(argv)}"
        return Attach(
            session_id=rec.display_id, type=info.type, command=info.command, argv=info.argv, restore_command=restore
        )

    def logs(self, session: str, lines: int | None = None, max_bytes: int | None = None) -> Logs:
        """The session's output (the last ``lines``), read from the end; at most ``max_bytes`` of it."""
        if lines is not None and lines <= 0:
            raise UsageError("--lines must be a positive number")
        rec = self.resolve(session)
        if not rec.dir.exists():
            raise StateError(f"{rec.display_id} has no session folder ({rec.folder} was deleted); its output is gone")
        text, cut = self.runtime(rec.runtime).logs(rec, lines, max_bytes)
        return Logs(session_id=rec.display_id, text=text, truncated=cut)

    def kill(self, session: str) -> Session:
        rec = self.resolve(session)
        snap = self.snapshot(records=[rec], exited_facts=True)
        rt = self.runtime(rec.runtime)
        if rec.status != STATUS_EXITED:
            # Mark the kill first: a poller in another thread or process that sees the agent
            # gone before we record it then records it as killed too (see snapshot()).
            rec.dir.mark_killed()
            try:
                rt.kill(rec)  # returns once the stop is confirmed; raises when the agent may still run
            except Exception as e:
                # Not stopped (a host or server that did not answer or refused): the record stays running, as
                # it was, and a later end of the agent's own is its real outcome, not a kill.
                rec.dir.killed_marker.unlink(missing_ok=True)
                if isinstance(e, AoError):
                    raise
                raise PluginError(f"killing {rec.display_id} failed: {e}") from None
            code, outcome = KILLED_EXIT_CODE, killed_outcome()
            now = time.time()
            facts = facts_of(snap.intro.get(rec.id)) or rec.facts
            if self.store.finish(rec.num, code, outcome, now, facts):
                rec.status, rec.exit_code, rec.outcome, rec.ended_at = STATUS_EXITED, code, outcome, now
            else:
                rec = self.store.get(rec.num)
        else:
            self._close(rec)  # an exited session's kept pane
        return self.view(rec, Liveness(alive=False, exit_code=rec.exit_code), snap.intro.get(rec.id))

    def _close(self, rec: SessionRecord) -> None:
        try:
            self.runtime(rec.runtime).close(rec)
        except AoError as e:
            log.warning("closing %s: %s", rec.display_id, e)

    def cleanup(self, session: str, force: bool = False) -> str:
        """Remove an exited session's worktree (and its branch when nothing would be lost)."""
        from . import workspace

        rec = self.resolve(session)
        self.snapshot(records=[rec])
        if not rec.workspace or rec.workspace.removed:
            raise UsageError(f"{rec.display_id} has no worktree to clean up")
        if rec.status != STATUS_EXITED:
            raise UsageError(
                f"{rec.display_id} is still running; `ao kill --cleanup {rec.display_id}` stops it and cleans up"
            )
        done = workspace.remove(rec.workspace, force=force, git=self.git_of(rec))
        self.store.update(rec.num, workspace=replace(rec.workspace, removed=True))
        return done

    def forget(self, session: str) -> tuple[str, list[str]]:
        """Drop a session's record and folder (here and, for a remote one, on its host), and close what it
        still holds (a kept tmux pane).

        Refuses while it is running. Returns its id and what was left behind (a worktree; the folder on a host
        that did not answer, with the command that removes it).
        """
        from .runtimes.ssh import SshRuntime

        ref = parse_session_ref(session)
        try:
            rec = self.resolve(session)
        except CorruptRow:
            self.store.delete(ref.num)
            return f"agent-{ref.num}", []
        self.snapshot(records=[rec])
        if rec.status != STATUS_EXITED:
            raise UsageError(f"{rec.display_id} is still running; `ao kill {rec.display_id}` first")
        left = []
        rt = self.runtime(rec.runtime)
        if isinstance(rt, SshRuntime):  # its folder on its host goes too; a host that does not answer keeps it
            kept = rt.forget(rec)
            if kept:
                left.append(kept)
        else:
            self._close(rec)
        ws = rec.workspace
        if ws and not ws.removed and self._still_there(rec, Path(ws.path)):
            left.append(
                f"its worktree {ws.path} and branch {ws.branch} (remove them with "
                f"`git -C {shlex.quote(ws.repo)} worktree remove {shlex.quote(ws.path)}`, "
                "or run `ao cleanup` before forgetting next time)"
            )
        self.store.delete(rec.num)
        return rec.display_id, left

    def _still_there(self, rec: SessionRecord, path: Path) -> bool:
        try:
            return self.git_of(rec).exists(path)
        except AoError:  # its host is unreachable: say it may be there
            return True

    # --- resume -----------------------------------------------------------------------

    def resume(self, session: str, prompt: str | None = None, *, busy: str | None = None) -> Session:
        """Continue an exited session's OpenCode session; ``busy`` is the refusal for a running one."""
        from .runtimes.live import LiveRuntime
        from .runtimes.ssh import SshRuntime

        rec = self.resolve(session)
        snap = self.snapshot(records=[rec], exited_facts=True)
        if rec.status != STATUS_EXITED:
            raise NotResumable(
                (busy or "{id} is still running; attach to it (`ao attach {id}`) or wait for it to exit").format(
                    id=rec.display_id
                )
            )
        proj = self.config.projects.get(rec.project)
        text = validate_prompt(prompt, proj) if prompt is not None else DEFAULT_RESUME_PROMPT
        self.check_budget_room(rec.project)
        agent = self.agent(rec.agent)
        rt = self.runtime(rec.runtime)
        if isinstance(rt, SshRuntime):
            binary = rt.binary(rec)
        elif isinstance(rt, LiveRuntime) and rt.host_of(rec) is not None:  # its host's server runs it
            binary = str(rt.host_of(rec).opencode)  # type: ignore[union-attr]
        else:
            binary = agent.check_installed()
        rt.check_available()
        if not rec.dir.exists():
            raise NotResumable(
                f"{rec.display_id} has no session folder ({rec.folder} was deleted); spawn a new session"
            )
        run = rec.runs + 1
        spec = agent.resume(rec, binary=binary, prompt_file=rec.dir.prompt(run))
        before = (rec.exit_code, rec.ended_at, rec.outcome, rec.runs, rec.handle)
        # Claim it: only one of several concurrent resumes moves it from exited to starting.
        started_at = time.time()
        claimed = {**rec.handle, "started_at": started_at}
        if not self.store.update(
            rec.num, expect=STATUS_EXITED, status=STARTING, exit_code=None, ended_at=None, outcome=None,
            runs=run, handle=claimed,
        ):  # fmt: skip
            raise NotResumable(
                f"{rec.display_id} is already being resumed (or was) by another process; see `ao status`"
            )
        rec.status, rec.exit_code, rec.ended_at, rec.outcome, rec.runs, rec.handle = (
            STARTING, None, None, None, run, claimed
        )  # fmt: skip
        try:
            self._launch(rec, rt, spec, text, run)
        except BaseException:
            code, ended, outcome, runs, handle = before
            self.store.update(
                rec.num, expect=STARTING, status=STATUS_EXITED, exit_code=code, ended_at=ended, outcome=outcome,
                runs=runs, handle=handle,
            )  # fmt: skip
            raise
        return self.view(rec, Liveness(alive=True), snap.intro.get(rec.id))

    # --- review: what an agent changed, and what becomes of it ------------------------------------

    def _local_review(self, rec: SessionRecord) -> None:
        """Review reads this machine's git and OpenCode records: a session on a host (ssh or live) has neither."""
        from .runtimes.ssh import SshRuntime

        proj = self.config.projects.get(rec.project)
        host = rec.handle.get("host") or (proj.host if proj is not None else None)
        if rec.runtime == SshRuntime.name or host:
            raise UsageError(
                f"{rec.display_id} runs on host {host}: reviewing, merging and discarding the "
                "work of agents on remote hosts is not supported yet; look at it there (`ao attach`)"
            )

    def changes(self, session: str) -> Changes:
        """The files a session changed: its worktree against its base, else what OpenCode recorded."""
        return self.diffs(session, [])[0]

    def file_diff(self, session: str, path: str) -> FileDiff:
        """Both sides of one file ``changes`` lists; nothing outside the session's tree is ever read."""
        return self.diffs(session, [path])[1][0]

    def diffs(self, session: str, paths: list[str] | None) -> tuple[Changes, list[FileDiff]]:
        """A session's changes, and both sides of the files in ``paths`` (None: of every changed file)."""
        from . import review

        rec = self.resolve(session)
        self._local_review(rec)
        self.snapshot(records=[rec], exited_facts=True)  # binds its OpenCode session, if not yet
        recorded: list[review.RecordedDiff] = []
        if rec.workspace is not None:
            ws = review.live_worktree(rec.workspace, rec.display_id)
            tree = review.worktree_changes(ws)
            source, base, head, files = Source.WORKTREE, tree.base, tree.head, tree.files
        else:
            source, base, head = Source.OPENCODE, ChangesBase(None, None), ChangesHead(None, False)
            recorded = self.agent(rec.agent).recorded_diffs(rec)
            files = review.recorded_changes(recorded)
        changes = Changes(
            session_id=rec.display_id,
            source=source,
            base=base,
            head=head,
            files=files,
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
        )
        wanted = files if paths is None else [review.find_changed(files, p, rec.display_id) for p in paths]
        out = []
        for change in wanted:
            if rec.workspace is not None:
                sides = review.worktree_sides(rec.workspace, str(base.commit), change)
            else:
                sides = self._recorded_sides(rec, change, [d.patch for d in recorded if d.file == change.path])
            out.append(FileDiff(rec.display_id, change.path, change.status, sides[0], sides[1], change.old_path))
        return changes, out

    def _recorded_sides(self, rec: SessionRecord, change: ChangedFile, patches: list[str]) -> tuple[FileSide, FileSide]:
        """The file now, and before the agent's recorded edits (the current text with them reversed)."""
        from . import review

        head = review.file_side(rec.workdir, change.path)
        if head.exists and head.text is None:  # binary or too large: no text to reverse the edits on
            return FileSide(exists=change.status != Change.ADDED, binary=head.binary, size=0, text=None), head
        try:
            before = review.reverse_patches(head.text, patches)
        except review.PatchMismatch:
            raise StateError(
                f"{change.path} changed since {rec.display_id} edited it: OpenCode's record of the edit no longer "
                "fits the file, so its text before the edit is unknown"
            ) from None
        return review.side_of(None if change.status == Change.ADDED else (before or "").encode()), head

    def merge(self, session: str, strategy: Strategy | None = None) -> Merge:
        """Bring a finished worktree session's work into its base branch, in the project's checkout."""
        from . import review

        rec = self.resolve(session)
        self._local_review(rec)
        self.snapshot(records=[rec])
        if rec.status != STATUS_EXITED:
            raise WorkspaceError(
                f"{rec.display_id} is still running; wait for it to finish (or `ao kill {rec.display_id}`), then merge"
            )
        ws = review.live_worktree(rec.workspace, rec.display_id)
        title = (rec.prompt.strip().splitlines() or ["(no prompt)"])[0][:72]
        done = review.merge(ws, rec.display_id, title, strategy or Strategy.AUTO)
        tip = review.commit_of(Path(ws.path), f"refs/heads/{ws.branch}")
        self.store.update(rec.num, workspace=replace(ws, merged=tip))
        return done

    def discard(self, session: str) -> Discard:
        """Remove a finished session's worktree and branch, whatever they hold (the client confirmed)."""
        rec = self.resolve(session)
        self._local_review(rec)
        return Discard(rec.display_id, self.cleanup(session, force=True))

    def send(self, session: str, message: str | None, notes: list[ReviewNote] | None = None) -> Session:
        """A follow-up or review notes: a running live agent gets it at once; any other session resumes with it."""
        from . import review

        prompt = review.note_prompt(message, [(n.path, n.line, n.text) for n in notes or []])
        rec = self.resolve(session)
        if rec.runtime == "live":
            snap = self.snapshot(records=[rec])
            if rec.status != STATUS_EXITED:
                rt = self.live_runtime(rec)
                validate_prompt(prompt, self.config.projects.get(rec.project))
                rec.handle = rt.send(rec, prompt)
                self.store.update(rec.num, handle=rec.handle)
                return self.view(rec, Liveness(alive=True), snap.intro.get(rec.id))
        return self.resume(
            session,
            prompt,
            busy="{id} is still running; a run-mode agent takes messages between runs: wait for it to finish "
            "(or `ao kill {id}`), then send",
        )

    # --- live agents: answers and aborts ------------------------------------------------------

    def respond(
        self,
        session: str,
        request_id: str,
        reply: Reply | None = None,
        message: str | None = None,
        answers: list[list[str]] | None = None,
    ) -> Session:
        """Answer a live agent's permission request or questions; the first answer wins."""
        rec = self.resolve(session)
        rt = self.live_runtime(rec)
        if rec.status == STATUS_EXITED:
            raise UnknownRequest(f"{rec.display_id} has exited; it waits for nothing")
        said = None
        if reply == Reply.REJECT:  # the turn's outcome says so when it ends
            # Noted before the answer goes: rejected without a reason, OpenCode ends the turn at once, and the
            # poll that sees it end must already know the person said no.
            lv = rt.snapshot([rec], self.agent()).get(rec.id)
            asked = next((r for r in lv.pending if r.request_id == request_id), None) if lv else None
            if asked is not None:
                said = rejection(asked, message)
                self._rejected(rec.num, lambda seen: [*seen, said])
        try:
            req = rt.respond(rec, request_id, reply, message, answers)
        except BaseException:
            if said is not None:  # not answered after all (answered elsewhere first, or not sent)
                self._rejected(rec.num, lambda seen: seen[:-1] if seen[-1:] == [said] else seen)
            raise
        if reply == Reply.REJECT and said is None:  # asked after the look (a race): noted now
            late = rejection(req, message)
            self._rejected(rec.num, lambda seen: [*seen, late])
        return self.status(session=rec.display_id).sessions[0]

    def _rejected(self, num: int, change: Callable[[list[str]], list[str]]) -> None:
        """Changes the list of what the person rejected in the session's current turn (its handle's)."""
        handle = self.store.get(num).handle
        self.store.update(num, handle={**handle, "rejected": change([str(x) for x in handle.get("rejected", [])])})

    def abort(self, session: str) -> Session:
        """Stop a live session's current turn; it then ends like any turn (or waits, with keepAlive)."""
        rec = self.resolve(session)
        rt = self.live_runtime(rec)
        if rec.status != STATUS_EXITED:
            rt.abort(rec)
            self.store.update(rec.num, handle={**rec.handle, "aborted": time.time()})
        return self.status(session=rec.display_id).sessions[0]


def rejection(req: InputRequest, message: str | None) -> str:
    """What a rejected permission request asked, and the person's reason: ``bash echo hi > ran.txt (not now)``."""
    what = f"{req.permission} {req.command or ' '.join(req.patterns)}".strip()
    return f"{what} ({message})" if message else what


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``today``, ``24h``, ``7d`` or ``2026-11-01`` (local time) as an epoch time; None for all time."""
    if text is None:
        return None
    now = time.time() if now is None else now
    if text == "today":
        return day_start(now)
    m = re.fullmatch(r"([1-9][0-9]{0,4})([hd])", text)
    if m:
        return now - int(m.group(1)) * (3600 if m.group(2) == "h" else 86400)
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise UsageError(
            f'invalid --since {text!r}: use "today", a duration like 24h or 7d, or a date like 2026-11-01'
        ) from None


def facts_of(info: Introspection | None) -> Facts | None:
    """What is kept of a session's introspection in its record: cost, summary, activity."""
    if info is None or info.stale or (info.cost is None and info.summary is None):
        return None
    return Facts(cost=info.cost, summary=info.summary, activity=info.activity)


def _fault_pause(point: str) -> None:
    """Tests only: ``AO_FAULT_PAUSE=<point>:<seconds>`` sleeps here, to kill a spawner mid-way."""
    spec = os.environ.get(FAULT_PAUSE_ENV, "")
    name, _, secs = spec.partition(":")
    if name == point:
        try:
            time.sleep(float(secs))
        except ValueError:
            pass


def killed_outcome(reason: str = "") -> Outcome:
    """A kill's outcome; ``reason`` is what the kill marker says (an over-budget stop)."""
    if reason.startswith(OVER_BUDGET_MARK):
        return Outcome(result=Result.OVER_BUDGET, error=reason.removeprefix(OVER_BUDGET_MARK))
    return Outcome(result=Result.KILLED)


def day_start(now: float | None = None) -> float:
    """Local midnight of today (the ``day`` budget and ``ao cost --since today``)."""
    t = time.localtime(now)
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


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


def exit_outcome(
    code: int | None, last_turn: Outcome | None, *, spawn_died: bool = False, reason: str | None = None
) -> Outcome:
    """How a session ended: the agent's own last turn when known, else the exit code."""
    if spawn_died:
        return Outcome(Result.ERROR, error="the spawn was interrupted before the agent started")
    if last_turn is not None and last_turn.result == Result.ERROR:
        return replace(last_turn, exit_code=code)
    if code is None:
        why = reason or "its tmux session was closed or the machine restarted"
        return Outcome(Result.UNKNOWN, error=f"the agent's process disappeared without an exit code ({why})")
    if code == 0:
        base = last_turn or Outcome(Result.SUCCESS)
        return replace(base, result=Result.SUCCESS) if base.result == Result.INCOMPLETE else base
    err = (last_turn.error if last_turn else None) or f"the agent exited with code {code}"
    return Outcome(Result.ERROR, error=err, finish=last_turn.finish if last_turn else None)
