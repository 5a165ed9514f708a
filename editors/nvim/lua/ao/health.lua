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

local function encode(msg)
  local body = vim.json.encode(msg)
  return ("Content-Length: %d\r\n\r\n%s"):format(#body, body)
end

--- Start the server command, initialize it and ask for ao/list; then shut it down.
---@param cmd string[]
---@param root string
---@param init_options table
---@return {ok: boolean, stage: string, error?: string, list?: table, server?: table}
function M.probe(cmd, root, init_options, timeout)
  timeout = timeout or PROBE_TIMEOUT
  local buffer, stderr = "", {}
  local ok, proc = pcall(vim.system, cmd, {
    cwd = root,
    env = require("ao").options().cmd_env,
    stdin = true,
    stdout = function(_, data)
      if data then
        buffer = buffer .. data
      end
    end,
    stderr = function(_, data)
      if data then
        stderr[#stderr + 1] = data
      end
    end,
  })
  if not ok then
    return { ok = false, stage = "start", error = tostring(proc) }
  end
  local function messages()
    local out = {}
    while true do
      local header_end = buffer:find("\r\n\r\n", 1, true)
      if not header_end then
        break
      end
      local len = tonumber(buffer:sub(1, header_end):match("[Cc]ontent%-[Ll]ength:%s*(%d+)"))
      if not len or #buffer < header_end + 3 + len then
        break
      end
      local body = buffer:sub(header_end + 4, header_end + 3 + len)
      buffer = buffer:sub(header_end + 4 + len)
      local dok, msg = pcall(vim.json.decode, body, { luanil = { object = true } })
      if dok then
        out[#out + 1] = msg
      end
    end
    return out
  end
  local responses = {}
  local function await(id)
    local deadline = vim.uv.now() + timeout
    while vim.uv.now() < deadline do
      for _, msg in ipairs(messages()) do
        if msg.id ~= nil and msg.method == nil then
          responses[msg.id] = msg
        end
      end
      if responses[id] then
        return responses[id]
      end
      if proc:is_closing() then
        vim.wait(50)
        for _, msg in ipairs(messages()) do
          if msg.id ~= nil and msg.method == nil then
            responses[msg.id] = msg
          end
        end
        return responses[id]
      end
      vim.wait(20)
    end
  end
  local function stop()
    pcall(proc.write, proc, encode({ jsonrpc = "2.0", id = 3, method = "shutdown" }))
    await(3)
    pcall(proc.write, proc, encode({ jsonrpc = "2.0", method = "exit" }))
    pcall(proc.write, proc, nil)
    proc:wait(3000) -- kills it when it does not exit in time
  end
  local function why()
    local text = vim.trim(table.concat(stderr))
    local lines = vim.split(text, "\n")
    return lines[#lines] ~= "" and lines[#lines] or nil
  end

  local uri = vim.uri_from_fname(root)
  proc:write(encode({
    jsonrpc = "2.0",
    id = 1,
    method = "initialize",
    params = {
      processId = vim.fn.getpid(),
      rootUri = uri,
      workspaceFolders = { { uri = uri, name = root } },
      capabilities = vim.empty_dict(),
      initializationOptions = init_options,
      clientInfo = { name = "ao.nvim checkhealth" },
    },
  }))
  local init = await(1)
  if not init then
    pcall(proc.kill, proc, 9)
    local reason = proc:is_closing() and ("it exited" .. (why() and (": " .. why()) or ""))
      or ("no answer to initialize within %d ms"):format(timeout)
    return { ok = false, stage = "initialize", error = reason }
  end
  if init.error then
    stop()
    return { ok = false, stage = "initialize", error = tostring(init.error.message) }
  end
  proc:write(encode({ jsonrpc = "2.0", method = "initialized", params = vim.empty_dict() }))
  proc:write(encode({
    jsonrpc = "2.0",
    id = 2,
    method = "workspace/executeCommand",
    params = { command = "ao/list", arguments = { vim.empty_dict() } },
  }))
  local list = await(2)
  local server = init.result and init.result.serverInfo or nil
  stop()
  if not list then
    return { ok = false, stage = "ao/list", error = "no answer to ao/list", server = server }
  end
  if list.error then
    return { ok = false, stage = "ao/list", error = tostring(list.error.message), code = list.error.code,
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
    if client and ao._state.ready[client.id] then
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
