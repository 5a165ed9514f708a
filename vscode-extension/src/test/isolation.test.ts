/**
 * A repository's files never run as part of AO: not the server (`python -m ao_server` from the workspace would
 * import the repository's `yaml.py` or `ao_server/`), not the installer's Python and pip, and not a program its
 * `.vscode/settings.json` names in "ao.server.command". Real processes: the REAL ao-server (the Python the
 * pytest wrapper passes, through the automatic `python3 -I -m ao_server` choice), real venv and pip.
 *
 * Each workspace holds files that write a marker file when Python imports or runs them; the extension host is
 * started in the workspace (as `code .` does), so whatever inherits its folder would find them.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { Installer } from '../common/install';
import { ServerManager } from '../common/server';
import { run, skipReason, testEnv, useWorkspace } from './helpers';
import { double, window } from './vscodeDouble';

const skip = skipReason();
const env = testEnv();
let root = '';
const home = process.cwd();

before(() => {
    // Beside the bed's project (no agent-orchestrator.yaml above it), so each workspace is its own default project.
    root = fs.mkdtempSync(path.join(env ? path.dirname(env.workspace) : os.tmpdir(), 'ao-isolation-'));
});

afterEach(() => {
    process.chdir(home);
    double.resetUi();
    double.configuration = {};
    double.workspaceConfiguration = {};
});

after(() => {
    fs.rmSync(root, { recursive: true, force: true });
});

/** A workspace folder whose Python files, when imported or run, write `<name>.ran` beside it. */
function hostileWorkspace(name: string, files: string[]): { dir: string; ran: () => string[] } {
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    for (const file of files) {
        const target = path.join(dir, file);
        fs.mkdirSync(path.dirname(target), { recursive: true });
        const marker = path.join(dir, `${file.replace(/[/.]/g, '_')}.ran`);
        fs.writeFileSync(target, `open(${JSON.stringify(marker)}, "w").write("imported from the workspace")\n`);
    }
    return { dir, ran: () => fs.readdirSync(dir).filter((f) => f.endsWith('.ran')) };
}

/** The automatic choice (no setting, no installed server, no `ao-server` on PATH) ends at `python3`: the test's Python. */
function manager(name: string, storage: string): ServerManager {
    assert.ok(env);
    return new ServerManager({
        output: window.createOutputChannel(name, { log: true }) as never,
        hooks: { onReady: () => undefined, onStatusChanged: () => undefined },
        lookups: { which: (n) => (n === 'python3' ? env.python : undefined), pythonInterpreter: async () => undefined },
        workDir: () => storage,
    });
}

for (const [name, files] of [
    ['a yaml.py', ['yaml.py']],
    ['an ao_server/ package', ['ao_server/__init__.py', 'ao_server/__main__.py']],
] as const) {
    test(`the server is not shadowed by the workspace's ${name}, and its project is the workspace`, { skip }, async () => {
        const ws = hostileWorkspace(name.replace(/\W+/g, '-'), [...files]);
        process.chdir(ws.dir);
        useWorkspace(ws.dir);
        const server = manager(`AO-isolation-${name}`, path.join(root, 'storage'));
        try {
            const api = await server.start();
            assert.ok(api, `${server.lastFailure ?? ''}\n${double.output(`AO-isolation-${name}`)}`);
            assert.deepEqual(ws.ran(), [], 'a workspace file ran');
            assert.deepEqual(server.choice?.command.argv, [env?.python, '-I', '-m', 'ao_server']);
            assert.match(server.serverVersion ?? '', /^\d+\.\d+\.\d+/);
            // The agents' folder still comes from the workspace (through initialize), not from where the server runs.
            const listed = await api.list();
            assert.deepEqual(listed.projects.map((p) => [p.path, p.default]), [[ws.dir, true]]);
        } finally {
            await server.dispose();
        }
    });
}

