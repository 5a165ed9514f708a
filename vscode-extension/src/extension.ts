/**
 * Entry point: the "AO" log output channel, the session store, the Sessions view, the status bar item, the
 * commands, and one ao-server for the window whose `ao/statusChanged` notifications keep them current.
 */
import * as vscode from 'vscode';
import { CONFIG_SECTION, Commands, OUTPUT_CHANNEL_NAME, Views } from './common/constants';
import { AoApi, InputRequested, StatusChanged } from './common/protocol';
import { InstallError, Installer, versionAdvice } from './common/install';
import { ServerManager, describeError } from './common/server';
import { Argv, CommandChoice, MANAGED_SOURCE, pythonInterpreterFromExtension } from './common/settings';
import { CommandContext, registerCommands } from './commands';
import { BudgetWarnings, isExit, notifyExit } from './exitNotifier';
import { InputPrompts } from './inputRequests';
import { SessionStore } from './sessions';
import { SessionsTreeProvider } from './sessionsTree';
import { SessionsStatusBar } from './statusBar';

/** How often the view re-reads everything while agents run (cost and age are not pushed). */
export const REFRESH_INTERVAL_MS = 15_000;

/** The `ao.*` settings the server is started with: changing one restarts it. */
const SERVER_SETTINGS = ['server', 'pollInterval', 'configPath', 'stateDir'];

/** What `activate` returns: the parts, for tests and for other extensions. */
export interface AoExtension {
    server: ServerManager;
    store: SessionStore;
    tree: SessionsTreeProvider;
    statusBar: SessionsStatusBar;
    /** The "AO" log: the extension's messages, the language client's and the server's stderr. */
    output: vscode.LogOutputChannel;
    /** Resolves when the first start attempt is over (true when the server runs). */
    started: Promise<boolean>;
    /** Every `ao/statusChanged` received, in order (bounded). */
    changes: StatusChanged[];
    /** Every `ao/inputRequested` received, in order (bounded). */
    inputRequests: InputRequested[];
    /** The prompts of live agents' requests. */
    prompts: InputPrompts;
    refresh(): Promise<void>;
}

let current: ServerManager | undefined;

