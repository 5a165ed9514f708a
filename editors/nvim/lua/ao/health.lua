---@mod ao.health :checkhealth ao

local M = {}

local health = vim.health

local PROBE_TIMEOUT = 20000 -- ms for the server to start and answer (a cold Python start on a busy machine)
local VERSION_TIMEOUT = 10000 -- ms for `tmux -V` / `opencode --version`

--- Run argv, wait at most `timeout` ms.
---@param argv string[]
---@param timeout integer
---@return boolean ok
---@return string output (first line) or why it failed
local function run(argv, timeout)
  local ok, proc = pcall(vim.system, argv, { text = true })
  if not ok then
    return false, tostring(proc)
  end
  local res = proc:wait(timeout)
  if res.code == 124 and res.signal == 9 then
    return false, ("did not answer within %d ms"):format(timeout)
  end
  local out = vim.trim((res.stdout or "") .. "\n" .. (res.stderr or ""))
  local first = vim.split(out, "\n")[1] or ""
  if res.code ~= 0 then
    return false, ("exited with code %d: %s"):format(res.code, first)
  end
  return true, first
end

--- The last line of a server's stderr: run it again with stdin closed (a server that cannot start says
--- why and exits; one that can reads end-of-input and exits). The LSP client's own copy of stderr is in
--- the LSP log only.
---@param cmd string[]
---@param root string
---@return string?
local function stderr_reason(cmd, root)
  local ok, proc = pcall(vim.system, cmd, { cwd = root, env = require("ao").options().cmd_env, text = true })
  if not ok then
    return nil
  end
  local res = proc:wait(VERSION_TIMEOUT)
  local lines = vim.split(vim.trim(res.stderr or ""), "\n")
  local last = vim.trim(lines[#lines] or "")
  return last ~= "" and last or nil
end

--- Start the server command with |vim.lsp.rpc.start()|, initialize it and ask for ao/list; then shut it
--- down (shutdown, exit). Each answer is waited for at most `timeout` ms.
---@param cmd string[]
---@param root string
---@param init_options table
---@param timeout? integer
---@return {ok: boolean, stage: string, error?: string, code?: integer, list?: table, server?: table}
function M.probe(cmd, root, init_options, timeout)
  timeout = timeout or PROBE_TIMEOUT
  local exited = nil ---@type {code: integer, signal: integer}?
  local ok, rpc = pcall(vim.lsp.rpc.start, cmd, {
    on_exit = function(code, signal)
      exited = { code = code, signal = signal }
    end,
  }, { cwd = root, env = require("ao").options().cmd_env })
  if not ok then
    local text = tostring(rpc):gsub("\nstack traceback:.*$", "")
    return { ok = false, stage = "start", error = (text:gsub("^[^\n]-%.lua:%d+: ", "")) }
  end

  --- Send a request and wait (at most `wait` ms) for its answer: `{err?, result?}`, or nil with none.
  local function call(method, params, wait)
    local answer = nil
    local sent = rpc.request(method, params, function(err, result)
      answer = { err = err, result = result }
    end)
    if not sent then
      return nil
    end
    vim.wait(wait or timeout, function()
      return answer ~= nil or exited ~= nil
    end, 20)
    return answer
  end
  local function stop()
    if not exited and not rpc.is_closing() then
      call("shutdown", nil, 3000)
      rpc.notify("exit", nil)
      vim.wait(3000, function()
        return exited ~= nil
      end, 20)
    end
    if not exited then
      rpc.terminate() -- it did not exit in time
    end
  end

  local uri = vim.uri_from_fname(root)
  local init = call("initialize", {
    processId = vim.fn.getpid(),
    rootUri = uri,
    workspaceFolders = { { uri = uri, name = root } },
    capabilities = vim.empty_dict(),
    initializationOptions = next(init_options) and init_options or vim.empty_dict(),
    clientInfo = { name = "ao.nvim checkhealth" },
  })
  if not init then
    local reason
    if exited then
      local why = stderr_reason(cmd, root)
      reason = ("it exited with code %d%s"):format(exited.code, why and (": " .. why) or "")
    else
      reason = ("no answer to initialize within %d ms"):format(timeout)
    end
    stop()
    return { ok = false, stage = "initialize", error = reason }
  end
  if init.err then
    stop()
    return { ok = false, stage = "initialize", error = tostring(init.err.message) }
  end
  local server = type(init.result) == "table" and init.result.serverInfo or nil
  if type(server) ~= "table" or server.name ~= "ao-server" then
    stop()
    return { ok = false, stage = "initialize", server = server,
      error = ("it answered initialize but is not ao-server (serverInfo %s)"):format(vim.inspect(server)) }
  end
  rpc.notify("initialized", vim.empty_dict())
  local list = call("workspace/executeCommand", { command = "ao/list", arguments = { vim.empty_dict() } })
  stop()
  if not list then
    return { ok = false, stage = "ao/list", error = "no answer to ao/list", server = server }
  end
  if list.err then
    return { ok = false, stage = "ao/list", error = tostring(list.err.message), code = list.err.code,
      server = server }
  end
  return { ok = true, stage = "done", list = list.result, server = server }
end

--- The repository this plugin came from (editors/nvim inside an ao-server checkout), when it is one.
---@return string?
function M.repository()
  local here = vim.fs.normalize(debug.getinfo(1, "S").source:sub(2))
  local root = here:match("^(.*)/editors/nvim/lua/ao/health%.lua$")
  if root and vim.uv.fs_stat(root .. "/pyproject.toml") and vim.uv.fs_stat(root .. "/ao_server") then
    return root
  end
end

--- How to install the server, exactly: one command each for pipx, uv and pip, from this plugin's checkout.
---@return string[]
function M.install_advice()
  local repo = M.repository()
  -- quoted for a POSIX shell only when needed (as Python's shlex.quote does)
  local src = repo and (repo:match("^[%w@%%+=:,./-]+$") and repo or vim.fn.shellescape(repo))
    or "/path/to/ao-server  (a clone of the ao-server repository)"
  local advice = {
    ("install it with one of (from %s):"):format(repo and "this plugin's repository" or "a clone of the repository"),
    "  pipx install " .. src,
    "  uv tool install " .. src,
    "  python3 -m pip install " .. src .. "   (in a virtualenv; then put its bin/ on PATH)",
    "then restart Neovim; both `ao` and `ao-server` are installed",
    'or point the plugin at a server you have: require("ao").setup({ cmd = { "/path/to/venv/bin/ao-server" } })',
  }
  return advice
end

--- The config file the server will use, found the same way (for the report only).
---@param root string
---@return string? path
---@return string how it was found
function M.find_config(root)
  local o = require("ao").options()
  if o.config_path then
    return vim.fn.fnamemodify(vim.fn.expand(o.config_path), ":p"), "setup{ config_path }"
  end
  if vim.env.AO_CONFIG and vim.env.AO_CONFIG ~= "" then
    return vim.env.AO_CONFIG, "$AO_CONFIG"
  end
  local found = vim.fs.find("agent-orchestrator.yaml", { upward = true, path = root, type = "file" })[1]
  if found then
    return found, "searching upward from " .. root
  end
  local xdg = vim.env.XDG_CONFIG_HOME
  if not xdg or xdg == "" then
    xdg = vim.fs.joinpath(vim.env.HOME or "~", ".config")
  end
  local user = vim.fs.joinpath(xdg, "agent-orchestrator", "agent-orchestrator.yaml")
  if vim.uv.fs_stat(user) then
    return user, "the user config"
  end
  return nil, "none"
end

function M.check()
  local ao = require("ao")
  local o = ao.options()
  local root = ao.root()

  health.start("ao: Neovim")
  local v = vim.version()
  local version = ("%d.%d.%d"):format(v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version)
  else
    health.error("Neovim " .. version .. " is too old", { "ao.nvim needs Neovim 0.10 or newer" })
  end

  health.start("ao: server")
  local exe = vim.fn.exepath(o.cmd[1])
  local probe = nil
  if exe == "" then
    health.error(("server command %q not found (not on PATH)"):format(o.cmd[1]), M.install_advice())
  else
    health.ok(("server command found: %s (%s)"):format(table.concat(o.cmd, " "), exe))
    local client = ao.get_client()
    if require("ao.client").is_ready(client) then
      health.ok(("server running for %s (client id %d)"):format(root, client.id))
    end
    probe = M.probe(o.cmd, root, ao.init_options())
    if probe.ok or probe.stage == "ao/list" then
      local info = probe.server and (" (%s %s)"):format(probe.server.name or "?", probe.server.version or "?") or ""
      health.ok("server starts and answers initialize" .. info)
    else
      health.error(("server does not start: %s"):format(probe.error or "?"),
        { "run it by hand to see why: " .. table.concat(o.cmd, " "), ":LspLog has the editor's server log" })
    end
  end

  health.start("ao: tools")
  if vim.fn.executable("tmux") == 1 then
    local ok, out = run({ "tmux", "-V" }, VERSION_TIMEOUT)
    if ok then
      health.ok("tmux: " .. out)
    else
      health.warn("tmux does not run: " .. out, { "agents can still use the process runtime" })
    end
  else
    health.warn("tmux not found", { "install tmux for the tmux runtime (attach to live agents)",
      "agents fall back to the process runtime" })
  end
  local oc = vim.env.AO_OPENCODE_BIN
  local from = "$AO_OPENCODE_BIN"
  if not oc or oc == "" then
    oc, from = vim.fn.exepath("opencode"), "PATH"
  end
  if oc == "" or vim.fn.executable(oc) ~= 1 then
    health.error(("opencode not found (%s)"):format(from == "PATH" and "not on PATH" or ("$AO_OPENCODE_BIN=" .. oc)),
      { "npm install -g opencode-ai, or set $AO_OPENCODE_BIN to the opencode binary" })
  else
    local ok, out = run({ oc, "--version" }, VERSION_TIMEOUT)
    if ok then
      health.ok(("opencode %s (%s, from %s)"):format(out, oc, from))
    else
      health.error(("opencode at %s does not run: %s"):format(oc, out))
    end
  end

  health.start("ao: config")
  local path, how = M.find_config(root)
  if path then
    if vim.uv.fs_stat(path) then
      health.ok(("config found: %s (%s)"):format(path, how))
    else
      health.error(("config not found: %s (%s)"):format(path, how))
    end
  else
    health.warn("no agent-orchestrator.yaml found; the workspace folder is used as the only project", {
      "create agent-orchestrator.yaml in " .. root .. " to name projects, prompts and models",
    })
  end
  if probe and probe.ok then
    local names = {}
    for _, p in ipairs((probe.list or {}).projects or {}) do
      names[#names + 1] = p.name .. (p.default and " (default)" or "")
    end
    health.ok(("config valid: projects %s"):format(#names > 0 and table.concat(names, ", ") or "none"))
    for _, w in ipairs((probe.list or {}).warnings or {}) do
      health.warn(tostring(w))
    end
  elseif probe and probe.stage == "ao/list" then
    health.error("config invalid: " .. (probe.error or "?"))
  elseif exe ~= "" then
    health.warn("config not checked: the server did not start")
  end
end

return M
