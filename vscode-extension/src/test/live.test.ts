/**
 * Live agents against the REAL ao-server and the real shared OpenCode server (`opencode serve`) with the fake
 * model: a project of its own whose `opencode.json` makes OpenCode ask before running bash, its own state dir
 * (so its own OpenCode server, stopped after). The agent's `[[bash:CMD]]` makes it call the bash tool;
 * OpenCode asks; the extension shows the request, and the answer goes back with ao/respond. Checked on disk:
 * the command's file appears only when allowed.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Commands, ContextValues, Views } from '../common/constants';
import { Session } from '../common/protocol';
import { SessionNode, SessionsTreeProvider } from '../sessionsTree';
import { Activated, activateExtension, deactivateExtension, run, skipReason, testEnv, useWorkspace } from './helpers';
import { ShownMessage, TreeItem, double } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();
const TIMEOUT = 90_000;
const PROJECT = 'live-project';

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

function row(sessionId: string): TreeItem | undefined {
    const node = sessionNode(sessionId);
    return node ? tree().getTreeItem(node) as unknown as TreeItem : undefined;
}

function exec<T>(command: string, ...args: unknown[]): Promise<T> {
    const handler = double.commands.get(command);
    assert.ok(handler, `command ${command} is not registered`);
    return Promise.resolve(handler(...args) as T);
}

function shown(text: string): ShownMessage[] {
    return double.messages.filter((m) => m.message === text);
}

async function waitMessage(text: string, times = 1, timeout = TIMEOUT): Promise<ShownMessage> {
    await double.waitFor(() => shown(text).length >= times, timeout,
        `"${text}" shown ${times} time(s) (shown: ${JSON.stringify(double.messages.map((m) => m.message))})`);
    return shown(text)[times - 1]!;
}

/** A notification the test answers later: the responder holds it open until `answer`. */
function held(): { promise: Promise<string | undefined>; answer(pick: string | undefined): void } {
    let answer: (pick: string | undefined) => void = () => undefined;
    const promise = new Promise<string | undefined>((resolve) => {
        answer = resolve;
    });
    return { promise, answer };
}

