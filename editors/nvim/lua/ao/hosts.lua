---@mod ao.hosts Remote hosts: :Ao hosts (ao/hosts), their names for completion, the "host unreachable" message

local M = {}

local levels = vim.log.levels

local function ao()
  return require("ao")
end

local function nn(v)
  return ao()._nn(v)
end

local function ui()
  return require("ao.ui")
end

---@type table<string, boolean> host names seen (ao/hosts answers, sessions' `host`), for completion
local known = {}
M._known = known

---@type table<string, boolean> hosts whose "unreachable" WARN was given, until one of their sessions answers again
local away = {}
M._away = away

--- Remember host names from an ao/hosts answer.
---@param hosts ao.HostInfo[]
function M.remember(hosts)
  for _, h in ipairs(hosts or {}) do
    if type(h) == "table" and type(h.name) == "string" then
      known[h.name] = true
    end
  end
end

--- Host names for completion: the ones seen in ao/hosts answers and in sessions, sorted.
---@return string[]
function M.names()
  local set = vim.deepcopy(known)
  for _, s in ipairs(ao().sessions()) do
    if type(nn(s.host)) == "string" then
      set[s.host] = true
    end
  end
  local names = vim.tbl_keys(set)
  table.sort(names)
  return names
end

local asked = false

--- `:Ao hosts <Tab>`: the names seen; the first time, with none seen and the server up, ask ao/hosts in the
--- background so that the next <Tab> has them (never waits: probing a host can take seconds).
---@return string[]
function M.complete()
  local names = M.names()
  if #names == 0 and not asked and require("ao.client").is_ready(ao().get_client()) then
    asked = true
    ao().request("ao/hosts", vim.empty_dict(), function(err, res)
      if not err and type(res) == "table" then
        M.remember(nn(res.hosts) or {})
      end
    end)
  end
  return names
end

---@param n integer
---@return string
local function sessions_text(n)
  if n == 0 then
    return "no running sessions"
  end
  return ("%d running session%s"):format(n, n == 1 and "" or "s")
end

---@param ms? number
---@return string?
local function rtt_text(ms)
  if type(ms) ~= "number" then
    return nil
  end
  return (ms < 10 and "%.1f ms" or "%.0f ms"):format(ms)
end

--- The host as lines: a summary line, then its error, its problems (each with its fix), or "ready".
---@param h ao.HostInfo
---@return string[]
function M.render_host(h)
  local name, ssh = tostring(h.name), tostring(nn(h.ssh) or "?")
  local head
  local n = tonumber(nn(h.sessions)) or 0
  if h.reachable then
    local facts = { "reachable" .. (rtt_text(nn(h.rttMs)) and (", " .. rtt_text(nn(h.rttMs))) or "") }
    local versions = {}
    for _, key in ipairs({ "tmux", "opencode", "python3" }) do
      local v = nn(h[key])
      if type(v) == "string" and v ~= "" then
        versions[#versions + 1] = (key == "opencode" and "opencode " or "") .. v
      end
    end
    if #versions > 0 then
      facts[#facts + 1] = table.concat(versions, ", ")
    end
    facts[#facts + 1] = sessions_text(n)
    head = ("%s (%s): %s"):format(name, ssh, table.concat(facts, "; "))
  else
    local since = ui().clock(nn(h.unreachableSince))
    head = ("%s (%s): unreachable%s; %s"):format(name, ssh, since and (" since " .. since) or "", sessions_text(n))
  end
  local lines = { head }
  local err = nn(h.error)
  if type(err) == "string" and err ~= "" then
    lines[#lines + 1] = "  error: " .. err
  end
  local problems = nn(h.problems) or {}
  for _, p in ipairs(problems) do
    -- an unreachable host's problems are what to try (its error is above); a reachable one's, what is missing
    lines[#lines + 1] = (h.reachable and "  problem: " or "  fix: ") .. tostring(p)
  end
  if h.reachable and #problems == 0 then
    lines[#lines + 1] = "  ready: nothing is missing"
  end
  return lines
end

--- The ao/hosts answer as lines.
---@param hosts ao.HostInfo[]
---@return string[]
function M.render(hosts)
  if #hosts == 0 then
    return { "No remote hosts in the config: add one under `hosts:` (name, ssh) and give a project `host: NAME`;"
      .. " see :help ao-remote" }
  end
  local lines = {}
  for i, h in ipairs(hosts) do
    if i > 1 then
      lines[#lines + 1] = ""
    end
    vim.list_extend(lines, M.render_host(h))
  end
  return lines
end

--- Show the hosts where :Ao status shows sessions (a float, or the quickfix list "ao hosts").
---@param hosts ao.HostInfo[]
---@param opts? {host?: string}
function M.show(hosts, opts)
  ui().show_text("hosts", M.render(hosts), function()
    ao().hosts(opts, function(err, fresh)
      if err then
        return ao().report("hosts", err)
      end
      if ui().text_open("hosts") then -- not reopened when closed meanwhile
        M.show(fresh or {}, opts)
      end
    end)
  end)
end

--- `:Ao hosts [name]`
---@param args string
function M.run(args)
  local name = args:match("^%s*(%S+)")
  ao().hosts({ host = name })
end

--- The message for a session's host that stops answering (a WARN once per host, naming the session) or answers
--- again (INFO); nil otherwise. Its sessions stay `running`: an unreachable host is not an exit.
---@param p ao.StatusChanged
---@return string? message
---@return integer? level
function M.describe_change(p)
  local s = type(nn(p.session)) == "table" and p.session or ao()._state.sessions[p.sessionId] or {}
  local host = nn(s.host)
  if type(host) ~= "string" then
    return nil
  end
  known[host] = true
  if nn(p.activity) == "unreachable" and nn(p.status) == "running" then
    if away[host] then
      return nil
    end
    away[host] = true
    local since = ui().clock(nn(s.unreachableSince))
    return ("host %s unreachable%s: %s (and any other session there) may still be running; :Ao hosts %s")
      :format(host, since and (" since " .. since) or "", p.sessionId, host), levels.WARN
  end
  if away[host] then
    away[host] = nil
    return ("host %s answers again"):format(host), levels.INFO
  end
end

return M
