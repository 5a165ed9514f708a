/**
 * The wire types of ao-server (docs/protocol.md) and a typed wrapper over any connection that can send
 * requests: the LanguageClient in VS Code, or a plain vscode-jsonrpc connection.
 */
import { Methods } from './constants';

// Generated contract: docs/protocol.schema.json (from ao_server/model.py). tests/unit/test_contract.py checks
// that every interface here names exactly the fields the schema has, with the same enum values.

export type SessionStatus = 'running' | 'exited';
export type Activity = 'active' | 'ready' | 'idle' | 'waiting_input' | 'blocked' | 'exited' | 'unknown' | 'unreachable';
export type OutcomeResult = 'success' | 'error' | 'killed' | 'incomplete' | 'over_budget' | 'unknown';
export type BudgetScope = 'session' | 'project' | 'day';

export interface Outcome {
    result: OutcomeResult;
    /** Why, in words. */
    error: string | null;
    /** The model's finish reason. */
    finish: string | null;
    exitCode: number | null;
}

/** What OpenCode's session says about itself (introspection). */
export interface SessionSummary {
    title: string | null;
    firstPrompt: string | null;
    files: number;
    additions: number;
    deletions: number;
    lastTool: string | null;
    prUrl: string | null;
}

export interface Tokens {
    input: number;
    output: number;
    reasoning: number;
    cacheRead: number;
    cacheWrite: number;
}

export interface Cost {
    usd: number;
    tokens: Tokens;
}

/** The tightest budget that applies to a session: its spend against the limit. */
export interface BudgetState {
    usd: number;
    limit: number;
    scope: BudgetScope;
    /** usd / limit: at 0.8 the server warns (ao/statusChanged), at 1 it stops the agent. */
    fraction: number;
}

/** A session's git worktree (workspace: worktree). */
export interface Workspace {
    path: string;
    branch: string;
    base: string;
    repo: string;
    removed: boolean;
    ahead: number | null;
    dirty: boolean | null;
    /** The branch's commit that ao/merge brought into the base; null until then. */
    merged: string | null;
}

export type RequestKind = 'permission' | 'question';
export type PermissionReply = 'once' | 'always' | 'reject';

export interface QuestionOption {
    label: string;
    description: string | null;
}

export interface Question {
    question: string;
    header: string | null;
    options: QuestionOption[];
    /** More than one option may be picked. */
    multiple: boolean;
}

/** What a live agent waits for (the session's `pending`, and ao/inputRequested). */
export interface InputRequest {
    requestId: string;
    kind: RequestKind;
    /** permission: what it wants (bash, edit, ...). */
    permission: string | null;
    patterns: string[];
    /** permission bash: the command. */
    command: string | null;
    /** permission: what "always" would allow from now on. */
    always: string[];
    /** question: in order; answer each. */
    questions: Question[];
}

/** The ao/inputRequested notification. */
export interface InputRequested {
    sessionId: string;
    project: string;
    request: InputRequest;
    at: string;
}

export interface Session {
    sessionId: string;
    id: string;
    project: string;
    status: SessionStatus;
    exitCode: number | null;
    activity: Activity | null;
    runtime: string;
    agent: string;
    prompt: string;
    model: string | null;
    issueId: string | null;
    createdAt: string;
    endedAt: string | null;
    pid: number | null;
    workdir: string;
    workspace: Workspace | null;
    opencodeSessionId: string | null;
    cost: Cost | null;
    /** The tightest budget that applies; null when none does or the cost is unknown. */
    budget: BudgetState | null;
    summary: SessionSummary | null;
    outcome: Outcome | null;
    runs: number;
    /** OpenCode's records could not be read just now: cost, summary and activity are the last seen. */
    introspectionStale: boolean;
    /** The prompt was cut (in ao/statusChanged). */
    promptTruncated: boolean;
    /** What a live agent waits for; [] otherwise. */
    pending: InputRequest[];
    /** The remote host it runs on (hosts[].name in the config); null: the server's machine. */
    host: string | null;
    /** When its host stopped answering (activity 'unreachable'); null otherwise. */
    unreachableSince: string | null;
}

export interface StatusChanged {
    sessionId: string;
    project: string;
    previous: SessionStatus | null;
    previousActivity: Activity | null;
    status: SessionStatus;
    activity: Activity | null;
    exitCode: number | null;
    outcome: Outcome | null;
    budget: BudgetState | null;
    at: string;
    /** The session object, its prompt cut to 200 characters. */
    session: Session;
}

