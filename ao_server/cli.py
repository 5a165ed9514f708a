"""The ``ao`` command line: thin argument parsing over :class:`Orchestrator`.

Exit codes: 0 ok, 1 failure, 2 usage. Errors are one line on stderr
(``ao: ...``), never a traceback (``--debug`` shows one for bug reports).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from .activity import Activity
from .errors import AoError, UsageError
from .formats import usd
from .strategy import Strategy

if TYPE_CHECKING:
    from .model import (
        BudgetState,
        Changes,
        Cost,
        CostReport,
        FileDiff,
        InputRequest,
        ReviewNote,
        Session,
        Workspace,
    )
    from .orchestrator import Orchestrator

# The engine (config, store, orchestrator), the wire's converter and everything they load are imported
# by the commands that use them: `ao --help` loads none of it, `ao status` no runtime, no git, no review
# (tests/unit/test_imports.py).

EPILOG = """\
examples:
  ao spawn my-project "Add unit tests for auth module"   # prints my-project/agent-1
  ao status                                              # all sessions, a table
  ao status my-project/agent-1                           # running | exited (| unknown)
  ao attach my-project/agent-1 --exec                    # open the agent's terminal
  ao resume my-project/agent-1 "Now fix the lint errors" # continue the same OpenCode session
  ao cost --since 7d --by model                          # what the agents cost, from OpenCode's records
  ao diff my-project/agent-1 --stat                      # the files it changed, with +/- counts
  ao merge my-project/agent-1                            # its worktree's work into the base branch

config: --config, $AO_CONFIG, ./agent-orchestrator.yaml (searching upward),
        ~/.config/agent-orchestrator/agent-orchestrator.yaml, else the current folder is the project.
