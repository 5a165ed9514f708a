/**
 * The status bar item: running/exited counts; a click opens the Sessions view.
 */
import * as vscode from 'vscode';
import { Commands } from './common/constants';
import { ServerState } from './common/server';
import { SessionStore } from './sessions';

export class SessionsStatusBar implements vscode.Disposable {
    readonly item: vscode.StatusBarItem;
    private state: ServerState = 'stopped';
    private readonly subscriptions: vscode.Disposable[] = [];

    constructor(private readonly store: SessionStore) {
        this.item = vscode.window.createStatusBarItem('ao.sessions', vscode.StatusBarAlignment.Left, 50);
        this.item.name = 'AO Sessions';
        this.subscriptions.push(store.onDidChange(() => this.render()));
        this.render();
        this.item.show();
    }

    setServerState(state: ServerState): void {
        this.state = state;
        this.render();
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
        this.item.backgroundColor = undefined;
        this.item.command = Commands.focusSessions;
        const spin = running > 0 ? '$(sync~spin)' : '$(hubot)';
        this.item.text = `${spin} AO: ${running} running, ${exited} exited`;
        this.item.tooltip = `${running} running, ${exited} exited agent sessions${this.state === 'starting' ? ' (ao-server is starting)' : ''}. Click to open the Sessions view.`;
    }

    dispose(): void {
        this.subscriptions.forEach((d) => {
            d.dispose();
        });
        this.item.dispose();
    }
}
