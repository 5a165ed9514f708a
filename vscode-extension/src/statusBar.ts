/**
 * The status bar item: running/exited counts; a click opens the Sessions view. Its tooltip also says what
 * was spent today (`ao/cost {since: "today"}`, asked again when sessions change, at most every few seconds).
 */
import * as vscode from 'vscode';
import { Commands, ErrorCodes } from './common/constants';
import { AoApi, CostReport, isWireError } from './common/protocol';
import { ServerState } from './common/server';
import { SessionStore, formatLimit, formatUsd, pendingOf } from './sessions';

/** The least time between two `ao/cost` requests of the status bar. */
export const SPEND_INTERVAL_MS = 5_000;
/** How long a burst of changes is gathered before asking. */
export const SPEND_DEBOUNCE_MS = 500;

/** "Today: $1.23", with " of $50.00" when a daily budget is set; undefined without a report. */
export function spendText(report: CostReport | undefined): string | undefined {
    const usd = formatUsd(report?.total.usd);
    if (!report || !usd) {
        return undefined;
    }
    const day = report.limits.day;
    return `Today: ${usd}${typeof day === 'number' ? ` of ${formatLimit(day)}` : ''}`;
}

export class SessionsStatusBar implements vscode.Disposable {
    readonly item: vscode.StatusBarItem;
    private state: ServerState = 'stopped';
    private readonly subscriptions: vscode.Disposable[] = [];
    /** Today's spend, the last answer (kept while a new one is asked). */
    private spend: CostReport | undefined;
    private spendTimer: ReturnType<typeof setTimeout> | undefined;
    private lastAsked = 0;
    /** The running server has no ao/cost (an older ao-server): stop asking until it restarts. */
    private noCost = false;
    private disposed = false;

    /** `api`: the running server's API (only called while the server runs). */
    constructor(private readonly store: SessionStore, private readonly api?: () => Promise<AoApi | undefined>) {
        this.item = vscode.window.createStatusBarItem('ao.sessions', vscode.StatusBarAlignment.Left, 50);
        this.item.name = 'AO Sessions';
        this.subscriptions.push(store.onDidChange(() => {
            this.render();
            this.refreshSpend();
        }));
        this.render();
        this.item.show();
    }

    setServerState(state: ServerState): void {
        if (state !== this.state && state === 'running') {
            this.noCost = false;
            this.refreshSpend();
        }
        this.state = state;
        this.render();
    }

    /** Asks for today's spend soon: after a short pause, and never sooner than {@link SPEND_INTERVAL_MS} after
     * the last request. Changes in between are covered by the one request. */
    refreshSpend(): void {
        if (!this.api || this.spendTimer || this.disposed) {
            return;
        }
        const wait = Math.max(SPEND_DEBOUNCE_MS, this.lastAsked + SPEND_INTERVAL_MS - Date.now());
        this.spendTimer = setTimeout(() => {
            void this.askSpend().finally(() => {
                this.spendTimer = undefined;
            });
        }, wait);
    }

    /** Today's spend as last asked (for tests and other parts). */
    get todaySpend(): CostReport | undefined {
        return this.spend;
    }

    private async askSpend(): Promise<void> {
        if (!this.api || this.state !== 'running' || this.noCost || this.disposed) {
            return;
        }
        this.lastAsked = Date.now();
        try {
            const api = await this.api();
            if (!api) {
                return;
            }
            this.spend = await api.cost({ since: 'today' });
        } catch (e) {
            // An older server without ao/cost; anything else (a restart) is asked again on the next change.
            if (isWireError(e) && e.code === ErrorCodes.methodNotFound) {
                this.noCost = true;
                this.spend = undefined;
            }
        }
        this.render(); // a disposed item ignores it
    }

    render(): void {
        const { running, exited } = this.store.counts();
        if (this.state === 'failed') {
            this.item.text = '$(error) AO';
            this.item.tooltip = 'ao-server could not start: see the AO output';
            this.item.command = Commands.showOutput;
            this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
            return;
        }
        // Live agents waiting for an answer (a permission, a question) stand out.
        const waiting = this.store.all().filter((session) => pendingOf(session).length > 0).length;
        this.item.backgroundColor = waiting > 0 ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
        this.item.command = Commands.focusSessions;
        const icon = waiting > 0 ? '$(bell-dot)' : running > 0 ? '$(sync~spin)' : '$(hubot)';
        const asks = waiting > 0 ? `, ${waiting} waiting for you` : '';
        this.item.text = `${icon} AO: ${running} running, ${exited} exited${asks}`;
        const today = spendText(this.spend);
        this.item.tooltip = `${running} running, ${exited} exited agent sessions${asks}${this.state === 'starting' ? ' (ao-server is starting)' : ''}.` +
            `${today ? `\n${today}` : ''}\nClick to open the Sessions view.`;
    }

    dispose(): void {
        this.disposed = true;
        if (this.spendTimer) {
            clearTimeout(this.spendTimer);
        }
        this.subscriptions.forEach((d) => {
            d.dispose();
        });
        this.item.dispose();
    }
}
