/**
 * The extension's settings (`ao.*`) and how the server command is chosen from them.
 *
 * The choice is a plain function of injected look-ups so tests can drive every branch; the VS Code
 * specific look-ups (the Python extension's interpreter) live in {@link pythonInterpreterFromExtension}.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { CONFIG_SECTION } from './constants';

/** A command line as argv: the program, then its arguments. */
export type Argv = [string, ...string[]];

export interface AoSettings {
    /** `ao.server.command` as the user wrote it in their own settings, normalised to argv; undefined when unset
     * (choose automatically). A workspace's or folder's value is never used. */
    serverCommand: Argv | undefined;
    /** `ao.pollInterval`, seconds. */
    pollInterval: number;
    /** `ao.configPath`, absolute (relative paths are taken from the workspace folder); undefined when unset. */
    configPath: string | undefined;
    /** `ao.stateDir`, absolute; undefined when unset (the server's default). */
    stateDir: string | undefined;
}

export const DEFAULT_POLL_INTERVAL = 1.0;

/** Reads `ao.*` for a workspace folder. */
export function getSettings(folder?: vscode.WorkspaceFolder): AoSettings {
    const config = vscode.workspace.getConfiguration(CONFIG_SECTION, folder?.uri);
    const base = folder?.uri.fsPath;
    const interval = config.get<number>('pollInterval', DEFAULT_POLL_INTERVAL);
    // The program AO runs comes from the user's own settings (in a remote window, also that machine's), never
    // from a workspace or folder: a repository's .vscode/settings.json must not pick it. The setting's `machine`
    // scope (package.json) makes VS Code ignore such a value; reading only `globalValue` keeps that whatever the scope.
    const command = config.inspect<string[] | string | null>('server.command');
    return {
        serverCommand: parseCommand(command?.globalValue),
        pollInterval: typeof interval === 'number' && interval > 0 ? interval : DEFAULT_POLL_INTERVAL,
        configPath: resolvePath(config.get<string>('configPath', ''), base),
        stateDir: resolvePath(config.get<string>('stateDir', ''), base),
    };
}

/** `ao.spawn.mode`: how AO: Spawn Agent starts an agent. */
export type SpawnMode = 'run' | 'live' | 'ask';

/** `ao.spawn.mode`, `run` unless set to `live` or `ask`. */
export function spawnMode(folder?: vscode.WorkspaceFolder): SpawnMode {
    const value = vscode.workspace.getConfiguration(CONFIG_SECTION, folder?.uri).get<string>('spawn.mode', 'run');
    return value === 'live' || value === 'ask' ? value : 'run';
}

/** The options sent in `initialize` (docs/protocol.md: configPath, pollInterval, stateDir). */
export function initializationOptions(settings: AoSettings): Record<string, unknown> {
    const options: Record<string, unknown> = { pollInterval: settings.pollInterval };
    if (settings.configPath) {
        options.configPath = settings.configPath;
    }
    if (settings.stateDir) {
        options.stateDir = settings.stateDir;
    }
    return options;
}

/** `ao.server.command`: an argv array, or one string split like a shell would (quotes, no expansion). */
export function parseCommand(value: unknown): Argv | undefined {
    const argv = Array.isArray(value)
        ? value.filter((v): v is string => typeof v === 'string')
        : typeof value === 'string' ? splitCommandLine(value) : [];
    const [program, ...args] = argv;
    return program !== undefined && program.trim() !== '' ? [program, ...args] : undefined;
}

export function splitCommandLine(line: string): string[] {
    const out: string[] = [];
    let current = '';
    let quote: '"' | "'" | undefined;
    let started = false;
    for (let i = 0; i < line.length; i++) {
        const c = line.charAt(i);
        if (quote) {
            if (c === quote) {
                quote = undefined;
            } else if (c === '\\' && quote === '"' && i + 1 < line.length) {
                current += line.charAt(++i);
            } else {
                current += c;
            }
        } else if (c === '"' || c === "'") {
            quote = c;
            started = true;
        } else if (c === '\\' && i + 1 < line.length) {
            current += line.charAt(++i);
            started = true;
        } else if (/\s/.test(c)) {
            if (started) {
                out.push(current);
                current = '';
                started = false;
            }
        } else {
            current += c;
            started = true;
        }
    }
    if (started) {
        out.push(current);
    }
    return out;
}

function resolvePath(value: string | undefined, base: string | undefined): string | undefined {
    if (!value || !value.trim()) {
        return undefined;
    }
    let p = value.trim();
    if (base) {
        p = p.replace(/\$\{workspaceFolder\}/g, base);
    }
    if (p === '~' || p.startsWith('~/')) {
        p = path.join(process.env.HOME ?? '', p.slice(1));
    }
    return base && !path.isAbsolute(p) ? path.join(base, p) : p;
}

