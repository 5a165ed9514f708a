---@mod ao.cost Spending: `:Ao cost`, today's spend for the statusline, the budget warning

local M = {}

local function ao()
  return require("ao")
end

local function nn(v)
  return ao()._nn(v)
end

local levels = vim.log.levels

--- The least time between two `ao/cost` requests for the statusline (ms).
M.SPEND_INTERVAL = 5000
--- The server warns (ao/statusChanged) when a budget reaches this fraction, and stops the agent at 1.
M.WARN_FRACTION = 0.8

-- formatting ------------------------------------------------------------------------------------------

--- "$1.23"; below a cent "$0.00012"; "-" for anything not an amount. The one money format of the plugin.
---@param usd any
---@return string
function M.usd(usd)
  usd = nn(usd)
  if type(usd) ~= "number" or usd ~= usd or usd < 0 then
    return "-"
  end
  if usd == 0 or usd >= 0.01 then
    return ("$%.2f"):format(usd)
  end
  return ("$%.5f"):format(usd)
end

--- A limit: "$2.00"; one below a cent keeps its digits ("$0.001").
---@param limit number
---@return string
function M.limit(limit)
  if limit >= 0.01 then
    return ("$%.2f"):format(limit)
  end
  return "$" .. tostring(limit)
end

--- "12.3k", "4.5M", "980".
---@param n integer
---@return string
local function count(n)
  if n >= 1e6 then
    return ("%.1fM"):format(n / 1e6)
  elseif n >= 1e3 then
    return ("%.1fk"):format(n / 1e3)
  end
  return tostring(math.floor(n))
end

---@param tokens? ao.Tokens
---@return integer
local function token_sum(tokens)
  tokens = nn(tokens)
  local sum = 0
  if type(tokens) == "table" then
    for _, k in ipairs({ "input", "output", "reasoning", "cacheRead", "cacheWrite" }) do
      local v = nn(tokens[k])
      sum = sum + (type(v) == "number" and v or 0)
    end
  end
  return sum
end

---@param n integer
---@return string
local function sessions_text(n)
  return ("%d session%s"):format(n, n == 1 and "" or "s")
end

--- "60% of $2.00 session budget" (floored: 99.9 % is not yet the limit), or nil.
---@param budget? ao.BudgetState
---@return string?
function M.budget_text(budget)
  budget = nn(budget)
  if type(budget) ~= "table" or type(nn(budget.fraction)) ~= "number" or type(nn(budget.limit)) ~= "number" then
    return nil
  end
  local scope = budget.scope == "day" and "daily" or tostring(nn(budget.scope) or "")
  return ("%d%% of %s %s budget"):format(math.floor(budget.fraction * 100), M.limit(budget.limit), scope)
end

--- "2026-11-26 00:00" from an ISO time; "all time" for none.
---@param iso? string
---@return string
local function since_text(iso)
  iso = nn(iso)
  if type(iso) ~= "string" then
    return "all time"
  end
  local d, hm = iso:match("^(%d+%-%d+%-%d+)[T ](%d+:%d+)")
  return d and (d .. " " .. hm) or iso
end

