---@brief [[
--- ao.nvim: run and watch OpenCode agents from Neovim through ao-server.
---
--- This module is the public Lua API (|ao-api|), the session cache it keeps from answers and
--- notifications, and the messages. Every operation is a `workspace/executeCommand` request (`ao/spawn`,
--- `ao/status`, ...) to the server of the workspace root, which ao.client starts with Neovim's built-in
--- LSP client the first time it is needed; the server pushes `ao/statusChanged`, which becomes a
--- |vim.notify()| message and a `User AoStatusChanged` autocommand. See |ao.txt|. The wire types are in
--- ao/types.lua.
---@brief ]]

local client = require("ao.client")
local config = require("ao.config")

local M = {}

local levels = vim.log.levels

local state = {
  -- the client lifecycle's own tables (ao.client), here too for callers that look
  clients = client.state.clients,
  pending = client.state.pending,
  stopping = client.state.stopping,
  ready = client.state.ready,
  ---@type integer spawn requests in flight (their sessions get "spawned", not "started")
  spawning = 0,
  ---@type table<string, ao.Session> the last known state of each session, by id
  sessions = {},
  ---@type table<string, boolean> projects seen in the config (ao/list) or in sessions
  projects = {},
  ---@type table<string, string> project folders from ao/list, by name
  project_paths = {},
  ---@type table<string, string[]> OpenCode's models (ao/models) by project ("" for the default project)
  models = {},
  ---@type table<string, boolean> sessions spawned from this editor (no "started" message for those)
  spawned_here = {},
}
M._state = state

--- JSON null (vim.NIL) and nil are both "absent".
---@generic T
---@param v T
---@return T?
local function nn(v)
  if v == vim.NIL then
    return nil
  end
  return v
end
M._nn = nn

---@param msg string
---@param level? integer
function M.notify(msg, level)
  vim.notify("ao: " .. msg, level or levels.INFO, { title = "ao" })
end

--- A server or plugin error as one readable line (never a stack trace).
---@param err any
---@return string
function M.error_text(err)
  if type(err) == "table" then
    local msg = nn(err.message)
    if type(msg) == "string" and msg ~= "" then
      return msg
    end
    return vim.inspect(err)
  end
  local text = tostring(err)
  -- a Lua error: keep the message, drop "file:line:" and any traceback
  text = text:gsub("\nstack traceback:.*$", "")
  return (text:gsub("^[^\n]-%.lua:%d+: ", ""))
end

---@param what string the operation, e.g. "spawn"
---@param err any
function M.report(what, err)
  M.notify(what .. ": " .. M.error_text(err), levels.ERROR)
end

--- Run `fn(...)`; a Lua error becomes a readable message instead of a traceback.
---@param what string
---@param fn function
function M.guard(what, fn, ...)
  local ok, err = xpcall(fn, debug.traceback, ...)
  if not ok then
    require("vim.lsp.log").error("ao: " .. what .. ": " .. tostring(err))
    M.report(what, err)
  end
end

---@param opts? ao.Config
function M.setup(opts)
  config.set(opts)
  state.setup_done = true
end

--- The options in force.
---@return ao.Config
function M.options()
  return config.options
end

--- The workspace root the server is started for.
---@return string
function M.root()
  local r = config.options.root_dir
  if type(r) == "function" then
    r = r()
  end
  if type(r) == "string" and r ~= "" then
    return vim.fs.normalize(vim.fn.fnamemodify(r, ":p")):gsub("(.)/$", "%1")
  end
  local cwd = vim.fn.getcwd()
  return vim.fs.root(cwd, config.options.root_markers) or cwd
end

--- The config path given to the server, absolute.
---@return string?
local function config_path()
  local p = config.options.config_path
  if p and p ~= "" then
    return vim.fn.fnamemodify(vim.fn.expand(p), ":p")
  end
end

---@return table
function M.init_options()
  local o = config.options
  return {
    pollInterval = o.poll_interval,
    configPath = config_path(),
    stateDir = o.state_dir and vim.fn.fnamemodify(vim.fn.expand(o.state_dir), ":p") or nil,
  }
