---@mod ao.commands The :Ao command: subcommands and their completion

local M = {}

local function ao()
  return require("ao")
end

local function review()
  return require("ao.review")
end

--- "a b c" -> first word and the rest (verbatim, outer spaces trimmed).
---@param text string
---@return string? first
---@return string rest
local function first_word(text)
  local first, rest = text:match("^%s*(%S+)%s*(.-)%s*$")
  return first, rest or ""
end

--- A prompt typed as `"..."` or `'...'` loses the outer quotes.
---@param text string
---@return string
local function unquote(text)
  local inner = text:match('^"(.*)"$') or text:match("^'(.*)'$")
  return inner or text
end

---@alias ao.Want "running"|"exited"|"waiting"|"sendable"|"live"

--- Does session `s` fit `want` ("waiting": a live agent waiting for an answer; "sendable": exited, or live;
--- "live": a running live agent)?
---@param s ao.Session
---@param want? ao.Want
---@return boolean
local function fits(s, want)
  if want == "waiting" then
    return s.activity == "waiting_input" or (type(s.pending) == "table" and #s.pending > 0)
  elseif want == "sendable" then
    return s.status == "exited" or s.runtime == "live"
  elseif want == "live" then
    return s.status == "running" and s.runtime == "live"
  end
  return want == nil or s.status == want
end

--- Sessions to offer: from the last status; `want` keeps the ones that fit when it leaves some.
---@param want? ao.Want
---@return string[]
local function session_ids(want)
  local all, picked = {}, {}
  for _, s in ipairs(ao().sessions()) do
    all[#all + 1] = s.sessionId
    if fits(s, want) then
      picked[#picked + 1] = s.sessionId
    end
  end
  return #picked > 0 and picked or all
end

--- How a session id is offered in a picker: the id, plus where a remote one runs and whether its host answers
--- ("my-project/agent-3 (ssh:build1, unreachable since 21:35:59)").
---@param id string
---@return string
function M.session_label(id)
  local s = ao()._state.sessions[id]
  if type(s) ~= "table" or type(ao()._nn(s.host)) ~= "string" then
    return id
  end
  local ui = require("ao.ui")
  local unreachable = ui.unreachable_text(s)
  return ("%s (%s%s)"):format(id, ui.where(s), unreachable and (", " .. unreachable) or "")
end

--- Ask which session when none was given (from a fresh status).
---@param what string
---@param want? ao.Want
---@param fn fun(id: string)
local function pick(what, want, fn)
  ao().status(nil, function(err)
    if err then
      return ao().report(what, err)
    end
    local ids = session_ids(want)
    if #ids == 0 then
      return ao().notify("no sessions to " .. what, vim.log.levels.WARN)
    end
    if #ids == 1 then
      return fn(ids[1])
    end
    vim.ui.select(ids, { prompt = "Session to " .. what .. ":", format_item = M.session_label }, function(choice)
      if choice then
        fn(choice)
      end
    end)
  end)
end

--- Split `:Ao spawn` arguments: a project name (when the config has one of that name), `--model M` and
--- `--live`/`--run`, in any order, then the prompt (verbatim).
---@param args string
---@param projects string[]
---@return {project?: string, model?: string, prompt?: string, live?: boolean}? parsed
---@return string? err
function M.parse_spawn(args, projects)
  local out, rest = {}, args
  while true do
    local word, after = first_word(rest)
    if word == "--live" or word == "--run" then
      out.live, rest = word == "--live", after
    elseif word == "--model" then
      local model, tail = first_word(after)
      if not model then
        return nil, "--model needs a model, e.g. --model provider/model (<Tab> lists OpenCode's)"
      end
      out.model, rest = model, tail
    elseif word and word:match("^%-%-model=.") then
      out.model, rest = word:sub(9), after
    elseif word and not out.project and not out.prompt and vim.tbl_contains(projects, word) then
      out.project, rest = word, after
    else
      break
    end
  end
  if rest:match("%S") then
    out.prompt = unquote(vim.trim(rest))
  end
  return out
end

--- `:[range]Ao spawn [project] [--model M] {prompt}`; with a range, the lines go with the prompt as context.
---@param args string
---@param opts? {range?: integer, line1?: integer, line2?: integer}
function M.spawn(args, opts)
  local context = nil
  if opts and (opts.range or 0) > 0 then
    context = ao().selection_context(0, opts.line1, opts.line2)
  end
  ao().list(function(err)
    if err then
      return ao().report("spawn", err)
    end
    local parsed, perr = M.parse_spawn(args, ao().projects())
    if not parsed then
      return ao().notify("spawn: " .. perr, vim.log.levels.ERROR)
    end
    local project = parsed.project or (context and ao().project_for_file(context.file)) or nil
    local function go(prompt)
      if context then
        prompt = ao().with_selection(prompt or "", context)
      end
      local live = parsed.live
      if live == nil then
        live = require("ao.config").options.spawn_live
      end
      ao().spawn({ project = project, model = parsed.model, prompt = prompt, runtime = live and "live" or nil })
    end
    if parsed.prompt and parsed.prompt ~= "" then
      return go(parsed.prompt)
    end
    local label = project and ("Prompt for an agent on %s"):format(project) or "Prompt for the agent"
    if context then
      label = label .. " (with " .. context.label .. ")"
    end
    vim.ui.input({ prompt = label .. ": " }, function(input)
      if input == nil then
        return -- cancelled
      end
      -- an empty answer: the project's agentConfig.prompt (with a selection: just the selection)
      go(input ~= "" and input or nil)
    end)
  end)
end

--- Completion of `:Ao spawn`: projects first, `--model` when typing an option, OpenCode's models after it.
---@param lead string
---@param index integer
---@param words string[] the words so far (words[1] is "Ao", words[2] "spawn")
---@return string[]
local function complete_spawn(lead, index, words)
  local project, in_options = nil, true
  local i = 3
  while i < #words do
    local w = words[i]
    if w == "--model" then
      i = i + 1
    elseif not w:match("^%-%-model=") and w ~= "--live" and w ~= "--run" then
      if not project and vim.tbl_contains(ao().projects(), w) then
        project = w
      else
        in_options = false
      end
    end
    i = i + 1
  end
  if not in_options then
    return {}
  end
  if words[#words - 1] == "--model" then
    return ao().models_sync(project)
  end
  if lead:match("^%-") then
    return { "--live", "--model", "--run" }
  end
  if index == 1 then
    ao().prefetch_models() -- so that a later `--model <Tab>` does not wait for OpenCode
  end
  return (index == 1 or not project) and ao().projects() or {}
end

---@alias ao.Complete fun(lead: string, index: integer, words: string[]): string[]
---@type table<string, {run: fun(args: string, opts: table), complete?: ao.Complete, usage: string}>
M.subcommands = {
  spawn = {
    usage = ":[range]Ao spawn [project] [--model provider/model] [--live|--run] {prompt}",
    run = M.spawn,
    complete = complete_spawn,
  },
  status = {
    usage = ":Ao status [project]",
    run = function(args)
      local project = first_word(args)
      ao().status({ project = project })
    end,
    complete = function(_, index)
      return index == 1 and ao().projects() or {}
    end,
  },
  hosts = {
    usage = ":Ao hosts [host]",
    run = function(args)
      require("ao.hosts").run(args)
    end,
    complete = function(_, index)
      return index == 1 and require("ao.hosts").complete() or {}
    end,
  },
  attach = {
    usage = ":Ao attach {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return ao().attach(id)
      end
      pick("attach", "running", ao().attach)
    end,
    complete = function(_, index)
      return index == 1 and session_ids() or {}
    end,
  },
  kill = {
    usage = ":Ao kill {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return ao().kill(id)
      end
      pick("kill", "running", function(choice)
        ao().kill(choice)
      end)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("running") or {}
    end,
  },
  resume = {
    usage = ":Ao resume {session} [prompt]",
    run = function(args)
      local id, rest = first_word(args)
      if id then
        return ao().resume(id, rest ~= "" and unquote(rest) or nil)
      end
      pick("resume", "exited", function(choice)
        ao().resume(choice)
      end)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("exited") or {}
    end,
  },
  cost = {
    usage = ":Ao cost [--project P] [--since today|24h|7d|YYYY-MM-DD] [--by project|model|day|session]",
    run = function(args)
      require("ao.cost").run(args)
    end,
    complete = function(lead, index, words)
      return require("ao.cost").complete(lead, index, words)
    end,
  },
  logs = {
    usage = ":Ao logs {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return ao().logs(id)
      end
      pick("show logs of", nil, function(choice)
        ao().logs(choice)
      end)
    end,
    complete = function(_, index)
      return index == 1 and session_ids() or {}
    end,
  },
  changes = {
    usage = ":Ao changes {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return review().changes(id)
      end
      pick("review", nil, review().changes)
    end,
    complete = function(_, index)
      return index == 1 and session_ids() or {}
    end,
  },
  merge = {
    usage = ":Ao merge {session} [auto|ff|merge|squash]",
    run = function(args)
      local parsed, err = review().parse_merge(args)
      if not parsed then
        return ao().notify("merge: " .. err, vim.log.levels.ERROR)
      end
      if parsed.id then
        return review().merge(parsed.id, parsed.strategy)
      end
      pick("merge", "exited", function(choice)
        review().merge(choice, parsed.strategy)
      end)
    end,
    complete = function(_, index)
      if index == 1 then
        return vim.list_extend(session_ids("exited"), review().STRATEGIES)
      end
      return index == 2 and review().STRATEGIES or {}
    end,
  },
  discard = {
    usage = ":Ao discard {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return review().discard(id)
      end
      pick("discard", "exited", review().discard)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("exited") or {}
    end,
  },
  respond = {
    usage = ":Ao respond {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return require("ao.live").respond(id)
      end
      pick("answer", "waiting", require("ao.live").respond)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("waiting") or {}
    end,
  },
  abort = {
    usage = ":Ao abort {session}",
    run = function(args)
      local id = first_word(args)
      if id then
        return require("ao.live").abort(id)
      end
      pick("abort", "live", require("ao.live").abort)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("live") or {}
    end,
  },
  send = {
    usage = ":Ao send {session} [message]",
    run = function(args)
      local parsed = review().parse_send(args)
      if parsed.id then
        return review().send(parsed.id, parsed.message)
      end
      pick("send to", "sendable", function(choice)
        review().send(choice, parsed.message)
      end)
    end,
    complete = function(_, index)
      return index == 1 and session_ids("sendable") or {}
    end,
  },
}

---@return string[]
function M.names()
  local names = vim.tbl_keys(M.subcommands)
  table.sort(names)
  return names
end

--- The :Ao command (from nvim_create_user_command); a range goes to `:Ao spawn` as context.
---@param opts {args: string, range?: integer, line1?: integer, line2?: integer}
function M.run(opts)
  ao().guard("Ao", function()
    local sub, rest = first_word(opts.args or "")
    if not sub then
      return ao().status()
    end
    local def = M.subcommands[sub]
    if not def then
      return ao().notify(("unknown subcommand %q; use one of: %s"):format(sub, table.concat(M.names(), ", ")),
        vim.log.levels.ERROR)
    end
    def.run(rest, opts)
  end)
end

--- Completion of :Ao: subcommands, then session ids (from the last status) and projects.
---@param lead string
---@param line string
---@param pos integer
---@return string[]
function M.complete(lead, line, pos)
  local ok, result = pcall(function()
    local before = line:sub(1, pos)
    local words = vim.split(vim.trim(before), "%s+")
    if before:match("%s$") then
      words[#words + 1] = ""
    end
    -- words[1] is the command name itself
    if #words <= 2 then
      return vim.tbl_filter(function(n)
        return vim.startswith(n, lead)
      end, M.names())
    end
    local def = M.subcommands[words[2]]
    if not def or not def.complete then
      return {}
    end
    M.refresh_for_completion()
    return vim.tbl_filter(function(c)
      return vim.startswith(c, lead)
    end, def.complete(lead, #words - 2, words))
  end)
  return ok and result or {}
end

--- Fresh ids and projects for completion: a short synchronous ao/list when the server runs, else start it.
function M.refresh_for_completion()
  local client = ao().get_client()
  if require("ao.client").is_ready(client) then
    local res, err = ao().request_sync("ao/list", vim.empty_dict(), 500)
    if not err and type(res) == "table" then
      ao()._remember_list(res)
    end
  elseif not client then
    ao().start() -- ready for the next <Tab>
  end
end

return M
