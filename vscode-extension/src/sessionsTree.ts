/**
 * The Sessions view: project -> sessions -> the files each session changed (from `ao/changes`, fetched when
 * a session is expanded), rendered from the {@link SessionStore}.
 */
import * as vscode from 'vscode';
import { Commands, ContextValues } from './common/constants';
import { ChangedFile, ChangesResult, Session, isWireError } from './common/protocol';
import { describeError } from './common/server';
import { changeDescription, changeIcon, hasWorktree, reviewable } from './review';
import {
    SessionStore, budgetText, describeSession, errorText, formatAge, formatCost, formatLocalTime, isLive, isUnreachable, pendingOf, requestText,
    sessionIcon, stateWord,
} from './sessions';

export interface ProjectNode {
    kind: 'project';
    project: string;
}

export interface SessionNode {
    kind: 'session';
    sessionId: string;
    project: string;
}

/** A file a session changed; clicking it opens its diff. */
export interface ChangeNode {
    kind: 'change';
    sessionId: string;
    project: string;
    file: ChangedFile;
}

/** In place of a session's files: "No changes", or why they cannot be read. */
export interface ChangesMessageNode {
    kind: 'changesMessage';
    sessionId: string;
    project: string;
    text: string;
    error: boolean;
}

export type SessionsTreeNode = ProjectNode | SessionNode | ChangeNode | ChangesMessageNode;

/** Reads a session's changes: `ao/changes` on the running server; undefined when there is none. */
export type ChangesLoader = (sessionId: string) => Promise<ChangesResult | undefined>;

