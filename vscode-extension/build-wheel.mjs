// Builds this repository's ao-server wheel into bundled/, so the .vsix carries the server it was made with
// (the extension's "Install ao-server" puts it in a private virtualenv). Run by `npm run package`.
// PYTHON (default python3) builds it with `pip wheel`; pip fetches the build backend (setuptools) from the index.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..');
const out = path.join(here, 'bundled');
const python = process.env.PYTHON || 'python3';

if (!fs.existsSync(path.join(repo, 'pyproject.toml'))) {
    console.error(`build-wheel: ${repo} has no pyproject.toml; the extension must be built inside the ao-server repository`);
    process.exit(1);
}
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
try {
    execFileSync(python, ['-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check', '--quiet', '--wheel-dir', out, repo], {
        stdio: ['ignore', 'inherit', 'inherit'],
        timeout: 600_000,
    });
} catch (e) {
    console.error(`build-wheel: \`${python} -m pip wheel ${repo}\` failed: ${e instanceof Error ? e.message : String(e)}`);
    console.error('build-wheel: set PYTHON to a Python >= 3.11 with pip');
    process.exit(1);
}
const wheels = fs.readdirSync(out).filter((f) => /^ao_server-.+\.whl$/.test(f));
if (wheels.length !== 1) {
    console.error(`build-wheel: expected one ao_server wheel in ${out}, found: ${wheels.join(', ') || 'none'}`);
    process.exit(1);
}
const version = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8')).version;
if (!wheels[0].startsWith(`ao_server-${version}-`)) {
    console.error(`build-wheel: ${wheels[0]} does not match the extension's version ${version}; keep pyproject.toml and package.json in step`);
    process.exit(1);
}
console.log(`build-wheel: ${path.join('bundled', wheels[0])}`);
