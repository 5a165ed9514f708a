---@mod ao.ui Windows of ao.nvim: the sessions view, text views (hosts), the attach terminal, the logs buffer

local M = {}

local function ao()
  return require("ao")
end

local function nn(v)
  return ao()._nn(v)
end

local has_011 = vim.fn.has("nvim-0.11") == 1

-- formatting --------------------------------------------------------------------------------------

local utc_offset ---@type integer?

--- Seconds since the epoch of an ISO 8601 UTC time like 2025-11-25T10:05:00.123Z.
---@param iso? string
---@return integer?
function M.parse_time(iso)
  if type(iso) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, s = iso:match("^(%d+)-(%d+)-(%d+)[T ](%d+):(%d+):(%d+)")
  if not y then
    return nil
  end
  if not utc_offset then
    local now = os.time()
    utc_offset = os.difftime(now, os.time(os.date("!*t", now) --[[@as osdateparam]]))
  end
  local t = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false })
  return t + utc_offset
end

--- "42s", "3m", "5h", "2d".
---@param iso? string
---@return string
function M.age(iso)
  local t = M.parse_time(iso)
  if not t then
    return "-"
  end
  local secs = math.max(0, os.time() - t)
  for _, u in ipairs({ { "d", 86400 }, { "h", 3600 }, { "m", 60 } }) do
    if secs >= u[2] then
      return ("%d%s"):format(math.floor(secs / u[2]), u[1])
    end
  end
  return ("%ds"):format(secs)
end

---@param cost? {usd: number}
---@return string
function M.cost(cost)
  cost = nn(cost)
  if type(cost) ~= "table" then
    return "-"
  end
  return require("ao.cost").usd(cost.usd)
end

--- A local time for "since ...": "21:35:59" today, "2026-11-25 21:35:59" another day; nil without a time.
---@param iso? string ISO 8601 UTC
---@return string?
function M.clock(iso)
  local t = M.parse_time(iso)
  if not t then
    return nil
  end
  local fmt = os.date("%Y-%m-%d", t) == os.date("%Y-%m-%d") and "%H:%M:%S" or "%Y-%m-%d %H:%M:%S"
  return os.date(fmt, t) --[[@as string]]
end

--- "unreachable since 21:35:59" for a session whose host does not answer (it is still running as far as anyone
--- knows); nil otherwise.
---@param s ao.Session
---@return string?
function M.unreachable_text(s)
  if s.status ~= "running" or nn(s.activity) ~= "unreachable" then
    return nil
  end
  local since = M.clock(nn(s.unreachableSince))
  return since and ("unreachable since " .. since) or "unreachable"
end

--- Where a session runs: "ssh:build1" for a remote host, else its runtime ("tmux", "process", "live").
---@param s ao.Session
---@return string
function M.where(s)
  local host = nn(s.host)
  if type(host) == "string" and host ~= "" then
    return "ssh:" .. host
  end
  return tostring(nn(s.runtime) or "-")
end

---@param s ao.Session
---@return string
function M.status_text(s)
  if s.status == "running" then
    return M.unreachable_text(s) or "running"
  end
  local code = nn(s.exitCode)
  local outcome = type(nn(s.outcome)) == "table" and nn(s.outcome.result) or nil
  local text = code ~= nil and ("exited(%s)"):format(code) or "exited"
  if outcome and outcome ~= "success" then
    text = text .. " " .. outcome
  end
  return text
end

local function one_line(text, max)
  local s = tostring(nn(text) or ""):gsub("%s+", " ")
  if vim.fn.strchars(s) > max then
    s = vim.fn.strcharpart(s, 0, max - 1) .. "…"
  end
  return s
end