--- The `ao/cost` report as lines: the total, then one line per group, then the limits when any is set.
---@param report ao.CostReport
---@return string[]
function M.render(report)
  local total = nn(report.total) or {}
  local by = tostring(nn(report.by) or "project")
  local lines = {
    ("ao cost since %s by %s: %s, %s, %s tokens"):format(since_text(report.since), by, M.usd(total.usd),
      sessions_text(nn(total.sessions) or 0), count(token_sum(total.tokens))),
  }
  local rows = {}
  for _, g in ipairs(nn(report.groups) or {}) do
    rows[#rows + 1] = { tostring(nn(g.key) or "?"), M.usd(g.usd), sessions_text(nn(g.sessions) or 0),
      count(token_sum(g.tokens)) .. " tokens" }
  end
  local widths = { 0, 0, 0 }
  for _, r in ipairs(rows) do
    for i = 1, 3 do
      widths[i] = math.max(widths[i], vim.fn.strdisplaywidth(r[i]))
    end
  end
  for _, r in ipairs(rows) do
    local cells = {}
    for i = 1, 3 do
      local pad = string.rep(" ", widths[i] - vim.fn.strdisplaywidth(r[i]))
      cells[i] = i == 2 and (pad .. r[i]) or (r[i] .. pad) -- amounts right-aligned
    end
    cells[4] = r[4]
    lines[#lines + 1] = "  " .. table.concat(cells, "  ")
  end
  if #rows == 0 then
    lines[#lines + 1] = "  nothing spent"
  end
  local limits = {}
  for _, scope in ipairs({ "session", "project", "day" }) do
    local v = type(nn(report.limits)) == "table" and nn(report.limits[scope]) or nil
    if type(v) == "number" then
      limits[#limits + 1] = ("%s %s"):format(scope, M.limit(v))
    end
  end
  if #limits > 0 then
    lines[#lines + 1] = "  limits: " .. table.concat(limits, ", ")
  end
  return lines
end

-- :Ao cost ----------------------------------------------------------------------------------------------

M.FLAGS = { "--project", "--since", "--by" }
M.SINCE = { "today", "24h", "7d" }
M.BY = { "project", "model", "day", "session" }

--- `--project P --since S --by B` (also `--flag=value`), in any order, into ao/cost params.
---@param args string
---@return ao.CostParams? params
---@return string? err
function M.parse(args)
  local words = vim.split(vim.trim(args or ""), "%s+", { trimempty = true })
  local params, i = {}, 1
  while i <= #words do
    local w = words[i]
    local flag, value = w:match("^%-%-(%a+)=(.*)$")
    if not flag then
      flag = w:match("^%-%-(%a+)$")
      if flag then
        i = i + 1
        value = words[i]
      end
    end
    if not flag or not vim.tbl_contains(M.FLAGS, "--" .. flag) then
      return nil, ("unexpected %q; use --project P, --since today|24h|7d|YYYY-MM-DD, --by %s"):format(w,
        table.concat(M.BY, "|"))
    end
    if value == nil or value == "" then
      return nil, ("--%s needs a value"):format(flag)
    end
    if flag == "by" and not vim.tbl_contains(M.BY, value) then
      return nil, ("--by must be one of %s, got %q"):format(table.concat(M.BY, ", "), value)
    end
    params[flag] = value
    i = i + 1
  end
  return params
end

--- What was spent (`ao/cost`). With `cb`: `cb(err, report)`; without: echoes the report.
---@param params? ao.CostParams
---@param cb? fun(err: ao.Error?, report: ao.CostReport?)
function M.cost(params, cb)
  params = params or {}
  ao().request("ao/cost", { project = params.project, since = params.since, by = params.by }, function(err, res)
    if not err and type(res) == "table" and params.project == nil and (params.since == "today") then
      M._set_today(res)
    end
    if cb then
      return cb(err, res)
    end
    if err then
      return ao().report("cost", err)
    end
    M.show(res)
  end)
end

--- Echo the report (kept in :messages).
---@param report ao.CostReport
function M.show(report)
  local chunks = {}
  for i, line in ipairs(M.render(report)) do
    chunks[#chunks + 1] = { (i > 1 and "\n" or "") .. line, i == 1 and "Title" or "Normal" }
  end
  vim.api.nvim_echo(chunks, true, {})
end

--- `:Ao cost [--project P] [--since S] [--by B]`
---@param args string
function M.run(args)
  local params, err = M.parse(args)
  if not params then
    return ao().notify("cost: " .. err, levels.ERROR)
  end
  M.cost(params)
end

--- Completion: the flags, then each flag's values.
---@param lead string
---@param _ integer
---@param words string[] the words so far (words[1] is "Ao", words[2] "cost")
---@return string[]
function M.complete(lead, _, words)
  local prev = words[#words - 1]
  if prev == "--project" then
    return ao().projects()
  elseif prev == "--since" then
    return vim.list_extend(vim.deepcopy(M.SINCE), { os.date("%Y-%m-%d") --[[@as string]] })
  elseif prev == "--by" then
    return M.BY
  end
  local given = {}
  for _, w in ipairs(words) do
    given[w] = true
  end
  return vim.tbl_filter(function(f)
    return not given[f] and (lead == "" or vim.startswith(f, lead))
  end, M.FLAGS)
end

-- today's spend for the statusline -----------------------------------------------------------------------

local today = {
  report = nil, ---@type ao.CostReport?
  day = nil, ---@type string? the local date the report is of
  wanted = false, -- a statusline asked for it: keep it current
  asked = 0, -- vim.uv.now() of the last request
  timer = false, -- a request is scheduled
}
M._today = today

---@param report ao.CostReport
function M._set_today(report)
  today.report, today.day = report, os.date("%Y-%m-%d")
  pcall(vim.cmd, "redrawstatus!")
end

--- Is the server up (never start one for the statusline)?
local function server_ready()
  local client = ao().get_client()
  return client ~= nil and ao()._state.ready[client.id] == true
end

--- Ask for today's spend soon: after a short pause, and never sooner than SPEND_INTERVAL after the last ask.
function M.refresh_today()
  if today.timer or not today.wanted then
    return
  end
  today.timer = true
  local wait = math.max(200, today.asked + M.SPEND_INTERVAL - vim.uv.now())
  vim.defer_fn(function()
    if not server_ready() then
      today.timer = false
      return
    end
    today.asked = vim.uv.now()
    ao().request("ao/cost", { since = "today" }, function(err, res)
      today.timer = false
      if not err and type(res) == "table" then
        M._set_today(res)
      end
    end)
  end, wait)
end

--- "today $1.23" (" of $50.00" with a daily budget) from the last answer; nil before the first. Never sends a
--- request itself except the first time (then once the server runs); status changes keep it current.
---@return string?
function M.today_text()
  if not today.wanted then
    today.wanted = true
    M.refresh_today()
  end
  local report = today.report
  if not report or today.day ~= os.date("%Y-%m-%d") then
    if report then
      M.refresh_today() -- a new day
    end
    return report and "today $0.00" or nil
  end
  local total = nn(report.total) or {}
  local day = type(nn(report.limits)) == "table" and nn(report.limits.day) or nil
  return ("today %s%s"):format(M.usd(total.usd), type(day) == "number" and (" of " .. M.limit(day)) or "")
end

-- the budget warning ------------------------------------------------------------------------------------

local warned = {} ---@type table<string, boolean>
M._warned = warned

--- The 80 % warning for a status change, once per budget (per session; per project or day for a shared one),
--- not at each later change; nil otherwise. An over-budget exit is the exit message's ERROR instead.
---@param p ao.StatusChanged
---@return string? message
---@return integer? level
function M.budget_warning(p)
  local budget = nn(p.budget)
  if type(budget) ~= "table" and type(nn(p.session)) == "table" then
    budget = nn(p.session.budget)
  end
  if type(budget) ~= "table" or type(nn(budget.fraction)) ~= "number" or budget.fraction < M.WARN_FRACTION then
    return nil
  end
  local outcome = nn(p.outcome)
  if type(outcome) == "table" and nn(outcome.result) == "over_budget" then
    return nil
  end
  local scope = nn(budget.scope)
  local key = scope == "project" and ("project:%s:%s"):format(p.project, budget.limit)
    or scope == "day" and ("day:%s:%s"):format(os.date("%Y-%m-%d"), budget.limit)
    or ("session:" .. p.sessionId)
  if warned[key] then
    return nil
  end
  warned[key] = true
  local pct = ("%d%%"):format(math.floor(budget.fraction * 100))
  local spent, limit = M.usd(budget.usd), M.limit(budget.limit)
  if scope == "project" then
    return ("project %s has spent %s, %s of its %s budget; ao stops its agents at %s"):format(p.project, spent, pct,
      limit, limit), levels.WARN
  elseif scope == "day" then
    return ("today's spend is %s, %s of the %s daily budget; ao stops agents at %s"):format(spent, pct, limit, limit),
      levels.WARN
  end
  return ("%s has spent %s, %s of its %s session budget; ao stops it at %s"):format(p.sessionId, spent, pct, limit,
    limit), levels.WARN
end

--- A status change arrived: keep today's spend current (when a statusline shows it).
function M.on_change()
  if today.wanted then
    M.refresh_today()
  end
end

return M
