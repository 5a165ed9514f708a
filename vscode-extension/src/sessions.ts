/**
 * What the window knows about sessions: filled from `ao/status`, kept current by `ao/statusChanged`.
 * The tree view and the status bar render it; nothing here talks to VS Code's UI.
 */
import * as vscode from 'vscode';
import { BudgetState, InputRequest, Session, StatusChanged } from './common/protocol';

export class SessionStore implements vscode.Disposable {
    private readonly sessions = new Map<string, Session>();
    private readonly changed = new vscode.EventEmitter<void>();
    /** Fires after any change. */
    readonly onDidChange: vscode.Event<void> = this.changed.event;

    /** Everything from a full `ao/status`. */
    replaceAll(sessions: Session[]): void {
        this.sessions.clear();
        for (const s of sessions) {
            this.sessions.set(s.sessionId, s);
        }
        this.changed.fire();
    }

    upsert(session: Session): void {
        this.sessions.set(session.sessionId, { ...this.sessions.get(session.sessionId), ...session });
        this.changed.fire();
    }

    /**
     * Applies a notification. Returns false when the session is unknown and the notification carried no
     * session object (the caller should then fetch it with `ao/status`).
     */
    apply(change: StatusChanged): boolean {
        // Always sent by this version's server; an older one may leave it out.
        const session = change.session as Session | undefined;
        if (session?.sessionId === change.sessionId) {
            this.upsert(session);
            return true;
        }
        const known = this.sessions.get(change.sessionId);
        if (!known) {
            return false;
        }
        this.upsert({
            ...known,
            status: change.status,
            activity: change.activity,
            exitCode: change.exitCode,
            outcome: change.outcome,
            budget: 'budget' in change ? change.budget : known.budget, // an older server leaves it out
        });
        return true;
    }

    /**
     * A live agent's request (ao/inputRequested) goes into its session's `pending` at once, before the
     * `ao/statusChanged` that follows; false when the session is unknown here (the caller fetches it).
     */
    addPending(sessionId: string, request: InputRequest): boolean {
        const known = this.sessions.get(sessionId);
        if (!known) {
            return false;
        }
        const pending = pendingOf(known);
        if (!pending.some((r) => r.requestId === request.requestId)) {
            this.upsert({ ...known, pending: [...pending, request] });
        }
        return true;
    }

    get(sessionId: string): Session | undefined {
        return this.sessions.get(sessionId);
    }

    all(): Session[] {
        return [...this.sessions.values()].sort(compareSessions);
    }

    projects(): string[] {
        return [...new Set([...this.sessions.values()].map((s) => s.project))].sort();
    }

    ofProject(project: string): Session[] {
        return this.all().filter((s) => s.project === project);
    }

    counts(): { running: number; exited: number } {
        let running = 0;
        let exited = 0;
        for (const s of this.sessions.values()) {
            if (s.status === 'exited') {
                exited++;
            } else {
                running++;
            }
        }
        return { running, exited };
    }

    dispose(): void {
        this.changed.dispose();
    }
}

/** The number in "<project>/agent-<n>", or NaN. */
export function agentNumber(sessionId: string): number {
    const m = /-(\d+)$/.exec(sessionId);
    return m ? Number(m[1]) : NaN;
}

/** By project, then newest first. */
function compareSessions(a: Session, b: Session): number {
    if (a.project !== b.project) {
        return a.project < b.project ? -1 : 1;
    }
    const na = agentNumber(a.sessionId);
    const nb = agentNumber(b.sessionId);
    if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) {
        return nb - na;
    }
    return a.sessionId < b.sessionId ? 1 : a.sessionId > b.sessionId ? -1 : 0;
}

// --- words and icons for a session, shared by the tree, the quick picks and the notifications ----------

/** What a live agent waits for, oldest first ([] for any other session, or from an older server). */
export function pendingOf(session: Session | undefined): InputRequest[] {
    const pending: unknown = session?.pending; // an older server leaves it out
    return Array.isArray(pending) ? (pending as InputRequest[]) : [];
}

/** A session of the shared OpenCode server (`runtime: "live"`): it can be answered, messaged and aborted. */
export function isLive(session: Session | undefined): boolean {
    return session?.runtime === 'live';
}

