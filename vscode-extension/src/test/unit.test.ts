/**
 * Pure pieces: settings parsing, the server command choice, messages, the tree's rendering of sessions.
 * No server needed.
 */
import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ContextValues, Views } from '../common/constants';
import {
    BudgetState, Cost, CostReport, InputRequest, Outcome, OutcomeResult, ProjectInfo, Session, SessionSummary, StatusChanged,
} from '../common/protocol';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Installer, InstallError, versionAdvice } from '../common/install';
import { isMissingServer, lastMeaningfulLine, quoteArgv, startFailureMessage } from '../common/server';
import { chooseServerCommand, initializationOptions, parseCommand, splitCommandLine } from '../common/settings';
import { BudgetWarnings, isExit, notifyExit } from '../exitNotifier';
import {
    SessionStore, budgetText, describeSession, exitMessage, formatAge, formatCost, pendingOf, requestText, sessionIcon, stateWord,
} from '../sessions';
import { permissionMessage } from '../inputRequests';
import { SessionsTreeProvider, sessionContextValue } from '../sessionsTree';
import { spendText } from '../statusBar';
import { projectForFile, sessionIdOf, withSelection } from '../commands';
import { MarkdownString, TreeItem, double } from './vscodeDouble';

function session(over: Partial<Session> & { sessionId: string }): Session {
    return {
        id: over.sessionId.split('/')[1] ?? '',
        project: over.sessionId.split('/')[0] ?? '',
        status: 'running',
        exitCode: null,
        activity: null,
        runtime: 'tmux',
        agent: 'opencode',
        prompt: 'task',
        model: null,
        issueId: null,
        createdAt: new Date(Date.now() - 125_000).toISOString(),
        endedAt: null,
        pid: null,
        workdir: '/w',
        workspace: null,
        opencodeSessionId: null,
        cost: null,
        budget: null,
        summary: null,
        outcome: null,
        runs: 1,
        introspectionStale: false,
        promptTruncated: false,
        pending: [],
        host: null,
        unreachableSince: null,
        ...over,
    };
}

function outcome(result: OutcomeResult, error: string | null): Outcome {
    return { result, error, finish: null, exitCode: null };
}

function cost(usd: number): Cost {
    return { usd, tokens: { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 } };
}

function summary(over: Partial<SessionSummary>): SessionSummary {
    return { title: null, firstPrompt: null, files: 0, additions: 0, deletions: 0, lastTool: null, prUrl: null, ...over };
}

describe('settings', () => {
    it('ao.server.command: argv arrays, command lines with quotes, nothing', () => {
        assert.deepEqual(parseCommand(['/venv/bin/python', '-m', 'ao_server']), ['/venv/bin/python', '-m', 'ao_server']);
        assert.deepEqual(parseCommand('ao-server --stdio'), ['ao-server', '--stdio']);
        assert.deepEqual(parseCommand(`"/my venv/bin/python" -m ao_server`), ['/my venv/bin/python', '-m', 'ao_server']);
        assert.deepEqual(splitCommandLine(`a 'b c' d\\ e ""`), ['a', 'b c', 'd e', '']);
        assert.equal(parseCommand(''), undefined);
        assert.equal(parseCommand([]), undefined);
        assert.equal(parseCommand(null), undefined);
        assert.equal(parseCommand(['']), undefined);
    });

    it('initializationOptions carry pollInterval, and configPath/stateDir only when set', () => {
        assert.deepEqual(initializationOptions({ serverCommand: undefined, pollInterval: 1, configPath: undefined, stateDir: undefined }),
            { pollInterval: 1 });
        assert.deepEqual(initializationOptions({ serverCommand: undefined, pollInterval: 0.5, configPath: '/w/a.yaml', stateDir: '/s' }),
            { pollInterval: 0.5, configPath: '/w/a.yaml', stateDir: '/s' });
    });

    it('the server command: the setting, else ao-server on PATH, else the Python extension, else python3', async () => {
        const none = { which: () => undefined, pythonInterpreter: async () => undefined };
        let c = await chooseServerCommand(['x', 'y'], none);
        assert.deepEqual(c.command.argv, ['x', 'y']);
        assert.match(c.command.source, /ao\.server\.command/);

        c = await chooseServerCommand(undefined, { ...none, which: (n: string) => (n === 'ao-server' ? '/bin/ao-server' : undefined) });
        assert.deepEqual(c.command.argv, ['/bin/ao-server']);

        c = await chooseServerCommand(undefined, { ...none, pythonInterpreter: async () => ['/venv/bin/python'] });
        assert.deepEqual(c.command.argv, ['/venv/bin/python', '-I', '-m', 'ao_server']);
        assert.deepEqual(c.skipped, ['`ao-server` is not on PATH']);

        c = await chooseServerCommand(undefined, { ...none, pythonInterpreter: async () => { throw new Error('boom'); } });
        assert.deepEqual(c.command.argv, ['python3', '-I', '-m', 'ao_server']);
        assert.equal(c.skipped.length, 2);

        // The one "Install ao-server" made comes right after the setting.
        c = await chooseServerCommand(undefined, { ...none, which: () => '/bin/ao-server', managed: () => ['/s/venv/bin/ao-server'] });
        assert.deepEqual(c.command.argv, ['/s/venv/bin/ao-server']);
        c = await chooseServerCommand(['x'], { ...none, managed: () => ['/s/venv/bin/ao-server'] });
        assert.deepEqual(c.command.argv, ['x']);
    });
});

