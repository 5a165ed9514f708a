/**
 * Starting, restarting and stopping ao-server through vscode-languageclient.
 *
 * We spawn the process ourselves (ServerOptions as a function) so that a server that cannot start is
 * understood: not found, not executable, exited with a code and a last stderr line, or silent. Its
 * stderr goes to the "AO" output channel (the language client pipes it there); the client never shows
 * its own error popups, we show one actionable message instead.
 */
import * as cp from 'child_process';
import * as os from 'os';
import * as vscode from 'vscode';
import {
    CloseAction,
    ErrorAction,
    LanguageClient,
    LanguageClientOptions,
    RevealOutputChannelOn,
    State,
} from 'vscode-languageclient/node';
import { Commands, Notifications, SERVER_ID, SERVER_NAME } from './constants';
import { AoApi, StatusChanged } from './protocol';
import {
    AoSettings,
    Argv,
    CommandChoice,
    CommandLookups,
    SETTING_SOURCE,
    chooseServerCommand,
    getSettings,
    initializationOptions,
    pythonInterpreterFromExtension,
    which,
} from './settings';

/** How long the server may take to answer `initialize`. */
export const START_TIMEOUT_MS = 30_000;

/** The language client, with every client-side error kept in the output channel instead of a popup. */
class AoLanguageClient extends LanguageClient {
    override error(message: string, data?: unknown, _showNotification?: boolean | 'force'): void {
        super.error(message, data, false);
    }

    /** Never rejects: the client calls `void this.stop()` itself after a failed initialize, even when it
     * is not running, which would be an unhandled rejection. */
    override async stop(timeout?: number): Promise<void> {
        try {
            await super.stop(timeout);
        } catch (e) {
            this.outputChannel.appendLine(`[ao] stopping the client: ${describeError(e)}`);
        }
    }
}

// vscode-languageclient 9.0.1: when the server dies while starting, start() returns its reset `_onStart`
// (undefined) and the promise it then rejects is observed by nobody: an unhandled rejection. Observe it;
// ServerManager reads the client's state instead.
type StartPromise = [Promise<void>, () => void, (error: unknown) => void];
const createOnStartPromise = (LanguageClient.prototype as unknown as {
    createOnStartPromise: (this: LanguageClient) => StartPromise;
}).createOnStartPromise;
if (typeof createOnStartPromise === 'function') {
    Object.defineProperty(AoLanguageClient.prototype, 'createOnStartPromise', {
        value: function (this: LanguageClient): StartPromise {
            const made = createOnStartPromise.call(this);
            made[0].catch(() => undefined);
            return made;
        },
    });
}

/** Why a start failed, in words for the message. */
class StartFailure extends Error {}

interface ProcessInfo {
    child?: cp.ChildProcess;
    exit?: { code: number | null; signal: NodeJS.Signals | null };
    /** The end of its stderr (the full stream goes to the output channel). */
    stderr: string;
}

export type ServerState = 'stopped' | 'starting' | 'running' | 'failed';

export interface ServerHooks {
    /** A `ao/statusChanged` notification arrived. */
    onStatusChanged(change: StatusChanged): void;
    /** The server is up (after a start or a restart). */
    onReady(api: AoApi): void;
    /** The state changed (for the status bar). */
    onStateChanged?(state: ServerState): void;
}

export interface ServerManagerOptions {
    output: vscode.OutputChannel;
    hooks: ServerHooks;
    /**
     * Called instead of the start-failure message when no server was configured and none was found
     * (not on PATH, no `ao_server` module): the extension offers to install the bundled one.
     */
    onMissing?(choice: CommandChoice, reason: string): void;
    /** The ao-server the extension installed, if any (tried right after the setting). */
    managed?(): Argv | undefined;
    /** Defaults to PATH and the Python extension. */
    lookups?: CommandLookups;
    /** Defaults to the first workspace folder. */
    folder?: () => vscode.WorkspaceFolder | undefined;
    startTimeoutMs?: number;
}

