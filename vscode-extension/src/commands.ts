/**
 * The palette commands (category "AO") and the Sessions view's actions. Each has its own id (`ao.spawn`,
 * ...) and sends the matching `ao/...` request; the server's own `ao/...` command ids are registered by
 * vscode-languageclient and are not touched here.
 */
import * as path from 'path';
import * as vscode from 'vscode';
import { Commands, ErrorCodes } from './common/constants';
import { AoApi, ChangedFile, DiscardResult, HostInfo, MergeResult, ModelsResult, ProjectInfo, Session, isWireError } from './common/protocol';
import { describeError } from './common/server';
import { SpawnMode, spawnMode } from './common/settings';
import { BASE_SCHEME, FileDiffProvider, HEAD_SCHEME, changeDescription, diffArguments, hasWorktree, reviewable } from './review';
import { HostPick, hostItems, hostReport, hostsTitle } from './hosts';
import { InputPrompts } from './inputRequests';
import { SessionStore, describeSession, isRunningLive, pendingOf, requestText, sessionIcon } from './sessions';

export const LOGS_SCHEME = 'ao-logs';

/** What the commands need from the rest of the extension. */
export interface CommandContext {
    server: { ready(): Promise<AoApi | undefined>; restart(): Promise<AoApi | undefined> };
    store: SessionStore;
    output: vscode.LogOutputChannel;
    /** The prompts of live agents' requests (Respond… shows one again). */
    prompts: InputPrompts;
    /** Re-fetch every session (`ao/status`). */
    refresh(): Promise<void>;
    /** A session's changed files are to be read again (the Sessions view shows them). */
    forgetChanges(sessionId?: string): void;
}

/** Serves `ao-logs:/<project>/agent-<n>.log` documents from `ao/logs`. */
export class LogsProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange: vscode.Event<vscode.Uri> = this.changed.event;

    constructor(private readonly server: CommandContext['server']) {}

    static uri(sessionId: string): vscode.Uri {
        return vscode.Uri.from({ scheme: LOGS_SCHEME, path: `/${sessionId}.log` });
    }

    static sessionId(uri: vscode.Uri): string {
        return uri.path.replace(/^\//, '').replace(/\.log$/, '');
    }

    /** Makes an open logs document fetch again. */
    update(uri: vscode.Uri): void {
        this.changed.fire(uri);
    }

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        const sessionId = LogsProvider.sessionId(uri);
        const api = await this.server.ready();
        if (!api) {
            return `ao-server is not running; the logs of ${sessionId} cannot be read (see the AO output).\n`;
        }
        try {
            const result = await api.logs(sessionId);
            const head = result.truncated ? '[... earlier output cut: only the end is shown ...]\n' : '';
            return head + (result.text || `(${sessionId} has written nothing yet)\n`);
        } catch (e) {
            return `ao/logs failed for ${sessionId}: ${describeError(e)}\n`;
        }
    }

    dispose(): void {
        this.changed.dispose();
    }
}

