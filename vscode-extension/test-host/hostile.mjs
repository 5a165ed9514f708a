// Opens a hostile repository in a real VS Code workbench (code-server) with Playwright in Debian's Chromium:
// its yaml.py writes a marker when Python imports it, its .vscode/settings.json names a program of its own
// in "ao.server.command". The user's own setting names the real server. The drive waits for AO to run, then
// spawns an agent from the palette (its one project, from the workspace's agent-orchestrator.yaml) and waits
// for it to finish; the test checks the markers and the processes.
// Run by tests/e2e/test_vscode.py (test_real_vscode_host_hostile_workspace), which checks the result line:
//   RESULT {"ok": true, "statusBar": ..., "processes": [{pid, argv, cwd}], "spawned": ..., "finished": ...}
// Environment: AO_HOST_DIR (playwright-core's install dir), AO_HOST_URL, AO_HOST_WORKSPACE, AO_HOST_ARTIFACTS
// (screenshots), AO_HOST_CHROMIUM, AO_HOST_SERVER_PID (code-server's: the processes under it are reported).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const env = (name) => {
    const v = process.env[name];
    if (!v) {
        throw new Error(`${name} is not set`);
    }
    return v;
};

const require = createRequire(path.join(env('AO_HOST_DIR'), 'package.json'));
const { chromium } = require('playwright-core');

const url = env('AO_HOST_URL');
const workspace = env('AO_HOST_WORKSPACE');
const artifacts = env('AO_HOST_ARTIFACTS');
const SID = 'my-project/agent-1';
const t0 = Date.now();
const timings = {};
let step = 'start';

function mark(name) {
    step = name;
    timings[name] = Math.round((Date.now() - t0) / 100) / 10;
    console.log(`[${timings[name]}s] ${name}`);
}

/** Every process under `pid` (code-server) with its argv and working directory, read while the window is open. */
function processesUnder(pid) {
    const found = [];
    const walk = (p) => {
        let children = [];
        try {
            for (const task of fs.readdirSync(`/proc/${p}/task`)) {
                children.push(...fs.readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').split(' ').filter(Boolean));
            }
        } catch {
            return; // gone
        }
        for (const child of children) {
            try {
                const raw = fs.readFileSync(`/proc/${child}/cmdline`, 'utf8');
                const argv = (raw.endsWith('\0') ? raw.slice(0, -1) : raw).split('\0');
                found.push({ pid: Number(child), argv, cwd: fs.readlinkSync(`/proc/${child}/cwd`) });
            } catch {
                continue;
            }
            walk(child);
        }
    };
    walk(pid);
    return found;
}

async function palette(page, title) {
    await page.keyboard.press('Control+Shift+P');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    await page.keyboard.press('Enter');
}

/** Waits for a quick input with this title, then answers it (text typed, then Enter). */
async function answer(page, title, text) {
    const widget = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: title }) });
    await widget.waitFor({ state: 'visible', timeout: 30_000 });
    if (text !== undefined) {
        await page.locator('.quick-input-widget .quick-input-box input').fill(text);
    } else {
        await widget.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: 15_000 });
    }
    await page.keyboard.press('Enter');
}

async function notification(page, text, timeout) {
    const toast = page.locator('.notification-toast', { hasText: text }).first();
    await toast.waitFor({ state: 'visible', timeout });
    return toast;
}

const browser = await chromium.launch({
    executablePath: env('AO_HOST_CHROMIUM'),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const result = { ok: false };
const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
try {
    mark('open workbench');
    await page.goto(`${url}/?folder=${encodeURIComponent(workspace)}`, { waitUntil: 'domcontentloaded' });
    await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: 90_000 });

    mark('server running');
    const statusItem = page.locator('.statusbar-item', { hasText: /AO: \d+ running, \d+ exited/ }).first();
    await statusItem.waitFor({ state: 'visible', timeout: 90_000 });
    result.statusBar = (await statusItem.innerText()).trim();
    result.processes = processesUnder(Number(env('AO_HOST_SERVER_PID')));

    mark('AO: Spawn Agent');
    await palette(page, 'AO: Spawn Agent');
    await answer(page, 'Spawn an agent: model');
    await answer(page, 'Spawn an agent in my-project', 'Look around the repository');
    await notification(page, `Spawned ${SID}`, 60_000);
    result.spawned = SID;

    mark('the agent finishes');
    const finished = await notification(page, `${SID} finished`, 120_000);
    result.finished = (await finished.locator('.notification-list-item-message').innerText()).trim();
    await page.screenshot({ path: path.join(artifacts, 'vscode-hostile-workspace.png') });
    mark('done');
    result.ok = true;
} catch (e) {
    result.error = `${step}: ${e instanceof Error ? e.message : String(e)}`;
    try {
        await page.screenshot({ path: path.join(artifacts, 'vscode-hostile-failure.png') });
        result.failureScreenshot = path.join(artifacts, 'vscode-hostile-failure.png');
        result.notifications = await page.locator('.notification-toast').allInnerTexts();
    } catch {
        // the page is gone
    }
} finally {
    result.timings = timings;
    console.log(`RESULT ${JSON.stringify(result)}`);
    await browser.close();
}
process.exit(result.ok ? 0 : 1);