/**
 * One ao-server for the window. `ready()` gives the API, starting the server when needed; a failure is
 * shown once (per attempt) as a message naming what was tried and how to set `ao.server.command`.
 */
export class ServerManager implements vscode.Disposable {
    private client: LanguageClient | undefined;
    private api: AoApi | undefined;
    private proc: ProcessInfo = { stderr: '' };
    private starting: Promise<AoApi | undefined> | undefined;
    private _state: ServerState = 'stopped';
    private crashes: number[] = [];
    private disposed = false;
    /** The last start failure message (also shown to the user). */
    lastFailure: string | undefined;
    /** The command of the running (or last tried) server. */
    choice: CommandChoice | undefined;
    /** `serverInfo.version` of the running server. */
    serverVersion: string | undefined;

    constructor(private readonly options: ServerManagerOptions) {}

    get state(): ServerState {
        return this._state;
    }

    /** The API when running; otherwise starts the server (once at a time). Undefined when it cannot start. */
    async ready(): Promise<AoApi | undefined> {
        if (this.api && this._state === 'running') {
            return this.api;
        }
        return this.start();
    }

    start(): Promise<AoApi | undefined> {
        if (!this.starting) {
            this.starting = this.doStart().finally(() => {
                this.starting = undefined;
            });
        }
        return this.starting;
    }

    async restart(): Promise<AoApi | undefined> {
        if (this.starting) {
            await this.starting;
        }
        await this.stop();
        this.crashes = [];
        return this.start();
    }

    async stop(): Promise<void> {
        const client = this.client;
        const proc = this.proc;
        this.client = undefined;
        this.api = undefined;
        if (client) {
            try {
                if (client.state !== State.Stopped) {
                    await client.stop(3000);
                }
            } catch (e) {
                this.options.output.appendLine(`[ao] stopping the server: ${describeError(e)}`);
            }
            try {
                await client.dispose(1000);
            } catch {
                // already stopped
            }
        }
        killLater(proc);
        this.setState('stopped');
    }

    async dispose(): Promise<void> {
        this.disposed = true;
        await this.stop();
    }

    private setState(state: ServerState): void {
        if (this._state !== state) {
            this._state = state;
            this.options.hooks.onStateChanged?.(state);
        }
    }

    private folder(): vscode.WorkspaceFolder | undefined {
        return this.options.folder ? this.options.folder() : vscode.workspace.workspaceFolders?.[0];
    }

    private async doStart(): Promise<AoApi | undefined> {
        if (this.disposed) {
            return undefined;
        }
        if (this.client) {
            await this.stop();
        }
        const output = this.options.output;
        const folder = this.folder();
        const settings = getSettings(folder);
        const lookups: CommandLookups = this.options.lookups ?? {
            which: (name) => which(name),
            pythonInterpreter: () => pythonInterpreterFromExtension(folder?.uri),
            managed: () => this.options.managed?.(),
        };
        const choice = await chooseServerCommand(settings.serverCommand, lookups);
        this.choice = choice;
        this.setState('starting');
        const proc: ProcessInfo = { stderr: '' };
        this.proc = proc;
        const cwd = folder?.uri.fsPath ?? os.homedir();
        output.appendLine(`[ao] starting ${quoteArgv(choice.command.argv)} (${choice.command.source}) in ${cwd}`);
        const client = this.createClient(choice, settings, cwd, proc);
        this.client = client;
        const api = new AoApi(client);
        client.onNotification(Notifications.statusChanged, (change: StatusChanged) => {
            try {
                this.options.hooks.onStatusChanged(change);
            } catch (e) {
                output.appendLine(`[ao] handling ${Notifications.statusChanged} failed: ${describeError(e)}`);
            }
        });
        let timer: NodeJS.Timeout | undefined;
        try {
            const timeout = new Promise<never>((_, reject) => {
                timer = setTimeout(
                    () => reject(new StartFailure(`it did not answer \`initialize\` within ${Math.round(this.timeoutMs() / 1000)} s`)),
                    this.timeoutMs(),
                );
            });
            const starting = client.start();
            starting.catch(() => undefined); // the race below may leave it unobserved
            await Promise.race([starting, timeout]);
            if (!client.isRunning()) {
                // vscode-languageclient 9 may resolve start() after a failed start (it returns a reset
                // promise); its state tells the truth.
                throw new Error('the connection to the server closed while starting');
            }
        } catch (e) {
            const reason = await this.failureReason(e, proc);
            const message = startFailureMessage(choice, reason);
            this.lastFailure = message;
            output.appendLine(`[ao] ${message}`);
            this.client = undefined;
            try {
                await client.dispose(1000);
            } catch {
                // never started
            }
            killLater(proc);
            this.setState('failed');
            if (this.options.onMissing && choice.command.source !== SETTING_SOURCE && isMissingServer(reason)) {
                this.options.onMissing(choice, reason);
            } else {
                void showStartFailure(message, output);
            }
            return undefined;
        } finally {
            clearTimeout(timer);
        }
        if (this.client !== client) {
            return undefined; // stopped while starting
        }
        this.lastFailure = undefined;
        this.serverVersion = client.initializeResult?.serverInfo?.version;
        this.api = api;
        this.setState('running');
        output.appendLine(`[ao] ao-server is running (pid ${proc.child?.pid ?? '?'})`);
        this.options.hooks.onReady(api);
        return api;
    }

