// Opens a hostile repository in a real VS Code workbench (code-server) with Playwright in Debian's Chromium:
// its yaml.py writes a marker when Python imports it, its .vscode/settings.json names a program of its own
// in "ao.server.command". The user's own setting names the real server. The drive waits for AO to run, then
// spawns an agent from the palette (its one project, from the workspace's agent-orchestrator.yaml) and waits
// for it to finish; the test checks the markers and the processes.
// Run by tests/e2e/test_vscode.py (test_real_vscode_host_hostile_workspace), which checks the result line:
//   RESULT {"ok": true, "statusBar": ..., "processes": [{pid, argv, cwd}], "spawned": ..., "finished": ...}
// Environment (beside workbench.mjs's): AO_HOST_URL, AO_HOST_WORKSPACE, AO_HOST_ARTIFACTS
// (screenshots), AO_HOST_SERVER_PID (code-server's: the processes under it are reported).
import * as fs from 'node:fs';
import * as path from 'node:path';

import { answer, env, launch, notification, palette, steps } from './workbench.mjs';

const url = env('AO_HOST_URL');
const workspace = env('AO_HOST_WORKSPACE');
const artifacts = env('AO_HOST_ARTIFACTS');
const SID = 'my-project/agent-1';
const clock = steps();
const mark = clock.mark;

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
    result.error = `${clock.step}: ${e instanceof Error ? e.message : String(e)}`;
    try {
        await page.screenshot({ path: path.join(artifacts, 'vscode-hostile-failure.png') });
        result.failureScreenshot = path.join(artifacts, 'vscode-hostile-failure.png');
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
