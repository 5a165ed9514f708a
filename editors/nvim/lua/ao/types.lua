---@brief [[
--- The types ao.nvim hands to callbacks: the server's wire values (docs/protocol.schema.json, generated
--- from ao_server/model.py) as LuaCATS classes. Annotations only; nothing requires this module.
---@brief ]]

---@class ao.Error
---@field code? integer JSON-RPC error code (see docs/protocol.md)
---@field message string What went wrong, readable as is
---@field data? any

-- The wire types; tests/unit/test_contract.py checks that these classes name exactly the schema's fields,
-- with the same enum values.

---@class ao.Outcome
---@field result "success"|"error"|"killed"|"incomplete"|"over_budget"|"unknown"
---@field error? string why, in words
---@field finish? string the model's finish reason
---@field exitCode? integer

---@class ao.Tokens
---@field input integer
---@field output integer
---@field reasoning integer
---@field cacheRead integer
---@field cacheWrite integer

---@class ao.Cost
---@field usd number
---@field tokens ao.Tokens

---@class ao.BudgetState the tightest budget that applies to a session
---@field usd number spent against it
---@field limit number the limit in USD
---@field scope "session"|"project"|"day"
---@field fraction number usd / limit: the server warns at 0.8 and stops the agent at 1

---@class ao.Summary
---@field title? string
---@field firstPrompt? string
---@field files integer
---@field additions integer
---@field deletions integer
---@field lastTool? string
---@field prUrl? string

---@class ao.Workspace
---@field path string
---@field branch string
---@field base string
---@field repo string
---@field removed boolean
---@field ahead? integer commits ahead of base (status --details)
---@field dirty? boolean
---@field merged? string the branch's commit that ao/merge brought into the base

---@class ao.Question
---@field question string
---@field header? string
---@field options {label: string, description: string?}[]
---@field multiple boolean more than one option may be picked

---@class ao.InputRequest what a live agent waits for (a session's pending, and ao/inputRequested)
---@field requestId string
---@field kind "permission"|"question"
---@field permission? string permission: what it wants (bash, edit, ...)
---@field patterns string[]
---@field command? string permission bash: the command
---@field always string[] permission: what "always" would allow from now on
---@field questions ao.Question[] question: in order; answer each

---@class ao.InputRequested the ao/inputRequested notification
---@field sessionId string
---@field project string
---@field request ao.InputRequest
---@field at string

---@class ao.Session
---@field sessionId string "<project>/agent-<n>"
---@field id string "agent-<n>"
---@field project string
---@field status "running"|"exited"
---@field exitCode? integer
---@field activity? "active"|"ready"|"idle"|"waiting_input"|"blocked"|"exited"|"unknown"|"unreachable"
---@field runtime string
---@field agent string
---@field prompt string
---@field model? string
---@field issueId? string
---@field createdAt string ISO 8601, UTC
---@field endedAt? string
---@field pid? integer
---@field workdir string
---@field workspace? ao.Workspace
---@field opencodeSessionId? string
---@field cost? ao.Cost
---@field budget? ao.BudgetState the tightest budget that applies; nil when none does or the cost is unknown
---@field summary? ao.Summary
---@field outcome? ao.Outcome
---@field runs integer
---@field introspectionStale boolean cost, summary and activity are the last seen (OpenCode's database was busy)
---@field promptTruncated boolean the prompt was cut (in ao/statusChanged)
---@field pending ao.InputRequest[] what a live agent waits for; {} otherwise
---@field host? string the remote host it runs on (hosts[].name); nil: the server's machine
---@field unreachableSince? string when its host stopped answering (activity "unreachable")

---@class ao.StatusChanged
---@field sessionId string
---@field project string
---@field previous? "running"|"exited" status before the change; nil for a session seen for the first time
---@field previousActivity? "active"|"ready"|"idle"|"waiting_input"|"blocked"|"exited"|"unknown"|"unreachable"
---@field status "running"|"exited"
---@field activity? "active"|"ready"|"idle"|"waiting_input"|"blocked"|"exited"|"unknown"|"unreachable"
---@field exitCode? integer
---@field outcome? ao.Outcome
---@field budget? ao.BudgetState the session's budget (sent when it crosses 80 % and 100 %)
---@field at string ISO 8601 time of the change
---@field session ao.Session the session, its prompt cut to 200 characters

---@class ao.CostParams
---@field project? string
---@field since? string "today", "24h", "7d" or a date like "2026-11-01"
---@field by? "project"|"model"|"day"|"session"

---@class ao.CostTotal
---@field usd number
---@field tokens ao.Tokens
---@field sessions integer

---@class ao.CostGroup
---@field key string the project, model, day or session id
---@field usd number
---@field tokens ao.Tokens
---@field sessions integer

---@class ao.CostLimits the configured budgets in USD (of the project asked about, else the top-level ones)
---@field session? number
---@field project? number
---@field day? number

---@class ao.CostReport the answer of ao/cost
---@field since? string ISO 8601; nil for all time
---@field by string
---@field total ao.CostTotal
---@field groups ao.CostGroup[]
---@field limits ao.CostLimits

---@class ao.AttachInfo
---@field sessionId string
---@field type string "tmux", "process" or "ssh" (a remote host; a runtime plugin may add others)
---@field command string
---@field argv string[]
---@field restoreCommand? string

---@class ao.ChangedFile one file of ao/changes
---@field path string relative to the session's tree, as ao/fileDiff takes it
---@field status "added"|"modified"|"deleted"|"renamed"
---@field additions integer
---@field deletions integer
---@field binary boolean
---@field oldPath? string where a renamed file was

---@class ao.Changes the answer of ao/changes
---@field sessionId string
---@field source "worktree"|"opencode"
---@field base {ref: string?, commit: string?}
---@field head {ref: string?, dirty: boolean}
---@field files ao.ChangedFile[]
---@field additions integer
---@field deletions integer

---@class ao.FileSide one side of ao/fileDiff; text is nil when absent, binary or too large
---@field exists boolean
---@field binary boolean
---@field size integer
---@field text? string
---@field tooLarge boolean

---@class ao.FileDiff the answer of ao/fileDiff
---@field sessionId string
---@field path string
---@field status "added"|"modified"|"deleted"|"renamed"
---@field oldPath? string
---@field base ao.FileSide
---@field head ao.FileSide

---@class ao.Merge the answer of ao/merge
---@field sessionId string
---@field strategy "auto"|"ff"|"merge"|"squash"
---@field base string the base branch
---@field previous string its commit before
---@field commit string its commit now
---@field files integer
---@field message string

---@class ao.HostInfo one remote host (ao/hosts), as one ssh round trip found it
---@field name string
---@field ssh string
---@field stateDir string
---@field reachable boolean
---@field rttMs? number
---@field error? string
---@field unreachableSince? string
---@field tmux? string
---@field opencode? string
---@field python3? string
---@field sessions integer sessions on this host that have not exited
---@field problems string[] what is missing there, each with its fix

---@class ao.Hosts the answer of ao/hosts
---@field hosts ao.HostInfo[]

---@alias ao.Callback fun(err: ao.Error?, result: any)

return {}