describe('installing ao-server', () => {
    it('a missing server (not found, no ao_server module) is told from a broken one', () => {
        assert.equal(isMissingServer('`/usr/bin/python3` was not found'), true);
        assert.equal(isMissingServer('it exited with code 1: /usr/bin/python3: No module named ao_server'), true);
        assert.equal(isMissingServer("it exited with code 1: ModuleNotFoundError: No module named 'ao_server'"), true);
        assert.equal(isMissingServer('it exited with code 1: No module named ao_server.cli'), false);
        assert.equal(isMissingServer('it exited with code 1: No module named yaml'), false);
        assert.equal(isMissingServer('it did not answer `initialize` within 30 s'), false);
    });

    it('the version check: nothing when equal, upgrade the installed one, else offer the bundled one', () => {
        assert.equal(versionAdvice('0.1.0', '0.1.0', true), undefined);
        assert.equal(versionAdvice(undefined, '0.1.0', false), undefined);
        assert.equal(versionAdvice('0.1.0', '0.2.0', true)?.action, 'Upgrade ao-server');
        const other = versionAdvice('0.0.9', '0.1.0', false);
        assert.equal(other?.action, 'Install bundled ao-server');
        assert.match(other.message, /ao-server 0\.0\.9 is running; this extension is 0\.1\.0/);
    });

    it('no Python 3.11+: the error says what was found and what to do', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-install-'));
        const old = path.join(dir, 'python3');
        fs.writeFileSync(old, '#!/bin/sh\necho 3.8.10\n', { mode: 0o755 });
        const output = { appendLine: () => undefined } as never;
        const installer = new Installer({ storageDir: dir, extensionDir: dir, output, pythonInterpreter: async () => undefined,
            which: (n) => (n === 'python3' ? old : undefined) });
        await assert.rejects(installer.findPython(), (e: unknown) => {
            assert.ok(e instanceof InstallError);
            assert.match(e.message, /no Python 3\.11 or newer was found \(.*python3 is Python 3\.8\.10\)/);
            assert.match(e.message, /run "AO: Install ao-server" again/);
            return true;
        });
        // and without a wheel in the extension, install refuses before touching anything
        await assert.rejects(installer.install(() => undefined), /carries no ao-server wheel/);
        assert.equal(fs.existsSync(installer.venvDir), false);
        fs.rmSync(dir, { recursive: true, force: true });
    });
});