export function registerCommands(ctx: CommandContext): vscode.Disposable[] {
    const logs = new LogsProvider(ctx.server);
    const diffs = new FileDiffProvider(ctx.server);
    const terminals = new Map<string, vscode.Terminal>();
    const handlers = new AoCommands(ctx, logs, terminals, diffs);
    const run = <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R | undefined> => {
            try {
                return await fn(...args);
            } catch (e) {
                reportError(ctx.output, name, e);
                return undefined;
            }
        };
    return [
        logs,
        vscode.workspace.registerTextDocumentContentProvider(LOGS_SCHEME, logs),
        diffs,
        vscode.workspace.registerTextDocumentContentProvider(BASE_SCHEME, diffs),
        vscode.workspace.registerTextDocumentContentProvider(HEAD_SCHEME, diffs),
        vscode.window.onDidCloseTerminal((t) => {
            for (const [id, term] of terminals) {
                if (term === t) {
                    terminals.delete(id);
                }
            }
        }),
        vscode.commands.registerCommand(Commands.spawn, run('Spawn Agent', (arg?: unknown) => handlers.spawn(arg))),
        vscode.commands.registerCommand(
            Commands.spawnWithSelection,
            run('Spawn Agent with Selection', () => handlers.spawnWithSelection()),
        ),
        vscode.commands.registerCommand(Commands.status, run('Show Status', () => handlers.status())),
        vscode.commands.registerCommand(Commands.attach, run('Attach to Session', (arg?: unknown) => handlers.attach(arg))),
        vscode.commands.registerCommand(Commands.kill, run('Kill Session', (arg?: unknown) => handlers.kill(arg))),
        vscode.commands.registerCommand(Commands.resume, run('Resume Session', (arg?: unknown) => handlers.resume(arg))),
        vscode.commands.registerCommand(Commands.logs, run('Show Logs', (arg?: unknown) => handlers.logs(arg))),
        vscode.commands.registerCommand(Commands.reviewChanges, run('Review Changes', (arg?: unknown) => handlers.reviewChanges(arg))),
        vscode.commands.registerCommand(Commands.openChange, run('Open Changes', (arg?: unknown, path?: unknown) => handlers.openChange(arg, path))),
        vscode.commands.registerCommand(Commands.merge, run('Accept (Merge)', (arg?: unknown) => handlers.merge(arg))),
        vscode.commands.registerCommand(Commands.discard, run('Discard Changes', (arg?: unknown) => handlers.discard(arg))),
        vscode.commands.registerCommand(Commands.sendMessage, run('Send Message', (arg?: unknown) => handlers.sendMessage(arg))),
        vscode.commands.registerCommand(Commands.respond, run('Respond', (arg?: unknown) => handlers.respond(arg))),
        vscode.commands.registerCommand(Commands.abort, run('Abort Turn', (arg?: unknown) => handlers.abort(arg))),
        vscode.commands.registerCommand(Commands.hosts, run('Show Hosts', (arg?: unknown) => handlers.hosts(arg))),
        vscode.commands.registerCommand(Commands.refresh, run('Refresh', () => {
            ctx.forgetChanges();
            return ctx.refresh();
        })),
        vscode.commands.registerCommand(Commands.restartServer, run('Restart Server', async () => {
            const api = await ctx.server.restart();
            return api !== undefined;
        })),
        vscode.commands.registerCommand(Commands.showOutput, () => ctx.output.show(true)),
    ];
}

function reportError(output: vscode.LogOutputChannel, name: string, e: unknown): void {
    const text = isWireError(e) ? e.message : describeError(e);
    output.error(`${name} failed: ${text}${isWireError(e) ? ` (code ${e.code})` : ''}`);
    // A remote host that does not answer: its hosts entry says what to try (data.host names it).
    const host = isWireError(e) && e.code === ErrorCodes.hostUnreachable ? hostOf(e.data) ?? '' : undefined;
    const items = host !== undefined && name !== 'Show Hosts' ? ['Show Hosts', 'Show Output'] : ['Show Output'];
    void vscode.window.showErrorMessage(`AO: ${text}`, ...items).then((pick) => {
        if (pick === 'Show Hosts') {
            void vscode.commands.executeCommand(Commands.hosts, host || undefined);
        } else if (pick) {
            output.show(true);
        }
    });
}

/** A host name from a command argument or an error's data: a string, or an object with `host` (a session, a HostInfo). */
export function hostOf(arg: unknown): string | undefined {
    if (typeof arg === 'string' && arg.trim() !== '') {
        return arg;
    }
    if (typeof arg === 'object' && arg !== null) {
        const { host, name } = arg as { host?: unknown; name?: unknown; reachable?: unknown };
        if (typeof host === 'string' && host !== '') {
            return host;
        }
        if (typeof name === 'string' && typeof (arg as { reachable?: unknown }).reachable === 'boolean') {
            return name; // a HostInfo
        }
    }
    return undefined;
}

/** A session id from a command argument: a string, a tree node or a session object. */
export function sessionIdOf(arg: unknown): string | undefined {
    if (typeof arg === 'string' && arg.trim() !== '') {
        return arg;
    }
    if (typeof arg === 'object' && arg !== null && typeof (arg as { sessionId?: unknown }).sessionId === 'string') {
        return (arg as { sessionId: string }).sessionId;
    }
    return undefined;
}

/** A changed file's path from a command argument: `{sessionId, path}` or a file node of the Sessions view. */
function changedPathOf(arg: unknown): string | undefined {
    if (typeof arg !== 'object' || arg === null) {
        return undefined;
    }
    const { path: direct, file } = arg as { path?: unknown; file?: { path?: unknown } | null };
    if (typeof direct === 'string') {
        return direct;
    }
    return typeof file === 'object' && file !== null && typeof file.path === 'string' ? file.path : undefined;
}

/** A project name from a command argument: a project tree node or `{project}`. */
function projectOf(arg: unknown): string | undefined {
    if (typeof arg === 'object' && arg !== null && (arg as { kind?: unknown }).kind === 'project') {
        const p = (arg as { project?: unknown }).project;
        return typeof p === 'string' ? p : undefined;
    }
    return undefined;
}

