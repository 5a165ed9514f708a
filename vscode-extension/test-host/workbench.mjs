// What the real-workbench drives share: their environment, a step clock, the palette, quick inputs,
// notifications and Debian's Chromium launched headless with the flags this closed network needs.
// Environment: AO_HOST_DIR (playwright-core's install dir), AO_HOST_CHROMIUM.
import { createRequire } from 'node:module';
import * as path from 'node:path';

export const env = (name) => {
    const v = process.env[name];
    if (!v) {
        throw new Error(`${name} is not set`);
    }
    return v;
};

/** A clock of named steps: `mark(name)` logs the time since the start; `step` is the current one. */
export function steps() {
    const t0 = Date.now();
    const clock = { step: 'start', timings: {} };
    clock.mark = (name) => {
        clock.step = name;
        clock.timings[name] = Math.round((Date.now() - t0) / 100) / 10;
        console.log(`[${clock.timings[name]}s] ${name}`);
    };
    return clock;
}

export async function palette(page, title) {
    await page.keyboard.press('Control+Shift+P');
    const input = page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-widget .monaco-list-row', { hasText: title }).first();
    await row.waitFor({ state: 'visible', timeout: 15_000 });
    await page.keyboard.press('Enter');
}

/** Waits for a quick input with this title, then answers it (text typed, then Enter). */
export async function answer(page, title, text) {
    const widget = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: title }) });
    await widget.waitFor({ state: 'visible', timeout: 30_000 });
    if (text !== undefined) {
        await page.locator('.quick-input-widget .quick-input-box input').fill(text);
    } else {
        await widget.locator('.monaco-list-row').first().waitFor({ state: 'visible', timeout: 15_000 });
    }
    await page.keyboard.press('Enter');
}

export async function notification(page, text, timeout) {
    const toast = page.locator('.notification-toast', { hasText: text }).first();
    await toast.waitFor({ state: 'visible', timeout });
    return toast;
}

/** Debian's Chromium, headless, through playwright-core. */
export async function launch() {
    const require = createRequire(path.join(env('AO_HOST_DIR'), 'package.json'));
    const { chromium } = require('playwright-core');
    return chromium.launch({
        executablePath: env('AO_HOST_CHROMIUM'),
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    });
}
