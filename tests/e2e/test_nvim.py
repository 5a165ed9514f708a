"""The Neovim plugin (editors/nvim) end to end.

A real headless Neovim (pinned, from scripts/install-neovim.sh) loads the
plugin from editors/nvim and starts the real server through its LSP client;
the server drives the real OpenCode (fake model) in the bed's private tmux.
The test talks to Neovim over its ``--listen`` socket with
``nvim --server SOCK --remote-expr``: each call runs a Lua chunk (sent
hex-encoded, so nothing needs quoting) and returns JSON; keys a person would
type go with ``--remote-send``. The test init wraps ``vim.notify``,
``vim.ui.input``, ``vim.fn.confirm`` and ``vim.ui.select`` (answered from
``T.answers``, ``T.choices`` and ``T.picks``, or left open with ``T.hold``)
and records ``User AoStatusChanged`` and ``User AoInputRequested``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.support.bed import ROOT, Bed, installed, terminate_all, wait_for

from .test_worktree import git, worktree_config

PLUGIN = ROOT / "editors" / "nvim"
INFO, WARN, ERROR = 2, 3, 4  # vim.log.levels

INIT = """
vim.opt.rtp:prepend(%(plugin)s)
_G.T = { notifications = {}, events = {}, inputs = {}, answers = {}, confirms = {}, choices = {}, selects = {},
  picks = {}, requests = {} }
vim.notify = function(msg, level, opts)
  table.insert(T.notifications, { msg = tostring(msg), level = level or vim.log.levels.INFO })
end
vim.ui.input = function(opts, on_confirm)
  table.insert(T.inputs, opts.prompt or "")
  on_confirm(table.remove(T.answers, 1))
end
vim.fn.confirm = function(msg, choices, default)
  table.insert(T.confirms, { msg = msg, choices = choices, default = default })
  return table.remove(T.choices, 1) or 0
end
vim.ui.select = function(items, opts, on_choice)
  table.insert(T.selects, { prompt = opts.prompt or "", items = items })
  if T.hold then -- left open, as a person who has not answered yet: T.release(choice) answers
    T.held = on_choice
    return
  end
  on_choice(table.remove(T.picks, 1))
end
function T.release(choice)
  local cb = T.held
  T.held = nil
  cb(choice)
end
vim.api.nvim_create_autocmd("User", {
  pattern = "AoStatusChanged",
  callback = function(ev) table.insert(T.events, ev.data) end,
})
vim.api.nvim_create_autocmd("User", {
  pattern = "AoInputRequested",
  callback = function(ev) table.insert(T.requests, ev.data) end,
})
function T.run(hex)
  local code = hex:gsub("..", function(h) return string.char(tonumber(h, 16)) end)
  local chunk, err = loadstring(code, "test")
  if not chunk then
    return vim.json.encode({ error = err })
  end
  local ok, value = pcall(chunk)
  if not ok then
    return vim.json.encode({ error = tostring(value) })
  end
  if value == nil then
    value = vim.NIL
  end
  return vim.json.encode({ value = value })