end

local function redraw_statusline()
  pcall(vim.cmd, "redrawstatus!")
end

--- Remember sessions from a status answer (or one session from spawn/kill/resume).
---@param sessions ao.Session[]
---@param full? boolean the list is every session: forget the others
function M._remember(sessions, full)
  if full then
    state.sessions = {}
  end
  for _, s in ipairs(sessions or {}) do
    if type(s) == "table" and type(s.sessionId) == "string" then
      state.sessions[s.sessionId] = s
      if type(s.project) == "string" then
        state.projects[s.project] = true
      end
    end
  end
  redraw_statusline()
end

--- A notification's message and level, or nil when it is not worth a message (activity changes).
---@param p ao.StatusChanged
---@return string? message
---@return integer? level
function M.describe_change(p)
  local id, status, previous = p.sessionId, nn(p.status), nn(p.previous)
  if status == "exited" and previous ~= "exited" then
    local outcome = type(nn(p.outcome)) == "table" and p.outcome or {}
    local result, code = nn(outcome.result), nn(p.exitCode)
    local why = nn(outcome.error)
    if result == "success" or (result == nil and code == 0) then
      return ("%s finished (exit code %s)"):format(id, code or 0), levels.INFO
    elseif result == "killed" then
      return ("%s was killed"):format(id), levels.WARN
    elseif result == "over_budget" then
      -- "p/agent-1 was stopped: over budget: $2.03 of $2.00 (session)"
      return ("%s was stopped: %s"):format(id, why and tostring(why) or "over budget"), levels.ERROR
    elseif result == "error" then
      return ("%s failed%s%s"):format(id, code and (" (exit code " .. code .. ")") or "",
        why and (": " .. tostring(why)) or ""), levels.ERROR
    end
    if code and code ~= 0 then
      return ("%s exited with code %s%s"):format(id, code, why and (": " .. tostring(why)) or ""), levels.WARN
    end
    return ("%s exited"):format(id), levels.INFO
  elseif status == "running" and previous == "exited" then
    return ("%s is running again"):format(id), levels.INFO
  elseif status == "running" and previous == nil and not state.spawned_here[id] and state.spawning == 0 then
    return ("%s started"):format(id), levels.INFO
  end
end

--- Handler of the server's `ao/statusChanged` notification.
---@param payload ao.StatusChanged
function M._on_status_changed(_, payload, _)
  if type(payload) ~= "table" or type(payload.sessionId) ~= "string" then
    return
  end
  M.guard("statusChanged", function()
    local id = payload.sessionId
    if type(nn(payload.session)) == "table" then
      M._remember({ payload.session })
    else
      local s = vim.deepcopy(state.sessions[id] or { sessionId = id })
      for _, key in ipairs({ "project", "status", "activity", "exitCode", "outcome", "budget" }) do
        s[key] = nn(payload[key])
      end
      M._remember({ s })
    end
    if config.options.notify then
      local msg, level = M.describe_change(payload)
      if msg then
        M.notify(msg, level)
      end
      local warning, wlevel = require("ao.cost").budget_warning(payload)
      if warning then
        M.notify(warning, wlevel)
      end
      local away, alevel = require("ao.hosts").describe_change(payload)
      if away then
        M.notify(away, alevel)
      end
    end
    require("ao.cost").on_change()
    local ok, err = pcall(vim.api.nvim_exec_autocmds, "User",
      { pattern = "AoStatusChanged", data = payload, modeline = false })
    if not ok then
      M.report("User AoStatusChanged autocommand", err)
    end
    local ui = package.loaded["ao.ui"]
    if ui then
      ui.on_change()
    end
  end)
end

local message_levels = { levels.ERROR, levels.WARN, levels.INFO, levels.DEBUG } -- LSP MessageType 1..4

--- The server's window/showMessage (e.g. a broken config seen by its poller), without the "LSP[ao]" prefix.
---@param params {type: integer, message: string}
function M._on_show_message(_, params, _)
  if type(params) ~= "table" or type(params.message) ~= "string" then
    return
  end
  local text = params.message:gsub("^ao: ", "")
  M.notify(text, message_levels[params.type] or levels.INFO)
