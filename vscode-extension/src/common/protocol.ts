/**
 * The wire types of ao-server (docs/protocol.md) and a typed wrapper over any connection that can send
 * requests: the LanguageClient in VS Code, or a plain vscode-jsonrpc connection.
 */
import { Methods } from './constants';

export type SessionStatus = 'running' | 'exited';
export type OutcomeResult = 'success' | 'error' | 'killed' | 'incomplete' | 'unknown';

export interface Outcome {
    result: OutcomeResult;
    error: string | null;
    [key: string]: unknown;
}

/** What OpenCode's session says about itself (introspection). */
export interface SessionSummary {
    title?: string | null;
    firstPrompt?: string | null;
    files?: number;
    additions?: number;
    deletions?: number;
    lastTool?: string | null;
    prUrl?: string | null;
}

export interface Cost {
    usd: number;
    tokens?: { input?: number; output?: number; reasoning?: number; cacheRead?: number; cacheWrite?: number };
}

export interface Session {
    sessionId: string;
    project: string;
    status: SessionStatus;
    exitCode: number | null;
    activity: string | null;
    runtime?: string;
    prompt?: string | null;
    model?: string | null;
    createdAt?: string | null;
    endedAt?: string | null;
    opencodeSessionId?: string | null;
    cost?: Cost | null;
    summary?: SessionSummary | string | null;
    outcome?: Outcome | null;
}

export interface StatusChanged {
    sessionId: string;
    project: string;
    previous: SessionStatus | null;
    status: SessionStatus;
    activity: string | null;
    exitCode: number | null;
    outcome: Outcome | null;
    at: string;
    /** The whole session object; sent by ao-server, optional in the contract. */
    session?: Session;
}

export interface ProjectInfo {
    name: string;
    path?: string;
    runtime?: string;
    model?: string | null;
    default?: boolean;
}

export interface SpawnParams {
    project?: string;
    prompt?: string;
    model?: string;
    issueId?: string;
    runtime?: string;
}

export interface AttachInfo {
    sessionId: string;
    /** "tmux" or "process" (a runtime plugin may add others). */
    type: string;
    command: string;
    argv: string[];
    restoreCommand?: string | null;
}

export interface ListResult {
    sessions: Partial<Session>[];
    projects?: ProjectInfo[];
    warnings?: string[];
}

export interface ModelsResult {
    project: string;
    /** OpenCode's models, the default first. */
    models: string[];
    /** agentConfig.model, else OpenCode's configured model, else null. */
    default: string | null;
    cached?: boolean;
}

export interface LogsResult {
    sessionId: string;
    text: string;
    truncated?: boolean;
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

    async status(params: { sessionId?: string; project?: string } = {}): Promise<Session[]> {
        const result = await this.conn.sendRequest<{ sessions: Session[] }>(Methods.status, params);
        return result.sessions;
    }

    list(params: { project?: string } = {}): Promise<ListResult> {
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

    logs(sessionId: string, lines?: number): Promise<LogsResult> {
        return this.conn.sendRequest<LogsResult>(Methods.logs, lines ? { sessionId, lines } : { sessionId });
    }
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
