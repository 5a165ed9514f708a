/**
 * Reviewing what an agent changed, against the REAL ao-server, real git and the real OpenCode with the fake
 * model (whose `[[write:PATH:TEXT]]` makes the agent write a file): a project with `workspace: worktree` in
 * a git repository of its own, with its own state dir, so it does not meet extension.test.ts's sessions.
 * The exit notification's Review Changes, the session's files in the Sessions view, the diff's documents,
 * Send Message…, Accept (Merge) and Discard Changes, each checked with git.
 */
import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Commands, ContextValues, Views } from '../common/constants';
import { DiscardResult, MergeResult, Session } from '../common/protocol';
import { BASE_SCHEME, HEAD_SCHEME, sideUri } from '../review';
import { SessionNode, SessionsTreeProvider } from '../sessionsTree';
import { Activated, activateExtension, deactivateExtension, skipReason, testEnv, useWorkspace } from './helpers';
import { ShownMessage, TreeItem, TreeItemCollapsibleState, Uri, double } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();
const EXIT_TIMEOUT = 90_000;
const SID = 'review-project/agent-1';

function git(cwd: string, ...args: string[]): string {
    return cp.execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8', timeout: 30_000 }).trim();
}

function tree(): SessionsTreeProvider {
    const provider = double.treeProviders.get(Views.sessions) as SessionsTreeProvider | undefined;
    assert.ok(provider, 'the Sessions view has no provider');
    return provider;
}

function sessionNode(sessionId: string): SessionNode | undefined {
    for (const project of tree().getChildren()) {
        const node = tree().getChildren(project).find((n) => n.sessionId === sessionId);
        if (node) {
            return node;
        }
    }
    return undefined;
}

function item(node: Parameters<SessionsTreeProvider['getTreeItem']>[0]): TreeItem {
    return tree().getTreeItem(node) as unknown as TreeItem;
}

/** Expands a session as the view does: its children's labels and descriptions. */
async function expand(sessionId: string): Promise<{ rows: string[]; items: TreeItem[] }> {
    const node = sessionNode(sessionId);
    assert.ok(node, `${sessionId} is not in the view`);
    const items = (await tree().getChildren(node)).map(item);
    return { rows: items.map((i) => `${i.label}: ${String(i.description ?? '')}`), items };
}

function exec<T>(command: string, ...args: unknown[]): Promise<T> {
    const handler = double.commands.get(command);
    assert.ok(handler, `command ${command} is not registered`);
    return Promise.resolve(handler(...args) as T);
}

function count(text: string): number {
    return double.messages.filter((m) => m.message === text).length;
}

async function waitMessage(text: string, timeout = EXIT_TIMEOUT, times = 1): Promise<ShownMessage> {
    await double.waitFor(() => count(text) >= times, timeout,
        `"${text}" shown ${times} time(s) (shown: ${JSON.stringify(double.messages.map((m) => m.message))})`);
    return double.messages.filter((m) => m.message === text)[times - 1]!;
}

function diffs(): { left: Uri; right: Uri; title: string }[] {
    return double.builtinCommands.filter((c) => c.id === 'vscode.diff')
        .map((c) => ({ left: c.args[0] as Uri, right: c.args[1] as Uri, title: c.args[2] as string }));
}

async function documentText(uri: Uri): Promise<string> {
    const provider = double.contentProviders.get(uri.scheme);
    assert.ok(provider, `no content provider for ${uri.scheme}`);
    return provider.provideTextDocumentContent(uri);
}

