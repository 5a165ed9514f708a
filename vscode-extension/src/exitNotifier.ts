/**
 * The notification shown when a session exits: "my-project/agent-3 finished" or
 * "my-project/agent-3 failed: <error>", with the buttons Attach and Show Logs (and Review Changes first when
 * a session with a git worktree finished); an error notification when
 * ao stopped it over budget. And the warning, once, when a session's budget reaches 80 %.
 */
import * as vscode from 'vscode';
import { Commands } from './common/constants';
import { BudgetState, Session, StatusChanged } from './common/protocol';
import { hasWorktree } from './review';
import { exitMessage, formatLimit, formatUsd } from './sessions';

export const ATTACH = 'Attach';
export const SHOW_LOGS = 'Show Logs';
export const REVIEW_CHANGES = 'Review Changes';

/** True when the notification reports a session that has just exited. */
export function isExit(change: StatusChanged): boolean {
    return change.status === 'exited' && change.previous !== 'exited';
}

/** Shows the exit notification for a change when it is an exit; resolves with the button picked. */
export async function notifyExit(change: StatusChanged): Promise<string | undefined> {
    if (!isExit(change)) {
        return undefined;
    }
    const text = exitMessage(change.sessionId, change.outcome, change.exitCode);
    const result = change.outcome?.result;
    const bad = result === 'error' || result === 'incomplete'
        || (result !== 'success' && result !== 'killed' && change.exitCode !== null && change.exitCode !== 0);
    const show = result === 'over_budget' ? vscode.window.showErrorMessage
        : bad ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const session = change.session as Session | undefined; // an older server leaves it out
    const review = result === 'success' && hasWorktree(session);
    const pick = await (review ? show(text, REVIEW_CHANGES, ATTACH, SHOW_LOGS) : show(text, ATTACH, SHOW_LOGS));
    if (pick === REVIEW_CHANGES) {
        await vscode.commands.executeCommand(Commands.reviewChanges, change.sessionId);
    } else if (pick === ATTACH) {
        await vscode.commands.executeCommand(Commands.attach, change.sessionId);
    } else if (pick === SHOW_LOGS) {
        await vscode.commands.executeCommand(Commands.logs, change.sessionId);
    }
    return pick;
}

/** The server sends `ao/statusChanged` when a budget crosses this fraction (and again at 1, when it stops). */
export const BUDGET_WARN_FRACTION = 0.8;

/**
 * The 80 % warning, once per budget: once per session for a session budget, once per project (or per day)
 * for a shared one, however many sessions and later changes report it. An over-budget exit is the exit
 * notification's error instead.
 */
export class BudgetWarnings {
    private readonly warned = new Set<string>();

    /** Shows the warning when this change is the first to report the budget at 80 % or more. */
    notify(change: StatusChanged): Thenable<string | undefined> | undefined {
        const budget = change.budget ?? (change.session as StatusChanged['session'] | undefined)?.budget;
        if (!budget || !(budget.fraction >= BUDGET_WARN_FRACTION) || change.outcome?.result === 'over_budget') {
            return undefined;
        }
        const key = budgetKey(change, budget);
        if (this.warned.has(key)) {
            return undefined;
        }
        this.warned.add(key);
        return vscode.window.showWarningMessage(budgetWarning(change.sessionId, change.project, budget));
    }
}

function budgetKey(change: StatusChanged, budget: BudgetState): string {
    switch (budget.scope) {
        case 'project':
            return `project:${change.project}:${budget.limit}`;
        case 'day': {
            const d = new Date();
            return `day:${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}:${budget.limit}`;
        }
        default:
            return `session:${change.sessionId}`;
    }
}

/** "AO: my-project/agent-3 has spent $1.62, 81% of its $2.00 session budget; ao stops it at $2.00." */
export function budgetWarning(sessionId: string, project: string, budget: BudgetState): string {
    const pct = `${Math.floor(budget.fraction * 100)}%`;
    const spent = formatUsd(budget.usd) ?? '?';
    const limit = formatLimit(budget.limit);
    switch (budget.scope) {
        case 'project':
            return `AO: project ${project} has spent ${spent}, ${pct} of its ${limit} budget; ao stops its agents at ${limit}.`;
        case 'day':
            return `AO: today's spend is ${spent}, ${pct} of the ${limit} daily budget; ao stops agents at ${limit}.`;
        default:
            return `AO: ${sessionId} has spent ${spent}, ${pct} of its ${limit} session budget; ao stops it at ${limit}.`;
    }
}
