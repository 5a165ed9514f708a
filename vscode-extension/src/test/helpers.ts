/**
 * Shared by the test files: the environment the pytest wrapper (tests/e2e/test_vscode.py) passes, and
 * activating the real extension against the vscode double.
 */
import * as cp from 'child_process';
import * as path from 'path';
import { AoExtension, activate, deactivate } from '../extension';
import { Uri, double } from './vscodeDouble';

export interface TestEnv {
    /** argv that starts ao-server (AO_TEST_SERVER_COMMAND, a JSON array). */
    serverCommand: string[];
    /** The workspace folder, holding agent-orchestrator.yaml (AO_TEST_WORKSPACE). */
    workspace: string;
    /** The Python that runs ao_server (AO_TEST_PYTHON), for the CLI. */
    python: string;
}

/** The real-server environment, or undefined when the tests were not started by the pytest wrapper. */
export function testEnv(): TestEnv | undefined {
    const command = process.env.AO_TEST_SERVER_COMMAND;
    const workspace = process.env.AO_TEST_WORKSPACE;
    if (!command || !workspace) {
        return undefined;
    }
    const serverCommand = JSON.parse(command) as string[];
    return { serverCommand, workspace, python: process.env.AO_TEST_PYTHON ?? serverCommand[0] ?? 'python3' };
}

/** Why the real-server tests are skipped; under CI they must not be (they fail instead). */
export function skipReason(): string | undefined {
    if (testEnv()) {
        return undefined;
    }
    const why = 'needs AO_TEST_SERVER_COMMAND and AO_TEST_WORKSPACE (run through pytest tests/e2e/test_vscode.py)';
    if (process.env.CI === 'true') {
        throw new Error(`under CI the real-server tests must run: ${why}`);
    }
    return why;
}

export interface Activated {
    ext: AoExtension;
    context: { subscriptions: { dispose(): unknown }[] };
}

export function useWorkspace(folder: string): void {
    double.workspaceFolders = [{ uri: Uri.file(folder), name: path.basename(folder), index: 0 }];
}

/** Activates the extension as VS Code would (one ExtensionContext with its subscriptions). */
export function activateExtension(): Activated {
    const context = { subscriptions: [] as { dispose(): unknown }[] };
    const ext = activate(context as never);
    return { ext, context };
}

export async function deactivateExtension(a: Activated): Promise<void> {
    await deactivate();
    for (const d of a.context.subscriptions.reverse()) {
        try {
            d.dispose();
        } catch {
            // keep disposing the rest
        }
    }
}

/** Runs a program to its end; resolves with its exit code and output. */
export function run(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const [program, ...args] = argv;
    if (program === undefined) {
        return Promise.reject(new Error('run: empty argv'));
    }
    return new Promise((resolve, reject) => {
        const child = cp.spawn(program, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('error', reject);
        child.on('close', (code: number | null) => {
            resolve({ code, stdout, stderr });
        });
    });
}

/** Is a process alive? */
export function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}