export interface ProjectInfo {
    name: string;
    path: string;
    runtime: string;
    model: string | null;
    /** The workspace's project, which ao/spawn uses without a project. */
    default: boolean;
    /** The remote host its path is on (hosts[].name); null: the server's machine. */
    host: string | null;
}

export interface SpawnParams {
    project?: string;
    prompt?: string;
    model?: string;
    issueId?: string;
    runtime?: string;
    /** USD: this session's own limit instead of the configured `budget.session`. */
    budget?: number;
}

export interface AttachInfo {
    sessionId: string;
    /** "tmux", "process" or "ssh" (a remote host's tmux, or a live agent's TUI there); run `argv` whatever it is. */
    type: string;
    command: string;
    argv: string[];
    restoreCommand: string | null;
}

/** A session in ao/list. */
export interface SessionBrief {
    sessionId: string;
    project: string;
    status: SessionStatus;
    activity: Activity | null;
    exitCode: number | null;
    createdAt: string;
}

export interface StatusResult {
    sessions: Session[];
    warnings: string[];
    /** Pass as `cursor` for the next older page; null when there is none. */
    nextCursor: string | null;
}

export interface ListResult {
    sessions: SessionBrief[];
    projects: ProjectInfo[];
    warnings: string[];
    nextCursor: string | null;
}

export interface ModelsResult {
    project: string;
    /** OpenCode's models, the default first. */
    models: string[];
    /** agentConfig.model, else OpenCode's configured model, else null. */
    default: string | null;
    cached: boolean;
    fetchedAt: string;
}

export interface LogsResult {
    sessionId: string;
    text: string;
    truncated: boolean;
}

export type CostGrouping = 'project' | 'model' | 'day' | 'session';

export interface CostParams {
    project?: string;
    /** "today", "24h", "7d" or a date like "2026-11-01". */
    since?: string;
    /** Default "project". */
    by?: CostGrouping;
}

export interface CostTotal {
    usd: number;
    tokens: Tokens;
    sessions: number;
}

export interface CostGroup {
    /** The project, model, day (YYYY-MM-DD) or session id. */
    key: string;
    usd: number;
    tokens: Tokens;
    sessions: number;
}

/** The configured budgets (of the project asked about, else the top-level ones); null: no limit. */
export interface CostLimits {
    session: number | null;
    project: number | null;
    day: number | null;
}

/** ao/cost: what was spent since a time, grouped. */
export interface CostReport {
    /** ISO time, or null for all time. */
    since: string | null;
    by: CostGrouping;
    total: CostTotal;
    groups: CostGroup[];
    limits: CostLimits;
}

// --- reviewing what an agent changed (ao/changes, ao/fileDiff, ao/merge, ao/discard, ao/send) ---

export type ChangeStatus = 'added' | 'modified' | 'deleted' | 'renamed';
export type ChangesSource = 'worktree' | 'opencode';
export type MergeStrategy = 'auto' | 'ff' | 'merge' | 'squash';

export interface ChangedFile {
    /** Relative to the session's tree, with '/': what ao/fileDiff takes. */
    path: string;
    status: ChangeStatus;
    additions: number;
    deletions: number;
    binary: boolean;
    /** Where a renamed file was. */
    oldPath: string | null;
}

export interface ChangesBase {
    ref: string | null;
    commit: string | null;
}

export interface ChangesHead {
    ref: string | null;
    dirty: boolean;
}

/** ao/changes: the files a session changed. */
export interface ChangesResult {
    sessionId: string;
    source: ChangesSource;
    base: ChangesBase;
    head: ChangesHead;
    files: ChangedFile[];
    additions: number;
    deletions: number;
}

/** One side of ao/fileDiff; text is null when absent, binary or too large. */
export interface FileSide {
    exists: boolean;
    binary: boolean;
    size: number;
    text: string | null;
    tooLarge: boolean;
}

/** ao/fileDiff: both sides of one changed file. */
export interface FileDiffResult {
    sessionId: string;
    path: string;
    status: ChangeStatus;
    oldPath: string | null;
    base: FileSide;
    head: FileSide;
}

/** ao/merge: what was brought into the base branch. */
export interface MergeResult {
    sessionId: string;
    strategy: MergeStrategy;
    base: string;
    previous: string;
    commit: string;
    files: number;
    message: string;
}

/** ao/discard. */
export interface DiscardResult {
    sessionId: string;
    message: string;
}

/** A review comment for ao/send. */
export interface ReviewNote {
    path: string;
    line?: number | null;
    text: string;
}

