---@mod ao.config Options of ao.nvim and their defaults

local M = {}

---@alias ao.StatusView "float"|"quickfix"

---@class ao.Config
---@field cmd string[] Command that starts the server; it speaks JSON-RPC on stdin/stdout.
---@field cmd_env? table<string,string> Extra environment for the server process.
---@field poll_interval number Seconds between the server's status polls (initializationOptions.pollInterval).
---@field config_path? string agent-orchestrator.yaml to use; nil lets the server search (see `:help ao-config`).
---@field state_dir? string Where sessions are stored; nil: the server's default ($AO_STATE_DIR, XDG state).
---@field root_dir? string|fun(): string Workspace root; nil: the nearest root_markers folder above :pwd.
---@field root_markers string[] Files or folders that mark a workspace root when `root_dir` is nil.
---@field notify boolean Turn status changes (a session started, exited) into vim.notify messages.
---@field prompt_input boolean Ask at once (vim.ui.select) when a live agent asks something; false: only notify.
---@field spawn_live boolean `:Ao spawn` starts live agents (answerable: see `:help ao-live`) unless --run.
---@field status_view ao.StatusView Where `:Ao status` shows sessions.
---@field attach_split string Ex command that opens the window for `:Ao attach`'s terminal.
---@field attach_insert boolean Enter terminal mode after `:Ao attach` opens the terminal.
---@field logs_split string Ex command that opens the window for `:Ao logs`.
---@field log_lines integer How many lines `:Ao logs` asks for (from the end).
---@field request_timeout integer Milliseconds the synchronous Lua API (and completion) waits for the server.
---@field float ao.FloatConfig Look of the `:Ao status` window.
---@field statusline ao.StatuslineConfig What require("ao").statusline() shows.

---@class ao.StatuslineConfig
---@field spend boolean Add today's spend ("today $1.23", " of $50.00" with a daily budget).

---@class ao.FloatConfig
---@field border string|string[] Border of the floating window (see nvim_open_win()).
---@field width number Width: a fraction of the editor (<= 1) or columns (> 1).
---@field height number Maximum height: a fraction of the editor (<= 1) or lines (> 1).

---@type ao.Config
M.defaults = {
  -- the server command: `ao-server` from `pipx install <the repository>`; or { "python3", "-m", "ao_server" }
  cmd = { "ao-server" },
  -- extra environment variables for the server (e.g. { AO_OPENCODE_BIN = "/opt/opencode/bin/opencode" })
  cmd_env = nil,
  -- seconds between the server's status polls; notifications arrive within about this much of a change
  poll_interval = 1.0,
  -- path of agent-orchestrator.yaml; nil: $AO_CONFIG, then upward from the root, then ~/.config/agent-orchestrator/
  config_path = nil,
  -- where the server keeps its session store; nil: $AO_STATE_DIR or $XDG_STATE_HOME/agent-orchestrator
  state_dir = nil,
  -- the workspace root (a path, or a function returning one); nil: found from root_markers upward from :pwd
  root_dir = nil,
  -- what marks a workspace root, nearest first
  root_markers = { "agent-orchestrator.yaml", ".git" },
  -- vim.notify when a session starts or exits (exit with an error: WARN or ERROR)
  notify = true,
  -- when a live agent asks for a permission or asks questions: vim.ui.select at once (false: a notification)
  prompt_input = true,
  -- `:Ao spawn` starts live agents (like `:Ao spawn --live`); `--run` overrides
  spawn_live = false,
  -- "float" (a window with keys to attach, kill, resume) or "quickfix"
  status_view = "float",
  -- how `:Ao attach` opens its terminal window
  attach_split = "botright split",
  -- start typing into the agent's terminal right away
  attach_insert = true,
  -- how `:Ao logs` opens its window
  logs_split = "botright split",
  -- lines of output `:Ao logs` fetches
  log_lines = 2000,
  -- ms that synchronous calls (require("ao").request_sync, <Tab> completion) wait for the server
  request_timeout = 5000,
  float = {
    -- border of the `:Ao status` window
    border = "rounded",
    -- width: fraction of the editor's columns, or a column count
    width = 0.9,
    -- maximum height: fraction of the editor's lines, or a line count
    height = 0.6,
  },
  statusline = {
    -- add today's spend to require("ao").statusline(): asked of the running server when sessions change
    -- (at most every few seconds), never on a redraw
    spend = false,
  },
}

---@type ao.Config
M.options = vim.deepcopy(M.defaults)

---@param opts? table
---@return ao.Config
function M.set(opts)
  opts = opts or {}
  local checks = {
    cmd = "table",
    cmd_env = "table",
    poll_interval = "number",
    config_path = "string",
    state_dir = "string",
    root_markers = "table",
    notify = "boolean",
    prompt_input = "boolean",
    spawn_live = "boolean",
    status_view = "string",
    request_timeout = "number",
    log_lines = "number",
    statusline = "table",
  }
  opts = vim.deepcopy(opts)
  for key, want in pairs(checks) do
    if opts[key] ~= nil and type(opts[key]) ~= want then
      vim.notify(("ao.setup: option %s must be a %s, got %s; using the default"):format(key, want, type(opts[key])),
        vim.log.levels.ERROR)
      opts[key] = nil
    end
  end
  if opts.cmd and (#opts.cmd == 0 or type(opts.cmd[1]) ~= "string") then
    vim.notify('ao.setup: option cmd must be a list like { "ao-server" }; using the default', vim.log.levels.ERROR)
    opts.cmd = nil
  end
  if opts.poll_interval and (opts.poll_interval < 0.05 or opts.poll_interval > 3600) then
    vim.notify("ao.setup: poll_interval must be from 0.05 to 3600 seconds; using 1.0", vim.log.levels.ERROR)
    opts.poll_interval = nil
  end
  for _, key in ipairs({ "config_path", "state_dir" }) do
    if opts[key] == "" then
      opts[key] = nil
    end
  end
  if opts.status_view and opts.status_view ~= "float" and opts.status_view ~= "quickfix" then
    vim.notify('ao.setup: status_view must be "float" or "quickfix"; using "float"', vim.log.levels.ERROR)
    opts.status_view = nil
  end
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  if opts.cmd then
    M.options.cmd = opts.cmd -- a list: replaced, not merged element by element
  end
  if opts.root_markers then
    M.options.root_markers = opts.root_markers
  end
  return M.options
end

return M