describe('reviewing an agent\'s changes against the real ao-server and git', { skip }, () => {
    let active: Activated;
    let repo: string;

    before(async () => {
        assert.ok(env);
        const root = path.join(path.dirname(env.workspace), 'review-world');
        repo = path.join(root, 'review-project');
        fs.mkdirSync(repo, { recursive: true });
        git(repo, 'init', '-q', '-b', 'main');
        git(repo, 'config', 'user.email', 't@example.com');
        git(repo, 'config', 'user.name', 'Test');
        fs.writeFileSync(path.join(repo, 'README'), 'hello\n');
        fs.writeFileSync(path.join(repo, '.gitignore'), 'agent-orchestrator.yaml\n');
        git(repo, 'add', 'README', '.gitignore');
        git(repo, 'commit', '-q', '-m', 'init');
        fs.writeFileSync(path.join(repo, 'agent-orchestrator.yaml'), [
            'plugins:', '  agent: opencode', '  runtime: process',
            'projects:', '  - name: review-project', `    path: ${repo}`, '    workspace: worktree', '',
        ].join('\n'));
        useWorkspace(repo);
        double.configuration = {
            'ao.server.command': env.serverCommand,
            'ao.pollInterval': 0.3,
            'ao.stateDir': path.join(root, 'ao-state'),
        };
        active = activateExtension();
        assert.equal(await active.ext.started, true, `the server did not start:\n${double.output('AO')}`);
    });

    after(async () => {
        await deactivateExtension(active);
    });

    let session: Session;

    it('a finished worktree session: its exit notification offers Review Changes, which opens the diff', async () => {
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('Write the notes [[write:notes.txt:hello from the agent]]');
        session = await exec<Session>(Commands.spawn);
        assert.equal(session.sessionId, SID);
        assert.ok(session.workspace, 'the project uses worktrees');

        // The exit notification's first button is Review Changes; it picks a file, then opens the diff.
        double.messageResponder = (m) => (m.message === `${SID} finished` ? 'Review Changes' : undefined);
        double.pickAnswers.push('notes.txt');
        const shown = await waitMessage(`${SID} finished`);
        assert.deepEqual(shown.items, ['Review Changes', 'Attach', 'Show Logs']);
        const diff = await double.waitFor(() => diffs()[0], 30_000, 'the diff editor to open');
        const filePick = double.quickPicks.at(-1)!;
        assert.match(String(filePick.options.title), /^Changes of review-project\/agent-1 against main: 1 files, \+1 −0$/);
        assert.deepEqual(filePick.items.map((i: { label: string; description: string }) => `${i.label}: ${i.description}`),
            ['notes.txt: +1 −0 · added']);
        assert.equal(diff.title, 'agent-1: notes.txt (base ↔ agent)');
        // Left: the base (the file did not exist); right: the agent's file in its worktree, as on disk.
        assert.equal(diff.left.scheme, BASE_SCHEME);
        assert.equal(await documentText(diff.left), '');
        assert.equal(diff.right.scheme, 'file');
        assert.equal(diff.right.fsPath, path.join(session.workspace.path, 'notes.txt'));
        assert.equal(fs.readFileSync(diff.right.fsPath, 'utf8'), 'hello from the agent');
        // Without a worktree file to show, the agent's side is a read-only document of the same text.
        assert.equal(await documentText(sideUri(HEAD_SCHEME, SID, 'notes.txt')), 'hello from the agent');
        double.messageResponder = () => undefined;
    });

    it('the Sessions view: the session expands to its changed files with their counts; a click opens the diff', async () => {
        const node = sessionNode(SID);
        assert.ok(node);
        const sessionItem = item(node);
        assert.equal(sessionItem.contextValue, ContextValues.exitedWorktree);
        assert.equal(sessionItem.collapsibleState, TreeItemCollapsibleState.Collapsed);
        const { rows, items } = await expand(SID);
        assert.deepEqual(rows, ['notes.txt: +1 −0 · added']);
        assert.equal(items[0]!.contextValue, ContextValues.changedFile);
        const command = items[0]!.command;
        assert.ok(command);
        const before = diffs().length;
        const title = await exec<string>(command.command, ...(command.arguments ?? []));
        assert.equal(title, 'agent-1: notes.txt (base ↔ agent)');
        assert.equal(diffs().length, before + 1);
        // The file's inline action gets the node itself.
        const [fileNode] = await tree().getChildren(node);
        assert.equal(await exec<string>(Commands.openChange, fileNode), title);
        assert.equal(diffs().length, before + 2);
    });

    it('Send Message… resumes the agent with the message; its new file shows once it has finished again', async () => {
        double.inputAnswers.push('Thanks. Also [[write:more.txt:second file]]');
        const resumed = await exec<Session>(Commands.sendMessage, { kind: 'session', sessionId: SID, project: 'review-project' });
        assert.equal(resumed.sessionId, SID);
        assert.equal(resumed.runs, 2);
        assert.equal(double.inputBoxes.at(-1)?.options.title, `Send a message to ${SID}`);
        await waitMessage(`Sent to ${SID}`, 5000);
        await waitMessage(`${SID} finished`, EXIT_TIMEOUT, 2);
        // The exit's ao/statusChanged made the view read the files again.
        const { rows } = await expand(SID);
        assert.deepEqual(rows, ['more.txt: +1 −0 · added', 'notes.txt: +1 −0 · added']);
    });

    it('Accept (Merge) asks, naming the base branch, then merges: main has the agent\'s files', async () => {
        const mainBefore = git(repo, 'rev-parse', 'main');
        double.messageResponder = (m) => (m.modal && m.message === `Merge ${SID} into main?` ? 'Merge' : undefined);
        const result = await exec<MergeResult>(Commands.merge, { kind: 'session', sessionId: SID, project: 'review-project' });
        assert.ok(result, JSON.stringify(double.messages.slice(-3)));
        const mainAfter = git(repo, 'rev-parse', 'main');
        assert.notEqual(mainAfter, mainBefore);
        assert.equal(result.commit, mainAfter);
        assert.equal(result.previous, mainBefore);
        assert.equal(result.base, 'main');
        assert.equal(git(repo, 'show', 'main:notes.txt'), 'hello from the agent');
        assert.equal(git(repo, 'show', 'main:more.txt'), 'second file');
        assert.equal(fs.readFileSync(path.join(repo, 'notes.txt'), 'utf8'), 'hello from the agent', 'the checkout is on main');
        await waitMessage(result.message, 5000);
        assert.match(result.message, /^merged review-project\/agent-1 into main/);
        // Nothing is left between the branch and main.
        assert.deepEqual((await expand(SID)).rows, ['No changes: ']);
        double.messageResponder = () => undefined;
    });

    it('Discard Changes warns, then removes the worktree and branch; the session is no longer expandable', async () => {
        const worktree = session.workspace!.path;
        assert.ok(fs.existsSync(worktree));
        double.messageResponder = (m) => (m.modal && m.message === `Discard the changes of ${SID}?` ? 'Discard' : undefined);
        const result = await exec<DiscardResult>(Commands.discard, SID);
        assert.ok(result, JSON.stringify(double.messages.slice(-3)));
        const confirm = double.messages.find((m) => m.message === `Discard the changes of ${SID}?`);
        assert.equal(confirm?.level, 'warning');
        assert.ok(!fs.existsSync(worktree), 'the worktree is still there');
        assert.equal(git(repo, 'branch', '--list', 'ao/agent-1'), '');
        await waitMessage(`AO: ${result.message}`, 5000);
        const after = item(sessionNode(SID)!);
        assert.equal(after.contextValue, ContextValues.exited);
        assert.equal(after.collapsibleState, TreeItemCollapsibleState.None);
        // Expanded anyway (a view that had it open): the server's reason as one item, no rejection.
        tree().forgetChanges(SID);
        const { rows, items } = await expand(SID);
        assert.equal(rows.length, 1);
        assert.equal(items[0]!.contextValue, ContextValues.changesMessage);
        assert.match(rows[0]!, /worktree|removed/i);
        double.messageResponder = () => undefined;
    });
});
