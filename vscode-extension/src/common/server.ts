/**
 * Starting, restarting and stopping ao-server through vscode-languageclient's own lifecycle.
 *
 * The language client owns the connection: `start()`, `stop()`, `restart()`, its state
 * (`onDidChangeState`) and its restart policy (`createDefaultErrorHandler(maxRestartCount)`: a server that
 * dies after it ran is started again, at most MAX_RESTARTS times in 3 minutes). This module only adds what
 * the client cannot know:
 *
 * - which command to run (ServerOptions is a function that picks it and spawns it), so a server that
 *   cannot start is understood: not found, not executable, exited with a code and a last stderr line, or
 *   silent past START_TIMEOUT_MS; the user gets one actionable message naming what was tried and the
 *   setting, never the client's own popups;
 * - the "AO" log output channel: the client's notices, the server's stderr (by its logging level) and
 *   ours, each at its level;
 * - a server that dies while the client still finishes starting it (after `initialize`) is a crash like
 *   any other, started again, not a failed start (holdClose, ServerWriter, startFinishing).
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as vscode from 'vscode';
import {
    CloseAction,
    CloseHandlerResult,
    ErrorAction,
    ErrorHandler,
    LanguageClient,
    LanguageClientOptions,
    Message,
    MessageTransports,
    RevealOutputChannelOn,
    ServerOptions,
    State,
    StreamMessageReader,
    StreamMessageWriter,
} from 'vscode-languageclient/node';
import { Commands, Notifications, SERVER_ID, SERVER_NAME } from './constants';
import { AoApi, InputRequested, StatusChanged } from './protocol';
import {
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
/** How many times a server that ran and died is started again within 3 minutes (the client's own policy). */
export const MAX_RESTARTS = 3;
/** How long `shutdown`/`exit` may take before the client gives up on a server. */
const STOP_TIMEOUT_MS = 3000;

/**
 * The language client with its notices in the "AO" log at their level and no popups of its own (the
 * ServerManager decides what the user sees), and which knows when its start is over.
 */
class AoLanguageClient extends LanguageClient {
    /** The start in progress (ours, a restart's or the client's own after a crash), settled either way. */
    private startInProgress: Promise<void> | undefined;

    constructor(serverOptions: ServerOptions, clientOptions: LanguageClientOptions, private readonly log: vscode.LogOutputChannel) {
        super(SERVER_ID, SERVER_NAME, serverOptions, clientOptions);
    }

    override start(): Promise<void> {
        const started = super.start();
        const settled = started.then(() => undefined, () => undefined);
        this.startInProgress = settled;
        void settled.then(() => {
            if (this.startInProgress === settled) {
                this.startInProgress = undefined;
            }
        });
        return started;
    }

    /**
     * Resolves when the client is done starting a server that answered `initialize`. The client is Running
     * (onDidChangeState) from that answer on, but its start() goes on: it writes `initialized` and sets up
     * its features on the connection. A connection that closes or fails under it then fails the whole
     * start (`initializationFailedHandler`, stop(), StartFailed) instead of reaching the close handler,
     * and a stop in that window has its features registered after it cleaned them up. Undefined when no
     * such start is in progress (none, or one still waiting for `initialize`).
     */
    startFinishing(): Promise<void> | undefined {
        return this.state === State.Running ? this.startInProgress : undefined;
    }

    override error(message: string, data?: unknown, _showNotification?: boolean | 'force'): void {
        this.log.error(withData(message, data));
    }

    override warn(message: string, data?: unknown, _showNotification?: boolean): void {
        this.log.warn(withData(message, data));
    }

    override info(message: string, data?: unknown, _showNotification?: boolean): void {
        this.log.info(withData(message, data));
    }

    override debug(message: string, data?: unknown, _showNotification?: boolean): void {
        this.log.debug(withData(message, data));
    }

    /** Never rejects: after a failed `initialize` the client calls `void this.stop()` itself while it is
     * still starting, which rejects ("not running") with nobody to see it. */
    override async stop(timeout?: number): Promise<void> {
        try {
            await super.stop(timeout);
        } catch (e) {
            this.log.debug(`stopping the client: ${describeError(e)}`);
        }
    }
}