end

-- The server ---------------------------------------------------------------------------------------

--- What ao.client starts for the current root: the command, options, handlers and hooks.
---@return ao.ClientSpec
local function client_spec()
  local o = config.options
  return {
    root = M.root(),
    cmd = o.cmd,
    cmd_env = o.cmd_env,
    init_options = M.init_options(),
    handlers = {
      ["ao/statusChanged"] = M._on_status_changed,
      ["ao/inputRequested"] = function(...)
        return require("ao.live")._on_input_requested(...)
      end,
      ["window/showMessage"] = M._on_show_message,
    },
    guard = M.guard,
    on_ready = function()
      M.request("ao/list", vim.empty_dict(), function(err, res)
        if not err and type(res) == "table" then
          M._remember_list(res)
        end
      end)
    end,
    on_exit = function(why)
      M.notify(why .. "; it restarts on the next :Ao command (:LspLog has its messages)", levels.ERROR)
    end,
    not_found = function(cmd)
      local repo = require("ao.health").repository()
      return ("the server command %q was not found; install ao-server (%s), or set "
        .. "require('ao').setup({ cmd = {...} }); :checkhealth ao gives every way"):format(cmd,
          "pipx install " .. (repo or "<a clone of the ao-server repository>"))
    end,
  }
end

--- The client for the current root if it runs, without starting one.
---@return vim.lsp.Client?
function M.get_client()
  return client.get(M.root())
end

--- Start (or reuse) the server for the current workspace root.
---@return vim.lsp.Client? client
---@return string? err
function M.start()
  return client.start(client_spec())
end

--- Stop the server of the current root (agents keep running).
function M.stop()
  client.stop(M.root())
end

--- Call `fn(client)` once the server for the current root is initialized, or `fn(nil, err)`.
---@param fn fun(client: vim.lsp.Client?, err: string?)
function M.with_client(fn)
  client.when_ready(client_spec(), fn)
end

--- Send `method` (e.g. "ao/status") to the server as workspace/executeCommand; `cb(err, result)`.
---@param method string
---@param params? table
---@param cb ao.Callback
function M.request(method, params, cb)
  M.with_client(function(c, start_err)
    if not c then
      return cb({ message = start_err or "the server is not running" })
    end
    client.execute(c, method, params, function(err, result)
      M.guard(method, cb, err and { code = err.code, message = M.error_text(err), data = err.data } or nil,
        nn(result))
    end)
  end)
end

--- Like |ao.request()| but waits (at most `timeout` ms, default `request_timeout`) and returns.
---@param method string
---@param params? table
---@param timeout? integer
---@return any result
---@return ao.Error? err
function M.request_sync(method, params, timeout)
  local done, result, err = false, nil, nil
  M.request(method, params, function(e, r)
    done, err, result = true, e, r
  end)
  local ok = vim.wait(timeout or config.options.request_timeout, function()
    return done
  end, 10)
  if not ok then
    timeout = timeout or config.options.request_timeout
    return nil, { message = ("%s did not answer within %d ms"):format(method, timeout) }
  end
  return result, err
end

--- Remember what ao/list said (projects and session ids).
---@param res table
function M._remember_list(res)
  for _, p in ipairs(nn(res.projects) or {}) do
    if type(p) == "table" and type(p.name) == "string" then
      state.projects[p.name] = true
      if type(nn(p.path)) == "string" then
        state.project_paths[p.name] = p.path
      end
    end
  end
  for _, s in ipairs(nn(res.sessions) or {}) do
    if type(s) == "table" and type(s.sessionId) == "string" then
      state.sessions[s.sessionId] = vim.tbl_extend("force", state.sessions[s.sessionId] or {}, s)
      if type(s.project) == "string" then
        state.projects[s.project] = true
      end
    end
  end
end

-- Lua API -----------------------------------------------------------------------------------------