test('a workspace\'s "ao.server.command" is not run: the user\'s choice is', { skip }, async () => {
    assert.ok(env);
    const ws = hostileWorkspace('hostile-setting', []);
    const hostile = path.join(ws.dir, 'setting.ran');
    const command = ['/bin/sh', '-c', 'echo ran > "$0"; exit 3', hostile];
    process.chdir(ws.dir);
    useWorkspace(ws.dir);
    // As its .vscode/settings.json would say it.
    double.workspaceConfiguration = { 'ao.server.command': command };

    // No setting of the user's: the automatic choice.
    let server = manager('AO-hostile-auto', path.join(root, 'storage'));
    try {
        assert.ok(await server.start(), server.lastFailure);
        assert.equal(fs.existsSync(hostile), false, 'the workspace\'s command ran');
        assert.deepEqual(server.choice?.command.argv, [env.python, '-I', '-m', 'ao_server']);
    } finally {
        await server.dispose();
    }

    // The user's own setting wins over the workspace's.
    double.configuration = { 'ao.server.command': env.serverCommand };
    server = manager('AO-hostile-user', path.join(root, 'storage'));
    try {
        assert.ok(await server.start(), server.lastFailure);
        assert.equal(fs.existsSync(hostile), false, 'the workspace\'s command ran');
        assert.deepEqual(server.choice?.command.argv, env.serverCommand);
    } finally {
        await server.dispose();
    }
});

/** A minimal real wheel, ao_server-0.0.0: an `ao-server` console script that prints its version. */
async function stubWheel(dir: string): Promise<void> {
    assert.ok(env);
    fs.mkdirSync(dir, { recursive: true });
    const script = `
import base64, hashlib, sys, zipfile
files = {
    "aostub.py": "def main():\\n    print('ao-server 0.0.0')\\n",
    "ao_server-0.0.0.dist-info/METADATA": "Metadata-Version: 2.1\\nName: ao-server\\nVersion: 0.0.0\\n",
    "ao_server-0.0.0.dist-info/WHEEL": "Wheel-Version: 1.0\\nGenerator: ao-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    "ao_server-0.0.0.dist-info/entry_points.txt": "[console_scripts]\\nao-server = aostub:main\\n",
}
record = []
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, text in files.items():
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append("ao_server-0.0.0.dist-info/RECORD,,")
    z.writestr("ao_server-0.0.0.dist-info/RECORD", "\\n".join(record) + "\\n")
`;
    const made = await run([env.python, '-I', '-c', script, path.join(dir, 'ao_server-0.0.0-py3-none-any.whl')]);
    assert.equal(made.code, 0, made.stderr);
}

test('"Install ao-server" runs neither the workspace\'s venv.py nor its pip/', { skip }, async () => {
    assert.ok(env);
    const ws = hostileWorkspace('hostile-install', ['venv.py', 'pip/__init__.py', 'pip/__main__.py', 'ensurepip/__main__.py']);
    const extensionDir = path.join(root, 'extension');
    await stubWheel(path.join(extensionDir, 'bundled'));
    const storage = path.join(root, 'install-storage');
    process.chdir(ws.dir); // the extension host's own folder
    const output = window.createOutputChannel('AO-install', { log: true }) as never;
    const installer = new Installer({
        storageDir: storage, extensionDir, output, pythonInterpreter: async () => undefined,
        which: (n) => (n === 'python3' ? env.python : undefined),
    });
    const argv = await installer.install(() => undefined).catch((e: unknown) => {
        assert.fail(`${e instanceof Error ? e.message : String(e)}\nworkspace files that ran: ${ws.ran().join(', ')}\n${double.output('AO-install')}`);
    });
    assert.deepEqual(ws.ran(), [], 'a workspace file ran');
    assert.deepEqual(argv, [path.join(storage, 'ao-server-venv', 'bin', 'ao-server')]);
    assert.deepEqual(installer.serverArgv(), argv);
    assert.match(double.output('AO-install'), /installed ao-server 0\.0\.0 in /);
});
