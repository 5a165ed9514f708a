---@brief [[
--- The ao-server client's lifecycle: one Neovim LSP client (|vim.lsp.start()|) per workspace root,
--- started the first time it is needed; work handed to |ao.client.when_ready()| waits until the server
--- has answered `initialize` (or fails with the reason); stopping leaves the agents running. A server
--- that exits is started again by the next request.
---
--- This module knows nothing of sessions or messages: what the server says goes to the handlers of the
--- spec it is started with (see `ao.ClientSpec`), built by init.lua.
---@brief ]]

local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- How long the server may take to answer `initialize` (ms).
M.START_TIMEOUT = 30000

---@class ao.ClientSpec
---@field root string the workspace root (one client per root)
---@field cmd string[] the server command
---@field cmd_env? table<string, string>
---@field init_options table `initializationOptions`
---@field handlers table<string, lsp.Handler> for the server's notifications
---@field guard fun(what: string, fn: function, ...) runs a callback, its Lua errors reported, not raised
---@field on_ready? fun(client: vim.lsp.Client) once `initialize` is answered (after the waiting work)
---@field on_exit? fun(why: string) the server exited unexpectedly (not stopped, not before it was ready)
---@field not_found? fun(cmd: string): string the message when the command is not executable

local state = {
  ---@type table<string, integer> client id by workspace root
  clients = {},
  ---@type table<integer, fun(client: vim.lsp.Client?, err: string?)[]> work waiting for a client to initialize
  pending = {},
  ---@type table<integer, boolean> clients we are stopping on purpose
  stopping = {},
  ---@type table<integer, boolean> clients whose initialize has been answered
  ready = {},
}
M.state = state

--- Call a client method: `client:request()` on 0.11+, `client.request()` on 0.10.
---@param client vim.lsp.Client
---@param name string
function M.call(client, name, ...)
  if has_011 then
    return client[name](client, ...)
  end
  return client[name](...)
end

--- A Lua error's message without "file:line:" and traceback.
---@param err any
---@return string
local function lua_error_text(err)
  local text = tostring(err):gsub("\nstack traceback:.*$", "")
  return (text:gsub("^[^\n]-%.lua:%d+: ", ""))
end

--- Run what waited for client `id` to be ready (or to fail).
---@param id integer
---@param guard fun(what: string, fn: function, ...)
---@param client? vim.lsp.Client
---@param err? string
local function flush(id, guard, client, err)
  local waiting = state.pending[id] or {}
  state.pending[id] = nil
  for _, fn in ipairs(waiting) do
    guard("request", fn, client, err)
  end
end

--- The running client for `root`, without starting one.
---@param root string
---@return vim.lsp.Client?
function M.get(root)
  local id = state.clients[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if client and not M.call(client, "is_stopped") then
    return client
  end
end

--- Has the server answered `initialize`?
---@param client? vim.lsp.Client
---@return boolean
function M.is_ready(client)
  return client ~= nil and state.ready[client.id] == true
end

--- Start (or reuse) the server for `spec.root`.
---@param spec ao.ClientSpec
---@return vim.lsp.Client? client
---@return string? err
function M.start(spec)
  local existing = M.get(spec.root)
  if existing then
    return existing
  end
  local root, cmd = spec.root, spec.cmd
  if vim.fn.executable(cmd[1]) ~= 1 then
    return nil, spec.not_found and spec.not_found(cmd[1]) or ("the server command %q was not found"):format(cmd[1])
  end
  ---@type vim.lsp.ClientConfig
  local cfg = {
    name = "ao",
    cmd = cmd,
    cmd_cwd = root,
    cmd_env = spec.cmd_env,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = spec.init_options,
    handlers = spec.handlers,
    on_init = function(client)
      state.ready[client.id] = true
      vim.schedule(function()
        flush(client.id, spec.guard, client)
        if spec.on_ready then
          spec.guard("start", spec.on_ready, client)
        end
      end)
    end,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        for r, id in pairs(state.clients) do
          if id == client_id then
            state.clients[r] = nil
          end
        end
        local sig = (signal and signal ~= 0) and (", signal " .. signal) or ""
        local why = ("ao-server exited (code %s%s)"):format(code, sig)
        if state.pending[client_id] then
          flush(client_id, spec.guard, nil, why .. " before it was ready; :checkhealth ao and :LspLog say why")
        elseif not state.stopping[client_id] and code ~= 0 and (vim.v.exiting == nil or vim.v.exiting == vim.NIL) and spec.on_exit then
          spec.on_exit(why)
        end
        state.stopping[client_id] = nil
        state.ready[client_id] = nil
      end)
    end,
  }
  local ok, id = pcall(vim.lsp.start, cfg, {
    attach = false, -- 0.11+: a workspace client, not tied to a buffer
    silent = true,
    reuse_client = function(client, c)
      return client.name == c.name and client.root_dir == c.root_dir
    end,
  })
  if not ok or not id then
    local why = ok and "see :LspLog" or lua_error_text(id)
    return nil, ("could not start %s: %s"):format(table.concat(cmd, " "), why)
  end
  state.clients[root] = id
  return vim.lsp.get_client_by_id(id)
end

--- Stop the server of `root` (agents keep running).
---@param root string
function M.stop(root)
  local client = M.get(root)
  if client then
    state.stopping[client.id] = true
    M.call(client, "stop")
  end
end

--- Call `fn(client)` once the server for `spec.root` is initialized (starting it when needed), or
--- `fn(nil, err)` when it cannot start or does not answer `initialize` within START_TIMEOUT.
---@param spec ao.ClientSpec
---@param fn fun(client: vim.lsp.Client?, err: string?)
function M.when_ready(spec, fn)
  local client, err = M.start(spec)
  if not client then
    return fn(nil, err)
  end
  if state.ready[client.id] then
    return fn(client)
  end
  local id = client.id
  if not state.pending[id] then
    state.pending[id] = {}
    vim.defer_fn(function()
      if state.pending[id] and not state.ready[id] then
        flush(id, spec.guard, nil,
          ("ao-server did not finish starting within %d s; :LspLog says why"):format(M.START_TIMEOUT / 1000))
      end
    end, M.START_TIMEOUT)
  end
  table.insert(state.pending[id], fn)
end

--- Params as a JSON object even when empty (an empty Lua table would be encoded as []).
local function object(params)
  if params == nil or (type(params) == "table" and next(params) == nil) then
    return vim.empty_dict()
  end
  return params
end

--- Send `method` (e.g. "ao/status") as `workspace/executeCommand`; `cb(err, result)` with the raw error
--- (`lsp.ResponseError`) or a `{message}` when the request could not be sent.
---@param client vim.lsp.Client
---@param method string
---@param params? table
---@param cb fun(err: table?, result: any)
function M.execute(client, method, params, cb)
  local ok, sent = pcall(M.call, client, "request", "workspace/executeCommand",
    { command = method, arguments = { object(params) } }, cb)
  if not ok or not sent then
    cb({ message = "the server is not running" .. (ok and "" or (": " .. lua_error_text(sent))) })
  end
end

return M
