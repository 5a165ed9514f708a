/**
 * AO: Show Hosts: the remote hosts of the config (docs/protocol.md "Remote hosts", `ao/hosts`) as one ssh
 * round trip finds each now. The words and items here are pure (tested without a window); the command is in
 * commands.ts.
 */
import * as vscode from 'vscode';
import { HostInfo } from './common/protocol';
import { formatLocalTime } from './sessions';

export interface HostPick extends vscode.QuickPickItem {
    host?: HostInfo;
    /** "Check again": ask the server again. */
    again?: boolean;
}

/** A host answers and nothing is missing there. */
export function hostReady(host: HostInfo): boolean {
    return host.reachable && host.problems.length === 0;
}

/** `vm-active` (ready), `warning` (reachable, something missing), `debug-disconnect` (unreachable). */
export function hostIcon(host: HostInfo): string {
    return !host.reachable ? 'debug-disconnect' : hostReady(host) ? 'vm-active' : 'warning';
}

/** "reachable" / "reachable, 2 problems" / "unreachable since 14:05". */
export function hostState(host: HostInfo, now: number = Date.now()): string {
    if (!host.reachable) {
        const since = formatLocalTime(host.unreachableSince, now);
        return since ? `unreachable since ${since}` : 'unreachable';
    }
    const n = host.problems.length;
    return n === 0 ? 'reachable' : `reachable, ${n} problem${n === 1 ? '' : 's'}`;
}

/** "3.1 ms"; undefined without a round trip. */
export function formatRtt(ms: number | null): string | undefined {
    return typeof ms === 'number' && Number.isFinite(ms) ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : undefined;
}

/** "reachable · 3.1 ms · tmux 3.3a · opencode 1.18.33 · 2 running · dev@build1.example". */
export function hostDescription(host: HostInfo, now: number = Date.now()): string {
    return [
        hostState(host, now),
        formatRtt(host.rttMs),
        host.tmux ?? undefined,
        host.opencode ? `opencode ${host.opencode}` : undefined,
        `${host.sessions} running`,
        host.ssh,
    ].filter(Boolean).join(' · ');
}

/**
 * Why a host cannot be reached, without what the row already says: the server's error is one sentence, "host gpu
 * (gpu) unreachable since 2026-11-26 21:22:18: ssh: connect to host gpu port 22: Connection refused", and only its
 * end (ssh's own words) fits the quick pick's second line. Anything else is kept whole.
 */
export function unreachableWhy(error: string | null): string {
    if (!error) {
        return 'it does not answer';
    }
    const m = /^host .+? unreachable since (?:now|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d): (.+)$/s.exec(error);
    return m?.[1] ?? error;
}

/** The quick pick's second line: why it cannot be reached, else what is missing (each with its fix), else "ready". */
export function hostDetail(host: HostInfo): string {
    if (!host.reachable) {
        return [unreachableWhy(host.error), ...host.problems].join(' · ');
    }
    return host.problems.length > 0 ? host.problems.join(' · ') : 'ready: nothing is missing';
}

/** One item per host, in the server's order, then "Check again". */
export function hostItems(hosts: HostInfo[], now: number = Date.now()): HostPick[] {
    return [
        ...hosts.map((host): HostPick => ({
            label: `$(${hostIcon(host)}) ${host.name}`,
            description: hostDescription(host, now),
            detail: hostDetail(host),
            host,
        })),
        { label: '$(refresh) Check again', description: 'one more ssh round trip to each host', again: true },
    ];
}

/** The quick pick's title: "AO: 2 hosts, 1 unreachable". */
export function hostsTitle(hosts: HostInfo[]): string {
    const down = hosts.filter((h) => !h.reachable).length;
    const wanting = hosts.filter((h) => h.reachable && h.problems.length > 0).length;
    const parts = [`${hosts.length} host${hosts.length === 1 ? '' : 's'}`];
    if (down > 0) {
        parts.push(`${down} unreachable`);
    }
    if (wanting > 0) {
        parts.push(`${wanting} with problems`);
    }
    return `AO: ${parts.join(', ')}`;
}

/** The full report for the AO output, as `ao doctor` words it: a line per host, then each problem with its fix. */
export function hostReport(hosts: HostInfo[]): string[] {
    const lines: string[] = [];
    for (const h of hosts) {
        if (h.reachable) {
            lines.push(`${h.name} (${h.ssh}): reachable, ${formatRtt(h.rttMs) ?? '? ms'}; ${h.tmux ?? 'no tmux'}; `
                + `opencode ${h.opencode ?? 'missing'}; ${h.python3 ?? 'no python3'}; ${h.sessions} running`);
        } else {
            lines.push(`${h.name} (${h.ssh}): ${h.error ?? 'unreachable'}; ${h.sessions} running`);
        }
        lines.push(...(h.problems.length > 0 ? h.problems.map((p) => `  - ${p}`) : ['  ready: nothing is missing']));
    }
    return lines;
}
