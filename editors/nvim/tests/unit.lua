-- Pure-Lua checks of ao.nvim (no server): run with
--   nvim --headless --clean -l editors/nvim/tests/unit.lua
-- Exits non-zero on the first failure. tests/e2e/test_nvim.py runs it; the end-to-end tests there cover the
-- rest against the real server.

local here = vim.fs.dirname(vim.fs.normalize(debug.getinfo(1, "S").source:sub(2)))
vim.opt.rtp:prepend(vim.fs.dirname(here))

local notes = {}
vim.notify = function(msg, level)
  notes[#notes + 1] = { msg = msg, level = level }
end

local ao = require("ao")
ao.setup({ cmd = { "ao-server-absent-in-unit-tests" } }) -- completion would start a real server otherwise
local ui = require("ao.ui")
local commands = require("ao.commands")
local L = vim.log.levels
local passed = 0

local function eq(got, want, what)
  if not vim.deep_equal(got, want) then
    error(("%s: got %s, want %s"):format(what, vim.inspect(got), vim.inspect(want)), 2)
  end
  passed = passed + 1
end

-- notifications: level by outcome ----------------------------------------------------------------
local function change(p)
  return { ao.describe_change(vim.tbl_extend("force", { sessionId = "p/agent-1", project = "p" }, p)) }
end
eq(change({ previous = "running", status = "exited", exitCode = 0, outcome = { result = "success" } }),
  { "p/agent-1 finished (exit code 0)", L.INFO }, "clean exit")
eq(change({ previous = "running", status = "exited", exitCode = 1, outcome = { result = "error", error = "boom" } }),
  { "p/agent-1 failed (exit code 1): boom", L.ERROR }, "error outcome")
eq(change({ previous = "running", status = "exited", exitCode = 143, outcome = { result = "killed" } }),
  { "p/agent-1 was killed", L.WARN }, "killed")
eq(change({ previous = "running", status = "exited", exitCode = 2, outcome = { result = "unknown" } }),
  { "p/agent-1 exited with code 2", L.WARN }, "non-zero exit, unknown outcome")
eq(change({ previous = "running", status = "exited", exitCode = vim.NIL, outcome = vim.NIL }),
  { "p/agent-1 exited", L.INFO }, "exit without code")
eq(change({ previous = vim.NIL, status = "running" }), { "p/agent-1 started", L.INFO }, "started elsewhere")
eq(change({ previous = "exited", status = "running" }), { "p/agent-1 is running again", L.INFO }, "resumed")
eq(change({ previous = "running", status = "running", activity = "idle" }), {}, "activity only: no message")
ao._state.spawned_here["p/agent-1"] = true
eq(change({ previous = vim.NIL, status = "running" }), {}, "spawned here: no 'started'")
ao._state.spawned_here = {}

-- spending: the over-budget stop is an ERROR, the 80 % warning comes once per budget -----------------------
local cost = require("ao.cost")
eq(change({ previous = "running", status = "exited", exitCode = 143,
  outcome = { result = "over_budget", error = "over budget: $2.03 of $2.00 (session)" } }),
  { "p/agent-1 was stopped: over budget: $2.03 of $2.00 (session)", L.ERROR }, "over budget")
local function at(sid, usd, limit, scope)
  return { sessionId = sid, project = "p", status = "running", previous = "running",
    budget = { usd = usd, limit = limit, scope = scope or "session", fraction = usd / limit } }
end
eq({ cost.budget_warning(at("p/agent-1", 1.0, 2)) }, {}, "below 80 %: nothing")
eq({ cost.budget_warning(at("p/agent-1", 1.62, 2)) },
  { "p/agent-1 has spent $1.62, 81% of its $2.00 session budget; ao stops it at $2.00", L.WARN }, "80 %: a warning")
eq({ cost.budget_warning(at("p/agent-1", 1.9, 2)) }, {}, "later changes: no second warning")
eq(cost.budget_warning(at("p/agent-2", 41, 50, "project")),
  "project p has spent $41.00, 82% of its $50.00 budget; ao stops its agents at $50.00", "project budget")
eq({ cost.budget_warning(at("p/agent-3", 42, 50, "project")) }, {}, "a shared budget warns once")
local stopped = at("p/agent-4", 2.03, 2)
stopped.status, stopped.outcome = "exited", { result = "over_budget", error = "over budget" }
eq({ cost.budget_warning(stopped) }, {}, "the stop itself: the exit's ERROR, no warning")
eq(cost.budget_text({ usd = 1.2, limit = 2, scope = "session", fraction = 0.6 }), "60% of $2.00 session budget", "budget")
eq(cost.budget_text({ usd = 45, limit = 50, scope = "day", fraction = 0.9 }), "90% of $50.00 daily budget", "day")
eq(cost.budget_text(vim.NIL), nil, "no budget")

-- :Ao cost: flags, the report's lines, completion of the flags' values -------------------------------------
eq(cost.parse("--since today --by=model --project p"), { since = "today", by = "model", project = "p" }, "flags")
eq(cost.parse(""), {}, "no flags")
eq(select(2, cost.parse("--by week")), "--by must be one of project, model, day, session, got \"week\"", "bad --by")
eq(select(2, cost.parse("--since")), "--since needs a value", "flag without a value")
eq(select(2, cost.parse("today")) ~= nil, true, "a bare word is an error")
local tokens = { input = 1500, output = 500, reasoning = 0, cacheRead = 0, cacheWrite = 0 }
eq(cost.render({
  since = "2026-11-26T00:00:00.000Z", by = "project",
  total = { usd = 1.234, tokens = tokens, sessions = 3 },
  groups = { { key = "my-project", usd = 1.2, tokens = tokens, sessions = 2 },
    { key = "other", usd = 0.034, tokens = tokens, sessions = 1 } },
  limits = { session = 2, project = vim.NIL, day = 50 },
}), {
  "ao cost since 2026-11-26 00:00 by project: $1.23, 3 sessions, 2.0k tokens",
  "  my-project  $1.20  2 sessions  2.0k tokens",
  "  other       $0.03  1 session   2.0k tokens",
  "  limits: session $2.00, day $50.00",
}, "cost report")
eq(cost.render({ since = vim.NIL, by = "day", total = { usd = 0, tokens = tokens, sessions = 0 }, groups = {},
  limits = { session = vim.NIL, project = vim.NIL, day = vim.NIL } }),
  { "ao cost since all time by day: $0.00, 0 sessions, 2.0k tokens", "  nothing spent" }, "empty report")

-- errors are one readable line ----------------------------------------------------------------------
eq(ao.error_text({ code = -32004, message = "unknown session p/agent-9" }), "unknown session p/agent-9", "rpc error")
eq(ao.error_text("/x/y/init.lua:12: bad thing\nstack traceback:\n\t[C]: in ?"), "bad thing", "lua error")

-- formatting ---------------------------------------------------------------------------------------
eq(ui.cost(nil), "-", "no cost")
eq(ui.cost({ usd = 0 }), "$0.00", "zero cost")
eq(ui.cost({ usd = 1.234 }), "$1.23", "cost")
eq(ui.cost({ usd = 0.00002 }), "$0.00002", "tiny cost")
local now = os.time()
eq(ui.age(os.date("!%Y-%m-%dT%H:%M:%S", now - 125) .. ".000Z"), "2m", "age in minutes")
eq(ui.age(os.date("!%Y-%m-%dT%H:%M:%S", now - 3 * 86400) .. ".000Z"), "3d", "age in days")
eq(ui.age(nil), "-", "no age")
eq(ui.status_text({ status = "exited", exitCode = 1, outcome = { result = "error" } }), "exited(1) error", "status")
eq(ui.status_text({ status = "running" }), "running", "running")
local lines, ids = ui.render({
  { sessionId = "p/agent-2", status = "running", activity = "active", prompt = "two\nlines", cost = vim.NIL },
})
eq(#lines, 2, "header and one row")
eq(vim.split(lines[2], "%s+"), { "p/agent-2", "running", "active", "-", "-", "two", "lines" }, "row cells")
eq(ids, { [2] = "p/agent-2" }, "line to id")

-- statusline and completion from what was seen ----------------------------------------------------------
eq(ao.statusline(), "", "empty statusline")
ao._remember({
  { sessionId = "p/agent-1", project = "p", status = "exited", createdAt = "2025-01-01T00:00:01.000Z" },
  { sessionId = "p/agent-2", project = "p", status = "running", createdAt = "2025-01-01T00:00:02.000Z" },
}, true)
ao._remember_list({ projects = { { name = "p" }, { name = "q" } }, sessions = {} })
eq(ao.statusline(), "ao: 1 running, 1 exited", "statusline")
eq(ao.statusline({ spend = true }), "ao: 1 running, 1 exited", "spend not known yet: left out")
cost._set_today({ since = "x", by = "project", total = { usd = 1.234, tokens = tokens, sessions = 2 }, groups = {},
  limits = { session = vim.NIL, project = vim.NIL, day = 50 } })
eq(ao.statusline({ spend = true }), "ao: 1 running, 1 exited, today $1.23 of $50.00", "statusline with today's spend")
eq(ao.statusline(), "ao: 1 running, 1 exited", "spend only when asked")
eq(commands.complete("", "Ao cost ", 8), { "--project", "--since", "--by" }, "cost flags")
eq(commands.complete("", "Ao cost --since today ", 22), { "--project", "--by" }, "flags not given yet")
eq(commands.complete("", "Ao cost --by ", 13), { "project", "model", "day", "session" }, "--by values")
eq(commands.complete("20", "Ao cost --since 20", 18), { os.date("%Y-%m-%d") }, "--since: today's date")
eq(commands.complete("t", "Ao cost --since t", 17), { "today" }, "--since values")
eq(commands.complete("", "Ao cost --project ", 18), { "p", "q" }, "--project values")
eq(commands.complete("", "Ao ", 3),
  { "abort", "attach", "changes", "cost", "discard", "hosts", "kill", "logs", "merge", "respond", "resume", "send",
    "spawn", "status" }, "subcommands")
eq(commands.complete("k", "Ao k", 4), { "kill" }, "subcommand prefix")
eq(commands.complete("", "Ao kill ", 8), { "p/agent-2" }, "kill offers running sessions")
eq(commands.complete("", "Ao resume ", 10), { "p/agent-1" }, "resume offers exited sessions")
eq(commands.complete("", "Ao attach ", 10), { "p/agent-2", "p/agent-1" }, "attach offers all, newest first")
eq(commands.complete("q", "Ao spawn q", 10), { "q" }, "projects")
eq(commands.complete("", "Ao spawn p ", 11), {}, "nothing after the project")

eq(commands.complete("", "Ao changes ", 11), { "p/agent-2", "p/agent-1" }, "changes offers all sessions")
eq(commands.complete("", "Ao merge p/agent-1 ", 19), { "auto", "ff", "merge", "squash" }, "merge strategies")
eq(commands.complete("s", "Ao merge s", 10), { "squash" }, "a strategy first")
eq(commands.complete("", "Ao discard ", 11), { "p/agent-1" }, "discard offers exited sessions")

-- reviewing changes: the quickfix text and items, the arguments of merge and send, the diff sides ------------
local review = require("ao.review")
eq(review.file_text({ path = "a.py", status = "modified", additions = 12, deletions = 3, binary = false,
  oldPath = vim.NIL }), "modified +12 -3", "modified")
eq(review.file_text({ path = "n.txt", status = "added", additions = 1, deletions = 0, binary = false }),
  "added +1 -0", "added")
eq(review.file_text({ path = "b.py", status = "renamed", additions = 0, deletions = 0, binary = false,
  oldPath = "a.py" }), "renamed from a.py", "pure rename")
eq(review.file_text({ path = "b.py", status = "renamed", additions = 2, deletions = 1, binary = false,
  oldPath = "a.py" }), "renamed from a.py +2 -1", "rename with edits")
eq(review.file_text({ path = "logo.png", status = "deleted", additions = 0, deletions = 0, binary = true }),
  "deleted binary", "binary")
eq(review.tree_of({ workdir = "/w/p", workspace = vim.NIL }), "/w/p", "no worktree: the workdir")
eq(review.tree_of({ workdir = "/w/p", workspace = { path = "/s/wt/agent-3", removed = false } }), "/s/wt/agent-3",
  "the worktree")
eq(review.qf_items({ sessionId = "p/agent-3", files = {
  { path = "src/a b.py", status = "added", additions = 2, deletions = 0, binary = false },
} }, "/s/wt/agent-3/"), { { filename = "/s/wt/agent-3/src/a b.py", lnum = 1, text = "added +2 -0",
  user_data = { sessionId = "p/agent-3", path = "src/a b.py" } } }, "quickfix items")
eq(review.parse_merge(""), {}, "merge: nothing given")
eq(review.parse_merge("p/agent-3 squash"), { id = "p/agent-3", strategy = "squash" }, "merge: id and strategy")
eq(review.parse_merge("ff agent-3"), { id = "agent-3", strategy = "ff" }, "merge: either order")
eq(select(2, review.parse_merge("p/agent-3 rebase")):find('"rebase"', 1, true) ~= nil, true, "merge: unknown strategy")
eq(select(2, review.parse_merge("rebase")):find("neither a session id", 1, true) ~= nil, true, "merge: a typo")
eq(select(2, review.parse_merge("agent-1 agent-2")) ~= nil, true, "merge: two sessions")
eq(review.parse_send("p/agent-3 Please also add tests"), { id = "p/agent-3", message = "Please also add tests" },
  "send: id and message")
eq(review.parse_send("agent-3"), { id = "agent-3" }, "send: id only")
eq(review.parse_send("agent-3 'quoted | text'"), { id = "agent-3", message = "quoted | text" }, "send: quotes")
eq(review.parse_send("Fix the typo"), { message = "Fix the typo" }, "send: no id")
eq(review.lines("a\nb\n"), { "a", "b" }, "lines")
eq(review.lines(""), {}, "empty text")
eq(review.lines("no newline"), { "no newline" }, "no final newline")
eq({ review.side_content({ exists = false, binary = false, size = 0, text = vim.NIL, tooLarge = false }, "base") },
  { {}, "(not in the base: added)" }, "absent base: empty")
eq({ review.side_content({ exists = true, binary = true, size = 12, text = vim.NIL, tooLarge = false }, "head") },
  { { "binary file (12 bytes): not shown" }, "(binary)" }, "binary side")
eq(review.side_content({ exists = true, binary = false, size = 2 ^ 21, text = vim.NIL, tooLarge = true }, "head")[1],
  "file too large to show (2097152 bytes)", "too large side")

-- :Ao spawn argument parsing (server calls stubbed) -----------------------------------------------------
local spawned, asked = {}, {}
ao.list = function(cb)
  cb(nil, {})
end
ao.spawn = function(opts)
  spawned[#spawned + 1] = opts
end
vim.ui.input = function(opts, cb)
  asked[#asked + 1] = opts.prompt
  cb("typed task")
end
commands.run({ args = "spawn p Add tests [[slow:1]]" })
commands.run({ args = "spawn Fix the flaky test" })
commands.run({ args = "spawn q \"quoted | prompt\"" })
commands.run({ args = "spawn p" })
eq(spawned, {
  { project = "p", prompt = "Add tests [[slow:1]]" },
  { prompt = "Fix the flaky test" },
  { project = "q", prompt = "quoted | prompt" },
  { project = "p", prompt = "typed task" },
}, "spawn arguments")
eq(#asked, 1, "asked for the prompt once")

-- --model, in either order with the project; completion of its value from ao/models ----------------------
spawned, asked = {}, {}
commands.run({ args = "spawn --model fake/fake-model p Add tests" })
commands.run({ args = "spawn p --model=x/y Fix it" })
commands.run({ args = "spawn --model" })
eq(spawned, {
  { project = "p", model = "fake/fake-model", prompt = "Add tests" },
  { project = "p", model = "x/y", prompt = "Fix it" },
}, "spawn --model")
eq(notes[#notes].msg:find("--model needs a model", 1, true) ~= nil, true, "--model without a value")
local asked_models = {}
ao.models_sync = function(project)
  asked_models[#asked_models + 1] = project or "(default)"
  return { "fake/fake-model", "opencode/big-pickle" }
end
eq(commands.complete("", "Ao spawn --model ", 17), { "fake/fake-model", "opencode/big-pickle" }, "models")
eq(commands.complete("op", "Ao spawn p --model op", 21), { "opencode/big-pickle" }, "models by prefix")
eq(asked_models, { "(default)", "p" }, "models of the named project")
eq(commands.complete("--", "Ao spawn --", 11), { "--live", "--model", "--run" }, "the options")

-- live agents: --live/--run, and what a request says -------------------------------------------------------
spawned = {}
commands.run({ args = "spawn --live p Run the tests" })
commands.run({ args = "spawn p --run Plain" })
eq(spawned, {
  { project = "p", prompt = "Run the tests", runtime = "live" },
  { project = "p", prompt = "Plain" },
}, "spawn --live / --run")
local live = require("ao.live")
eq(live.describe("p/agent-3", { requestId = "per_1", kind = "permission", permission = "bash", patterns = { "npm test" },
  command = "npm test", always = {}, questions = {} }), "p/agent-3 wants to run `npm test`", "a bash permission")
eq(live.describe("p/agent-3", { requestId = "per_2", kind = "permission", permission = "edit", patterns = { "a.py" },
  command = vim.NIL, always = {}, questions = {} }), "p/agent-3 wants to use edit: a.py", "another permission")
eq(live.describe("p/agent-3", { requestId = "que_1", kind = "question", permission = vim.NIL, patterns = {},
  command = vim.NIL, always = {}, questions = { { question = "Which database?", options = {} } } }),
  "p/agent-3 asks: Which database?", "a question")
eq(live.split_answers(" Postgres, SQLite ,, "), { "Postgres", "SQLite" }, "comma-separated answers")
eq(live.split_answers(""), {}, "no answer")
local db = { question = "Which database?", options = { { label = "Postgres" }, { label = "SQLite" } }, multiple = false }
eq(live.question_prompt("p/agent-3", db), "p/agent-3 asks: Which database?", "a question's prompt")
eq(live.question_prompt("p/agent-3", vim.tbl_extend("force", db, { multiple = true })),
  "p/agent-3 asks: Which database? (one or more of Postgres, SQLite, comma-separated) ", "several answers")
eq(live.question_prompt("p/agent-3", { question = "Name it?", options = {}, multiple = false }),
  "p/agent-3 asks: Name it? ", "free text")

-- what the prompts send: the real ones go to the server in tests/e2e/test_nvim.py; here the answers' shape
-- for questions the fake model cannot ask (several questions, several answers), and one prompt at a time
do
  local real_request, real_select, real_input = ao.request, vim.ui.select, vim.ui.input
  local sent, selects, inputs, pending_select = {}, {}, {}, nil
  ao.request = function(method, params, cb)
    sent[#sent + 1] = { method, params }
    cb(nil, { sessionId = params.sessionId })
  end
  vim.ui.select = function(items, opts, on_choice)
    selects[#selects + 1] = opts.prompt
    pending_select = function(i)
      on_choice(items[i])
    end
  end
  vim.ui.input = function(opts, on_confirm)
    inputs[#inputs + 1] = opts.prompt
    on_confirm("Postgres, SQLite")
  end
  live.ask("p/agent-3", { requestId = "que_2", kind = "question", questions = {
    db, vim.tbl_extend("force", db, { question = "Which caches?", multiple = true }) } })
  pending_select(2)
  eq(sent[#sent], { "ao/respond", { sessionId = "p/agent-3", requestId = "que_2",
    answers = { { "SQLite" }, { "Postgres", "SQLite" } } } }, "one answer list per question")
  eq(inputs, { "p/agent-3 asks: Which caches? (one or more of Postgres, SQLite, comma-separated) " }, "input")
  live.ask("p/agent-3", { requestId = "que_3", kind = "question", questions = {
    { question = "Name it?", options = {}, multiple = false } } })
  eq(sent[#sent][2].answers, { { "Postgres, SQLite" } }, "free text is one answer, commas and all")

  -- two agents ask at once: the second prompt waits for the first answer; a repeated request is not asked again
  selects, sent = {}, {}
  local function note(sid, id)
    live._on_input_requested(nil, { sessionId = sid, project = "p", at = "x", request = { requestId = id,
      kind = "permission", permission = "bash", patterns = { "make" }, command = "make", always = {},
      questions = {} } })
  end
  note("p/agent-4", "per_4")
  note("p/agent-5", "per_5")
  note("p/agent-4", "per_4")
  vim.wait(50, function() return false end)
  eq(selects, { "p/agent-4 wants to run `make`" }, "one prompt at a time")
  pending_select(1)
  vim.wait(50, function() return false end)
  eq(selects, { "p/agent-4 wants to run `make`", "p/agent-5 wants to run `make`" }, "then the next")
  pending_select(3)
  eq(sent, { { "ao/respond", { sessionId = "p/agent-4", requestId = "per_4", reply = "once" } },
    { "ao/respond", { sessionId = "p/agent-5", requestId = "per_5", reply = "reject", message = "Postgres, SQLite" } } },
    "replies (Reject with the reason typed)")
  vim.wait(50, function() return false end)
  eq(#selects, 2, "per_4 was not asked twice")
  ao.request, vim.ui.select, vim.ui.input = real_request, real_select, real_input
end

-- statusline: live agents waiting for an answer
ao._remember({
  { sessionId = "p/agent-1", project = "p", status = "exited", createdAt = "2025-01-01T00:00:01.000Z" },
  { sessionId = "p/agent-2", project = "p", status = "running", createdAt = "2025-01-01T00:00:02.000Z" },
  { sessionId = "p/agent-9", project = "p", status = "running", activity = "waiting_input", runtime = "live",
    createdAt = "2025-01-01T00:00:09.000Z" },
}, true)
eq(ao.statusline(), "ao: 2 running (1 waiting), 1 exited", "statusline with a waiting agent")
eq(ao.counts(), { running = 2, exited = 1, waiting = 1, unreachable = 0 }, "counts")
eq(commands.complete("", "Ao respond ", 11), { "p/agent-9" }, "respond offers waiting sessions")
eq(commands.complete("", "Ao abort ", 9), { "p/agent-9" }, "abort offers running live sessions")
eq(commands.complete("", "Ao send ", 8), { "p/agent-9", "p/agent-1" }, "send offers exited and live sessions")
ao._remember({ { sessionId = "p/agent-9", project = "p", status = "exited", activity = "exited", runtime = "live",
  createdAt = "2025-01-01T00:00:09.000Z" } })
eq(ao.statusline(), "ao: 1 running, 2 exited", "no longer waiting")
eq(commands.complete("", "Ao spawn --model x/y ", 21), { "p", "q" }, "projects after the option")
eq(commands.complete("", "Ao spawn Fix the ", 17), {}, "nothing inside the prompt")

-- remote hosts: how a remote session looks, :Ao hosts' lines, the host's messages ------------------------------
do
  local t = os.time() - 90
  local since_iso = os.date("!%Y-%m-%dT%H:%M:%S", t) .. ".000Z"
  local clock = os.date("%H:%M:%S", t)
  if os.date("%Y-%m-%d", t) ~= os.date("%Y-%m-%d") then
    clock = os.date("%Y-%m-%d %H:%M:%S", t)
  end
  eq(ui.clock(since_iso), clock, "a time of today: the clock")
  eq(ui.clock("2020-02-03T04:05:06.000Z"):match("^2020%-02%-0%d %d%d:%d%d:%d%d$") ~= nil, true, "another day: the date")
  local away_session = { sessionId = "r/agent-7", project = "r", status = "running", activity = "unreachable",
    unreachableSince = since_iso, host = "build1", runtime = "ssh", prompt = "far", cost = vim.NIL,
    createdAt = since_iso }
  eq(ui.status_text(away_session), "unreachable since " .. clock, "unreachable: not exited")
  eq(ui.where(away_session), "ssh:build1", "where a remote session runs")
  eq(ui.where({ runtime = "tmux", host = vim.NIL }), "tmux", "where a local session runs")
  local rlines = ui.render({ away_session,
    { sessionId = "p/agent-8", status = "exited", exitCode = 0, activity = "exited", runtime = "tmux",
      host = vim.NIL, prompt = "here", createdAt = since_iso } })
  eq(vim.split(rlines[1], "%s+"), { "ID", "STATUS", "ACTIVITY", "RUNTIME", "COST", "AGE", "PROMPT" }, "RUNTIME column")
  eq(vim.split(rlines[2], "%s+"), vim.list_extend(vim.list_extend({ "r/agent-7", "unreachable", "since" },
    vim.split(clock, " ")), { "unreachable", "ssh:build1", "-", "1m", "far" }), "unreachable row")
  eq(rlines[2]:find("ssh:build1", 1, true) ~= nil and rlines[2]:find("exited", 1, true) == nil, true,
    "row: host, not exited")
  eq(rlines[3]:find("  tmux  ", 1, true) ~= nil, true, "local row: its runtime")

  local hosts = require("ao.hosts")
  local err = "host gpu (gpu) unreachable since 2026-11-26 21:22:18: ssh: connect to host gpu port 22: Connection refused"
  eq(hosts.render({
    { name = "build1", ssh = "dev@build1.example", stateDir = "s", reachable = true, rttMs = 3.14, error = vim.NIL,
      unreachableSince = vim.NIL, tmux = "tmux 3.3a", opencode = "1.18.33", python3 = "Python 3.11.2", sessions = 2,
      problems = {} },
    { name = "gpu", ssh = "gpu", stateDir = "s", reachable = false, rttMs = vim.NIL, error = err,
      unreachableSince = "2026-11-26T21:22:18.402Z", tmux = vim.NIL, opencode = vim.NIL, python3 = vim.NIL,
      sessions = 1, problems = { "check that `ssh gpu true` works without asking anything" } },
    { name = "bare", ssh = "bare", stateDir = "s", reachable = true, rttMs = 12.4, error = vim.NIL,
      unreachableSince = vim.NIL, tmux = vim.NIL, opencode = "1.18.33", python3 = vim.NIL, sessions = 0,
      problems = { "tmux is missing: install it there (e.g. `apt-get install tmux`)" } },
  }), {
    "build1 (dev@build1.example): reachable, 3.1 ms; tmux 3.3a, opencode 1.18.33, Python 3.11.2; 2 running sessions",
    "  ready: nothing is missing",
    "",
    "gpu (gpu): unreachable since " .. ui.clock("2026-11-26T21:22:18.402Z") .. "; 1 running session",
    "  error: " .. err,
    "  fix: check that `ssh gpu true` works without asking anything",
    "",
    "bare (bare): reachable, 12 ms; opencode 1.18.33; no running sessions",
    "  problem: tmux is missing: install it there (e.g. `apt-get install tmux`)",
  }, ":Ao hosts lines")
  eq(#hosts.render({}), 1, "no hosts: one line saying how to add one")
  hosts.remember({ { name = "build1" }, { name = "gpu" }, { name = "bare" } })
  eq(commands.complete("", "Ao hosts ", 9), { "bare", "build1", "gpu" }, "host names from the last answer")
  eq(commands.complete("g", "Ao hosts g", 10), { "gpu" }, "host names by prefix")

  -- the host stops answering: one WARN per host (not per session), INFO when it answers again
  local function host_change(sid, activity, previous)
    return { hosts.describe_change({ sessionId = sid, project = "r", status = "running", previous = "running",
      activity = activity, previousActivity = previous,
      session = vim.tbl_extend("force", away_session, { sessionId = sid, activity = activity }) }) }
  end
  eq(host_change("r/agent-7", "unreachable", "active"), { "host build1 unreachable since " .. clock
    .. ": r/agent-7 (and any other session there) may still be running; :Ao hosts build1", L.WARN }, "host away")
  eq(host_change("r/agent-8", "unreachable", "idle"), {}, "once per host")
  eq(host_change("r/agent-7", "active", "unreachable"), { "host build1 answers again", L.INFO }, "host back")
  eq(host_change("r/agent-8", "idle", "unreachable"), {}, "back: once")
  eq({ hosts.describe_change({ sessionId = "p/agent-1", status = "running", activity = "active",
    session = { sessionId = "p/agent-1", host = vim.NIL } }) }, {}, "a local session: nothing")

  -- the statusline and the pickers: unreachable sessions are running ones
  local saved = ao._state.sessions
  ao._remember({ away_session, { sessionId = "p/agent-1", project = "p", status = "exited",
    createdAt = "2025-01-01T00:00:01.000Z" } }, true)
  eq(ao.statusline(), "ao: 1 running (1 unreachable), 1 exited", "statusline with an unreachable host")
  eq(commands.session_label("r/agent-7"), "r/agent-7 (ssh:build1, unreachable since " .. clock .. ")", "picker label")
  eq(commands.session_label("p/agent-1"), "p/agent-1", "local picker label: the id")
  eq(commands.complete("", "Ao kill ", 8), { "r/agent-7" }, "kill offers the unreachable (running) session")
  ao._state.sessions = saved
end

-- :'<,'>Ao spawn: the lines go with the prompt, fenced, with file and range ----------------------------------
ao._remember_list({ projects = { { name = "p", path = "/w/p" }, { name = "sub", path = "/w/p/sub" } } })
eq(ao.project_for_file("/w/p/sub/x.lua"), "sub", "deepest project holds the file")
eq(ao.project_for_file("/w/pp/x.lua"), nil, "a sibling folder is not inside")
local ctx = { file = "/w/p/a.py", label = "a.py:2-3", language = "python", text = "x = '```'\n" }
eq(ao.with_selection(" Explain ", ctx), "Explain\n\nSelected from a.py:2-3 (/w/p/a.py):\n````python\nx = '```'\n````\n",
  "selection prompt, fence longer than any run in the text")
spawned = {}
vim.api.nvim_buf_set_lines(0, 0, -1, false, { "one", "two", "three" })
vim.bo.filetype = "lua"
commands.run({ args = "spawn p Why?", range = 2, line1 = 2, line2 = 3 })
eq(spawned[1].project, "p", "range: named project")
eq(spawned[1].prompt:match("^Why%?\n\nSelected from %[No Name%]:2%-3 %(%[No Name%]%):\n```lua\ntwo\nthree\n```\n$") ~= nil, true,
  "range: prompt " .. spawned[1].prompt)

-- unknown subcommand: an error message, not a traceback ---------------------------------------------------
notes = {}
commands.run({ args = "frobnicate" })
eq(notes[1].level, L.ERROR, "unknown subcommand level")
eq(notes[1].msg:find("unknown subcommand", 1, true) ~= nil, true, "unknown subcommand message")

-- setup validates options ----------------------------------------------------------------------------
notes = {}
ao.setup({ cmd = "ao-server", poll_interval = 0, status_view = "popup" })
eq(ao.options().cmd, { "ao-server" }, "bad cmd falls back")
eq(ao.options().poll_interval, 1.0, "bad poll_interval falls back")
eq(ao.options().status_view, "float", "bad status_view falls back")
eq(#notes, 3, "one message per bad option")
ao.setup({ cmd = { "python3", "-m", "ao_server" }, float = { border = "single" } })
eq(ao.options().cmd, { "python3", "-m", "ao_server" }, "cmd replaced, not merged")
eq(ao.options().float.width, 0.9, "nested defaults kept")

io.stdout:write(("ok: %d checks\n"):format(passed))
