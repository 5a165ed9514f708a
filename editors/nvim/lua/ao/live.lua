---@mod ao.live Live agents: answering what they ask (ao/inputRequested, :Ao respond) and aborting turns

local M = {}

local levels = vim.log.levels
local prompted = {} ---@type table<string, boolean> requestIds already put to the user

local function ao()
  return require("ao")
end

--- One line saying what a live agent waits for.
---@param session_id string
---@param req ao.InputRequest
---@return string
function M.describe(session_id, req)
  if req.kind == "permission" then
    local command = ao()._nn(req.command)
    if command then
      return ("%s wants to run `%s`"):format(session_id, command)
    end
    local what = table.concat(req.patterns or {}, ", ")
    return ("%s wants to use %s%s"):format(session_id, ao()._nn(req.permission) or "a tool",
      what ~= "" and (": " .. what) or "")
  end
  local questions = {}
  for _, q in ipairs(req.questions or {}) do
    questions[#questions + 1] = q.question
  end
  return ("%s asks: %s"):format(session_id, table.concat(questions, " / "))
end

M.CHOICES = { "Allow once", "Always", "Reject" }
M.REPLIES = { ["Allow once"] = "once", Always = "always", Reject = "reject" }

--- "Postgres, SQLite" -> { "Postgres", "SQLite" }: the answers to a question that takes several (or free text).
---@param text string
---@return string[]
function M.split_answers(text)
  local out = {}
  for part in vim.gsplit(text or "", ",", { plain = true }) do
    part = vim.trim(part)
    if part ~= "" then
      out[#out + 1] = part
    end
  end
  return out
end

--- The option labels of a question.
---@param q ao.Question
---@return string[]
function M.labels(q)
  local labels = {}
  for _, o in ipairs(q.options or {}) do
    labels[#labels + 1] = o.label
  end
  return labels
end

--- The prompt for one question: "p/agent-3 asks: Which database?" (a question taking several answers, or
--- free text, says how to give them).
---@param session_id string
---@param q ao.Question
---@return string
function M.question_prompt(session_id, q)
  local text = ("%s asks: %s"):format(session_id, q.question)
  local labels = M.labels(q)
  if #labels == 0 then
    return text .. " "
  end
  if q.multiple == true then
    return ("%s (one or more of %s, comma-separated) "):format(text, table.concat(labels, ", "))
  end
  return text
end

---@param session_id string
---@param req ao.InputRequest
---@param answer table reply/message or answers
local function respond(session_id, req, answer)
  local params = vim.tbl_extend("force", { sessionId = session_id, requestId = req.requestId }, answer)
  ao().request("ao/respond", params, function(err, session)
    if err and err.code == -32014 then
      return ao().notify(("%s no longer waits for this answer (answered elsewhere)"):format(session_id), levels.INFO)
    elseif err then
      return ao().report("respond", err)
    end
    if type(session) == "table" and session.sessionId then
      ao()._remember({ session })
    end
    ao().notify(("answered %s"):format(session_id), levels.INFO)
  end)
end

local function dismissed(session_id)
  ao().notify(("%s still waits for you (:Ao respond %s)"):format(session_id, session_id), levels.INFO)
end

local function noop() end

--- Put one request to the user: vim.ui.select of Allow once / Always / Reject, or one select per question
--- (vim.ui.input for a question taking several answers, comma-separated, or one without options).
---@param session_id string
---@param req ao.InputRequest
---@param done? fun() called once the person answered or dismissed it (not waiting for the server)
function M.ask(session_id, req, done)
  prompted[req.requestId] = true
  done = done or noop
  if req.kind == "permission" then
    vim.ui.select(M.CHOICES, { prompt = M.describe(session_id, req), kind = "ao.permission" }, function(choice)
      local reply = choice and M.REPLIES[choice]
      if not reply then
        dismissed(session_id) -- :Ao respond asks again
        return done()
      end
      if reply ~= "reject" then
        respond(session_id, req, { reply = reply })
        return done()
      end
      vim.ui.input({ prompt = "Why (optional, for the agent): " }, function(why)
        respond(session_id, req, { reply = "reject", message = (why and why ~= "") and why or nil })
        done()
      end)
    end)
    return
  end
  local answers = {}
  local function next_question(i)
    local q = (req.questions or {})[i]
    if not q then
      respond(session_id, req, { answers = answers })
      return done()
    end
    local labels = M.labels(q)
    local prompt = M.question_prompt(session_id, q)
    if #labels == 0 or q.multiple == true then
      return vim.ui.input({ prompt = prompt }, function(text)
        local own = text and vim.trim(text) or ""
        -- several labels, comma-separated; free text (no options) as typed, commas and all
        local picked = #labels == 0 and (own ~= "" and { own } or {}) or M.split_answers(own)
        if #picked == 0 then
          dismissed(session_id)
          return done()
        end
        answers[i] = picked
        next_question(i + 1)
      end)
    end
    vim.ui.select(labels, { prompt = prompt, kind = "ao.question" }, function(choice)
      if not choice then
        dismissed(session_id)
        return done()
      end
      answers[i] = { choice }
      next_question(i + 1)
    end)
  end
  next_question(1)
end

-- one prompt at a time: requests arriving meanwhile (several agents) wait their turn
local queue = {} ---@type {session_id: string, req: ao.InputRequest}[]
local asking = false

local function ask_next()
  if asking or #queue == 0 then
    return
  end
  local item = table.remove(queue, 1)
  asking = true
  local finished = false
  local ok, err = pcall(M.ask, item.session_id, item.req, function()
    if not finished then
      finished = true
      asking = false
      vim.schedule(ask_next)
    end
  end)
  if not ok then
    finished, asking = true, false
    ao().report("inputRequested", err)
    vim.schedule(ask_next)
  end
end

--- Handler of the server's `ao/inputRequested` notification: `User AoInputRequested`, then the prompt
--- (unless `prompt_input = false`), once per request.
---@param payload ao.InputRequested
function M._on_input_requested(_, payload, _)
  if type(payload) ~= "table" or type(payload.sessionId) ~= "string" or type(payload.request) ~= "table" then
    return
  end
  ao().guard("inputRequested", function()
    local ok, err = pcall(vim.api.nvim_exec_autocmds, "User",
      { pattern = "AoInputRequested", data = payload, modeline = false })
    if not ok then
      ao().report("User AoInputRequested autocommand", err)
    end
    local req = payload.request
    if prompted[req.requestId] then
      return
    end
    if require("ao.config").options.prompt_input == false then
      prompted[req.requestId] = true
      return ao().notify(("%s (:Ao respond %s)"):format(M.describe(payload.sessionId, req), payload.sessionId),
        levels.WARN)
    end
    prompted[req.requestId] = true
    queue[#queue + 1] = { session_id = payload.sessionId, req = req }
    vim.schedule(ask_next)
  end)
end

--- `:Ao respond {session}`: put its first pending request to the user again.
---@param id string
function M.respond(id)
  ao().request("ao/status", { sessionId = id }, function(err, res)
    if err then
      return ao().report("respond", err)
    end
    local session = res and res.sessions and res.sessions[1]
    if session then
      ao()._remember({ session })
    end
    local req = session and (session.pending or {})[1]
    if not req then
      return ao().notify(("%s waits for nothing"):format(session and session.sessionId or id), levels.INFO)
    end
    M.ask(session.sessionId, req)
  end)
end

--- `:Ao abort {session}`: stop a live agent's current turn.
---@param id string
function M.abort(id)
  ao().request("ao/abort", { sessionId = id }, function(err, session)
    if err then
      return ao().report("abort", err)
    end
    if type(session) == "table" and session.sessionId then
      ao()._remember({ session })
    end
    ao().notify(("aborted the turn of %s"):format(session and session.sessionId or id), levels.INFO)
  end)
end

return M