state:  --state-dir, $AO_STATE_DIR, else $XDG_STATE_HOME/agent-orchestrator.
"""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    # Accepted before or after the command; SUPPRESS keeps a subcommand from resetting a value given earlier.
    common = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", metavar="FILE", help="agent-orchestrator.yaml to use")
    common.add_argument("--state-dir", metavar="DIR", help="where sessions are stored")
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens to stderr")
    common.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)

    p = Parser(
        prog="ao",
        description="Spawn, watch and attach to OpenCode coding agents.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    p.add_argument("--version", action="version", version=f"ao {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

    def cmd(name: str, help: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common], **kw)

    s = cmd("spawn", "start an agent on a project")
    s.add_argument("project", nargs="?", help="project name (default: the project containing the current folder)")
    s.add_argument("prompt", nargs="?", help="the task (default: the project's agentConfig.prompt); '-' reads stdin")
    s.add_argument("--prompt-file", metavar="FILE", help="read the task from FILE ('-' for stdin)")
    s.add_argument("--model", help="model for OpenCode's --model (default: agentConfig.model)")
    s.add_argument("--issue", metavar="ID", help="issue id, exported to the agent as AO_ISSUE_ID")
    s.add_argument(
        "--runtime", help="tmux, process or live (default: plugins.runtime; a project on a host: always ssh)"
    )
    s.add_argument(
        "--live",
        action="store_true",
        help="a live agent: a session of the shared OpenCode server that can ask you things (ao respond), "
        "take follow-ups (ao send) and be aborted (ao abort); same as --runtime live",
    )
    s.add_argument(
        "--budget", type=float, metavar="USD", help="stop this session when it has cost USD (default: budget.session)"
    )
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("status", "show sessions (one id: just its status)")
    s.add_argument("session", nargs="?", help="session id, e.g. my-project/agent-1")
    s.add_argument("--project", help="only this project's sessions")
    s.add_argument(
        "--details", action="store_true", help="also each worktree's commits ahead of base and whether it is dirty"
    )
    paging(s)
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("list", "list session ids with their status")
    s.add_argument("--project", help="only this project's sessions")
    paging(s)
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("attach", "print the command that attaches to a session (--exec runs it)")
    s.add_argument("session")
    s.add_argument("--exec", action="store_true", help="run the attach command in this terminal")
    s.add_argument("--json", action="store_true", help="print the attach info as JSON")

    s = cmd("kill", "stop a session's agent (not an error if it already exited)")
    s.add_argument("session")
    s.add_argument("--cleanup", action="store_true", help="then remove its git worktree (see `ao cleanup`)")
    s.add_argument("--force", action="store_true", help="with --cleanup: even if work would be lost")
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("cleanup", "remove an exited session's git worktree, and its branch if nothing would be lost")
    s.add_argument("session")
    s.add_argument("--force", action="store_true", help="remove even with uncommitted changes or unmerged commits")

    s = cmd("logs", "show a session's output (process: captured output; tmux: the pane's scrollback)")
    s.add_argument("session")
    s.add_argument("-n", "--lines", type=int, help="only the last N lines")

    s = cmd("resume", "continue an exited session's OpenCode conversation")
    s.add_argument("session")
    s.add_argument("prompt", nargs="?", help="follow-up prompt ('-' reads stdin)")
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("forget", "remove an exited (or corrupt) session's record and files")
    s.add_argument("session")

    s = cmd("diff", "show what a session changed: its worktree against its base, else what OpenCode recorded")
    s.add_argument("session")
    s.add_argument("path", nargs="?", help="only this file (as `ao diff --stat` lists it)")
    s.add_argument("--stat", action="store_true", help="only the changed files with their line counts")
    s.add_argument("--json", action="store_true", help="print JSON (ao/changes, or ao/fileDiff with a path)")

    s = cmd("merge", "bring a finished worktree session's work into its base branch, in the project's checkout")
    s.add_argument("session")
    s.add_argument(
        "--strategy",
        choices=[v.value for v in Strategy],
        default=Strategy.AUTO.value,
        help="auto (default): fast-forward when the base has not moved, else a merge commit; "
        "ff: fast-forward only; merge: always a merge commit; squash: one commit",
    )
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("discard", "throw a finished session's work away: remove its worktree and branch, whatever they hold")
    s.add_argument("session")
    s.add_argument("-y", "--yes", action="store_true", help="do not ask (required when stdin is not a terminal)")

    s = cmd("send", "tell an exited session's agent something: a follow-up or review notes (it resumes)")
    s.add_argument("session")
    s.add_argument("message", nargs="?", help="what to tell the agent ('-' reads stdin)")
    s.add_argument(
        "--note",
        action="append",
        default=[],
        metavar="PATH[:LINE]:TEXT",
        help="a review note on a file (repeatable), gathered after the message",
    )
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("respond", "answer what a live agent waits for: a permission request or its questions")
    s.add_argument("session")
    s.add_argument("request", nargs="?", help="the request id (default: the only one it waits for)")
    how = s.add_mutually_exclusive_group()
    how.add_argument("--once", dest="reply", action="store_const", const="once", help="allow it this once")
    how.add_argument("--always", dest="reply", action="store_const", const="always", help="allow it from now on")
    how.add_argument("--reject", dest="reply", action="store_const", const="reject", help="refuse it")
    s.add_argument("-m", "--message", help="with --reject: why, for the agent")
    s.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="LABEL[,LABEL...]",
        help="a question's answer: the picked option label(s), or your own text (repeat once per question)",
    )
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("abort", "stop a live agent's current turn")
    s.add_argument("session")
    s.add_argument("--json", action="store_true", help="print the session as JSON")

    s = cmd("cost", "what the sessions ao started cost, from OpenCode's own records")
    s.add_argument("--project", help="only this project's sessions")
    s.add_argument("--since", metavar="WHEN", help="today, 24h, 7d or a date like 2026-11-01 (default: all time)")
    s.add_argument("--by", choices=("project", "model", "day", "session"), default="project", help="group by")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("hosts", "list the remote hosts (hosts: in the config): reachable?, round trip, tmux and opencode there")
    s.add_argument("host", nargs="?", help="only this host")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("doctor", "say what a remote host is missing for ao's agents, and how to fix it; whether this "
            "machine's shared OpenCode server of live agents runs")  # fmt: skip
    s.add_argument("host", nargs="?", help="the host (default: every host, and this machine's OpenCode server)")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("projects", "list the configured projects")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = cmd("models", "list the models OpenCode offers a project, its default first (for --model)")
    s.add_argument("project", nargs="?", help="project name (default: the project containing the current folder)")
    s.add_argument("--refresh", action="store_true", help="ask OpenCode again instead of this process's cache")
    s.add_argument("--json", action="store_true", help="print JSON")
    return p


DEFAULT_LIMIT = 100


def paging(s: argparse.ArgumentParser) -> None:
    s.add_argument("--running", action="store_true", help="only sessions that have not exited")
    s.add_argument(
        "--limit", type=int, metavar="N", default=DEFAULT_LIMIT, help=f"the newest N sessions (default {DEFAULT_LIMIT})"
    )
    s.add_argument("--all", action="store_true", help="every session, however many")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("config", "state_dir"):
        setattr(args, name, getattr(args, name, None))
    for name in ("verbose", "debug"):
        setattr(args, name, getattr(args, name, False))
    import logging

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return run(args)
    except AoError as e:
        print(f"ao: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
    except Exception as e:  # never a traceback for users
        if args.debug:
            raise
        print(f"ao: internal error: {type(e).__name__}: {e} (rerun with --debug and report it)", file=sys.stderr)
        return 1


def make_orchestrator(args: argparse.Namespace) -> Orchestrator:
    from .config import load_config
    from .orchestrator import Orchestrator
    from .store import default_state_dir

    cfg = load_config(args.config)
    state = Path(args.state_dir).expanduser() if args.state_dir else default_state_dir()
    return Orchestrator(cfg, state)


def _read_text(value: str) -> str:
    return sys.stdin.read() if value == "-" else value


def run(args: argparse.Namespace) -> int:
    orch = make_orchestrator(args)
    c = args.command
    if c == "spawn":
        project, prompt = args.project, args.prompt
        if project is not None and prompt is None and project not in orch.config.projects and args.prompt_file is None:
            project, prompt = None, project  # `ao spawn "task"`: the default project
        if args.prompt_file is not None:
            if prompt is not None:
                raise UsageError("give the prompt as an argument or with --prompt-file, not both")
            try:
                prompt = sys.stdin.read() if args.prompt_file == "-" else Path(args.prompt_file).read_text("utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise UsageError(f"cannot read --prompt-file {args.prompt_file}: {e}") from None
        elif prompt is not None:
            prompt = _read_text(prompt)
        if args.live and args.runtime not in (None, "live"):
            raise UsageError(
                f"--live runs the agent in the shared OpenCode server; it cannot also be --runtime {args.runtime}"
            )
        view = orch.spawn(
            project=project,
            prompt=prompt,
            model=args.model,
            issue_id=args.issue,
            runtime="live" if args.live else args.runtime,
            budget=args.budget,
        )
        print(wire_json(view) if args.json else view.session_id)
        return 0
    if c == "status":
        if args.session:
            page = orch.status(session=args.session, details=args.details)
            _warn(page.warnings)
            v = page.sessions[0]
            if args.json:
                print(wire_json(v))
            elif v.activity == Activity.UNREACHABLE:
                print(f"unreachable since {v.unreachable_since}")
            else:
                print("unknown" if v.activity == Activity.UNKNOWN else v.status)
            return 0
        page = orch.status(project=args.project, details=args.details, **_page(args))
        _warn(page.warnings)
        if args.json:
            print(json.dumps({"sessions": wire(page.sessions)}, indent=2))
        else:
            print_table(page.sessions, introspection_error=orch.introspection_error)
            _more(page.next_cursor)
        return 0
    if c == "list":
        briefs, warnings, more = orch.brief(project=args.project, **_page(args))
        _warn(warnings)
        if args.json:
            print(json.dumps([{"sessionId": v.session_id, "status": v.status.value} for v in briefs], indent=2))
        else:
            print("\n".join(f"{v.session_id}\t{v.status.value}" for v in briefs))
            _more(more)
        return 0
    if c == "attach":
        info = orch.attach(args.session)
        if args.exec and info.type == "live":  # OpenCode's TUI on the session; the password in its env only
            rec = orch.resolve(args.session)
            argv, env = orch.live_runtime(rec).attach_argv(rec)
            sys.stdout.flush()
            try:
                os.execvpe(argv[0], argv, env)
            except OSError as e:
                raise AoError(f"cannot run {argv[0]} attach: {e}") from None
        if args.exec:
            sys.stdout.flush()
            import shutil

            exe = shutil.which(info.argv[0]) or info.argv[0]
            try:
                os.execvp(exe, info.argv)
            except OSError as e:
                raise AoError(f"cannot run {info.command}: {e}") from None
        if args.json:
            print(wire_json(info))
        else:
            print(info.command)
            if info.restore_command:
                print(f"# reopen the OpenCode session: {info.restore_command}", file=sys.stderr)
        return 0
    if c == "kill":
        view = orch.kill(args.session)
        print(wire_json(view) if args.json else f"{view.session_id}\texited ({view.exit_code})")
        if args.cleanup:
            print(orch.cleanup(args.session, force=args.force), file=sys.stderr if args.json else sys.stdout)
        return 0
    if c == "cleanup":
        print(orch.cleanup(args.session, force=args.force))
        return 0
    if c == "logs":
        sys.stdout.write(orch.logs(args.session, args.lines).text)
        return 0
    if c == "resume":
        prompt = _read_text(args.prompt) if args.prompt is not None else None
        view = orch.resume(args.session, prompt)
        print(wire_json(view) if args.json else view.session_id)
        return 0
    if c == "forget":
        sid, left = orch.forget(args.session)
        print(f"forgot {sid}")
        for what in left:
            print(f"ao: left behind: {what}", file=sys.stderr)
        return 0
    if c == "cost":
        report = orch.cost(project=args.project, since=args.since, by=args.by)
        if args.json:
            print(wire_json(report))
        else:
            print_cost(report)
        return 0
    if c in ("hosts", "doctor"):
        return run_hosts(orch, args)
    if c == "projects":
        projs = orch.projects(Path.cwd())
        if args.json:
            print(json.dumps({"source": orch.config.describe_source(), "projects": wire(projs)}, indent=2))
        else:
            print(f"# {orch.config.describe_source()}")
            for p in projs:
                print(f"{p.name}\t{p.path}\t{p.runtime}\t{p.model or '-'}")
        return 0
    if c == "models":
        from .models import models_for

        listed = models_for(orch, args.project, Path.cwd(), refresh=args.refresh)
        if args.json:
            print(wire_json(listed))
        else:
            for name in listed.models:
                print(f"{name}\tdefault" if name == listed.default else name)
        return 0
    if c in ("diff", "merge", "discard", "send"):
        return run_review(orch, args)
    if c in ("respond", "abort"):
        return run_live(orch, args)
    raise UsageError(f"unknown command {c}")


def run_review(orch: Orchestrator, args: argparse.Namespace) -> int:
    """``ao diff``, ``ao merge``, ``ao discard`` and ``ao send``."""
    c = args.command
    if c == "diff":
        if args.stat or (args.json and args.path is None):
            changes = orch.changes(args.session)
            print(wire_json(changes) if args.json else format_stat(changes))
            return 0
        changes, diffs = orch.diffs(args.session, None if args.path is None else [args.path])
        if args.json:
            print(wire_json(diffs[0]))
        elif not changes.files:
            print(f"{changes.session_id} changed nothing", file=sys.stderr)
        else:
            sys.stdout.write("".join(unified(d) for d in diffs))
        return 0
    if c == "merge":
        done = orch.merge(args.session, Strategy(args.strategy))
        print(wire_json(done) if args.json else done.message)
        return 0
    if c == "discard":
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"discarding removes {args.session}'s worktree and branch for good; pass --yes")
            answer = input(f"Remove {args.session}'s worktree and branch, with all its work? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                print("nothing was removed", file=sys.stderr)
                return 1
        print(orch.discard(args.session).message)
        return 0
    message = _read_text(args.message) if args.message is not None else None
    view = orch.send(args.session, message, [parse_note(n) for n in args.note])
    print(wire_json(view) if args.json else f"sent to {view.session_id} (run {view.runs})")
    return 0


def run_hosts(orch: Orchestrator, args: argparse.Namespace) -> int:
    """``ao hosts`` (a table) and ``ao doctor`` (what is missing, with fixes; and, for this machine, the shared
    OpenCode server of live agents); exit 1 when a host has problems."""
    from .runtimes.live_keeper import describe_report, report

    infos = orch.hosts(args.host)
    live = report(orch.store.state_dir, orch.env) if args.command == "doctor" and args.host is None else None
    if args.json:
        print(json.dumps({"hosts": wire(infos), **({"liveServer": live} if live is not None else {})}, indent=2))
        return 0 if args.command == "hosts" or not any(h.problems for h in infos) else 1
    if live is not None:
        print("\n".join(describe_report(live)))
    if not orch.config.hosts:
        print(f"no hosts in {orch.config.describe_source()}; add some, e.g.\n"
              "hosts:\n  - name: build1\n    ssh: dev@build1.example\n"
              "and give a project `host: build1` (its path is then on that host)")  # fmt: skip
        return 0
    if args.command == "hosts":
        rows = [("HOST", "SSH", "STATE", "RTT", "SESSIONS", "TMUX", "OPENCODE")]
        for h in infos:
            state = "ok" if h.reachable and not h.problems else ("problems" if h.reachable else "unreachable")
            rows.append((h.name, h.ssh, state, f"{h.rtt_ms:.0f} ms" if h.rtt_ms is not None else "-",
                         str(h.sessions), h.tmux or "-", h.opencode or "-"))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1])
        for h in infos:
            if not h.reachable:
                print(f"# {h.error}", file=sys.stderr)
        return 0
    bad = 0
    for h in infos:
        if h.reachable:
            print(f"{h.name} ({h.ssh}): reachable, {h.rtt_ms:.0f} ms; {h.tmux or 'no tmux'}; "
                  f"opencode {h.opencode or 'missing'}; {h.python3 or 'no python3'}")  # fmt: skip
        else:
            print(f"{h.name} ({h.ssh}): {h.error}")
        for problem in h.problems:
            print(f"  - {problem}")
        if not h.problems:
            print("  ready: nothing is missing")
        bad += bool(h.problems)
    return 1 if bad else 0


def run_live(orch: Orchestrator, args: argparse.Namespace) -> int:
    """``ao respond`` and ``ao abort``."""
    if args.command == "abort":
        view = orch.abort(args.session)
        print(wire_json(view) if args.json else f"{view.session_id}\taborted its turn")
        return 0
    request = args.request
    if request is None:
        pending = orch.status(session=args.session).sessions[0].pending
        if len(pending) != 1:
            what = ", ".join(f"{r.request_id} ({describe_request(r)})" for r in pending) or "nothing"
            raise UsageError(f"{args.session} waits for {what}; name the request to answer")
        request = pending[0].request_id
    answers = [[a.strip() for a in ans.split(",") if a.strip()] for ans in args.answer] or None
    if args.reply is None and answers is None:
        raise UsageError("say how to answer: --once, --always or --reject for a permission, --answer for questions")
    from .model import Reply

    view = orch.respond(args.session, request, Reply(args.reply) if args.reply else None, args.message, answers)
    print(wire_json(view) if args.json else f"answered {request} of {view.session_id}")
    return 0


def describe_request(r: InputRequest) -> str:
    """One line for a pending request: what a permission wants, or the questions."""
    from .model import RequestKind

    if r.kind == RequestKind.PERMISSION:
        what = r.command or ", ".join(r.patterns) or "(anything)"
        return f"wants to use {r.permission}: {what}"
    return "asks: " + " / ".join(q.question for q in r.questions)


def parse_note(text: str) -> ReviewNote:
    """``PATH:LINE:TEXT`` or ``PATH:TEXT`` (``--note``)."""
    from .model import ReviewNote

    path, sep, rest = text.partition(":")
    if not sep or not path or not rest.strip():
        raise UsageError(f"invalid --note {text[:80]!r}: expected PATH:LINE:TEXT or PATH:TEXT, e.g. src/app.py:12:why?")
    line, sep, body = rest.partition(":")
    if sep and line.isdigit() and int(line) > 0 and body.strip():
        return ReviewNote(path=path, line=int(line), text=body)
    return ReviewNote(path=path, text=rest)


def format_stat(changes: Changes) -> str:
    """``ao diff --stat``: one line a file, then the totals."""
    from .model import Change

    mark = {Change.ADDED: "A", Change.MODIFIED: "M", Change.DELETED: "D", Change.RENAMED: "R"}
    if not changes.files:
        return f"{changes.session_id} changed nothing"
    width = max(len(f"+{f.additions} -{f.deletions}") for f in changes.files)
    lines = []
    for f in changes.files:
        counts = "binary" if f.binary else f"+{f.additions} -{f.deletions}"
        name = f"{f.old_path} -> {f.path}" if f.old_path else f.path
        lines.append(f"{mark[f.status]}  {counts:<{width}}  {name}")
    base = f" against {changes.base.ref} ({(changes.base.commit or '')[:10]})" if changes.base.ref else ""
    n = len(changes.files)
    lines.append(f"{n} file{'s' if n != 1 else ''} changed, +{changes.additions} -{changes.deletions}{base}")
    return "\n".join(lines)


def unified(d: FileDiff) -> str:
    """One file as a unified diff (what ``git diff`` would print for its text)."""
    import difflib

    old, new = d.old_path or d.path, d.path
    head = f"--- {'a/' + old if d.base.exists else '/dev/null'}\n+++ {'b/' + new if d.head.exists else '/dev/null'}\n"
    for side, name in ((d.base, old), (d.head, new)):
        if side.text is None and side.exists:
            why = "too large to show" if side.too_large else "binary"
            return f"{head}# {name}: {why} ({side.size} bytes)\n"
    a = (d.base.text or "").splitlines(keepends=True)
    b = (d.head.text or "").splitlines(keepends=True)
    body = "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(a, b, n=3)
    )
    return head + "".join(body.splitlines(keepends=True)[2:]) if body else head


def _page(args: argparse.Namespace) -> dict[str, Any]:
    if not args.all and args.limit < 1:
        raise UsageError("--limit must be a positive number (or use --all)")
    return {"running": args.running, "limit": None if args.all else args.limit}


def wire_json(value: object) -> str:
    """``--json``: the wire shape of a typed value (what ao-server answers)."""
    return json.dumps(wire(value), indent=2)


def wire(value: object) -> Any:
    """``protocol.to_wire`` (the wire's converter is loaded only by a command that prints JSON)."""
    from .protocol import to_wire

    return to_wire(value)


def _more(more: str | None) -> None:
    if more is not None:
        print(f"# older sessions not shown: use --all, or --limit N (default {DEFAULT_LIMIT})", file=sys.stderr)


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        print(f"ao: warning: {w}", file=sys.stderr)


def age(iso_ts: str | None, now: float | None = None) -> str:
    if not iso_ts:
        return "-"
    t = time.mktime(time.strptime(iso_ts[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    secs = max(0, int((now or time.time()) - t))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if secs >= n:
            return f"{secs // n}{unit}"
    return f"{secs}s"


def cost_text(cost: Cost | None, budget: BudgetState | None = None) -> str:
    if cost is None:
        return "-"
    text = usd(cost.usd)
    if budget is not None:
        text += f" ({100 * budget.fraction:.0f}% of {usd(budget.limit)} {budget.scope})"
    return text


def print_cost(report: CostReport) -> None:
    tok = report.total.tokens
    since = f" since {report.since}" if report.since else ""
    rows = [(report.by.upper(), "SESSIONS", "COST", "INPUT", "OUTPUT")]
    rows += [(g.key, str(g.sessions), usd(g.usd), str(g.tokens.input), str(g.tokens.output)) for g in report.groups]
    rows.append(("total", str(report.total.sessions), usd(report.total.usd), str(tok.input), str(tok.output)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    lim = report.limits
    limits = [f"{k} {usd(v)}" for k, v in (("session", lim.session), ("project", lim.project), ("day", lim.day)) if v]
    print(f"# {report.total.sessions} sessions{since}" + (f"; budgets: {', '.join(limits)}" if limits else ""))


def workspace_text(ws: Workspace | None) -> str:
    if ws is None:
        return "-"
    if ws.removed:
        return f"{ws.branch} (removed)"
    text = ws.branch
    if ws.ahead is not None:
        text += f" +{ws.ahead}" + (" dirty" if ws.dirty else "")
    return text


def status_text(v: Session) -> str:
    from .model import Status

    if v.status == Status.RUNNING:
        if v.activity == Activity.UNREACHABLE:
            return "unreachable"
        return "unknown" if v.activity == Activity.UNKNOWN else "running"
    return f"exited({v.exit_code})" if v.exit_code is not None else "exited"


def print_table(views: list[Session], introspection_error: str | None = None) -> None:
    if not views:
        print('no sessions; start one with: ao spawn <project> "<task>"')
        return
    with_ws = any(v.workspace for v in views)
    rows = [("ID", "STATUS", "ACTIVITY", "RUNTIME", "AGE", "COST", *(("WORKSPACE",) if with_ws else ()), "PROMPT")]
    for v in views:
        prompt = " ".join(v.prompt.split())
        if len(prompt) > 50:
            prompt = prompt[:49] + "…"
        ws = (workspace_text(v.workspace),) if with_ws else ()
        rows.append(
            (
                v.session_id,
                status_text(v),
                v.activity or "-",
                f"ssh:{v.host}" if v.host else v.runtime,
                age(v.created_at),
                cost_text(v.cost, v.budget),
                *ws,
                prompt,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)) + "  " + r[-1])
    if introspection_error:
        print(f"# {introspection_error}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