describe('spawn with a selection', () => {
    it('the prompt: the task, then the text fenced with file and lines; the project holding the file', () => {
        const ctx = { file: '/w/p/a.ts', label: 'a.ts:3-4', language: 'typescript', text: 'const a = "```";' };
        assert.equal(withSelection('  Explain  ', ctx), 'Explain\n\nSelected from a.ts:3-4 (/w/p/a.ts):\n````typescript\nconst a = "```";\n````\n');
        assert.equal(withSelection('', ctx).split('\n')[0], 'Look at this code.');
        const projects = [{ name: 'p', path: '/w/p' }, { name: 'sub', path: '/w/p/sub/' }, { name: 'pp', path: '/w/pp' }] as ProjectInfo[];
        assert.equal(projectForFile(projects, '/w/p/sub/x.ts'), 'sub');
        assert.equal(projectForFile(projects, '/w/p/a.ts'), 'p');
        assert.equal(projectForFile(projects, '/w/other/a.ts'), undefined);
        // A project on a remote host never owns a local file, whatever its path says.
        const far = [...projects, { name: 'far', path: '/w/p/sub/deep', host: 'build1' }] as ProjectInfo[];
        assert.equal(projectForFile(far, '/w/p/sub/deep/x.ts'), 'sub');
    });
});

describe('messages', () => {
    it('the start failure names the command, its source, the reason and the setting', () => {
        const text = startFailureMessage({ command: { argv: ['python3', '-m', 'ao_server'], source: '`python3`' }, skipped: ['`ao-server` is not on PATH'] },
            'it exited with code 1: No module named ao_server');
        assert.equal(text.split('\n').length, 1);
        assert.match(text, /^AO: could not start ao-server with `python3 -m ao_server` \(`python3`\): it exited with code 1: No module named ao_server\. Looked for: `ao-server` is not on PATH\. /);
        assert.match(text, /set "ao\.server\.command"/);
        assert.equal(quoteArgv(['/a b/python', '-m', 'x']), `'/a b/python' -m x`);
        assert.equal(lastMeaningfulLine('Traceback\n  File x\nModuleNotFoundError: nope\n\n'), 'ModuleNotFoundError: nope');
        assert.equal(lastMeaningfulLine(''), undefined);
    });

    it('exit messages: finished, failed with the outcome error, killed, bare exit codes', () => {
        const sid = 'my-project/agent-3';
        assert.equal(exitMessage(sid, outcome('success', null), 0), 'my-project/agent-3 finished');
        assert.equal(exitMessage(sid, outcome('error', 'rate limited'), 0), 'my-project/agent-3 failed: rate limited');
        assert.equal(exitMessage(sid, outcome('error', null), 2), 'my-project/agent-3 failed: exit code 2');
        assert.equal(exitMessage(sid, outcome('killed', null), 143), 'my-project/agent-3 was killed');
        assert.equal(exitMessage(sid, null, 1), 'my-project/agent-3 failed: exit code 1');
        assert.equal(exitMessage(sid, null, 0), 'my-project/agent-3 exited');
    });

    it('the exit notification: only on a change into exited, with Attach and Show Logs', async () => {
        const change: StatusChanged = {
            sessionId: 'p/agent-1', project: 'p', previous: 'running', previousActivity: 'active', status: 'exited',
            activity: 'exited', exitCode: 0, outcome: outcome('success', null), budget: null, at: '2026-01-01T00:00:00Z',
            session: session({ sessionId: 'p/agent-1', status: 'exited', exitCode: 0 }),
        };
        assert.equal(isExit(change), true);
        assert.equal(isExit({ ...change, previous: 'exited' }), false);
        assert.equal(isExit({ ...change, status: 'running', previous: null }), false);
        assert.equal(isExit({ ...change, previous: null }), true); // first seen already exited (spawned elsewhere)
        double.resetUi();
        await notifyExit({ ...change, status: 'running' });
        assert.equal(double.messages.length, 0);
        await notifyExit({ ...change, outcome: outcome('error', 'boom') });
        assert.deepEqual(double.messages.map((m) => [m.level, m.message, m.items]), [['warning', 'p/agent-1 failed: boom', ['Attach', 'Show Logs']]]);
        double.resetUi();
    });

    it('descriptions: state, cost and age', () => {
        const now = Date.parse('2026-01-01T01:00:00Z');
        assert.equal(formatAge('2026-01-01T00:59:18Z', now), '42s');
        assert.equal(formatAge('2026-01-01T00:57:00Z', now), '3m');
        assert.equal(formatAge('2025-12-31T22:00:00Z', now), '3h');
        assert.equal(formatAge(null, now), undefined);
        assert.equal(formatCost(session({ sessionId: 'p/agent-1', cost: cost(0.01234) })), '$0.0123');
        assert.equal(formatCost(session({ sessionId: 'p/agent-1', cost: cost(2.5) })), '$2.50');
        assert.equal(formatCost(session({ sessionId: 'p/agent-1', cost: null })), undefined);
        assert.equal(formatCost(session({ sessionId: 'p/agent-1', cost: cost(0) })), '$0.00');
        assert.equal(formatCost(session({ sessionId: 'p/agent-1', cost: cost(0.00003) })), '<$0.0001');
        const s = session({ sessionId: 'p/agent-1', activity: 'active', cost: cost(0.5), createdAt: '2026-01-01T00:58:00Z' });
        assert.equal(describeSession(s, now), 'active · $0.5000 · 2m');
        assert.equal(describeSession({ ...s, status: 'exited', outcome: outcome('success', null) }, now), 'finished · $0.5000 · 2m');
        assert.equal(describeSession({ ...s, activity: 'waiting_input' }, now), 'waiting for input · $0.5000 · 2m');
    });

    it('command arguments: a session id, a tree node or a session object', () => {
        assert.equal(sessionIdOf('p/agent-1'), 'p/agent-1');
        assert.equal(sessionIdOf({ kind: 'session', sessionId: 'p/agent-2', project: 'p' }), 'p/agent-2');
        assert.equal(sessionIdOf(session({ sessionId: 'p/agent-3' })), 'p/agent-3');
        assert.equal(sessionIdOf({ kind: 'project', project: 'p' }), undefined);
        assert.equal(sessionIdOf(undefined), undefined);
    });
});

