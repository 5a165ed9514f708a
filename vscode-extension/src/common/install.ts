/**
 * "Install ao-server": the wheel bundled in the .vsix (bundled/ao_server-<version>-py3-none-any.whl, built from
 * this repository by build-wheel.mjs) installed with its dependencies into a private virtualenv under the
 * extension's global storage, made with a Python >= 3.11 found here: the Python extension's interpreter, else
 * python3 (or python3.13 ... python3.11, python) on PATH.
 *
 * Every step runs a program with an argv (no shell), a timeout and its output in the AO channel, in the storage
 * folder (never the workspace: `python -c`/`-m` would import a repository's `venv.py` or `pip/` from the current
 * folder) and with Python isolated (`-I`: no current folder, PYTHONPATH or user site-packages on sys.path). A
 * failure is an {@link InstallError} whose message says what to do; a half-made environment is removed.
 */
import * as cp from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import { Argv, ISOLATED, which } from './settings';

export const MIN_PYTHON: [number, number] = [3, 11];
const PROBE_TIMEOUT_MS = 15_000;
const VENV_TIMEOUT_MS = 180_000;
const PIP_TIMEOUT_MS = 900_000;

/** A failure with the sentence that says what to do. */
export class InstallError extends Error {}

export interface PythonFound {
    argv: Argv;
    version: string;
    /** Where it came from, for messages. */
    source: string;
}

export interface InstallerOptions {
    /** The extension's global storage folder (the virtualenv goes in it). */
    storageDir: string;
    /** The extension's own folder (holds bundled/). */
    extensionDir: string;
    output: vscode.LogOutputChannel;
    /** The Python extension's interpreter, if any. */
    pythonInterpreter(): Promise<Argv | undefined>;
    /** PATH look-up. */
    which?: (name: string) => string | undefined;
}

export interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs argv in `cwd` to its end (at most `timeoutMs`), its output copied to `output` line by line. */
export function runLogged(argv: Argv, cwd: string, timeoutMs: number, output?: vscode.LogOutputChannel, env: NodeJS.ProcessEnv = process.env): Promise<RunResult> {
    const [program, ...args] = argv;
    return new Promise((resolve) => {
        let child: cp.ChildProcess;
        try {
            child = cp.spawn(program, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e) {
            resolve({ code: null, stdout: '', stderr: e instanceof Error ? e.message : String(e) });
            return;
        }
        let stdout = '';
        let stderr = '';
        const log = (text: string) => {
            for (const line of text.split(/\r?\n/)) {
                if (line.trim() !== '') {
                    output?.info(`  ${line}`);
                }
            }
        };
        child.stdout?.on('data', (d: Buffer) => {
            stdout += d.toString();
            log(d.toString());
        });
        child.stderr?.on('data', (d: Buffer) => {
            stderr += d.toString();
            log(d.toString());
        });
        const timer = setTimeout(() => {
            stderr += `\n(stopped after ${Math.round(timeoutMs / 1000)} s)`;
            child.kill('SIGTERM');
        }, timeoutMs);
        child.once('error', (e) => {
            clearTimeout(timer);
            resolve({ code: null, stdout, stderr: stderr + e.message });
        });
        child.once('close', (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
    });
}

function lastLine(text: string): string {
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
    const last = lines.at(-1) ?? '';
    return last.length > 300 ? last.slice(0, 297) + '...' : last;
}

export class Installer {
    constructor(private readonly options: InstallerOptions) {}

    get venvDir(): string {
        return path.join(this.options.storageDir, 'ao-server-venv');
    }

    /** Runs argv in the storage folder (made when missing): never in the workspace. */
    private run(argv: Argv, timeoutMs: number, output?: vscode.LogOutputChannel, env?: NodeJS.ProcessEnv): Promise<RunResult> {
        fs.mkdirSync(this.options.storageDir, { recursive: true });
        return runLogged(argv, this.options.storageDir, timeoutMs, output, env);
    }

    private bin(name: string): string {
        return process.platform === 'win32' ? path.join(this.venvDir, 'Scripts', `${name}.exe`) : path.join(this.venvDir, 'bin', name);
    }

    /** The installed server's argv, when an install finished. */
    serverArgv(): Argv | undefined {
        const exe = this.bin('ao-server');
        return fs.existsSync(exe) && fs.existsSync(path.join(this.venvDir, '.ao-installed')) ? [exe] : undefined;
    }

    /** The wheel in the .vsix. */
    bundledWheel(): string | undefined {
        const dir = path.join(this.options.extensionDir, 'bundled');
        try {
            const wheel = fs.readdirSync(dir).find((f) => /^ao_server-.+\.whl$/.test(f));
            return wheel ? path.join(dir, wheel) : undefined;
        } catch {
            return undefined;
        }
    }

    /** The first Python >= 3.11 (with venv) among the Python extension's interpreter and PATH. */
    async findPython(): Promise<PythonFound> {
        const given = this.options.which;
        const look = (n: string): string | undefined => (given ? given(n) : which(n));
        const candidates: { argv: Argv; source: string }[] = [];
        try {
            const selected = await this.options.pythonInterpreter();
            if (selected) {
                candidates.push({ argv: selected, source: "the Python extension's interpreter" });
            }
        } catch {
            // no Python extension
        }
        for (const name of ['python3', 'python3.13', 'python3.12', 'python3.11', 'python']) {
            const found = look(name);
            if (found && !candidates.some((c) => c.argv[0] === found)) {
                candidates.push({ argv: [found], source: `\`${name}\` on PATH` });
            }
        }
        const rejected: string[] = [];
        for (const c of candidates) {
            const probe = await this.run([...c.argv, ISOLATED, '-c', 'import sys, venv; print("%d.%d.%d" % sys.version_info[:3])'], PROBE_TIMEOUT_MS);
            const version = probe.stdout.trim();
            const [major, minor] = version.split('.').map(Number);
            if (probe.code !== 0 || major === undefined || minor === undefined) {
                rejected.push(`${c.argv[0]} (${c.source}) did not run: ${lastLine(probe.stderr) || `exit code ${probe.code}`}`);
            } else if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
                rejected.push(`${c.argv[0]} is Python ${version}`);
            } else {
                return { argv: c.argv, version, source: c.source };
            }
        }
        throw new InstallError(
            `no Python ${MIN_PYTHON.join('.')} or newer was found (${rejected.join('; ') || 'no python3 on PATH and no interpreter selected in the Python extension'}). ` +
            'Install Python 3.11+ (python3 on PATH) or select one in the Python extension, then run "AO: Install ao-server" again',
        );
    }

    /**
     * Makes the virtualenv (when missing) and installs the bundled wheel with its dependencies; `upgrade`
     * reinstalls the wheel over an existing install. Reports each step to `progress`.
     */
    async install(progress: (message: string) => void, upgrade = false): Promise<Argv> {
        const out = this.options.output;
        const wheel = this.bundledWheel();
        if (!wheel) {
            throw new InstallError('this build of the extension carries no ao-server wheel (bundled/ is empty); install ao-server yourself and set "ao.server.command"');
        }
        const fresh = !fs.existsSync(path.join(this.venvDir, 'pyvenv.cfg'));
        try {
            if (fresh) {
                progress('looking for Python 3.11 or newer');
                const python = await this.findPython();
                out.info(`installing ao-server: Python ${python.version} at ${python.argv.join(' ')} (${python.source})`);
                progress(`creating a virtual environment with Python ${python.version}`);
                const venv = await this.run([...python.argv, ISOLATED, '-m', 'venv', this.venvDir], VENV_TIMEOUT_MS, out);
                if (venv.code !== 0) {
                    const why = lastLine(venv.stderr) || lastLine(venv.stdout) || `exit code ${venv.code}`;
                    const hint = /ensurepip|python3(\.\d+)?-venv/.test(venv.stderr + venv.stdout)
                        ? ' (on Debian/Ubuntu: apt-get install python3-venv)' : '';
                    throw new InstallError(`\`${python.argv[0]} -m venv\` failed: ${why}${hint}`);
                }
            }
            fs.rmSync(path.join(this.venvDir, '.ao-installed'), { force: true });
            progress(`installing ${path.basename(wheel)} and its dependencies with pip`);
            const pip = [this.bin('python'), ISOLATED, '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input'] as Argv;
            const env = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONPATH: '' };
            if (upgrade) {
                const again = await this.run([...pip, '--force-reinstall', '--no-deps', wheel], PIP_TIMEOUT_MS, out, env);
                if (again.code !== 0) {
                    throw new InstallError(`pip could not reinstall the bundled ao-server: ${lastLine(again.stderr) || `exit code ${again.code}`}`);
                }
            }
            const result = await this.run([...pip, wheel], PIP_TIMEOUT_MS, out, env);
            if (result.code !== 0) {
                throw new InstallError(
                    `pip could not install ao-server and its dependencies: ${lastLine(result.stderr) || `exit code ${result.code}`}. ` +
                    "It needs the Python package index (or your pip's configured index) for pygls, lsprotocol, PyYAML and psutil; " +
                    'check the network or proxy (the AO output has pip\'s messages), then run "AO: Install ao-server" again',
                );
            }
            const argv = [this.bin('ao-server')] as Argv;
            const check = await this.run([...argv, '--version'], PROBE_TIMEOUT_MS, out, env);
            if (check.code !== 0) {
                throw new InstallError(`the installed ao-server does not run: ${lastLine(check.stderr) || `exit code ${check.code}`}`);
            }
            fs.writeFileSync(path.join(this.venvDir, '.ao-installed'), `${path.basename(wheel)}\n`);
            out.info(`installed ${check.stdout.trim()} in ${this.venvDir}`);
            return argv;
        } catch (e) {
            if (fresh) {
                fs.rmSync(this.venvDir, { recursive: true, force: true });
            }
            throw e;
        }
    }
}

/** What to say when the running server's version differs from the extension's; undefined when they match. */
export function versionAdvice(server: string | undefined, extension: string | undefined, managed: boolean): { message: string; action: string } | undefined {
    if (!server || !extension || server === extension) {
        return undefined;
    }
    return managed
        ? { message: `AO: the installed ao-server is ${server}; this extension carries ${extension}.`, action: 'Upgrade ao-server' }
        : {
            message: `AO: ao-server ${server} is running; this extension is ${extension} and may expect other requests. ` +
                'Install the ao-server bundled with the extension (a private environment), or update yours.',
            action: 'Install bundled ao-server',
        };
}
