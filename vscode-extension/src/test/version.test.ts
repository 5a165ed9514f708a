/**
 * The version check against the REAL ao-server: when `serverInfo.version` differs from the extension's, the
 * window says so once and offers the ao-server bundled with the extension. Started by
 * tests/e2e/test_vscode.py (the bed's isolated world); the extension context is a real-shaped one with its
 * own storage folder and an extension version that differs on purpose.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { activate, deactivate } from '../extension';
import { skipReason, testEnv, useWorkspace } from './helpers';
import { Uri, double } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();
const dirs: string[] = [];

after(async () => {
    await deactivate();
    double.resetUi();
    double.configuration = {};
    for (const d of dirs) {
        fs.rmSync(d, { recursive: true, force: true });
    }
});

test('a server of another version: one warning offering the bundled ao-server', { skip }, async () => {
    assert.ok(env);
    useWorkspace(env.workspace);
    double.configuration = { 'ao.server.command': env.serverCommand, 'ao.pollInterval': 0.3 };
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-storage-'));
    const extensionDir = fs.mkdtempSync(path.join(os.tmpdir(), 'ao-ext-'));
    dirs.push(storage, extensionDir);
    const context = {
        subscriptions: [] as { dispose(): unknown }[],
        globalStorageUri: Uri.file(storage),
        extensionUri: Uri.file(extensionDir),
        extension: { packageJSON: { version: '0.0.1-test' } },
    };
    const ext = activate(context as never);
    assert.equal(await ext.started, true, double.output('AO'));
    assert.match(ext.server.serverVersion ?? '', /^\d+\.\d+\.\d+/);
    const warning = await double.waitFor(
        () => double.messages.find((m) => m.level === 'warning' && m.message.includes('is running; this extension is 0.0.1-test')),
        10_000, 'the version warning');
    assert.equal(warning.message, `AO: ao-server ${ext.server.serverVersion} is running; this extension is 0.0.1-test and may ` +
        'expect other requests. Install the ao-server bundled with the extension (a private environment), or update yours.');
    assert.deepEqual(warning.items, ['Install bundled ao-server']);
    // Once per window, not on every restart.
    await ext.server.restart();
    assert.equal(double.messages.filter((m) => m.message.includes('0.0.1-test')).length, 1);
    for (const d of context.subscriptions.reverse()) {
        try {
            d.dispose();
        } catch {
            // keep disposing the rest
        }
    }
});
