/**
 * The Sessions view: project -> sessions, rendered from the {@link SessionStore}.
 */
import * as vscode from 'vscode';
import { ContextValues } from './common/constants';
import { Session } from './common/protocol';
import { SessionStore, budgetText, describeSession, errorText, formatAge, formatCost, sessionIcon, stateWord } from './sessions';

export interface ProjectNode {
    kind: 'project';
    project: string;
}

export interface SessionNode {
    kind: 'session';
    sessionId: string;
    project: string;
}

export type SessionsTreeNode = ProjectNode | SessionNode;

export class SessionsTreeProvider implements vscode.TreeDataProvider<SessionsTreeNode>, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<SessionsTreeNode | undefined | void>();
    readonly onDidChangeTreeData: vscode.Event<SessionsTreeNode | undefined | void> = this.changed.event;
    private readonly subscriptions: vscode.Disposable[] = [];

    constructor(private readonly store: SessionStore, private readonly now: () => number = Date.now) {
        this.subscriptions.push(store.onDidChange(() => this.changed.fire()));
    }

    /** Re-render (ages move on without any notification). */
    refresh(): void {
        this.changed.fire();
    }

    getChildren(element?: SessionsTreeNode): SessionsTreeNode[] {
        if (!element) {
            return this.store.projects().map((project) => ({ kind: 'project', project }));
        }
        if (element.kind === 'project') {
            return this.store.ofProject(element.project).map((s) => ({ kind: 'session', sessionId: s.sessionId, project: s.project }));
        }
        return [];
    }

    getParent(element: SessionsTreeNode): SessionsTreeNode | undefined {
        return element.kind === 'session' ? { kind: 'project', project: element.project } : undefined;
    }

    getTreeItem(element: SessionsTreeNode): vscode.TreeItem {
        if (element.kind === 'project') {
            return this.projectItem(element.project);
        }
        const session = this.store.get(element.sessionId);
        return session ? this.sessionItem(session) : new vscode.TreeItem(element.sessionId);
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
        const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.None);
        item.id = `session:${session.sessionId}`;
        item.description = describeSession(session, this.now());
        item.iconPath = sessionIcon(session);
        item.contextValue = session.status === 'exited' ? ContextValues.exited : ContextValues.running;
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

export function sessionTooltip(session: Session, now: number): vscode.MarkdownString {
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${escape(session.sessionId)}** ${escape(stateWord(session))}\n\n`);
    const rows: [string, string | undefined][] = [
        ['Status', session.status + (typeof session.exitCode === 'number' ? ` (exit code ${session.exitCode})` : '')],
        ['Activity', session.activity ?? undefined],
        ['Outcome', session.outcome ? session.outcome.result + (errorText(session.outcome.error) ? `: ${errorText(session.outcome.error)}` : '') : undefined],
        ['Model', session.model ?? undefined],
        ['Runtime', session.runtime],
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
