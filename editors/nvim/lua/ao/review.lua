---@mod ao.review Reviewing what an agent changed: the changes list, a file's diff, merge, discard, send
---
--- `:Ao changes` puts a session's changed files (`ao/changes`) in the quickfix list; <CR> on one opens a
--- tab diffing the base (`ao/fileDiff`) against the worktree file. `:Ao merge`, `:Ao discard` confirm
--- first; `:Ao send` asks for the message when none is given.

local M = {}

local levels = vim.log.levels

local function ao()
  return require("ao")
end

local function nn(v)
  return ao()._nn(v)
end

M.STRATEGIES = { "auto", "ff", "merge", "squash" }

-- pure helpers (unit-tested) -------------------------------------------------------------------------

--- Does `word` look like a session id (`agent-3`, `my-project/agent-3`)?
---@param word? string
---@return boolean
function M.is_session_id(word)
  return type(word) == "string" and (word:match("^agent%-%d+$") ~= nil or word:match("^.+/agent%-%d+$") ~= nil)
end

--- The quickfix text of a changed file: "modified +12 -3", "renamed from old.py +1 -0", "added binary".
---@param file ao.ChangedFile
---@return string
function M.file_text(file)
  local status = tostring(nn(file.status) or "changed")
  local text = status
  local old = nn(file.oldPath)
  if status == "renamed" and old then
    text = "renamed from " .. old
  end
  if nn(file.binary) then
    return text .. " binary"
  end
  local add, del = nn(file.additions) or 0, nn(file.deletions) or 0
  if status == "renamed" and add == 0 and del == 0 then
    return text
  end
  return ("%s +%d -%d"):format(text, add, del)
end

--- The folder a session's changed paths are relative to: its worktree, else its workdir.
---@param session? ao.Session
---@return string?
function M.tree_of(session)
  if type(session) ~= "table" then
    return nil
  end
  local ws = nn(session.workspace)
  if type(ws) == "table" and type(nn(ws.path)) == "string" and not nn(ws.removed) then
    return ws.path
  end
  return nn(session.workdir)
end

--- The quickfix items of an ao/changes answer; `tree` is the folder the paths are relative to.
---@param changes ao.Changes
---@param tree? string
---@return table[]
function M.qf_items(changes, tree)
  local items = {}
  for _, f in ipairs(nn(changes.files) or {}) do
    local filename = tree and (tree:gsub("/+$", "") .. "/" .. f.path) or f.path
    items[#items + 1] = {
      filename = filename,
      lnum = 1,
      text = M.file_text(f),
      user_data = { sessionId = changes.sessionId, path = f.path },
    }
  end
  return items
end

--- `:Ao merge` arguments: a session id and a strategy, in either order, both optional.
---@param args string
---@return {id?: string, strategy?: string}? parsed
---@return string? err
function M.parse_merge(args)
  local out = {}
  for _, word in ipairs(vim.split(vim.trim(args or ""), "%s+", { trimempty = true })) do
    if vim.tbl_contains(M.STRATEGIES, word) and not out.strategy then
      out.strategy = word
    elseif not out.id then
      out.id = word
    else
      return nil, ("unexpected %q; use :Ao merge [session] [%s]"):format(word, table.concat(M.STRATEGIES, "|"))
    end
  end
  if out.id and not M.is_session_id(out.id) then
    return nil, ("%q is neither a session id (my-project/agent-3) nor a strategy (%s)"):format(out.id,
      table.concat(M.STRATEGIES, ", "))
  end
  return out
end

--- `:Ao send` arguments: an optional session id, then the message as typed (outer quotes dropped).
---@param args string
---@return {id?: string, message?: string}
function M.parse_send(args)
  local first, rest = (args or ""):match("^%s*(%S+)%s*(.-)%s*$")
  local out = {}
  if first and M.is_session_id(first) then
    out.id = first
  else
    rest = vim.trim(args or "")
  end
  rest = rest and (rest:match('^"(.*)"$') or rest:match("^'(.*)'$") or rest) or ""
  if rest ~= "" then
    out.message = rest
  end
  return out
end

--- A file's text as buffer lines ("a\nb\n" -> {"a", "b"}; "" -> {}).
---@param text string
---@return string[]
function M.lines(text)
  local clean = text:gsub("\r\n", "\n")
  if clean == "" then
    return {}
  end
  clean = clean:gsub("\n$", "")
  return vim.split(clean, "\n", { plain = true })
end