export function activate(context: vscode.ExtensionContext): AoExtension {
    const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL_NAME, { log: true });
    const store = new SessionStore();
    // A session's changed files: ao/changes, asked of the running server only (expanding never starts one).
    const tree = new SessionsTreeProvider(store, Date.now, async (sessionId) =>
        (server.state === 'running' ? (await server.ready())?.changes(sessionId) : undefined));
    // Today's spend in its tooltip: asked of the running server only (never starts one).
    const statusBar = new SessionsStatusBar(store, () => server.ready());
    const budgetWarnings = new BudgetWarnings();
    const changes: StatusChanged[] = [];
    const inputRequests: InputRequested[] = [];
    const prompts = new InputPrompts({ server: { ready: () => server.ready() }, store, output });

    const refresh = async (api?: AoApi): Promise<void> => {
        const live = api ?? (await server.ready());
        if (live) {
            const sessions = await live.status();
            store.replaceAll(sessions);
            void prompts.promptPending(sessions); // asked before this window knew (each request is prompted once)
        }
    };

    // "Install ao-server": only in a real extension host (global storage and the .vsix's own folder).
    const ctx = context as Partial<vscode.ExtensionContext>;
    const storage = ctx.globalStorageUri?.fsPath;
    const extensionDir = ctx.extensionUri?.fsPath;
    const installer = storage && extensionDir
        ? new Installer({
            storageDir: storage,
            extensionDir,
            output,
            pythonInterpreter: () => pythonInterpreterFromExtension(vscode.workspace.workspaceFolders?.[0]?.uri),
        })
        : undefined;
    const extensionVersion = (ctx.extension?.packageJSON as { version?: string } | undefined)?.version;
    let installing: Promise<boolean> | undefined;
    let offered = false;
    let versionChecked = false;

    const install = (upgrade: boolean): Promise<boolean> => {
        installing ??= runInstall(upgrade).finally(() => {
            installing = undefined;
        });
        return installing;
    };

    const runInstall = async (upgrade: boolean): Promise<boolean> => {
        if (!installer) {
            void vscode.window.showErrorMessage('AO: this window cannot install ao-server (no extension storage); set "ao.server.command".');
            return false;
        }
        output.info(`${upgrade ? 'upgrading' : 'installing'} ao-server into ${installer.venvDir}`);
        try {
            await vscode.window.withProgress(
                { location: vscode.ProgressLocation.Notification, title: upgrade ? 'AO: Upgrading ao-server' : 'AO: Installing ao-server', cancellable: false },
                async (progress) => {
                    await installer.install((message) => {
                        output.info(message);
                        progress.report({ message });
                    }, upgrade);
                    progress.report({ message: 'starting ao-server' });
                    await server.restart();
                },
            );
        } catch (e) {
            const text = e instanceof InstallError ? e.message : describeError(e);
            output.error(`installing ao-server failed: ${text}`);
            void vscode.window.showErrorMessage(`AO: installing ao-server failed: ${text}.`, 'Show Output', 'Retry').then((pick) => {
                if (pick === 'Show Output') {
                    output.show(true);
                } else if (pick === 'Retry') {
                    void install(upgrade);
                }
            });
            return false;
        }
        if (server.state !== 'running') {
            return false;
        }
        void vscode.window.showInformationMessage(`AO: ao-server ${server.serverVersion ?? ''} is installed and running.`.replace('  ', ' '));
        return true;
    };

    const offerInstall = (choice: CommandChoice, reason: string): void => {
        if (offered || installing) {
            return;
        }
        offered = true;
        const why = [...choice.skipped.slice(0, 1), reason.replace(/^it exited with code \d+: /, '')].join('; ');
        const text = `AO: ao-server is not installed (${why}). Install the ao-server that comes with this extension? ` +
            'It goes into a private Python environment of the extension; nothing else on the system changes.';
        output.warn(text);
        void vscode.window.showWarningMessage(text, 'Install ao-server', 'Open Settings', 'Show Output').then((pick) => {
            offered = false;
            if (pick === 'Install ao-server') {
                void install(false);
            } else if (pick === 'Open Settings') {
                void vscode.commands.executeCommand('workbench.action.openSettings', 'ao.server.command');
            } else if (pick === 'Show Output') {
                output.show(true);
            }
        });
    };

    const checkVersion = (): void => {
        if (versionChecked) {
            return;
        }
        versionChecked = true;
        const managed = server.choice?.command.source === MANAGED_SOURCE;
        const advice = versionAdvice(server.serverVersion, extensionVersion, managed);
        if (!advice) {
            return;
        }
        output.warn(advice.message);
        if (!installer) {
            return;
        }
        void vscode.window.showWarningMessage(advice.message, advice.action).then((pick) => {
            if (pick) {
                void install(managed);
            }
        });
    };

    const server: ServerManager = new ServerManager({
        output,
        workDir: () => storage,
        managed: (): Argv | undefined => installer?.serverArgv(),
        onMissing: installer ? (choice, reason) => offerInstall(choice, reason) : undefined,
        hooks: {
            onReady: (api) => {
                checkVersion();
                refresh(api).catch((e: unknown) => output.error(`ao/status failed: ${describeError(e)}`));
            },
            onStateChanged: (state) => statusBar.setServerState(state),
            onStatusChanged: (change) => {
                changes.push(change);
                if (changes.length > 1000) {
                    changes.splice(0, changes.length - 1000);
                }
                tree.forgetChanges(change.sessionId); // its files are read again when shown
                if (!store.apply(change)) {
                    refresh().catch((e: unknown) => output.error(`ao/status failed: ${describeError(e)}`));
                }
                if (isExit(change)) {
                    output.info(`${change.sessionId} exited: ${change.outcome?.result ?? change.exitCode}`);
                    void notifyExit(change);
                }
                void budgetWarnings.notify(change);
            },
            onInputRequested: (note) => {
                inputRequests.push(note);
                if (inputRequests.length > 1000) {
                    inputRequests.splice(0, inputRequests.length - 1000);
                }
                if (!store.get(note.sessionId)) {
                    refresh().catch((e: unknown) => output.error(`ao/status failed: ${describeError(e)}`));
                }
                void prompts.onInputRequested(note);
            },
        },
    });

    const treeView = vscode.window.createTreeView(Views.sessions, { treeDataProvider: tree, showCollapseAll: true });
    const commandContext: CommandContext = {
        server, store, output, prompts, refresh: () => refresh(), forgetChanges: (sessionId) => tree.forgetChanges(sessionId),
    };

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
        vscode.commands.registerCommand(Commands.installServer, () => install(installer?.serverArgv() !== undefined)),
        { dispose: () => clearInterval(timer) },
        vscode.workspace.onDidChangeWorkspaceFolders(() => {
            output.info('workspace folders changed: restarting ao-server for their projects');
            void server.restart();
        }),
        vscode.workspace.onDidChangeConfiguration((e) => {
            // What the server is started with; `ao.spawn.*` is read at each spawn.
            if (SERVER_SETTINGS.some((key) => e.affectsConfiguration(`${CONFIG_SECTION}.${key}`))) {
                output.info('settings changed: restarting ao-server');
                void server.restart();
            }
        }),
        { dispose: () => void server.dispose() },
    );

    current = server;
    const started = server.start().then((api) => api !== undefined);
    return { server, store, tree, statusBar, output, started, changes, inputRequests, prompts, refresh: () => refresh() };
}

/** Stops the server (shutdown, exit); the agents keep running, they belong to the user. */
export async function deactivate(): Promise<void> {
    const server = current;
    current = undefined;
    await server?.dispose();
}