// --- choosing the server command -------------------------------------------------------------------------

/** One way to start the server, and where it came from (for messages). */
export interface ServerCommand {
    argv: Argv;
    /** e.g. 'the setting "ao.server.command"', '`ao-server` on PATH'. */
    source: string;
}

export interface CommandChoice {
    command: ServerCommand;
    /** What was looked at and rejected before this one, one short line each. */
    skipped: string[];
}

export interface CommandLookups {
    /** Absolute path of an executable on PATH, else undefined. */
    which(name: string): string | undefined;
    /** The Python interpreter selected in the Python extension (argv prefix), else undefined. */
    pythonInterpreter(): Promise<Argv | undefined>;
    /** The ao-server the extension installed ("Install ao-server"), else undefined. */
    managed?(): Argv | undefined;
}

export const SETTING_SOURCE = 'the setting "ao.server.command"';
export const MANAGED_SOURCE = 'the ao-server installed by AO';

/**
 * Python's options for running ao_server from an interpreter: isolated (`-I`), so neither the current folder
 * nor PYTHONPATH nor the user's site-packages come first on sys.path. Without it, `python -m ao_server` puts
 * the current folder first: a repository's `yaml.py` or `ao_server/` would be what runs.
 */
export const ISOLATED = '-I';

/**
 * `ao.server.command` when set; otherwise the ao-server the extension installed, else `ao-server` on PATH,
 * else the Python extension's selected interpreter with `-I -m ao_server`, else `python3 -I -m ao_server`.
 */
export async function chooseServerCommand(setting: Argv | undefined, lookups: CommandLookups): Promise<CommandChoice> {
    if (setting) {
        return { command: { argv: setting, source: SETTING_SOURCE }, skipped: [] };
    }
    const skipped: string[] = [];
    const managed = lookups.managed?.();
    if (managed) {
        return { command: { argv: managed, source: MANAGED_SOURCE }, skipped };
    }
    const onPath = lookups.which('ao-server');
    if (onPath) {
        return { command: { argv: [onPath], source: '`ao-server` found on PATH' }, skipped };
    }
    skipped.push('`ao-server` is not on PATH');
    let interpreter: Argv | undefined;
    try {
        interpreter = await lookups.pythonInterpreter();
    } catch {
        interpreter = undefined;
    }
    if (interpreter) {
        return {
            command: { argv: [...interpreter, ISOLATED, '-m', 'ao_server'], source: "the Python extension's selected interpreter" },
            skipped,
        };
    }
    skipped.push('no interpreter from the Python extension (not installed or none selected)');
    const python = lookups.which('python3');
    return {
        command: { argv: [python ?? 'python3', ISOLATED, '-m', 'ao_server'], source: python ? '`python3` on PATH' : '`python3`' },
        skipped,
    };
}

/** PATH look-up like `which`. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
    if (name.includes('/')) {
        return isExecutable(name) ? name : undefined;
    }
    for (const dir of (env.PATH ?? '').split(path.delimiter)) {
        if (!dir) {
            continue;
        }
        const candidate = path.join(dir, name);
        if (isExecutable(candidate)) {
            return candidate;
        }
    }
    return undefined;
}

function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

/** The slice of the Python extension's API (ms-python.python, `environments`) used here. */
interface PythonExtensionApi {
    environments?: {
        getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined;
        resolveEnvironment(env: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    };
}

/** The interpreter selected in the Python extension, when it is installed; never throws. */
export async function pythonInterpreterFromExtension(resource?: vscode.Uri): Promise<Argv | undefined> {
    const extension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (!extension) {
        return undefined;
    }
    try {
        const api = extension.isActive ? extension.exports : await withTimeout(extension.activate(), 15000);
        const environments = api?.environments;
        if (!environments) {
            return undefined;
        }
        const active = environments.getActiveEnvironmentPath(resource);
        if (!active) {
            return undefined;
        }
        const resolved = await withTimeout(environments.resolveEnvironment(active), 15000);
        const file = resolved?.executable.uri?.fsPath;
        return file ? [file] : undefined;
    } catch {
        return undefined;
    }
}

function withTimeout<T>(promise: Thenable<T>, ms: number): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve, reject) => {
        const timer = setTimeout(() => resolve(undefined), ms);
        promise.then(
            (v) => {
                clearTimeout(timer);
                resolve(v);
            },
            (e: unknown) => {
                clearTimeout(timer);
                reject(e instanceof Error ? e : new Error(String(e)));
            },
        );
    });
}