--- What a diff side shows: its lines, and a label for the window bar.
---@param side ao.FileSide
---@param which "base"|"head"
---@return string[] lines
---@return string label
function M.side_content(side, which)
  local text = nn(side.text)
  if not nn(side.exists) then
    return {}, which == "base" and "(not in the base: added)" or "(deleted)"
  elseif nn(side.binary) then
    return { ("binary file (%d bytes): not shown"):format(nn(side.size) or 0) }, "(binary)"
  elseif nn(side.tooLarge) or type(text) ~= "string" then
    return { ("file too large to show (%d bytes)"):format(nn(side.size) or 0) }, "(too large)"
  end
  return M.lines(text), ""
end

-- the changes list -------------------------------------------------------------------------------------

--- The context of the quickfix list when it is a changes list, else nil.
---@return {sessionId: string, source: string, tree?: string, base?: table}?
function M.qf_changes()
  local ctx = vim.fn.getqflist({ context = 1 }).context
  if type(ctx) == "table" and type(ctx.ao_changes) == "table" then
    return ctx.ao_changes
  end
end

--- <CR> in the quickfix window: the diff of the entry when the list is a changes list, else the usual jump.
local function on_enter()
  local win = vim.api.nvim_get_current_win()
  local is_loclist = vim.fn.getwininfo(win)[1].loclist == 1
  local ctx = not is_loclist and M.qf_changes() or nil
  local item = ctx and vim.fn.getqflist()[vim.fn.line(".")] or nil
  local data = item and nn(item.user_data)
  if type(data) ~= "table" or not data.path then
    return vim.api.nvim_feedkeys(vim.keycode("<CR>"), "n", false)
  end
  ao().guard("diff", M.open_diff, ctx, data.path)
end

local function map_enter(buf)
  vim.keymap.set("n", "<CR>", on_enter, { buffer = buf, silent = true, desc = "ao: diff of the changed file" })
end

local group = nil

--- Map <CR> in quickfix windows, now and whenever one opens (it falls back to the usual jump unless the
--- list is a changes list).
local function ensure_mapping()
  if group then
    return
  end
  group = vim.api.nvim_create_augroup("ao_review", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = "qf",
    callback = function(ev)
      if M.qf_changes() then
        map_enter(ev.buf)
      end
    end,
  })
end

--- `:Ao changes {id}`: the session's changed files in the quickfix list.
---@param id string
function M.changes(id)
  ao().status({ sessionId = id }, function(serr, sessions)
    if serr then
      return ao().report("changes", serr)
    end
    local session = sessions and sessions[1]
    ao().changes(id, function(err, changes)
      if err then
        return ao().report("changes", err)
      end
      local sid = changes.sessionId or id
      local files = nn(changes.files) or {}
      if #files == 0 then
        return ao().notify(sid .. " changed nothing")
      end
      local tree = M.tree_of(session)
      local ctx = {
        sessionId = sid,
        source = nn(changes.source),
        tree = tree,
        live = nn(changes.source) == "worktree" and tree ~= nil,
        base = { ref = nn((nn(changes.base) or {}).ref), commit = nn((nn(changes.base) or {}).commit) },
      }
      ensure_mapping()
      local title = "ao changes: " .. sid
      local action = M.qf_changes() and "r" or " " -- replace our own list instead of stacking another
      vim.fn.setqflist({}, action, { title = title, items = M.qf_items(changes, tree), context = { ao_changes = ctx } })
      vim.cmd("botright copen")
      map_enter(vim.api.nvim_get_current_buf())
    end)
  end)
end

-- the diff tab -----------------------------------------------------------------------------------------

local scratch = {} ---@type table<string, integer>

--- A read-only scratch buffer named `name` holding `lines`.
---@param name string
---@param lines string[]
---@param path string for the filetype
---@return integer
local function scratch_buf(name, lines, path)
  local buf = scratch[name]
  if not (buf and vim.api.nvim_buf_is_valid(buf)) then
    buf = vim.api.nvim_create_buf(false, true)
    scratch[name] = buf
    vim.bo[buf].buftype = "nofile"
    vim.bo[buf].bufhidden = "wipe"
    vim.bo[buf].swapfile = false
    pcall(vim.api.nvim_buf_set_name, buf, name)
  end
  vim.bo[buf].readonly = false
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].readonly = true
  vim.bo[buf].modified = false
  local ok, ft = pcall(vim.filetype.match, { filename = path, buf = buf })
  if ok and type(ft) == "string" and vim.bo[buf].filetype ~= ft then
    vim.bo[buf].filetype = ft
  end
  return buf
end

local function winbar(win, text)
  pcall(function()
    vim.wo[win].winbar = text:gsub("%%", "%%%%")
  end)
end