function budget(usd: number, limit: number, scope: BudgetState['scope'] = 'session'): BudgetState {
    return { usd, limit, scope, fraction: usd / limit };
}

function report(usd: number, day: number | null): CostReport {
    const tokens = { input: 0, output: 0, reasoning: 0, cacheRead: 0, cacheWrite: 0 };
    return {
        since: '2026-11-26T00:00:00+00:00', by: 'project', total: { usd, tokens, sessions: 2 },
        groups: [{ key: 'p', usd, tokens, sessions: 2 }], limits: { session: 2, project: null, day },
    };
}

describe('spending', () => {
    it('the status bar tooltip: today\'s spend, and the daily budget when one is set', () => {
        assert.equal(spendText(report(1.234, 50)), 'Today: $1.23 of $50.00');
        assert.equal(spendText(report(1.234, null)), 'Today: $1.23');
        assert.equal(spendText(report(0, null)), 'Today: $0.00');
        assert.equal(spendText(report(0.0123, 0.5)), 'Today: $0.0123 of $0.50');
        assert.equal(spendText(undefined), undefined);
    });

    it('a session with a budget: its cost and the fraction of the budget, in the view and its tooltip', () => {
        const now = Date.parse('2026-01-01T01:00:00Z');
        const s = session({ sessionId: 'p/agent-1', activity: 'active', cost: cost(1.2), budget: budget(1.2, 2), createdAt: '2026-01-01T00:58:00Z' });
        assert.equal(budgetText(s.budget), '60% of $2.00 session budget');
        assert.equal(describeSession(s, now), 'active · $1.20 · 60% of $2.00 session budget · 2m');
        assert.equal(budgetText(budget(45, 50, 'day')), '90% of $50.00 daily budget');
        assert.equal(budgetText(budget(1.999, 2, 'project')), '99% of $2.00 project budget', 'not 100 % before the limit');
        assert.equal(describeSession({ ...s, budget: null }, now), 'active · $1.20 · 2m');

        const store = new SessionStore();
        const tree = new SessionsTreeProvider(store, () => now);
        store.replaceAll([s]);
        const item = tree.getTreeItem(tree.getChildren(tree.getChildren()[0]!)[0]!) as unknown as TreeItem;
        assert.equal(item.description, 'active · $1.20 · 60% of $2.00 session budget · 2m');
        assert.match((item.tooltip as MarkdownString).value, /Cost: \$1\.20 {2}\nBudget: 60% of \$2\.00 session budget/);
    });

    it('the 80 % warning: once per session, not at each later change; a shared budget warns once', async () => {
        const change = (sid: string, b: BudgetState | null): StatusChanged => ({
            sessionId: sid, project: 'p', previous: 'running', previousActivity: 'active', status: 'running',
            activity: 'active', exitCode: null, outcome: null, budget: b, at: '2026-01-01T00:00:00Z',
            session: session({ sessionId: sid, budget: b }),
        });
        double.resetUi();
        const warnings = new BudgetWarnings();
        await warnings.notify(change('p/agent-1', budget(1.0, 2)));
        assert.equal(double.messages.length, 0, 'below 80 %: nothing');
        await warnings.notify(change('p/agent-1', budget(1.62, 2)));
        await warnings.notify(change('p/agent-1', budget(1.7, 2)));
        await warnings.notify(change('p/agent-1', budget(1.9, 2)));
        await warnings.notify(change('p/agent-2', budget(40, 50, 'project')));
        await warnings.notify(change('p/agent-3', budget(41, 50, 'project')));
        assert.deepEqual(double.messages.map((m) => [m.level, m.message]), [
            ['warning', 'AO: p/agent-1 has spent $1.62, 81% of its $2.00 session budget; ao stops it at $2.00.'],
            ['warning', 'AO: project p has spent $40.00, 80% of its $50.00 budget; ao stops its agents at $50.00.'],
        ]);
        double.resetUi();
    });

    it('an over-budget exit is an error notification with the outcome\'s words', async () => {
        const stopped: StatusChanged = {
            sessionId: 'p/agent-1', project: 'p', previous: 'running', previousActivity: 'active', status: 'exited',
            activity: 'exited', exitCode: 143, outcome: { result: 'over_budget', error: 'over budget: $2.03 of $2.00 (session)', finish: null, exitCode: 143 },
            budget: budget(2.03, 2), at: '2026-01-01T00:00:00Z',
            session: session({ sessionId: 'p/agent-1', status: 'exited', exitCode: 143 }),
        };
        double.resetUi();
        const warnings = new BudgetWarnings();
        await warnings.notify(stopped);
        await notifyExit(stopped);
        assert.deepEqual(double.messages.map((m) => [m.level, m.message, m.items]), [
            ['error', 'p/agent-1 was stopped: over budget: $2.03 of $2.00 (session)', ['Attach', 'Show Logs']],
        ]);
        const s = session({ sessionId: 'p/agent-1', status: 'exited', exitCode: 143, outcome: stopped.outcome, cost: cost(2.03), budget: budget(2.03, 2) });
        assert.match(describeSession(s), /^over budget · \$2\.03 · 101% of \$2\.00 session budget · /);
        double.resetUi();
    });
});

