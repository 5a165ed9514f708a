/**
 * A server that dies as it answers `initialize`: vscode-languageclient turns Running at that answer (our
 * onReady runs then) while its start() still has to write `initialized` and set up its features. Killed in
 * that moment, on the first start and on a restart, with a request on its way as the extension sends on
 * onReady, the server is started again quietly, like one that dies later, with no unhandled rejection
 * (node --test fails the file on one). The kill is made from onReady, so this does not depend on timing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { ServerManager } from '../common/server';
import { alive, skipReason, testEnv, useWorkspace } from './helpers';
import { double, window } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();

/** SIGKILLs a child of this process and returns once it is dead with its files closed (a zombie that Node
 * has not reaped yet, none of its threads left): what the client writes to it next fails, as to a server
 * that died meanwhile. */
function killNow(pid: number): void {
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 10_000;
    const dead = () => {
        try {
            return / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/s, ')'))
                && fs.readdirSync(`/proc/${pid}/task`).length === 1;
        } catch {
            return true; // reaped
        }
    };
    while (!dead() && Date.now() < deadline) {
        // a busy wait: the client must not go on before it is dead
    }
}

test('a server killed as it answers initialize is started again, quietly, after a start and after a restart', { skip }, async () => {
    assert.ok(env);
    useWorkspace(env.workspace);
    double.configuration = { 'ao.server.command': env.serverCommand };
    const log = 'AO-crash';
    const output = window.createOutputChannel(log, { log: true }) as never;
    const pids = () => [...double.output(log).matchAll(/ao-server is running \(pid (\d+)\)/g)].map((m) => Number(m[1]));
    let killNext = true;
    const manager = new ServerManager({
        output,
        hooks: {
            onStatusChanged: () => undefined,
            onReady: (api) => {
                // Called as the client turns Running, right after "ao-server is running (pid N)" is logged.
                if (killNext) {
                    killNext = false;
                    killNow(pids().at(-1)!);
                    // As the extension does on onReady: ask the (dead) server for its sessions.
                    void api.status().then(() => undefined, () => undefined);
                }
            },
        },
    });
    const startedAgain = async (count: number) => {
        await double.waitFor(() => pids().length >= count && manager.state === 'running', 60_000, 'the server to be started again')
            .catch((e: Error) => {
                throw new Error(`${e.message}; the log ends with:\n${double.output(log).slice(-4000)}`);
            });
        const [killed, running] = pids().slice(count - 2, count) as [number, number];
        assert.notEqual(running, killed);
        await double.waitFor(() => !alive(killed), 10_000, 'the killed server to be gone');
        assert.ok(alive(running));
        const api = await manager.ready();
        assert.ok(api, manager.lastFailure);
        assert.ok(Array.isArray(await api.status()));
    };
    try {
        await manager.start();
        await startedAgain(2);
        killNext = true;
        await manager.restart();
        await startedAgain(4);
        assert.equal((double.output(log).match(/was killed by SIGKILL; starting it again/g) ?? []).length, 2, double.output(log));
        assert.equal(manager.lastFailure, undefined);
        assert.deepEqual(double.messages, []);
    } finally {
        await manager.dispose();
    }
});