/** What the wrapper needs from a connection; LanguageClient and vscode-jsonrpc's MessageConnection fit. */
export interface RequestSender {
    sendRequest<R>(method: string, params: unknown): Promise<R>;
}

/** ao-server's operations, typed. Each is a plain request (`ao/spawn`, ...). */
export class AoApi {
    constructor(private readonly conn: RequestSender) {}

    spawn(params: SpawnParams): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.spawn, params);
    }

    async status(
        params: { sessionId?: string; project?: string; running?: boolean; limit?: number; cursor?: string } = {},
    ): Promise<Session[]> {
        const result = await this.conn.sendRequest<StatusResult>(Methods.status, params);
        return result.sessions;
    }

    list(params: { project?: string; running?: boolean; limit?: number; cursor?: string } = {}): Promise<ListResult> {
        return this.conn.sendRequest<ListResult>(Methods.list, params);
    }

    attach(sessionId: string): Promise<AttachInfo> {
        return this.conn.sendRequest<AttachInfo>(Methods.attach, { sessionId });
    }

    kill(sessionId: string): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.kill, { sessionId });
    }

    resume(sessionId: string, prompt?: string): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.resume, prompt ? { sessionId, prompt } : { sessionId });
    }

    /** The models OpenCode offers the project (cached by the server; `refresh` asks OpenCode again). */
    models(params: { project?: string; refresh?: boolean } = {}): Promise<ModelsResult> {
        return this.conn.sendRequest<ModelsResult>(Methods.models, params);
    }

    /** Spend since a time, grouped by project, model, day or session, with the configured limits. */
    cost(params: CostParams = {}): Promise<CostReport> {
        return this.conn.sendRequest<CostReport>(Methods.cost, params);
    }

    logs(sessionId: string, lines?: number): Promise<LogsResult> {
        return this.conn.sendRequest<LogsResult>(Methods.logs, lines ? { sessionId, lines } : { sessionId });
    }

    changes(sessionId: string): Promise<ChangesResult> {
        return this.conn.sendRequest<ChangesResult>(Methods.changes, { sessionId });
    }

    fileDiff(sessionId: string, path: string): Promise<FileDiffResult> {
        return this.conn.sendRequest<FileDiffResult>(Methods.fileDiff, { sessionId, path });
    }

    merge(sessionId: string, strategy?: MergeStrategy): Promise<MergeResult> {
        return this.conn.sendRequest<MergeResult>(Methods.merge, strategy ? { sessionId, strategy } : { sessionId });
    }

    discard(sessionId: string): Promise<DiscardResult> {
        return this.conn.sendRequest<DiscardResult>(Methods.discard, { sessionId });
    }

    /** Answer a live agent's permission request (reply) or questions (answers). */
    respond(sessionId: string, requestId: string, answer: { reply?: PermissionReply; message?: string; answers?: string[][] }): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.respond, { sessionId, requestId, ...answer });
    }

    /** Stop a live session's current turn. */
    abort(sessionId: string): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.abort, { sessionId });
    }

    /** The configured remote hosts (or only `host`), each as one ssh round trip finds it now. */
    async hosts(host?: string): Promise<HostInfo[]> {
        const result = await this.conn.sendRequest<HostsResult>(Methods.hosts, host ? { host } : {});
        return result.hosts;
    }

    /** A follow-up or review notes; a run-mode session takes it as a resume. */
    send(sessionId: string, message?: string, notes?: ReviewNote[]): Promise<Session> {
        return this.conn.sendRequest<Session>(Methods.send, { sessionId, ...(message ? { message } : {}), ...(notes?.length ? { notes } : {}) });
    }
}

/** ao/hosts: one remote host as one ssh round trip found it just now. */
export interface HostInfo {
    name: string;
    ssh: string;
    stateDir: string;
    reachable: boolean;
    rttMs: number | null;
    error: string | null;
    unreachableSince: string | null;
    tmux: string | null;
    opencode: string | null;
    python3: string | null;
    /** Sessions on this host that have not exited. */
    sessions: number;
    /** What is missing there, each with its fix; [] when ready. */
    problems: string[];
}

export interface HostsResult {
    hosts: HostInfo[];
}

/** A JSON-RPC error as thrown by vscode-jsonrpc (ResponseError), without importing it. */
export interface WireError {
    code: number;
    message: string;
    data?: unknown;
}

export function isWireError(e: unknown): e is WireError {
    return typeof e === 'object' && e !== null && typeof (e as WireError).code === 'number'
        && typeof (e as WireError).message === 'string';
}