describe('the Sessions tree', () => {
    it('groups by project, newest first, icons and context values by state', () => {
        const store = new SessionStore();
        const tree = new SessionsTreeProvider(store);
        let fired = 0;
        tree.onDidChangeTreeData(() => fired++);
        store.replaceAll([
            session({ sessionId: 'web/agent-1', status: 'exited', exitCode: 0, outcome: outcome('success', null), cost: cost(0.02) }),
            session({ sessionId: 'api/agent-1', activity: 'active' }),
            session({ sessionId: 'web/agent-10', activity: 'waiting_input' }),
            session({ sessionId: 'web/agent-2', status: 'exited', exitCode: 1, outcome: outcome('error', 'boom'), summary: summary({ title: 'Fix it', files: 2, additions: 5, deletions: 1 }) }),
        ]);
        assert.equal(fired, 1);
        const roots = tree.getChildren();
        assert.deepEqual(roots.map((n) => n.project), ['api', 'web']);
        const web = tree.getChildren(roots[1]!);
        assert.deepEqual(web.map((n) => n.sessionId), ['web/agent-10', 'web/agent-2', 'web/agent-1']);
        const project = tree.getTreeItem(roots[1]!) as unknown as TreeItem;
        assert.equal(project.description, '1 running, 2 exited');
        assert.equal(project.contextValue, ContextValues.project);
        const items = web.map((n) => tree.getTreeItem(n) as unknown as TreeItem);
        assert.deepEqual(items.map((i) => i.label), ['agent-10', 'agent-2', 'agent-1']);
        assert.deepEqual(items.map((i) => i.contextValue), [ContextValues.running, ContextValues.exited, ContextValues.exited]);
        assert.deepEqual(items.map((i) => i.iconPath?.id), ['comment-discussion', 'error', 'pass']);
        assert.match(String(items[2]!.description), /^finished · \$0\.0200 · 2m$/);
        const tip = (items[1]!.tooltip as MarkdownString).value;
        assert.match(tip, /Outcome: error: boom/);
        assert.match(tip, /Changes: 2 files, \+5 −1/);
        assert.deepEqual(tree.getParent(web[0]!), { kind: 'project', project: 'web' });
        assert.equal(Views.sessions, 'ao.sessions');
    });

    it('notifications update a known session, or ask for a refresh when it is unknown', () => {
        const store = new SessionStore();
        store.replaceAll([session({ sessionId: 'p/agent-1', activity: 'active' })]);
        const base: StatusChanged = {
            sessionId: 'p/agent-1', project: 'p', previous: 'running', previousActivity: 'active', status: 'exited',
            activity: 'exited', exitCode: 0, outcome: outcome('success', null), budget: null, at: '2026-01-01T00:00:00Z',
            session: session({ sessionId: 'p/agent-1', status: 'exited', exitCode: 0 }),
        };
        assert.equal(store.apply(base), true);
        assert.equal(store.get('p/agent-1')?.status, 'exited');
        assert.deepEqual(store.counts(), { running: 0, exited: 1 });
        assert.equal(store.apply({ ...base, sessionId: 'p/agent-2' }), false);
        assert.equal(store.apply({ ...base, sessionId: 'p/agent-2', session: session({ sessionId: 'p/agent-2' }) }), true);
        assert.deepEqual(store.counts(), { running: 1, exited: 1 });
    });
});