/** Why a start failed, in words for the message. */
class StartFailure extends Error {}

/**
 * The connection's transports: the server's stdout and stdin. Either one's close tells the client the
 * server is gone; that close waits until the client is done with it (holdClose):
 *
 * - until the client's start is over (startFinishing): a server that dies right after answering
 *   `initialize` is then a crash like any other, which the close handler (onClosed) starts again, not a
 *   start that failed and is given up;
 * - until what was sent to it is written (ServerWriter.writing): every request sent is then rejected by
 *   the closing connection, none is written after it (which would be an unhandled rejection).
 */
type Busy = () => Promise<unknown> | undefined;

function holdClose(busy: Busy, close: () => void): void {
    const pending = busy();
    if (pending) {
        void pending.then(() => holdClose(busy, close));
    } else {
        close();
    }
}

class ServerReader extends StreamMessageReader {
    constructor(readable: NodeJS.ReadableStream, private readonly busy: Busy) {
        super(readable);
    }

    protected override fireClose(): void {
        holdClose(this.busy, () => super.fireClose());
    }
}

/**
 * A write to a server that is gone (EPIPE, a destroyed stream) still reaches the client's error handler
 * (logged), then resolves: the close that follows is what says the server died, and rejects the requests
 * that wait for an answer. Rejected, the write would fail the client's start when it is `initialized` (see
 * startFinishing), and vscode-jsonrpc's sendRequest, which rethrows it inside a promise executor, would make
 * it an unhandled rejection.
 */
class ServerWriter extends StreamMessageWriter {
    private disposed = false;
    private pending = 0;
    private idle: (() => void)[] = [];

    constructor(private readonly child: cp.ChildProcess, private readonly finishing: Busy) {
        super(child.stdin!);
    }

    /** Resolves when no write is in progress; undefined when none is. */
    writing(): Promise<void> | undefined {
        return this.pending === 0 ? undefined : new Promise<void>((resolve) => this.idle.push(resolve));
    }

    override async write(msg: Message): Promise<void> {
        this.pending++;
        try {
            await super.write(msg);
        } catch (e) {
            const child = this.child;
            const gone = child.stdin?.destroyed === true || child.exitCode !== null || child.signalCode !== null
                || ['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END'].includes((e as NodeJS.ErrnoException).code ?? '');
            if (!gone || this.disposed) {
                throw e; // not the server's end, or no close is left to reject what waits for an answer
            }
            if (child.exitCode === null && child.signalCode === null) {
                child.kill('SIGTERM'); // alive with its stdin broken: unusable; its end closes its stdout
            }
        } finally {
            if (--this.pending === 0) {
                this.idle.splice(0).forEach((resolve) => resolve());
            }
        }
    }

    protected override fireClose(): void {
        holdClose(() => this.finishing() ?? this.writing(), () => super.fireClose());
    }

    override dispose(): void {
        this.disposed = true;
        super.dispose();
    }
}

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
    /** A live agent asks for a permission or asks questions (`ao/inputRequested`). */
    onInputRequested?(note: InputRequested): void;
    /** The server is up (after a start or a restart). */
    onReady(api: AoApi): void;
    /** The state changed (for the status bar). */
    onStateChanged?(state: ServerState): void;
}

export interface ServerManagerOptions {
    output: vscode.LogOutputChannel;
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
    /** The extension's own storage folder: the server's working directory (see {@link serverWorkDir}). */
    workDir?(): string | undefined;
    startTimeoutMs?: number;
}

/**
 * One ao-server for the window. `ready()` gives the API, starting the server when needed; a failure is
 * shown once (per attempt) as a message naming what was tried and how to set `ao.server.command`.
 */
