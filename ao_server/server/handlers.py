"""The ``ao/*`` handlers: each a few typed lines over the engine, registered by :func:`handler`.

A handler receives its typed params (:mod:`ao_server.model`), runs the blocking
engine call on a worker thread (``ls.engine``) and returns a typed value; the
server turns it into wire JSON and maps errors onto their codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .. import model as m
from .. import protocol as p
from ..errors import AoError
from ..models import models_for
from ..orchestrator import Orchestrator

if TYPE_CHECKING:
    from .app import AoServer

Handler = Callable[["AoServer", Any], Awaitable[Any]]
HANDLERS: dict[str, Handler] = {}


def handler(method: str) -> Callable[[Handler], Handler]:
    """Register ``fn`` for ``method``: reachable as its own request and as a ``workspace/executeCommand``."""

    def register(fn: Handler) -> Handler:
        if method in HANDLERS or method not in p.METHODS:
            raise ValueError(f"{method}: registered twice, or not in protocol.METHODS")
        HANDLERS[method] = fn
        return fn

    return register


def _page(q: m.StatusParams | m.ListParams) -> dict[str, Any]:
    before = int(q.cursor) if q.cursor is not None else None
    return {"running": bool(q.running), "limit": q.limit or p.DEFAULT_PAGE, "before": before}


@handler(p.SPAWN)
async def spawn(ls: AoServer, q: m.SpawnParams) -> m.Session:
    """Start an agent, reporting work-done progress."""
    token = await ls.progress_begin(
        q.work_done_token,
        "Spawning an OpenCode agent",
        f"project {q.project}" if q.project else "the workspace's project",
    )
    message = "failed"
    try:
        view = await ls.engine(
            lambda o: o.spawn(
                project=q.project,
                prompt=q.prompt,
                model=q.model,
                issue_id=q.issue_id,
                runtime=q.runtime,
                cwd=ls.root,
                budget=q.budget,
            )
        )
        message = f"spawned {view.session_id}"
        return view
    except AoError as e:
        message = f"failed: {e}"
        raise
    finally:
        ls.progress_end(token, message)


@handler(p.STATUS)
async def status(ls: AoServer, q: m.StatusParams) -> m.StatusPage:
    """One session, or a page of them."""

    def run(o: Orchestrator) -> m.StatusPage:
        if q.session_id is None:
            return o.status(project=q.project, **_page(q))
        page = o.status(session=q.session_id)
        if q.project is not None:
            return m.StatusPage([v for v in page.sessions if v.project == q.project], page.warnings)
        return page

    return await ls.engine(run)


@handler(p.LIST)
async def list_sessions(ls: AoServer, q: m.ListParams) -> m.SessionList:
    """Session ids with their state, and the configured projects, for pickers."""

    def run(o: Orchestrator) -> m.SessionList:
        briefs, warnings, more = o.brief(project=q.project, **_page(q))
        return m.SessionList(briefs, o.projects(ls.root), warnings, more)

    return await ls.engine(run)


@handler(p.ATTACH)
async def attach(ls: AoServer, q: m.SessionParams) -> m.Attach:
    """The command that attaches a terminal."""
    return await ls.engine(lambda o: o.attach(q.session_id))


@handler(p.KILL)
async def kill(ls: AoServer, q: m.SessionParams) -> m.Session:
    """Stop the agent."""
    return await ls.engine(lambda o: o.kill(q.session_id))


@handler(p.RESUME)
async def resume(ls: AoServer, q: m.ResumeParams) -> m.Session:
    """Continue an exited session's own OpenCode conversation."""
    return await ls.engine(lambda o: o.resume(q.session_id, q.prompt))


@handler(p.LOGS)
async def logs(ls: AoServer, q: m.LogsParams) -> m.Logs:
    """The agent's output, read from the end, at most MAX_LOG_CHARS bytes."""
    return await ls.engine(lambda o: o.logs(q.session_id, q.lines, max_bytes=p.MAX_LOG_CHARS))