    private timeoutMs(): number {
        return this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    }

    private createClient(
        choice: CommandChoice,
        settings: AoSettings,
        cwd: string,
        proc: ProcessInfo,
    ): LanguageClient {
        const [command, ...args] = choice.command.argv;
        const serverOptions = (): Promise<cp.ChildProcess> =>
            new Promise<cp.ChildProcess>((resolve, reject) => {
                let child: cp.ChildProcess;
                try {
                    child = cp.spawn(command, args, { cwd, env: process.env, stdio: 'pipe' });
                } catch (e) {
                    reject(new StartFailure(spawnErrorReason(command, e)));
                    return;
                }
                proc.child = child;
                child.stderr?.on('data', (data: Buffer | string) => {
                    proc.stderr = (proc.stderr + data.toString()).slice(-4000);
                });
                child.once('exit', (code, signal) => {
                    proc.exit = { code, signal };
                    this.options.output.appendLine(`[ao] ao-server exited (${signal ? `signal ${signal}` : `code ${code}`})`);
                });
                child.once('spawn', () => resolve(child));
                child.once('error', (e) => reject(new StartFailure(spawnErrorReason(command, e))));
            });
        const clientOptions: LanguageClientOptions = {
            documentSelector: [],
            outputChannel: this.options.output,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationOptions: initializationOptions(settings),
            // No `workspaceFolder`: that would lock the client to one folder, and a multi-root window
            // must send every folder in `initialize` (the server offers each folder's projects).
            initializationFailedHandler: () => false,
            errorHandler: {
                error: () => ({ action: ErrorAction.Continue, handled: true }),
                closed: () => this.onClosed(),
            },
        };
        return new AoLanguageClient(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
    }

    /** The connection closed: restart a server that was running (at most 3 times in 3 minutes). */
    private async onClosed(): Promise<{ action: CloseAction; handled: boolean; message?: string }> {
        const proc = this.proc;
        if (this._state !== 'running' || this.disposed) {
            return { action: CloseAction.DoNotRestart, handled: true };
        }
        const now = Date.now();
        this.crashes = this.crashes.filter((t) => now - t < 180_000);
        this.crashes.push(now);
        this.api = undefined;
        const old = this.client;
        this.client = undefined;
        // Let the client finish its own close handling, then release what it registered (commands...).
        const release = () => new Promise<void>((resolve) => setTimeout(resolve, 300))
            .then(() => old?.dispose(1000))
            .catch(() => undefined);
        // The pipe usually closes just before the process is reaped: give it a moment to say how it ended.
        for (let i = 0; i < 20 && !proc.exit; i++) {
            await new Promise((r) => setTimeout(r, 25));
        }
        const exit = proc.exit;
        const how = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) : 'closed its connection';
        const message = `the connection to ao-server closed (ao-server ${how})`;
        if (this.crashes.length <= 3) {
            this.options.output.appendLine(`[ao] ao-server ${how}; starting it again`);
            this.setState('stopped');
            void release().then(() => this.start());
        } else {
            this.setState('failed');
            void release();
            const text = `AO: ao-server ${how} ${this.crashes.length} times in 3 minutes and was not started again.`;
            this.lastFailure = text;
            void vscode.window.showErrorMessage(text, 'Restart Server', 'Show Output').then((pick) => {
                if (pick === 'Restart Server') {
                    void vscode.commands.executeCommand(Commands.restartServer);
                } else if (pick === 'Show Output') {
                    this.options.output.show(true);
                }
            });
        }
        return { action: CloseAction.DoNotRestart, handled: true, message };
    }

