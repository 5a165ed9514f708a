/**
 * Entry point: the "AO" output channel, the session store, the Sessions view, the status bar item, the
 * commands, and one ao-server for the window whose `ao/statusChanged` notifications keep them current.
 */
import * as vscode from 'vscode';
import { CONFIG_SECTION, OUTPUT_CHANNEL_NAME, Views } from './common/constants';
import { AoApi, StatusChanged } from './common/protocol';
import { ServerManager, describeError } from './common/server';
import { CommandContext, registerCommands } from './commands';
import { isExit, notifyExit } from './exitNotifier';
import { SessionStore } from './sessions';
import { SessionsTreeProvider } from './sessionsTree';
import { SessionsStatusBar } from './statusBar';

/** How often the view re-reads everything while agents run (cost and age are not pushed). */
export const REFRESH_INTERVAL_MS = 15_000;

/** What `activate` returns: the parts, for tests and for other extensions. */
export interface AoExtension {
    server: ServerManager;
    store: SessionStore;
    tree: SessionsTreeProvider;
    statusBar: SessionsStatusBar;
    output: vscode.OutputChannel;
    /** Resolves when the first start attempt is over (true when the server runs). */
    started: Promise<boolean>;
    /** Every `ao/statusChanged` received, in order (bounded). */
    changes: StatusChanged[];
    refresh(): Promise<void>;
}

let current: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): AoExtension {
    const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME);
    const store = new SessionStore();
    const tree = new SessionsTreeProvider(store);
    const statusBar = new SessionsStatusBar(store);
    const changes: StatusChanged[] = [];

    const refresh = async (api?: AoApi): Promise<void> => {
        const live = api ?? (await server.ready());
        if (live) {
            store.replaceAll(await live.status());
        }
    };

    const server: ServerManager = new ServerManager({
        output,
        hooks: {
            onReady: (api) => {
                refresh(api).catch((e: unknown) => output.appendLine(`[ao] ao/status failed: ${describeError(e)}`));
            },
            onStateChanged: (state) => statusBar.setServerState(state),
            onStatusChanged: (change) => {
                changes.push(change);
                if (changes.length > 1000) {
                    changes.splice(0, changes.length - 1000);
                }
                if (!store.apply(change)) {
                    refresh().catch((e: unknown) => output.appendLine(`[ao] ao/status failed: ${describeError(e)}`));
                }
                if (isExit(change)) {
                    output.appendLine(`[ao] ${change.sessionId} exited: ${change.outcome?.result ?? change.exitCode}`);
                    void notifyExit(change);
                }
            },
        },
    });

    const treeView = vscode.window.createTreeView(Views.sessions, { treeDataProvider: tree, showCollapseAll: true });
    const commandContext: CommandContext = { server, store, output, refresh: () => refresh() };

    // Ages move on and costs are not pushed: re-read while something runs, re-render otherwise.
    const timer = setInterval(() => {
        if (server.state === 'running' && store.counts().running > 0) {
            refresh().catch(() => undefined);
        } else {
            tree.refresh();
        }
    }, REFRESH_INTERVAL_MS);

    context.subscriptions.push(
        output,
        store,
        tree,
        treeView,
        statusBar,
        ...registerCommands(commandContext),
        { dispose: () => clearInterval(timer) },
        vscode.workspace.onDidChangeWorkspaceFolders(() => {
            output.appendLine('[ao] workspace folders changed: restarting ao-server for their projects');
            void server.restart();
        }),
        vscode.workspace.onDidChangeConfiguration((e) => {
            if (e.affectsConfiguration(CONFIG_SECTION)) {
                output.appendLine('[ao] settings changed: restarting ao-server');
                void server.restart();
            }
        }),
        { dispose: () => void server.dispose() },
    );

    current = server;
    const started = server.start().then((api) => api !== undefined);
    return { server, store, tree, statusBar, output, started, changes, refresh: () => refresh() };
}

/** Stops the server (shutdown, exit); the agents keep running, they belong to the user. */
export async function deactivate(): Promise<void> {
    const server = current;
    current = undefined;
    await server?.dispose();
}