@handler(p.MODELS)
async def models(ls: AoServer, q: m.ModelsParams) -> m.Models:
    """The models OpenCode offers a project, its default first."""
    return await ls.engine(lambda o: models_for(o, q.project, ls.root, refresh=bool(q.refresh)))


@handler(p.COST)
async def cost(ls: AoServer, q: m.CostParams) -> m.CostReport:
    """What the sessions ao started cost, grouped by project, model, day or session."""
    return await ls.engine(lambda o: o.cost(project=q.project, since=q.since, by=q.by))


@handler(p.HOSTS)
async def hosts(ls: AoServer, q: m.HostsParams) -> m.Hosts:
    """The remote hosts: reachability, round trip, what they have and what is missing."""
    return await ls.engine(lambda o: m.Hosts(o.hosts(q.host)))


@handler(p.CHANGES)
async def changes(ls: AoServer, q: m.SessionParams) -> m.Changes:
    """The files a session changed, with line counts."""
    return await ls.engine(lambda o: o.changes(q.session_id))


@handler(p.FILE_DIFF)
async def file_diff(ls: AoServer, q: m.FileDiffParams) -> m.FileDiff:
    """Both sides of one changed file."""
    return await ls.engine(lambda o: o.file_diff(q.session_id, q.path))


@handler(p.MERGE)
async def merge(ls: AoServer, q: m.MergeParams) -> m.Merge:
    """Bring a finished worktree session's work into its base branch."""
    return await ls.engine(lambda o: o.merge(q.session_id, q.strategy))


@handler(p.DISCARD)
async def discard(ls: AoServer, q: m.SessionParams) -> m.Discard:
    """Remove a finished session's worktree and branch (the client confirmed)."""
    return await ls.engine(lambda o: o.discard(q.session_id))


@handler(p.SEND)
async def send(ls: AoServer, q: m.SendParams) -> m.Session:
    """A follow-up or review notes for the agent (a resume, for a run-mode session)."""
    return await ls.engine(lambda o: o.send(q.session_id, q.message, q.notes))


@handler(p.RESPOND)
async def respond(ls: AoServer, q: m.RespondParams) -> m.Session:
    """Answer a live agent's permission request or questions."""
    return await ls.engine(lambda o: o.respond(q.session_id, q.request_id, q.reply, q.message, q.answers))


@handler(p.ABORT)
async def abort(ls: AoServer, q: m.SessionParams) -> m.Session:
    """Stop a live session's current turn."""
    return await ls.engine(lambda o: o.abort(q.session_id))


def summary(method: str, result: Any) -> str | None:
    """A one-line message for clients that asked for ``showMessages`` (e.g. Helix, which shows no results)."""
    if isinstance(result, m.Session):
        if method == p.KILL:
            return f"{result.session_id} killed (exit code {result.exit_code})"
        return f"{'resumed' if method in (p.RESUME, p.SEND) else 'spawned'} {result.session_id}"
    if isinstance(result, m.StatusPage | m.SessionList):
        if not result.sessions:
            return "no sessions"
        return "; ".join(f"{s.session_id} {s.activity or s.status}" for s in result.sessions[:20])
    if isinstance(result, m.Attach):
        return f"attach with: {result.command}"
    if isinstance(result, m.CostReport):
        return f"spent ${result.total.usd:.2f} in {result.total.sessions} sessions"
    if isinstance(result, m.Models):
        return f"{len(result.models)} models for {result.project}"
    if isinstance(result, m.Changes):
        return f"{len(result.files)} files changed (+{result.additions} -{result.deletions})"
    if isinstance(result, m.Merge | m.Discard):
        return result.message
    return None


if set(HANDLERS) != set(p.METHODS):  # every method has exactly one handler
    raise RuntimeError(f"handlers missing for {sorted(set(p.METHODS) - set(HANDLERS))}")
