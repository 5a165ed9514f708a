/**
 * Reviewing what an agent changed (docs/protocol.md "Reviewing what an agent changed"): the words for a
 * changed file, the read-only documents the diff editor shows (`ao-base:` for the file before the agent,
 * `ao-head:` for its version when there is no worktree file to show), and opening the diff.
 */
import * as vscode from 'vscode';
import { AoApi, ChangedFile, FileDiffResult, FileSide, Session, isWireError } from './common/protocol';
import { describeError } from './common/server';

export const BASE_SCHEME = 'ao-base';
export const HEAD_SCHEME = 'ao-head';

/** The session still has its git worktree: merge and discard apply, its files can be opened. */
export function hasWorktree(session: Session | undefined): boolean {
    return Boolean(session?.workspace && !session.workspace.removed);
}

/** Worth expanding in the Sessions view: a worktree to compare, or changes OpenCode recorded. */
export function reviewable(session: Session): boolean {
    return hasWorktree(session) || (!session.workspace && (session.summary?.files ?? 0) > 0);
}

/** "agent-3" from "my-project/agent-3". */
export function shortId(sessionId: string): string {
    const slash = sessionId.indexOf('/');
    return slash >= 0 ? sessionId.slice(slash + 1) : sessionId;
}

/** "+12 −3 · modified", "binary · added", "+0 −0 · renamed from old/name.py". */
export function changeDescription(file: ChangedFile): string {
    const counts = file.binary ? 'binary' : `+${file.additions} −${file.deletions}`;
    const status = file.status === 'renamed' && file.oldPath ? `renamed from ${file.oldPath}` : file.status;
    return `${counts} · ${status}`;
}

export function changeIcon(file: ChangedFile): vscode.ThemeIcon {
    switch (file.status) {
        case 'added':
            return new vscode.ThemeIcon('diff-added', new vscode.ThemeColor('gitDecoration.addedResourceForeground'));
        case 'deleted':
            return new vscode.ThemeIcon('diff-removed', new vscode.ThemeColor('gitDecoration.deletedResourceForeground'));
        case 'renamed':
            return new vscode.ThemeIcon('diff-renamed', new vscode.ThemeColor('gitDecoration.renamedResourceForeground'));
        default:
            return new vscode.ThemeIcon('diff-modified', new vscode.ThemeColor('gitDecoration.modifiedResourceForeground'));
    }
}

/** "agent-3: src/app.py (base ↔ agent)"; a rename names both paths. */
export function diffTitle(sessionId: string, diff: Pick<FileDiffResult, 'path' | 'oldPath' | 'status'>): string {
    const name = diff.status === 'renamed' && diff.oldPath ? `${diff.oldPath} → ${diff.path}` : diff.path;
    return `${shortId(sessionId)}: ${name} (base ↔ agent)`;
}

/** What a side of the diff shows: its text, nothing when it does not exist, else why it is not shown. */
export function sideText(side: FileSide): string {
    if (side.text !== null) {
        return side.text;
    }
    if (!side.exists) {
        return '';
    }
    if (side.tooLarge) {
        return `(not shown: ${side.size} bytes, over the 1 MiB that ao-server sends)\n`;
    }
    if (side.binary) {
        return `(not shown: a binary file of ${side.size} bytes)\n`;
    }
    return '(not shown)\n';
}

/** A document URI of one side of a changed file: the path keeps its name (so its language is known). */
export function sideUri(scheme: typeof BASE_SCHEME | typeof HEAD_SCHEME, sessionId: string, path: string): vscode.Uri {
    return vscode.Uri.from({ scheme, path: `/${path}`, query: new URLSearchParams({ session: sessionId }).toString() });
}

function parseSideUri(uri: vscode.Uri): { sessionId: string; path: string } {
    return { sessionId: new URLSearchParams(uri.query).get('session') ?? '', path: uri.path.replace(/^\//, '') };
}

/**
 * Serves `ao-base:` and `ao-head:` documents from `ao/fileDiff`. A diff being opened hands its result over
 * ({@link remember}), so the two sides cost one request; an open document is fetched again when its diff
 * is opened again.
 */
export class FileDiffProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
    private readonly changed = new vscode.EventEmitter<vscode.Uri>();
    readonly onDidChange: vscode.Event<vscode.Uri> = this.changed.event;
    private readonly recent = new Map<string, FileDiffResult>();

    constructor(private readonly server: { ready(): Promise<AoApi | undefined> }) {}

    /** Keeps a fresh ao/fileDiff result for the next reads of its two sides, and updates open documents. */
    remember(diff: FileDiffResult): void {
        const key = `${diff.sessionId}\n${diff.path}`;
        this.recent.set(key, diff);
        setTimeout(() => {
            if (this.recent.get(key) === diff) {
                this.recent.delete(key);
            }
        }, 30_000).unref();
        const open = new Set(vscode.workspace.textDocuments.map((d) => d.uri.toString()));
        for (const scheme of [BASE_SCHEME, HEAD_SCHEME] as const) {
            const uri = sideUri(scheme, diff.sessionId, diff.path);
            if (open.has(uri.toString())) {
                this.changed.fire(uri);
            }
        }
    }

    async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
        const { sessionId, path } = parseSideUri(uri);
        let diff = this.recent.get(`${sessionId}\n${path}`);
        if (!diff) {
            const api = await this.server.ready();
            if (!api) {
                return `ao-server is not running; ${path} of ${sessionId} cannot be read (see the AO output).\n`;
            }
            try {
                diff = await api.fileDiff(sessionId, path);
            } catch (e) {
                return `ao/fileDiff failed for ${path} of ${sessionId}: ${isWireError(e) ? e.message : describeError(e)}\n`;
            }
        }
        return sideText(uri.scheme === BASE_SCHEME ? diff.base : diff.head);
    }

    dispose(): void {
        this.changed.dispose();
        this.recent.clear();
    }
}

/** The two sides and the title for `vscode.diff`: the right side is the worktree's own file when there is one. */
export function diffArguments(session: Session | undefined, sessionId: string, diff: FileDiffResult): [vscode.Uri, vscode.Uri, string] {
    const left = sideUri(BASE_SCHEME, sessionId, diff.path);
    const workspace = session?.workspace;
    const right = workspace && !workspace.removed && diff.head.exists
        ? vscode.Uri.joinPath(vscode.Uri.file(workspace.path), ...diff.path.split('/'))
        : sideUri(HEAD_SCHEME, sessionId, diff.path);
    return [left, right, diffTitle(sessionId, diff)];
}
