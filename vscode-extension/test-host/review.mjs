// Drives reviewing an agent's work in a real VS Code workbench (code-server) with Playwright in Debian's
// Chromium: an agent in a git worktree writes notes.txt and exits; the exit notification's Review Changes
// opens the diff editor; the Sessions view expands the session to its changed file, whose click opens the
// diff again; the session's context menu Accept (Merge) asks, then merges.
// Run by tests/e2e/test_vscode.py (test_real_vscode_host_review), which checks the result line and git:
//   RESULT {"ok": true, "notification": ..., "notificationButtons": [...], "diffTab": ..., "fileRow": ..., "merged": ...}
// Environment (beside workbench.mjs's AO_HOST_DIR and AO_HOST_CHROMIUM): AO_HOST_URL, AO_HOST_WORKSPACE, AO_HOST_ARTIFACTS
// (screenshots), AO_HOST_PYTHON (runs the ao CLI that spawns the agent).
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { env, launch, notification, palette, steps } from './workbench.mjs';

const url = env('AO_HOST_URL');
const workspace = env('AO_HOST_WORKSPACE');
const artifacts = env('AO_HOST_ARTIFACTS');
const SID = 'my-project/agent-1';
const TITLE = 'agent-1: notes.txt (base ↔ agent)';
const clock = steps();
const mark = clock.mark;

/** The diff editor's tab with this title, and the diff editor itself, are showing. */
async function diffEditor(page) {
    const tab = page.locator('.tabs-container .tab', { hasText: TITLE }).first();
    await tab.waitFor({ state: 'visible', timeout: 30_000 });
    await page.locator('.editor-instance .monaco-diff-editor').first().waitFor({ state: 'visible', timeout: 30_000 });
    // The right side is the agent's file: its text is painted in the modified editor.
    await page.locator('.monaco-diff-editor .editor.modified .view-lines', { hasText: 'hello from the agent' }).first()
        .waitFor({ state: 'visible', timeout: 30_000 });
    return (await tab.innerText()).replace(/\s+/g, ' ').trim();
}

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

    mark('spawn with the ao CLI');
    // Spawned outside the window: the window learns of it, and of its exit, from ao/statusChanged.
    const spawned = execFileSync(env('AO_HOST_PYTHON'), ['-m', 'ao_server.cli', 'spawn', 'my-project',
        'Write the notes [[write:notes.txt:hello from the agent]] [[slow:2]]'], { cwd: workspace, encoding: 'utf8' }).trim();
    if (spawned !== SID) {
        throw new Error(`ao spawn said ${JSON.stringify(spawned)}, expected ${SID}`);
    }

    mark('exit notification');
    const toast = await notification(page, `${SID} finished`, 120_000);
    result.notification = (await toast.locator('.notification-list-item-message').innerText()).trim();
    result.notificationButtons = (await toast.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
    await toast.locator('.monaco-button', { hasText: 'Review Changes' }).first().click();

    mark('Review Changes: the file pick');
    const pick = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: `Changes of ${SID}` }) });
    await pick.waitFor({ state: 'visible', timeout: 30_000 });
    result.filePickTitle = (await pick.locator('.quick-input-title').innerText()).trim();
    await pick.locator('.monaco-list-row', { hasText: 'notes.txt' }).first().waitFor({ state: 'visible', timeout: 15_000 });
    await page.keyboard.press('Enter');

    mark('diff editor from the notification');
    result.diffTab = await diffEditor(page);
    await page.screenshot({ path: path.join(artifacts, 'vscode-review-diff.png') });
    await palette(page, 'View: Close All Editors');
    await page.locator('.tabs-container .tab', { hasText: TITLE }).first().waitFor({ state: 'detached', timeout: 15_000 });

    mark('Sessions view: expand the session');
    await statusItem.click(); // focuses the Sessions view
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Sessions' }) });
    const sessionRow = view.locator('.monaco-list-row', { hasText: 'agent-1' }).first();
    await sessionRow.waitFor({ state: 'visible', timeout: 30_000 });
    await sessionRow.click();
    const fileRow = view.locator('.monaco-list-row', { hasText: 'notes.txt' }).first();
    await fileRow.waitFor({ state: 'visible', timeout: 30_000 });
    const label = (await fileRow.locator('.label-name').first().innerText()).trim();
    const description = (await fileRow.locator('.label-description').first().innerText()).trim();
    result.fileRow = `${label} ${description}`;

    mark('click the changed file');
    await fileRow.click();
    result.diffTabFromTree = await diffEditor(page);
    await page.screenshot({ path: path.join(artifacts, 'vscode-review-tree.png') });

    mark('Accept (Merge) from the context menu');
    await sessionRow.click({ button: 'right' });
    const menuItem = page.locator('.context-view .action-item', { hasText: 'Accept (Merge)' }).first();
    await menuItem.waitFor({ state: 'visible', timeout: 15_000 });
    // The menu takes its item on the keyboard as on a click; a click right after it opens can be dropped.
    await menuItem.hover();
    await page.locator('.context-view .action-item.focused', { hasText: 'Accept (Merge)' }).first().waitFor({ state: 'visible', timeout: 5000 });
    await page.keyboard.press('Enter');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor({ state: 'visible', timeout: 15_000 });
    result.confirm = (await dialog.locator('.dialog-message-text').innerText()).trim();
    await dialog.locator('.monaco-button', { hasText: /^Merge$/ }).first().click();
    const merged = await notification(page, `merged ${SID} into main`, 60_000);
    result.merged = (await merged.locator('.notification-list-item-message').innerText()).trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-review-merged.png') });
    mark('done');
    result.ok = true;
} catch (e) {
    result.error = `${clock.step}: ${e instanceof Error ? e.message : String(e)}`;
    try {
        await page.screenshot({ path: path.join(artifacts, 'vscode-review-failure.png') });
        result.failureScreenshot = path.join(artifacts, 'vscode-review-failure.png');
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