--- Open a tab diffing the base of `path` (left) against the session's file (right).
---@param ctx {sessionId: string, source?: string, tree?: string, live?: boolean, base?: table}
---@param path string
function M.open_diff(ctx, path)
  ao().file_diff(ctx.sessionId, path, function(err, diff)
    if err then
      return ao().report("diff", err)
    end
    local base_lines, base_label = M.side_content(nn(diff.base) or {}, "base")
    local head_lines, head_label = M.side_content(nn(diff.head) or {}, "head")
    local old = nn(diff.oldPath)
    local base_path = old or path
    local left = scratch_buf(("ao://%s/base/%s"):format(ctx.sessionId, base_path), base_lines, base_path)
    vim.cmd("tab sbuffer " .. left)
    local left_win = vim.api.nvim_get_current_win()
    local base = ctx.base or {}
    local ref = nn(base.ref) and (base.ref .. (nn(base.commit) and ("@" .. base.commit:sub(1, 7)) or ""))
      or "before the agent"
    winbar(left_win, ("base %s: %s %s"):format(ref, base_path, base_label))

    local file = ctx.tree and (ctx.tree:gsub("/+$", "") .. "/" .. path) or nil
    local head = nn(diff.head) or {}
    if ctx.live and file and nn(head.exists) and type(nn(head.text)) == "string" and vim.fn.filereadable(file) == 1 then
      vim.cmd("rightbelow vsplit " .. vim.fn.fnameescape(file))
    else
      local right = scratch_buf(("ao://%s/head/%s"):format(ctx.sessionId, path), head_lines, path)
      vim.cmd("rightbelow vertical sbuffer " .. right)
    end
    local right_win = vim.api.nvim_get_current_win()
    winbar(right_win, ("%s: %s %s"):format(ctx.sessionId, path, head_label))
    for _, win in ipairs({ left_win, right_win }) do
      vim.api.nvim_win_call(win, function()
        vim.cmd("diffthis")
      end)
    end
  end)
end

-- merge, discard, send -----------------------------------------------------------------------------------

--- The session (fresh), or nil when the server cannot say; `fn(session)`.
local function with_session(id, fn)
  ao().status({ sessionId = id }, function(err, sessions)
    fn(not err and sessions and sessions[1] or nil)
  end)
end

--- `:Ao merge {id} [strategy]`: confirm (naming the base branch), then ao/merge.
---@param id string
---@param strategy? string
function M.merge(id, strategy)
  with_session(id, function(session)
    local ws = session and nn(session.workspace)
    local function go()
      ao().merge(id, strategy, function(err, res)
        if err then
          local text = ao().error_text(err)
          local data = nn(err.data)
          local files = type(data) == "table" and nn(data.files) or nil
          if type(files) == "table" and #files > 0 then
            text = text .. "\nconflicting files:\n  " .. table.concat(files, "\n  ")
          end
          return ao().notify("merge: " .. text, levels.ERROR)
        end
        ao().notify(res.message)
      end)
    end
    if type(ws) ~= "table" then
      return go() -- no worktree: the server says why there is nothing to merge
    end
    local question = ("Merge %s (branch %s) into %s%s?"):format(session.sessionId, nn(ws.branch) or "?",
      nn(ws.base) or "the base branch", strategy and (" (" .. strategy .. ")") or "")
    if vim.fn.confirm(question, "&Merge\n&Cancel", 2) == 1 then
      go()
    end
  end)
end

--- `:Ao discard {id}`: confirm (default No), then ao/discard.
---@param id string
function M.discard(id)
  with_session(id, function(session)
    local ws = session and nn(session.workspace)
    local what = type(ws) == "table"
        and ("worktree %s and branch %s"):format(nn(ws.path) or "?", nn(ws.branch) or "?")
      or "its work"
    local question = ("Discard %s? Its %s are removed, uncommitted work included."):format(
      session and session.sessionId or id, what)
    if vim.fn.confirm(question, "&Discard\n&Cancel", 2) ~= 1 then
      return
    end
    ao().discard(id, function(err, res)
      if err then
        return ao().report("discard", err)
      end
      ao().notify(res.message)
    end)
  end)
end

--- `:Ao send {id} [message]`: asks for the message when none is given.
---@param id string
---@param message? string
function M.send(id, message)
  local function go(text)
    ao().send(id, { message = text }, function(err, session)
      if err then
        return ao().report("send", err)
      end
      ao().notify("sent to " .. session.sessionId)
    end)
  end
  if message and message ~= "" then
    return go(message)
  end
  vim.ui.input({ prompt = ("Message for %s: "):format(id) }, function(input)
    if input == nil then
      return -- cancelled
    end
    if vim.trim(input) == "" then
      return ao().notify("send: nothing to send", levels.WARN)
    end
    go(input)
  end)
end

return M
