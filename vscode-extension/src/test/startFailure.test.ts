/**
 * A server that cannot start: one actionable message (what was tried, how to set ao.server.command),
 * nothing else popping up; the status bar says so.
 */
import * as assert from 'node:assert/strict';
import * as os from 'os';
import { afterEach, test } from 'node:test';
import { ServerManager } from '../common/server';
import { Activated, activateExtension, deactivateExtension, useWorkspace } from './helpers';
import { double, window } from './vscodeDouble';

let active: Activated | undefined;

afterEach(async () => {
    if (active) {
        await deactivateExtension(active);
        active = undefined;
    }
    double.resetUi();
    double.configuration = {};
});

const python = process.env.AO_TEST_PYTHON ?? 'python3';

test('a command that does not exist: one error naming it and the setting', async () => {
    useWorkspace(os.tmpdir());
    double.configuration = { 'ao.server.command': ['/nonexistent/ao-server', '--stdio'] };
    double.messageResponder = (m) => (m.level === 'error' ? 'Open Settings' : undefined);
    active = activateExtension();
    assert.equal(await active.ext.started, false);
    await double.waitFor(() => double.builtinCommands.length > 0, 5000, 'Open Settings to run');
    const errors = double.messages.filter((m) => m.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(double.messages));
    assert.equal(double.messages.length, 1, JSON.stringify(double.messages));
    const text = errors[0]!.message;
    assert.match(text, /could not start ao-server with `\/nonexistent\/ao-server --stdio`/);
    assert.match(text, /the setting "ao\.server\.command"/);
    assert.match(text, /was not found/);
    assert.match(text, /set "ao\.server\.command"/);
    assert.deepEqual(errors[0]!.items, ['Open Settings', 'Show Output']);
    assert.deepEqual(double.builtinCommands[0], { id: 'workbench.action.openSettings', args: ['ao.server.command'] });
    assert.equal(active.ext.server.state, 'failed');
    assert.equal(active.ext.statusBar.item.text, '$(error) AO');
    // Logged at its level in the AO log channel.
    assert.match(double.output('AO'), /^\[error\] AO: could not start ao-server/m);
});

test('a Python without ao_server: the exit code and its last stderr line', async () => {
    useWorkspace(os.tmpdir());
    double.configuration = { 'ao.server.command': [python, '-m', 'ao_server_not_installed'] };
    active = activateExtension();
    assert.equal(await active.ext.started, false);
    const errors = double.messages.filter((m) => m.level === 'error');
    assert.equal(errors.length, 1, JSON.stringify(double.messages));
    assert.equal(double.messages.length, 1, JSON.stringify(double.messages));
    assert.match(errors[0]!.message, /it exited with code 1: .*No module named ao_server_not_installed/);
    // The server's stderr is in the AO log, a line at a time; Python's own error line is an error.
    assert.match(double.output('AO'), /^\[error\] \[ao-server\] .*No module named ao_server_not_installed$/m);
    // Commands that need the server try again and say it once more, without a stack.
    double.resetUi();
    const result = await double.commands.get('ao.spawn')?.();
    assert.equal(result, undefined);
    assert.equal(double.messages.length, 1, JSON.stringify(double.messages));
    assert.match(double.messages[0]!.message, /could not start ao-server/);
    assert.doesNotMatch(double.messages[0]!.message, /\n\s+at /);
});

test('the automatic choice says what it looked for', async () => {
    useWorkspace(os.tmpdir());
    const output = window.createOutputChannel('AO-auto', { log: true }) as never;
    const manager = new ServerManager({
        output,
        hooks: { onReady: () => undefined, onStatusChanged: () => undefined },
        lookups: { which: (name) => (name === 'python3' ? '/nonexistent/bin/python3' : undefined), pythonInterpreter: async () => undefined },
    });
    try {
        assert.equal(await manager.start(), undefined);
    } finally {
        await manager.dispose();
    }
    const text = manager.lastFailure ?? '';
    assert.match(text, /`\/nonexistent\/bin\/python3 -I -m ao_server` \(`python3` on PATH\): `\/nonexistent\/bin\/python3` was not found/);
    assert.match(text, /Looked for: `ao-server` is not on PATH; no interpreter from the Python extension/);
});

test('a program that never answers initialize: a timeout, and the process is ended', async () => {
    useWorkspace(os.tmpdir());
    double.configuration = { 'ao.server.command': ['sleep', '30'] };
    const output = window.createOutputChannel('AO-timeout', { log: true }) as never;
    const manager = new ServerManager({
        output,
        hooks: { onReady: () => undefined, onStatusChanged: () => undefined },
        startTimeoutMs: 1500,
    });
    try {
        assert.equal(await manager.start(), undefined);
    } finally {
        await manager.dispose();
    }
    assert.match(manager.lastFailure ?? '', /did not answer `initialize` within 2 s/);
    await double.waitFor(() => /ao-server exited \(signal SIGTERM\)/.test(double.output('AO-timeout')), 8000, 'sleep to be ended');
});
