/**
 * The extension's client logic against the REAL ao-server (started by the extension's own ServerManager
 * through vscode-languageclient over stdio), real tmux and the real OpenCode with the fake model.
 * Only `vscode` is a double (vscodeDouble.ts). Started by tests/e2e/test_vscode.py, which provides the
 * isolated environment (AO_TEST_SERVER_COMMAND, AO_TEST_WORKSPACE, the bed's HOME/XDG/AO_STATE_DIR).
 *
 * The steps share one window (one server) and run in order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Commands, ContextValues, Views } from '../common/constants';
import { Session, StatusChanged } from '../common/protocol';
import { formatUsd } from '../sessions';
import { SessionsTreeNode, SessionsTreeProvider } from '../sessionsTree';
import { Activated, activateExtension, alive, deactivateExtension, run, skipReason, testEnv, useWorkspace } from './helpers';
import { ShownMessage, TreeItem, Uri, double } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();
const EXIT_TIMEOUT = 90_000;

function tree(): SessionsTreeProvider {
    const provider = double.treeProviders.get(Views.sessions) as SessionsTreeProvider | undefined;
    assert.ok(provider, 'the Sessions view has no provider');
    return provider;
}

/** The view as text rows: "project (description)" and "  label: description [contextValue icon]". */
function renderTree(): string[] {
    const rows: string[] = [];
    const walk = (nodes: SessionsTreeNode[], depth: number) => {
        for (const node of nodes) {
            const item = tree().getTreeItem(node) as unknown as TreeItem;
            const icon = (item.iconPath as { id?: string } | undefined)?.id ?? '';
            rows.push(`${'  '.repeat(depth)}${item.label}: ${String(item.description ?? '')} [${item.contextValue ?? ''} ${icon}]`);
            if (node.kind === 'project') {
                walk(tree().getChildren(node), depth + 1); // a session's files are read when expanded (review.test.ts)
            }
        }
    };
    walk(tree().getChildren(), 0);
    return rows;
}

function sessionItem(sessionId: string): TreeItem | undefined {
    for (const project of tree().getChildren()) {
        for (const node of tree().getChildren(project)) {
            if (node.sessionId === sessionId) {
                return tree().getTreeItem(node) as unknown as TreeItem;
            }
        }
    }
    return undefined;
}

function message(pred: (m: ShownMessage) => boolean): ShownMessage | undefined {
    return double.messages.find(pred);
}

async function waitMessage(text: string | RegExp, timeout = EXIT_TIMEOUT): Promise<ShownMessage> {
    const match = (m: ShownMessage) => (typeof text === 'string' ? m.message === text : text.test(m.message));
    return double.waitFor(() => message(match), timeout, `a message ${String(text)} (shown: ${JSON.stringify(double.messages.map((m) => m.message))})`);
}

function exec<T>(command: string, ...args: unknown[]): Promise<T> {
    const handler = double.commands.get(command);
    assert.ok(handler, `command ${command} is not registered`);
    return Promise.resolve(handler(...args) as T);
}