--- The table of sessions as lines; `ids[i]` is the session on line i (nil for the header).
---@param sessions ao.Session[]
---@return string[] lines
---@return table<integer, string> ids
function M.render(sessions)
  if #sessions == 0 then
    return { "No sessions. Start one with :Ao spawn [project] {prompt}" }, {}
  end
  -- a RUNTIME column ("ssh:build1", "tmux") only when some session runs on a remote host
  local remote = false
  for _, s in ipairs(sessions) do
    remote = remote or type(nn(s.host)) == "string"
  end
  local header = remote and { "ID", "STATUS", "ACTIVITY", "RUNTIME", "COST", "AGE", "PROMPT" }
    or { "ID", "STATUS", "ACTIVITY", "COST", "AGE", "PROMPT" }
  local rows = { header }
  for _, s in ipairs(sessions) do
    local row = { s.sessionId, M.status_text(s), tostring(nn(s.activity) or "-") }
    if remote then
      row[#row + 1] = M.where(s)
    end
    vim.list_extend(row, { M.cost(s.cost), M.age(nn(s.createdAt)), one_line(s.prompt, 60) })
    rows[#rows + 1] = row
  end
  local widths = {}
  for _, r in ipairs(rows) do
    for i = 1, #r - 1 do
      widths[i] = math.max(widths[i] or 0, vim.fn.strdisplaywidth(r[i]))
    end
  end
  local lines, ids = {}, {}
  for n, r in ipairs(rows) do
    local cells = {}
    for i = 1, #r - 1 do
      cells[i] = r[i] .. string.rep(" ", widths[i] - vim.fn.strdisplaywidth(r[i]))
    end
    cells[#r] = r[#r]
    lines[n] = table.concat(cells, "  ")
    if n > 1 then
      ids[n] = sessions[n - 1].sessionId
    end
  end
  return lines, ids
end

local function sorted(sessions)
  local list = vim.list_extend({}, sessions or {})
  table.sort(list, function(a, b)
    return (nn(a.createdAt) or "") > (nn(b.createdAt) or "")
  end)
  return list
end

-- the sessions view ---------------------------------------------------------------------------------

local view = { buf = nil, win = nil, opts = nil } ---@type {buf: integer?, win: integer?, opts: table?}
M._view = view

local KEYS_HELP = " <CR>/a attach  x kill  r resume  l logs  R refresh  q close "

--- The session id under the cursor in the sessions view (or the quickfix list).
---@return string?
function M.current_id()
  local buf = vim.api.nvim_get_current_buf()
  if vim.bo[buf].buftype == "quickfix" then
    local item = vim.fn.getqflist()[vim.fn.line(".")]
    return item and nn(item.user_data) or nil
  end
  local ids = vim.b[buf].ao_ids or {}
  return ids[tostring(vim.fn.line("."))]
end

local function with_current(fn)
  return function()
    local id = M.current_id()
    if not id then
      return ao().notify("no session on this line", vim.log.levels.WARN)
    end
    fn(id)
  end
end

local function close_view()
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    pcall(vim.api.nvim_win_close, view.win, true)
  end
  view.win = nil
end
M.close = close_view

--- Actions on a session from the sessions view, by key.
M.actions = {
  attach = function(id)
    close_view()
    ao().attach(id)
  end,
  kill = function(id)
    vim.ui.select({ "Kill " .. id, "Cancel" }, { prompt = "Stop this agent?" }, function(choice)
      if choice and choice:sub(1, 4) == "Kill" then
        ao().kill(id, function(err, session)
          if err then
            return ao().report("kill", err)
          end
          ao().notify(ao().killed_text(session))
          M.refresh()
        end)
      end
    end)
  end,
  resume = function(id)
    vim.ui.input({ prompt = ("Follow-up prompt for %s (empty: just continue): "):format(id) }, function(input)
      if input == nil then
        return
      end
      ao().resume(id, input, function(err, session)
        if err then
          return ao().report("resume", err)
        end
        ao().notify(("resumed %s"):format(session.sessionId))
        M.refresh()
      end)
    end)
  end,
  logs = function(id)
    close_view()
    ao().logs(id)
  end,
}

local function map_actions(buf, wrap)
  wrap = wrap or function(fn)
    return fn
  end
  local function map(lhs, fn, desc)
    vim.keymap.set("n", lhs, wrap(fn), { buffer = buf, nowait = true, silent = true, desc = "ao: " .. desc })
  end
  map("a", with_current(M.actions.attach), "attach to the session")
  map("x", with_current(M.actions.kill), "kill the session")
  map("r", with_current(M.actions.resume), "resume the session")
  map("l", with_current(M.actions.logs), "show the session's logs")
  map("R", M.refresh, "refresh")
  return map
end

---@param lines string[]
---@param wrap? boolean the window wraps long lines: count the rows they take
local function float_geometry(lines, wrap)
  local o = ao().options().float
  local cols, rows = vim.o.columns, vim.o.lines - vim.o.cmdheight - 2
  local function size(v, total)
    return v <= 1 and math.floor(total * v) or math.floor(v)
  end
  local want = #KEYS_HELP + 2
  for _, l in ipairs(lines) do
    want = math.max(want, vim.fn.strdisplaywidth(l))
  end
  local width = math.max(20, math.min(want + 1, size(o.width, cols), cols - 4))
  local needed = #lines
  if wrap then
    needed = 0
    for _, l in ipairs(lines) do
      needed = needed + math.max(1, math.ceil(vim.fn.strdisplaywidth(l) / width))
    end
  end
  local height = math.max(1, math.min(needed, size(o.height, rows), rows - 2))
  return {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((rows - height) / 2) - 1),
    col = math.max(0, math.floor((cols - width) / 2)),
  }
end

local function fill(buf, lines, ids)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local by_line = vim.empty_dict()
  for n, id in pairs(ids) do
    by_line[tostring(n)] = id
  end
  vim.b[buf].ao_ids = by_line
end

---@param sessions ao.Session[]
local function show_float(sessions)
  local lines, ids = M.render(sorted(sessions))
  local buf = view.buf
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].filetype = "ao-status"
    pcall(vim.api.nvim_buf_set_name, buf, "ao://status")
    local map = map_actions(buf)
    map("<CR>", with_current(M.actions.attach), "attach to the session")
    map("q", close_view, "close")
    map("<Esc>", close_view, "close")
    vim.api.nvim_create_autocmd("BufWipeout", {
      buffer = buf,
      callback = function()
        view.buf, view.win = nil, nil
      end,
    })
    view.buf = buf
  end
  fill(buf, lines, ids)
  local geo = float_geometry(lines)
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    vim.api.nvim_win_set_config(view.win, geo)
  else
    local wcfg = vim.tbl_extend("force", geo, {
      style = "minimal",
      border = ao().options().float.border,
      title = " ao sessions ",
      title_pos = "center",
      footer = KEYS_HELP,
      footer_pos = "center",
    })
    view.win = vim.api.nvim_open_win(buf, true, wcfg)
    vim.wo[view.win].cursorline = true
    vim.wo[view.win].wrap = false
    pcall(vim.api.nvim_win_set_cursor, view.win, { math.min(2, #lines), 0 })
  end
end

--- Is the current quickfix list the sessions list?
---@return boolean
function M.qf_is_ours()
  local ctx = vim.fn.getqflist({ context = 1 }).context
  return type(ctx) == "table" and ctx.ao == true
end

---@param sessions ao.Session[]
local function show_quickfix(sessions)
  local lines, ids = M.render(sorted(sessions))
  local items = {}
  for n, line in ipairs(lines) do
    if ids[n] then
      items[#items + 1] = { text = line, user_data = ids[n], valid = 0 }
    end
  end
  -- replace our own list in place instead of stacking a new one on every refresh
  vim.fn.setqflist({}, M.qf_is_ours() and "r" or " ", { title = "ao sessions", items = items, context = { ao = true } })
  vim.cmd("botright copen")
  local buf = vim.api.nvim_get_current_buf()
  -- the quickfix buffer is shared: the keys act only while the list is ours
  map_actions(buf, function(fn)
    return function()
      if M.qf_is_ours() then
        fn()
      end
    end
  end)
end

--- Show sessions in the configured view (float or quickfix).
---@param sessions ao.Session[]
---@param opts? table the filter they were asked with
function M.show_status(sessions, opts)
  view.opts = opts or {}
  if ao().options().status_view == "quickfix" then
    return show_quickfix(sessions)
  end
  show_float(sessions)
end

--- Is the sessions float open?
---@return boolean
function M.is_open()
  return view.win ~= nil and vim.api.nvim_win_is_valid(view.win)
end

--- Fetch sessions again and redraw the open view.
function M.refresh()
  ao().status(view.opts or {}, function(err, sessions)
    if err then
      return ao().report("status", err)
    end
    if M.is_open() then
      show_float(sessions)
    elseif M.qf_is_ours() then
      local cur = vim.api.nvim_get_current_win()
      show_quickfix(sessions)
      pcall(vim.api.nvim_set_current_win, cur)
    end
  end)
end

local refresh_pending = false

--- Is a sessions view shown: the float, or the quickfix window with our list?
---@return boolean
local function shown()
  return M.is_open() or (M.qf_is_ours() and vim.fn.getqflist({ winid = 0 }).winid ~= 0)
end

--- A status change arrived: redraw the shown view (once per burst of changes).
function M.on_change()
  if refresh_pending or not shown() then
    return
  end
  refresh_pending = true
  vim.defer_fn(function()
    refresh_pending = false
    if shown() then
      M.refresh()
    end
  end, 50)
end

-- text views (:Ao hosts) ---------------------------------------------------------------------------

local texts = {} ---@type table<string, {buf: integer?, win: integer?}>
M._texts = texts

--- Is the quickfix list the text view `name`?
---@param name string
---@return boolean
local function qf_is_text(name)
  local ctx = vim.fn.getqflist({ context = 1 }).context
  return type(ctx) == "table" and ctx.ao_view == name
end

--- Show read-only `lines` where `:Ao status` shows sessions: a floating window `ao://{name}` (`R` calls
--- `refresh`, `q`/<Esc> close; reused while open), or with `status_view = "quickfix"` the quickfix list titled
--- "ao {name}".
---@param name string e.g. "hosts"
---@param lines string[]
---@param refresh? fun()
function M.show_text(name, lines, refresh)
  if ao().options().status_view == "quickfix" then
    local items = {}
    for _, l in ipairs(lines) do
      items[#items + 1] = { text = l, valid = 0 }
    end
    vim.fn.setqflist({}, qf_is_text(name) and "r" or " ",
      { title = "ao " .. name, items = items, context = { ao_view = name } })
    vim.cmd("botright copen")
    return
  end
  local v = texts[name] or {}
  texts[name] = v
  local function close()
    if v.win and vim.api.nvim_win_is_valid(v.win) then
      pcall(vim.api.nvim_win_close, v.win, true)
    end
    v.win = nil
  end
  local buf = v.buf
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].filetype = "ao-" .. name
    pcall(vim.api.nvim_buf_set_name, buf, "ao://" .. name)
    local function map(lhs, fn, desc)
      vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true, desc = "ao: " .. desc })
    end
    map("q", close, "close")
    map("<Esc>", close, "close")
    if refresh then
      map("R", refresh, "refresh")
    end
    vim.api.nvim_create_autocmd("BufWipeout", {
      buffer = buf,
      callback = function()
        v.buf, v.win = nil, nil
      end,
    })
    v.buf = buf
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  local geo = float_geometry(lines, true)
  if v.win and vim.api.nvim_win_is_valid(v.win) then
    vim.api.nvim_win_set_config(v.win, geo)
    vim.api.nvim_set_current_win(v.win)
  else
    v.win = vim.api.nvim_open_win(buf, true, vim.tbl_extend("force", geo, {
      style = "minimal",
      border = ao().options().float.border,
      title = " ao " .. name .. " ",
      title_pos = "center",
      footer = refresh and " R refresh  q close " or " q close ",
      footer_pos = "center",
    }))
    vim.wo[v.win].wrap = true
    vim.wo[v.win].linebreak = true
  end
end

--- Is the text view `name` shown (its float open)?
---@param name string
---@return boolean
function M.text_open(name)
  local v = texts[name]
  return v ~= nil and v.win ~= nil and vim.api.nvim_win_is_valid(v.win)
end

-- attach -----------------------------------------------------------------------------------------

--- Open a terminal split running `info.argv` (from ao/attach).
---@param info ao.AttachInfo
---@return integer? buf
---@return string? err
function M.open_terminal(info)
  if type(info) ~= "table" or type(nn(info.argv)) ~= "table" or #info.argv == 0 then
    return nil, "the server's attach answer has no command to run"
  end
  local argv = info.argv
  local command = nn(info.command) or table.concat(argv, " ")
  if vim.fn.executable(argv[1]) ~= 1 then
    return nil, ("cannot run %s: %s is not installed or not on PATH"):format(command, argv[1])
  end
  vim.cmd(ao().options().attach_split)
  local buf = vim.api.nvim_create_buf(true, false)
  vim.api.nvim_win_set_buf(0, buf)
  local env = nil
  if vim.env.TMUX and vim.env.TMUX ~= "" then
    env = { TMUX = "" } -- Neovim inside tmux: the agent's tmux is another server (its own socket)
  end
  local ok, job = pcall(function()
    if has_011 then
      return vim.fn.jobstart(argv, { term = true, env = env })
    end
    return vim.fn.termopen(argv, { env = env })
  end)
  if not ok or type(job) ~= "number" or job <= 0 then
    pcall(vim.api.nvim_buf_delete, buf, { force = true })
    pcall(vim.cmd, "close")
    return nil, ("cannot run %s%s"):format(command, ok and "" or (": " .. ao().error_text(job)))
  end
  vim.b[buf].ao_session = info.sessionId
  vim.b[buf].ao_attach = info
  if ao().options().attach_insert then
    vim.cmd("startinsert")
  end
  return buf
end

-- logs ---------------------------------------------------------------------------------------------

local logs_bufs = {} ---@type table<string, integer>

--- Show a session's output in a scratch split (one per session; `R` reloads, `q` closes).
---@param id string
---@param text string
function M.show_logs(id, text)
  local buf = logs_bufs[id]
  local existing = buf ~= nil and vim.api.nvim_buf_is_valid(buf)
  if existing and vim.fn.bufwinid(buf) ~= -1 then
    vim.api.nvim_set_current_win(vim.fn.bufwinid(buf))
  else
    vim.cmd(ao().options().logs_split)
    if not existing then
      buf = vim.api.nvim_create_buf(false, true)
      logs_bufs[id] = buf
      vim.bo[buf].bufhidden = "wipe"
      vim.bo[buf].filetype = "ao-logs"
      pcall(vim.api.nvim_buf_set_name, buf, "ao://logs/" .. id)
      vim.keymap.set("n", "q", "<cmd>close<cr>", { buffer = buf, nowait = true, silent = true, desc = "ao: close" })
      vim.keymap.set("n", "R", function()
        ao().logs(id)
      end, { buffer = buf, nowait = true, silent = true, desc = "ao: reload the logs" })
    end
    vim.api.nvim_win_set_buf(0, buf)
  end
  ---@cast buf integer
  local clean = (text or ""):gsub("\r", "")
  clean = clean:gsub("\n$", "")
  local lines = vim.split(clean, "\n", { plain = true })
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.b[buf].ao_session = id
  pcall(vim.api.nvim_win_set_cursor, 0, { #lines, 0 })
end

return M
