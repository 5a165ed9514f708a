// Drives a live agent's permission request in a real VS Code workbench (code-server) with Playwright in
// Debian's Chromium: the agent (spawned with `ao spawn --live` while the window is open) wants to run
// `echo hi > ran.txt`, OpenCode asks (its config says bash: ask); the notification names the command with
// Allow once / Always / Reject, the Sessions view says the session waits for you; a click on Allow once
// answers it (ao/respond) and the agent finishes.
// Run by tests/e2e/test_vscode.py (test_real_vscode_host_live), which checks the result line and the disk:
//   RESULT {"ok": true, "notification": ..., "buttons": [...], "sessionRow": ..., "finished": ...}
// Environment (beside workbench.mjs's AO_HOST_DIR and AO_HOST_CHROMIUM): AO_HOST_URL, AO_HOST_WORKSPACE, AO_HOST_ARTIFACTS
// (screenshots), AO_HOST_PYTHON (runs the ao CLI that spawns the agent).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { env, launch, notification, steps } from './workbench.mjs';

const url = env('AO_HOST_URL');
const workspace = env('AO_HOST_WORKSPACE');
const artifacts = env('AO_HOST_ARTIFACTS');
const SID = 'my-project/agent-1';
const ASKS = `${SID} wants to run \`echo hi > ran.txt\``;
const clock = steps();
const mark = clock.mark;

const browser = await launch();
const result = { ok: false };
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
try {
    mark('open workbench');
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded' });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });

    mark('server running');
    const statusItem = page.locator('.statusbar-item', { hasText: /AO: \d+ running, \d+ exited/ }).first();
    await statusItem.waitFor({ state: 'visible', timeout: 90_000 });
    await statusItem.click(); // focuses the Sessions view
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Sessions' }) });
    await view.waitFor({ state: 'visible', timeout: 30_000 });

    mark('spawn a live agent with the ao CLI');
    // Spawned outside the window: the request reaches it as ao/inputRequested.
    const spawned = execFileSync(env('AO_HOST_PYTHON'), ['-m', 'ao_server.cli', 'spawn', '--live', 'my-project',
        'run it [[bash:echo hi > ran.txt]]'], { cwd: workspace, encoding: 'utf8' }).trim();
    if (spawned !== SID) {
        throw new Error(`ao spawn said ${JSON.stringify(spawned)}, expected ${SID}`);
    }

    mark('the permission notification');
    const toast = await notification(page, ASKS, 120_000);
    result.notification = (await toast.locator('.notification-list-item-message').innerText()).trim();
    result.buttons = (await toast.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);

    mark('the Sessions view: waiting for you');
    const sessionRow = view.locator('.monaco-list-row', { hasText: 'agent-1' }).first();
    await view.locator('.monaco-list-row', { hasText: 'waiting for you' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    result.sessionRow = (await sessionRow.locator('.label-description').first().innerText()).trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-live-permission.png') });

    mark('Allow once');
    await toast.locator('.monaco-button', { hasText: /^Allow once$/ }).first().click();

    mark('the agent finishes');
    const finished = await notification(page, `${SID} finished`, 120_000);
    result.finished = (await finished.locator('.notification-list-item-message').innerText()).trim();
    await view.locator('.monaco-list-row', { hasText: 'finished' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    result.sessionRowAfter = (await sessionRow.locator('.label-description').first().innerText()).trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-live-finished.png') });
    mark('done');
    result.ok = true;
} catch (e) {
    result.error = `${clock.step}: ${e instanceof Error ? e.message : String(e)}`;
    try {
        await page.screenshot({ path: path.join(artifacts, 'vscode-live-failure.png') });
        result.failureScreenshot = path.join(artifacts, 'vscode-live-failure.png');
        result.notifications = await page.locator('.notification-toast').allInnerTexts();
    } catch {
        // the page is gone
    }
} finally {
    result.timings = clock.timings;
    console.log(`RESULT ${JSON.stringify(result)}`);
    await browser.close();
}
process.exit(result.ok ? 0 : 1);
