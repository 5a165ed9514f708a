// Drives the extension in a real VS Code workbench (code-server) with Playwright in Debian's Chromium,
// as a person would: "Install ao-server" on a machine without it, palette, pickers, the Sessions view, the
// exit notification, AO: Show Hosts (an unreachable host), the attach terminal.
// Run by tests/e2e/test_vscode.py, which starts code-server and checks the result line:
//   RESULT {"ok": true, "installOffer": ..., "installed": ..., "spawned": ..., "notification": ..., ...}
// Environment (beside workbench.mjs's AO_HOST_DIR and AO_HOST_CHROMIUM): AO_HOST_URL, AO_HOST_WORKSPACE,
// AO_HOST_ARTIFACTS (screenshots), AO_HOST_TMUX_SOCKET.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import { answer, env, launch, notification, palette, steps } from './workbench.mjs';

const url = env('AO_HOST_URL');
const workspace = env('AO_HOST_WORKSPACE');
const artifacts = env('AO_HOST_ARTIFACTS');
const tmuxSocket = env('AO_HOST_TMUX_SOCKET');
const SID = 'my-project/agent-1';
const clock = steps();
const mark = clock.mark;

function tmuxClients() {
    try {
        const out = execFileSync('tmux', ['-L', tmuxSocket, 'list-clients', '-F', '#{client_tty} #{session_name}'], { encoding: 'utf8' });
        return out.split('\n').filter((l) => l.trim() !== '');
    } catch {
        return [];
    }
}

const browser = await launch();
const result = { ok: false };
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
try {
    mark('open workbench');
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded' });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });

    mark('install offer');
    // No ao-server anywhere: the extension offers to install the one bundled in the .vsix.
    const offer = await notification(page, 'ao-server is not installed', 90_000);
    result.installOffer = (await offer.locator('.notification-list-item-message').innerText()).trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-install-offer.png') });
    await offer.locator('.monaco-button', { hasText: 'Install ao-server' }).first().click();

    mark('installing');
    await notification(page, 'AO: Installing ao-server', 30_000);
    const done = await notification(page, 'is installed and running', 360_000);
    result.installed = (await done.locator('.notification-list-item-message').innerText()).trim();

    mark('extension active');
    const statusItem = page.locator('.statusbar-item', { hasText: /AO: \d+ running, \d+ exited/ }).first();
    await statusItem.waitFor({ state: 'visible', timeout: 90_000 });

    mark('AO: Spawn Agent');
    await palette(page, 'AO: Spawn Agent');
    // One configured project: no project pick; the model pick offers OpenCode's models, the default first.
    await answer(page, 'Spawn an agent: model');
    await answer(page, 'Spawn an agent in my-project', 'Write the VS Code notes [[slow:3]]');
    await notification(page, `Spawned ${SID}`, 60_000);
    result.spawned = SID;

    mark('Sessions view');
    await page.locator('.statusbar-item', { hasText: /AO: 1 running/ }).first().click();
    const view = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Sessions' }) });
    const row = view.locator('.monaco-list-row', { hasText: 'agent-1' }).first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    await view.locator('.monaco-list-row', { hasText: 'my-project' }).first().waitFor({ state: 'visible' });
    result.viewRow = (await row.innerText()).replace(/\s+/g, ' ').trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-sessions-view.png') });

    mark('exit notification');
    const toast = await notification(page, `${SID} finished`, 120_000);
    result.notification = (await toast.locator('.notification-list-item-message').innerText()).trim();
    result.notificationButtons = (await toast.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
    await view.locator('.monaco-list-row', { hasText: 'finished' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    result.viewRowAfterExit = (await view.locator('.monaco-list-row', { hasText: 'agent-1' }).first().innerText()).replace(/\s+/g, ' ').trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-exit-notification.png') });

    mark('AO: Show Hosts');
    // The config's one host refuses ssh (127.0.0.1:1): the quick pick says it is unreachable and why.
    await palette(page, 'AO: Show Hosts');
    const hosts = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: 'AO: 1 host' }) });
    await hosts.waitFor({ state: 'visible', timeout: 30_000 });
    result.hostsTitle = (await hosts.locator('.quick-input-title').innerText()).trim();
    const hostRow = hosts.locator('.monaco-list-row', { hasText: 'nowhere' }).first();
    await hostRow.waitFor({ state: 'visible', timeout: 15_000 });
    result.hostsRow = (await hostRow.innerText()).replace(/\s+/g, ' ').trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-hosts.png') });
    await page.keyboard.press('Escape');
    await hosts.waitFor({ state: 'hidden', timeout: 15_000 });

    mark('AO: Attach to Session');
    await palette(page, 'AO: Attach to Session');
    await answer(page, 'Attach to a session');
    const panel = page.locator('.part.panel');
    await panel.getByText(`AO: ${SID}`).first().waitFor({ state: 'visible', timeout: 30_000 });
    await panel.locator('.xterm').first().waitFor({ state: 'visible', timeout: 30_000 });
    result.terminal = `AO: ${SID}`;
    const deadline = Date.now() + 30_000;
    let clients = tmuxClients();
    while (clients.length === 0 && Date.now() < deadline) {
        await page.waitForTimeout(250);
        clients = tmuxClients();
    }
    result.tmuxClients = clients.length;
    result.tmuxClientList = clients;
    await page.waitForTimeout(1000); // let the terminal paint tmux's screen
    await page.screenshot({ path: path.join(artifacts, 'vscode-attach-terminal.png') });
    mark('done');
    result.ok = clients.length > 0;
} catch (e) {
    result.error = `${clock.step}: ${e instanceof Error ? e.message : String(e)}`;
    try {
        await page.screenshot({ path: path.join(artifacts, 'vscode-failure.png') });
        result.failureScreenshot = path.join(artifacts, 'vscode-failure.png');
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