--- The response handler shared by spawn and resume: remember the session as ours (so its exit
--- notification is shown), then hand it to `cb`, or report the error / say what happened.
---@param what string
---@param cb? fun(err: ao.Error?, session: ao.Session?)
---@param message fun(session: ao.Session): string
local function on_started(what, cb, message)
  return function(err, session)
    if not err and type(session) == "table" then
      state.spawned_here[session.sessionId] = true
      M._remember({ session })
    end
    if cb then
      return cb(err, session)
    end
    if err then
      return M.report(what, err)
    end
    M.notify(message(session))
  end
end

---@class ao.SpawnOpts
---@field project? string default: the workspace's project
---@field prompt? string default: the project's agentConfig.prompt
---@field model? string
---@field issueId? string
---@field runtime? "tmux"|"process"

--- Spawn an agent. Without `cb`, reports the new session with vim.notify (errors too).
---@param opts? ao.SpawnOpts
---@param cb? fun(err: ao.Error?, session: ao.Session?)
function M.spawn(opts, cb)
  opts = opts or {}
  local params = {
    project = opts.project,
    prompt = opts.prompt,
    model = opts.model,
    issueId = opts.issueId or opts.issue_id,
    runtime = opts.runtime,
  }
  state.spawning = state.spawning + 1
  local done = on_started("spawn", cb, function(session)
    return ("spawned %s (%s)"):format(session.sessionId, session.runtime or "?")
  end)
  M.request("ao/spawn", params, function(err, session)
    state.spawning = math.max(0, state.spawning - 1)
    if err then
      M._drop_vanished()
    end
    done(err, session)
  end)
end

--- A failed spawn removes its session record, but the server's poller may already have announced it (as
--- running) and says nothing when a record goes: after a short while (past the next poll), forget the cached
--- running sessions that the server no longer has as running. One that exited meanwhile comes back with its
--- exit notification.
function M._drop_vanished()
  local wait = math.floor(2 * (tonumber(config.options.poll_interval) or 1) * 1000) + 200
  vim.defer_fn(function()
    if not client.is_ready(M.get_client()) then
      return
    end
    M.request("ao/status", { running = true }, function(err, res)
      if err or type(res) ~= "table" then
        return
      end
      local alive = {}
      for _, s in ipairs(nn(res.sessions) or {}) do
        if type(s) == "table" and type(s.sessionId) == "string" then
          alive[s.sessionId] = true
          state.sessions[s.sessionId] = s
        end
      end
      for id, s in pairs(state.sessions) do
        if s.status == "running" and not alive[id] then
          state.sessions[id] = nil
        end
      end
      redraw_statusline()
    end)
  end, wait)
end

--- Sessions from the server. With `cb`: `cb(err, sessions)`; without: opens the status view.
---@param opts? {sessionId?: string, project?: string}
---@param cb? fun(err: ao.Error?, sessions: ao.Session[]?)
function M.status(opts, cb)
  opts = opts or {}
  M.request("ao/status", { sessionId = opts.sessionId, project = opts.project }, function(err, res)
    local sessions = (not err and type(res) == "table") and (nn(res.sessions) or {}) or nil
    if sessions then
      M._remember(sessions, opts.sessionId == nil and opts.project == nil)
    end
    if cb then
      return cb(err, sessions)
    end
    if err then
      return M.report("status", err)
    end
    require("ao.ui").show_status(sessions, opts)
  end)
end

--- The remote hosts (`ao/hosts`), each as one ssh round trip finds it now: reachable or not, round trip, tmux
--- and opencode there, running sessions, problems with their fixes. With `cb`: `cb(err, hosts)`; without: shows
--- them like `:Ao hosts`.
---@param opts? {host?: string} only this host
---@param cb? fun(err: ao.Error?, hosts: ao.HostInfo[]?)
function M.hosts(opts, cb)
  opts = opts or {}
  M.request("ao/hosts", { host = opts.host }, function(err, res)
    local hosts = (not err and type(res) == "table") and (nn(res.hosts) or {}) or nil
    if hosts then
      require("ao.hosts").remember(hosts)
    end
    if cb then
      return cb(err, hosts)
    end
    if err then
      return M.report("hosts", err)
    end
    require("ao.hosts").show(hosts, opts)
  end)