export class SessionsTreeProvider implements vscode.TreeDataProvider<SessionsTreeNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<SessionsTreeNode | undefined | void>();
    readonly onDidChangeTreeData: vscode.Event<SessionsTreeNode | undefined | void> = this.changed.event;
    private readonly subscriptions: vscode.Disposable[] = [];
    /** Each expanded session's files, read once until the session changes (see {@link forgetChanges}). */
    private readonly changesCache = new Map<string, Promise<ChangesResult | undefined>>();

    constructor(
        private readonly store: SessionStore,
        private readonly now: () => number = Date.now,
        private readonly loadChanges?: ChangesLoader,
    ) {
        this.subscriptions.push(store.onDidChange(() => this.changed.fire()));
    }

    /** Re-render (ages move on without any notification). */
    refresh(): void {
        this.changed.fire();
    }

    /** Reads a session's files again the next time they are shown (every session's without an id); no re-render. */
    forgetChanges(sessionId?: string): void {
        if (sessionId === undefined) {
            this.changesCache.clear();
        } else {
            this.changesCache.delete(sessionId);
        }
    }

    getChildren(): ProjectNode[];
    getChildren(element: ProjectNode): SessionNode[];
    getChildren(element: SessionNode): Promise<(ChangeNode | ChangesMessageNode)[]>;
    getChildren(element?: SessionsTreeNode): SessionsTreeNode[] | Promise<SessionsTreeNode[]>;
    getChildren(element?: SessionsTreeNode): SessionsTreeNode[] | Promise<SessionsTreeNode[]> {
        if (!element) {
            return this.store.projects().map((project) => ({ kind: 'project', project }));
        }
        if (element.kind === 'project') {
            return this.store.ofProject(element.project).map((s) => ({ kind: 'session', sessionId: s.sessionId, project: s.project }));
        }
        if (element.kind === 'session') {
            return this.changeNodes(element);
        }
        return [];
    }

    /** The files of a session, or one message in their place; never rejects. */
    async changeNodes(node: SessionNode): Promise<(ChangeNode | ChangesMessageNode)[]> {
        const message = (text: string, error: boolean): ChangesMessageNode[] =>
            [{ kind: 'changesMessage', sessionId: node.sessionId, project: node.project, text, error }];
        if (!this.loadChanges) {
            return [];
        }
        let pending = this.changesCache.get(node.sessionId);
        if (!pending) {
            pending = this.loadChanges(node.sessionId);
            this.changesCache.set(node.sessionId, pending);
        }
        let result: ChangesResult | undefined;
        try {
            result = await pending;
        } catch (e) {
            if (this.changesCache.get(node.sessionId) === pending) {
                this.changesCache.delete(node.sessionId); // read it again next time
            }
            return message(isWireError(e) ? e.message : describeError(e), true);
        }
        if (!result) {
            this.changesCache.delete(node.sessionId);
            return message('ao-server is not running (see the AO output)', true);
        }
        if (result.files.length === 0) {
            return message(result.source === 'opencode' ? 'No changes recorded by OpenCode' : 'No changes', false);
        }
        return result.files.map((file) => ({ kind: 'change', sessionId: node.sessionId, project: node.project, file }));
    }

    getParent(element: SessionsTreeNode): SessionsTreeNode | undefined {
        switch (element.kind) {
            case 'session':
                return { kind: 'project', project: element.project };
            case 'change':
            case 'changesMessage':
                return { kind: 'session', sessionId: element.sessionId, project: element.project };
            default:
                return undefined;
        }
    }

    getTreeItem(element: SessionsTreeNode): vscode.TreeItem {
        switch (element.kind) {
            case 'project':
                return this.projectItem(element.project);
            case 'change':
                return changeItem(element);
            case 'changesMessage': {
                const item = new vscode.TreeItem(element.text, vscode.TreeItemCollapsibleState.None);
                item.id = `changes-message:${element.sessionId}`;
                item.iconPath = new vscode.ThemeIcon(element.error ? 'warning' : 'info');
                item.contextValue = ContextValues.changesMessage;
                item.tooltip = element.text;
                return item;
            }
            default: {
                const session = this.store.get(element.sessionId);
                return session ? this.sessionItem(session) : new vscode.TreeItem(element.sessionId);
            }
        }
    }

    private projectItem(project: string): vscode.TreeItem {
        const sessions = this.store.ofProject(project);
        const running = sessions.filter((s) => s.status !== 'exited').length;
        const item = new vscode.TreeItem(project, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `project:${project}`;
        item.iconPath = new vscode.ThemeIcon('project');
        item.description = `${running} running, ${sessions.length - running} exited`;
        item.contextValue = ContextValues.project;
        item.tooltip = `${project}: ${item.description}`;
        return item;
    }

    private sessionItem(session: Session): vscode.TreeItem {
        const slash = session.sessionId.indexOf('/');
        const label = slash >= 0 ? session.sessionId.slice(slash + 1) : session.sessionId;
        const expandable = this.loadChanges !== undefined && reviewable(session);
        const item = new vscode.TreeItem(label, expandable ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.id = `session:${session.sessionId}`;
        item.description = describeSession(session, this.now());
        item.iconPath = sessionIcon(session);
        item.contextValue = sessionContextValue(session);
        item.tooltip = sessionTooltip(session, this.now());
        item.accessibilityInformation = { label: `${session.sessionId}, ${item.description}` };
        return item;
    }

    dispose(): void {
        this.subscriptions.forEach((d) => {
            d.dispose();
        });
        this.changed.dispose();
    }
}

/**
 * The session item's context value: running or exited, whether its worktree is still there, then `.live` for
 * a live agent and `.pending` when it waits for an answer (`aoSession.running.live.pending`).
 */
export function sessionContextValue(session: Session): string {
    const base = session.status === 'exited'
        ? hasWorktree(session) ? ContextValues.exitedWorktree : ContextValues.exited
        : hasWorktree(session) ? ContextValues.runningWorktree : ContextValues.running;
    return base + (isLive(session) ? ContextValues.liveSuffix : '') + (pendingOf(session).length > 0 ? ContextValues.pendingSuffix : '');
}

function changeItem(node: ChangeNode): vscode.TreeItem {
    const { file } = node;
    const item = new vscode.TreeItem(file.path, vscode.TreeItemCollapsibleState.None);
    item.id = `change:${node.sessionId}:${file.path}`;
    item.description = changeDescription(file);
    item.iconPath = changeIcon(file);
    item.contextValue = ContextValues.changedFile;
    item.tooltip = `${file.path}: ${item.description}`;
    item.accessibilityInformation = { label: `${file.path}, ${item.description}` };
    item.command = { command: Commands.openChange, title: 'Open Changes', arguments: [{ sessionId: node.sessionId, path: file.path }] };
    return item;
}

export function sessionTooltip(session: Session, now: number): vscode.MarkdownString {
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${escape(session.sessionId)}** ${escape(stateWord(session))}\n\n`);
    const rows: [string, string | undefined][] = [
        ['Status', session.status + (typeof session.exitCode === 'number' ? ` (exit code ${session.exitCode})` : '')],
        ['Host', session.host ? `${session.host} (over ssh)` : undefined],
        ['Unreachable', isUnreachable(session) ? unreachableTooltip(session, now) : undefined],
        ['Activity', session.activity ?? undefined],
        ['Waiting for you', pendingOf(session).map((r) => `it ${requestText(r)}`).join('; ') || undefined],
        ['Outcome', session.outcome ? session.outcome.result + (errorText(session.outcome.error) ? `: ${errorText(session.outcome.error)}` : '') : undefined],
        ['Model', session.model ?? undefined],
        ['Runtime', session.runtime],
        ['Worktree', worktreeText(session)],
        ['Cost', formatCost(session)],
        ['Budget', budgetText(session.budget)],
        ['Started', session.createdAt ? `${formatAge(session.createdAt, now)} ago` : undefined],
        ['Prompt', session.prompt ? truncate(session.prompt, 300) : undefined],
        ...summaryRows(session.summary),
    ];
    for (const [name, value] of rows) {
        if (value) {
            md.appendMarkdown(`${name}: ${escape(value)}  \n`);
        }
    }
    return md;
}

/** "since 2026-11-26 21:22:18 (3m ago): build1 does not answer; its agent may still run, ao asks again on every poll". */
function unreachableTooltip(session: Session, now: number): string {
    const since = formatLocalTime(session.unreachableSince, now, true);
    const age = formatAge(session.unreachableSince, now);
    const when = since ? `since ${since}${age ? ` (${age} ago)` : ''}: ` : '';
    return `${when}${session.host ?? 'its host'} does not answer; its agent may still run, ao asks again on every poll (AO: Show Hosts)`;
}

function worktreeText(session: Session): string | undefined {
    const w = session.workspace;
    if (!w) {
        return undefined;
    }
    const state = w.removed ? 'removed' : w.merged ? `merged into ${w.base}` : undefined;
    return `${w.branch} from ${w.base}${state ? ` (${state})` : ''}`;
}

function summaryRows(summary: Session['summary']): [string, string | undefined][] {
    if (!summary) {
        return [];
    }
    const changes = summary.files ? `${summary.files} files, +${summary.additions} −${summary.deletions}` : undefined;
    return [
        ['Title', typeof summary.title === 'string' ? truncate(summary.title, 200) : undefined],
        ['Changes', changes],
        ['Last tool', typeof summary.lastTool === 'string' ? summary.lastTool : undefined],
        ['Pull request', typeof summary.prUrl === 'string' ? summary.prUrl : undefined],
    ];
}

function truncate(text: string, n: number): string {
    return text.length > n ? text.slice(0, n - 1) + '…' : text;
}

function escape(value: unknown): string {
    const text = typeof value === 'string' ? value : String(JSON.stringify(value));
    return text.replace(/[\\`*_[\]<>|]/g, (c) => `\\${c}`);
}