describe('live agents\' requests', () => {
    const permission = (over: Partial<InputRequest>): InputRequest => ({
        requestId: 'per_1', kind: 'permission', permission: 'bash', patterns: ['npm test'], command: 'npm test',
        always: ['npm *'], questions: [], ...over,
    });

    it('the words: bash names the command, another tool its patterns, questions their text', () => {
        assert.equal(requestText(permission({})), 'wants to run `npm test`');
        assert.equal(permissionMessage('p/agent-3', permission({})), 'p/agent-3 wants to run `npm test` (Always also allows `npm *` from now on.)');
        assert.equal(permissionMessage('p/agent-3', permission({ always: ['npm test'] })), 'p/agent-3 wants to run `npm test`');
        const edit = permission({ permission: 'edit', command: null, patterns: ['src/a.ts', 'src/b.ts'], always: [] });
        assert.equal(permissionMessage('p/agent-3', edit), 'p/agent-3 wants to use edit: src/a.ts, src/b.ts');
        const question = permission({
            requestId: 'que_1', kind: 'question', permission: null, patterns: [], command: null, always: [],
            questions: [{ question: 'Which database?', header: 'Database', options: [], multiple: false }],
        });
        assert.equal(requestText(question), 'asks: Which database?');
    });

    it('a waiting session: "waiting for you", a bell, and .live/.pending in its context value', () => {
        const waiting = session({ sessionId: 'p/agent-3', runtime: 'live', activity: 'waiting_input', pending: [permission({})] });
        assert.equal(stateWord(waiting), 'waiting for you');
        assert.equal(sessionIcon(waiting).id, 'bell-dot');
        assert.equal(sessionContextValue(waiting), 'aoSession.running.live.pending');
        assert.equal(sessionContextValue({ ...waiting, pending: [] }), 'aoSession.running.live');
        assert.equal(sessionContextValue({ ...waiting, runtime: 'tmux', pending: [] }), ContextValues.running);
        // An older server leaves `pending` out.
        assert.deepEqual(pendingOf({ ...waiting, pending: undefined } as unknown as Session), []);
        const store = new SessionStore();
        store.replaceAll([{ ...waiting, pending: [] }]);
        assert.equal(store.addPending('p/agent-3', permission({})), true);
        assert.equal(store.addPending('p/agent-3', permission({})), true);
        assert.deepEqual(store.get('p/agent-3')?.pending.map((r) => r.requestId), ['per_1']);
        assert.equal(store.addPending('p/agent-9', permission({})), false);
    });
});
