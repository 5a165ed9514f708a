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

---@param session_id string
---@param req ao.InputRequest
---@param answer table reply/message or answers
local function respond(session_id, req, answer)
  local params = vim.tbl_extend("force", { sessionId = session_id, requestId = req.requestId }, answer)
  ao().request("ao/respond", params, function(err)
    if err and err.code == -32014 then
      return ao().notify(("%s no longer waits for this answer (answered elsewhere)"):format(session_id), levels.INFO)
    elseif err then
      return ao().report("respond", err)
    end
    ao().notify(("answered %s"):format(session_id), levels.INFO)
  end)
end

--- Put one request to the user: vim.ui.select of Allow once / Always / Reject, or one select per question.
---@param session_id string
---@param req ao.InputRequest
function M.ask(session_id, req)
  prompted[req.requestId] = true
  if req.kind == "permission" then
    vim.ui.select(M.CHOICES, { prompt = M.describe(session_id, req) }, function(choice)
      local reply = choice and M.REPLIES[choice]
      if not reply then
        return -- dismissed: :Ao respond asks again
      end
      if reply ~= "reject" then
        return respond(session_id, req, { reply = reply })
      end
      vim.ui.input({ prompt = "Why (optional, for the agent): " }, function(why)
        respond(session_id, req, { reply = "reject", message = (why and why ~= "") and why or nil })
      end)
    end)
    return
  end
  local answers = {}
  local function next_question(i)
    local q = (req.questions or {})[i]
    if not q then
      return respond(session_id, req, { answers = answers })
    end
    local labels = {}
    for _, o in ipairs(q.options or {}) do
      labels[#labels + 1] = o.label
    end
    vim.ui.select(labels, { prompt = ("%s asks: %s"):format(session_id, q.question) }, function(choice)
      if not choice then
        return
      end
      answers[i] = { choice }
      next_question(i + 1)
    end)
  end
  next_question(1)
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
      return ao().notify(M.describe(payload.sessionId, req) .. " (:Ao respond)", levels.WARN)
    end
    vim.schedule(function()
      M.ask(payload.sessionId, req)
    end)
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
    ao().notify(("aborted the turn of %s"):format(session and session.sessionId or id), levels.INFO)
  end)
end

return M