end

--- Open a terminal split attached to the session (the server's `ao/attach` argv: `tmux ... attach`, `tail -f`
--- of the process runtime, `ssh -t HOST -- 'tmux ... attach'` on a remote host). `cb(err, info)` when given.
---@param id string
---@param cb? fun(err: ao.Error?, info: ao.AttachInfo?)
function M.attach(id, cb)
  M.request("ao/attach", { sessionId = id }, function(err, info)
    if err then
      if cb then
        return cb(err)
      end
      return M.report("attach", err)
    end
    local buf, open_err = require("ao.ui").open_terminal(info)
    if cb then
      return cb(open_err and { message = open_err } or nil, info, buf)
    end
    if open_err then
      M.report("attach", open_err)
    end
  end)
end

--- "killed my-project/agent-2 (exit code 143)"
---@param session ao.Session
---@return string
function M.killed_text(session)
  local code = nn(session.exitCode)
  return ("killed %s%s"):format(session.sessionId, code and (" (exit code " .. code .. ")") or "")
end

--- Stop a session's agent. Without `cb`, reports the result with vim.notify.
---@param id string
---@param cb? fun(err: ao.Error?, session: ao.Session?)
function M.kill(id, cb)
  M.request("ao/kill", { sessionId = id }, function(err, session)
    if not err and type(session) == "table" then
      M._remember({ session })
    end
    if cb then
      return cb(err, session)
    end
    if err then
      return M.report("kill", err)
    end
    M.notify(M.killed_text(session))
  end)
end

--- Continue an exited session's OpenCode conversation, optionally with a follow-up prompt.
---@param id string
---@param prompt? string
---@param cb? fun(err: ao.Error?, session: ao.Session?)
function M.resume(id, prompt, cb)
  if prompt == "" then
    prompt = nil
  end
  M.request(
    "ao/resume",
    { sessionId = id, prompt = prompt },
    on_started("resume", cb, function(session)
      return ("resumed %s"):format(session.sessionId)
    end)
  )
end

--- A session's output. With `cb`: `cb(err, text)`; without: shows it in a split.
---@param id string
---@param cb? fun(err: ao.Error?, text: string?)
---@param lines? integer how many lines from the end (default: `log_lines`)
function M.logs(id, cb, lines)
  M.request("ao/logs", { sessionId = id, lines = lines or config.options.log_lines }, function(err, res)
    local text = nil
    if not err then
      text = type(res) == "string" and res or (type(res) == "table" and nn(res.text)) or ""
    end
    if cb then
      return cb(err, text)
    end
    if err then
      return M.report("logs", err)
    end
    require("ao.ui").show_logs(id, text)
  end)
end

--- The files a session changed (`ao/changes`). Without `cb`: the quickfix list, like `:Ao changes`.
---@param id string
---@param cb? fun(err: ao.Error?, changes: ao.Changes?)
function M.changes(id, cb)
  if not cb then
    return require("ao.review").changes(id)
  end
  M.request("ao/changes", { sessionId = id }, cb)
end

--- Both sides of one changed file (`ao/fileDiff`).
---@param id string
---@param path string as ao/changes lists it
---@param cb fun(err: ao.Error?, diff: ao.FileDiff?)
function M.file_diff(id, path, cb)
  M.request("ao/fileDiff", { sessionId = id, path = path }, cb)
end

--- Bring a finished worktree session's work into its base branch (`ao/merge`). Without `cb`: asks first,
--- like `:Ao merge`.
---@param id string
---@param strategy? "auto"|"ff"|"merge"|"squash"
---@param cb? fun(err: ao.Error?, merge: ao.Merge?)
function M.merge(id, strategy, cb)
  if not cb then
    return require("ao.review").merge(id, strategy)
  end
  M.request("ao/merge", { sessionId = id, strategy = strategy }, cb)
