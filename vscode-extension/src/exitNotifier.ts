/**
 * The notification shown when a session exits: "my-project/agent-3 finished" or
 * "my-project/agent-3 failed: <error>", with the buttons Attach and Show Logs.
 */
import * as vscode from 'vscode';
import { Commands } from './common/constants';
import { StatusChanged } from './common/protocol';
import { exitMessage } from './sessions';

export const ATTACH = 'Attach';
export const SHOW_LOGS = 'Show Logs';

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
    const show = bad ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    const pick = await show(text, ATTACH, SHOW_LOGS);
    if (pick === ATTACH) {
        await vscode.commands.executeCommand(Commands.attach, change.sessionId);
    } else if (pick === SHOW_LOGS) {
        await vscode.commands.executeCommand(Commands.logs, change.sessionId);
    }
    return pick;
}