/** A running live agent: Send Message reaches it at once, Abort Turn stops its turn. */
export function isRunningLive(session: Session | undefined): boolean {
    return isLive(session) && session?.status === 'running';
}

/** "wants to run `npm test`" (bash), "wants to use edit: src/a.ts, src/b.ts", "asks: Which database?". */
export function requestText(request: InputRequest): string {
    if (request.kind === 'question') {
        const questions = request.questions.map((q) => q.question).filter((q) => q.trim() !== '');
        return questions.length > 0 ? `asks: ${questions.join(' / ')}` : 'asks you something';
    }
    if (request.permission === 'bash' && request.command) {
        return `wants to run \`${request.command}\``;
    }
    const patterns = request.patterns.filter((p) => p.trim() !== '');
    return `wants to use ${request.permission ?? 'a tool'}${patterns.length > 0 ? `: ${patterns.join(', ')}` : ''}`;
}

/** "$0.0123" (cents and below get 4 decimals), or undefined without a cost. */
export function formatCost(session: Session): string | undefined {
    return formatUsd(session.cost?.usd);
}

/** "$1.23", "$0.0123" (below a dollar: 4 decimals), "<$0.0001"; undefined for anything not an amount. */
export function formatUsd(usd: unknown): string | undefined {
    if (typeof usd !== 'number' || !Number.isFinite(usd) || usd < 0) {
        return undefined;
    }
    if (usd === 0) {
        return '$0.00';
    }
    if (usd < 0.0001) {
        return '<$0.0001';
    }
    return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** A budget limit: "$2.00", "$0.50" (limits are round amounts; two decimals unless they need more). */
export function formatLimit(limit: number): string {
    return Number.isInteger(limit * 100) || limit >= 1 ? `$${limit.toFixed(2)}` : `$${String(limit)}`;
}

/** "60% of $2.00 session budget" (floored: 99.9 % is not yet the limit), or undefined without a budget. */
export function budgetText(budget: BudgetState | null | undefined): string | undefined {
    if (!budget || typeof budget.fraction !== 'number' || !Number.isFinite(budget.fraction) || typeof budget.limit !== 'number') {
        return undefined;
    }
    const scope = budget.scope === 'day' ? 'daily' : budget.scope;
    return `${Math.floor(budget.fraction * 100)}% of ${formatLimit(budget.limit)} ${scope} budget`;
}

/** "42s", "3m", "2h", "5d" since an ISO time. */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string | undefined {
    if (!iso) {
        return undefined;
    }
    const t = Date.parse(iso);
    if (Number.isNaN(t)) {
        return undefined;
    }
    const s = Math.max(0, Math.round((now - t) / 1000));
    if (s < 60) {
        return `${s}s`;
    }
    if (s < 3600) {
        return `${Math.floor(s / 60)}m`;
    }
    if (s < 86400) {
        return `${Math.floor(s / 3600)}h`;
    }
    return `${Math.floor(s / 86400)}d`;
}

/**
 * A session whose remote host does not answer now: it is still `running` (an unanswered host is no evidence
 * that its agent stopped) and the server asks again on every poll.
 */
export function isUnreachable(session: Session | undefined): boolean {
    return session?.status !== 'exited' && session?.activity === 'unreachable';
}

/**
 * An ISO time in local time: "14:05" today, else "2026-11-25 14:05"; `full` always gives the date and the
 * seconds ("2026-11-25 14:05:09", as ao-server's own messages write it). Undefined for anything not a time.
 */
export function formatLocalTime(iso: string | null | undefined, now: number = Date.now(), full = false): string | undefined {
    const t = iso ? Date.parse(iso) : NaN;
    if (Number.isNaN(t)) {
        return undefined;
    }
    const d = new Date(t);
    const today = new Date(now);
    const pad = (n: number) => String(n).padStart(2, '0');
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${full ? `:${pad(d.getSeconds())}` : ''}`;
    const sameDay = d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
    return sameDay && !full ? time : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** "unreachable since 14:05" (local time), or "unreachable" when the server did not say since when. */
export function unreachableText(session: Session, now: number = Date.now()): string {
    const since = formatLocalTime(session.unreachableSince, now);
    return since ? `unreachable since ${since}` : 'unreachable';
}

/** "@build1" for a session on a remote host; undefined for one on the server's own machine. */
export function hostText(session: Session): string | undefined {
    return typeof session.host === 'string' && session.host !== '' ? `@${session.host}` : undefined;
}

/** One word for where the session is: its activity while running, its outcome once exited. */
export function stateWord(session: Session): string {
    if (session.status === 'exited') {
        switch (session.outcome?.result) {
            case 'success':
                return 'finished';
            case 'error':
                return 'failed';
            case 'killed':
                return 'killed';
            case 'incomplete':
                return 'stopped mid-task';
            case 'over_budget':
                return 'over budget';
            default:
                return typeof session.exitCode === 'number' ? `exited (${session.exitCode})` : 'exited';
        }
    }
    if (isUnreachable(session)) {
        return 'unreachable'; // before "waiting for you": its host cannot take an answer now
    }
    if (pendingOf(session).length > 0) {
        return 'waiting for you';
    }
    if (!session.activity) {
        return 'running';
    }
    return session.activity === 'waiting_input' ? 'waiting for input' : session.activity;
}

/**
 * "active · $0.0123 · 3m"; with a budget "active · $1.20 · 60% of $2.00 session budget · 3m"; on a remote host
 * "active · @build1 · $0.0123 · 3m", and "unreachable since 14:05 · @build1 · ..." while its host does not answer.
 */
export function describeSession(session: Session, now: number = Date.now()): string {
    const state = isUnreachable(session) ? unreachableText(session, now) : stateWord(session);
    return [state, hostText(session), formatCost(session), budgetText(session.budget), formatAge(session.createdAt, now)]
        .filter(Boolean).join(' · ');
}

export function sessionIcon(session: Session): vscode.ThemeIcon {
    if (session.status === 'exited') {
        switch (session.outcome?.result) {
            case 'success':
                return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
            case 'error':
            case 'over_budget':
                return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
            case 'killed':
                return new vscode.ThemeIcon('circle-slash');
            default:
                return new vscode.ThemeIcon('circle-outline');
        }
    }
    if (isUnreachable(session)) {
        return new vscode.ThemeIcon('debug-disconnect', new vscode.ThemeColor('charts.orange'));
    }
    if (pendingOf(session).length > 0) {
        return new vscode.ThemeIcon('bell-dot', new vscode.ThemeColor('charts.yellow'));
    }
    switch (session.activity) {
        case 'active':
            return new vscode.ThemeIcon('sync~spin', new vscode.ThemeColor('charts.blue'));
        case 'ready':
            return new vscode.ThemeIcon('check', new vscode.ThemeColor('charts.green'));
        case 'idle':
            return new vscode.ThemeIcon('watch');
        case 'waiting_input':
            return new vscode.ThemeIcon('comment-discussion', new vscode.ThemeColor('charts.yellow'));
        case 'blocked':
            return new vscode.ThemeIcon('warning', new vscode.ThemeColor('charts.orange'));
        default:
            return new vscode.ThemeIcon('loading~spin');
    }
}

/** The exit notification's text: "my-project/agent-3 finished" / "... failed: <error>". */
export function exitMessage(sessionId: string, outcome: StatusChanged['outcome'], exitCode: number | null): string {
    switch (outcome?.result) {
        case 'success':
            return `${sessionId} finished`;
        case 'error':
            return `${sessionId} failed: ${errorText(outcome.error) ?? `exit code ${exitCode ?? '?'}`}`;
        case 'killed':
            return `${sessionId} was killed`;
        case 'incomplete':
            return `${sessionId} stopped before finishing${errorText(outcome.error) ? `: ${errorText(outcome.error)}` : ''}`;
        case 'over_budget':
            // "my-project/agent-3 was stopped: over budget: $2.03 of $2.00 (session)"
            return `${sessionId} was stopped: ${errorText(outcome.error) ?? 'over budget'}`;
        default:
            return exitCode !== null && exitCode !== 0 ? `${sessionId} failed: exit code ${exitCode}` : `${sessionId} exited`;
    }
}

/** An outcome's error as one line of text (it is a string in ao-server; be lenient). */
export function errorText(error: unknown): string | undefined {
    if (error === null || error === undefined || error === '') {
        return undefined;
    }
    if (typeof error === 'string') {
        return error;
    }
    if (typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
        return (error as { message: string }).message;
    }
    return String(JSON.stringify(error));
}