describe('the extension against the real ao-server', { skip }, () => {
    let active: Activated;
    let serverPid: number | undefined;

    before(async () => {
        assert.ok(env);
        useWorkspace(env.workspace);
        double.configuration = { 'ao.server.command': env.serverCommand, 'ao.pollInterval': 0.3 };
        active = activateExtension();
        const ok = await active.ext.started;
        assert.equal(ok, true, `the server did not start:\n${double.output('AO')}\n${JSON.stringify(double.messages)}`);
        const m = /ao-server is running \(pid (\d+)\)/.exec(double.output('AO'));
        serverPid = m ? Number(m[1]) : undefined;
    });

    after(async () => {
        await deactivateExtension(active);
        if (serverPid) {
            // shutdown/exit end the server; the agents stay (they belong to the user)
            await double.waitFor(() => !alive(serverPid as number), 10_000, 'ao-server to exit after deactivate');
        }
    });

    it('registers its own commands beside the server-advertised ones, starts with an empty view', async () => {
        for (const id of [Commands.spawn, Commands.status, Commands.attach, Commands.kill, Commands.resume, Commands.logs]) {
            assert.ok(double.commands.has(id), `${id} missing`);
        }
        // vscode-languageclient registered the server's executeCommand ids; ours did not collide.
        for (const id of ['ao/spawn', 'ao/status', 'ao/attach', 'ao/kill', 'ao/resume', 'ao/logs', 'ao/list']) {
            assert.ok(double.commands.has(id), `${id} not registered by the language client`);
        }
        await double.waitFor(() => active.ext.statusBar.item.text.includes('AO: 0 running, 0 exited'), 10_000, 'the status bar');
        assert.equal(active.ext.statusBar.item.command, Commands.focusSessions);
        assert.deepEqual(renderTree(), []);
        assert.equal(double.messages.length, 0, JSON.stringify(double.messages));
    });

    let first: Session;

    it('AO: Spawn Agent: one project, so no project pick; OpenCode\'s models, its default first; the prompt', async () => {
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('Write the VS Code notes [[slow:3]]');
        first = await exec<Session>(Commands.spawn);
        assert.equal(first.sessionId, 'my-project/agent-1');
        assert.equal(first.status, 'running');
        assert.equal(first.prompt, 'Write the VS Code notes [[slow:3]]');
        assert.equal(first.model, null, 'the default model is OpenCode\'s own: no --model');

        assert.equal(double.quickPicks.length, 1, 'only the model is picked');
        const modelPick = double.quickPicks[0]!;
        const labels = modelPick.items.map((i: { label: string }) => i.label);
        assert.equal(modelPick.options.title, 'Spawn an agent: model');
        assert.equal(labels[0], 'fake/fake-model');
        assert.match(modelPick.items[0].description, /default: OpenCode's model/);
        assert.ok(labels.some((l: string) => l.startsWith('opencode/')), labels.join(', '));
        assert.equal(labels.filter((l: string) => l === 'fake/fake-model').length, 1);
        assert.equal(labels.at(-1), 'Other model…');
        assert.equal(double.inputBoxes[0]!.options.title, 'Spawn an agent in my-project');
        await waitMessage('Spawned my-project/agent-1', 5000);
        // The server reported work-done progress through the client.
        assert.ok(double.progress.some((p) => p.title === 'Spawning an OpenCode agent'), JSON.stringify(double.progress));

        const rows = renderTree();
        assert.equal(rows[0], 'my-project: 1 running, 0 exited [aoProject project]');
        assert.match(rows[1] ?? '', /^ {2}agent-1: .* \[aoSession\.running /);
        assert.match(active.ext.statusBar.item.text, /AO: 1 running, 0 exited/);
    });

    it('on ao/statusChanged the exit notification offers Attach and Show Logs; the view follows', async () => {
        double.messageResponder = (m) => (m.message === 'my-project/agent-1 finished' ? 'Show Logs' : undefined);
        const shown = await waitMessage('my-project/agent-1 finished');
        assert.equal(shown.level, 'info');
        assert.deepEqual(shown.items, ['Attach', 'Show Logs']);

        const exit = active.ext.changes.find((c: StatusChanged) => c.sessionId === first.sessionId && c.status === 'exited');
        assert.ok(exit);
        assert.equal(exit.previous, 'running');
        assert.equal(exit.exitCode, 0);
        assert.equal(exit.outcome?.result, 'success');

        const item = sessionItem(first.sessionId);
        assert.ok(item);
        assert.equal(item.contextValue, ContextValues.exited);
        assert.equal((item.iconPath as { id: string }).id, 'pass');
        assert.match(String(item.description), /^finished · ((<?\$\d+\.\d+) · )?\d+[smh]$/);
        assert.match(active.ext.statusBar.item.text, /AO: 0 running, 1 exited/);

        // "Show Logs" opened the session's output as a document.
        const doc = await double.waitFor(() => double.shownDocuments.find((d) => d.uri.path === '/my-project/agent-1.log'), 10_000, 'the logs document');
        assert.equal(doc.uri.scheme, 'ao-logs');
        assert.ok(doc.getText().length > 0);
    });

    it('AO: Attach to Session opens a terminal running the ao/attach argv', async () => {
        const terminalsBefore = double.terminals.length;
        double.pickAnswers.push((i: { session?: Session }) => i.session?.sessionId === first.sessionId);
        await exec(Commands.attach);
        const created = double.terminals.slice(terminalsBefore);
        assert.equal(created.length, 1);
        const { options, shown } = created[0]!;
        assert.equal(options.name, 'AO: my-project/agent-1');
        assert.equal(options.shellPath, 'tmux');
        assert.ok(shown);
        const args: string[] = options.shellArgs;
        const at = args.indexOf('attach');
        assert.ok(at > 0, args.join(' '));
        // The argv names a live tmux session on the bed's socket: ask tmux about it.
        const probe = await run(['tmux', ...args.slice(0, at), 'has-session', ...args.slice(at + 1)], { env: process.env });
        assert.equal(probe.code, 0, probe.stderr);
        // From the view's context menu (a tree node) the same terminal is shown again.
        await exec(Commands.attach, { kind: 'session', sessionId: first.sessionId, project: 'my-project' });
        assert.equal(double.terminals.length, terminalsBefore + 1);
    });

    it('a failing agent: "... failed: <outcome error>"', async () => {
        // "Refresh the list" asks OpenCode again and shows the pick again.
        double.pickAnswers.push('Refresh the list', 'fake/fake-model');
        double.inputAnswers.push('This one breaks [[fail]]');
        const picks = double.quickPicks.length;
        const failing = await exec<Session>(Commands.spawn, { kind: 'project', project: 'my-project' });
        assert.equal(double.quickPicks.length, picks + 2);
        assert.equal(double.quickPicks.at(-1)!.items[0].label, 'fake/fake-model');
        assert.equal(failing.sessionId, 'my-project/agent-2');
        const shown = await waitMessage(/^my-project\/agent-2 failed: .+/);
        assert.equal(shown.level, 'warning');
        assert.deepEqual(shown.items, ['Attach', 'Show Logs']);
        const item = sessionItem('my-project/agent-2');
        assert.equal((item?.iconPath as { id: string }).id, 'error');
        assert.match(String(item?.description), /^failed/);
    });

    it('AO: Resume Session continues an exited session with a follow-up prompt', async () => {
        const before = double.messages.filter((m) => m.message === 'my-project/agent-1 finished').length;
        double.inputAnswers.push('Now the summary [[slow:1]]');
        const current = (await active.ext.server.ready())!;
        const status = (await current.status({ sessionId: first.sessionId }))[0]!;
        if (!status.opencodeSessionId) {
            // Not bound to an OpenCode session (no introspection): the server says why, once.
            await exec(Commands.resume, first.sessionId);
            await waitMessage(/^AO: .*resum/i, 5000);
            return;
        }
        const resumed = await exec<Session>(Commands.resume, first.sessionId);
        assert.equal(resumed.status, 'running');
        assert.equal(double.inputBoxes.at(-1)?.options.title, 'Resume my-project/agent-1');
        await waitMessage('Resumed my-project/agent-1', 5000);
        await double.waitFor(
            () => double.messages.filter((m) => m.message === 'my-project/agent-1 finished').length > before,
            EXIT_TIMEOUT, 'agent-1 to finish again');
    });

    it('AO: Kill Session asks, kills, and the view shows it killed', async () => {
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('A long job [[slow:120]]');
        const long = await exec<Session>(Commands.spawn, { kind: 'project', project: 'my-project' });
        assert.equal(long.sessionId, 'my-project/agent-3');
        // No argument: pick among running sessions (only agent-3 runs), then confirm.
        double.pickAnswers.push((i: { session?: Session }) => i.session?.sessionId === long.sessionId);
        double.messageResponder = (m) => (m.modal && m.message === `Kill ${long.sessionId}?` ? 'Kill' : undefined);
        const killed = await exec<Session>(Commands.kill);
        const pick = double.quickPicks.at(-1);
        assert.deepEqual(pick?.items.map((i: { session: Session }) => i.session.sessionId), [long.sessionId]);
        assert.equal(killed.status, 'exited');
        assert.equal(killed.outcome?.result, 'killed');
        const item = sessionItem(long.sessionId);
        assert.ok(item);
        assert.equal(item.contextValue, ContextValues.exited);
        assert.equal(item.iconPath?.id, 'circle-slash');
        await waitMessage('my-project/agent-3 was killed', 10_000);
    });

    it('AO: Show Status lists every session and runs the action picked', async () => {
        const shownBefore = double.shownDocuments.length;
        double.pickAnswers.push((i: { session?: Session }) => i.session?.sessionId === 'my-project/agent-2', '$(output) Show Logs');
        const sessions = await exec<Session[]>(Commands.status);
        assert.deepEqual(sessions.map((s) => s.sessionId).sort(), ['my-project/agent-1', 'my-project/agent-2', 'my-project/agent-3']);
        const listPick = double.quickPicks.at(-2);
        assert.match(String(listPick?.options.title), /^AO: 0 running, 3 exited$/);
        const doc = await double.waitFor(() => double.shownDocuments.slice(shownBefore).find((d) => d.uri.path === '/my-project/agent-2.log'),
            10_000, 'agent-2 logs');
        assert.ok(doc);
    });

    it('sessions spawned by the CLI appear from ao/statusChanged alone', async () => {
        assert.ok(env);
        const cli = await run([env.python, '-m', 'ao_server.cli', 'spawn', 'my-project', 'Hello from the CLI'], { cwd: env.workspace, env: process.env });
        assert.equal(cli.code, 0, cli.stderr);
        const sid = cli.stdout.trim();
        assert.equal(sid, 'my-project/agent-4');
        const change = await double.waitFor(() => active.ext.changes.find((c) => c.sessionId === sid), 15_000, `${sid} in a notification`);
        assert.equal(change.previous, null);
        await double.waitFor(() => sessionItem(sid), 5000, `${sid} in the view`);
        await waitMessage(`${sid} finished`);
    });

    it('a server error is one readable message, and the server keeps serving', async () => {
        const before = double.messages.length;
        const result = await exec(Commands.logs, 'my-project/agent-99');
        // Logs are a document; its text carries the error.
        assert.ok(result);
        const doc = double.shownDocuments.at(-1);
        assert.match(doc?.getText() ?? '', /agent-99/);
        await exec(Commands.kill, 'my-project/agent-99').catch(() => undefined);
        const attach = await exec(Commands.attach, 'my-project/agent-99');
        assert.equal(attach, undefined);
        const errors = double.messages.slice(before).filter((m) => m.level === 'error');
        assert.equal(errors.length, 1, JSON.stringify(double.messages.slice(before)));
        assert.match(errors[0]!.message, /^AO: .*agent-99/);
        assert.doesNotMatch(errors[0]!.message, /\n\s+at /);
        const sessions = await exec<Session[]>(Commands.status);
        assert.equal(sessions.length, 4);
    });

    it('changing a setting restarts the server; the view is filled again', async () => {
        const starts = () => (double.output('AO').match(/ao-server is running/g) ?? []).length;
        const before = starts();
        double.setConfiguration({ 'ao.pollInterval': 0.5 });
        await double.waitFor(() => starts() > before, 20_000, 'a restarted server');
        await double.waitFor(() => renderTree().length === 5, 10_000, 'the view after the restart');
        const m = [...double.output('AO').matchAll(/ao-server is running \(pid (\d+)\)/g)].at(-1);
        const newPid = Number(m?.[1]);
        assert.notEqual(newPid, serverPid);
        if (serverPid) {
            await double.waitFor(() => !alive(serverPid as number), 10_000, 'the old server to exit');
        }
        serverPid = newPid;
        assert.match(active.ext.statusBar.item.text, /AO: 0 running, 4 exited/);
    });

    it('a server that dies is started again, quietly, and serves', async () => {
        assert.ok(serverPid);
        const starts = () => (double.output('AO').match(/ao-server is running/g) ?? []).length;
        const before = starts();
        const messages = double.messages.length;
        process.kill(serverPid, 'SIGKILL');
        // On a timeout, say what the extension logged: the restart's story is in its output channel.
        await double.waitFor(() => starts() > before, 60_000, 'the server to be started again').catch((e: Error) => {
            throw new Error(`${e.message}; the AO output ends with:\n${double.output('AO').slice(-4000)}`);
        });
        assert.match(double.output('AO'), /ao-server was killed by SIGKILL; starting it again/);
        const m = [...double.output('AO').matchAll(/ao-server is running \(pid (\d+)\)/g)].at(-1);
        serverPid = Number(m?.[1]);
        const sessions = await exec<Session[]>(Commands.status);
        assert.equal(sessions.length, 4);
        assert.equal(double.messages.length, messages, JSON.stringify(double.messages.slice(messages)));
    });
    it('AO: Spawn Agent with Selection sends the selected text with its file and line range', async () => {
        assert.ok(env);
        const file = path.join(env.workspace, 'src', 'auth.py');
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const selected = 'def login(user):\n    return check(user)\n';
        fs.writeFileSync(file, `import os\n${selected}x = 1\n`);
        double.activeTextEditor = {
            selection: { isEmpty: false, start: { line: 1, character: 0 }, end: { line: 3, character: 0 } },
            document: { uri: Uri.file(file), languageId: 'python', getText: () => selected },
        };
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('Add a docstring');
        const picks = double.quickPicks.length;
        const session = await exec<Session>(Commands.spawnWithSelection);
        assert.equal(session.project, 'my-project');
        assert.equal(double.quickPicks.length, picks + 1, 'only the model is picked');
        assert.equal(double.inputBoxes.at(-1)?.options.title, 'Spawn an agent in my-project with src/auth.py:2-3');
        const fence = '```';
        assert.equal(session.prompt, `Add a docstring\n\nSelected from src/auth.py:2-3 (${file}):\n${fence}python\n${selected}${fence}\n`);

        // Nothing selected: a hint, nothing spawned.
        double.activeTextEditor = undefined;
        assert.equal(await exec(Commands.spawnWithSelection), undefined);
        await waitMessage(/^AO: select some text in an editor first/, 5000);
    });

    it('a multi-root workspace offers every folder\'s projects; "this workspace" only where a folder is the project', async () => {
        assert.ok(env);
        const other = path.join(path.dirname(env.workspace), 'other-folder');
        fs.mkdirSync(path.join(other, 'lib'), { recursive: true });
        fs.writeFileSync(path.join(other, 'agent-orchestrator.yaml'),
            'projects:\n  - name: other\n    path: .\n  - name: other-lib\n    path: lib\n');
        double.workspaceFolders = [
            { uri: Uri.file(env.workspace), name: 'my-project', index: 0 },
            { uri: Uri.file(other), name: 'other-folder', index: 1 },
        ];
        assert.ok(await active.ext.server.restart());
        const picks = double.quickPicks.length;
        assert.equal(await exec(Commands.spawn), undefined); // the project pick is dismissed
        assert.equal(double.quickPicks.length, picks + 1);
        const pick = double.quickPicks.at(-1)!;
        assert.equal(pick.options.title, 'Spawn an agent: project');
        assert.deepEqual(pick.items.map((i: { label: string; description: string }) => `${i.label}: ${i.description}`),
            ['my-project: this workspace · tmux', 'other: this workspace · tmux', 'other-lib: tmux']);
    });

    it('budgets: a warning once at 80 %, an error when ao stops the agent, the spend in the view and the status bar', async () => {
        assert.ok(env);
        useWorkspace(env.workspace);
        const config = path.join(env.workspace, 'agent-orchestrator.yaml');
        fs.writeFileSync(config, fs.readFileSync(config, 'utf8') + 'budget:\n  session: 0.10\n  day: 5\n');
        assert.ok(await active.ext.server.restart());
        // $1 / $2 per million input / output tokens: each step costs $0.03, so the fourth crosses $0.10.
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('spend [[steps:12]] [[tokens:20000,5000]] [[slow:1.5]]');
        const spender = await exec<Session>(Commands.spawn);
        const sid = spender.sessionId;

        const warning = await waitMessage(new RegExp(`^AO: ${sid} has spent \\$0\\.\\d+, (8|9)\\d% of its \\$0\\.10 session budget; ao stops it at \\$0\\.10\\.$`));
        assert.equal(warning.level, 'warning');
        const stopped = await waitMessage(new RegExp(`^${sid} was stopped: over budget: \\$0\\.1\\d of \\$0\\.10 \\(session\\)$`));
        assert.equal(stopped.level, 'error');
        assert.deepEqual(stopped.items, ['Attach', 'Show Logs']);
        const about = double.messages.filter((m) => m.message.includes(sid));
        assert.equal(about.filter((m) => m.level === 'warning').length, 1, JSON.stringify(about));

        const exit = active.ext.changes.find((c) => c.sessionId === sid && c.status === 'exited');
        assert.equal(exit?.outcome?.result, 'over_budget');
        assert.equal(exit.budget?.scope, 'session');
        const item = sessionItem(sid);
        assert.ok(item);
        assert.equal(item.iconPath?.id, 'error');
        assert.match(String(item.description), /^over budget · \$0\.1\d+ · 1\d\d% of \$0\.10 session budget · \d+[smh]$/);
        assert.match((item.tooltip as unknown as { value: string }).value, /Budget: 1\d\d% of \$0\.10 session budget/);

        // The tooltip says what ao/cost says about today, with the daily budget.
        const api = (await active.ext.server.ready())!;
        const today = await api.cost({ since: 'today' });
        assert.equal(today.limits.day, 5);
        assert.ok(today.total.usd >= 0.1, JSON.stringify(today.total));
        const want = `Today: ${formatUsd(today.total.usd) ?? '?'} of $5.00`;
        const tooltip = () => active.ext.statusBar.item.tooltip as string;
        await double.waitFor(() => tooltip().includes(want), 30_000, `the status bar tooltip to say "${want}" (it says ${JSON.stringify(tooltip())})`);
        assert.match(tooltip(), /^0 running, \d+ exited agent sessions\.\nToday: \$0\.\d{4} of \$5\.00\nClick to open the Sessions view\.$/);

        // A project budget already spent: the spawn is refused with one error naming the limit and the spend.
        fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('budget:\n  session: 0.10\n  day: 5\n', 'budget:\n  project: 0.05\n'));
        assert.ok(await active.ext.server.restart());
        const before = double.messages.length;
        const sessions = async () => (await (await active.ext.server.ready())!.status()).length;
        const count = await sessions();
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('one more');
        assert.equal(await exec(Commands.spawn), undefined);
        const refused = await waitMessage(/^AO: project my-project has spent \$\d+\.\d\d.*project budget is \$0\.05/, 10_000);
        assert.equal(refused.level, 'error');
        const errors = double.messages.slice(before).filter((m) => m.level === 'error');
        assert.equal(errors.length, 1, JSON.stringify(errors));
        assert.equal(await sessions(), count, 'a refused spawn left a session');
    });
});