describe('live agents against the real ao-server and OpenCode server', { skip }, () => {
    let active: Activated;
    let project: string;
    let stateDir: string;

    /** The session as the server has it now. */
    async function status(sessionId: string): Promise<Session> {
        const api = await active.ext.server.ready();
        assert.ok(api);
        const [session] = await api.status({ sessionId });
        assert.ok(session, `no ${sessionId}`);
        return session;
    }

    async function waitExited(sessionId: string): Promise<Session> {
        const start = Date.now();
        for (;;) {
            const s = await status(sessionId);
            if (s.status === 'exited') {
                return s;
            }
            if (Date.now() - start > TIMEOUT) {
                throw new Error(`${sessionId} did not exit: ${JSON.stringify(s)}`);
            }
            await new Promise((resolve) => setTimeout(resolve, 300)); // poll the server's view
        }
    }

    before(async () => {
        assert.ok(env);
        const root = path.join(path.dirname(env.workspace), 'live-world');
        project = path.join(root, PROJECT);
        stateDir = path.join(root, 'ao-state');
        fs.mkdirSync(project, { recursive: true });
        fs.writeFileSync(path.join(project, 'agent-orchestrator.yaml'), [
            'plugins:', '  agent: opencode', '  runtime: process',
            'projects:', `  - name: ${PROJECT}`, `    path: ${project}`, '',
        ].join('\n'));
        // OpenCode's project config: ask before any bash command.
        fs.writeFileSync(path.join(project, 'opencode.json'), JSON.stringify({ permission: { bash: 'ask' } }));
        useWorkspace(project);
        double.configuration = {
            'ao.server.command': env.serverCommand,
            'ao.pollInterval': 0.3,
            'ao.stateDir': stateDir,
            'ao.spawn.mode': 'live',
        };
        active = activateExtension();
        assert.equal(await active.ext.started, true, `the server did not start:\n${double.output('AO')}`);
    });

    after(async () => {
        double.messageResponder = () => undefined;
        await deactivateExtension(active);
        // The shared OpenCode server of this state dir (by the pid it recorded), as `ao` itself stops it.
        const stop = await run([env!.python, '-c',
            'import os, sys\nfrom pathlib import Path\nfrom ao_server.runtimes.live import OpenCodeServer\n'
            + 'OpenCodeServer(Path(sys.argv[1]), os.environ).stop()', stateDir]);
        assert.equal(stop.code, 0, stop.stderr);
    });

    it('a permission: the notification names the command with Allow once / Always / Reject; Allow once runs it', async () => {
        const sid = `${PROJECT}/agent-1`;
        const text = `${sid} wants to run \`echo hi > ran.txt\` (Always also allows \`echo *\` from now on.)`;
        const prompt = held();
        double.messageResponder = (m) => (m.message === text ? prompt.promise : undefined);
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('run it [[bash:echo hi > ran.txt]]');
        // ao.spawn.mode is live: AO: Spawn Agent spawns a live agent with no extra step.
        const session = await exec<Session>(Commands.spawn);
        assert.equal(session.sessionId, sid);
        assert.equal(session.runtime, 'live');
        assert.equal(double.quickPicks.length, 1, 'only the model is picked');

        const note = await waitMessage(text);
        assert.equal(note.level, 'warning');
        assert.deepEqual(note.items, ['Allow once', 'Always', 'Reject']);
        // While it waits: the Sessions view says so, and its menu offers Respond… (context value).
        const waiting = await double.waitFor(() => {
            const item = row(sid);
            return item && String(item.description).startsWith('waiting for you') && item;
        }, 30_000, `${sid} to show "waiting for you" (${JSON.stringify(row(sid)?.description)})`);
        assert.equal(waiting.contextValue, `${ContextValues.running}${ContextValues.liveSuffix}${ContextValues.pendingSuffix}`);
        assert.equal((waiting.iconPath as { id?: string } | undefined)?.id, 'bell-dot');
        assert.match(active.ext.statusBar.item.text, /^\$\(bell-dot\) AO: 1 running, 0 exited, 1 waiting for you$/);
        assert.ok(!fs.existsSync(path.join(project, 'ran.txt')), 'nothing runs before the person answers');

        prompt.answer('Allow once');
        await waitMessage(`${sid} finished`);
        assert.equal(fs.readFileSync(path.join(project, 'ran.txt'), 'utf8'), 'hi\n');
        const ended = await waitExited(sid);
        assert.equal(ended.exitCode, 0);
        assert.equal(ended.outcome?.result, 'success');
        assert.deepEqual(ended.pending, []);
        assert.equal(shown(text).length, 1, 'the request was shown once');
        assert.match(double.output('AO'), new RegExp(`answered per_\\w+ of ${sid}: \\{"reply":"once"\\}`));
        double.messageResponder = () => undefined;
    });

    it('dismissed, it waits (shown once, even after a refresh); Respond… asks again; Reject with a reason runs nothing', async () => {
        // ao.spawn.mode ask: a mode step after the model. Changing it does not restart the server.
        double.setConfiguration({ 'ao.spawn.mode': 'ask' });
        assert.doesNotMatch(double.output('AO'), /settings changed: restarting/);
        const sid = `${PROJECT}/agent-2`;
        const text = `${sid} wants to run \`echo no > ran2.txt\` (Always also allows \`echo *\` from now on.)`;
        const picks = double.quickPicks.length;
        double.pickAnswers.push('fake/fake-model', 'Live');
        double.inputAnswers.push('again [[bash:echo no > ran2.txt]]');
        const session = await exec<Session>(Commands.spawn);
        assert.equal(session.runtime, 'live');
        const modePick = double.quickPicks[picks + 1]!;
        assert.equal(modePick.options.title, 'Spawn an agent: mode');
        assert.deepEqual(modePick.items.map((i: { label: string }) => i.label), ['$(play) Run', '$(comment-discussion) Live']);

        await waitMessage(text); // dismissed (no button): the request stays pending
        const waiting = await double.waitFor(() => {
            const item = row(sid);
            return item && String(item.description).startsWith('waiting for you') && item;
        }, 30_000, `${sid} to show "waiting for you"`);
        assert.match(String(waiting.contextValue), /\.pending$/);
        // A full ao/status sees the pending request; a prompt would be shown synchronously within it.
        await active.ext.refresh();
        const requestId = active.ext.store.get(sid)?.pending[0]?.requestId;
        assert.ok(requestId, `${sid} waits for nothing after the refresh`);
        assert.ok(active.ext.prompts.wasShown(requestId));
        assert.equal(shown(text).length, 1, 'the same request was shown twice');

        // Respond… on the session: the prompt again; Reject asks why (optional) and sends it.
        double.messageResponder = (m) => (m.message === text ? 'Reject' : undefined);
        double.inputAnswers.push('not now');
        const answered = await exec<Session | undefined>(Commands.respond, sessionNode(sid));
        assert.ok(answered, `Respond… did not answer: ${JSON.stringify(double.messages.slice(-3))}`);
        assert.equal(shown(text).length, 2);
        assert.match(String(double.inputBoxes.at(-1)?.options.title), /^Reject: /);
        const ended = await waitExited(sid);
        assert.ok(!fs.existsSync(path.join(project, 'ran2.txt')), 'a rejected command ran');
        assert.equal(ended.outcome?.result, 'incomplete');
        assert.equal(ended.outcome.error, 'rejected: bash echo no > ran2.txt (not now)');
        assert.deepEqual(ended.pending, []);
        double.messageResponder = () => undefined;
        double.setConfiguration({ 'ao.spawn.mode': 'live' });
    });

    it('answered elsewhere first (the ao CLI): the late answer is information, not an error', async () => {
        const sid = `${PROJECT}/agent-3`;
        const text = `${sid} wants to run \`echo cli > ran3.txt\` (Always also allows \`echo *\` from now on.)`;
        const prompt = held();
        double.messageResponder = (m) => (m.message === text ? prompt.promise : undefined);
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('third [[bash:echo cli > ran3.txt]]');
        await exec<Session>(Commands.spawn);
        await waitMessage(text);
        const before = double.messages.length;
        const cli = await run([env!.python, '-m', 'ao_server.cli', 'respond', sid, '--once'],
            { cwd: project, env: { ...process.env, AO_STATE_DIR: stateDir } });
        assert.equal(cli.code, 0, cli.stderr);
        prompt.answer('Allow once'); // the notification was still open
        const late = `AO: ${sid} no longer waits for this answer (it was answered elsewhere, or its turn ended).`;
        const info = await waitMessage(late, 1, 30_000);
        assert.equal(info.level, 'info');
        const errors = double.messages.slice(before).filter((m) => m.level === 'error');
        assert.deepEqual(errors, []);
        assert.equal((await waitExited(sid)).exitCode, 0);
        assert.equal(fs.readFileSync(path.join(project, 'ran3.txt'), 'utf8'), 'cli\n');
        double.messageResponder = () => undefined;
    });

    it('a question: Answer… opens a quick pick of its options; the pick reaches the agent', async () => {
        const sid = `${PROJECT}/agent-4`;
        const text = `${sid} asks: Which database?`;
        double.messageResponder = (m) => (m.message === text ? 'Answer…' : undefined);
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('ask [[question:Which database?|Postgres|SQLite]]');
        await exec<Session>(Commands.spawn);
        double.pickAnswers.push('SQLite');
        const note = await waitMessage(text);
        assert.deepEqual(note.items, ['Answer…']);
        const pick = await double.waitFor(() => double.quickPicks.find((q) => q.options.placeHolder === 'Which database?'), 30_000,
            'the question\'s quick pick');
        assert.deepEqual(pick.items.map((i: { label: string }) => i.label), ['Postgres', 'SQLite', '$(edit) Type your own answer…']);
        assert.equal(pick.options.canPickMany, undefined);
        const ended = await waitExited(sid);
        assert.equal(ended.exitCode, 0);
        const log = fs.readFileSync(path.join(path.dirname(env!.workspace), 'model-requests.jsonl'), 'utf8');
        const results = log.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { tool_result?: string }).tool_result ?? '');
        assert.ok(results.some((r) => r.includes('SQLite')), `the agent did not get the answer: ${JSON.stringify(results.filter(Boolean))}`);
        double.messageResponder = () => undefined;
    });

    it('Abort Turn stops a running live agent\'s turn; Send Message gives the finished one a follow-up', async () => {
        const sid = `${PROJECT}/agent-5`;
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('think long [[slow:60]]');
        await exec<Session>(Commands.spawn);
        const running = await double.waitFor(() => {
            const item = row(sid);
            return item && item.contextValue === `${ContextValues.running}${ContextValues.liveSuffix}` && item;
        }, 30_000, `${sid} running live in the view`);
        assert.ok(running);
        // Aborted while it works: once its turn has reached the model (the fake model's request log).
        const log = path.join(path.dirname(env!.workspace), 'model-requests.jsonl');
        await double.waitFor(() => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('think long'), 60_000,
            'the slow turn to reach the model');
        const aborted = await exec<Session>(Commands.abort, sessionNode(sid));
        assert.equal(aborted.sessionId, sid);
        await waitMessage(`Stopped the current turn of ${sid}`, 1, 5000);
        const ended = await waitExited(sid);
        assert.notEqual(ended.outcome?.result, 'success');

        double.inputAnswers.push('and now quickly [[slow:0]]');
        const sent = await exec<Session>(Commands.sendMessage, sid);
        assert.equal(sent.runs, 2);
        assert.equal(double.inputBoxes.at(-1)?.options.title, `Send a message to ${sid}`);
        const again = await waitExited(sid);
        assert.equal(again.exitCode, 0);
        assert.equal(again.opencodeSessionId, ended.opencodeSessionId);
    });

    it('Reject with the reason left empty: OpenCode ends the turn without asking the model, and the session exits', async () => {
        const sid = `${PROJECT}/agent-6`;
        const text = `${sid} wants to run \`echo none > ran6.txt\` (Always also allows \`echo *\` from now on.)`;
        double.messageResponder = (m) => (m.message === text ? 'Reject' : undefined);
        double.pickAnswers.push('fake/fake-model');
        double.inputAnswers.push('sixth [[bash:echo none > ran6.txt]]', ''); // the prompt, then no reason
        await exec<Session>(Commands.spawn);
        await waitMessage(text);
        await double.waitFor(() => double.inputBoxes.some((b) => String(b.options.title).startsWith(`Reject: ${sid} `)),
            30_000, 'the optional reason\'s input box');
        const ended = await waitExited(sid);
        assert.ok(!fs.existsSync(path.join(project, 'ran6.txt')), 'a rejected command ran');
        assert.equal(ended.exitCode, 0);
        assert.equal(ended.outcome?.result, 'incomplete');
        assert.equal(ended.outcome.error, 'rejected: bash echo none > ran6.txt');
        assert.deepEqual(ended.pending, []);
        assert.match(double.output('AO'), new RegExp(`answered per_\\w+ of ${sid}: \\{"reply":"reject"\\}`));
        double.messageResponder = () => undefined;
    });
});
