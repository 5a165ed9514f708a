/**
 * Remote hosts (docs/protocol.md "Remote hosts", ao/hosts, -32016 HostUnreachable).
 *
 * The pure part renders sessions and hosts without a server. The rest runs against the REAL ao-server (started
 * by the extension's ServerManager) with a config whose only host is `ssh://root@127.0.0.1:1`: real ssh, and a
 * real refusal (nothing listens on port 1), in a world of its own (config, state dir).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Commands, ContextValues, ErrorCodes, Views } from '../common/constants';
import { HostInfo, Session, isWireError } from '../common/protocol';
import { hostOf } from '../commands';
import { hostDescription, hostDetail, hostIcon, hostItems, hostReport, hostsTitle, unreachableWhy } from '../hosts';
import { SessionStore, describeSession, formatLocalTime, sessionIcon, stateWord } from '../sessions';
import { SessionsTreeProvider, sessionContextValue } from '../sessionsTree';
import { Activated, activateExtension, deactivateExtension, skipReason, testEnv, useWorkspace } from './helpers';
import { MarkdownString, TreeItem, double } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();

function session(over: Partial<Session> & { sessionId: string }): Session {
    return {
        id: over.sessionId.split('/')[1] ?? '', project: over.sessionId.split('/')[0] ?? '', status: 'running', exitCode: null,
        activity: null, runtime: 'ssh', agent: 'opencode', prompt: 'task', model: null, issueId: null,
        createdAt: new Date(Date.now() - 125_000).toISOString(), endedAt: null, pid: null, workdir: '/srv/w', workspace: null,
        opencodeSessionId: null, cost: null, budget: null, summary: null, outcome: null, runs: 1, introspectionStale: false,
        promptTruncated: false, pending: [], host: null, unreachableSince: null, ...over,
    };
}

function host(over: Partial<HostInfo> & { name: string }): HostInfo {
    return {
        ssh: `dev@${over.name}.example`, stateDir: '.local/state/ao-server', reachable: true, rttMs: 3.14, error: null,
        unreachableSince: null, tmux: 'tmux 3.3a', opencode: '1.18.33', python3: 'Python 3.11.2', sessions: 2, problems: [], ...over,
    };
}

function rowOf(tree: SessionsTreeProvider, sessionId: string): TreeItem {
    for (const project of tree.getChildren()) {
        const node = tree.getChildren(project).find((n) => n.sessionId === sessionId);
        if (node) {
            return tree.getTreeItem(node) as unknown as TreeItem;
        }
    }
    throw new Error(`no row for ${sessionId}`);
}

describe('remote sessions and hosts, rendered', () => {
    const now = Date.now();
    const since = new Date(now - 180_000).toISOString(); // 3 minutes ago
    const sinceShort = formatLocalTime(since, now)!;

    it('local times: the time today, the date too otherwise; the full form has both and the seconds', () => {
        const at = new Date(2026, 10, 26, 9, 5, 7).getTime();
        assert.equal(formatLocalTime(new Date(2026, 10, 26, 8, 4, 3).toISOString(), at), '08:04');
        assert.equal(formatLocalTime(new Date(2026, 10, 25, 23, 59, 0).toISOString(), at), '2026-11-25 23:59');
        assert.equal(formatLocalTime(new Date(2026, 10, 26, 8, 4, 3).toISOString(), at, true), '2026-11-26 08:04:03');
        assert.equal(formatLocalTime(null, at), undefined);
        assert.equal(formatLocalTime('not a time', at), undefined);
        assert.match(sinceShort, /^(\d{4}-\d\d-\d\d )?\d\d:\d\d$/);
    });

    it('a session whose host does not answer: its host, "unreachable since", its own icon; running, not exited', () => {
        const lost = session({ sessionId: 'web/agent-4', host: 'build1', activity: 'unreachable', unreachableSince: since, createdAt: new Date(now - 125_000).toISOString() });
        const store = new SessionStore();
        const tree = new SessionsTreeProvider(store, () => now);
        store.replaceAll([lost]);
        const item = rowOf(tree, 'web/agent-4');
        assert.equal(item.label, 'agent-4');
        assert.equal(item.description, `unreachable since ${sinceShort} · @build1 · 2m`);
        assert.equal(item.iconPath?.id, 'debug-disconnect');
        assert.equal(item.contextValue, ContextValues.running, 'Kill stays offered; Resume (exited only) does not');
        const tip = (item.tooltip as MarkdownString).value;
        assert.match(tip, /^\*\*web\/agent-4\*\* unreachable\n/);
        assert.match(tip, /Status: running {2}\n/);
        assert.match(tip, /Host: build1 \(over ssh\) {2}\n/);
        const full = formatLocalTime(since, now, true)!;
        assert.ok(tip.includes(`Unreachable: since ${full} (3m ago): build1 does not answer; its agent may still run`), tip);
        assert.match(tip, /Runtime: ssh/);
        assert.equal(item.accessibilityInformation?.label, `web/agent-4, ${String(item.description)}`);
        // Not shown as exited anywhere: state word, counts, the project's row.
        assert.equal(stateWord(lost), 'unreachable');
        assert.doesNotMatch(String(item.description), /exited|finished|failed|killed/);
        assert.deepEqual(store.counts(), { running: 1, exited: 0 });
        const project = tree.getTreeItem(tree.getChildren()[0]!) as unknown as TreeItem;
        assert.equal(project.description, '1 running, 0 exited');
        // Without a time the server did not give: just "unreachable".
        assert.equal(describeSession({ ...lost, unreachableSince: null }, now), 'unreachable · @build1 · 2m');
        // A live agent there waiting for an answer: the host's state comes first (it cannot take one now).
        const waiting = { ...lost, runtime: 'live', pending: [{ requestId: 'per_1', kind: 'permission' as const, permission: 'bash', patterns: [], command: 'ls', always: [], questions: [] }] };
        assert.equal(sessionIcon(waiting).id, 'debug-disconnect');
        assert.equal(sessionContextValue(waiting), 'aoSession.running.live.pending');
    });

    it('a remote session that answers shows its host; once exited, its outcome; a local one is as before', () => {
        const created = new Date(now - 125_000).toISOString();
        const remote = session({ sessionId: 'web/agent-5', host: 'build1', activity: 'active', createdAt: created });
        assert.equal(describeSession(remote, now), 'active · @build1 · 2m');
        assert.equal(sessionIcon(remote).id, 'sync~spin');
        const done = { ...remote, status: 'exited' as const, activity: 'exited' as const, exitCode: 0, outcome: { result: 'success' as const, error: null, finish: 'stop', exitCode: null } };
        assert.equal(describeSession(done, now), 'finished · @build1 · 2m');
        assert.equal(sessionIcon(done).id, 'pass');
        const local = session({ sessionId: 'web/agent-6', runtime: 'tmux', activity: 'active', createdAt: created });
        assert.equal(describeSession(local, now), 'active · 2m');
        const store = new SessionStore();
        store.replaceAll([local]);
        const tip = (rowOf(new SessionsTreeProvider(store, () => now), 'web/agent-6').tooltip as MarkdownString).value;
        assert.doesNotMatch(tip, /Host:|Unreachable:/);
    });

    it('hosts: ready, missing something, unreachable; the title counts them; the report has every problem', () => {
        const ready = host({ name: 'build1' });
        const wanting = host({ name: 'gpu', rttMs: 41.6, opencode: null, sessions: 0, problems: ['opencode is missing: install it there'] });
        const down = host({
            name: 'far', ssh: 'far', reachable: false, rttMs: null, tmux: null, opencode: null, python3: null, sessions: 1,
            error: 'host far (far) unreachable since 2026-11-26 21:22:18: ssh: connect to host far port 22: Connection refused',
            unreachableSince: since, problems: ['check that `ssh far true` works without asking anything'],
        });
        assert.deepEqual([ready, wanting, down].map(hostIcon), ['vm-active', 'warning', 'debug-disconnect']);
        assert.equal(hostDescription(ready, now), 'reachable · 3.1 ms · tmux 3.3a · opencode 1.18.33 · 2 running · dev@build1.example');
        assert.equal(hostDescription(wanting, now), 'reachable, 1 problem · 42 ms · tmux 3.3a · 0 running · dev@gpu.example');
        assert.equal(hostDescription(down, now), `unreachable since ${sinceShort} · 1 running · far`);
        assert.equal(hostDetail(ready), 'ready: nothing is missing');
        assert.equal(hostDetail(wanting), 'opencode is missing: install it there');
        // The row already names the host and since when: the second line starts with ssh's own words.
        assert.equal(hostDetail(down), 'ssh: connect to host far port 22: Connection refused · check that `ssh far true` works without asking anything');
        assert.equal(unreachableWhy('host far (far) unreachable since now: no answer within 30 s'), 'no answer within 30 s');
        assert.equal(unreachableWhy('host far: could not run ssh: [Errno 2] No such file'), 'host far: could not run ssh: [Errno 2] No such file');
        assert.equal(unreachableWhy(null), 'it does not answer');
        const items = hostItems([ready, wanting, down], now);
        assert.deepEqual(items.map((i) => i.label), ['$(vm-active) build1', '$(warning) gpu', '$(debug-disconnect) far', '$(refresh) Check again']);
        assert.equal(items[2]!.host, down);
        assert.equal(hostsTitle([ready, wanting, down]), 'AO: 3 hosts, 1 unreachable, 1 with problems');
        assert.equal(hostsTitle([ready]), 'AO: 1 host');
        assert.deepEqual(hostReport([ready, down]), [
            'build1 (dev@build1.example): reachable, 3.1 ms; tmux 3.3a; opencode 1.18.33; Python 3.11.2; 2 running',
            '  ready: nothing is missing',
            `far (far): ${down.error!}; 1 running`,
            '  - check that `ssh far true` works without asking anything',
        ]);
        // What AO: Show Hosts narrows to: a name, a session on a host, an error's data, a HostInfo.
        assert.equal(hostOf('build1'), 'build1');
        assert.equal(hostOf(session({ sessionId: 'w/agent-1', host: 'gpu' })), 'gpu');
        assert.equal(hostOf({ kind: 'HostUnreachable', host: 'far', since: null }), 'far');
        assert.equal(hostOf(down), 'far');
        assert.equal(hostOf(session({ sessionId: 'w/agent-1' })), undefined);
        assert.equal(hostOf(undefined), undefined);
    });
});

const PROJECT = 'far';
const HOST = 'nowhere';
const DEST = 'ssh://root@127.0.0.1:1';

function exec<T>(command: string, ...args: unknown[]): Promise<T> {
    const handler = double.commands.get(command);
    assert.ok(handler, `command ${command} is not registered`);
    return Promise.resolve(handler(...args) as T);
}

describe('remote hosts against the real ao-server and real ssh', { skip }, () => {
    let active: Activated;

    before(async () => {
        assert.ok(env);
        const root = path.join(path.dirname(env.workspace), 'remote-world');
        const folder = path.join(root, 'workspace');
        fs.mkdirSync(folder, { recursive: true });
        // Nothing listens on port 1: ssh's connection is refused, for real.
        fs.writeFileSync(path.join(folder, 'agent-orchestrator.yaml'), [
            'plugins:', '  agent: opencode', '  runtime: process',
            'hosts:', `  - name: ${HOST}`, `    ssh: "${DEST}"`,
            'projects:', `  - name: ${PROJECT}`, `    host: ${HOST}`, '    path: /srv/ao-far', '',
        ].join('\n'));
        useWorkspace(folder);
        double.resetUi();
        double.configuration = { 'ao.server.command': env.serverCommand, 'ao.pollInterval': 0.3, 'ao.stateDir': path.join(root, 'ao-state') };
        active = activateExtension();
        assert.equal(await active.ext.started, true, `the server did not start:\n${double.output('AO')}`);
    });

    after(async () => {
        double.messageResponder = () => undefined;
        await deactivateExtension(active);
    });

    it('ao/hosts through the client: the host is unreachable, its error names it and ssh\'s words, with what to try', async () => {
        const api = await active.ext.server.ready();
        assert.ok(api);
        const hosts = await api.hosts();
        assert.equal(hosts.length, 1, JSON.stringify(hosts));
        const h = hosts[0]!;
        assert.equal(h.name, HOST);
        assert.equal(h.ssh, DEST);
        assert.equal(h.reachable, false);
        assert.equal(h.rttMs, null);
        assert.equal(h.sessions, 0);
        assert.match(h.error ?? '', new RegExp(`^host ${HOST} \\(${DEST.replace(/[/.]/g, '\\$&')}\\) unreachable since .*: .*Connection refused`));
        assert.ok(h.problems.length > 0, JSON.stringify(h));
        assert.ok(h.unreachableSince && !Number.isNaN(Date.parse(h.unreachableSince)), JSON.stringify(h));
        // Only that host; an unknown one is a usage error naming the hosts there are.
        assert.deepEqual((await api.hosts(HOST)).map((x) => [x.name, x.reachable]), [[HOST, false]]);
        await assert.rejects(api.hosts('elsewhere'), (e: unknown) => {
            assert.ok(isWireError(e));
            assert.equal(e.code, ErrorCodes.usage);
            assert.match(e.message, /no host named 'elsewhere'.*nowhere/);
            return true;
        });
    });

    it('AO: Show Hosts: the quick pick shows it unreachable with the error; Check again asks again; the report is in the AO output', async () => {
        double.resetUi();
        double.pickAnswers.push('Check again', HOST);
        const hosts = await exec<HostInfo[] | undefined>(Commands.hosts);
        assert.equal(hosts?.[0]?.reachable, false);
        assert.equal(double.quickPicks.length, 2, 'asked again after Check again');
        const pick = double.quickPicks[1]!;
        assert.equal(pick.options.title, 'AO: 1 host, 1 unreachable');
        const item = pick.items[0] as { label: string; description: string; detail: string };
        assert.equal(item.label, `$(debug-disconnect) ${HOST}`);
        assert.match(item.description, new RegExp(`^unreachable since (\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d · 0 running · ${DEST.replace(/[/.]/g, '\\$&')}$`));
        assert.match(item.detail, /^ssh: connect to host 127\.0\.0\.1 port 1: Connection refused · check that/);
        assert.equal((pick.items.at(-1) as { label: string }).label, '$(refresh) Check again');
        assert.equal(double.progress.filter((p) => p.title === 'AO: checking the remote hosts' && p.done).length >= 2, true, JSON.stringify(double.progress));
        const out = double.output('AO');
        assert.match(out, new RegExp(`${HOST} \\(${DEST.replace(/[/.]/g, '\\$&')}\\): host ${HOST} .*Connection refused; 0 running\\n {2}- check that`));
        assert.equal(double.outputChannels.get('AO')?.visible, true, 'picking the host shows its full report');
        assert.equal(double.messages.length, 0, JSON.stringify(double.messages));
    });

    it('spawning on the host\'s project: the server\'s -32016 shown as errors are, Show Hosts on it; nothing is kept', async () => {
        const api = await active.ext.server.ready();
        assert.ok(api);
        // The client sees the server's error as it is.
        await assert.rejects(api.spawn({ project: PROJECT, prompt: 'hello' }), (e: unknown) => {
            assert.ok(isWireError(e));
            assert.equal(e.code, ErrorCodes.hostUnreachable);
            const data = e.data as { kind?: string; host?: string; since?: string | null };
            assert.equal(data.kind, 'HostUnreachable');
            assert.equal(data.host, HOST);
            assert.ok(data.since && !Number.isNaN(Date.parse(data.since)), JSON.stringify(data));
            return true;
        });

        // AO: Spawn Agent: the default model (OpenCode's list is for local folders), the prompt, then the error.
        double.resetUi();
        double.pickAnswers.push((i: { value?: string }) => i.value === '');
        double.inputAnswers.push('hello from far away');
        double.messageResponder = (m) => (m.level === 'error' ? 'Show Hosts' : undefined);
        const spawned = await exec<Session | undefined>(Commands.spawn, { kind: 'project', project: PROJECT });
        assert.equal(spawned, undefined);
        const errors = double.messages.filter((m) => m.level === 'error');
        assert.equal(errors.length, 1, JSON.stringify(double.messages));
        assert.match(errors[0]!.message, new RegExp(`^AO: host ${HOST} \\(${DEST.replace(/[/.]/g, '\\$&')}\\) unreachable since .*Connection refused`));
        assert.deepEqual(errors[0]!.items, ['Show Hosts', 'Show Output']);
        assert.match(double.output('AO'), new RegExp(`\\[error\\] Spawn Agent failed: host ${HOST} .*\\(code ${ErrorCodes.hostUnreachable}\\)`));
        // Its Show Hosts: AO: Show Hosts for that host.
        await double.waitFor(() => double.quickPicks.find((p) => p.options?.title === 'AO: 1 host, 1 unreachable'), 20_000,
            `the hosts quick pick (${JSON.stringify(double.quickPicks.map((p) => p.options?.title))})`);
        assert.ok(double.progress.some((p) => p.title === `AO: checking host ${HOST}`), JSON.stringify(double.progress));

        // Nothing was kept, nothing is announced later: no session in the server, the view or the status bar.
        await new Promise((resolve) => setTimeout(resolve, 1500)); // a few polls (0.3 s)
        assert.deepEqual(await api.status(), []);
        assert.deepEqual((await api.list()).sessions, []);
        const tree = double.treeProviders.get(Views.sessions) as SessionsTreeProvider;
        assert.deepEqual(tree.getChildren(), []);
        assert.match(active.ext.statusBar.item.text, /AO: 0 running, 0 exited/);
        double.messageResponder = () => undefined;
    });
});
