---@mod ao.commands The :Ao command: subcommands and their completion

local M = {}

local function ao()
  return require("ao")
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

--- Sessions to offer: from the last status; `want` keeps running or exited ones when it leaves some.
---@param want? "running"|"exited"
---@return string[]
local function session_ids(want)
  local all, picked = {}, {}
  for _, s in ipairs(ao().sessions()) do
    all[#all + 1] = s.sessionId
    if want == nil or s.status == want then
      picked[#picked + 1] = s.sessionId
    end
  end
  return #picked > 0 and picked or all
end

--- Ask which session when none was given (from a fresh status).
---@param what string
---@param want? "running"|"exited"
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
    vim.ui.select(ids, { prompt = "Session to " .. what .. ":" }, function(choice)
      if choice then
        fn(choice)
      end
    end)
  end)
end

--- `:Ao spawn [project] {prompt}`: the first word is the project when the config has one of that name.
---@param args string
function M.spawn(args)
  ao().list(function(err)
    if err then
      return ao().report("spawn", err)
    end
    local project, prompt = nil, nil
    local first, rest = first_word(args)
    if first and vim.tbl_contains(ao().projects(), first) then
      project, prompt = first, rest
    elseif args:match("%S") then
      prompt = vim.trim(args)
    end
    if prompt and prompt ~= "" then
      return ao().spawn({ project = project, prompt = unquote(prompt) })
    end
    local label = project and ("Prompt for an agent on %s: "):format(project) or "Prompt for the agent: "
    vim.ui.input({ prompt = label }, function(input)
      if input == nil then
        return -- cancelled
      end
      -- an empty answer: the project's agentConfig.prompt
      ao().spawn({ project = project, prompt = input ~= "" and input or nil })
    end)
  end)
end

---@type table<string, {run: fun(args: string), complete?: fun(lead: string, index: integer): string[], usage: string}>
M.subcommands = {
  spawn = {
    usage = ":Ao spawn [project] {prompt}",
    run = M.spawn,
    complete = function(_, index)
      return index == 1 and ao().projects() or {}
    end,
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
}

---@return string[]
function M.names()
  local names = vim.tbl_keys(M.subcommands)
  table.sort(names)
  return names
end

--- The :Ao command (from nvim_create_user_command).
---@param opts {args: string}
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
    def.run(rest)
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
    end, def.complete(lead, #words - 2))
  end)
  return ok and result or {}
end

--- Fresh ids and projects for completion: a short synchronous ao/list when the server runs, else start it.
function M.refresh_for_completion()
  local client = ao().get_client()
  if client and ao()._state.ready[client.id] then
    local res, err = ao().request_sync("ao/list", vim.empty_dict(), 500)
    if not err and type(res) == "table" then
      ao()._remember_list(res)
    end
  elseif not client then
    ao().start() -- ready for the next <Tab>
  end
end

return M