export class ServerManager implements vscode.Disposable {
    /** The client; kept across restarts, replaced only after a start that failed. */
    private client: AoLanguageClient | undefined;
    private api: AoApi | undefined;
    /** The process of the current connection. */
    private proc: ProcessInfo = { stderr: '' };
    private starting: Promise<AoApi | undefined> | undefined;
    private _state: ServerState = 'stopped';
    /** The client's restart policy, counted afresh on every start the user asked for. */
    private policy: ErrorHandler | undefined;
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
        this.starting ??= this.doStart(false).finally(() => {
            this.starting = undefined;
        });
        return this.starting;
    }

    /** Stops the server and starts it again (settings or folders changed, or the user asked). */
    async restart(): Promise<AoApi | undefined> {
        if (this.starting) {
            await this.starting;
        }
        this.starting ??= this.doStart(true).finally(() => {
            this.starting = undefined;
        });
        return this.starting;
    }

    async stop(): Promise<void> {
        const client = this.client;
        const proc = this.proc;
        this.client = undefined;
        this.api = undefined;
        if (client) {
            await client.startFinishing();
            await client.dispose(STOP_TIMEOUT_MS).catch(() => undefined); // stop() never rejects
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

    private timeoutMs(): number {
        return this.options.startTimeoutMs ?? START_TIMEOUT_MS;
    }

    /** Starts the client (a new one unless `restart` and the current one runs, which restarts instead). */
    private async doStart(restart: boolean): Promise<AoApi | undefined> {
        if (this.disposed) {
            return undefined;
        }
        let client = this.client;
        if (client?.isRunning() && !restart) {
            return this.api;
        }
        await client?.startFinishing(); // a stop or a restart in the middle of its start would break it
        if (client && !(client.isRunning() || client.state === State.Starting)) {
            await this.stop(); // a client that failed or gave up is not started again: a new one is
            client = undefined;
        }
        if (!client || restart) {
            client ??= this.client = this.createClient();
            this.policy = client.createDefaultErrorHandler(MAX_RESTARTS); // a fresh count of crashes
        }
        this.setState('starting');
        const previous = this.proc;
        let timer: NodeJS.Timeout | undefined;
        try {
            const timeout = new Promise<never>((_, reject) => {
                timer = setTimeout(
                    () => reject(new StartFailure(`it did not answer \`initialize\` within ${Math.round(this.timeoutMs() / 1000)} s`)),
                    this.timeoutMs(),
                );
            });
            const starting = restart && client.isRunning() ? client.restart() : client.start();
            starting.catch(() => undefined); // the race below may leave it unobserved
            await Promise.race([starting, timeout]);
            if (restart) {
                killLater(previous);
            }
        } catch (e) {
            await this.startFailed(client, e);
            return undefined;
        } finally {
            clearTimeout(timer);
        }
        // Undefined: stopped while starting, or it died as soon as it answered and its close handler
        // starts it again (onReady says when it runs) or says why not.
        return this.client === client ? this.api : undefined;
    }

    /** A start (ours or the client's own restart) failed: say why, once, and drop the client. */
    private async startFailed(client: AoLanguageClient, error: unknown): Promise<void> {
        const output = this.options.output;
        const proc = this.proc;
        const reason = await this.failureReason(error, proc);
        const choice = this.choice ?? { command: { argv: ['ao-server'], source: 'the default' }, skipped: [] };
        const message = startFailureMessage(choice, reason);
        this.lastFailure = message;
        output.error(message);
        if (this.client === client) {
            this.client = undefined;
            this.api = undefined;
        }
        proc.child?.kill('SIGTERM'); // one that never answered; a no-op for one that is gone
        await client.dispose(1000).catch(() => undefined);
        this.setState('failed');
        if (this.options.onMissing && choice.command.source !== SETTING_SOURCE && isMissingServer(reason)) {
            this.options.onMissing(choice, reason);
        } else {
            void showStartFailure(message, output);
        }
    }

    /** The client reached Running (our start, our restart or its own restart after a crash). */
    private onRunning(client: AoLanguageClient): void {
        const api = new AoApi(client);
        this.lastFailure = undefined;
        this.serverVersion = client.initializeResult?.serverInfo?.version;
        this.api = api;
        this.setState('running');
        this.options.output.info(`ao-server is running (pid ${this.proc.child?.pid ?? '?'}); version ${this.serverVersion ?? 'unknown'}`);
        this.options.hooks.onReady(api);
    }

    private createClient(): AoLanguageClient {
        const output = this.options.output;
        const serverOptions = (): Promise<MessageTransports> => this.spawnServer(client);
        const clientOptions: LanguageClientOptions = {
            documentSelector: [],
            outputChannel: output,
            traceOutputChannel: output,
            revealOutputChannelOn: RevealOutputChannelOn.Never,
            initializationOptions: () => initializationOptions(getSettings(this.folder())),
            // No `workspaceFolder`: that would lock the client to one folder, and a multi-root window
            // must send every folder in `initialize` (the server offers each folder's projects).
            initializationFailedHandler: (error) => {
                output.debug(`\`initialize\` failed: ${describeError(error)}`);
                return false; // the start fails (the client logs why, then startFailed says it); no retry
            },
            // The count of the client's default policy, which onClosed asks (createDefaultErrorHandler).
            connectionOptions: { maxRestartCount: MAX_RESTARTS },
            errorHandler: {
                error: () => ({ action: ErrorAction.Continue, handled: true }),
                closed: () => this.onClosed(client),
            },
        };
        const client = new AoLanguageClient(serverOptions, clientOptions, output);
        client.onDidChangeState(({ oldState, newState }) => {
            if (this.client !== client) {
                return;
            }
            if (newState === State.Running) {
                this.onRunning(client);
            } else if (newState === State.Starting) {
                this.setState('starting');
            } else if (oldState === State.Starting && !this.starting) {
                // The client's own restart after a crash did not come up.
                void this.startFailed(client, new Error('it stopped while starting again'));
            }
        });
        client.onNotification(Notifications.statusChanged, (change: StatusChanged) => {
            try {
                this.options.hooks.onStatusChanged(change);
            } catch (e) {
                output.error(`handling ${Notifications.statusChanged} failed: ${describeError(e)}`);
            }
        });
        client.onNotification(Notifications.inputRequested, (note: InputRequested) => {
            try {
                this.options.hooks.onInputRequested?.(note);
            } catch (e) {
                output.error(`handling ${Notifications.inputRequested} failed: ${describeError(e)}`);
            }
        });
        return client;
    }

    /** ServerOptions: picks the command (the setting, the installed one, PATH, Python) and spawns it. */
    private async spawnServer(client: AoLanguageClient): Promise<MessageTransports> {
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
        const proc: ProcessInfo = { stderr: '' };
        this.proc = proc;
        const cwd = serverWorkDir(folder, this.options.workDir?.());
        const [command, ...args] = choice.command.argv;
        output.info(`starting ${quoteArgv(choice.command.argv)} (${choice.command.source}) in ${cwd}`);
        return new Promise<MessageTransports>((resolve, reject) => {
            let child: cp.ChildProcess;
            try {
                child = cp.spawn(command, args, { cwd, env: process.env, stdio: 'pipe' });
            } catch (e) {
                reject(new StartFailure(spawnErrorReason(command, e)));
                return;
            }
            proc.child = child;
            const stderr = new StderrLog(output);
            child.stderr?.on('data', (data: Buffer | string) => {
                proc.stderr = (proc.stderr + data.toString()).slice(-4000);
                stderr.write(data.toString());
            });
            child.once('exit', (code, signal) => {
                stderr.flush();
                proc.exit = { code, signal };
                const how = `ao-server exited (${signal ? `signal ${signal}` : `code ${code}`})`;
                if (code === 0) {
                    output.info(how);
                } else {
                    output.warn(how);
                }
            });
            child.once('spawn', () => {
                const finishing = () => client.startFinishing();
                const writer = new ServerWriter(child, finishing);
                const reader = new ServerReader(child.stdout!, () => finishing() ?? writer.writing());
                resolve({ reader, writer });
            });
            child.once('error', (e) => reject(new StartFailure(spawnErrorReason(command, e))));
        });
    }

    /**
     * The client's close handler. A server that was running is started again by the client's own policy
     * (quietly; after MAX_RESTARTS in 3 minutes, one message). One that closes while starting failed its
     * start: the client's `start()` reports it, and is let to do so before the client resets it.
     */
    private async onClosed(client: AoLanguageClient): Promise<CloseHandlerResult> {
        const proc = this.proc;
        if (client.state === State.Starting) {
            await leftStarting(client);
            return { action: CloseAction.DoNotRestart, handled: true, message: 'ao-server closed its connection while starting' };
        }
        if (this.client !== client || this.disposed) {
            return { action: CloseAction.DoNotRestart, handled: true };
        }
        this.api = undefined;
        // The pipe usually closes just before the process is reaped: give it a moment to say how it ended.
        for (let i = 0; i < 20 && !proc.exit; i++) {
            await new Promise((r) => setTimeout(r, 25));
        }
        const exit = proc.exit;
        const how = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) : 'closed its connection';
        const policy = (this.policy ??= client.createDefaultErrorHandler(MAX_RESTARTS));
        const decision = await policy.closed();
        if (decision.action === CloseAction.Restart) {
            this.options.output.warn(`ao-server ${how}; starting it again`);
            this.setState('starting');
            return { action: CloseAction.Restart, handled: true };
        }
        const text = `AO: ao-server ${how} ${MAX_RESTARTS + 1} times in 3 minutes and was not started again.`;
        this.lastFailure = text;
        this.client = undefined;
        this.setState('failed');
        void vscode.window.showErrorMessage(text, 'Restart Server', 'Show Output').then((pick) => {
            if (pick === 'Restart Server') {
                void vscode.commands.executeCommand(Commands.restartServer);
            } else if (pick === 'Show Output') {
                this.options.output.show(true);
            }
        });
        return { action: CloseAction.DoNotRestart, handled: true, message: text };
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

/**
 * The folder ao-server runs in: never the workspace, whose files must not be run (`python -m` puts the
 * current folder first on sys.path, so a repository's `yaml.py` would be imported). The server takes the
 * workspace folders from `initialize`; only with none open does it use its own folder, and that is home,
 * as it always was. Otherwise the extension's storage folder (made when missing), else home.
 */
export function serverWorkDir(folder: vscode.WorkspaceFolder | undefined, storage: string | undefined): string {
    if (folder && storage) {
        try {
            fs.mkdirSync(storage, { recursive: true });
            return storage;
        } catch {
            // home, then
        }
    }
    return os.homedir();
}

/** Resolves once the client is no longer starting (its start succeeded or failed). */
function leftStarting(client: LanguageClient): Promise<void> {
    return new Promise<void>((resolve) => {
        if (client.state !== State.Starting) {
            resolve();
            return;
        }
        const listener = client.onDidChangeState(({ newState }) => {
            if (newState !== State.Starting) {
                listener.dispose();
                resolve();
            }
        });
    });
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The server's stderr into the log, a line at a time, at the level its Python logging line names. */
class StderrLog {
    private partial = '';
    private level: LogLevel = 'error';

    constructor(private readonly output: vscode.LogOutputChannel) {}

    write(text: string): void {
        const lines = (this.partial + text).split(/\r?\n/);
        this.partial = lines.pop() ?? '';
        lines.forEach((line) => this.line(line));
    }

    flush(): void {
        if (this.partial !== '') {
            this.line(this.partial);
            this.partial = '';
        }
    }

    private line(line: string): void {
        if (line.trim() === '') {
            return;
        }
        const m = /^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )?(DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/.exec(line);
        if (m) {
            this.level = stderrLevel(m[1] ?? '');
        }
        // Lines without a level continue the record before them (a traceback), else are an error.
        this.output[this.level](`[ao-server] ${m ? m[2] ?? '' : line}`);
    }
}

function stderrLevel(name: string): LogLevel {
    switch (name) {
        case 'DEBUG':
            return 'debug';
        case 'INFO':
            return 'info';
        case 'WARNING':
            return 'warn';
        default:
            return 'error';
    }
}

function withData(message: string, data: unknown): string {
    return data === undefined || data === null ? message : `${message} ${describeError(data)}`;
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

async function showStartFailure(message: string, output: vscode.LogOutputChannel): Promise<void> {
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