end
require("ao").setup({ cmd = { %(python)s, "-m", "ao_server" }, poll_interval = 0.3 })
"""


def lua_str(text: str) -> str:
    """A Lua string literal for any text (decimal escapes for everything but letters and digits)."""
    return '"' + "".join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\{b:03d}" for b in text.encode()) + '"'


@pytest.fixture(scope="session")
def nvim_binary() -> str:
    """The pinned Neovim, installed on first use by scripts/install-neovim.sh."""
    return installed("install-neovim.sh", "AO_TEST_NVIM", "Neovim")


class Nvim:
    """One headless Neovim in the bed's world, driven over its --listen socket."""

    def __init__(self, binary: str, bed: Bed) -> None:
        self.binary = binary
        self.bed = bed
        self.dir = Path(tempfile.mkdtemp(prefix="ao-nvim-"))  # short: a socket path has ~100 bytes
        self.sock = str(self.dir / "nvim.sock")
        init = self.dir / "init.lua"
        init.write_text(INIT % {"plugin": lua_str(str(PLUGIN)), "python": lua_str(sys.executable)})
        self.log = open(self.dir / "nvim.log", "wb")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([binary, "--headless", "--clean", "-u", str(init), "--listen", self.sock],
                                     cwd=bed.project, env=bed.env, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log)
        wait_for(lambda: os.path.exists(self.sock) and self.lua("return 1") == 1, timeout=30,
                 what="Neovim to listen")

    def lua(self, code: str, timeout: float = 60) -> Any:
        """Run a Lua chunk in Neovim; its return value, decoded from JSON. Lua errors fail the test."""
        expr = f"luaeval('T.run(_A)', '{code.encode().hex()}')"
        out = subprocess.run([self.binary, "--server", self.sock, "--remote-expr", expr], env=self.bed.env,
                             capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if out.returncode != 0 or not out.stdout.strip():
            raise AssertionError(f"nvim --remote-expr failed ({out.returncode}): {out.stderr}{out.stdout}")
        reply = json.loads(out.stdout)
        if "error" in reply:
            raise AssertionError(f"Lua error in Neovim: {reply['error']}\n{code}")
        return reply.get("value")

    def cmd(self, ex: str, timeout: float = 60) -> None:
        self.lua(f"vim.cmd({lua_str(ex)})", timeout=timeout)

    def keys(self, keys: str) -> None:
        """Type `keys` (in Vim's <> notation) as a person would."""
        subprocess.run([self.binary, "--server", self.sock, "--remote-send", keys], env=self.bed.env, check=True,
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)

    def notifications(self) -> list[dict[str, Any]]:
        return self.lua("return T.notifications") or []

    def events(self) -> list[dict[str, Any]]:
        return self.lua("return T.events") or []

    def wait_notification(self, text: str, timeout: float = 60) -> dict[str, Any]:
        return wait_for(lambda: next((n for n in self.notifications() if text in n["msg"]), None), timeout=timeout,
                        interval=0.2, what=f"a vim.notify containing {text!r} ({self.debug()})")

    def messages(self) -> str:
        return str(self.lua('return vim.fn.execute("messages")'))

    def debug(self) -> str:
        """What helps when a wait times out: the notifications and the tail of the LSP log."""
        log = Path(self.bed.env["XDG_STATE_HOME"]) / "nvim" / "lsp.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else "(no lsp.log)"
        try:
            notes = json.dumps(self.notifications())
        except Exception as e:
            notes = f"(unavailable: {e})"
        return f"notifications: {notes}\nlsp.log: {tail}"

    def close(self) -> None:
        """Quit Neovim (which stops its server) and end whatever is left, by PID."""
        procs: list[psutil.Process] = []
        try:
            procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.Error:
            pass
        if self.proc.poll() is None:
            subprocess.run([self.binary, "--server", self.sock, "--remote-send", "<C-\\><C-n>:qa!<CR>"],
                           env=self.bed.env, capture_output=True, timeout=15, stdin=subprocess.DEVNULL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        terminate_all(procs)
        self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def nvim(bed: Bed, nvim_binary: str) -> Iterator[Nvim]:
    nv = Nvim(nvim_binary, bed)
    try:
        yield nv
    finally:
        nv.close()


def no_traceback(nv: Nvim) -> None:
    text = nv.messages() + json.dumps(nv.notifications())
    assert "stack traceback" not in text and ".lua:" not in text, text


def test_spawn_attach_exit_notification_and_status(bed: Bed, nvim: Nvim) -> None:
    assert nvim.lua("return vim.fn.exists(':Ao')") == 2, "plugin/ao.lua did not define :Ao"
    nvim.cmd("Ao spawn my-project Write the nvim notes [[slow:5]]")
    sid = "my-project/agent-1"
    nvim.wait_notification(f"spawned {sid}")
    listed = bed.ao_json("status")["sessions"]
    assert [s["sessionId"] for s in listed] == [sid]
    assert listed[0]["prompt"] == "Write the nvim notes [[slow:5]]"

    # :Ao attach opens a terminal split whose job is the attach command
    attach = bed.ao_json("attach", sid)
    wins_before = nvim.lua("return #vim.api.nvim_list_wins()")
    nvim.cmd(f"Ao attach {sid}")
    term = wait_for(lambda: nvim.lua(
        "local b = vim.api.nvim_get_current_buf()\n"
        "if vim.bo[b].buftype ~= 'terminal' then return nil end\n"
        "local info = vim.api.nvim_get_chan_info(vim.bo[b].channel)\n"
        "return { argv = info.argv, session = vim.b[b].ao_session, title = vim.b[b].term_title,\n"
        "  wins = #vim.api.nvim_list_wins() }"), timeout=30, what="the attach terminal")
    # Neovim reports the resolved executable: /usr/bin/tmux for "tmux"
    assert [shutil.which(term["argv"][0]), *term["argv"][1:]] == [shutil.which(attach["argv"][0]), *attach["argv"][1:]]
    assert attach["argv"][:2] == ["tmux", "-S"] and attach["argv"][2].endswith("/" + bed.tmux_socket)
    assert term["session"] == sid
    assert term["wins"] == wins_before + 1, "attach should open a split"
    wait_for(lambda: bed.tmux("list-clients", "-t", "ao-agent-1").stdout.strip(), timeout=30,
             what="the terminal's tmux client to attach")

    # the exit reaches vim.notify (INFO for a clean exit) and the User autocommand
    event = wait_for(lambda: next((e for e in nvim.events()
                                   if e["sessionId"] == sid and e["status"] == "exited"), None),
                     timeout=90, interval=0.5, what=f"AoStatusChanged exited ({nvim.debug()})")
    assert event["previous"] == "running" and event["exitCode"] == 0
    assert event["outcome"]["result"] == "success"
    done = nvim.wait_notification(f"{sid} finished")
    assert done["level"] == INFO
    assert bed.status_of(sid)["status"] == "exited"

    # :Ao status lists it in a floating window
    nvim.cmd("stopinsert")
    nvim.cmd("Ao status")
    view = wait_for(lambda: nvim.lua(
        "local ui = require('ao.ui')\n"
        "if not ui.is_open() then return nil end\n"
        "local w = vim.api.nvim_get_current_win()\n"
        "return { float = vim.api.nvim_win_get_config(w).relative ~= '',\n"
        "  lines = vim.api.nvim_buf_get_lines(0, 0, -1, false), id = ui.current_id() }"),
        timeout=30, what="the :Ao status window")
    assert view["float"]
    assert view["lines"][0].split() == ["ID", "STATUS", "ACTIVITY", "COST", "AGE", "PROMPT"]
    row = view["lines"][1]
    assert row.startswith(sid) and "exited(0)" in row and "Write the nvim notes" in row
    assert "$" in row, "the cost column is empty"
    assert view["id"] == sid, "the cursor starts on the first session"

    # completion: subcommands, session ids from the last status, projects
    assert nvim.lua("return vim.fn.getcompletion('Ao ', 'cmdline')") == \
        ["abort", "attach", "changes", "cost", "discard", "hosts", "kill", "logs", "merge", "respond", "resume",
         "send", "spawn", "status"]
    assert nvim.lua("return vim.fn.getcompletion('Ao resu', 'cmdline')") == ["resume"]
    assert sid in nvim.lua("return vim.fn.getcompletion('Ao attach ', 'cmdline')")
    assert nvim.lua("return vim.fn.getcompletion('Ao spawn ', 'cmdline')") == ["my-project"]
    assert nvim.lua("return require('ao').statusline()") == "ao: 0 running, 1 exited"

    # :Ao logs shows the agent's output
    nvim.cmd("Ao logs " + sid)
    logs = wait_for(lambda: nvim.lua(
        "if vim.b.ao_session ~= " + lua_str(sid) + " or vim.bo.buftype == 'terminal' then return nil end\n"
        "return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')"), timeout=30, what=":Ao logs")
    assert "exited with code 0" in logs
    no_traceback(nvim)


def test_prompt_is_asked_and_error_outcome_warns(bed: Bed, nvim: Nvim) -> None:
    nvim.lua("T.answers = { 'Break on purpose [[fail]]' }")
    nvim.cmd("Ao spawn my-project")
    sid = "my-project/agent-1"
    nvim.wait_notification(f"spawned {sid}")
    inputs = nvim.lua("return T.inputs")
    assert len(inputs) == 1 and "my-project" in inputs[0]
    assert bed.status_of(sid)["prompt"] == "Break on purpose [[fail]]"
    failed = nvim.wait_notification(f"{sid} failed", timeout=90)
    assert failed["level"] in (WARN, ERROR)
    assert "fake provider failure" in failed["msg"]
    event = next(e for e in nvim.events() if e["status"] == "exited")
    assert event["outcome"]["result"] == "error" and event["exitCode"] != 0
    no_traceback(nvim)


def test_budget_messages_cost_report_and_statusline_spend(bed: Bed, nvim: Nvim) -> None:
    """A $0.10 session budget at $0.03 a step: one WARN at 80 %, an ERROR when ao stops the agent; `:Ao cost`
    and the statusline's spend say what the server's ao/cost says."""
    config = bed.write_config()
    config.write_text(config.read_text() + "budget:\n  session: 0.10\n  day: 5\n")
    assert nvim.lua("return require('ao').statusline({ spend = true })") == ""  # nothing known yet
    nvim.cmd("Ao spawn my-project spend [[steps:12]] [[tokens:20000,5000]] [[slow:1.5]]")
    sid = "my-project/agent-1"
    nvim.wait_notification(f"spawned {sid}")
    stopped = nvim.wait_notification(f"{sid} was stopped: over budget: $0.1", timeout=120)
    assert stopped["level"] == ERROR and stopped["msg"].endswith(" of $0.10 (session)"), stopped
    warnings = [n for n in nvim.notifications() if n["level"] == WARN and "session budget" in n["msg"]]
    assert len(warnings) == 1, nvim.notifications()
    warning = warnings[0]["msg"]
    assert warning.startswith(f"ao: {sid} has spent $0.") and "of its $0.10 session budget" in warning, warning

    # :Ao cost echoes the total, one line per group and the limits; the numbers are the server's
    report = bed.ao_json("cost", "--by", "session", "--since", "today")
    usd = report["total"]["usd"]
    assert usd >= 0.10 and [g["key"] for g in report["groups"]] == [sid]
    nvim.cmd("messages clear")
    nvim.cmd("Ao cost --since today --by session")
    lines = wait_for(lambda: [ln for ln in nvim.messages().splitlines() if ln.strip()] or None, timeout=30,
                     what=":Ao cost output")
    assert lines[0].startswith("ao cost since ") and f" by session: ${usd:.2f}, 1 session, " in lines[0], lines
    assert lines[1].split()[:4] == [sid, f"${usd:.2f}", "1", "session"], lines
    assert lines[-1].strip() == "limits: session $0.10, day $5.00", lines
    nvim.cmd("Ao cost --by week")
    assert nvim.wait_notification("--by must be one of")["level"] == ERROR
    assert nvim.lua("return vim.fn.getcompletion('Ao cost --by ', 'cmdline')") == ["project", "model", "day", "session"]
    assert nvim.lua("return vim.fn.getcompletion('Ao cost --project ', 'cmdline')") == ["my-project"]

    # the statusline shows today's spend from its cache (kept current by status changes)
    want = f"ao: 0 running, 1 exited, today ${usd:.2f} of $5.00"
    spend_line = "return require('ao').statusline({ spend = true })"
    wait_for(lambda: nvim.lua(spend_line) == want, timeout=30, what=f"the statusline {want!r} ({nvim.lua(spend_line)})")
    assert nvim.lua("return require('ao').statusline()") == "ao: 0 running, 1 exited"
    no_traceback(nvim)


def test_server_errors_are_readable_messages(bed: Bed, nvim: Nvim) -> None:
    nvim.cmd("Ao attach my-project/agent-99")
    err = nvim.wait_notification("agent-99")
    assert err["level"] == ERROR and err["msg"].startswith("ao: attach: ")
    nvim.lua("require('ao').spawn({ project = 'no-such-project', prompt = 'x' })")
    err = nvim.wait_notification("no-such-project")
    assert err["level"] == ERROR and err["msg"].startswith("ao: spawn: ")
    nvim.cmd("Ao frobnicate")
    err = nvim.wait_notification("unknown subcommand")
    assert err["level"] == ERROR
    no_traceback(nvim)
    assert bed.ao_json("status")["sessions"] == []


NOWHERE = "ssh://root@127.0.0.1:1"  # port 1 refuses: real ssh, a real failure


def unreachable_host_config(bed: Bed) -> None:
    """my-project, and a project `far` on the host `nowhere`, whose ssh port refuses connections."""
    bed.write_config(extra_project=(
        "  - name: far\n    host: nowhere\n    path: /srv/far\n"
        f"hosts:\n  - name: nowhere\n    ssh: {json.dumps(NOWHERE)}\n"))


HOSTS_VIEW = """
local ui = require("ao.ui")
if not ui.text_open("hosts") then return nil end
local w = vim.api.nvim_get_current_win()
local c = vim.api.nvim_win_get_config(w)
return { float = c.relative ~= "", title = c.title[1][1], name = vim.api.nvim_buf_get_name(0),
  lines = vim.api.nvim_buf_get_lines(0, 0, -1, false), wrap = vim.wo[w].wrap }
"""


def test_hosts_view_and_spawn_on_an_unreachable_host(bed: Bed, nvim: Nvim) -> None:
    """`:Ao hosts` against a host ssh cannot reach: it says so, with ssh's words and the fix; `:Ao spawn` of its
    project is one ERROR naming the host (-32016 for the Lua API) and leaves no session."""
    unreachable_host_config(bed)
    nvim.cmd("Ao hosts")
    view = wait_for(lambda: nvim.lua(HOSTS_VIEW), timeout=60, what=f"the :Ao hosts window ({nvim.debug()})")
    assert view["float"] and view["title"] == " ao hosts " and view["name"] == "ao://hosts" and view["wrap"]
    head, error, fix = view["lines"]
    assert head.startswith(f"nowhere ({NOWHERE}): unreachable since ") and head.endswith("; no running sessions"), head
    assert error.startswith(f"  error: host nowhere ({NOWHERE}) unreachable since "), error
    assert error.endswith("ssh: connect to host 127.0.0.1 port 1: Connection refused"), error
    assert fix == f"  fix: check that `ssh {NOWHERE} true` works without asking anything", fix
    # the same facts as the server's own answer
    (info,) = bed.ao_json("hosts")["hosts"]
    assert info["reachable"] is False and info["sessions"] == 0, info
    assert info["problems"] == [fix[len("  fix: "):]], info

    # R refreshes, q closes; :Ao hosts NAME shows one host; completion offers the names seen
    tick = nvim.lua("return vim.b.changedtick")
    nvim.keys("R")
    wait_for(lambda: nvim.lua(f"return vim.b.changedtick > {tick}"), timeout=60, what="R to refresh the window")
    assert nvim.lua(HOSTS_VIEW)["lines"][0].startswith("nowhere (")
    nvim.keys("q")
    wait_for(lambda: nvim.lua("return not require('ao.ui').text_open('hosts')"), timeout=30, what="q to close")
    assert nvim.lua("return vim.fn.getcompletion('Ao hosts ', 'cmdline')") == ["nowhere"]
    nvim.cmd("Ao hosts nowhere")
    one = wait_for(lambda: nvim.lua(HOSTS_VIEW), timeout=60, what=":Ao hosts nowhere")
    assert one["lines"][0].startswith("nowhere (") and len(one["lines"]) == 3, one
    nvim.keys("q")
    nvim.cmd("Ao hosts nosuch")
    unknown = nvim.wait_notification("no host named 'nosuch'")
    assert unknown["level"] == ERROR and unknown["msg"].startswith("ao: hosts: "), unknown

    # status_view = "quickfix": the same lines in the quickfix list "ao hosts"
    nvim.lua("local o = vim.deepcopy(require('ao').options()); o.status_view = 'quickfix'; require('ao').setup(o)")
    nvim.cmd("Ao hosts")
    qf = wait_for(lambda: nvim.lua(QF % lua_str("ao hosts")), timeout=60, what="the ao hosts quickfix list")
    texts = [i["text"] for i in qf["items"]]
    assert len(texts) == 3 and texts[0].startswith(f"nowhere ({NOWHERE}): unreachable since ") and qf["open"], qf
    assert texts[2] == fix, qf
    nvim.cmd("cclose")

    # a spawn on the host fails at once, naming it, and leaves nothing behind
    nvim.cmd("Ao spawn far Build it over there")
    failed = nvim.wait_notification("ao: spawn: ")
    assert failed["level"] == ERROR, failed
    assert failed["msg"].startswith(f"ao: spawn: host nowhere ({NOWHERE}) unreachable since "), failed
    assert failed["msg"].endswith("Connection refused"), failed
    err = nvim.lua("local r, e = nil, nil\n"
                   "require('ao').spawn({ project = 'far', prompt = 'x' }, function(err) e = err end)\n"
                   "vim.wait(30000, function() return e ~= nil end, 50)\n"
                   "return e and { code = e.code, kind = e.data and e.data.kind }")
    assert err == {"code": -32016, "kind": "HostUnreachable"}, err
    assert bed.ao_json("status")["sessions"] == []
    # the server's poller may have announced the session before the spawn failed and removed it: the plugin
    # forgets it once the server no longer lists it
    wait_for(lambda: nvim.lua("return #require('ao').sessions()") == 0, timeout=30,
             what="the failed spawn's session to leave the plugin's cache")
    assert nvim.lua("return require('ao').statusline()") == ""
    assert not any(n["msg"].startswith("ao: spawned") for n in nvim.notifications()), nvim.notifications()
    no_traceback(nvim)


REMOTE_ROWS = """
local since = os.date("!%Y-%m-%dT%H:%M:%S", os.time() - 300) .. ".000Z"
local away = { sessionId = "far/agent-7", id = "agent-7", project = "far", status = "running", exitCode = vim.NIL,
  activity = "unreachable", runtime = "ssh", host = "build1", unreachableSince = since, prompt = "far away work",
  createdAt = since, cost = vim.NIL, outcome = vim.NIL, pending = {} }
local here = { sessionId = "my-project/agent-8", id = "agent-8", project = "my-project", status = "exited",
  exitCode = 0, activity = "exited", runtime = "tmux", host = vim.NIL, unreachableSince = vim.NIL,
  prompt = "local work", createdAt = since, cost = { usd = 0.01 }, outcome = { result = "success" }, pending = {} }
local ui = require("ao.ui")
local lines = ui.render({ away, here })
local alone = ui.render({ here })
require("ao")._remember({ away, here }, true)
return { lines = lines, alone = alone, clock = ui.clock(since), statusline = require("ao").statusline(),
  label = require("ao.commands").session_label("far/agent-7") }
"""


def test_a_remote_session_shows_its_host_and_unreachable_not_exited(bed: Bed, nvim: Nvim) -> None:
    """The sessions view's rows (ui.render, a pure function, run in Neovim): a session on host build1 whose host
    does not answer says `ssh:build1` and `unreachable since <time>`, and nothing says it exited; local sessions
    alone look as before (no RUNTIME column)."""
    out = nvim.lua(REMOTE_ROWS)
    header, away, here = out["lines"]
    assert header.split() == ["ID", "STATUS", "ACTIVITY", "RUNTIME", "COST", "AGE", "PROMPT"], header
    assert away.startswith("far/agent-7") and f"unreachable since {out['clock']}" in away, away
    assert "ssh:build1" in away and "exited" not in away and away.endswith("far away work"), away
    assert here.split()[:4] == ["my-project/agent-8", "exited(0)", "exited", "tmux"], here
    assert out["alone"][0].split() == ["ID", "STATUS", "ACTIVITY", "COST", "AGE", "PROMPT"], out["alone"]
    assert out["statusline"] == "ao: 1 running (1 unreachable), 1 exited"
    assert out["label"] == f"far/agent-7 (ssh:build1, unreachable since {out['clock']})"


def test_attach_runs_an_ssh_argv_in_a_terminal(bed: Bed, nvim: Nvim) -> None:
    """ao/attach of a remote session is `type: "ssh"`: the terminal runs its argv like any other (here a real
    ssh to a refusing port, which then says why in the terminal)."""
    argv = ["ssh", "-t", "-p", "1", "-o", "BatchMode=yes", "--", "root@127.0.0.1",
            "tmux -S .local/state/ao-server/tmux.sock attach -t =ao-agent-7"]
    info = {"sessionId": "far/agent-7", "type": "ssh", "command": shlex.join(argv), "argv": argv,
            "restoreCommand": None}
    got = nvim.lua(f"local buf, err = require('ao.ui').open_terminal(vim.json.decode({lua_str(json.dumps(info))}))\n"
                   "if not buf then return { err = err } end\n"
                   "return { argv = vim.api.nvim_get_chan_info(vim.bo[buf].channel).argv,\n"
                   "  session = vim.b[buf].ao_session, buftype = vim.bo[buf].buftype }")
    assert "err" not in got, got
    assert got["buftype"] == "terminal" and got["session"] == "far/agent-7"
    assert [shutil.which(got["argv"][0]), *got["argv"][1:]] == [shutil.which("ssh"), *argv[1:]], got
    text = wait_for(lambda: (t := "\n".join(nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")))
                    and "Connection refused" in t and t, timeout=30, what="ssh's own words in the terminal")
    assert "port 1" in text
    no_traceback(nvim)


def test_checkhealth_reports_ok(bed: Bed, nvim: Nvim) -> None:
    nvim.cmd("checkhealth ao", timeout=90)
    lines: list[str] = nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)")
    text = "\n".join(lines)
    assert "ERROR" not in text and "WARNING" not in text, text
    oks = [line for line in lines if "OK" in line]
    for expected in ("Neovim 0.", "server command found", "server starts and answers initialize", "tmux",
                     "opencode", "config found: " + str(bed.project / "agent-orchestrator.yaml"),
                     "config valid: projects my-project"):
        assert any(expected in line for line in oks), f"no OK line with {expected!r}:\n{text}"


def test_checkhealth_says_how_to_install_a_missing_server(bed: Bed, nvim: Nvim) -> None:
    """No ``ao-server`` on PATH: the health report gives the exact install commands for this checkout."""
    path = os.pathsep.join(d for d in bed.env.get("PATH", "").split(os.pathsep)
                           if d and not os.access(os.path.join(d, "ao-server"), os.X_OK))
    nvim.lua(f"vim.env.PATH = {lua_str(path)}; require('ao').setup({{ cmd = {{ 'ao-server' }} }})")
    nvim.cmd("checkhealth ao", timeout=90)
    text = "\n".join(nvim.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert 'ERROR server command "ao-server" not found (not on PATH)' in text, text
    repo = shlex.quote(str(ROOT))
    for command in (f"pipx install {repo}", f"uv tool install {repo}", f"python3 -m pip install {repo}"):
        assert command in text, f"no {command!r} in:\n{text}"
    # and the first :Ao command says so too, in one line, instead of failing obscurely
    nvim.cmd("Ao status")
    err = nvim.wait_notification("was not found")
    assert err["level"] == ERROR and f"pipx install {repo}" in err["msg"], err
    no_traceback(nvim)


def test_model_completion_and_spawn_with_a_range(bed: Bed, nvim: Nvim) -> None:
    """`:Ao spawn --model <Tab>` offers OpenCode's models (default first); `:1,2Ao spawn` sends those lines."""
    nvim.cmd("Ao status")  # starts the server
    wait_for(lambda: nvim.lua("local c = require('ao').get_client(); return c ~= nil and "
                              "require('ao')._state.ready[c.id] == true"), timeout=60, what="the server")
    models = wait_for(lambda: nvim.lua("return vim.fn.getcompletion('Ao spawn --model ', 'cmdline')"), timeout=60,
                      interval=0.5, what="model completion")
    assert models[0] == "fake/fake-model", models
    assert any(m.startswith("opencode/") for m in models), models
    assert nvim.lua("return vim.fn.getcompletion('Ao spawn my-project --model fake/', 'cmdline')") == \
        ["fake/fake-model"]

    notes = bed.project / "notes.py"
    notes.write_text("def login(user):\n    return check(user)\nx = 1\n")
    nvim.cmd(f"edit {notes}")
    nvim.cmd("1,2Ao spawn --model fake/fake-model Add a docstring")
    sid = "my-project/agent-1"
    nvim.wait_notification(f"spawned {sid}")
    session = bed.status_of(sid)
    assert session["model"] == "fake/fake-model"
    assert session["prompt"] == ("Add a docstring\n\nSelected from notes.py:1-2 (" + str(notes) + "):\n"
                                 "```python\ndef login(user):\n    return check(user)\n```\n")
    no_traceback(nvim)


def worktree_project(bed: Bed) -> None:
    """The project as a git repository on main with one tracked file, whose sessions get worktrees."""
    git(bed.project, "init", "-q", "-b", "main")
    git(bed.project, "config", "user.email", "t@example.com")
    git(bed.project, "config", "user.name", "Test")
    (bed.project / "README").write_text("hello\nfrom the base\n")
    (bed.project / ".gitignore").write_text("agent-orchestrator.yaml\n")
    git(bed.project, "add", "README", ".gitignore")
    git(bed.project, "commit", "-q", "-m", "init")
    worktree_config(bed)


QF = """
local q = vim.fn.getqflist({ title = 1, items = 1, winid = 0 })
if q.title ~= %s then return nil end
local items = {}
for _, it in ipairs(q.items) do
  items[#items + 1] = { file = vim.api.nvim_buf_get_name(it.bufnr), text = it.text, data = it.user_data }
end
return { items = items, open = q.winid ~= 0, in_qf = vim.bo.buftype == "quickfix" }
"""

DIFF_TAB = """
if vim.fn.tabpagenr("$") ~= 2 then return nil end
local out = {}
for _, w in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
  local b = vim.api.nvim_win_get_buf(w)
  out[#out + 1] = { name = vim.api.nvim_buf_get_name(b), lines = vim.api.nvim_buf_get_lines(b, 0, -1, false),
    diff = vim.wo[w].diff, buftype = vim.bo[b].buftype, modifiable = vim.bo[b].modifiable,
    filetype = vim.bo[b].filetype }
end
return out
"""


def open_diff_of_first_entry(nvim: Nvim, sid: str) -> Any:
    """`:Ao changes` has shown its list: <CR> on the first entry, then the two windows of the diff tab."""
    wait_for(lambda: (q := nvim.lua(QF % lua_str(f"ao changes: {sid}"))) and q["in_qf"], timeout=30,
             what="the cursor in the changes list")
    nvim.lua("vim.api.nvim_win_set_cursor(0, { 1, 0 })")
    nvim.keys("<CR>")
    return wait_for(lambda: (t := nvim.lua(DIFF_TAB)) and len(t) == 2 and all(w["diff"] for w in t) and t,
                    timeout=30, what=f"the diff tab ({nvim.debug()})")


def test_review_changes_diff_merge_discard_send(bed: Bed, nvim: Nvim) -> None:
    """Issue 14 from Neovim: an agent's changes in the quickfix list, <CR> diffs a file against its base in a
    tab, `:Ao merge` brings the work into main (checked with git) or, conflicting, changes nothing, `:Ao discard`
    removes another session's worktree, `:Ao send` answers the agent, which runs again."""
    worktree_project(bed)
    base_readme = (bed.project / "README").read_text()
    a = bed.ao_json("spawn", "my-project", "rewrite it [[write:README:new text from the agent]]")
    b = bed.ao_json("spawn", "my-project", "add one [[write:added.txt:from agent two]]")
    c = bed.ao_json("spawn", "my-project", "rewrite it too [[write:README:another text]]")
    sid_a, sid_b, sid_c = a["sessionId"], b["sessionId"], c["sessionId"]
    wt_a, wt_b = Path(a["workspace"]["path"]), Path(b["workspace"]["path"])
    for sid in (sid_a, sid_b, sid_c):
        assert bed.wait_exited(sid)["exitCode"] == 0
    head_readme = (wt_a / "README").read_text()
    assert head_readme != base_readme, "the agent did not write README"

    # :Ao changes fills the quickfix list: the file in the worktree, git's line counts
    nvim.cmd(f"Ao changes {sid_a}")
    q = wait_for(lambda: nvim.lua(QF % lua_str(f"ao changes: {sid_a}")), timeout=60,
                 what=f"the changes list ({nvim.debug()})")
    added, deleted = git(wt_a, "diff", "--numstat", "main", "--", "README").split()[:2]
    assert q["items"] == [{"file": str(wt_a / "README"), "text": f"modified +{added} -{deleted}",
                           "data": {"sessionId": sid_a, "path": "README"}}], q
    assert q["open"], "the quickfix window is not open"

    # <CR>: a tab, base on the left (a read-only scratch buffer), the worktree's file on the right, in diff mode
    left, right = open_diff_of_first_entry(nvim, sid_a)
    assert left["name"] == f"ao://{sid_a}/base/README" and left["buftype"] == "nofile" and not left["modifiable"]
    assert left["lines"] == git(bed.project, "show", "main:README").splitlines() == base_readme.splitlines()
    assert right["name"] == str(wt_a / "README") and right["buftype"] == ""
    assert right["lines"] == head_readme.splitlines()

    # an added file: an empty base
    nvim.cmd("tabclose")
    nvim.cmd(f"Ao changes {sid_b}")
    q = wait_for(lambda: nvim.lua(QF % lua_str(f"ao changes: {sid_b}")), timeout=60, what="the second list")
    added_text = (wt_b / "added.txt").read_text()
    assert q["items"] == [{"file": str(wt_b / "added.txt"), "text": f"added +{len(added_text.splitlines())} -0",
                           "data": {"sessionId": sid_b, "path": "added.txt"}}], q
    left, right = open_diff_of_first_entry(nvim, sid_b)
    assert left["name"] == f"ao://{sid_b}/base/added.txt" and left["lines"] == [""]
    assert right["name"] == str(wt_b / "added.txt") and right["lines"] == added_text.splitlines()

    # another quickfix list keeps its own <CR>: it jumps to the entry, no diff
    nvim.cmd("tabclose")
    nvim.lua(f"vim.fn.setqflist({{}}, ' ', {{ title = 'grep', items = {{ {{ filename = "
             f"{lua_str(str(bed.project / 'README'))}, lnum = 2, text = 'x' }} }} }})")
    nvim.cmd("botright copen")
    nvim.keys("<CR>")
    jumped = wait_for(lambda: (r := nvim.lua("return { name = vim.api.nvim_buf_get_name(0), line = vim.fn.line('.'),"
                                            " tabs = vim.fn.tabpagenr('$') }"))["name"] == str(bed.project / "README")
                      and r, timeout=30, what="the jump of a plain quickfix list")
    assert jumped == {"name": str(bed.project / "README"), "line": 2, "tabs": 1}

    # :Ao merge asks (naming main), then main has the agent's README
    before = git(bed.project, "rev-parse", "main").strip()
    nvim.lua("T.choices = { 1 }")
    nvim.cmd(f"Ao merge {sid_a}")
    merged = nvim.wait_notification(f"merged {sid_a} into main")
    assert merged["level"] == INFO
    confirm = nvim.lua("return T.confirms")[-1]
    assert sid_a in confirm["msg"] and "main" in confirm["msg"], confirm
    after = git(bed.project, "rev-parse", "main").strip()
    assert after != before and git(bed.project, "merge-base", "--is-ancestor", before, after) == ""
    assert git(bed.project, "show", "main:README") == head_readme
    assert (bed.project / "README").read_text() == head_readme, "the checkout is not at the merged main"
    # merged: nothing left to review
    nvim.cmd(f"Ao changes {sid_a}")
    nvim.wait_notification(f"{sid_a} changed nothing")

    # a conflicting merge changes nothing; the ERROR names the file
    nvim.lua("T.choices = { 1 }")
    nvim.cmd(f"Ao merge {sid_c}")
    conflict = nvim.wait_notification(f"merging {sid_c} into main conflicts")
    assert conflict["level"] == ERROR and conflict["msg"].endswith("conflicting files:\n  README"), conflict
    assert git(bed.project, "rev-parse", "main").strip() == after
    assert (bed.project / "README").read_text() == head_readme
    errors = [n for n in nvim.notifications() if n["level"] == ERROR]

    # :Ao discard asks with No as the default; No keeps the worktree, yes removes it and its branch
    asked = len(nvim.lua("return T.confirms"))
    nvim.lua("T.choices = { 2, 1 }")
    nvim.cmd(f"Ao discard {sid_b}")
    wait_for(lambda: len(nvim.lua("return T.confirms")) == asked + 1, timeout=30, what="the discard question")
    nvim.cmd(f"Ao discard {sid_b}")
    nvim.wait_notification(f"removed worktree {wt_b}")
    confirms = nvim.lua("return T.confirms")[asked:]
    assert len(confirms) == 2 and all(c["default"] == 2 and sid_b in c["msg"] for c in confirms), confirms
    assert not wt_b.exists()
    assert "ao/agent-2" not in git(bed.project, "branch", "--format=%(refname:short)").split()
    assert len([n for n in nvim.notifications() if "removed worktree" in n["msg"]]) == 1
    assert [n for n in nvim.notifications() if n["level"] == ERROR] == errors, nvim.notifications()

    # :Ao send without a message asks for one; the agent runs again with it
    nvim.lua("T.answers = { 'One more [[write:more.txt:more from the agent]]' }")
    nvim.cmd(f"Ao send {sid_a}")
    nvim.wait_notification(f"sent to {sid_a}")
    assert nvim.lua("return T.inputs")[-1] == f"Message for {sid_a}: "
    assert bed.wait_exited(sid_a)["runs"] == 2
    assert (wt_a / "more.txt").read_text() == "more from the agent"
    no_traceback(nvim)


def test_readme_lazy_spec_defines_ao(nvim_binary: str, tmp_path: Path) -> None:
    """The lazy.nvim spec in editors/nvim/README.md, as lazy.nvim would use it: its config(plugin) defines :Ao."""
    readme = (PLUGIN / "README.md").read_text()
    spec = readme.split("```lua\n", 1)[1].split("```", 1)[0]
    assert 'build = "pipx install --force ."' in spec and 'cmd = "Ao"' in spec, spec
    test = tmp_path / "spec.lua"
    test.write_text(f"local spec = {spec}\nspec.config({{ dir = {lua_str(str(ROOT))} }})\n"
                    "io.stdout:write(vim.fn.exists(':Ao') .. ' ' .. require('ao').options().cmd[1])\n")
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path)}
    out = subprocess.run([nvim_binary, "--headless", "--clean", "-l", str(test)], env=env, capture_output=True,
                         text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and out.stdout == "2 ao-server", out.stdout + out.stderr


def test_lua_unit_checks(nvim_binary: str, tmp_path: Path) -> None:
    """editors/nvim/tests/unit.lua: message levels, formatting, completion, argument parsing (no server)."""
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path)}
    out = subprocess.run([nvim_binary, "--headless", "--clean", "-l", str(PLUGIN / "tests" / "unit.lua")], env=env,
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr


def test_help_tags_are_current_and_help_opens(nvim_binary: str, tmp_path: Path) -> None:
    """doc/tags is committed so `:help ao` works with a plain runtimepath; it must match doc/ao.txt."""
    doc = tmp_path / "doc"
    shutil.copytree(PLUGIN / "doc", doc)
    (doc / "tags").unlink()
    env = {**os.environ, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path)}
    subprocess.run([nvim_binary, "--headless", "--clean", "-c", f"helptags {doc}", "-c", "qa!"], env=env,
                   check=True, timeout=30, capture_output=True, stdin=subprocess.DEVNULL)
    assert (doc / "tags").read_text() == (PLUGIN / "doc" / "tags").read_text(), \
        "editors/nvim/doc/tags is stale: run  nvim --headless --clean -c 'helptags editors/nvim/doc' -c q"
    out = subprocess.run([nvim_binary, "--headless", "--clean", "--cmd", f"set rtp^={PLUGIN}", "-c", "help ao",
                          "-c", "lua io.stdout:write(vim.fn.expand('%:t') .. ':' .. vim.fn.getline('.'))", "-c",
                          "qa!"], env=env, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.stdout.startswith("ao.txt:") and "*ao*" in out.stdout, out.stdout + out.stderr


def test_a_live_agent_asks_and_is_answered_from_neovim(bed: Bed, nvim: Nvim) -> None:
    """Issue 12 from Neovim: a live agent's bash call waits for permission; `User AoInputRequested` fires and
    vim.ui.select asks; "Allow once" runs the command, "Reject" (with a reason, or with none) does not, and the
    session exits either way."""
    cfg = bed.root / "config" / "opencode" / "opencode.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "permission": {"bash": "ask"}}))
    bed.write_config(runtime="process")
    nvim.lua("T.picks = { 'Allow once' }")
    nvim.cmd("Ao spawn --live my-project run it [[bash:echo hi > ran.txt]]")
    req = wait_for(lambda: (r := nvim.lua("return T.requests")) and r[0], timeout=90,
                   what=f"User AoInputRequested ({nvim.debug()})")
    sid = req["sessionId"]
    assert req["request"]["kind"] == "permission" and req["request"]["command"] == "echo hi > ran.txt"
    selects = wait_for(lambda: nvim.lua("return T.selects"), timeout=30, what="the prompt")
    assert selects[0]["prompt"] == f"{sid} wants to run `echo hi > ran.txt`"
    assert selects[0]["items"] == ["Allow once", "Always", "Reject"]
    wait_for(lambda: (bed.project / "ran.txt").exists(), timeout=90, what="the allowed command to run")
    assert bed.wait_exited(sid)["exitCode"] == 0
    assert any(n["msg"] == f"ao: answered {sid}" for n in nvim.notifications())

    nvim.lua("T.picks = { 'Reject' }; T.answers = { 'not now' }")
    nvim.cmd("Ao spawn --live my-project again [[bash:echo no > ran2.txt]]")
    second = wait_for(lambda: (r := nvim.lua("return T.requests")) and len(r) > 1 and r[1], timeout=90,
                      what="the second request")
    ended = bed.wait_exited(second["sessionId"])
    assert not (bed.project / "ran2.txt").exists()
    assert ended["outcome"]["result"] == "incomplete" and ended["outcome"]["error"].endswith("(not now)")
    assert len(nvim.lua("return T.selects")) == 2, "each request is put to the user once"

    # "Reject" with no reason (the input left empty): OpenCode ends the turn at once, and the session exits
    nvim.lua("T.picks = { 'Reject' }; T.answers = { '' }")
    nvim.cmd("Ao spawn --live my-project once more [[bash:echo none > ran3.txt]]")
    third = wait_for(lambda: (r := nvim.lua("return T.requests")) and len(r) > 2 and r[2], timeout=90,
                     what="the third request")
    ended3 = bed.wait_exited(third["sessionId"])
    assert not (bed.project / "ran3.txt").exists()
    assert ended3["exitCode"] == 0, ended3
    assert ended3["outcome"]["result"] == "incomplete", ended3["outcome"]
    assert ended3["outcome"]["error"] == "rejected: bash echo none > ran3.txt"
    assert len(nvim.lua("return T.selects")) == 3
    no_traceback(nvim)


def ask_live(bed: Bed) -> None:
    """The bed's OpenCode asks before any bash command (the `ask` permission)."""
    cfg = bed.root / "config" / "opencode" / "opencode.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "permission": {"bash": "ask"}}))
    bed.write_config(runtime="process")


def test_live_questions_respond_send_abort_from_neovim(bed: Bed, nvim: Nvim) -> None:
    """A question answered with vim.ui.select; :Ao send to the finished live agent; prompt_input = false, the
    statusline and :Ao respond; a request answered elsewhere while the prompt is open; :Ao abort."""
    ask_live(bed)

    def models() -> list[dict[str, Any]]:
        return list(bed.model.requests)

    # a question: one select over its options; the agent gets the answer and finishes
    nvim.lua("T.picks = { 'SQLite' }")
    nvim.cmd("Ao spawn --live my-project ask [[question:Which database?|Postgres|SQLite]]")
    req = wait_for(lambda: (r := nvim.lua("return T.requests")) and r[0], timeout=90,
                   what=f"User AoInputRequested ({nvim.debug()})")
    sid = req["sessionId"]
    assert req["request"]["kind"] == "question"
    select = wait_for(lambda: nvim.lua("return T.selects[1]"), timeout=30, what="the question's prompt")
    assert select == {"prompt": f"{sid} asks: Which database?", "items": ["Postgres", "SQLite"]}
    assert bed.wait_exited(sid)["exitCode"] == 0
    assert any("SQLite" in r["tool_result"] for r in models() if r.get("tool_result"))

    # :Ao send to the finished live agent: the same OpenCode session runs again
    ses = bed.status_of(sid)["opencodeSessionId"]
    nvim.cmd(f"Ao send {sid} and one more thing [[slow:0]]")
    nvim.wait_notification(f"sent to {sid}")
    wait_for(lambda: bed.status_of(sid)["runs"] == 2, timeout=30, what="the follow-up to run")
    again = bed.wait_exited(sid)
    assert again["exitCode"] == 0 and again["opencodeSessionId"] == ses
    assert any("and one more thing" in (r.get("user") or "") for r in models())

    # prompt_input = false: a notification and the statusline; :Ao respond (no id: the waiting one) asks
    nvim.lua("local o = vim.deepcopy(require('ao').options()); o.prompt_input = false; require('ao').setup(o)")
    nvim.cmd("Ao spawn --live my-project run it [[bash:echo hi > ran3.txt]]")
    asked = nvim.wait_notification("wants to run `echo hi > ran3.txt`", timeout=90)
    sid3 = asked["msg"].split(" ")[1]
    assert asked == {"msg": f"ao: {sid3} wants to run `echo hi > ran3.txt` (:Ao respond {sid3})", "level": WARN}
    assert len(nvim.lua("return T.selects")) == 1, "prompt_input = false: no prompt"
    wait_for(lambda: nvim.lua("return require('ao').statusline()") == "ao: 1 running (1 waiting), 1 exited",
             timeout=30, what="the statusline to show the waiting agent")
    nvim.lua("T.picks = { 'Always' }")
    nvim.cmd("Ao respond")
    wait_for(lambda: (bed.project / "ran3.txt").exists(), timeout=60, what="the command allowed with Always")
    assert nvim.lua("return T.selects[2].prompt") == f"{sid3} wants to run `echo hi > ran3.txt`"
    assert bed.wait_exited(sid3)["exitCode"] == 0
    nvim.cmd(f"Ao respond {sid3}")
    nvim.wait_notification(f"{sid3} waits for nothing")
    # "Always" allowed what the request's `always` lists (`echo *`) from now on: the next echo does not ask
    assert nvim.lua("return T.requests[2].request.always") == ["echo *"]
    nvim.cmd("Ao spawn --live my-project and again [[bash:echo yes > ran5.txt]]")
    wait_for(lambda: (bed.project / "ran5.txt").exists(), timeout=60, what="the always-allowed command to run")
    assert len(nvim.lua("return T.requests")) == 2

    # the prompt is open when the request is answered elsewhere (the CLI): answering it then is only INFO
    # (not `echo`: that is allowed now)
    nvim.lua("local o = vim.deepcopy(require('ao').options()); o.prompt_input = true; require('ao').setup(o);"
             " T.hold = true")
    nvim.cmd("Ao spawn --live my-project once more [[bash:printf no > ran4.txt]]")
    wait_for(lambda: nvim.lua("return T.held ~= nil"), timeout=90, what="the open prompt")
    sid4 = nvim.lua("return T.requests[#T.requests].sessionId")
    assert bed.ao("respond", sid4, "--reject", "-m", "from the CLI").returncode == 0
    nvim.lua("T.release('Allow once')")
    late = nvim.wait_notification(f"{sid4} no longer waits for this answer")
    assert late["level"] == INFO
    bed.wait_exited(sid4)
    assert not (bed.project / "ran4.txt").exists()

    # :Ao abort stops a live turn in progress
    nvim.cmd("Ao spawn --live my-project think long [[slow:60]]")
    wait_for(lambda: any("think long" in (r.get("user") or "") for r in models()), timeout=60,
             what="the slow turn to reach the model")
    sid5 = next(s["sessionId"] for s in bed.ao_json("status")["sessions"] if "think long" in s["prompt"])
    nvim.cmd(f"Ao abort {sid5}")
    nvim.wait_notification(f"aborted the turn of {sid5}")
    assert bed.wait_exited(sid5)["outcome"]["result"] != "success"
    assert len(nvim.lua("return T.requests")) == 3 and len(nvim.lua("return T.selects")) == 3
    no_traceback(nvim)