end

--- Remove a finished session's worktree and branch (`ao/discard`). Without `cb`: asks first, like
--- `:Ao discard`.
---@param id string
---@param cb? fun(err: ao.Error?, result: {sessionId: string, message: string}?)
function M.discard(id, cb)
  if not cb then
    return require("ao.review").discard(id)
  end
  M.request("ao/discard", { sessionId = id }, cb)
end

--- Tell a session's agent something (`ao/send`): `opts.message` and/or `opts.notes`
--- (`{ {path, line?, text}, ... }`). The agent runs again; `cb(err, session)`.
---@param id string
---@param opts {message?: string, notes?: {path: string, line?: integer, text: string}[]}
---@param cb? fun(err: ao.Error?, session: ao.Session?)
function M.send(id, opts, cb)
  opts = opts or {}
  M.request("ao/send", { sessionId = id, message = opts.message, notes = opts.notes },
    on_started("send", cb, function(session)
      return "sent to " .. session.sessionId
    end))
end

--- Projects from the config and sessions. With `cb`: `cb(err, {sessions, projects})`.
---@param cb fun(err: ao.Error?, result: {sessions: table[], projects: table[]}?)
function M.list(cb)
  M.request("ao/list", vim.empty_dict(), function(err, res)
    if not err and type(res) == "table" then
      M._remember_list(res)
    end
    cb(err, res)
  end)
end

--- OpenCode's models for a project (`ao/models`), its default first. `cb(err, result)` with
--- `result = {project, models, default}`; `refresh` asks OpenCode again instead of the server's cache.
---@param opts? {project?: string, refresh?: boolean}
---@param cb fun(err: ao.Error?, result: {project: string, models: string[], default?: string}?)
function M.models(opts, cb)
  opts = opts or {}
  M.request("ao/models", { project = opts.project, refresh = opts.refresh }, function(err, res)
    if not err and type(res) == "table" and type(nn(res.models)) == "table" then
      state.models[opts.project or ""] = res.models
    end
    cb(err, res)
  end)
end

--- What the agents cost (`ao/cost`): `cb(err, report)`; without `cb`, echoes it like `:Ao cost`.
---@param opts? ao.CostParams
---@param cb? fun(err: ao.Error?, report: ao.CostReport?)
function M.cost(opts, cb)
  require("ao.cost").cost(opts, cb)
end

--- Ask for the default project's models in the background, once, when the server runs.
function M.prefetch_models()
  if state.models[""] or state.models_asked or not client.is_ready(M.get_client()) then
    return
  end
  state.models_asked = true
  M.models({}, function()
    state.models_asked = nil
  end)
end

--- The models for completion: remembered, else one synchronous `ao/models` (at most `request_timeout` ms;
--- the first call runs OpenCode, about two seconds). Empty when the server cannot say.
---@param project? string
---@return string[]
function M.models_sync(project)
  local key = project or ""
  if state.models[key] then
    return state.models[key]
  end
  local res, err = M.request_sync("ao/models", { project = project })
  if err or type(res) ~= "table" or type(nn(res.models)) ~= "table" then
    return {}
  end
  state.models[key] = res.models
  return res.models
end

---@class ao.SelectionContext
---@field file string absolute path of the buffer's file
---@field label string "src/app.py:12-20", relative to the workspace root
---@field language string the buffer's filetype
---@field text string the lines, ending in a newline