/** The selected text an agent is spawned with, and where it comes from. */
export interface SelectionContext {
    /** Absolute path of the file (or the document's URI when it has no file). */
    file: string;
    /** `src/app.ts:12-20`: relative to its workspace folder. */
    label: string;
    language: string;
    text: string;
}

/** The active editor's selection as a {@link SelectionContext}; undefined when nothing is selected. */
export function selectionContext(editor: vscode.TextEditor): SelectionContext | undefined {
    const sel = editor.selection;
    const text = editor.document.getText(sel);
    if (sel.isEmpty || text.trim() === '') {
        return undefined;
    }
    const uri = editor.document.uri;
    const file = uri.scheme === 'file' ? uri.fsPath : uri.toString();
    const folder = vscode.workspace.getWorkspaceFolder(uri);
    const shown = folder && uri.scheme === 'file' ? path.relative(folder.uri.fsPath, file) : file;
    // A selection that ends at the start of a line does not include that line.
    const last = sel.end.character === 0 && sel.end.line > sel.start.line ? sel.end.line - 1 : sel.end.line;
    const first = sel.start.line + 1;
    const lines = first === last + 1 ? `${first}` : `${first}-${last + 1}`;
    return { file, label: `${shown}:${lines}`, language: editor.document.languageId, text };
}

