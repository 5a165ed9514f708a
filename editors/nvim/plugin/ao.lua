-- ao.nvim: one :Ao command; nothing else happens until it (or require("ao")) is used.
if vim.g.loaded_ao then
  return
end
vim.g.loaded_ao = true

if vim.fn.has("nvim-0.10") ~= 1 then
  vim.api.nvim_create_user_command("Ao", function()
    vim.notify("ao: Neovim 0.10 or newer is needed", vim.log.levels.ERROR)
  end, { nargs = "*" })
  return
end

vim.api.nvim_create_user_command("Ao", function(opts)
  require("ao.commands").run(opts)
end, {
  nargs = "*",
  range = true, -- :'<,'>Ao spawn sends the lines with the prompt
  desc = "ao: spawn, status, attach, kill, resume, logs, cost, changes, merge, discard, send of OpenCode agents; hosts",
  complete = function(lead, line, pos)
    return require("ao.commands").complete(lead, line, pos)
  end,
})