--- Lines `line1`..`line2` of buffer `buf` as context for a prompt.
---@param buf integer
---@param line1 integer
---@param line2 integer
---@return ao.SelectionContext
function M.selection_context(buf, line1, line2)
  buf = buf == 0 and vim.api.nvim_get_current_buf() or buf
  local lines = vim.api.nvim_buf_get_lines(buf, line1 - 1, line2, false)
  local name = vim.api.nvim_buf_get_name(buf)
  local file = name ~= "" and vim.fs.normalize(vim.fn.fnamemodify(name, ":p")) or "[No Name]"
  local root = M.root()
  local shown = vim.startswith(file, root .. "/") and file:sub(#root + 2) or file
  local range = line1 == line2 and tostring(line1) or ("%d-%d"):format(line1, line2)
  return { file = file, label = shown .. ":" .. range, language = vim.bo[buf].filetype, text = table.concat(lines, "\n") .. "\n" }
end

--- The prompt an agent gets for a selection: the task, then the lines fenced with their file and range.
---@param task string
---@param context ao.SelectionContext
---@return string
function M.with_selection(task, context)
  local longest = 2
  for run in context.text:gmatch("`+") do
    longest = math.max(longest, #run)
  end
  local fence = ("`"):rep(longest + 1)
  local head = vim.trim(task) ~= "" and vim.trim(task) or "Look at this code."
  return ("%s\n\nSelected from %s (%s):\n%s%s\n%s%s\n"):format(head, context.label, context.file, fence,
    context.language, context.text, fence)
end

--- The project whose folder holds `file` (the deepest one), from the last ao/list.
---@param file string
---@return string?
function M.project_for_file(file)
  local best, best_len = nil, -1
  for name, path in pairs(state.project_paths) do
    local dir = path:gsub("/+$", "")
    if (file == dir or vim.startswith(file, dir .. "/")) and #dir > best_len then
      best, best_len = name, #dir
    end
  end
  return best
end

--- The sessions last seen (from status answers and notifications), newest first.
---@return ao.Session[]
function M.sessions()
  local list = vim.tbl_values(state.sessions)
  table.sort(list, function(a, b)
    return (nn(a.createdAt) or "") > (nn(b.createdAt) or "")
  end)
  return list
end

--- Project names seen (config and sessions), sorted.
---@return string[]
function M.projects()
  local names = vim.tbl_keys(state.projects)
  table.sort(names)
  return names
end

--- Session counts for a statusline: `{ running = n, exited = n, waiting = n, unreachable = n }` (`waiting`:
--- running live agents waiting for an answer; `unreachable`: running sessions whose host does not answer; both
--- counted in `running` too).
---@return {running: integer, exited: integer, waiting: integer, unreachable: integer}
function M.counts()
  local c = { running = 0, exited = 0, waiting = 0, unreachable = 0 }
  for _, s in pairs(state.sessions) do
    if s.status == "running" then
      c.running = c.running + 1
      if s.activity == "waiting_input" then
        c.waiting = c.waiting + 1
      elseif s.activity == "unreachable" then
        c.unreachable = c.unreachable + 1
      end
    else
      c.exited = c.exited + 1
    end
  end
  return c
end

--- A statusline component: "ao: 2 running, 1 exited" ("ao: 2 running (1 waiting), 1 exited" while live agents
--- wait for an answer, "(1 unreachable)" while a remote host does not answer), or "" when there are no sessions.
--- With `spend` (default: the `statusline.spend` option) it adds today's spend: "ao: 2 running, 1 exited,
--- today $1.23" (of $50.00 with a daily budget), from a cache that status changes refresh; a redraw never sends a
--- request.
--- Example: `vim.o.statusline = "%f %= %{v:lua.require'ao'.statusline()}"`
---@param opts? {spend?: boolean}
---@return string
function M.statusline(opts)
  local c = M.counts()
  local parts = {}
  if c.running + c.exited > 0 then
    local notes = {}
    if c.waiting > 0 then
      notes[#notes + 1] = ("%d waiting"):format(c.waiting)
    end
    if c.unreachable > 0 then
      notes[#notes + 1] = ("%d unreachable"):format(c.unreachable)
    end
    local extra = #notes > 0 and (" (" .. table.concat(notes, ", ") .. ")") or ""
    parts[1] = ("%d running%s, %d exited"):format(c.running, extra, c.exited)
  end
  local spend = opts and opts.spend
  if spend == nil then
    spend = config.options.statusline.spend
  end
  if spend then
    parts[#parts + 1] = require("ao.cost").today_text()
  end
  if #parts == 0 then
    return ""
  end
  return "ao: " .. table.concat(parts, ", ")
end

return M