/** The prompt the agent gets: the task, then the selection fenced with its file and lines. */
export function withSelection(task: string, context: SelectionContext): string {
    const longest = Math.max(2, ...Array.from(context.text.matchAll(/`+/g), (m) => m[0].length));
    const fence = '`'.repeat(longest + 1);
    const body = context.text.endsWith('\n') ? context.text : context.text + '\n';
    const head = task.trim() === '' ? 'Look at this code.' : task.trim();
    return `${head}\n\nSelected from ${context.label} (${context.file}):\n${fence}${context.language}\n${body}${fence}\n`;
}

/** The project a file belongs to: the one with the longest path containing it. */
export function projectForFile(projects: ProjectInfo[], file: string): string | undefined {
    let best: ProjectInfo | undefined;
    for (const p of projects) {
        if (p.host) {
            continue; // its path is on another machine
        }
        if (p.path && (samePath(file) === samePath(p.path) || samePath(file).startsWith(samePath(p.path) + path.sep))) {
            if (!best || best.path.length < p.path.length) {
                best = p;
            }
        }
    }
    return best?.name;
}

function samePath(p: string): string {
    return path.resolve(p).replace(/[\\/]+$/, '');
}

interface SessionPick extends vscode.QuickPickItem {
    session: Session;
}

interface ValuePick extends vscode.QuickPickItem {
    value: string | undefined;
    other?: boolean;
    refresh?: boolean;
}

class AoCommands {
    constructor(
        private readonly ctx: CommandContext,
        private readonly logsProvider: LogsProvider,
        private readonly terminals: Map<string, vscode.Terminal>,
        private readonly diffs: FileDiffProvider,
    ) {}

    private async api(): Promise<AoApi | undefined> {
        return this.ctx.server.ready();
    }

    /** AO: Spawn Agent: project (unless there is only one), model, prompt, then `ao/spawn`. */
    async spawn(arg?: unknown, context?: SelectionContext): Promise<Session | undefined> {
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const listed = await api.list();
        const projects = listed.projects;
        let project = projectOf(arg) ?? (context ? projectForFile(projects, context.file) : undefined);
        if (!project) {
            project = projects.length === 1 ? projects[0]!.name : await this.pickProject(projects);
            if (project === undefined) {
                return undefined;
            }
        }
        const info = projects.find((p) => p.name === project);
        const model = await this.pickModel(api, project, info);
        if (model === null) {
            return undefined;
        }
        const mode = await this.pickMode(spawnMode(), info);
        if (mode === undefined) {
            return undefined;
        }
        const prompt = await vscode.window.showInputBox({
            title: context ? `Spawn an agent in ${project} with ${context.label}` : `Spawn an agent in ${project}`,
            prompt: context ? 'The task for the agent; the selected text is added below it' : 'The task for the agent',
            placeHolder: context
                ? 'What should the agent do with the selection?'
                : "What should the agent do? (empty: the project's agentConfig.prompt)",
            ignoreFocusOut: true,
        });
        if (prompt === undefined) {
            return undefined;
        }
        const task = context ? withSelection(prompt, context) : prompt.trim() === '' ? undefined : prompt;
        const session = await api.spawn({ project, model: model || undefined, prompt: task, ...(mode === 'live' ? { runtime: 'live' } : {}) });
        this.ctx.store.upsert(session);
        this.ctx.output.info(`spawned ${session.sessionId}`);
        void vscode.window.showInformationMessage(`Spawned ${session.sessionId}`, 'Attach').then((pick) => {
            if (pick === 'Attach') {
                void vscode.commands.executeCommand(Commands.attach, session.sessionId);
            }
        });
        return session;
    }

    /** AO: Spawn Agent with Selection: the active editor's selection (file, lines, text) goes with the prompt. */
    async spawnWithSelection(): Promise<Session | undefined> {
        const editor = vscode.window.activeTextEditor;
        const context = editor ? selectionContext(editor) : undefined;
        if (!context) {
            void vscode.window.showInformationMessage('AO: select some text in an editor first, then run "Spawn Agent with Selection".');
            return undefined;
        }
        return this.spawn(undefined, context);
    }

    /**
     * `ao.spawn.mode`: `run` (the project's own runtime, as configured), `live` (a session of the shared
     * OpenCode server, answered from the editor), or `ask`: a quick pick of the two; undefined when dismissed.
     */
    private async pickMode(setting: SpawnMode, info: ProjectInfo | undefined): Promise<'run' | 'live' | undefined> {
        if (setting !== 'ask') {
            return setting;
        }
        const items: (vscode.QuickPickItem & { value: 'run' | 'live' })[] = [
            {
                label: '$(play) Run',
                description: info?.runtime ? `the project's runtime: ${info.runtime}` : "the project's runtime",
                detail: 'As configured in agent-orchestrator.yaml (an `opencode run` of its own unless the project is live)',
                value: 'run',
            },
            {
                label: '$(comment-discussion) Live',
                description: 'a session of the shared OpenCode server',
                detail: 'Asks you for permissions and answers here; Send Message reaches it while it works',
                value: 'live',
            },
        ];
        const pick = await vscode.window.showQuickPick(items, {
            title: 'Spawn an agent: mode',
            placeHolder: 'How the agent runs (the setting ao.spawn.mode skips this step)',
            ignoreFocusOut: true,
        });
        return pick?.value;
    }

    /** The project quick pick; undefined when dismissed. */
    private async pickProject(projects: ProjectInfo[]): Promise<string | undefined> {
        const names = new Set(projects.map((p) => p.name));
        const fromSessions = this.ctx.store.projects().filter((p) => !names.has(p));
        const folders = (vscode.workspace.workspaceFolders ?? []).map((f) => samePath(f.uri.fsPath));
        const ordered = [...projects].sort((a, b) => Number(Boolean(b.default)) - Number(Boolean(a.default)));
        const items: ValuePick[] = [
            ...ordered.map((p) => ({
                label: p.name,
                description: [
                    !p.host && p.path && folders.includes(samePath(p.path)) ? 'this workspace' : undefined,
                    p.runtime,
                    p.host ? `@${p.host}` : undefined,
                ].filter(Boolean).join(' · '),
                detail: p.host ? `${p.host}:${p.path}` : p.path,
                value: p.name,
            })),
            ...fromSessions.map((p) => ({ label: p, description: 'from existing sessions', value: p })),
        ];
        if (items.length === 0) {
            const typed = await vscode.window.showInputBox({
                title: 'Spawn an agent',
                prompt: 'Project name (no projects are configured; see agent-orchestrator.yaml)',
                ignoreFocusOut: true,
            });
            return typed?.trim() || undefined;
        }
        const pick = await vscode.window.showQuickPick(items, {
            title: 'Spawn an agent: project',
            placeHolder: 'Project to run the agent in',
            ignoreFocusOut: true,
        });
        return pick?.value;
    }

    /**
     * The model quick pick, from `ao/models` (OpenCode's models, the project's default first); '' for the
     * default, null when dismissed. Without the list (OpenCode failed), the default and recently used models.
     */
    private async pickModel(api: AoApi, project: string, info: ProjectInfo | undefined): Promise<string | null> {
        let pick: ValuePick | undefined;
        let refresh = false;
        for (;;) {
            pick = await vscode.window.showQuickPick(this.modelItems(api, project, info, refresh), {
                title: 'Spawn an agent: model',
                placeHolder: 'Model for the agent (type to filter)',
                matchOnDescription: true,
                ignoreFocusOut: true,
            });
            if (!pick?.refresh) {
                break;
            }
            refresh = true; // "Refresh the list": ask OpenCode again, then pick again
        }
        if (!pick) {
            return null;
        }
        if (pick.other) {
            const typed = await vscode.window.showInputBox({
                title: 'Spawn an agent: model',
                prompt: 'Model as provider/model, e.g. anthropic/claude-sonnet-4-5 (OpenCode says if it does not know it)',
                ignoreFocusOut: true,
                validateInput: (v) => (v.trim() === '' || v.includes('/') ? undefined : 'Write it as provider/model'),
            });
            return typed === undefined ? null : typed.trim();
        }
        return pick.value ?? '';
    }

    private async modelItems(api: AoApi, project: string, info: ProjectInfo | undefined, refresh: boolean): Promise<ValuePick[]> {
        const other: ValuePick = { label: 'Other model…', description: 'provider/model, typed', value: undefined, other: true };
        let offered: ModelsResult | undefined;
        let failed = false;
        try {
            offered = await api.models(refresh ? { project, refresh } : { project });
        } catch (e) {
            failed = true;
            this.ctx.output.warn(`ao/models failed, offering the default model only: ${describeError(e)}`);
        }
        const configured = info?.model ?? undefined;
        const fallbackDefault = configured ?? offered?.default ?? undefined;
        const items: ValuePick[] = [
            fallbackDefault
                ? {
                    label: fallbackDefault,
                    description: configured ? "default: the project's agentConfig.model" : "default: OpenCode's model",
                    value: '',
                }
                : { label: 'Default model', description: "OpenCode's configured model", value: '' },
        ];
        const seen = new Set<string>(fallbackDefault ? [fallbackDefault] : []);
        for (const s of this.ctx.store.all()) {
            if (s.model && !seen.has(s.model)) {
                seen.add(s.model);
                items.push({ label: s.model, description: `used by ${s.sessionId}`, value: s.model });
            }
        }
        for (const m of offered?.models ?? []) {
            if (!seen.has(m)) {
                seen.add(m);
                items.push({ label: m, value: m });
            }
        }
        items.push({
            label: '$(refresh) Refresh the list',
            description: failed ? "OpenCode's list could not be read (see the AO output); try again" : 'ask OpenCode again (after adding a provider)',
            value: undefined,
            refresh: true,
        });
        items.push(other);
        return items;
    }

    /** AO: Show Status: every session in a quick pick, then what to do with the one picked. */
    async status(): Promise<Session[] | undefined> {
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const sessions = await api.status();
        this.ctx.store.replaceAll(sessions);
        if (sessions.length === 0) {
            const pick = await vscode.window.showInformationMessage('AO: no agent sessions yet.', 'Spawn Agent');
            if (pick) {
                await vscode.commands.executeCommand(Commands.spawn);
            }
            return sessions;
        }
        const { running, exited } = this.ctx.store.counts();
        const picked = await vscode.window.showQuickPick(this.sessionItems(this.ctx.store.all()), {
            title: `AO: ${running} running, ${exited} exited`,
            placeHolder: 'Pick a session for its actions',
            matchOnDescription: true,
            matchOnDetail: true,
        });
        if (!picked) {
            return sessions;
        }
        const s = picked.session;
        const actions: ValuePick[] = [
            { label: '$(terminal) Attach', value: Commands.attach },
            { label: '$(output) Show Logs', value: Commands.logs },
            s.status === 'exited'
                ? { label: '$(debug-restart) Resume', value: Commands.resume }
                : { label: '$(debug-stop) Kill', value: Commands.kill },
            ...(pendingOf(s).length > 0 ? [{ label: '$(bell-dot) Respond…', value: Commands.respond }] : []),
            ...(isRunningLive(s)
                ? [{ label: '$(comment) Send Message…', value: Commands.sendMessage }, { label: '$(debug-pause) Abort Turn', value: Commands.abort }]
                : []),
            ...(reviewable(s) ? [{ label: '$(diff) Review Changes', value: Commands.reviewChanges }] : []),
            ...(s.host ? [{ label: `$(remote) Show Host ${s.host}`, value: Commands.hosts }] : []),
            ...(s.status === 'exited' && hasWorktree(s)
                ? [{ label: '$(git-merge) Accept (Merge)', value: Commands.merge }, { label: '$(discard) Discard Changes', value: Commands.discard }]
                : []),
        ];
        const action = await vscode.window.showQuickPick(actions, { title: `${s.sessionId}: ${describeSession(s)}` });
        if (action?.value) {
            await vscode.commands.executeCommand(action.value, action.value === Commands.hosts ? s.host : s.sessionId);
        }
        return sessions;
    }

    private sessionItems(sessions: Session[]): SessionPick[] {
        return sessions.map((s) => ({
            label: `$(${sessionIcon(s).id}) ${s.sessionId}`,
            description: describeSession(s),
            detail: s.prompt ? s.prompt.split('\n')[0] : undefined,
            session: s,
        }));
    }

    /** The session an action is about: the argument, else a quick pick among sessions that fit. */
    private async resolveSession(arg: unknown, fits: (s: Session) => boolean, what: string, none: string): Promise<string | undefined> {
        const given = sessionIdOf(arg);
        if (given) {
            return given;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        this.ctx.store.replaceAll(await api.status());
        const candidates = this.ctx.store.all().filter(fits);
        if (candidates.length === 0) {
            void vscode.window.showInformationMessage(`AO: ${none}`);
            return undefined;
        }
        const pick = await vscode.window.showQuickPick(this.sessionItems(candidates), {
            title: what,
            placeHolder: 'Session',
            matchOnDescription: true,
            matchOnDetail: true,
        });
        return pick?.session.sessionId;
    }

    /** AO: Attach to Session: an integrated terminal running the argv from `ao/attach`. */
    async attach(arg?: unknown): Promise<vscode.Terminal | undefined> {
        const sessionId = await this.resolveSession(arg, () => true, 'Attach to a session', 'no sessions to attach to.');
        if (!sessionId) {
            return undefined;
        }
        const existing = this.terminals.get(sessionId);
        if (existing && existing.exitStatus === undefined) {
            existing.show();
            return existing;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const info = await api.attach(sessionId);
        const [shellPath, ...shellArgs] = info.argv;
        const env: Record<string, string | null> = {};
        if (process.env.TMUX) {
            env.TMUX = null; // tmux refuses to attach from inside another tmux client
        }
        const terminal = vscode.window.createTerminal({
            name: `AO: ${info.sessionId}`,
            shellPath,
            shellArgs,
            cwd: vscode.workspace.workspaceFolders?.[0]?.uri,
            env,
            iconPath: new vscode.ThemeIcon('hubot'),
        });
        this.terminals.set(sessionId, terminal);
        terminal.show();
        this.ctx.output.info(`attached to ${info.sessionId}: ${info.command}`);
        return terminal;
    }

    /** AO: Kill Session (asks first). */
    async kill(arg?: unknown): Promise<Session | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => s.status !== 'exited', 'Kill a session', 'no running sessions.');
        if (!sessionId) {
            return undefined;
        }
        const sure = await vscode.window.showWarningMessage(
            `Kill ${sessionId}?`,
            { modal: true, detail: 'The agent is stopped now; what it wrote so far stays.' },
            'Kill',
        );
        if (sure !== 'Kill') {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const session = await api.kill(sessionId);
        this.ctx.store.upsert(session);
        this.ctx.output.info(`killed ${session.sessionId}`);
        return session;
    }

    /** AO: Resume Session, with an optional follow-up prompt. */
    async resume(arg?: unknown): Promise<Session | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => s.status === 'exited', 'Resume a session', 'no exited sessions to resume.');
        if (!sessionId) {
            return undefined;
        }
        const prompt = await vscode.window.showInputBox({
            title: `Resume ${sessionId}`,
            prompt: 'Follow-up prompt (optional: leave empty to just restart the agent on its conversation)',
            ignoreFocusOut: true,
        });
        if (prompt === undefined) {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const session = await api.resume(sessionId, prompt.trim() === '' ? undefined : prompt);
        this.ctx.store.upsert(session);
        this.ctx.output.info(`resumed ${session.sessionId}`);
        void vscode.window.showInformationMessage(`Resumed ${session.sessionId}`);
        return session;
    }

    /** AO: Show Logs: the session's output as a read-only document. */
    async logs(arg?: unknown): Promise<vscode.TextDocument | undefined> {
        const sessionId = await this.resolveSession(arg, () => true, 'Show the logs of a session', 'no sessions yet.');
        if (!sessionId) {
            return undefined;
        }
        const uri = LogsProvider.uri(sessionId);
        const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
        if (open) {
            this.logsProvider.update(uri);
        }
        const doc = await vscode.workspace.openTextDocument(uri);
        await vscode.window.showTextDocument(doc, { preview: false });
        return doc;
    }

    // --- reviewing what an agent changed -------------------------------------------------------------

    /** AO: Review Changes: a session's changed files in a quick pick, then the one picked in the diff editor. */
    async reviewChanges(arg?: unknown): Promise<string | undefined> {
        const sessionId = await this.resolveSession(arg, reviewable, 'Review the changes of a session', 'no sessions with changes to review.');
        if (!sessionId) {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const changes = await api.changes(sessionId);
        if (changes.files.length === 0) {
            void vscode.window.showInformationMessage(`AO: ${sessionId} changed no files.`);
            return undefined;
        }
        const against = changes.base.ref ? ` against ${changes.base.ref}` : '';
        const pick = await vscode.window.showQuickPick(
            changes.files.map((file): vscode.QuickPickItem & { file: ChangedFile } => ({
                label: file.path,
                description: changeDescription(file),
                file,
            })),
            {
                title: `Changes of ${sessionId}${against}: ${changes.files.length} files, +${changes.additions} −${changes.deletions}`,
                placeHolder: 'A file to open in the diff editor',
                matchOnDescription: true,
            },
        );
        return pick ? this.openChange(sessionId, pick.file.path) : undefined;
    }

    /** One changed file in VS Code's diff editor: the base on the left, the agent's version on the right. */
    async openChange(arg?: unknown, pathArg?: unknown): Promise<string | undefined> {
        const sessionId = sessionIdOf(arg);
        const file = typeof pathArg === 'string' ? pathArg : changedPathOf(arg);
        if (!sessionId || !file) {
            return this.reviewChanges(sessionId);
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const diff = await api.fileDiff(sessionId, file);
        this.diffs.remember(diff);
        const [left, right, title] = diffArguments(this.ctx.store.get(sessionId), sessionId, diff);
        await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: true });
        return title;
    }

    /** AO: Accept (Merge): after a confirmation naming the base branch, `ao/merge`. */
    async merge(arg?: unknown): Promise<MergeResult | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => s.status === 'exited' && hasWorktree(s),
            "Accept (merge) a session's work", 'no finished sessions with a worktree to merge.');
        if (!sessionId) {
            return undefined;
        }
        const workspace = this.ctx.store.get(sessionId)?.workspace;
        const base = workspace?.base ?? 'its base branch';
        const sure = await vscode.window.showInformationMessage(
            `Merge ${sessionId} into ${base}?`,
            {
                modal: true,
                detail: workspace
                    ? `The agent's work on ${workspace.branch} (its uncommitted files are committed first) goes into ${base} in ${workspace.repo}.`
                    : 'The agent\'s work goes into the base branch of its project.',
            },
            'Merge',
        );
        if (sure !== 'Merge') {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        let result: MergeResult;
        try {
            result = await api.merge(sessionId);
        } catch (e) {
            if (isWireError(e) && e.code === ErrorCodes.mergeConflict) {
                this.ctx.output.warn(`merging ${sessionId}: ${e.message}`);
                void vscode.window.showErrorMessage(`AO: ${e.message}`, 'Send Message…', 'Review Changes').then((pick) => {
                    if (pick === 'Send Message…') {
                        void vscode.commands.executeCommand(Commands.sendMessage, sessionId);
                    } else if (pick === 'Review Changes') {
                        void vscode.commands.executeCommand(Commands.reviewChanges, sessionId);
                    }
                });
                return undefined;
            }
            throw e;
        }
        this.ctx.output.info(result.message);
        await this.reload(api, sessionId);
        void vscode.window.showInformationMessage(result.message);
        return result;
    }

    /** AO: Discard Changes: after a warning, `ao/discard` removes the worktree and the branch. */
    async discard(arg?: unknown): Promise<DiscardResult | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => s.status === 'exited' && hasWorktree(s),
            "Discard a session's changes", 'no finished sessions with a worktree to discard.');
        if (!sessionId) {
            return undefined;
        }
        const workspace = this.ctx.store.get(sessionId)?.workspace;
        const detail = workspace?.merged
            ? `Its work was merged into ${workspace.base}; its worktree ${workspace.path} and branch ${workspace.branch} are removed.`
            : `Its worktree${workspace ? ` ${workspace.path}` : ''} (with uncommitted work) and its branch${workspace ? ` ${workspace.branch}` : ''} are removed. This cannot be undone.`;
        const sure = await vscode.window.showWarningMessage(`Discard the changes of ${sessionId}?`, { modal: true, detail }, 'Discard');
        if (sure !== 'Discard') {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const result = await api.discard(sessionId);
        this.ctx.output.info(result.message);
        await this.reload(api, sessionId);
        void vscode.window.showInformationMessage(`AO: ${result.message}`);
        return result;
    }

    /**
     * AO: Send Message…: a message for the agent (`ao/send`). A running live agent takes it at once; a finished
     * one (live or not) resumes its conversation with it.
     */
    async sendMessage(arg?: unknown): Promise<Session | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => s.status === 'exited' || isRunningLive(s), 'Send a message to a session',
            'no finished sessions or running live agents to send a message to.');
        if (!sessionId) {
            return undefined;
        }
        const now = isRunningLive(this.ctx.store.get(sessionId));
        const message = await vscode.window.showInputBox({
            title: `Send a message to ${sessionId}`,
            prompt: now ? 'A follow-up; the live agent gets it at once' : 'A follow-up or review notes; the agent resumes its conversation with it',
            placeHolder: 'e.g. Thanks. Please also add a test for the empty case.',
            ignoreFocusOut: true,
            validateInput: (v) => (v.trim() === '' ? 'Write something for the agent' : undefined),
        });
        if (message === undefined || message.trim() === '') {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const session = await api.send(sessionId, message);
        this.ctx.store.upsert(session);
        this.ctx.forgetChanges(sessionId);
        this.ctx.output.info(`sent a message to ${session.sessionId}`);
        void vscode.window.showInformationMessage(`Sent to ${session.sessionId}`);
        return session;
    }

    // --- live agents ---------------------------------------------------------------------------------------

    /** AO: Respond…: the prompt of the session's first pending request again (its current state, asked first). */
    async respond(arg?: unknown): Promise<Session | undefined> {
        const sessionId = await this.resolveSession(arg, (s) => pendingOf(s).length > 0, 'Respond to a live agent',
            'no agent is waiting for an answer.');
        if (!sessionId) {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const [session] = await api.status({ sessionId });
        if (session) {
            this.ctx.store.upsert(session);
        }
        const request = pendingOf(session)[0];
        if (!request) {
            void vscode.window.showInformationMessage(`AO: ${sessionId} is not waiting for an answer now.`);
            return undefined;
        }
        this.ctx.output.info(`responding to ${sessionId}: it ${requestText(request)} (${request.requestId})`);
        return this.ctx.prompts.prompt(sessionId, request, false);
    }

    /** AO: Abort Turn: stops a running live agent's current turn (`ao/abort`); it then finishes as any turn does. */
    async abort(arg?: unknown): Promise<Session | undefined> {
        const sessionId = await this.resolveSession(arg, isRunningLive, "Abort a live agent's turn", 'no live agents are running.');
        if (!sessionId) {
            return undefined;
        }
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        const session = await api.abort(sessionId);
        this.ctx.store.upsert(session);
        this.ctx.output.info(`aborted the turn of ${session.sessionId}`);
        void vscode.window.showInformationMessage(`Stopped the current turn of ${session.sessionId}`);
        return session;
    }

    // --- remote hosts ------------------------------------------------------------------------------------

    /**
     * AO: Show Hosts: `ao/hosts` (one ssh round trip to each host, so behind a progress notification), every host
     * in a quick pick: reachable or not, round trip, tmux and OpenCode there, its running sessions, what is missing
     * with its fix. The full report goes to the AO output too (a quick pick cuts long lines); picking a host shows
     * it. An argument (a host name, a session or its tree node) narrows it to that host.
     */
    async hosts(arg?: unknown): Promise<HostInfo[] | undefined> {
        const sessionId = typeof arg === 'object' ? sessionIdOf(arg) : undefined;
        const only = hostOf(arg) ?? (sessionId ? this.ctx.store.get(sessionId)?.host ?? undefined : undefined);
        const api = await this.api();
        if (!api) {
            return undefined;
        }
        for (;;) {
            const hosts = await vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: only ? `AO: checking host ${only}` : 'AO: checking the remote hosts' },
                () => api.hosts(only),
            );
            if (hosts.length === 0) {
                void vscode.window.showInformationMessage(
                    'AO: no remote hosts are configured. Add a `hosts:` list (name, ssh: user@machine) to agent-orchestrator.yaml '
                    + 'and give a project `host: <name>`; its agents then run there over ssh.');
                return hosts;
            }
            this.ctx.output.info(`ao/hosts:\n${hostReport(hosts).join('\n')}`);
            const pick: HostPick | undefined = await vscode.window.showQuickPick(hostItems(hosts), {
                title: hostsTitle(hosts),
                placeHolder: 'A host for its full report (in the AO output)',
                matchOnDescription: true,
                matchOnDetail: true,
            });
            if (pick?.again) {
                continue;
            }
            if (pick?.host) {
                this.ctx.output.show(true);
            }
            return hosts;
        }
    }

    /** After a merge or discard: the session again (its workspace changed) and its files read afresh. */
    private async reload(api: AoApi, sessionId: string): Promise<void> {
        this.ctx.forgetChanges(sessionId);
        try {
            const [session] = await api.status({ sessionId });
            if (session) {
                this.ctx.store.upsert(session);
                return;
            }
        } catch (e) {
            this.ctx.output.warn(`ao/status ${sessionId} failed: ${describeError(e)}`);
        }
        const known = this.ctx.store.get(sessionId);
        if (known) {
            this.ctx.store.upsert(known); // re-render at least
        }
    }
}