    private async failureReason(error: unknown, proc: ProcessInfo): Promise<string> {
        if (error instanceof StartFailure) {
            return error.message;
        }
        // The process started and then went away: give it a moment to report its exit code.
        for (let i = 0; i < 20 && proc.child && !proc.exit && proc.child.exitCode === null; i++) {
            await new Promise((r) => setTimeout(r, 50));
        }
        const exit = proc.exit ?? (proc.child?.exitCode !== null && proc.child?.exitCode !== undefined
            ? { code: proc.child.exitCode, signal: null } : undefined);
        const last = lastMeaningfulLine(proc.stderr);
        if (exit) {
            const how = exit.signal ? `it was killed by ${exit.signal}` : `it exited with code ${exit.code}`;
            return last ? `${how}: ${last}` : how;
        }
        const text = describeError(error);
        return last ? `${text} (${last})` : text;
    }
}

function spawnErrorReason(command: string, error: unknown): string {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'ENOENT') {
        return `\`${command}\` was not found`;
    }
    if (code === 'EACCES') {
        return `\`${command}\` is not executable`;
    }
    return `it could not be started: ${describeError(error)}`;
}

/** A start that failed because there is no server at all (as opposed to one that is broken). */
export function isMissingServer(reason: string): boolean {
    return /was not found|No module named '?ao_server'?(?![\w.])/.test(reason);
}

/** The last line of stderr that says something. */
export function lastMeaningfulLine(text: string): string | undefined {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
    const last = lines.at(-1);
    return last === undefined ? undefined : last.length > 300 ? last.slice(0, 297) + '...' : last;
}

/** The one message shown when the server cannot start. */
export function startFailureMessage(choice: CommandChoice, reason: string): string {
    const tried = choice.skipped.length > 0 ? ` Looked for: ${choice.skipped.join('; ')}.` : '';
    return (
        `AO: could not start ao-server with \`${quoteArgv(choice.command.argv)}\` (${choice.command.source}): ${reason}.${tried} ` +
        'Install ao-server in a Python environment, or set "ao.server.command" to the command that starts it, ' +
        'e.g. ["/path/to/venv/bin/python", "-m", "ao_server"].'
    );
}

async function showStartFailure(message: string, output: vscode.OutputChannel): Promise<void> {
    const pick = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Output');
    if (pick === 'Open Settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'ao.server.command');
    } else if (pick === 'Show Output') {
        output.show(true);
    }
}

function killLater(proc: ProcessInfo): void {
    const child = proc.child;
    if (!child || proc.exit || child.exitCode !== null || child.signalCode !== null) {
        return;
    }
    // `shutdown`/`exit` normally end it; make sure it does not linger.
    const timer = setTimeout(() => {
        if (!proc.exit && child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
        }
    }, 2000);
    timer.unref();
}

export function quoteArgv(argv: string[]): string {
    return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`)).join(' ');
}

export function describeError(e: unknown): string {
    if (e instanceof Error) {
        return e.message;
    }
    return typeof e === 'string' ? e : JSON.stringify(e);
}
